// The REST client: JSON in and out, `Authorization: Bearer` from the stored session, and
// RFC 9457 problem documents turned into `ApiError`s whose `fields` map a form field to its
// message, so forms can show each error next to the field that caused it.

import { session } from './session.js';

/** @typedef {import('./types.js').Problem} Problem */
/** @typedef {import('./types.js').FieldError} FieldError */

export class ApiError extends Error {
  /**
   * @param {number} status HTTP status, or 0 when the server could not be reached
   * @param {string} code the problem's stable `code` (`network` when unreachable)
   * @param {string} message a sentence for people
   * @param {FieldError[]} [errors] per-field failures (`validation_failed`)
   * @param {number | null} [retryAfter] seconds, from `Retry-After`
   */
  constructor(status, code, message, errors = [], retryAfter = null) {
    super(message);
    this.name = 'ApiError';
    this.status = status;
    this.code = code;
    this.errors = errors;
    this.retryAfter = retryAfter;
  }

  /** @returns {Record<string, string>} field name → message (the first per field) */
  get fields() {
    /** @type {Record<string, string>} */
    const out = {};
    for (const e of this.errors) out[e.field] ??= sentence(e.message);
    return out;
  }
}

/** @param {string} s */
function sentence(s) {
  return s ? s.charAt(0).toUpperCase() + s.slice(1) : s;
}

/** Called when the server says the stored token is no longer valid. */
let onUnauthorized = () => {};

/** @param {() => void} f */
export function setUnauthorizedHandler(f) {
  onUnauthorized = f;
}

/**
 * Sends a request to the API and returns the parsed JSON body (undefined for 204).
 * @template T
 * @param {string} method
 * @param {string} path e.g. `/api/v1/games`
 * @param {unknown} [body]
 * @returns {Promise<T>}
 */
export async function request(method, path, body) {
  /** @type {Record<string, string>} */
  const headers = { accept: 'application/json' };
  const token = session.token;
  if (token) headers.authorization = `Bearer ${token}`;
  if (body !== undefined) headers['content-type'] = 'application/json';
  let response;
  try {
    response = await fetch(path, {
      method,
      headers,
      body: body === undefined ? undefined : JSON.stringify(body),
      cache: 'no-store',
    });
  } catch {
    throw new ApiError(0, 'network', 'The server cannot be reached. Check your connection and try again.');
  }
  if (response.status === 204) return /** @type {T} */ (undefined);
  const text = await response.text();
  /** @type {any} */
  let json = null;
  try {
    json = text ? JSON.parse(text) : null;
  } catch {
    json = null;
  }
  if (response.ok) return /** @type {T} */ (json);
  const problem = /** @type {Partial<Problem> | null} */ (json);
  const retry = Number(response.headers.get('retry-after'));
  const error = new ApiError(
    response.status,
    problem?.code ?? 'internal',
    problemMessage(problem, response.status),
    problem?.errors ?? [],
    Number.isFinite(retry) && retry > 0 ? retry : null,
  );
  if (response.status === 401 && token && error.code === 'unauthorized') onUnauthorized();
  return Promise.reject(error);
}

/**
 * @param {Partial<Problem> | null} problem
 * @param {number} status
 */
function problemMessage(problem, status) {
  switch (problem?.code) {
    case 'invalid_credentials':
      return 'That username or password is not right.';
    case 'rate_limited':
      return 'Too many attempts. Wait a moment and try again.';
    case 'unavailable':
    case 'overloaded':
      return 'The server is busy. Try again in a moment.';
    case 'internal':
      return 'Something went wrong on the server. Try again.';
    default:
      break;
  }
  if (problem?.detail) return sentence(problem.detail) + (/[.!?]$/.test(problem.detail) ? '' : '.');
  if (problem?.title) return problem.title;
  return `The request failed (HTTP ${status}).`;
}

/** @typedef {import('./types.js').AuthResponse} AuthResponse */
/** @typedef {import('./types.js').GameView} GameView */

