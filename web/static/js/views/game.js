// The game page: one game followed over the WebSocket. It draws the board of the game's
// kind, both players with their clocks, whose turn it is, the move list, the actions that
// fit the moment (join, resign, draw, abort, claim victory, rematch) and the result; it
// shares the game's link. Moves carry a fresh `client_move_id` and stay on screen, faded,
// until the server has committed them; across a reconnect they are sent again with the same
// id (see socket.js), and the page resumes from its last sequence number.

import { h, replace } from '../dom.js';
import { session } from '../session.js';
import { gamePath } from '../router.js';
import { clock, timeControl, resultText } from '../format.js';
import { fromView, apply, classify, kindUI, remainingMs, canAbort, ticksEnvelope } from '../game-model.js';
import { ActionError } from '../socket.js';
import { rememberGame } from '../recent.js';
import { toast } from '../toast.js';
import { invitePanel } from './social.js';
import { chatPanel } from '../chat.js';

/** @typedef {import('../socket.js').Connection} Connection */
/** @typedef {import('../game-model.js').GameModel} GameModel */
/** @typedef {import('../types.js').MoveAckMessage} MoveAckMessage */
/** @typedef {import('../boards/kind.js').Board<any>} Board */

/**
 * @typedef {object} PendingMove
 * @property {object} move
 * @property {string} clientMoveId
 * @property {string} sessionId
 * @property {number | null} ackSeq set once acknowledged; cleared when the event is in
 */

/** A client move id: 128 random bits (crypto.randomUUID needs a secure context). */
function newClientMoveId() {
  const bytes = crypto.getRandomValues(new Uint8Array(16));
  return 'c' + Array.from(bytes, (b) => b.toString(16).padStart(2, '0')).join('');
}

/** @type {Record<string, string>} */
const ERRORS = {
  illegal_move: 'That move is not allowed.',
  not_your_turn: 'It is not your turn.',
  game_over: 'The game is over.',
  game_full: 'Someone took the seat first.',
  already_seated: 'You already have a seat in this game.',
  not_a_participant: 'Only the players can do that.',
  overloaded: 'The server is busy. Try again.',
  disconnected: 'The connection dropped before the server answered. Try again.',
};

/** @param {unknown} err */
function errorText(err) {
  if (err instanceof ActionError) return ERRORS[err.code] ?? err.message;
  return 'Something went wrong. Try again.';
}

/**
 * @param {string} gameId
 * @param {Connection} conn
 * @returns {{ el: HTMLElement, destroy: () => void }}
 */
