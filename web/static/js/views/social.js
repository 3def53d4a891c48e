// Social in the browser (issue 9): the notifications menu of the header, the friends list
// with live presence, the invite panel of a game page, and the `/invite/<code>` page.
//
// The WebSocket pushes `notification` and `presence` to every connection of the player; they
// are best effort, so each part reads the REST truth again whenever the connection becomes
// live (the first time, and after every reconnect) and applies the pushes in between.

import { h, svg, replace } from '../dom.js';
import { api, ApiError } from '../api.js';
import { navigate, gamePath } from '../router.js';
import { KINDS } from '../game-model.js';
import { ago } from '../format.js';
import { toast } from '../toast.js';
import { session } from '../session.js';

/** @typedef {import('../socket.js').Connection} Connection */
/** @typedef {import('../types.js').Notification} Notification */
/** @typedef {import('../types.js').Friend} Friend */
/** @typedef {import('../types.js').FriendList} FriendList */
/** @typedef {import('../types.js').Invite} Invite */
/** @typedef {import('../types.js').Presence} Presence */

/** @param {unknown} e */
function message(e) {
  return e instanceof ApiError || e instanceof Error ? e.message : 'Something went wrong. Try again.';
}

/** @param {string} kind */
function kindName(kind) {
  return KINDS[/** @type {keyof typeof KINDS} */ (kind)]?.name ?? kind;
}

/**
 * Runs `f` with the button disabled; shows a failure as a toast.
 * @template T
 * @param {HTMLButtonElement} button
 * @param {() => Promise<T>} f
 * @returns {Promise<T | undefined>}
 */
async function withButton(button, f) {
  button.disabled = true;
  try {
    return await f();
  } catch (e) {
    toast(message(e), 'error');
    return undefined;
  } finally {
    button.disabled = false;
  }
}

/**
 * Calls `f` now if the connection is live, and every time it becomes live again (a
 * reconnect may have missed pushes). Returns the unsubscribe function.
 * @param {Connection} conn
 * @param {() => void} f
 */
function onLive(conn, f) {
  let was = conn.status;
  if (was === 'live') f();
  return conn.onStatus(() => {
    if (conn.status === 'live' && was !== 'live') f();
    was = conn.status;
  });
}

// ---- notifications ----------------------------------------------------------------------

/**
 * What a notification says, and the links and actions it offers.
 * @param {Notification} n
 * @param {{ markRead: (n: Notification) => Promise<void> }} ctx
 * @returns {{ text: string, extra: import('../dom.js').Children }}
 */
