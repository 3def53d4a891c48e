// The one WebSocket of the page (docs/PROTOCOL.md): `hello` with the stored token, then
// subscriptions and actions. When the socket drops — a network blip, a server restart — it
// reconnects with exponential backoff and jitter, says so through `status`, resubscribes
// every followed game from its last sequence number (`session_id` + `since_seq`), and sends
// again every move that was not acknowledged, with the same `client_move_id`, so the server
// applies it exactly once.

/** @typedef {import('./types.js').ClientMessage} ClientMessage */
/** @typedef {import('./types.js').ServerMessage} ServerMessage */
/** @typedef {import('./types.js').SubscribedMessage} SubscribedMessage */
/** @typedef {import('./types.js').EventMessage} EventMessage */
/** @typedef {import('./types.js').ErrorMessage} ErrorMessage */
/** @typedef {import('./types.js').PublicPlayer} PublicPlayer */
/**
 * A followed chat room (issue 8).
 * @typedef {object} ChatSub
 * @property {string} room
 * @property {string} requestId of the last chat_subscribe sent
 * @property {() => number | null} resumeFrom
 * @property {(m: ServerMessage) => void} onMessage
 * @property {(e: ErrorMessage) => void} onError
 */

/** The protocol version this client speaks (`hello.protocol`). */
export const PROTOCOL_VERSION = /** @type {import('../../types/protocol').ProtocolVersion} */ (1);

/** Reconnect delays: 250 ms doubling up to 8 s, each ±25 % so clients do not stampede. */
const BACKOFF_FIRST_MS = 250;
const BACKOFF_MAX_MS = 8000;
/** Application pings detect a dead connection the browser has not noticed. */
const PING_EVERY_MS = 20_000;
const PONG_TIMEOUT_MS = 10_000;

/**
 * - `connecting`: the first attempt
 * - `live`: welcomed; subscriptions and actions flow
 * - `reconnecting`: the socket dropped; the next attempt is scheduled or running
 * - `signed-out`: no token, or the server refused it
 * @typedef {'connecting' | 'live' | 'reconnecting' | 'signed-out'} Status
 */

/**
 * A request the server answers with `move_ack`, `action_ack` or `error` (matched by `id`).
 * @typedef {object} Pending
 * @property {ClientMessage & { id: string }} msg
 * @property {boolean} retry resend after a reconnect (moves: idempotent by client_move_id)
 * @property {boolean} sent on the current socket
 * @property {(m: ServerMessage) => void} resolve
 * @property {(e: Error) => void} reject
 */

/**
 * A followed game.
 * @typedef {object} Subscription
 * @property {string} gameId
 * @property {() => { session_id: string, since_seq: number } | null} resumeFrom where to resume
 * @property {(m: SubscribedMessage | EventMessage | import('./types.js').TicksMessage) => void} onMessage
 * @property {(e: ErrorMessage) => void} onError a failed subscribe (e.g. `not_found`)
 * @property {string} requestId of the last subscribe sent
 */

/** An action failed: `code` is the protocol's error code. */
export class ActionError extends Error {
  /**
   * @param {string} code
   * @param {string} message
   */
  constructor(code, message) {
    super(message);
    this.name = 'ActionError';
    this.code = code;
  }
}

export class Connection {
  /** @param {() => string | null} token */
  constructor(token) {
    this.token = token;
    /** @type {Status} */
    this.status = 'signed-out';
    /** Failed attempts since the last welcome. */
    this.attempt = 0;
    /** Server time minus local time, estimated at `welcome` and `pong`. */
    this.clockOffsetMs = 0;
    /** @type {PublicPlayer | null} */
    this.player = null;
    /** @type {WebSocket | null} */
    this.ws = null;
    /** @type {Map<string, Subscription>} */
    this.subs = new Map();
    /** @type {Map<string, Pending>} */
    this.pending = new Map();
    this.nextId = 1;
    /** @type {ReturnType<typeof setTimeout> | undefined} */
    this.retryTimer = undefined;
    /** @type {ReturnType<typeof setInterval> | undefined} */
    this.pingTimer = undefined;
    /** @type {ReturnType<typeof setTimeout> | undefined} */
    this.pongTimer = undefined;
    /** @type {Set<() => void>} */
    this.statusListeners = new Set();
    /** @type {() => void} */
    this.onUnauthorized = () => {};
    /** Rating and leaderboard updates (issue 7) go to these. @type {Set<(m: ServerMessage) => void>} */
    this.updateListeners = new Set();
    /** Follow requests (leaderboard, rating) sent again after every reconnect. @type {Map<string, ClientMessage>} */
    this.watches = new Map();
    /** Followed chat rooms (issue 8), resubscribed from their last seq after a reconnect. @type {Map<string, ChatSub>} */
    this.chats = new Map();

    window.addEventListener('online', () => this.retryNow());
    document.addEventListener('visibilitychange', () => {
      if (document.visibilityState === 'visible') this.retryNow();
    });
  }

