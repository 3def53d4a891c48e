// The app shell: the header (who is signed in, the connection state, log out) and the
// router that swaps the page below it.

import { h, replace } from './dom.js';
import { api, setUnauthorizedHandler } from './api.js';
import { session } from './session.js';
import { Connection } from './socket.js';
import { listen, parse, navigate } from './router.js';
import { authView } from './views/auth.js';
import { lobbyView } from './views/lobby.js';
import { gameView } from './views/game.js';
import { leaderboardView, playerView, replayView } from './views/scores.js';
import { toast } from './toast.js';
import { notificationsMenu, invitePage } from './views/social.js';

const conn = new Connection(() => session.token);

const main = /** @type {HTMLElement} */ (document.getElementById('app'));
const userBox = /** @type {HTMLElement} */ (document.getElementById('user-box'));
const connPill = /** @type {HTMLElement} */ (document.getElementById('conn-status'));

/** @type {{ el: HTMLElement, destroy: () => void } | null} */
let view = null;
/** The route and signed-in player the current view was built for. */
let shown = '';

function signOutLocally() {
  conn.stop();
  session.clear();
}

setUnauthorizedHandler(() => {
  signOutLocally();
  toast('Your session has ended. Please log in again.', 'error');
});
conn.onUnauthorized = () => {
  session.clear();
  toast('Your session has ended. Please log in again.', 'error');
};

async function logout() {
  try {
    await api.logout();
  } catch {
    // Signed out locally either way.
  }
  signOutLocally();
  navigate('/');
}

/** The notifications menu of the signed-in player (issue 9), kept across pages. @type {{ el: HTMLElement, destroy: () => void, player: string } | null} */
let bell = null;

function renderHeader() {
  const p = session.player;
  if (!p || !session.token) {
    bell?.destroy();
    bell = null;
    replace(userBox);
    return;
  }
  if (bell?.player !== p.id) {
    bell?.destroy();
    bell = { ...notificationsMenu(conn), player: p.id };
  }
  replace(userBox,
    bell.el,
    h('span', { class: 'user-name', id: 'user-name', title: p.guest ? 'Guest account' : 'Signed in' },
      h('span', { class: 'avatar', 'aria-hidden': 'true', text: p.username.slice(0, 1).toUpperCase() }),
      h('a', { class: 'user-name-text', id: 'profile-link', href: `/player/${encodeURIComponent(p.username)}`, dataset: { link: '' }, text: p.username }),
      p.guest ? h('span', { class: 'guest-badge', text: 'guest' }) : null),
    h('button', { type: 'button', class: 'btn btn-ghost btn-small', id: 'logout-button', text: 'Log out', onclick: logout }),
  );
}

function renderConnection() {
  const s = conn.status;
  connPill.dataset.state = s;
  connPill.hidden = s === 'signed-out';
  const text = { live: 'Connected', connecting: 'Connecting…', reconnecting: 'Reconnecting…', 'signed-out': '' }[s];
  const label = connPill.querySelector('.conn-text');
  if (label) label.textContent = text;
  connPill.title =
    s === 'reconnecting' ? 'The live connection dropped. Reconnecting automatically.' : s === 'live' ? 'Live connection to the server' : '';
}

function route() {
  const r = parse(location.pathname);
  const signedIn = !!session.token;
  const key = `${signedIn ? session.player?.id : '-'}:${location.pathname}`;
  if (key === shown) return;
  shown = key;
  view?.destroy();
  view = null;
  renderHeader();
  if (!signedIn) {
    if (r.name === 'not-found') {
      history.replaceState(null, '', '/');
      shown = '';
      route();
      return;
    }
    view = authView({ gameId: r.name === 'game' ? r.id : null, invited: r.name === 'invite' });
    document.title = r.name === 'game' || r.name === 'invite' ? 'Join a game · Versus' : 'Versus — play with friends';
  } else {
    conn.start();
    switch (r.name) {
      case 'login':
        navigate('/', { replace: true });
        return;
      case 'lobby':
        view = lobbyView(conn);
        document.title = 'Lobby · Versus';
        break;
      case 'game':
        view = gameView(r.id, conn);
        document.title = 'Game · Versus';
        break;
      case 'leaderboard':
        view = leaderboardView(r.kind, conn);
        document.title = 'Leaderboard · Versus';
        break;
      case 'player':
        view = playerView(r.username);
        document.title = `${r.username} · Versus`;
        break;
      case 'replay':
        view = replayView(r.id);
        document.title = 'Replay · Versus';
        break;
      case 'invite':
        view = invitePage(r.code);
        document.title = 'Invite · Versus';
        break;
      default:
        view = {
          el: h('section', { class: 'card narrow' },
            h('h1', { text: 'Page not found' }),
            h('p', { text: 'There is nothing at this address.' }),
            h('a', { href: '/', class: 'btn btn-primary', dataset: { link: '' }, text: 'Go to the lobby' })),
          destroy: () => {},
        };
        document.title = 'Not found · Versus';
    }
  }
  replace(main, view.el);
  main.focus({ preventScroll: true });
  window.scrollTo(0, 0);
}

session.onChange(() => {
  if (!session.token) conn.stop();
  route();
  renderHeader();
});
conn.onStatus(renderConnection);
listen(route);
renderConnection();
route();

// A stored token may have expired while the tab was closed: check it once.
if (session.token) {
  api.me().then(
    (me) => {
      if (session.token && me.username !== session.player?.username) session.set(session.token, me);
    },
    () => {},
  );
}
