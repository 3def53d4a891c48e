// Tic-tac-toe: nine cells, row-major (0 = top-left). Seat 0 is X and moves first.
// Server view: `{"board": ["x" | "o" | null; 9], "to_move": 0 | 1 | null}`; move `{"cell": n}`.

import { h, svg, rovingGrid, keepTabStop } from '../dom.js';

/** @typedef {('x' | 'o' | null)[]} Position */
/** @typedef {import('./kind.js').BoardState} BoardState */

const LINES = [
  [0, 1, 2], [3, 4, 5], [6, 7, 8],
  [0, 3, 6], [1, 4, 7], [2, 5, 8],
  [0, 4, 8], [2, 4, 6],
];

/** @param {number} cell e.g. 0 → `a3` (columns a–c, rows 3–1 from the top) */
function name(cell) {
  return `${'abc'[cell % 3]}${3 - Math.floor(cell / 3)}`;
}

/** @param {unknown} move */
function cellOf(move) {
  const c = /** @type {{ cell?: unknown }} */ (move)?.cell;
  return typeof c === 'number' && c >= 0 && c < 9 ? c : null;
}

/** @param {'x' | 'o'} mark */
function glyph(mark) {
  if (mark === 'x') {
    return svg('svg', { viewBox: '0 0 100 100', class: 'mark mark-x', 'aria-hidden': 'true' },
      svg('path', { d: 'M22 22 L78 78 M78 22 L22 78' }));
  }
  return svg('svg', { viewBox: '0 0 100 100', class: 'mark mark-o', 'aria-hidden': 'true' },
    svg('circle', { cx: 50, cy: 50, r: 29 }));
}

/** @type {import('./kind.js').KindUI<Position>} */
export const tictactoe = {
  id: 'tictactoe',
  name: 'Tic-tac-toe',
  draws: false,
  sides: ['X', 'O'],
  initial: () => Array(9).fill(null),
  fromView(view) {
    const board = /** @type {{ board?: unknown }} */ (view)?.board;
    if (!Array.isArray(board) || board.length !== 9) return tictactoe.initial();
    return board.map((c) => (c === 'x' || c === 'o' ? c : null));
  },
  apply(p, seat, move) {
    const cell = cellOf(move);
    if (cell === null) return p;
    const next = p.slice();
    next[cell] = seat === 0 ? 'x' : 'o';
    return next;
  },
  describe(move) {
    const cell = cellOf(move);
    return cell === null ? '?' : name(cell);
  },
  mark: (seat) => glyph(seat === 0 ? 'x' : 'o'),
  mount(onMove) {
    const grid = h('div', { class: 'ttt-board', role: 'grid', 'aria-label': 'Tic-tac-toe board' });
    /** @type {HTMLButtonElement[]} */
    const cells = [];
    for (let row = 0; row < 3; row++) {
      const r = h('div', { role: 'row', class: 'ttt-row' });
      for (let col = 0; col < 3; col++) {
        const i = row * 3 + col;
        const b = h('button', {
          type: 'button',
          class: 'ttt-cell',
          role: 'gridcell',
          tabIndex: i === 0 ? 0 : -1,
          dataset: { cell: String(i) },
          onclick: () => {
            if (b.getAttribute('aria-disabled') !== 'true') onMove({ cell: i });
          },
        });
        cells.push(b);
        r.append(b);
      }
      grid.append(r);
    }
    rovingGrid(grid, 3);
    return {
      el: grid,
      update(p, s) {
        const pending = cellOf(s.pending);
        const last = cellOf(s.lastMove);
        const win = LINES.find(([a, b, c]) => p[a] && p[a] === p[b] && p[a] === p[c]) ?? [];
        cells.forEach((b, i) => {
          const mark = p[i] ?? (i === pending && s.mySeat !== null ? (s.mySeat === 0 ? 'x' : 'o') : null);
          const playable = s.canMove && pending === null && !p[i];
          b.replaceChildren(...(mark ? [glyph(mark)] : []));
          b.classList.toggle('pending', i === pending && !p[i]);
          b.classList.toggle('last', i === last);
          b.classList.toggle('win', win.includes(i));
          b.classList.toggle('playable', playable);
          b.setAttribute('aria-disabled', String(!playable));
          b.setAttribute('aria-label', `${name(i)}, ${mark ? mark.toUpperCase() : 'empty'}`);
        });
        keepTabStop(grid);
      },
    };
  },
};