export function gameView(gameId, conn) {
  const me = session.player;
  /** @type {GameModel | null} */
  let model = null;
  /** @type {PendingMove | null} */
  let pending = null;
  let resyncing = false;
  /** @type {string | null} */
  let fatal = null;
  /** @type {Board | null} */
  let board = null;
  /** @type {string | null} */
  let boardKind = null;
  let confirmResign = false;
  /** @type {ReturnType<typeof setTimeout> | undefined} */
  let confirmTimer;
  /** @type {Set<string>} actions in flight */
  const busy = new Set();
  let destroyed = false;

  // ---- static layout ----
  const title = h('h1', { class: 'game-title', text: 'Loading game…' });
  const meta = h('p', { class: 'game-meta' });
  const desc = h('p', { class: 'game-desc', hidden: true });
  const shareUrl = `${location.origin}${gamePath(gameId)}`;
  const shareInput = h('input', { type: 'text', id: 'share-url', readOnly: true, value: shareUrl, 'aria-label': 'Link to this game', onfocus: () => shareInput.select() });
  const copyButton = h('button', { type: 'button', class: 'btn btn-secondary', id: 'copy-link', text: 'Copy link', onclick: copyLink });
  const share = h('div', { class: 'share' },
    h('label', { for: 'share-url', class: 'share-label', text: 'Invite a friend to play or watch' }),
    h('div', { class: 'share-row' }, shareInput, copyButton));

  const topCard = h('div', { class: 'player-card', id: 'player-top' });
  const bottomCard = h('div', { class: 'player-card', id: 'player-bottom' });
  const boardHolder = h('div', { class: 'board-holder' });
  const connBanner = h('div', { class: 'conn-banner', id: 'conn-banner', role: 'status', hidden: true });
  const status = h('div', { class: 'status', id: 'game-status', 'aria-live': 'polite' });
  // The rating change of a rated game, shown on the result screen (issue 7).
  const ratingChange = h('p', { class: 'rating-change', id: 'rating-change', hidden: true });
  const stopRating = conn.watch({ type: 'rating_subscribe', id: 'rating' }, { type: 'rating_unsubscribe' }, (msg) => {
    if (msg.type !== 'rating_update' || msg.game_id !== gameId) return;
    const sign = msg.change > 0 ? '+' : msg.change < 0 ? '\u2212' : '\u00B1';
    ratingChange.textContent = `Rating ${msg.score} (${sign}${Math.abs(msg.change)})${msg.rank ? ` \u00B7 rank #${msg.rank}` : ''}${msg.provisional ? ' \u00B7 provisional' : ''}`;
    ratingChange.dataset.change = String(msg.change);
    ratingChange.hidden = false;
  });
  const offers = h('div', { class: 'offers', id: 'offers' });
  const actions = h('div', { class: 'actions', id: 'actions' });
  const moveList = h('ol', { class: 'move-list', id: 'move-list', 'aria-label': 'Moves' });
  const movesEmpty = h('p', { class: 'muted small', text: 'No moves yet.' });
  // The game's chat (issue 8): the players' room for the players, the spectators' for others.
  const chatHolder = h('div', { class: 'chat-holder' });
  /** @type {{ room: string, destroy: () => void } | null} */
  let chat = null;
  /** @param {boolean} seated */
  function mountChat(seated) {
    const room = `game:${gameId}:${seated ? 'players' : 'spectators'}`;
    if (chat?.room === room) return;
    chat?.destroy();
    const panel = chatPanel(conn, room, { title: seated ? 'Chat' : 'Spectators\u2019 chat', id: 'game-chat' });
    chat = { room, destroy: panel.destroy };
    replace(chatHolder, panel.el);
  }

  // Invites (issue 9): the creator of a waiting game invites players or makes a link.
  const inviteHolder = h('div', { class: 'invite-holder' });
  /** @type {{ el: HTMLElement, destroy: () => void } | null} */
  let invites = null;

  const el = h('div', { class: 'game-page', id: 'game-page' },
    h('div', { class: 'game-head' }, h('div', { class: 'game-head-text' }, title, meta, desc), share),
    h('div', { class: 'game-body' },
      h('div', { class: 'board-col' }, topCard, h('div', { class: 'board-frame' }, boardHolder, connBanner), bottomCard),
      h('aside', { class: 'game-side', 'aria-label': 'Game' },
        status, ratingChange, offers, actions, inviteHolder,
        h('section', { class: 'moves card-inset', 'aria-labelledby': 'moves-title' },
          h('h2', { id: 'moves-title', text: 'Moves' }), movesEmpty, moveList),
        chatHolder,
      ),
    ),
  );

  // ---- the subscription ----
  const sub = conn.subscribe(gameId, {
    resumeFrom: () => (model && !resyncing ? { session_id: model.sessionId, since_seq: model.lastSeq } : null),
    onMessage(raw) {
      if (destroyed) return;
      const msg = raw.type === 'ticks' ? { type: /** @type {'event'} */ ('event'), ...ticksEnvelope(raw) } : raw;
      if (msg.type === 'subscribed') {
        if (msg.snapshot) {
          model = fromView(msg.snapshot);
          resyncing = false;
          rememberGame({ id: model.id, name: model.name, kind: model.kind });
        } else if (model && msg.session_id !== model.sessionId) {
          resync();
        }
        render();
        return;
      }
      if (!model || resyncing) return;
      const verdict = classify(model, msg);
      if (verdict === 'duplicate') return;
      if (verdict === 'gap') {
        resync();
        return;
      }
      try {
        apply(model, msg);
      } catch {
        resync();
        return;
      }
      const e = msg.event;
      if (e.type === 'moved' && pending && e.player_id === me?.id && e.client_move_id === pending.clientMoveId) pending = null;
      if (e.type === 'rematch_started') toast('The rematch has started.', 'success');
      render();
    },
    onError(err) {
      if (destroyed) return;
      fatal = err.code === 'not_found' ? 'not_found' : err.message;
      render();
    },
  });

  /** Drops the local copy and asks for a fresh snapshot. */
  function resync() {
    resyncing = true;
    sub.resubscribe();
  }

  const offStatus = conn.onStatus(() => renderConnection());
  const ticker = setInterval(tick, 100);

  // ---- derived ----
  function mySeat() {
    if (!model || !me) return null;
    return model.participants.find((p) => p.player.id === me.id)?.seat ?? null;
  }

  /** @param {number} seat */
  function nameOf(seat) {
    return model?.participants.find((p) => p.seat === seat)?.player.username ?? sideOf(seat);
  }

  /** @param {number} seat */
  function sideOf(seat) {
    return (model && kindUI(model.kind)?.sides[seat]) ?? `Seat ${seat + 1}`;
  }

  /** Whether the opponent's seat hold ran out while they are away (claim_victory). */
  function claimable() {
    const seat = mySeat();
    if (!model || seat === null || model.state !== 'in_progress') return false;
    return model.participants.some(
      (p) => p.seat !== seat && p.seat_held_until && Date.parse(p.seat_held_until) <= conn.serverNow(),
    );
  }

  // ---- actions ----
  /**
   * @param {string} key
   * @param {import('../types.js').ClientMessage} msg
   * @param {string} [success]
   */
  function act(key, msg, success) {
    if (busy.has(key)) return;
    busy.add(key);
    render();
    conn.request(msg).then(
      () => {
        if (success) toast(success, 'success');
      },
      (err) => toast(errorText(err), 'error'),
    ).finally(() => {
      busy.delete(key);
      render();
    });
  }

  /** @param {object} move */
  function sendMove(move) {
    if (model && kindUI(model.kind)?.realtime) {
      // Real-time: an input counts in the next tick; no pending move, no retry (a late
      // resend would steer at the wrong moment). Refusals (e.g. a reversal) change nothing.
      if (model.state !== 'in_progress' || mySeat() === null) return;
      const dir = /** @type {{ dir: 'up' | 'down' | 'left' | 'right' }} */ (move).dir;
      conn.request({ type: 'input', game_id: gameId, dir }).catch(() => {});
      return;
    }
    if (!model || pending || model.state !== 'in_progress' || model.toMove !== mySeat()) return;
    /** @type {PendingMove} */
    const p = { move, clientMoveId: newClientMoveId(), sessionId: model.sessionId, ackSeq: null };
    pending = p;
    render();
    conn.request({ type: 'move', game_id: gameId, move, client_move_id: p.clientMoveId }, { retry: true }).then(
      (ack) => {
        if (pending !== p) return;
        p.ackSeq = /** @type {MoveAckMessage} */ (ack).seq;
        render();
      },
      (err) => {
        if (pending === p) pending = null;
        toast(errorText(err), 'error');
        render();
      },
    );
  }

  async function copyLink() {
    try {
      await navigator.clipboard.writeText(shareUrl);
      copyButton.textContent = 'Copied!';
    } catch {
      shareInput.focus();
      shareInput.select();
      copyButton.textContent = 'Press Ctrl+C';
    }
    setTimeout(() => {
      copyButton.textContent = 'Copy link';
    }, 2000);
  }

  // ---- rendering ----
  /** @type {Map<Element, string>} */
  const keys = new Map();
  /**
   * Rebuilds `target` only when `key` changed, so focus is not lost on every event.
   * @param {Element} target
   * @param {string} key
   * @param {() => import('../dom.js').Children} build
   */
  function renderIf(target, key, build) {
    if (keys.get(target) === key) return;
    keys.set(target, key);
    const hadFocus = target.contains(document.activeElement) ? document.activeElement?.id : null;
    replace(target, build());
    if (hadFocus) document.getElementById(hadFocus)?.focus();
  }

  function render() {
    if (destroyed) return;
    renderConnection();
    if (fatal) {
      title.textContent = fatal === 'not_found' ? 'Game not found' : 'This game cannot be shown';
      document.title = 'Game not found · Versus';
      renderIf(status, `fatal`, () => [
        h('p', { class: 'status-line', text: fatal === 'not_found' ? 'There is no game at this link. It may have been mistyped.' : fatal }),
        h('a', { href: '/', class: 'btn btn-primary', dataset: { link: '' }, text: 'Go to the lobby' }),
      ]);
      el.classList.add('game-missing');
      return;
    }
    const m = model;
    if (!m) return;
    const ui = kindUI(m.kind);
    const seat = mySeat();
    mountChat(seat !== null);
    if (pending && (pending.sessionId !== m.sessionId || (pending.ackSeq !== null && m.lastSeq >= pending.ackSeq))) {
      pending = null;
    }
    el.dataset.kind = m.kind;
    el.classList.toggle('realtime', !!ui?.realtime);
    el.dataset.state = m.state;
    el.dataset.seq = String(m.lastSeq);
    title.textContent = m.name;
    const tc = m.settings.time_control ?? null;
    meta.textContent = [
      ui?.name ?? m.kind,
      timeControl(tc),
      m.settings.rated ? 'Rated' : 'Casual',
      m.settings.visibility === 'private' ? 'Private' : 'Public',
      m.sessionNumber > 1 ? `Game ${m.sessionNumber}` : null,
    ].filter(Boolean).join(' · ');
    desc.textContent = m.description ?? '';
    desc.hidden = !m.description;
    const canInvite = m.state === 'waiting' && !!me && m.createdBy === me.id;
    if (canInvite && !invites) {
      invites = invitePanel(gameId);
      replace(inviteHolder, invites.el);
    } else if (!canInvite && invites) {
      invites.destroy();
      invites = null;
      replace(inviteHolder);
    }
    const myTurn = m.state === 'in_progress' && seat !== null && m.toMove === seat;
    document.title = `${myTurn && !pending ? '● Your turn · ' : ''}${m.name} · Versus`;

    // Board.
    if (ui && boardKind !== m.kind) {
      board?.destroy?.();
      board = ui.mount(sendMove);
      boardKind = m.kind;
      replace(boardHolder, board.el);
    } else if (!ui && boardKind !== m.kind) {
      boardKind = m.kind;
      replace(boardHolder, h('p', { class: 'muted', text: `This browser cannot show ${m.kind} games yet.` }));
    }
    const last = m.moves[m.moves.length - 1];
    board?.update(m.position, {
      mySeat: seat,
      canMove: myTurn && !pending,
      pending: pending?.move ?? null,
      lastMove: last?.move ?? null,
      over: m.state === 'finished' || m.state === 'aborted',
    });
    boardHolder.classList.toggle('my-turn', myTurn && !pending);

    // Players: the viewer at the bottom (spectators: the first seat at the bottom).
    const bottomSeat = seat ?? 0;
    renderCard(topCard, 1 - bottomSeat);
    renderCard(bottomCard, bottomSeat);
    renderStatus(seat, myTurn);
    renderOffers(seat);
    renderActions(seat);
    renderMoves();
    tick();
  }

  /**
   * @param {HTMLElement} card
   * @param {number} seat
   */
  function renderCard(card, seat) {
    const m = /** @type {GameModel} */ (model);
    const ui = kindUI(m.kind);
    const p = m.participants.find((x) => x.seat === seat);
    const isMe = !!p && p.player.id === me?.id;
    const active = m.state === 'in_progress' && m.toMove === seat;
    const held = p?.seat_held_until ?? null;
    const winner = m.result?.outcome === 'win' && m.result.winner === seat;
    card.dataset.seat = String(seat);
    card.classList.toggle('active', active);
    card.classList.toggle('winner', winner);
    card.classList.toggle('empty-seat', !p);
    renderIf(card, JSON.stringify([seat, p?.player.id, isMe, held, !!m.clocks, winner, m.kind]), () => [
      h('span', { class: 'player-mark' }, ui ? ui.mark(seat) : null),
      h('div', { class: 'player-info' },
        h('span', { class: 'player-name' },
          p ? p.player.username : 'Waiting for a player…',
          isMe ? h('span', { class: 'you-badge', text: 'you' }) : null,
          winner ? h('span', { class: 'winner-badge', text: 'winner' }) : null),
        h('span', { class: 'player-side' },
          sideOf(seat),
          held ? h('span', { class: 'away', dataset: { until: held } }, ' · away') : null),
      ),
      m.clocks ? h('span', { class: 'clock', dataset: { seat: String(seat) }, role: 'timer', 'aria-label': `${sideOf(seat)} clock` }) : null,
    ]);
  }

  /**
   * @param {number | null} seat
   * @param {boolean} myTurn
   */
  function renderStatus(seat, myTurn) {
    const m = /** @type {GameModel} */ (model);
    /** @type {[string, string, string]} headline, detail, tone */
    let s;
    const realtime = !!kindUI(m.kind)?.realtime;
    const freeSeat = m.state === 'waiting' && m.participants.length < (realtime ? m.settings.players ?? 2 : 2);
    if (m.state === 'waiting') {
      s = seat !== null
        ? ['Waiting for an opponent', 'Send the link to a friend — the game starts as soon as they join.', 'waiting']
        : freeSeat
          ? ['A seat is free', `Take it to play ${sideOf(m.participants.some((p) => p.seat === 0) ? 1 : 0)} against ${m.participants[0]?.player.username ?? 'the creator'}.`, 'waiting']
          : ['Starting…', '', 'waiting'];
    } else if (m.state === 'in_progress' && realtime) {
      s = seat === null
        ? ['Live', 'You are watching as a spectator.', 'watching']
        : ['Live: steer your cycle', 'Arrow keys or WASD, swipe on the arena, or the buttons.', 'your-turn'];
    } else if (m.state === 'in_progress') {
      const turn = m.toMove ?? 0;
      if (seat === null) s = [`${nameOf(turn)} to move`, `You are watching as a spectator.`, 'watching'];
      else if (pending) s = ['Sending your move…', '', 'sending'];
      else if (myTurn) s = ['Your turn', `You play ${sideOf(seat)}.`, 'your-turn'];
      else s = [`Waiting for ${nameOf(turn)}`, `You play ${sideOf(seat)}.`, 'their-turn'];
      const away = seat === null ? undefined : m.participants.find((p) => p.seat !== seat && p.seat_held_until);
      if (away) {
        s[1] = claimable()
          ? `${away.player.username} left and did not come back. You can claim the win.`
          : `${away.player.username} is away. If they do not come back before their seat hold ends, you can claim the win.`;
      }
    } else {
      const r = m.result;
      s = [r ? resultText(r, nameOf, seat) : 'Game over', m.state === 'finished' && r?.outcome === 'win' && seat === null ? `${sideOf(r.winner ?? 0)} wins.` : '', r?.outcome === 'win' && seat !== null ? (r.winner === seat ? 'won' : 'lost') : 'over'];
    }
    const join = freeSeat && seat === null;
    renderIf(status, JSON.stringify([s, join, busy.has('join')]), () => [
      h('p', { class: `status-line tone-${s[2]}`, id: 'status-line', text: s[0] }),
      s[1] ? h('p', { class: 'status-detail', text: s[1] }) : null,
      join
        ? h('button', {
            type: 'button',
            class: 'btn btn-primary btn-block',
            id: 'join-button',
            disabled: busy.has('join'),
            text: `Join as ${sideOf(m.participants.some((p) => p.seat === 0) ? 1 : 0)}`,
            onclick: () => act('join', { type: 'join', game_id: gameId }),
          })
        : null,
    ]);
  }

  /** @param {number | null} seat */
  function renderOffers(seat) {
    const m = /** @type {GameModel} */ (model);
    const over = m.state === 'finished' || m.state === 'aborted';
    const draw = m.state === 'in_progress' ? m.drawOffer : null;
    const rematchFromOther = over && seat !== null && m.rematchOffers.some((s) => s !== seat) && !m.rematchOffers.includes(seat);
    renderIf(offers, JSON.stringify([draw, seat, rematchFromOther, m.rematchOffers, over, [...busy]]), () => {
      /** @type {HTMLElement[]} */
      const out = [];
      if (draw !== null) {
        if (seat !== null && draw !== seat) {
          out.push(h('div', { class: 'offer', id: 'draw-offer', role: 'alert' },
            h('p', { text: `${nameOf(draw)} offers a draw` }),
            h('div', { class: 'offer-buttons' },
              h('button', { type: 'button', class: 'btn btn-primary btn-small', id: 'accept-draw', text: 'Accept draw', disabled: busy.has('draw'), onclick: () => act('draw', { type: 'draw', game_id: gameId, action: 'accept' }) }),
              h('button', { type: 'button', class: 'btn btn-secondary btn-small', id: 'decline-draw', text: 'Decline', disabled: busy.has('draw'), onclick: () => act('draw', { type: 'draw', game_id: gameId, action: 'decline' }) }),
            )));
        } else {
          out.push(h('div', { class: 'offer offer-quiet', id: 'draw-offer' },
            h('p', { text: draw === seat ? 'You offered a draw.' : `${nameOf(draw)} offered a draw.` })));
        }
      }
      if (rematchFromOther) {
        const from = m.rematchOffers.find((s) => s !== seat) ?? 0;
        out.push(h('div', { class: 'offer', id: 'rematch-offer', role: 'alert' },
          h('p', { text: `${nameOf(from)} wants a rematch` }),
          h('div', { class: 'offer-buttons' },
            h('button', { type: 'button', class: 'btn btn-primary btn-small', id: 'accept-rematch', text: 'Accept rematch', disabled: busy.has('rematch'), onclick: () => act('rematch', { type: 'rematch', game_id: gameId }) }))));
      } else if (over && seat !== null && m.rematchOffers.includes(seat)) {
        out.push(h('div', { class: 'offer offer-quiet', id: 'rematch-offer' }, h('p', { text: 'Rematch requested — waiting for your opponent.' })));
      }
      return out;
    });
  }

  /** @param {number | null} seat */
  function renderActions(seat) {
    const m = /** @type {GameModel} */ (model);
    const ui = kindUI(m.kind);
    const over = m.state === 'finished' || m.state === 'aborted';
    const claim = claimable();
    const key = JSON.stringify([m.state, seat, m.drawOffer, canAbort(m), claim, confirmResign, m.rematchOffers, [...busy], m.sessionId]);
    renderIf(actions, key, () => {
      /** @type {HTMLElement[]} */
      const out = [];
      /**
       * @param {string} id
       * @param {string} text
       * @param {string} cls
       * @param {() => void} onclick
       * @param {boolean} [disabled]
       */
      const button = (id, text, cls, onclick, disabled = false) =>
        h('button', { type: 'button', id, class: `btn ${cls}`, text, disabled, onclick });
      if (seat !== null && m.state === 'waiting') {
        out.push(button('abort-button', 'Cancel game', 'btn-secondary', () => act('abort', { type: 'abort', game_id: gameId }), busy.has('abort')));
      }
      if (seat !== null && m.state === 'in_progress') {
        if (claim) {
          out.push(button('claim-button', 'Claim victory', 'btn-primary', () => act('claim', { type: 'claim_victory', game_id: gameId }), busy.has('claim')));
        }
        if (ui?.draws && m.drawOffer === null) {
          out.push(button('draw-button', 'Offer draw', 'btn-secondary', () => act('draw', { type: 'draw', game_id: gameId, action: 'offer' }, 'Draw offered.'), busy.has('draw')));
        }
        if (canAbort(m)) {
          out.push(button('abort-button', 'Abort', 'btn-secondary', () => act('abort', { type: 'abort', game_id: gameId }), busy.has('abort')));
        }
        out.push(button('resign-button', confirmResign ? 'Really resign?' : 'Resign', confirmResign ? 'btn-danger' : 'btn-secondary', () => {
          if (!confirmResign) {
            confirmResign = true;
            clearTimeout(confirmTimer);
            confirmTimer = setTimeout(() => {
              confirmResign = false;
              render();
            }, 4000);
            render();
            return;
          }
          confirmResign = false;
          clearTimeout(confirmTimer);
          act('resign', { type: 'resign', game_id: gameId });
        }, busy.has('resign')));
      }
      if (seat !== null && over && !m.rematchOffers.includes(seat) && !m.rematchOffers.some((s) => s !== seat)) {
        out.push(button('rematch-button', 'Rematch', 'btn-primary', () => act('rematch', { type: 'rematch', game_id: gameId }), busy.has('rematch')));
      }
      if (over || seat === null) {
        out.push(h('a', { href: '/', class: 'btn btn-ghost', id: 'lobby-link', dataset: { link: '' }, text: 'Back to the lobby' }));
      }
      return out;
    });
  }

  function renderMoves() {
    const m = /** @type {GameModel} */ (model);
    const ui = kindUI(m.kind);
    movesEmpty.hidden = m.moves.length > 0;
    renderIf(moveList, `${m.sessionId}:${m.moves.length}`, () => {
      const describe = (/** @type {import('../game-model.js').PlayedMove} */ x) => (ui ? ui.describe(x.move, x.seat) : JSON.stringify(x.move));
      if (m.kind === 'chess') {
        /** @type {HTMLElement[]} */
        const rows = [];
        for (let i = 0; i < m.moves.length; i += 2) {
          const white = m.moves[i];
          const black = m.moves[i + 1];
          rows.push(h('li', { class: 'move-pair' },
            h('span', { class: 'move-no', text: `${i / 2 + 1}.` }),
            h('span', { class: 'move', dataset: { seq: String(white.seq) }, text: describe(white) }),
            black ? h('span', { class: 'move', dataset: { seq: String(black.seq) }, text: describe(black) }) : null));
        }
        return rows;
      }
      return m.moves.map((x, i) =>
        h('li', { class: 'move-single' },
          h('span', { class: 'move-no', text: `${i + 1}.` }),
          h('span', { class: 'move-side', text: sideOf(x.seat) }),
          h('span', { class: 'move', dataset: { seq: String(x.seq) }, text: describe(x) })));
    });
    moveList.scrollTop = moveList.scrollHeight;
  }

  let lastClaimable = false;
  /** Ten times a second: clocks and away countdowns. */
  function tick() {
    if (!model) return;
    const now = conn.serverNow();
    for (const c of /** @type {NodeListOf<HTMLElement>} */ (el.querySelectorAll('.clock[data-seat]'))) {
      const seat = Number(c.dataset.seat);
      const ms = remainingMs(model.clocks, seat, now);
      if (ms === null) continue;
      const text = clock(ms);
      if (c.textContent !== text) c.textContent = text;
      c.classList.toggle('running', model.state === 'in_progress' && model.clocks?.running === seat);
      c.classList.toggle('low', ms < 20_000 && model.state === 'in_progress');
    }
    for (const a of /** @type {NodeListOf<HTMLElement>} */ (el.querySelectorAll('.away[data-until]'))) {
      const left = Math.max(0, Date.parse(a.dataset.until ?? '') - now);
      const text = left > 0 ? ` · away, seat held ${clock(left).replace(/\.\d$/, '')}` : ' · away, seat hold over';
      if (a.textContent !== text) a.textContent = text;
    }
    const claim = claimable();
    if (claim !== lastClaimable) {
      lastClaimable = claim;
      render();
    }
  }

  function renderConnection() {
    const live = conn.status === 'live';
    connBanner.hidden = live || !model;
    if (!live) {
      connBanner.textContent = conn.status === 'reconnecting'
        ? 'Connection lost — reconnecting… Your moves are kept and sent when it is back.'
        : 'Connecting…';
    }
    el.classList.toggle('offline', !live);
  }

  render();
  return {
    el,
    destroy() {
      destroyed = true;
      sub.close();
      stopRating();
      offStatus();
      clearInterval(ticker);
      clearTimeout(confirmTimer);
      board?.destroy?.();
      chat?.destroy();
      invites?.destroy();
    },
  };
}
