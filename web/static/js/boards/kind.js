// What the game page needs from each game kind: its position (as the server's `position`
// view describes it), how a move changes it, how a move is written in the move list, and a
// board that draws it and turns clicks and key presses into moves.
//
// The server is authoritative: the client applies a move to its own position only when the
// server's `moved` event says it was accepted (or, greyed out, while its own move awaits
// the acknowledgement).

/**
 * How the page draws a board right now.
 * @typedef {object} BoardState
 * @property {number | null} mySeat the viewer's seat; null for spectators
 * @property {boolean} canMove the viewer may move now
 * @property {unknown} pending the viewer's move awaiting the server, if any (drawn faded)
 * @property {unknown} lastMove the last accepted move, highlighted
 * @property {boolean} over the session has ended
 */

/**
 * A mounted board.
 * @template P
 * @typedef {object} Board
 * @property {HTMLElement} el
 * @property {(position: P, state: BoardState) => void} update
 * @property {() => void} [destroy] removes listeners outside `el`
 */

/**
 * @template P
 * @typedef {object} KindUI
 * @property {string} id
 * @property {string} name
 * @property {boolean} draws whether draw offers exist
 * @property {[string, string]} sides what each seat is called (`X`/`O`, `White`/`Black`)
 * @property {() => P} initial the starting position
 * @property {(position: unknown, view?: { tick_ms?: number | null }) => P} fromView the server's
 *   `position` (and the game view it came in, for what is not part of the position)
 * @property {(p: P, seat: number, move: unknown) => P} apply
 * @property {(move: unknown, seat: number) => string} describe the move-list text
 * @property {(onMove: (move: object) => void) => Board<P>} mount
 * @property {(seat: number) => HTMLElement | SVGElement} mark the small piece shown on a player card
 * @property {boolean} [realtime] a real-time kind: moves are `input`s, applied by ticks
 */

export {};
