// The games this browser opened, newest first, so a player can find their way back to a
// game (the API has no "my games" list yet). Kept in localStorage.

const KEY = 'versus.recent';
const MAX = 8;

/** @typedef {{ id: string, name: string, kind: string }} RecentGame */

/** @returns {RecentGame[]} */
export function recentGames() {
  try {
    const v = JSON.parse(localStorage.getItem(KEY) ?? '[]');
    return Array.isArray(v) ? v.filter((g) => typeof g?.id === 'string' && typeof g?.name === 'string').slice(0, MAX) : [];
  } catch {
    return [];
  }
}

/** @param {RecentGame} game */
export function rememberGame(game) {
  const list = [game, ...recentGames().filter((g) => g.id !== game.id)].slice(0, MAX);
  try {
    localStorage.setItem(KEY, JSON.stringify(list));
  } catch {
    // storage full or disabled: not worth bothering the player
  }
}

export function forgetRecentGames() {
  localStorage.removeItem(KEY);
}