function describe(n, ctx) {
  const d = /** @type {Record<string, any>} */ (n.data ?? {});
  const gameLink = (/** @type {string} */ label) =>
    d.game_id
      ? h('a', { href: gamePath(d.game_id), dataset: { link: '' }, class: 'notif-link', text: label, onclick: () => ctx.markRead(n) })
      : null;
  switch (n.kind) {
    case 'friend_request': {
      const from = String(d.from?.username ?? 'Someone');
      const accept = h('button', { type: 'button', class: 'btn btn-primary btn-small notif-accept', text: 'Accept' });
      const decline = h('button', { type: 'button', class: 'btn btn-ghost btn-small notif-decline', text: 'Decline' });
      // A request answered elsewhere (the friends list) is gone: 404, and done either way.
      const gone = (/** @type {unknown} */ e) => {
        if (e instanceof ApiError && e.code === 'not_found') ctx.markRead(n);
        throw e;
      };
      accept.onclick = () => withButton(accept, async () => {
        await api.acceptFriend(from).catch(gone);
        await ctx.markRead(n);
        toast(`You are now friends with ${from}.`, 'success');
      });
      decline.onclick = () => withButton(decline, async () => {
        await api.declineFriend(from).catch(gone);
        await ctx.markRead(n);
      });
      return { text: `${from} wants to be your friend.`, extra: n.read ? null : h('span', { class: 'notif-actions' }, accept, decline) };
    }
    case 'friend_accepted':
      return { text: `${d.friend?.username ?? 'Someone'} accepted your friend request.`, extra: null };
    case 'invite': {
      const invite = /** @type {Invite | undefined} */ (d.invite);
      const from = invite?.from.username ?? 'Someone';
      const text = `${from} invites you to play ${kindName(String(d.kind ?? ''))}${d.name ? `: “${d.name}”` : ''}.`;
      if (!invite || n.read) return { text, extra: invite ? h('a', { href: gamePath(invite.game_id), dataset: { link: '' }, class: 'notif-link', text: 'Open the game' }) : null };
      const accept = h('button', { type: 'button', class: 'btn btn-primary btn-small notif-accept', text: 'Accept' });
      const decline = h('button', { type: 'button', class: 'btn btn-ghost btn-small notif-decline', text: 'Decline' });
      accept.onclick = () => withButton(accept, async () => {
        const r = await api.acceptInvite(invite.id).catch((e) => {
          // Already answered, expired, or the seat is gone: it is done either way.
          if (e instanceof ApiError && (e.code === 'invalid_state' || e.code === 'game_full' || e.code === 'not_found')) ctx.markRead(n);
          throw e;
        });
        await ctx.markRead(n);
        navigate(gamePath(r.game_id));
      });
      decline.onclick = () => withButton(decline, async () => {
        await api.declineInvite(invite.id).catch((e) => {
          if (!(e instanceof ApiError && e.code === 'invalid_state')) throw e;
        });
        await ctx.markRead(n);
      });
      return { text, extra: h('span', { class: 'notif-actions' }, accept, decline) };
    }
    case 'game_started':
      return { text: 'A game of yours started.', extra: gameLink('Play') };
    case 'your_turn':
      return { text: 'It is your turn.', extra: gameLink('Play') };
    case 'game_result':
      return { text: 'A game of yours ended.', extra: gameLink('See the result') };
    default:
      return { text: 'Something happened.', extra: null };
  }
}

/**
 * The bell in the header: the unread count, and a menu with the newest notifications, each
 * with what it offers (accept a friend request or an invite, open the game), and "mark all
 * read". New ones arrive live and are announced with a toast.
 * @param {Connection} conn
 * @returns {{ el: HTMLElement, destroy: () => void }}
 */
