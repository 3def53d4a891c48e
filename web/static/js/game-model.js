// The client's copy of one game's current session: built from a snapshot (`GameView`) and
// advanced by committed events, one sequence number at a time. Pure: no DOM, no socket.

import { tictactoe } from './boards/tictactoe.js';
import { connect4 } from './boards/connect4.js';
import { chess } from './boards/chess.js';
import { lightcycles } from './boards/lightcycles.js';

/** @typedef {import('./types.js').GameView} GameView */
/** @typedef {import('./types.js').EventEnvelope} EventEnvelope */
/** @typedef {import('./types.js').Participant} Participant */
/** @typedef {import('./types.js').Clocks} Clocks */
/** @typedef {import('./types.js').GameResult} GameResult */
/** @typedef {import('./types.js').GameSettings} GameSettings */
/** @typedef {import('./types.js').SessionState} SessionState */

/** @type {Record<string, import('./boards/kind.js').KindUI<any>>} */
export const KINDS = { tictactoe, connect4, chess, lightcycles };

/**
 * A real-time game's committed ticks (a `ticks` message) as the envelope the model applies:
 * it takes the place of the event with its seq.
 * @param {import('./types.js').TicksMessage} msg
 * @returns {EventEnvelope}
 */
export function ticksEnvelope(msg) {
  return /** @type {EventEnvelope} */ ({
    game_id: msg.game_id,
    session_id: msg.session_id,
    seq: msg.seq,
    at: '',
    event: { type: 'ticks', ticks: msg.ticks },
  });
}

/**
 * @typedef {object} PlayedMove
 * @property {number} seq
 * @property {number} seat
 * @property {unknown} move the canonical move
 */

/**
 * @typedef {object} GameModel
 * @property {string} id
 * @property {string} kind
 * @property {string} name
 * @property {string | null} description
 * @property {GameSettings} settings
 * @property {string} createdBy
 * @property {string} sessionId
 * @property {number} sessionNumber
 * @property {SessionState} state
 * @property {Participant[]} participants by seat
 * @property {PlayedMove[]} moves
 * @property {unknown} position the kind's position
 * @property {number | null} toMove
 * @property {Clocks | null} clocks
 * @property {GameResult | null} result
 * @property {number | null} drawOffer the seat with a pending draw offer
 * @property {number[]} rematchOffers
 * @property {number} lastSeq the last event applied
 */

/** @param {string} kind */
export function kindUI(kind) {
  return KINDS[kind] ?? null;
}

/**
 * @param {GameView} view
 * @returns {GameModel}
 */
export function fromView(view) {
  const ui = kindUI(view.kind);
  return {
    id: view.id,
    kind: view.kind,
    name: view.name,
    description: view.description ?? null,
    settings: view.settings,
    createdBy: view.created_by,
    sessionId: view.session_id,
    sessionNumber: view.session_number,
    state: view.state,
    participants: [...view.participants].sort((a, b) => a.seat - b.seat),
    moves: view.moves.map((m) => ({ seq: m.seq, seat: m.seat, move: m.move })),
    position: ui ? ui.fromView(view.position, view) : view.position,
    toMove: view.to_move ?? null,
    clocks: view.clocks ?? null,
    result: view.result ?? null,
    drawOffer: view.draw_offer ?? null,
    rematchOffers: [...view.rematch_offers],
    lastSeq: view.last_seq,
  };
}

/**
 * How an event relates to the model: apply it, skip it (already seen), or the model has a
 * gap and must be rebuilt from a snapshot.
 * @param {GameModel} m
 * @param {EventEnvelope} env
 * @returns {'apply' | 'duplicate' | 'gap'}
 */
export function classify(m, env) {
  if (env.session_id !== m.sessionId) return 'gap';
  if (env.seq <= m.lastSeq) return 'duplicate';
  return env.seq === m.lastSeq + 1 ? 'apply' : 'gap';
}

