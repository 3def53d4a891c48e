// A chat panel: one room (`lobby`, `game:<id>:players`, `game:<id>:spectators`) followed over
// the WebSocket. It keeps the room's entries by seq; after a reconnect it resumes from the
// last seq it has (the server sends exactly the missed entries), and a gap in the live
// entries (never expected) makes it resubscribe the same way. An unread counter counts other
// people's messages that arrived while the panel's input was not focused.

import { h, replace } from './dom.js';
import { ActionError } from './socket.js';
import { session } from './session.js';

/** @typedef {import('./socket.js').Connection} Connection */
/** @typedef {import('../../types/protocol').ChatEntry} ChatEntry */
/** @typedef {import('../../types/protocol').ServerMessage} ServerMessage */

const MAX_CHARS = 500;

/**
 * @param {Connection} conn
 * @param {string} room
 * @param {{ title: string, id: string }} options
 * @returns {{ el: HTMLElement, destroy: () => void }}
 */
export function chatPanel(conn, room, { title, id }) {
  /** @type {Map<number, ChatEntry>} */
  const entries = new Map();
  let lastSeq = 0;
  let synced = false;
  let unread = 0;
  let focused = false;

  const badge = h('span', { class: 'chat-unread', id: `${id}-unread`, hidden: true, 'aria-label': 'unread messages' });
  const list = h('ol', { class: 'chat-list', id: `${id}-list`, 'aria-live': 'polite' });
  const error = h('p', { class: 'form-error small', id: `${id}-error`, hidden: true });
  const input = h('input', {
    type: 'text',
    class: 'chat-input',
    id: `${id}-input`,
    maxLength: MAX_CHARS,
    placeholder: 'Say something…',
    'aria-label': `Message to ${title}`,
    autocomplete: 'off',
    onfocus: () => {
      focused = true;
      setUnread(0);
    },
    onblur: () => {
      focused = false;
    },
  });
  const send = h('button', { type: 'submit', class: 'btn btn-secondary btn-small', text: 'Send' });
  const form = h('form', { class: 'chat-form', onsubmit: submit }, input, send);
  const el = h('section', { class: 'chat card-inset', id, 'aria-label': title },
    h('h2', { class: 'chat-title' }, title, ' ', badge), list, error, form);

  /** @param {number} n */
  function setUnread(n) {
    unread = n;
    badge.textContent = String(n);
    badge.hidden = n === 0;
  }

  /** @param {Event} e */
  async function submit(e) {
    e.preventDefault();
    const text = input.value.trim();
    if (!text) return;
    error.hidden = true;
    send.disabled = true;
    try {
      await conn.request({ type: 'chat_send', room, text });
      input.value = '';
    } catch (err) {
      error.textContent = err instanceof ActionError ? err.message : 'Could not send the message.';
      error.hidden = false;
    } finally {
      send.disabled = false;
    }
  }

  /** @param {ChatEntry} e */
  function add(e) {
    if (e.kind === 'deletion' && e.target_seq != null) {
      const target = entries.get(e.target_seq);
      if (target) entries.set(e.target_seq, { ...target, deleted: true, text: null });
    }
    entries.set(e.seq, e);
    lastSeq = Math.max(lastSeq, e.seq);
  }

  /** @param {ChatEntry} e */
  function line(e) {
    if (e.kind === 'system') return h('li', { class: 'chat-system', text: e.text ?? '' });
    const who = e.author?.username ?? '';
    const mine = e.author?.id === session.player?.id;
    if (e.deleted) return h('li', { class: 'chat-deleted' }, h('b', { text: `${who}: ` }), h('i', { text: 'message deleted' }));
    const del = mine
      ? h('button', { type: 'button', class: 'chat-delete', text: '×', 'aria-label': 'Delete message', onclick: () => conn.request({ type: 'chat_delete', room, seq: e.seq }).catch(() => {}) })
      : '';
    return h('li', { class: mine ? 'chat-msg mine' : 'chat-msg', dataset: { seq: String(e.seq) } }, h('b', { text: `${who}: ` }), h('span', { class: 'chat-text', text: e.text ?? '' }), del);
  }

  function render() {
    const shown = [...entries.values()]
      .filter((e) => e.kind === 'message' || e.kind === 'system')
      .sort((a, b) => a.seq - b.seq);
    const atBottom = list.scrollTop + list.clientHeight >= list.scrollHeight - 8;
    replace(list, ...shown.map(line));
    if (atBottom) list.scrollTop = list.scrollHeight;
  }

  const sub = conn.chat(room, {
    resumeFrom: () => (synced ? lastSeq : null),
    /** @param {ServerMessage} msg */
    onMessage(msg) {
      if (msg.type === 'chat_subscribed') {
        if (!synced || msg.resync) {
          entries.clear();
          lastSeq = 0;
        }
        msg.entries.forEach(add);
        lastSeq = Math.max(lastSeq, msg.last_seq);
        synced = true;
        error.hidden = true;
        render();
      } else if (msg.type === 'chat') {
        if (msg.seq <= lastSeq) return; // already have it
        if (msg.seq !== lastSeq + 1) {
          sub.resubscribe();
          return;
        }
        add(msg);
        if (msg.kind === 'message' && msg.author?.id !== session.player?.id && !focused) setUnread(unread + 1);
        render();
      }
    },
    onError(msg) {
      error.textContent = msg.message;
      error.hidden = false;
    },
  });

  return { el, destroy: () => sub.close() };
}
