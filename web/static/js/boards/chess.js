// Chess: seat 0 plays White. Server view: `{"fen", "to_move", "check", "last_move"}`; move
// `{"uci": "e2e4"}` (promotion `e7e8q`, castling as the king's two-square move `e1g1`),
// stored as `{"uci", "san"}`.
//
// Legal moves (for highlighting and the promotion choice) come from chess.js, vendored into
// /vendor by web/scripts/vendor.mjs. They only guide the player: the server validates every
// move again.

import { Chess } from '../../vendor/chess.js';
import { h, rovingGrid, keepTabStop, focusCell } from '../dom.js';

/** @typedef {string} Position a FEN */
/** @typedef {import('../../vendor/chess.js').Square} Square */
/** @typedef {import('../../vendor/chess.js').Move} Move */
/** @typedef {'q' | 'r' | 'b' | 'n'} Promotion */

export const START = 'rnbqkbnr/pppppppp/8/8/8/8/PPPPPPPP/RNBQKBNR w KQkq - 0 1';
const FILES = 'abcdefgh';

/** Filled glyphs for both colours (CSS colours them), with U+FE0E: text, not emoji. */
const GLYPHS = { k: '\u265A', q: '\u265B', r: '\u265C', b: '\u265D', n: '\u265E', p: '\u265F' };
const NAMES = { k: 'king', q: 'queen', r: 'rook', b: 'bishop', n: 'knight', p: 'pawn' };

/** @param {unknown} move */
function uciOf(move) {
  const u = /** @type {{ uci?: unknown }} */ (move)?.uci;
  return typeof u === 'string' && /^[a-h][1-8][a-h][1-8][qrbn]?$/.test(u) ? u : null;
}

/**
 * Plays `uci` on `fen`; throws when it is not legal there.
 * @param {string} fen
 * @param {string} uci
 */
function play(fen, uci) {
  const game = new Chess(fen);
  game.move({
    from: /** @type {Square} */ (uci.slice(0, 2)),
    to: /** @type {Square} */ (uci.slice(2, 4)),
    promotion: uci.length > 4 ? uci[4] : undefined,
  });
  return game.fen();
}

/**
 * @param {'w' | 'b'} color
 * @param {keyof typeof GLYPHS} type
 */
function piece(color, type) {
  return h('span', { class: `piece piece-${color === 'w' ? 'white' : 'black'}`, 'aria-hidden': 'true' }, GLYPHS[type] + '\uFE0E');
}

