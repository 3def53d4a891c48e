// Connect Four: 7 columns × 6 rows; a disc drops to the lowest empty row. Seat 0 is red and
// moves first. Server view: `{"board": [[seat | null; 7]; 6], "to_move": …}` with row 0 at the
// bottom; move `{"column": 0..6}`.

import { h, rovingGrid, keepTabStop } from '../dom.js';

export const COLUMNS = 7;
export const ROWS = 6;

/** @typedef {(number | null)[][]} Position rows from the bottom */

/** @param {unknown} move */
function columnOf(move) {
  const c = /** @type {{ column?: unknown }} */ (move)?.column;
  return typeof c === 'number' && c >= 0 && c < COLUMNS ? c : null;
}

/**
 * The row a disc dropped into `column` lands on, or null when the column is full.
 * @param {Position} p
 * @param {number} column
 */
function landing(p, column) {
  for (let row = 0; row < ROWS; row++) if (p[row][column] === null) return row;
  return null;
}

/**
 * Cells (`row*7+col`) of every line of four, for highlighting the win.
 * @param {Position} p
 */
function winning(p) {
  /** @type {Set<number>} */
  const out = new Set();
  const dirs = [[0, 1], [1, 0], [1, 1], [1, -1]];
  for (let r = 0; r < ROWS; r++) {
    for (let c = 0; c < COLUMNS; c++) {
      const v = p[r][c];
      if (v === null) continue;
      for (const [dr, dc] of dirs) {
        const cells = [0, 1, 2, 3].map((k) => [r + dr * k, c + dc * k]);
        if (cells.every(([rr, cc]) => rr >= 0 && rr < ROWS && cc >= 0 && cc < COLUMNS && p[rr][cc] === v)) {
          cells.forEach(([rr, cc]) => out.add(rr * COLUMNS + cc));
        }
      }
    }
  }
  return out;
}

const COLORS = ['red', 'yellow'];

/** @type {import('./kind.js').KindUI<Position>} */
export const connect4 = {
  id: 'connect4',
  name: 'Connect Four',
  draws: true,
  sides: ['Red', 'Yellow'],
  initial: () => Array.from({ length: ROWS }, () => Array(COLUMNS).fill(null)),
  fromView(view) {
    const board = /** @type {{ board?: unknown }} */ (view)?.board;
    if (!Array.isArray(board) || board.length !== ROWS) return connect4.initial();
    return board.map((row) =>
      Array.from({ length: COLUMNS }, (_, c) => (Array.isArray(row) && typeof row[c] === 'number' ? row[c] : null)),
    );
  },
  apply(p, seat, move) {
    const column = columnOf(move);
    if (column === null) return p;
    const row = landing(p, column);
    if (row === null) return p;
    const next = p.map((r) => r.slice());
    next[row][column] = seat;
    return next;
  },
  describe(move) {
    const column = columnOf(move);
    return column === null ? '?' : `column ${column + 1}`;
  },
  mark: (seat) => h('span', { class: `disc disc-${COLORS[seat] ?? 'red'}`, 'aria-hidden': 'true' }),
  mount(onMove) {
    const board = h('div', { class: 'c4-board', role: 'grid', 'aria-label': 'Connect Four board: choose a column' });
    const row = h('div', { role: 'row', class: 'c4-columns' });
    /** @type {HTMLButtonElement[]} */
    const columns = [];
    /** @type {HTMLElement[][]} slots[column][row from bottom] */
    const slots = [];
    for (let c = 0; c < COLUMNS; c++) {
      const col = h('button', {
        type: 'button',
        class: 'c4-column',
        role: 'gridcell',
        tabIndex: c === 0 ? 0 : -1,
        dataset: { cell: String(c), column: String(c) },
        onclick: () => {
          if (col.getAttribute('aria-disabled') !== 'true') onMove({ column: c });
        },
      });
      /** @type {HTMLElement[]} */
      const colSlots = [];
      for (let r = ROWS - 1; r >= 0; r--) {
        const slot = h('span', { class: 'c4-slot', dataset: { row: String(r) } });
        colSlots[r] = slot;
        col.append(slot);
      }
      slots.push(colSlots);
      columns.push(col);
      row.append(col);
    }
    board.append(row);
    rovingGrid(board, COLUMNS);
    return {
      el: board,
      update(p, s) {
        const pendingCol = columnOf(s.pending);
        const pendingRow = pendingCol === null ? null : landing(p, pendingCol);
        const lastCol = columnOf(s.lastMove);
        let lastRow = null;
        if (lastCol !== null) {
          for (let r = ROWS - 1; r >= 0; r--) {
            if (p[r][lastCol] !== null) {
              lastRow = r;
              break;
            }
          }
        }
        const wins = winning(p);
        columns.forEach((col, c) => {
          const free = landing(p, c);
          const playable = s.canMove && pendingCol === null && free !== null;
          col.classList.toggle('playable', playable);
          col.setAttribute('aria-disabled', String(!playable));
          col.dataset.next = s.mySeat === null ? '' : COLORS[s.mySeat] ?? '';
          const filled = p.filter((r) => r[c] !== null).length;
          col.setAttribute(
            'aria-label',
            `Column ${c + 1}, ${filled === ROWS ? 'full' : `${filled} of ${ROWS} filled`}`,
          );
          for (let r = 0; r < ROWS; r++) {
            const v = p[r][c];
            const isPending = c === pendingCol && r === pendingRow && s.mySeat !== null;
            const seat = v ?? (isPending ? s.mySeat : null);
            const slot = slots[c][r];
            slot.className = 'c4-slot';
            if (seat !== null) slot.classList.add('filled', `disc-${COLORS[seat] ?? 'red'}`);
            if (isPending) slot.classList.add('pending');
            if (c === lastCol && r === lastRow) slot.classList.add('last');
            if (wins.has(r * COLUMNS + c)) slot.classList.add('win');
          }
        });
        keepTabStop(board);
      },
    };
  },
};
