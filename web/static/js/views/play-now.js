// "Play now" (matchmaking, issue 9): pick a kind, wait in the pool with a waiting indicator
// and a cancel button, and go to the game as soon as the server pairs us. The ticket is
// polled over REST (which also keeps it alive); leaving the lobby cancels it.

import { h, replace } from '../dom.js';
import { api, ApiError } from '../api.js';
import { navigate, gamePath } from '../router.js';
import { KINDS } from '../game-model.js';

const POLL_MS = 500;

/** @returns {{ el: HTMLElement, destroy: () => void }} */
export function playNowPanel() {
  /** @type {import('../types.js').Ticket | null} */
  let ticket = null;
  let destroyed = false;
  /** @type {ReturnType<typeof setTimeout> | undefined} */
  let timer;

  const kind = /** @type {HTMLSelectElement} */ (h('select', { id: 'play-now-kind', 'aria-label': 'Game kind' },
    ...Object.entries(KINDS).map(([id, k]) => h('option', { value: id, text: k.name }))));
  const rated = /** @type {HTMLInputElement} */ (h('input', { type: 'checkbox', id: 'play-now-rated' }));
  const error = h('p', { class: 'form-error', id: 'play-now-error', role: 'alert', hidden: true });
  const body = h('div', { id: 'play-now-body' });

  function showError(/** @type {unknown} */ e) {
    error.textContent = e instanceof ApiError ? e.message : 'Something went wrong. Try again.';
    error.hidden = false;
  }

  function render() {
    if (ticket && ticket.state === 'waiting') {
      const since = new Date(ticket.created_at).getTime();
      const seconds = Math.max(0, Math.round((Date.now() - since) / 1000));
      replace(body,
        h('p', { class: 'play-now-waiting', id: 'play-now-waiting', role: 'status', 'aria-live': 'polite' },
          h('span', { class: 'spinner', 'aria-hidden': 'true' }),
          ` Looking for an opponent near ${Math.round(ticket.rating)}… ${seconds}s`),
        h('button', { type: 'button', class: 'btn btn-ghost', id: 'play-now-cancel', text: 'Cancel', onclick: cancel }));
    } else {
      replace(body,
        h('div', { class: 'play-now-form' },
          kind,
          h('label', { class: 'check' }, rated, ' Rated')),
        h('button', { type: 'button', class: 'btn btn-primary', id: 'play-now-button', text: 'Play now', onclick: start }));
    }
  }

  async function start() {
    error.hidden = true;
    try {
      ticket = await api.createTicket({ kind: kind.value, time_control: null, rated: rated.checked });
      render();
      schedule();
    } catch (e) {
      showError(e);
    }
  }

  async function cancel() {
    const t = ticket;
    if (!t) return;
    clearTimeout(timer);
    try {
      ticket = await api.cancelTicket(t.id);
    } catch {
      // Matched meanwhile (409): the next poll says so.
      ticket = t;
      schedule();
      return;
    }
    render();
  }

  function schedule() {
    clearTimeout(timer);
    if (!destroyed) timer = setTimeout(poll, POLL_MS);
  }

  async function poll() {
    const t = ticket;
    if (!t || destroyed) return;
    try {
      ticket = await api.ticket(t.id);
    } catch {
      schedule();
      return;
    }
    if (destroyed) return;
    if (ticket.state === 'matched' && ticket.game_id) {
      navigate(gamePath(ticket.game_id));
      return;
    }
    if (ticket.state === 'expired') {
      error.textContent = 'Nobody was found in time. Try again.';
      error.hidden = false;
    }
    render();
    if (ticket.state === 'waiting') schedule();
  }

  render();
  const el = h('section', { class: 'card', id: 'play-now', 'aria-labelledby': 'play-now-title' },
    h('h2', { id: 'play-now-title', text: 'Play now' }),
    h('p', { class: 'muted small', text: 'Get paired with a player of a similar rating.' }),
    error,
    body);
  return {
    el,
    destroy: () => {
      destroyed = true;
      clearTimeout(timer);
      if (ticket?.state === 'waiting') api.cancelTicket(ticket.id).catch(() => {});
    },
  };
}