export const api = {
  /** @param {import('./types.js').RegisterRequest} body @returns {Promise<AuthResponse>} */
  register: (body) => request('POST', '/api/v1/auth/register', body),
  /** @param {import('./types.js').LoginRequest} body @returns {Promise<AuthResponse>} */
  login: (body) => request('POST', '/api/v1/auth/login', body),
  /** @returns {Promise<AuthResponse>} */
  guest: () => request('POST', '/api/v1/auth/guest'),
  /** @returns {Promise<void>} */
  logout: () => request('POST', '/api/v1/auth/logout'),
  /** @returns {Promise<import('./types.js').Me>} */
  me: () => request('GET', '/api/v1/me'),
  /** @returns {Promise<import('./types.js').KindList>} */
  kinds: () => request('GET', '/api/v1/kinds'),
  /** @param {Record<string, string>} query @returns {Promise<import('./types.js').GameList>} */
  games: (query) => request('GET', `/api/v1/games?${new URLSearchParams(query)}`),
  /** @param {import('./types.js').CreateGameRequest} body @returns {Promise<GameView>} */
  createGame: (body) => request('POST', '/api/v1/games', body),
  /** @param {string} id @returns {Promise<GameView>} */
  game: (id) => request('GET', `/api/v1/games/${encodeURIComponent(id)}`),
  /** @param {string} id @returns {Promise<import('./types.js').ActionAck>} */
  join: (id) => request('POST', `/api/v1/games/${encodeURIComponent(id)}/join`),
  /** @param {import('./types.js').TicketRequest} body @returns {Promise<import('./types.js').Ticket>} */
  createTicket: (body) => request('POST', '/api/v1/matchmaking/tickets', body),
  /** @param {string} id @returns {Promise<import('./types.js').Ticket>} */
  ticket: (id) => request('GET', `/api/v1/matchmaking/tickets/${encodeURIComponent(id)}`),
  /** @param {string} id @returns {Promise<import('./types.js').Ticket>} */
  cancelTicket: (id) => request('DELETE', `/api/v1/matchmaking/tickets/${encodeURIComponent(id)}`),

  // ---- social (issue 9) ----
  /** @returns {Promise<import('./types.js').FriendList>} */
  friends: () => request('GET', '/api/v1/friends'),
  /** @param {string} username @returns {Promise<import('./types.js').FriendRequestResult>} */
  requestFriend: (username) => request('POST', '/api/v1/friends/requests', { username }),
  /** @param {string} username @returns {Promise<void>} */
  acceptFriend: (username) => request('POST', `/api/v1/friends/requests/${encodeURIComponent(username)}/accept`),
  /** @param {string} username @returns {Promise<void>} */
  declineFriend: (username) => request('POST', `/api/v1/friends/requests/${encodeURIComponent(username)}/decline`),
  /** @param {string} username @returns {Promise<void>} */
  cancelFriendRequest: (username) => request('DELETE', `/api/v1/friends/requests/${encodeURIComponent(username)}`),
  /** @param {string} username @returns {Promise<void>} */
  removeFriend: (username) => request('DELETE', `/api/v1/friends/${encodeURIComponent(username)}`),
  /** @param {string} username @returns {Promise<void>} */
  block: (username) => request('PUT', `/api/v1/me/blocks/${encodeURIComponent(username)}`),
  /** @param {string} gameId @param {string} username @returns {Promise<import('./types.js').Invite>} */
  invite: (gameId, username) => request('POST', `/api/v1/games/${encodeURIComponent(gameId)}/invites`, { username }),
  /** @param {string} gameId @returns {Promise<import('./types.js').InviteLink>} */
  createInviteLink: (gameId) => request('POST', `/api/v1/games/${encodeURIComponent(gameId)}/invite-links`),
  /** @returns {Promise<import('./types.js').InviteList>} */
  invites: () => request('GET', '/api/v1/invites'),
  /** @param {string} id @returns {Promise<import('./types.js').InviteAccepted>} */
  acceptInvite: (id) => request('POST', `/api/v1/invites/${encodeURIComponent(id)}/accept`),
  /** @param {string} id @returns {Promise<void>} */
  declineInvite: (id) => request('POST', `/api/v1/invites/${encodeURIComponent(id)}/decline`),
  /** Cancels an invite or revokes a link. @param {string} id @returns {Promise<void>} */
  cancelInvite: (id) => request('DELETE', `/api/v1/invites/${encodeURIComponent(id)}`),
  /** @param {string} code @returns {Promise<import('./types.js').InviteLinkInfo>} */
  inviteLink: (code) => request('GET', `/api/v1/invite-links/${encodeURIComponent(code)}`),
  /** @param {string} code @returns {Promise<import('./types.js').InviteAccepted>} */
  acceptInviteLink: (code) => request('POST', `/api/v1/invite-links/${encodeURIComponent(code)}/accept`),
  /** @returns {Promise<import('./types.js').NotificationPage>} */
  notifications: () => request('GET', '/api/v1/notifications?limit=30'),
  /** @param {string[] | undefined} ids all when undefined @returns {Promise<import('./types.js').NotificationsMarked>} */
  markRead: (ids) => request('POST', '/api/v1/notifications/read', ids ? { ids } : {}),
};
