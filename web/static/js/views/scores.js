// Scorekeeping pages (issue 7): a leaderboard per kind (live, with "find me"; real-time kinds
// also show their points board, issue 10), a player's
// profile (ratings and statistics per kind, a rating-history chart drawn as inline SVG, the
// game history with links to replays), and the replay of a finished game move by move.

import { h, replace, svg } from '../dom.js';
import { request, ApiError } from '../api.js';
import { session } from '../session.js';
import { KINDS } from '../game-model.js';
import { Chess } from '../../vendor/chess.js';

/** @typedef {import('../types.js').Schemas} Schemas */
/** @typedef {Schemas['Leaderboard']} Leaderboard */
/** @typedef {Schemas['LeaderboardAround']} LeaderboardAround */
/** @typedef {Schemas['LeaderboardEntry']} LeaderboardEntry */
/** @typedef {Schemas['PointsLeaderboard']} PointsLeaderboard */
/** @typedef {Schemas['PointsEntry']} PointsEntry */
/** @typedef {Schemas['PlayerStats']} PlayerStats */
/** @typedef {Schemas['KindStats']} KindStats */
/** @typedef {Schemas['PlayerGames']} PlayerGames */
/** @typedef {Schemas['HistoryGame']} HistoryGame */
/** @typedef {import('../types.js').GameView} GameView */
/** @typedef {import('../types.js').ServerMessage} ServerMessage */
/** @typedef {import('../socket.js').Connection} Connection */

const KIND_IDS = ['chess', 'connect4', 'tictactoe', 'lightcycles'];

/** @param {string} kind */
function kindName(kind) {
  return KINDS[kind]?.name ?? kind;
}

/** @param {unknown} e */
function message(e) {
  return e instanceof ApiError ? e.message : 'Something went wrong.';
}

/** @param {string} name */
function playerLink(name) {
  return h('a', { href: `/player/${encodeURIComponent(name)}`, dataset: { link: '' }, text: name });
}

/**
 * @param {LeaderboardEntry[]} lines
 * @param {string | null} highlight a username
 */
function boardTable(lines, highlight) {
  const mine = (highlight ?? '').toLowerCase();
  return h('table', { class: 'leaderboard-table', id: 'leaderboard-table' },
    h('thead', null, h('tr', null, ...['#', 'Player', 'Rating', 'Games', 'W', 'L', 'D'].map((t) => h('th', { text: t })))),
    h('tbody', null, ...lines.map((l) =>
      h('tr', { class: l.player_name.toLowerCase() === mine ? 'me' : '', dataset: { player: l.player_name } },
        h('td', { class: 'rank', text: l.rank }),
        h('td', null, playerLink(l.player_name)),
        h('td', { class: 'score', text: `${l.score}${l.provisional ? '?' : ''}`, title: l.provisional ? 'Provisional rating' : '' }),
        h('td', { text: l.games }),
        h('td', { text: l.wins }),
        h('td', { text: l.losses }),
        h('td', { text: l.draws }),
      ))));
}

/**
 * A real-time kind's points board: points scored over all finished sessions, rated or not.
 * @param {PointsEntry[]} lines
 * @param {string | null} highlight a username
 */
function pointsTable(lines, highlight) {
  const mine = (highlight ?? '').toLowerCase();
  return h('table', { class: 'leaderboard-table', id: 'points-table' },
    h('thead', null, h('tr', null, ...['#', 'Player', 'Points', 'Sessions'].map((t) => h('th', { text: t })))),
    h('tbody', null, ...lines.map((l) =>
      h('tr', { class: l.player_name.toLowerCase() === mine ? 'me' : '', dataset: { player: l.player_name } },
        h('td', { class: 'rank', text: l.rank }),
        h('td', null, playerLink(l.player_name)),
        h('td', { class: 'points', text: l.points }),
        h('td', { class: 'sessions', text: l.sessions }),
      ))));
}

/**
 * The leaderboard of one kind: the top 50, live (coalesced updates over the WebSocket), and
 * "find me" to show the signed-in player's neighbourhood.
 * @param {string} kind
 * @param {Connection} conn
 * @returns {{ el: HTMLElement, destroy: () => void }}
 */