  /** Opens the socket if signed in and not already open. */
  start() {
    if (!this.token()) return;
    if (this.ws || this.retryTimer !== undefined) return;
    this.open();
  }

  /** Closes the socket for good (sign-out) and fails everything in flight. */
  stop() {
    clearTimeout(this.retryTimer);
    this.retryTimer = undefined;
    this.teardown();
    this.attempt = 0;
    for (const p of this.pending.values()) p.reject(new ActionError('signed_out', 'You are signed out.'));
    this.pending.clear();
    this.setStatus('signed-out');
  }

  /** Skips the wait before the next attempt (the network came back, the tab is visible). */
  retryNow() {
    if (this.status !== 'reconnecting' || this.ws) return;
    clearTimeout(this.retryTimer);
    this.retryTimer = undefined;
    this.open();
  }

  /** @param {() => void} f called whenever `status` changes */
  onStatus(f) {
    this.statusListeners.add(f);
    return () => this.statusListeners.delete(f);
  }

  /** The server's clock now, in ms since epoch. */
  serverNow() {
    return Date.now() + this.clockOffsetMs;
  }

  /**
   * Follows a game until the returned function is called. Survives reconnects: each new
   * socket resubscribes from `resumeFrom()`.
   * @param {string} gameId
   * @param {Omit<Subscription, 'gameId' | 'requestId'>} handlers
   * @returns {{ resubscribe: () => void, close: () => void }}
   */
  subscribe(gameId, handlers) {
    const sub = { ...handlers, gameId, requestId: '' };
    this.subs.set(gameId, sub);
    if (this.status === 'live') this.sendSubscribe(sub);
    else this.start();
    return {
      // Asks again from `resumeFrom()` (null: a fresh snapshot), e.g. after a gap.
      resubscribe: () => {
        if (this.status === 'live' && this.subs.get(gameId) === sub) this.sendSubscribe(sub);
      },
      close: () => {
        if (this.subs.get(gameId) !== sub) return;
        this.subs.delete(gameId);
        if (this.status === 'live') this.send({ type: 'unsubscribe', id: this.newId('u'), game_id: gameId });
      },
    };
  }

  /**
   * Follows a chat room until `close` is called. Survives reconnects: each new socket
   * resubscribes from `resumeFrom()` (the last seq the caller has, or null for the recent
   * history).
   * @param {string} room
   * @param {{ resumeFrom: () => number | null, onMessage: (m: ServerMessage) => void, onError: (e: ErrorMessage) => void }} handlers
   * @returns {{ resubscribe: () => void, close: () => void }}
   */
  chat(room, handlers) {
    /** @type {ChatSub} */
    const sub = { ...handlers, room, requestId: '' };
    this.chats.set(room, sub);
    if (this.status === 'live') this.sendChatSubscribe(sub);
    else this.start();
    return {
      resubscribe: () => {
        if (this.status === 'live' && this.chats.get(room) === sub) this.sendChatSubscribe(sub);
      },
      close: () => {
        if (this.chats.get(room) !== sub) return;
        this.chats.delete(room);
        if (this.status === 'live') this.send({ type: 'chat_unsubscribe', id: this.newId('u'), room });
      },
    };
  }

  /** @param {ChatSub} sub */
  sendChatSubscribe(sub) {
    sub.requestId = this.newId('c');
    const since = sub.resumeFrom();
    this.send({ type: 'chat_subscribe', id: sub.requestId, room: sub.room, ...(since != null ? { since_seq: since } : {}) });
  }

