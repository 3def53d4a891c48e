// Words and numbers shown to people: clocks, time controls, results.

/** @typedef {import('./types.js').GameSettings} GameSettings */
/** @typedef {import('./types.js').GameResult} GameResult */

/**
 * A clock reading: `4:59`, `1:02:03`, and tenths under ten seconds (`0:07.3`).
 * @param {number} ms
 */
export function clock(ms) {
  const t = Math.max(0, ms);
  if (t < 10_000) {
    const tenths = Math.floor(t / 100);
    return `0:0${Math.floor(tenths / 10)}.${tenths % 10}`;
  }
  const total = Math.ceil(t / 1000);
  const h = Math.floor(total / 3600);
  const m = Math.floor((total % 3600) / 60);
  const s = total % 60;
  const ss = String(s).padStart(2, '0');
  return h > 0 ? `${h}:${String(m).padStart(2, '0')}:${ss}` : `${m}:${ss}`;
}

/**
 * `5 + 3`, `10 min`, `No clock`.
 * @param {GameSettings['time_control']} tc
 */
export function timeControl(tc) {
  if (!tc) return 'No clock';
  const inc = tc.increment_seconds ?? 0;
  const base =
    tc.initial_seconds % 60 === 0
      ? `${tc.initial_seconds / 60}`
      : tc.initial_seconds < 60
        ? `${tc.initial_seconds}s`
        : `${(tc.initial_seconds / 60).toFixed(1)}`;
  return inc > 0 ? `${base} + ${inc}` : `${base} min`;
}

/** @type {Record<string, string>} */
const REASONS = {
  three_in_a_row: 'three in a row',
  four_in_a_row: 'four in a row',
  board_full: 'the board is full',
  checkmate: 'checkmate',
  stalemate: 'stalemate',
  threefold_repetition: 'threefold repetition',
  fifty_move_rule: 'the fifty-move rule',
  insufficient_material: 'insufficient material',
  resignation: 'resignation',
  agreement: 'agreement',
  timeout: 'time',
  abandoned: 'abandonment',
  aborted: 'abort',
};

/** @param {string} reason */
export function reason(reason) {
  return REASONS[reason] ?? reason.replaceAll('_', ' ');
}

/**
 * The headline of a finished session, from one viewer's point of view.
 * @param {GameResult} result
 * @param {(seat: number) => string} nameOf the winner's name
 * @param {number | null} mySeat
 */
export function resultText(result, nameOf, mySeat) {
  if (result.outcome === 'aborted') return 'Game aborted';
  if (result.outcome === 'draw') {
    return result.reason === 'agreement' ? 'Draw by agreement' : `Draw — ${reason(result.reason)}`;
  }
  const winner = result.winner ?? null;
  const how = result.reason === 'timeout' ? 'on time' : `by ${reason(result.reason)}`;
  if (winner === null) return `Game over — ${reason(result.reason)}`;
  if (mySeat !== null) return winner === mySeat ? `You won ${how}` : `You lost ${how}`;
  return `${nameOf(winner)} won ${how}`;
}

/**
 * `3 minutes ago`, for lobby rows.
 * @param {string} iso
 * @param {number} now
 */
export function ago(iso, now = Date.now()) {
  const s = Math.max(0, Math.round((now - Date.parse(iso)) / 1000));
  if (s < 45) return 'just now';
  const m = Math.round(s / 60);
  if (m < 60) return `${m} min ago`;
  const h = Math.round(m / 60);
  if (h < 24) return `${h} h ago`;
  return `${Math.round(h / 24)} d ago`;
}