export function leaderboardView(kind, conn) {
  const me = session.player;
  const body = h('div', { id: 'leaderboard-body', 'aria-live': 'polite' }, h('p', { class: 'muted', text: 'Loading…' }));
  const info = h('p', { class: 'muted small', id: 'leaderboard-info' });
  /** @type {'top' | 'me'} */
  let mode = 'top';
  const findMe = h('button', { type: 'button', class: 'btn btn-small', id: 'find-me', text: 'Find me', onclick: () => { mode = mode === 'me' ? 'top' : 'me'; load(); } });
  const tabs = h('nav', { class: 'kind-tabs', 'aria-label': 'Kinds' }, ...KIND_IDS.map((k) =>
    h('a', { href: `/leaderboard/${k}`, dataset: { link: '' }, class: k === kind ? 'active' : '', 'aria-current': k === kind ? 'page' : null, text: kindName(k) })));
  // Real-time kinds score points too: their points board comes first (every finished
  // session counts), then the rating board (rated sessions only).
  const realtime = KINDS[kind]?.realtime === true;
  const points = h('div', { id: 'points-body', 'aria-live': 'polite' });
  const el = h('section', { class: 'card leaderboard', id: 'leaderboard-page', dataset: { kind } },
    h('div', { class: 'card-head' }, h('h1', { text: `${kindName(kind)} leaderboard` }), findMe),
    tabs,
    realtime ? h('h2', { text: 'Points' }) : null,
    realtime ? h('p', { class: 'muted small', text: 'Rounds won over every finished session, rated or not.' }) : null,
    realtime ? points : null,
    realtime ? h('h2', { text: 'Ratings' }) : null,
    info, body);

  async function loadPoints() {
    try {
      /** @type {PointsLeaderboard} */
      const b = await request('GET', `/api/v1/leaderboards/${kind}/points?limit=50`);
      replace(points, b.leaderboard.length
        ? pointsTable(b.leaderboard, me?.username ?? null)
        : h('p', { class: 'muted', id: 'points-empty', text: 'No finished sessions yet.' }));
    } catch (e) {
      replace(points, h('p', { class: 'form-error', text: message(e) }));
    }
  }

  /** @param {LeaderboardEntry[]} lines @param {number} total */
  function show(lines, total) {
    findMe.textContent = mode === 'me' ? 'Show the top' : 'Find me';
    info.textContent = `${total} rated player${total === 1 ? '' : 's'}`;
    replace(body, lines.length ? boardTable(lines, me?.username ?? null) : h('p', { class: 'muted', id: 'leaderboard-empty', text: 'No rated games yet.' }));
  }

  async function load() {
    try {
      if (mode === 'me' && me) {
        /** @type {LeaderboardAround} */
        const a = await request('GET', `/api/v1/leaderboards/${kind}/around/${encodeURIComponent(me.username)}?radius=5`);
        show(a.leaderboard, a.total);
      } else {
        /** @type {Leaderboard} */
        const b = await request('GET', `/api/v1/leaderboards/${kind}?limit=50`);
        show(b.leaderboard, b.total);
      }
    } catch (e) {
      if (mode === 'me' && e instanceof ApiError && e.status === 404) {
        mode = 'top';
        await load();
        info.textContent = 'You have no rated game of this kind yet.';
        return;
      }
      replace(body, h('p', { class: 'form-error', text: message(e) }));
    }
  }

  const stop = conn.watch(
    { type: 'leaderboard_subscribe', id: `lb-${kind}`, kind, limit: 50 },
    { type: 'leaderboard_unsubscribe', kind },
    (msg) => {
      if (msg.type === 'leaderboard_update' && msg.kind === kind) {
        if (mode === 'top') show(msg.leaderboard, msg.total);
        else load();
        if (realtime) loadPoints();
        el.dataset.updates = String(Number(el.dataset.updates ?? 0) + 1);
      }
    },
  );
  load();
  if (realtime) loadPoints();
  return { el, destroy: stop };
}

/**
 * A rating-history chart: a polyline over the points, inline SVG.
 * @param {{ rating: number, at: string }[]} points
 */
function chart(points) {
  const W = 320;
  const H = 120;
  const P = 8;
  const ratings = [1500, ...points.map((p) => p.rating)];
  const lo = Math.min(...ratings) - 10;
  const hi = Math.max(...ratings) + 10;
  const x = (/** @type {number} */ i) => P + (i * (W - 2 * P)) / Math.max(1, ratings.length - 1);
  const y = (/** @type {number} */ r) => H - P - ((r - lo) * (H - 2 * P)) / (hi - lo);
  const line = ratings.map((r, i) => `${x(i).toFixed(1)},${y(r).toFixed(1)}`).join(' ');
  const el = svg('svg', { viewBox: `0 0 ${W} ${H}`, class: 'rating-chart', role: 'img', 'aria-label': `Rating history: ${ratings.map(Math.round).join(', ')}` },
    svg('line', { x1: P, x2: W - P, y1: y(1500), y2: y(1500), class: 'baseline' }),
    svg('polyline', { points: line, fill: 'none', class: 'rating-line' }),
    ...ratings.map((r, i) => svg('circle', { cx: x(i).toFixed(1), cy: y(r).toFixed(1), r: 2.5, class: 'rating-point' })));
  return el;
}