export function notificationsMenu(conn) {
  /** @type {Notification[]} */
  let items = [];
  let unread = 0;
  let destroyed = false;
  /** Local changes so far: a list read before the latest one is stale (read it again). */
  let changes = 0;

  const count = h('span', { class: 'notif-count', id: 'notif-count', hidden: true });
  const button = h('button', {
    type: 'button', class: 'btn btn-ghost btn-small notif-button', id: 'notif-button',
    'aria-haspopup': 'true', 'aria-expanded': 'false', 'aria-controls': 'notif-panel', title: 'Notifications',
  }, svg('svg', { class: 'notif-icon', viewBox: '0 0 24 24', width: 20, height: 20, 'aria-hidden': 'true' },
    svg('path', { d: 'M12 3a6 6 0 0 0-6 6v4l-2 3h16l-2-3V9a6 6 0 0 0-6-6zm-2 15a2 2 0 0 0 4 0', fill: 'none', stroke: 'currentColor', 'stroke-width': 2, 'stroke-linejoin': 'round' })),
  h('span', { class: 'visually-hidden', text: 'Notifications' }), count);
  const list = h('ul', { class: 'notif-list', id: 'notif-list' });
  const readAll = h('button', { type: 'button', class: 'btn btn-ghost btn-small', id: 'notif-read-all', text: 'Mark all read' });
  const panel = h('div', { class: 'notif-panel card', id: 'notif-panel', role: 'region', 'aria-label': 'Notifications', hidden: true },
    h('div', { class: 'card-head' }, h('h2', { text: 'Notifications' }), readAll),
    list);
  const el = h('div', { class: 'notif-menu' }, button, panel);

  function render() {
    count.textContent = unread > 99 ? '99+' : String(unread);
    count.hidden = unread === 0;
    el.dataset.unread = String(unread);
    button.title = unread ? `Notifications: ${unread} unread` : 'Notifications';
    if (items.length === 0) {
      replace(list, h('li', { class: 'empty muted small', text: 'Nothing yet.' }));
      return;
    }
    replace(list, items.map((n) => {
      const { text, extra } = describe(n, { markRead });
      return h('li', { class: `notification${n.read ? '' : ' unread'}`, dataset: { kind: n.kind, id: n.id } },
        h('span', { class: 'notif-text', text }),
        h('span', { class: 'muted small notif-time', text: ago(n.created_at) }),
        extra);
    }));
  }

  /**
   * Marks one read here at once, and on the server (resolves when it is stored there).
   * @param {Notification} n
   */
  async function markRead(n) {
    if (n.read) return;
    n.read = true;
    unread = Math.max(0, unread - 1);
    changes += 1;
    render();
    await api.markRead([n.id]).catch(() => {});
    changes += 1;
  }

  async function load() {
    const at = changes;
    try {
      const page = await api.notifications();
      if (destroyed) return;
      if (at !== changes) {
        load();
        return;
      }
      items = page.notifications;
      unread = page.unread;
      render();
    } catch {
      // Shown again at the next reconnect; the live pushes keep coming meanwhile.
    }
  }

  readAll.onclick = () => withButton(readAll, async () => {
    changes += 1;
    await api.markRead(undefined);
    changes += 1;
    items.forEach((n) => (n.read = true));
    unread = 0;
    render();
  });

  /** @param {boolean} open */
  function toggle(open) {
    panel.hidden = !open;
    button.setAttribute('aria-expanded', String(open));
  }
  // Opening reads the list again: some were marked read elsewhere (moving in a game marks
  // its "your turn" read; another tab).
  button.onclick = () => {
    const open = panel.hidden;
    toggle(open);
    if (open) load();
  };
  const onDocClick = (/** @type {MouseEvent} */ e) => {
    if (!panel.hidden && e.target instanceof Node && !el.contains(e.target)) toggle(false);
  };
  const onKey = (/** @type {KeyboardEvent} */ e) => {
    if (e.key === 'Escape' && !panel.hidden) {
      toggle(false);
      button.focus();
    }
  };
  document.addEventListener('click', onDocClick);
  document.addEventListener('keydown', onKey);

  const offUpdate = conn.onUpdate((msg) => {
    if (msg.type !== 'notification' || destroyed) return;
    if (items.some((n) => n.id === msg.id)) return;
    const n = /** @type {Notification} */ ({ id: msg.id, kind: msg.kind, data: msg.data, created_at: msg.created_at, read: msg.read });
    items = [n, ...items].slice(0, 50);
    if (!n.read) unread += 1;
    changes += 1;
    render();
    toast(describe(n, { markRead }).text);
  });
  const offLive = onLive(conn, load);
  render();
  return {
    el,
    destroy() {
      destroyed = true;
      offUpdate();
      offLive();
      document.removeEventListener('click', onDocClick);
      document.removeEventListener('keydown', onKey);
    },
  };
}

// ---- friends ----------------------------------------------------------------------------

/**
 * A presence in words.
 * @param {Presence} p
 * @returns {import('../dom.js').Children}
 */
function presenceText(p) {
  if (p.status === 'online') return 'Online';
  if (p.status === 'in_game') {
    return p.game_id
      ? ['Playing · ', h('a', { href: gamePath(p.game_id), dataset: { link: '' }, class: 'friend-game', text: 'watch' })]
      : 'Playing';
  }
  return p.last_seen ? `Offline · seen ${ago(p.last_seen)}` : 'Offline';
}

/**
 * The friends list: each friend with live presence (online, playing — with a link to the
 * game —, offline with when last seen), a button to create a game and invite them, remove
 * and block; the requests you received (accept, decline) and sent (cancel); and a form to
 * add a friend by username.
 * @param {Connection} conn
 * @returns {{ el: HTMLElement, destroy: () => void }}
 */
