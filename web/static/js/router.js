// Client-side routes (`/invite/<code>` too). The server answers every non-API path without a dot with index.html,
// so `/game/<id>` links can be shared and reloaded.

/** @typedef {{ name: 'lobby' } | { name: 'game', id: string } | { name: 'login' } | { name: 'not-found' } | { name: 'leaderboard', kind: string } | { name: 'player', username: string } | { name: 'replay', id: string } | { name: 'invite', code: string }} Route */

/**
 * @param {string} pathname
 * @returns {Route}
 */
export function parse(pathname) {
  if (pathname === '/' || pathname === '') return { name: 'lobby' };
  if (pathname === '/login') return { name: 'login' };
  const game = /^\/game\/([0-9a-fA-F-]{36})\/?$/.exec(pathname);
  if (game) return { name: 'game', id: game[1].toLowerCase() };
  // Scorekeeping pages (issue 7).
  const board = /^\/leaderboard\/([a-z0-9]+)\/?$/.exec(pathname);
  if (board) return { name: 'leaderboard', kind: board[1] };
  if (pathname === '/leaderboard') return { name: 'leaderboard', kind: 'chess' };
  const player = /^\/player\/([^/]+)\/?$/.exec(pathname);
  if (player) return { name: 'player', username: decodeURIComponent(player[1]) };
  const replay = /^\/replay\/([0-9a-fA-F-]{36})\/?$/.exec(pathname);
  if (replay) return { name: 'replay', id: replay[1].toLowerCase() };
  // Invite links (issue 9): the code is base64url.
  const invite = /^\/invite\/([A-Za-z0-9_-]{16,128})\/?$/.exec(pathname);
  if (invite) return { name: 'invite', code: invite[1] };
  return { name: 'not-found' };
}

/** @type {() => void} */
let onChange = () => {};

/** @param {() => void} f */
export function listen(f) {
  onChange = f;
  window.addEventListener('popstate', () => onChange());
  // Same-origin links marked `data-link` navigate without a reload.
  document.addEventListener('click', (e) => {
    const a = /** @type {HTMLElement | null} */ (e.target instanceof Element ? e.target.closest('a[data-link]') : null);
    if (!a || !(a instanceof HTMLAnchorElement)) return;
    if (e.defaultPrevented || e.button !== 0 || e.metaKey || e.ctrlKey || e.shiftKey || e.altKey) return;
    e.preventDefault();
    navigate(a.pathname);
  });
}

/**
 * @param {string} path
 * @param {{ replace?: boolean }} [options]
 */
export function navigate(path, { replace = false } = {}) {
  if (path !== location.pathname) {
    if (replace) history.replaceState(null, '', path);
    else history.pushState(null, '', path);
  }
  onChange();
}

/** @param {string} id */
export function gamePath(id) {
  return `/game/${id}`;
}