/** @type {import('./kind.js').KindUI<Position>} */
export const chess = {
  id: 'chess',
  name: 'Chess',
  draws: true,
  sides: ['White', 'Black'],
  initial: () => START,
  fromView(view) {
    const fen = /** @type {{ fen?: unknown }} */ (view)?.fen;
    return typeof fen === 'string' ? fen : START;
  },
  apply(fen, _seat, move) {
    const uci = uciOf(move);
    if (!uci) throw new Error('not a chess move');
    return play(fen, uci);
  },
  describe(move) {
    const m = /** @type {{ san?: unknown }} */ (move);
    return typeof m?.san === 'string' ? m.san : (uciOf(move) ?? '?');
  },
  mark: (seat) => piece(seat === 0 ? 'w' : 'b', 'k'),
  mount(onMove) {
    const wrap = h('div', { class: 'chess-wrap' });
    const grid = h('div', { class: 'chess-board', role: 'grid', 'aria-label': 'Chess board' });
    wrap.append(grid);
    /** @type {HTMLButtonElement[]} */
    const cells = [];
    /** @type {Square[]} the square each cell shows (depends on orientation) */
    let squares = [];
    let flipped = /** @type {boolean | null} */ (null);
    /** @type {Square | null} */
    let selected = null;
    /** @type {Move[]} */
    let legal = [];
    let fen = START;
    /** @type {import('./kind.js').BoardState | null} */
    let state = null;
    /** @type {HTMLElement | null} */
    let picker = null;
    /** A piece being dragged: where from, and its floating copy once the pointer moved. */
    /** @type {{ from: Square, pointerId: number, x: number, y: number, ghost: HTMLElement | null } | null} */
    let drag = null;
    /** @type {Square | null} */
    let suppressClick = null;

    for (let row = 0; row < 8; row++) {
      const r = h('div', { role: 'row', class: 'chess-row' });
      for (let col = 0; col < 8; col++) {
        const i = row * 8 + col;
        const b = h('button', {
          type: 'button',
          class: `sq ${(row + col) % 2 ? 'dark' : 'light'}`,
          role: 'gridcell',
          tabIndex: i === 0 ? 0 : -1,
          dataset: { cell: String(i) },
          onclick: () => {
            // The click that ends a press which already selected this piece.
            if (suppressClick === squares[i]) {
              suppressClick = null;
              return;
            }
            suppressClick = null;
            press(squares[i]);
          },
        });
        cells.push(b);
        r.append(b);
      }
      grid.append(r);
    }
    rovingGrid(grid, 8);

    // Dragging a piece: press on one of your pieces (it is selected and its moves shown),
    // move, release on a highlighted square. Clicking a piece, then a square, works too.
    grid.addEventListener('pointerdown', (e) => {
      if (e.button !== 0 || !state?.canMove || picker) return;
      const cell = /** @type {HTMLElement | null} */ (e.target instanceof Element ? e.target.closest('[data-square]') : null);
      if (!cell?.classList.contains('movable')) return;
      const square = /** @type {Square} */ (cell.dataset.square);
      if (selected !== square) {
        press(square);
        suppressClick = square;
      }
      drag = { from: square, pointerId: e.pointerId, x: e.clientX, y: e.clientY, ghost: null };
    });
    window.addEventListener('pointermove', onDragMove);
    window.addEventListener('pointerup', onDragEnd);
    window.addEventListener('pointercancel', cancelDrag);

    /** @param {PointerEvent} e */
    function onDragMove(e) {
      if (!drag || e.pointerId !== drag.pointerId) return;
      if (!drag.ghost) {
        if (Math.hypot(e.clientX - drag.x, e.clientY - drag.y) < 5) return;
        const from = cells[squares.indexOf(drag.from)];
        const glyph = from?.querySelector('.piece');
        if (!from || !glyph) return;
        const size = from.getBoundingClientRect().width;
        drag.ghost = h('div', { class: 'drag-ghost', style: `width:${size}px;height:${size}px` }, glyph.cloneNode(true));
        document.body.append(drag.ghost);
        from.classList.add('drag-from');
      }
      const size = drag.ghost.offsetWidth;
      drag.ghost.style.transform = `translate(${e.clientX - size / 2}px, ${e.clientY - size / 2}px)`;
    }

    /** @param {PointerEvent} e */
    function onDragEnd(e) {
      if (!drag || e.pointerId !== drag.pointerId) return;
      const dragged = drag.ghost !== null;
      cancelDrag();
      if (!dragged) return;
      // A real drag: the click (if any) lands elsewhere; the drop decides.
      suppressClick = null;
      const under = document.elementFromPoint(e.clientX, e.clientY);
      const cell = /** @type {HTMLElement | null} */ (under?.closest('.chess-board [data-square]') ?? null);
      const square = /** @type {Square | undefined} */ (cell?.dataset.square);
      if (square && legal.some((m) => m.to === square)) press(square);
    }

    function cancelDrag() {
      if (!drag) return;
      drag.ghost?.remove();
      cells.forEach((c) => c.classList.remove('drag-from'));
      drag = null;
    }
    grid.addEventListener('keydown', (e) => {
      if (e.key === 'Escape' && selected) {
        selected = null;
        legal = [];
        render();
      }
    });

    /** @param {Square} square */
    function press(square) {
      if (!state?.canMove || picker) return;
      const game = new Chess(fen);
      const mine = game.turn() === (state.mySeat === 0 ? 'w' : 'b');
      if (!mine) return;
      if (selected) {
        const moves = legal.filter((m) => m.to === square);
        if (moves.length > 0) {
          const from = selected;
          selected = null;
          legal = [];
          if (moves.some((m) => m.promotion)) {
            choosePromotion(from, square, game.turn());
          } else {
            render();
            onMove({ uci: from + square });
          }
          return;
        }
      }
      const p = game.get(square);
      if (p && p.color === game.turn() && square !== selected) {
        selected = square;
        legal = game.moves({ square, verbose: true });
      } else {
        selected = null;
        legal = [];
      }
      render();
    }

    /**
     * @param {Square} from
     * @param {Square} to
     * @param {'w' | 'b'} color
     */
    function choosePromotion(from, to, color) {
      const close = () => {
        picker?.remove();
        picker = null;
        render();
        cells[squares.indexOf(to)]?.focus();
      };
      /** @type {Promotion[]} */
      const options = ['q', 'r', 'b', 'n'];
      const buttons = options.map((p) =>
        h('button', {
          type: 'button',
          class: 'promo-choice',
          dataset: { piece: p },
          'aria-label': `Promote to ${NAMES[p]}`,
          onclick: () => {
            close();
            onMove({ uci: from + to + p });
          },
        }, piece(color, p)),
      );
      picker = h('div', {
        class: 'promo',
        role: 'dialog',
        'aria-modal': 'true',
        'aria-label': 'Promote the pawn to',
        onkeydown: (/** @type {KeyboardEvent} */ e) => {
          if (e.key === 'Escape') {
            e.preventDefault();
            close();
          } else if (e.key === 'ArrowRight' || e.key === 'ArrowLeft') {
            e.preventDefault();
            const i = buttons.indexOf(/** @type {HTMLButtonElement} */ (document.activeElement));
            buttons[(i + (e.key === 'ArrowRight' ? 1 : 3)) % 4].focus();
          }
        },
      }, h('p', { class: 'promo-title', text: 'Promote to' }), h('div', { class: 'promo-choices' }, buttons),
      h('button', { type: 'button', class: 'btn btn-ghost btn-small', text: 'Cancel', onclick: close }));
      wrap.append(picker);
      render();
      buttons[0].focus();
    }

    function render() {
      const s = state;
      if (!s) return;
      const flip = s.mySeat === 1;
      if (flip !== flipped) {
        flipped = flip;
        squares = [];
        for (let row = 0; row < 8; row++) {
          for (let col = 0; col < 8; col++) {
            const file = flip ? 7 - col : col;
            const rank = flip ? row + 1 : 8 - row;
            squares.push(/** @type {Square} */ (`${FILES[file]}${rank}`));
          }
        }
      }
      const pendingUci = uciOf(s.pending);
      let shown = fen;
      if (pendingUci) {
        try {
          shown = play(fen, pendingUci);
        } catch {
          shown = fen;
        }
      }
      const game = new Chess(shown);
      const lastUci = uciOf(s.lastMove);
      const targets = new Set(legal.map((m) => m.to));
      /** @type {Square | null} */
      let checked = null;
      if (game.inCheck()) {
        const turn = game.turn();
        for (const sq of squares) {
          const p = game.get(sq);
          if (p && p.type === 'k' && p.color === turn) checked = sq;
        }
      }
      cells.forEach((b, i) => {
        const sq = squares[i];
        const p = game.get(sq);
        const row = Math.floor(i / 8);
        const col = i % 8;
        b.dataset.square = sq;
        b.replaceChildren();
        if (p) b.append(piece(p.color, p.type));
        if (col === 0) b.append(h('span', { class: 'coord coord-rank', 'aria-hidden': 'true', text: sq[1] }));
        if (row === 7) b.append(h('span', { class: 'coord coord-file', 'aria-hidden': 'true', text: sq[0] }));
        const isTarget = targets.has(sq);
        b.classList.toggle('selected', sq === selected);
        b.classList.toggle('target', isTarget && !p);
        b.classList.toggle('capture', isTarget && !!p);
        b.classList.toggle('last', !!lastUci && !pendingUci && (lastUci.startsWith(sq) || lastUci.slice(2, 4) === sq));
        b.classList.toggle('pending', !!pendingUci && (pendingUci.startsWith(sq) || pendingUci.slice(2, 4) === sq));
        b.classList.toggle('check', sq === checked);
        const movable = !!s.canMove && !pendingUci && !!p && p.color === game.turn() && game.turn() === (s.mySeat === 0 ? 'w' : 'b');
        b.classList.toggle('movable', movable);
        b.setAttribute('aria-disabled', String(!(movable || isTarget)));
        b.setAttribute('aria-pressed', String(sq === selected));
        b.setAttribute('aria-label', `${sq}, ${p ? `${p.color === 'w' ? 'white' : 'black'} ${NAMES[p.type]}` : 'empty'}${isTarget ? ', legal move' : ''}`);
      });
      keepTabStop(grid);
    }

    return {
      el: wrap,
      destroy() {
        cancelDrag();
        window.removeEventListener('pointermove', onDragMove);
        window.removeEventListener('pointerup', onDragEnd);
        window.removeEventListener('pointercancel', cancelDrag);
      },
      update(position, s) {
        const orientationChanged = state !== null && (state.mySeat === 1) !== (s.mySeat === 1);
        if (position !== fen || !s.canMove || s.pending) {
          selected = null;
          legal = [];
        }
        if (picker && (!s.canMove || position !== fen)) {
          picker.remove();
          picker = null;
        }
        fen = position;
        state = s;
        render();
        if (orientationChanged) focusCell(cells, cells.findIndex((c) => c.tabIndex === 0), false);
      },
    };
  },
};