export function friendsPanel(conn) {
  /** @type {FriendList | null} */
  let data = null;
  let destroyed = false;

  const list = h('ul', { class: 'friend-list', id: 'friend-list', 'aria-busy': 'true' });
  const requests = h('div', { class: 'friend-requests', id: 'friend-requests' });
  const input = /** @type {HTMLInputElement} */ (h('input', {
    type: 'text', id: 'add-friend-username', required: true, maxlength: 24, spellcheck: false, autocapitalize: 'off', placeholder: 'Username',
  }));
  const error = h('p', { class: 'form-error', id: 'add-friend-error', role: 'alert', hidden: true });
  const add = h('button', { type: 'submit', class: 'btn btn-secondary', id: 'add-friend-button', text: 'Add friend' });
  const form = h('form', {
    class: 'add-friend', id: 'add-friend-form', novalidate: true,
    onsubmit: async (/** @type {SubmitEvent} */ e) => {
      e.preventDefault();
      error.hidden = true;
      const name = input.value.trim();
      if (!name) {
        error.textContent = 'Enter a username.';
        error.hidden = false;
        return;
      }
      add.disabled = true;
      try {
        const r = await api.requestFriend(name);
        input.value = '';
        toast(r.status === 'friends' ? `You are now friends with ${name}.` : `Friend request sent to ${name}.`, 'success');
        load();
      } catch (err) {
        error.textContent = err instanceof ApiError && err.code === 'not_found' ? `There is no player called ${name}.` : message(err);
        error.hidden = false;
      } finally {
        add.disabled = false;
      }
    },
  }, h('label', { for: 'add-friend-username', class: 'visually-hidden', text: 'Username to add' }), input, add);

  /** @param {Friend} f */
  function friendRow(f) {
    const name = f.player.username;
    const more = h('details', { class: 'friend-more' },
      h('summary', { class: 'btn btn-ghost btn-small', text: 'More', 'aria-label': `More for ${name}` }));
    const remove = h('button', { type: 'button', class: 'btn btn-ghost btn-small friend-remove', text: 'Remove friend' });
    remove.onclick = () => withButton(remove, async () => {
      await api.removeFriend(name);
      toast(`${name} is no longer your friend.`);
      load();
    });
    const block = h('button', { type: 'button', class: 'btn btn-ghost btn-small friend-block', text: 'Block' });
    block.onclick = () => withButton(block, async () => {
      // The server ends the friendship too.
      await api.block(name);
      toast(`You blocked ${name}: no invites, requests or chat from them.`);
      load();
    });
    more.append(h('div', { class: 'friend-more-menu' }, remove, block));
    return h('li', { class: 'friend', dataset: { username: name, status: f.presence.status } },
      h('span', { class: `presence-dot presence-${f.presence.status}`, 'aria-hidden': 'true' }),
      h('span', { class: 'friend-text' },
        h('a', { href: `/player/${encodeURIComponent(name)}`, dataset: { link: '' }, class: 'friend-name', text: name }),
        h('span', { class: 'muted small friend-presence' }, presenceText(f.presence))),
      challenge(name),
      more);
  }

  /**
   * "Invite": pick a kind, and a private game is created with you in the first seat and
   * the friend invited to the other; you land on its page.
   * @param {string} name
   */
  function challenge(name) {
    const kind = /** @type {HTMLSelectElement} */ (h('select', { class: 'challenge-kind', 'aria-label': `Game to play with ${name}` },
      ...Object.entries(KINDS).map(([id, k]) => h('option', { value: id, text: k.name }))));
    const go = h('button', { type: 'button', class: 'btn btn-primary btn-small friend-invite', text: 'Invite', title: `Create a game and invite ${name}` });
    go.onclick = () => withButton(go, async () => {
      const me = session.player?.username ?? 'Me';
      const game = await api.createGame({
        kind: kind.value,
        name: `${me} vs ${name}`.slice(0, 80),
        settings: { visibility: 'private', creator_seat: 'first' },
      });
      await api.invite(game.id, name);
      toast(`Invited ${name}.`, 'success');
      navigate(gamePath(game.id));
    });
    return h('span', { class: 'friend-challenge' }, kind, go);
  }

  function render() {
    if (!data) return;
    list.removeAttribute('aria-busy');
    const friends = [...data.friends].sort((a, b) => rank(a) - rank(b) || a.player.username.localeCompare(b.player.username));
    replace(list, friends.length
      ? friends.map(friendRow)
      : h('li', { class: 'empty muted small', text: 'No friends yet. Add one by username below.' }));
    const incoming = data.incoming.map((r) => {
      const name = r.from.username;
      const accept = h('button', { type: 'button', class: 'btn btn-primary btn-small request-accept', text: 'Accept' });
      accept.onclick = () => withButton(accept, async () => {
        await api.acceptFriend(name);
        toast(`You are now friends with ${name}.`, 'success');
        load();
      });
      const decline = h('button', { type: 'button', class: 'btn btn-ghost btn-small request-decline', text: 'Decline' });
      decline.onclick = () => withButton(decline, async () => {
        await api.declineFriend(name);
        load();
      });
      return h('li', { class: 'friend-request incoming', dataset: { username: name } },
        h('span', { class: 'friend-text', text: `${name} wants to be your friend` }), accept, decline);
    });
    const outgoing = data.outgoing.map((r) => {
      const name = r.to.username;
      const cancel = h('button', { type: 'button', class: 'btn btn-ghost btn-small request-cancel', text: 'Cancel' });
      cancel.onclick = () => withButton(cancel, async () => {
        await api.cancelFriendRequest(name);
        load();
      });
      return h('li', { class: 'friend-request outgoing', dataset: { username: name } },
        h('span', { class: 'friend-text muted', text: `Asked ${name}` }), cancel);
    });
    replace(requests, incoming.length || outgoing.length
      ? [h('h3', { class: 'small-title', text: 'Requests' }), h('ul', { class: 'request-list' }, incoming, outgoing)]
      : null);
  }

  /** Online first, then playing, then offline. @param {Friend} f */
  function rank(f) {
    return { online: 0, in_game: 1, offline: 2 }[f.presence.status] ?? 3;
  }

  async function load() {
    try {
      const d = await api.friends();
      if (destroyed) return;
      data = d;
      render();
    } catch {
      // Tried again at the next reconnect.
    }
  }

  const offUpdate = conn.onUpdate((msg) => {
    if (destroyed || !data) return;
    if (msg.type === 'presence') {
      const f = data.friends.find((x) => x.player.id === msg.player.id);
      if (!f) {
        load();
        return;
      }
      f.presence = msg.presence;
      render();
    } else if (msg.type === 'notification' && (msg.kind === 'friend_request' || msg.kind === 'friend_accepted')) {
      load();
    }
  });
  const offLive = onLive(conn, load);
  // "seen 3 min ago" stays true.
  const ticker = setInterval(render, 60_000);

  const el = h('section', { class: 'card friends', id: 'friends', 'aria-labelledby': 'friends-title' },
    h('h2', { id: 'friends-title', text: 'Friends' }),
    list, requests, form, error);
  return {
    el,
    destroy() {
      destroyed = true;
      offUpdate();
      offLive();
      clearInterval(ticker);
    },
  };
}