  /**
   * Follows a leaderboard or one's own rating until the returned function is called: the
   * request is sent now (when live) and after every reconnect; `f` gets every message.
   * @param {ClientMessage} msg a `leaderboard_subscribe` or `rating_subscribe`
   * @param {ClientMessage} stop the matching unsubscribe
   * @param {(m: ServerMessage) => void} f
   * @returns {() => void}
   */
  watch(msg, stop, f) {
    const key = this.newId('w');
    this.watches.set(key, msg);
    this.updateListeners.add(f);
    if (this.status === 'live') this.send(msg);
    else this.start();
    return () => {
      this.watches.delete(key);
      this.updateListeners.delete(f);
      if (this.status === 'live') this.send(stop);
    };
  }

  /**
   * Listens to the pushes nobody asks for — `notification` and `presence` (issue 9) — and
   * to every other update, until the returned function is called. They are best effort: a
   * listener reads the REST truth again whenever the connection becomes live (`onStatus`).
   * @param {(m: ServerMessage) => void} f
   * @returns {() => void}
   */
  onUpdate(f) {
    this.updateListeners.add(f);
    return () => this.updateListeners.delete(f);
  }

  /**
   * Sends an action and resolves with its acknowledgement, or rejects with an ActionError.
   * Sent at once when live, else when the socket is back. With `retry` (moves), a request
   * whose answer was lost with the socket is sent again after reconnecting; without it, such
   * a request fails with `disconnected` (it may or may not have been applied).
   * @param {ClientMessage} msg
   * @param {{ retry?: boolean }} [options]
   * @returns {Promise<ServerMessage>}
   */
  request(msg, { retry = false } = {}) {
    const id = this.newId(msg.type === 'move' ? 'm' : 'a');
    const full = /** @type {ClientMessage & { id: string }} */ ({ ...msg, id });
    return new Promise((resolve, reject) => {
      /** @type {Pending} */
      const p = { msg: full, retry, sent: false, resolve, reject };
      this.pending.set(id, p);
      if (this.status === 'live') {
        this.send(full);
        p.sent = true;
      } else {
        this.start();
      }
    });
  }

  // ---- internals ----

  /** @param {string} prefix */
  newId(prefix) {
    return `${prefix}${this.nextId++}`;
  }

  /** @param {Status} status */
  setStatus(status) {
    if (this.status === status) return;
    this.status = status;
    this.statusListeners.forEach((f) => f());
  }

  open() {
    const token = this.token();
    if (!token) {
      this.setStatus('signed-out');
      return;
    }
    this.setStatus(this.attempt === 0 && this.status !== 'reconnecting' ? 'connecting' : 'reconnecting');
    const url = `${location.protocol === 'https:' ? 'wss:' : 'ws:'}//${location.host}/api/v1/ws`;
    const ws = new WebSocket(url);
    this.ws = ws;
    ws.onopen = () => {
      // The token goes in the first message, never in the URL.
      ws.send(JSON.stringify({ type: 'hello', protocol: PROTOCOL_VERSION, token }));
    };
    ws.onmessage = (e) => {
      if (this.ws !== ws || typeof e.data !== 'string') return;
      /** @type {ServerMessage} */
      let msg;
      try {
        msg = JSON.parse(e.data);
      } catch {
        return;
      }
      this.dispatch(msg);
    };
    ws.onclose = (e) => {
      if (this.ws !== ws) return;
      this.lost(e.code);
    };
    // An error is always followed by close; nothing to do here (and nothing to log).
    ws.onerror = () => {};
  }

  /**
   * The socket is gone: fail what cannot be retried and schedule the next attempt.
   * @param {number} code the close code
   */
  lost(code) {
    this.teardown();
    for (const [id, p] of this.pending) {
      if (!p.sent) continue;
      p.sent = false;
      if (!p.retry) {
        this.pending.delete(id);
        p.reject(new ActionError('disconnected', 'The connection dropped before the server answered. Try again.'));
      }
    }
    if (code === 4001 || !this.token()) {
      // The server refused the token: it expired or was revoked.
      this.stop();
      this.onUnauthorized();
      return;
    }
    const base = Math.min(BACKOFF_MAX_MS, BACKOFF_FIRST_MS * 2 ** this.attempt);
    const delay = Math.round(base * (0.75 + Math.random() * 0.5));
    this.attempt += 1;
    this.setStatus('reconnecting');
    this.retryTimer = setTimeout(() => {
      this.retryTimer = undefined;
      this.open();
    }, delay);
  }