/** @param {KindStats} s */
function kindCard(s) {
  const streak = s.streak > 0 ? `${s.streak} win${s.streak === 1 ? '' : 's'}` : s.streak < 0 ? `${-s.streak} loss${s.streak === -1 ? '' : 'es'}` : '—';
  return h('section', { class: 'card-inset kind-stats', dataset: { kind: s.kind } },
    h('h2', { text: kindName(s.kind) }),
    h('dl', { class: 'stats' },
      h('dt', { text: 'Rating' }), h('dd', { class: 'stat-rating', text: `${s.score}${s.provisional ? ' (provisional)' : ''}` }),
      h('dt', { text: 'Rank' }), h('dd', { class: 'stat-rank', text: s.rank ? `#${s.rank}` : '—' }),
      h('dt', { text: 'Peak' }), h('dd', { text: s.peak ?? '—' }),
      h('dt', { text: 'Games' }), h('dd', { class: 'stat-games', text: `${s.games} (${s.rated_games} rated)` }),
      h('dt', { text: 'W / L / D' }), h('dd', { class: 'stat-wld', text: `${s.wins} / ${s.losses} / ${s.draws}` }),
      h('dt', { text: 'Streak' }), h('dd', { text: streak })),
    s.history.length ? chart(s.history) : h('p', { class: 'muted small', text: 'No rated games yet.' }),
    h('a', { href: `/leaderboard/${s.kind}`, dataset: { link: '' }, class: 'small', text: 'Leaderboard' }));
}

/** @param {HistoryGame} g */
function historyRow(g) {
  const change = g.rating_change == null ? '' : g.rating_change > 0 ? `+${g.rating_change}` : g.rating_change < 0 ? `\u2212${-g.rating_change}` : '\u00B10';
  return h('tr', { dataset: { session: g.session_id } },
    h('td', { text: new Date(g.ended_at).toLocaleDateString() }),
    h('td', { text: kindName(g.kind) }),
    h('td', null, g.opponent ? playerLink(g.opponent) : '—'),
    h('td', { class: `result result-${g.result}`, text: g.result }),
    h('td', { class: 'rating-change-cell', text: g.rated ? change : 'casual' }),
    h('td', null, h('a', { href: `/replay/${g.game_id}`, dataset: { link: '' }, class: 'replay-link', text: 'Replay' })));
}

/**
 * A player's profile: statistics per kind with a rating chart, and the game history.
 * @param {string} username
 * @returns {{ el: HTMLElement, destroy: () => void }}
 */
export function playerView(username) {
  const stats = h('div', { class: 'kind-stats-list', id: 'player-stats' }, h('p', { class: 'muted', text: 'Loading…' }));
  const rows = h('tbody', { id: 'history-rows' });
  const more = h('button', { type: 'button', class: 'btn btn-small', id: 'history-more', hidden: true, text: 'Older games' });
  /** @type {string | null} */
  let before = null;
  const el = h('section', { class: 'card profile', id: 'player-page' },
    h('h1', { text: username }),
    stats,
    h('h2', { text: 'Games' }),
    h('table', { class: 'history-table', id: 'history-table' },
      h('thead', null, h('tr', null, ...['Date', 'Kind', 'Opponent', 'Result', 'Rating', ''].map((t) => h('th', { text: t })))),
      rows),
    more);

  async function loadGames() {
    try {
      /** @type {PlayerGames} */
      const page = await request('GET', `/api/v1/players/${encodeURIComponent(username)}/games?limit=20${before ? `&before=${before}` : ''}`);
      rows.append(...page.games.map(historyRow));
      before = page.next_before ?? null;
      more.hidden = !before;
    } catch (e) {
      rows.append(h('tr', null, h('td', { colspan: '6', class: 'form-error', text: message(e) })));
    }
  }
  more.addEventListener('click', loadGames);

  (async () => {
    try {
      /** @type {PlayerStats} */
      const s = await request('GET', `/api/v1/players/${encodeURIComponent(username)}/stats`);
      replace(stats, s.stats.length ? s.stats.map(kindCard) : h('p', { class: 'muted', text: 'No finished games yet.' }));
    } catch (e) {
      replace(stats, h('p', { class: 'form-error', text: message(e) }));
    }
  })();
  loadGames();
  return { el, destroy: () => {} };
}

/**
 * The positions of a game after each move, as text grids (chess via the vendored chess.js).
 * @param {string} kind
 * @param {GameView['moves']} moves
 * @returns {string[][]} rows of cells per position (index 0: the start)
 */