// ---- the invite panel of a game page ------------------------------------------------------

/**
 * Shown on the page of a game you created while it waits for players: invite a friend (one
 * click) or any player by username, create an invite link (copy, revoke), and the invites
 * you sent (cancel).
 * @param {string} gameId
 * @returns {{ el: HTMLElement, destroy: () => void }}
 */
export function invitePanel(gameId) {
  let destroyed = false;
  /** @type {import('../types.js').InviteLink | null} */
  let link = null;

  const input = /** @type {HTMLInputElement} */ (h('input', {
    type: 'text', id: 'invite-username', maxlength: 24, spellcheck: false, autocapitalize: 'off', placeholder: 'Username', list: 'invite-friends',
  }));
  const datalist = h('datalist', { id: 'invite-friends' });
  const friendButtons = h('div', { class: 'invite-friends', id: 'invite-friend-buttons' });
  const error = h('p', { class: 'form-error', id: 'invite-error', role: 'alert', hidden: true });
  const send = h('button', { type: 'submit', class: 'btn btn-secondary', id: 'invite-button', text: 'Invite' });
  const sent = h('ul', { class: 'sent-invites', id: 'sent-invites' });
  const linkBox = h('div', { class: 'invite-link', id: 'invite-link-box' });

  /** @param {string} name */
  async function invite(name) {
    error.hidden = true;
    try {
      await api.invite(gameId, name);
      toast(`Invited ${name}.`, 'success');
      input.value = '';
      loadSent();
    } catch (e) {
      error.textContent = e instanceof ApiError && e.code === 'not_found' ? `There is no player called ${name}.` : message(e);
      error.hidden = false;
    }
  }

  const form = h('form', {
    class: 'invite-form', id: 'invite-form', novalidate: true,
    onsubmit: (/** @type {SubmitEvent} */ e) => {
      e.preventDefault();
      const name = input.value.trim();
      if (!name) {
        error.textContent = 'Enter a username.';
        error.hidden = false;
        return;
      }
      withButton(send, () => invite(name));
    },
  }, h('label', { for: 'invite-username', class: 'visually-hidden', text: 'Player to invite' }), input, datalist, send);

  function renderLink() {
    if (!link) {
      const create = h('button', { type: 'button', class: 'btn btn-secondary', id: 'create-invite-link', text: 'Create an invite link' });
      create.onclick = () => withButton(create, async () => {
        link = await api.createInviteLink(gameId);
        renderLink();
        loadSent();
      });
      replace(linkBox, create);
      return;
    }
    const l = link;
    const url = `${location.origin}${l.path}`;
    const field = /** @type {HTMLInputElement} */ (h('input', { type: 'text', id: 'invite-link-url', readOnly: true, value: url, 'aria-label': 'Invite link', onfocus: () => field.select() }));
    const copy = h('button', { type: 'button', class: 'btn btn-secondary btn-small', id: 'copy-invite-link', text: 'Copy' });
    copy.onclick = async () => {
      try {
        await navigator.clipboard.writeText(url);
        copy.textContent = 'Copied!';
      } catch {
        field.focus();
        field.select();
      }
    };
    const revoke = h('button', { type: 'button', class: 'btn btn-ghost btn-small', id: 'revoke-invite-link', text: 'Revoke' });
    revoke.onclick = () => withButton(revoke, async () => {
      await api.cancelInvite(l.invite.id);
      link = null;
      toast('The link no longer works.');
      renderLink();
      loadSent();
    });
    replace(linkBox,
      h('p', { class: 'muted small', text: `Anyone with this link can take the free seat, until ${new Date(l.invite.expires_at).toLocaleString()}.` }),
      h('div', { class: 'share-row' }, field, copy, revoke));
  }

  async function loadSent() {
    try {
      const mine = (await api.invites()).sent.filter((i) => i.game_id === gameId);
      if (destroyed) return;
      replace(sent, mine.map((i) => {
        const cancel = h('button', { type: 'button', class: 'btn btn-ghost btn-small invite-cancel', text: i.link ? 'Revoke' : 'Cancel' });
        cancel.onclick = () => withButton(cancel, async () => {
          await api.cancelInvite(i.id);
          if (link?.invite.id === i.id) {
            link = null;
            renderLink();
          }
          loadSent();
        });
        return h('li', { class: 'sent-invite', dataset: { username: i.to?.username ?? '' } },
          h('span', { class: 'small', text: i.to ? `Invited ${i.to.username}` : 'An invite link' }), cancel);
      }));
    } catch {
      // Not essential: the list shows again with the next change.
    }
  }

  async function loadFriends() {
    try {
      const { friends } = await api.friends();
      if (destroyed) return;
      replace(datalist, friends.map((f) => h('option', { value: f.player.username })));
      replace(friendButtons, friends.map((f) => {
        const b = h('button', {
          type: 'button', class: 'btn btn-secondary btn-small invite-friend', dataset: { username: f.player.username, status: f.presence.status },
          text: `Invite ${f.player.username}`,
        });
        b.onclick = () => withButton(b, () => invite(f.player.username));
        return b;
      }));
    } catch {
      // The username field still works.
    }
  }

  renderLink();
  loadSent();
  loadFriends();
  const el = h('section', { class: 'invite-panel card-inset', id: 'invite-panel', 'aria-labelledby': 'invite-title' },
    h('h2', { id: 'invite-title', text: 'Invite a player' }),
    friendButtons, form, error, sent, linkBox);
  return { el, destroy: () => { destroyed = true; } };
}