  /** Detaches and closes the current socket, if any. */
  teardown() {
    clearInterval(this.pingTimer);
    clearTimeout(this.pongTimer);
    this.pingTimer = undefined;
    this.pongTimer = undefined;
    const ws = this.ws;
    this.ws = null;
    if (ws) {
      ws.onopen = ws.onmessage = ws.onclose = null;
      if (ws.readyState === WebSocket.OPEN || ws.readyState === WebSocket.CONNECTING) {
        try {
          ws.close(1000);
        } catch {
          // already closing
        }
      }
    }
  }

  /** @param {ClientMessage} msg */
  send(msg) {
    if (this.ws?.readyState === WebSocket.OPEN) this.ws.send(JSON.stringify(msg));
  }

  /** @param {Subscription} sub */
  sendSubscribe(sub) {
    sub.requestId = this.newId('s');
    const from = sub.resumeFrom();
    this.send({
      type: 'subscribe',
      id: sub.requestId,
      game_id: sub.gameId,
      ...(from ? { session_id: from.session_id, since_seq: from.since_seq } : {}),
    });
  }

  /** @param {string} iso */
  syncClock(iso) {
    const server = Date.parse(iso);
    if (Number.isFinite(server)) this.clockOffsetMs = server - Date.now();
  }

  /** @param {ServerMessage} msg */
  dispatch(msg) {
    switch (msg.type) {
      case 'welcome': {
        this.player = msg.player;
        this.syncClock(msg.server_time);
        this.attempt = 0;
        this.setStatus('live');
        this.startPings();
        for (const sub of this.subs.values()) this.sendSubscribe(sub);
        for (const w of this.watches.values()) this.send(w);
        for (const c of this.chats.values()) this.sendChatSubscribe(c);
        // Unanswered moves go again with the same client_move_id: applied at most once.
        for (const p of this.pending.values()) {
          this.send(p.msg);
          p.sent = true;
        }
        return;
      }
      case 'pong':
        clearTimeout(this.pongTimer);
        this.pongTimer = undefined;
        this.syncClock(msg.server_time);
        return;
      case 'subscribed':
      case 'event':
      case 'ticks':
        this.subs.get(msg.game_id)?.onMessage(msg);
        return;
      case 'chat_subscribed':
      case 'chat':
        this.chats.get(msg.room)?.onMessage(msg);
        return;
      case 'chat_unsubscribed':
        return;
      case 'unsubscribed':
      case 'leaderboard_subscribed':
      case 'leaderboard_unsubscribed':
      case 'rating_subscribed':
      case 'rating_unsubscribed':
      case 'rating_update':
      case 'leaderboard_update':
      // Social pushes (issue 9): every connection of the player gets them, unasked.
      case 'notification':
      case 'presence':
        this.updateListeners.forEach((f) => f(msg));
        return;
      case 'move_ack':
      case 'action_ack':
      case 'input_accepted':
      case 'chat_ack':
      case 'chat_history':
      case 'error': {
        const id = msg.id ?? '';
        const p = this.pending.get(id);
        if (p) {
          this.pending.delete(id);
          if (msg.type === 'error') p.reject(new ActionError(msg.code, msg.message));
          else p.resolve(msg);
          return;
        }
        if (msg.type === 'error') {
          for (const sub of this.subs.values()) {
            if (sub.requestId === id) sub.onError(msg);
          }
          for (const c of this.chats.values()) {
            if (c.requestId === id) c.onError(msg);
          }
        }
        return;
      }
      default:
        // Unknown message types are ignored (the protocol may grow).
        return;
    }
  }

  startPings() {
    clearInterval(this.pingTimer);
    this.pingTimer = setInterval(() => {
      if (this.status !== 'live' || this.pongTimer !== undefined) return;
      this.send({ type: 'ping', id: this.newId('p') });
      const ws = this.ws;
      this.pongTimer = setTimeout(() => {
        // No answer: the connection is dead even if the browser has not noticed.
        if (this.ws === ws) this.lost(1006);
      }, PONG_TIMEOUT_MS);
    }, PING_EVERY_MS);
  }
}
