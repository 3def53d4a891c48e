// Light cycles (real-time, 2–4 players; docs/PROTOCOL.md "Real-time games"). The position is
// the server's snapshot `{width, height, points_to_win, tick, round, frozen_until, scores,
// cycles, board, winner}`, advanced by the deltas of `ticks` messages exactly as the rules'
// `Snapshot::apply_delta` does. A canvas draws it at the display's frame rate, moving each
// head smoothly from its previous cell to its current one over one tick period
// (interpolation: the client never predicts, it only animates what the server committed).
// Steering: arrow keys or WASD, swipes on the board, or the on-screen buttons.

import { h } from '../dom.js';

/** @typedef {'up' | 'down' | 'left' | 'right'} Dir */
/** @typedef {{ x: number, y: number, dir: Dir, alive: boolean }} Cycle */
/**
 * @typedef {object} Position
 * @property {number} width
 * @property {number} height
 * @property {number} points_to_win
 * @property {number} tick
 * @property {number} round
 * @property {number} frozen_until
 * @property {number[]} scores
 * @property {Cycle[]} cycles
 * @property {number[]} board row-major, 0 = empty, seat + 1 = that seat's trail
 * @property {number | null} winner
 * @property {number} tickMs the server's tick period (from `started` or the snapshot's `tick_ms`;
 *   50 when unknown)
 */
/**
 * @typedef {object} Delta
 * @property {number} tick
 * @property {[number, number, number][]} [steps]
 * @property {{ seat: number }[]} [eliminations]
 * @property {{ round: number, winner?: number | null, scores: number[] } | null} [round_end]
 * @property {{ round: number, spawns: Cycle[], frozen_until: number } | null} [round_start]
 * @property {number | null} [winner]
 */

/** Seat colours (also used on the scoreboard). */
export const COLORS = ['#2f81f7', '#f0883e', '#3fb950', '#db61a2'];
const NAMES = ['Blue', 'Orange', 'Green', 'Pink'];

/** @type {Record<string, Dir>} */
const KEYS = {
  ArrowUp: 'up', ArrowDown: 'down', ArrowLeft: 'left', ArrowRight: 'right',
  w: 'up', s: 'down', a: 'left', d: 'right', W: 'up', S: 'down', A: 'left', D: 'right',
};

/** @returns {Position} */
function empty() {
  return { width: 8, height: 8, points_to_win: 1, tick: 0, round: 0, frozen_until: 0, scores: [], cycles: [], board: Array(64).fill(0), winner: null, tickMs: 50 };
}

/**
 * The position of a snapshot (a subscription or a resync); the view's `tick_ms` is the server's
 * tick period, so heads are animated at its rate from the first tick on.
 * @param {unknown} v
 * @param {{ tick_ms?: number | null }} [view]
 */
function fromView(v, view) {
  const p = /** @type {Partial<Position> | null} */ (v);
  if (!p || !Array.isArray(p.board) || !Array.isArray(p.cycles) || typeof p.width !== 'number') return empty();
  const tickMs = view?.tick_ms && view.tick_ms > 0 ? view.tick_ms : 50;
  return /** @type {Position} */ ({ ...empty(), ...p, board: [...p.board], cycles: p.cycles.map((c) => ({ ...c })), scores: [...(p.scores ?? [])], tickMs });
}

/**
 * The starting position from a `started` event (its `realtime` config and `round_start`).
 * @param {any} e
 * @returns {Position}
 */
export function fromStart(e) {
  const c = e?.realtime;
  const start = e?.round_start;
  if (!c || !start) return empty();
  const board = Array(c.width * c.height).fill(0);
  /** @type {Cycle[]} */
  const cycles = start.spawns.map((/** @type {Cycle} */ s) => ({ ...s }));
  cycles.forEach((cy, seat) => {
    board[cy.y * c.width + cy.x] = seat + 1;
  });
  return {
    width: c.width, height: c.height, points_to_win: c.points_to_win, tick: 0, round: start.round,
    frozen_until: start.frozen_until, scores: Array(c.players).fill(0), cycles, board, winner: null, tickMs: c.tick_ms || 50,
  };
}

/**
 * Applies deltas in order (a copy; the rules' `Snapshot::apply_delta`).
 * @param {Position} p
 * @param {Delta[]} deltas
 * @returns {Position}
 */