export function positions(kind, moves) {
  /** @type {string[][]} */
  const out = [];
  if (kind === 'chess') {
    const game = new Chess();
    const black = /** @type {Record<string, string>} */ ({ k: '\u265A', q: '\u265B', r: '\u265C', b: '\u265D', n: '\u265E', p: '\u265F' });
    const white = /** @type {Record<string, string>} */ ({ k: '\u2654', q: '\u2655', r: '\u2656', b: '\u2657', n: '\u2658', p: '\u2659' });
    // Each cell: the piece's glyph and its colour letter (w/b), or empty.
    const grid = () => game.board().map((row) => row.map((sq) => (sq ? (sq.color === 'w' ? white : black)[sq.type] + sq.color : '')).join('|'));
    out.push(grid());
    for (const m of moves) {
      const uci = String(m.move.uci ?? '');
      game.move({ from: uci.slice(0, 2), to: uci.slice(2, 4), promotion: uci[4] });
      out.push(grid());
    }
    return out;
  }
  const [cols, rowsN] = kind === 'connect4' ? [7, 6] : [3, 3];
  /** @type {string[]} */
  const cells = Array(cols * rowsN).fill('');
  const mark = (/** @type {number} */ seat) => (kind === 'connect4' ? (seat === 0 ? 'R' : 'Y') : seat === 0 ? 'X' : 'O');
  const snap = () => Array.from({ length: rowsN }, (_, r) => cells.slice(r * cols, r * cols + cols).join('|'));
  out.push(snap());
  for (const m of moves) {
    if (kind === 'connect4') {
      const c = Number(m.move.column);
      for (let r = rowsN - 1; r >= 0; r--) {
        if (!cells[r * cols + c]) {
          cells[r * cols + c] = mark(m.seat);
          break;
        }
      }
    } else {
      cells[Number(m.move.cell)] = mark(m.seat);
    }
    out.push(snap());
  }
  return out;
}

/**
 * The replay of a game's session move by move.
 * @param {string} gameId
 * @returns {{ el: HTMLElement, destroy: () => void }}
 */
export function replayView(gameId) {
  const boardEl = h('div', { class: 'replay-board', id: 'replay-board' });
  const label = h('p', { class: 'replay-label', id: 'replay-label' });
  const btn = (/** @type {string} */ id, /** @type {string} */ text) => h('button', { type: 'button', class: 'btn btn-small', id, text });
  const first = btn('replay-first', '\u23EE');
  const prev = btn('replay-prev', '\u25C0 Back');
  const next = btn('replay-next', 'Next \u25B6');
  const last = btn('replay-last', '\u23ED');
  const title = h('h1', { text: 'Replay' });
  const el = h('section', { class: 'card replay', id: 'replay-page' },
    title, boardEl, label, h('div', { class: 'replay-controls' }, first, prev, next, last),
    h('p', null, h('a', { href: `/game/${gameId}`, dataset: { link: '' }, text: 'Open the game page' })));
  /** @type {string[][]} */
  let frames = [];
  /** @type {GameView['moves']} */
  let moves = [];
  let at = 0;

  function show() {
    replace(boardEl, h('table', { class: 'replay-grid' }, h('tbody', null, ...frames[at].map((row) =>
      h('tr', null, ...row.split('|').map((c) => h('td', { class: c ? `piece piece-${c.slice(-1)}` : '', text: c.length > 1 ? c.slice(0, -1) : c })))))));
    const m = moves[at - 1];
    const text = m ? String(m.move.san ?? m.move.uci ?? m.move.cell ?? m.move.column) : '';
    label.textContent = at === 0 ? `Start · ${moves.length} moves` : `Move ${at} of ${moves.length}: ${text}`;
    el.dataset.at = String(at);
    first.disabled = prev.disabled = at === 0;
    next.disabled = last.disabled = at === moves.length;
  }
  /** @param {number} n */
  const go = (n) => {
    at = Math.max(0, Math.min(moves.length, n));
    show();
  };
  first.addEventListener('click', () => go(0));
  prev.addEventListener('click', () => go(at - 1));
  next.addEventListener('click', () => go(at + 1));
  last.addEventListener('click', () => go(moves.length));

  (async () => {
    try {
      /** @type {GameView} */
      const g = await request('GET', `/api/v1/games/${gameId}`);
      moves = g.moves;
      frames = positions(g.kind, moves);
      title.textContent = `Replay: ${g.name}`;
      go(0);
    } catch (e) {
      replace(boardEl, h('p', { class: 'form-error', text: message(e) }));
    }
  })();
  return { el, destroy: () => {} };
}