/**
 * Applies the next event in place. Throws when the kind cannot apply a move (the client's
 * position disagrees with the server's: rebuild from a snapshot).
 * @param {GameModel} m
 * @param {EventEnvelope} env
 */
export function apply(m, env) {
  const e = env.event;
  m.lastSeq = env.seq;
  const ui = kindUI(m.kind);
  switch (e.type) {
    case 'seat_taken': {
      const p = { seat: e.seat, player: e.player, connected: true, seat_held_until: null, result: null };
      m.participants = [...m.participants.filter((x) => x.seat !== e.seat), p].sort((a, b) => a.seat - b.seat);
      break;
    }
    case 'started':
      m.state = 'in_progress';
      m.clocks = e.clocks ?? null;
      m.toMove = e.realtime ? null : 0;
      if (e.realtime && m.kind === 'lightcycles') m.position = lightcycles.fromStart(e);
      break;
    case 'ticks':
      if (m.kind === 'lightcycles') m.position = lightcycles.applyTicks(/** @type {any} */ (m.position), /** @type {any} */ (e.ticks));
      break;
    case 'moved':
      if (ui) m.position = ui.apply(m.position, e.seat, e.move);
      m.moves = [...m.moves, { seq: env.seq, seat: e.seat, move: e.move }];
      m.clocks = e.clocks ?? m.clocks;
      m.toMove = e.to_move ?? null;
      // A pending offer lapses when the other side moves.
      if (m.drawOffer !== null && m.drawOffer !== e.seat) m.drawOffer = null;
      setHold(m, e.seat, null);
      break;
    case 'draw_offered':
      m.drawOffer = e.seat;
      break;
    case 'draw_declined':
      m.drawOffer = null;
      break;
    case 'player_left':
      setHold(m, e.seat, e.hold_until);
      break;
    case 'player_returned':
      setHold(m, e.seat, null);
      break;
    case 'rematch_offered':
      if (!m.rematchOffers.includes(e.seat)) m.rematchOffers = [...m.rematchOffers, e.seat];
      break;
    case 'rematch_started':
      // The new session's own events (from seq 1: seats, start) follow on this subscription.
      m.sessionId = e.session_id;
      m.sessionNumber += 1;
      m.state = 'waiting';
      m.participants = [];
      m.moves = [];
      m.position = ui ? ui.initial() : null;
      m.toMove = null;
      m.clocks = null;
      m.result = null;
      m.drawOffer = null;
      m.rematchOffers = [];
      m.lastSeq = 0;
      break;
    case 'resumed':
      m.clocks = e.clocks ?? m.clocks;
      e.holds.forEach((until, seat) => setHold(m, seat, until));
      break;
    case 'ended':
      m.state = e.result.outcome === 'aborted' ? 'aborted' : 'finished';
      m.result = e.result;
      m.clocks = e.clocks ?? m.clocks;
      m.toMove = null;
      m.drawOffer = null;
      break;
    default:
      // Event types this client does not know are skipped (the protocol may grow).
      break;
  }
}

/**
 * @param {GameModel} m
 * @param {number} seat
 * @param {string | null} until
 */
function setHold(m, seat, until) {
  m.participants = m.participants.map((p) =>
    p.seat === seat ? { ...p, seat_held_until: until, connected: until === null } : p,
  );
}

/**
 * A seat's clock at server time `now`.
 * @param {Clocks | null} clocks
 * @param {number} seat
 * @param {number} now ms since epoch, server time
 */
export function remainingMs(clocks, seat, now) {
  if (!clocks) return null;
  const base = clocks.remaining_ms[seat];
  if (base === undefined) return null;
  if (clocks.running !== seat) return base;
  return base - Math.max(0, now - Date.parse(clocks.at));
}

/**
 * Whether a player may still abort: while waiting, or until both sides have moved.
 * @param {GameModel} m
 */
export function canAbort(m) {
  if (m.state === 'waiting') return true;
  if (m.state !== 'in_progress' || kindUI(m.kind)?.realtime) return false;
  return new Set(m.moves.map((x) => x.seat)).size < 2;
}