export function applyTicks(p, deltas) {
  const next = { ...p, board: p.board.slice(), cycles: p.cycles.map((c) => ({ ...c })), scores: p.scores.slice() };
  for (const d of deltas) {
    next.tick = d.tick;
    for (const [seat, x, y] of d.steps ?? []) {
      const c = next.cycles[seat];
      if (c) {
        const dx = x - c.x;
        const dy = y - c.y;
        if (Math.abs(dx) + Math.abs(dy) === 1) c.dir = dx === 1 ? 'right' : dx === -1 ? 'left' : dy === 1 ? 'down' : 'up';
        c.x = x;
        c.y = y;
      }
      next.board[y * next.width + x] = seat + 1;
    }
    for (const e of d.eliminations ?? []) {
      const c = next.cycles[e.seat];
      if (c) c.alive = false;
    }
    if (d.round_end) next.scores = d.round_end.scores.slice();
    if (d.round_start) {
      next.round = d.round_start.round;
      next.frozen_until = d.round_start.frozen_until;
      next.cycles = d.round_start.spawns.map((s) => ({ ...s }));
      next.board.fill(0);
      next.cycles.forEach((c, seat) => {
        next.board[c.y * next.width + c.x] = seat + 1;
      });
    }
    if (d.winner !== undefined && d.winner !== null) next.winner = d.winner;
  }
  return next;
}

/** @param {number} seat */
function dot(seat) {
  return h('span', { class: 'lc-dot', style: `background:${COLORS[seat] ?? '#888'}`, 'aria-hidden': 'true' });
}