// ---- /invite/<code> ---------------------------------------------------------------------

/**
 * The page an invite link opens (signed in: the sign-up page comes first). Shows the game
 * and who invites, and a "Join" button that takes the seat and opens the game.
 * @param {string} code
 * @returns {{ el: HTMLElement, destroy: () => void }}
 */
export function invitePage(code) {
  const body = h('div', { class: 'invite-page-body', id: 'invite-page-body', 'aria-busy': 'true' }, h('p', { class: 'muted', text: 'Loading the invite…' }));
  const el = h('section', { class: 'card narrow invite-page', id: 'invite-page' }, h('h1', { text: 'You’re invited' }), body);
  let destroyed = false;
  api.inviteLink(code).then((info) => {
    if (destroyed) return;
    body.removeAttribute('aria-busy');
    const i = info.invite;
    const card = h('div', { class: 'invite-card', id: 'invite-card' },
      h('span', { class: 'invite-kind', text: kindName(info.kind) }),
      h('strong', { class: 'invite-name', text: info.name }),
      h('span', { class: 'muted small', text: `from ${i.from.username}` }));
    if (i.from.id === session.player?.id) {
      replace(body, card, h('p', { text: 'This is your own invite link: send it to the player you want to play with.' }),
        h('a', { href: gamePath(i.game_id), class: 'btn btn-primary', dataset: { link: '' }, text: 'Open the game' }));
      return;
    }
    if (i.state !== 'pending') {
      const why = { expired: 'This invite has expired.', cancelled: 'This invite link was revoked.', accepted: 'This invite was used.', declined: 'This invite was declined.' }[i.state] ?? 'This invite cannot be used.';
      replace(body, card, h('p', { class: 'form-error', id: 'invite-unusable', text: why }),
        h('a', { href: '/', class: 'btn btn-primary', dataset: { link: '' }, text: 'Go to the lobby' }));
      return;
    }
    const error = h('p', { class: 'form-error', id: 'invite-join-error', role: 'alert', hidden: true });
    const join = h('button', { type: 'button', class: 'btn btn-primary', id: 'invite-join', text: 'Join the game' });
    join.onclick = async () => {
      join.disabled = true;
      error.hidden = true;
      try {
        const r = await api.acceptInviteLink(code);
        navigate(gamePath(r.game_id));
      } catch (e) {
        if (e instanceof ApiError && e.code === 'already_seated') {
          navigate(gamePath(i.game_id));
          return;
        }
        error.textContent = e instanceof ApiError && e.code === 'game_full' ? 'Someone else took the seat.' : message(e);
        error.hidden = false;
        join.disabled = false;
      }
    };
    replace(body, card, h('p', { text: `${i.from.username} invites you to play ${kindName(info.kind)}.` }), error, join);
  }, (e) => {
    if (destroyed) return;
    body.removeAttribute('aria-busy');
    replace(body,
      h('p', { class: 'form-error', id: 'invite-unusable', text: e instanceof ApiError && e.code === 'not_found' ? 'This invite link does not exist. It may have been mistyped.' : message(e) }),
      h('a', { href: '/', class: 'btn btn-primary', dataset: { link: '' }, text: 'Go to the lobby' }));
  });
  return { el, destroy: () => { destroyed = true; } };
}
