// Who is signed in: the bearer token and the player, kept in localStorage so a reload (or a
// second tab) stays signed in. The token is only ever sent in an `Authorization` header and
// in the WebSocket `hello` message, never in a URL.

/** @typedef {import('./types.js').PublicPlayer} PublicPlayer */

const KEY = 'versus.session';

/** @typedef {{ token: string, player: PublicPlayer }} Stored */

/** @returns {Stored | null} */
function load() {
  try {
    const raw = localStorage.getItem(KEY);
    if (!raw) return null;
    const v = JSON.parse(raw);
    return typeof v?.token === 'string' && typeof v?.player?.id === 'string' ? v : null;
  } catch {
    return null;
  }
}

/** @type {Set<() => void>} */
const listeners = new Set();
let current = load();

// Another tab signed in or out.
window.addEventListener('storage', (e) => {
  if (e.key !== KEY) return;
  current = load();
  listeners.forEach((f) => f());
});

export const session = {
  /** @returns {string | null} */
  get token() {
    return current?.token ?? null;
  },
  /** @returns {PublicPlayer | null} */
  get player() {
    return current?.player ?? null;
  },
  /**
   * @param {string} token
   * @param {PublicPlayer} player
   */
  set(token, player) {
    current = { token, player };
    localStorage.setItem(KEY, JSON.stringify(current));
    listeners.forEach((f) => f());
  },
  clear() {
    current = null;
    localStorage.removeItem(KEY);
    listeners.forEach((f) => f());
  },
  /** @param {() => void} f */
  onChange(f) {
    listeners.add(f);
  },
};