/** @type {import('./kind.js').KindUI<Position> & { realtime: true, fromStart: typeof fromStart, applyTicks: typeof applyTicks }} */
export const lightcycles = {
  id: 'lightcycles',
  name: 'Light Cycles',
  draws: false,
  sides: ['Blue', 'Orange'],
  realtime: true,
  fromStart,
  applyTicks,
  initial: empty,
  fromView,
  apply: (p) => p,
  describe: (move) => String(/** @type {{ dir?: unknown }} */ (move)?.dir ?? '?'),
  mark: (seat) => dot(seat),
  mount(onMove) {
    const canvas = /** @type {HTMLCanvasElement} */ (h('canvas', { class: 'lc-canvas', id: 'lc-canvas', tabIndex: 0, 'aria-label': 'Light cycles arena. Steer with the arrow keys or WASD.' }));
    const scoreboard = h('ol', { class: 'lc-scores', id: 'lc-scores', 'aria-label': 'Scores' });
    const banner = h('p', { class: 'lc-banner', id: 'lc-banner', 'aria-live': 'polite' });
    /** @param {Dir} dir */
    const steer = (dir) => onMove({ dir });
    const pad = h('div', { class: 'lc-pad', 'aria-label': 'Steer' },
      ...(/** @type {[Dir, string][]} */ ([['up', '\u2191'], ['left', '\u2190'], ['down', '\u2193'], ['right', '\u2192']])).map(([dir, label]) =>
        h('button', { type: 'button', class: `btn btn-secondary lc-${dir}`, dataset: { dir }, 'aria-label': dir, text: label, onclick: () => steer(dir) })));
    const el = h('div', { class: 'lc-board' }, scoreboard, canvas, banner, pad);

    /** @type {Position | null} */
    let pos = null;
    /** @type {Position | null} */
    let prev = null;
    let arrivedAt = 0;
    let canSteer = false;
    /** @type {import('./kind.js').BoardState | null} */
    let state = null;

    /** @param {KeyboardEvent} ev */
    const onKey = (ev) => {
      const dir = KEYS[ev.key];
      const target = /** @type {HTMLElement | null} */ (ev.target instanceof HTMLElement ? ev.target : null);
      if (!dir || !canSteer || (target && /^(INPUT|TEXTAREA|SELECT)$/.test(target.tagName))) return;
      ev.preventDefault();
      steer(dir);
    };
    document.addEventListener('keydown', onKey);
    /** @type {{ x: number, y: number } | null} */
    let touch = null;
    canvas.addEventListener('touchstart', (ev) => {
      const t = ev.touches[0];
      if (t) touch = { x: t.clientX, y: t.clientY };
    }, { passive: true });
    canvas.addEventListener('touchend', (ev) => {
      const t = ev.changedTouches[0];
      if (!touch || !t) return;
      const dx = t.clientX - touch.x;
      const dy = t.clientY - touch.y;
      touch = null;
      if (Math.max(Math.abs(dx), Math.abs(dy)) < 20) return;
      steer(Math.abs(dx) > Math.abs(dy) ? (dx > 0 ? 'right' : 'left') : (dy > 0 ? 'down' : 'up'));
    });

    let frame = 0;
    const draw = () => {
      frame = requestAnimationFrame(draw);
      if (!pos) return;
      const p = pos;
      const side = Math.max(160, Math.min(canvas.parentElement?.clientWidth ?? 480, 640));
      const dpr = window.devicePixelRatio || 1;
      if (canvas.width !== Math.round(side * dpr)) {
        canvas.width = Math.round(side * dpr);
        canvas.height = Math.round(side * dpr * (p.height / p.width));
        canvas.style.width = `${side}px`;
        canvas.style.height = `${side * (p.height / p.width)}px`;
      }
      const ctx = canvas.getContext('2d');
      if (!ctx) return;
      const cell = canvas.width / p.width;
      ctx.fillStyle = '#0d1117';
      ctx.fillRect(0, 0, canvas.width, canvas.height);
      for (let i = 0; i < p.board.length; i++) {
        const mark = p.board[i];
        if (!mark) continue;
        ctx.fillStyle = COLORS[mark - 1] ?? '#888';
        ctx.globalAlpha = p.cycles[mark - 1]?.alive === false ? 0.35 : 0.7;
        ctx.fillRect((i % p.width) * cell, Math.floor(i / p.width) * cell, cell, cell);
      }
      ctx.globalAlpha = 1;
      // Heads, interpolated from the previous tick's cell towards the current one.
      const t = Math.min(1, (performance.now() - arrivedAt) / (p.tickMs || 50));
      p.cycles.forEach((c, seat) => {
        const before = prev && prev.round === p.round ? prev.cycles[seat] : null;
        const from = before && Math.abs(before.x - c.x) + Math.abs(before.y - c.y) === 1 ? before : c;
        const x = from.x + (c.x - from.x) * t;
        const y = from.y + (c.y - from.y) * t;
        ctx.fillStyle = c.alive ? '#ffffff' : '#6e7681';
        ctx.fillRect(x * cell - cell * 0.15, y * cell - cell * 0.15, cell * 1.3, cell * 1.3);
        ctx.fillStyle = COLORS[seat] ?? '#888';
        ctx.fillRect(x * cell + cell * 0.15, y * cell + cell * 0.15, cell * 0.7, cell * 0.7);
      });
    };
    frame = requestAnimationFrame(draw);

    return {
      el,
      update(p, s) {
        if (!pos || p.tick !== pos.tick || p.round !== pos.round) {
          prev = pos;
          arrivedAt = performance.now();
        }
        pos = p;
        state = s;
        canSteer = s.mySeat !== null && !s.over && p.cycles[s.mySeat]?.alive === true;
        el.dataset.tick = String(p.tick);
        el.dataset.round = String(p.round);
        el.dataset.frozenUntil = String(p.frozen_until);
        el.dataset.size = `${p.width}x${p.height}`;
        el.dataset.tickMs = String(p.tickMs);
        el.dataset.cycles = JSON.stringify(p.cycles);
        pad.hidden = s.mySeat === null || s.over;
        scoreboard.replaceChildren(...p.scores.map((score, seat) =>
          h('li', { class: 'lc-score', dataset: { seat: String(seat) } },
            dot(seat), h('span', { text: `${NAMES[seat] ?? `Seat ${seat + 1}`}${seat === s.mySeat ? ' (you)' : ''}` }),
            h('strong', { class: 'lc-points', text: `${score} / ${p.points_to_win}` }),
            p.cycles[seat]?.alive === false && !s.over ? h('span', { class: 'muted small', text: ' out' }) : null)));
        banner.textContent = s.over
          ? (p.winner !== null ? `${NAMES[p.winner] ?? 'Someone'} wins the session.` : 'The session is over.')
          : p.tick < p.frozen_until
            ? `Round ${p.round}: get ready…`
            : `Round ${p.round}`;
      },
      destroy() {
        cancelAnimationFrame(frame);
        document.removeEventListener('keydown', onKey);
        void state;
      },
    };
  },
};
