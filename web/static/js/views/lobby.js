// The lobby: open games (polled every few seconds: the server has no lobby push yet), games
// being played now (to watch), the games this browser visited, and the form that creates a
// game with every setting the API offers.

import { h, replace } from '../dom.js';
import { api, ApiError } from '../api.js';
import { session } from '../session.js';
import { navigate, gamePath } from '../router.js';
import { timeControl, ago } from '../format.js';
import { field, showError, clearErrors, busy } from './form.js';
import { KINDS } from '../game-model.js';
import { recentGames } from '../recent.js';
import { toast } from '../toast.js';
import { chatPanel } from '../chat.js';
import { playNowPanel } from './play-now.js';
import { friendsPanel } from './social.js';

/** @typedef {import('../types.js').GameSummary} GameSummary */
/** @typedef {import('../types.js').KindInfo} KindInfo */

const POLL_MS = 3000;

/** Time-control presets: [label, initial seconds, increment seconds] (null: no clock). */
/** @type {[string, number, number][]} */
const PRESETS = [
  ['1 min', 60, 0],
  ['3 + 2', 180, 2],
  ['5 + 3', 300, 3],
  ['10 min', 600, 0],
  ['15 + 10', 900, 10],
  ['30 min', 1800, 0],
];

/** @param {string} kind */
function kindName(kind) {
  return KINDS[kind]?.name ?? kind;
}

/** @param {string} kind */
function kindIcon(kind) {
  const glyph = { chess: '\u265E\uFE0E', connect4: '\u25CF', tictactoe: '\u2715', lightcycles: '\u21AF' }[kind] ?? '\u25A0';
  return h('span', { class: `kind-icon kind-${kind}`, 'aria-hidden': 'true', text: glyph });
}

/**
 * @param {import('../socket.js').Connection} [conn] for the lobby's chat (issue 8)
 * @returns {{ el: HTMLElement, destroy: () => void }}
 */
export function lobbyView(conn) {
  const me = session.player;
  let destroyed = false;
  /** @type {ReturnType<typeof setTimeout> | undefined} */
  let timer;

  // ---- open games, live games ----
  const openList = h('ul', { class: 'game-list', id: 'open-games', 'aria-live': 'polite', 'aria-busy': 'true' });
  const liveList = h('ul', { class: 'game-list', id: 'live-games' });
  const listError = h('p', { class: 'form-error', hidden: true });
  const updated = h('span', { class: 'muted small', id: 'lobby-updated' });

  /**
   * @param {GameSummary} g
   * @param {'join' | 'watch'} action
   */
  function row(g, action) {
    const mine = g.participants.some((p) => p.player.id === me?.id);
    const creator = g.participants[0]?.player.username ?? 'someone';
    const players = g.participants.map((p) => p.player.username).join(' vs ');
    const tc = timeControl(g.settings.time_control ?? null);
    /** @type {HTMLElement} */
    let button;
    if (action === 'join' && !mine) {
      const b = h('button', {
        type: 'button',
        class: 'btn btn-primary btn-small',
        text: 'Join',
        'aria-label': `Join ${g.name}`,
        onclick: () => join(g, b),
      });
      button = b;
    } else {
      button = h('a', {
        href: gamePath(g.id),
        class: 'btn btn-secondary btn-small',
        dataset: { link: '' },
        text: mine ? 'Open' : 'Watch',
        'aria-label': `${mine ? 'Open' : 'Watch'} ${g.name}`,
      });
    }
    return h('li', { class: 'game-row', dataset: { gameId: g.id, kind: g.kind } },
      kindIcon(g.kind),
      h('div', { class: 'game-row-main' },
        h('a', { href: gamePath(g.id), dataset: { link: '' }, class: 'game-row-name', text: g.name }),
        h('p', {
          class: 'game-row-meta',
          text: [
            kindName(g.kind),
            tc,
            g.settings.rated ? 'Rated' : 'Casual',
            action === 'join' ? `by ${creator}${mine ? ' (you)' : ''}` : players,
            action === 'join' ? ago(g.created_at) : null,
          ].filter(Boolean).join(' · '),
        }),
      ),
      button,
    );
  }

  /**
   * @param {GameSummary} g
   * @param {HTMLButtonElement} button
   */
  async function join(g, button) {
    try {
      await busy(button, () => api.join(g.id));
      navigate(gamePath(g.id));
    } catch (err) {
      const e = /** @type {ApiError} */ (err);
      if (e.code === 'already_seated') {
        navigate(gamePath(g.id));
        return;
      }
      toast(e.code === 'game_full' ? 'Someone took that seat first.' : e.message, 'error');
      poll();
    }
  }

  async function poll() {
    clearTimeout(timer);
    try {
      const [open, live] = await Promise.all([
        api.games({ state: 'waiting', limit: '50' }),
        api.games({ state: 'in_progress', limit: '10' }),
      ]);
      if (destroyed) return;
      listError.hidden = true;
      openList.removeAttribute('aria-busy');
      replace(openList, open.games.length > 0
        ? open.games.map((g) => row(g, 'join'))
        : h('li', { class: 'empty' }, 'No open games right now. Create one and share the link!'));
      replace(liveList, live.games.length > 0
        ? live.games.map((g) => row(g, 'watch'))
        : h('li', { class: 'empty' }, 'Nobody is playing right now.'));
      updated.textContent = `Updated ${new Date().toLocaleTimeString([], { hour: '2-digit', minute: '2-digit', second: '2-digit' })}`;
    } catch (err) {
      if (destroyed) return;
      listError.textContent =
        err instanceof ApiError && err.status === 0
          ? 'Cannot reach the server. Retrying…'
          : 'Could not load the games. Retrying…';
      listError.hidden = false;
    }
    if (!destroyed) timer = setTimeout(poll, POLL_MS);
  }

  const onVisible = () => {
    if (document.visibilityState === 'visible') poll();
  };
  document.addEventListener('visibilitychange', onVisible);

  // ---- recent games of this browser ----
  const recent = recentGames();
  const recentSection = recent.length
    ? h('section', { class: 'card', 'aria-labelledby': 'recent-title' },
        h('h2', { id: 'recent-title', text: 'Your recent games' }),
        h('ul', { class: 'recent-list' },
          recent.map((g) => h('li', {}, kindIcon(g.kind), h('a', { href: gamePath(g.id), dataset: { link: '' }, text: g.name }))),
        ),
      )
    : null;

  // ---- create a game ----
  const create = createForm();
  const chat = conn ? chatPanel(conn, 'lobby', { title: 'Lobby chat', id: 'lobby-chat' }) : null;
  const playNow = playNowPanel();
  const friends = conn ? friendsPanel(conn) : null;

  const el = h('div', { class: 'lobby' },
    h('div', { class: 'lobby-main' },
      h('section', { class: 'card', 'aria-labelledby': 'open-title' },
        h('div', { class: 'card-head' }, h('h2', { id: 'open-title', text: 'Open games' }), updated),
        listError,
        openList,
      ),
      h('section', { class: 'card', 'aria-labelledby': 'live-title' },
        h('h2', { id: 'live-title', text: 'Playing now' }),
        liveList,
      ),
      recentSection,
    ),
    h('aside', { class: 'lobby-side' }, playNow.el, friends?.el ?? '', create, chat?.el ?? ''),
  );
  poll();
  return {
    el,
    destroy: () => {
      destroyed = true;
      clearTimeout(timer);
      document.removeEventListener('visibilitychange', onVisible);
      chat?.destroy();
      playNow.destroy();
      friends?.destroy();
    },
  };
}

/**
 * The create-game form: kind, name, description, time control, rated, visibility, seat; for
 * real-time kinds the number of players and the points to win.
 */
function createForm() {
  const me = session.player;
  /** @type {KindInfo[]} */
  let kinds = [];
  const kindBox = h('div', { class: 'segmented', role: 'radiogroup', 'aria-label': 'Game' });
  const kindError = h('p', { class: 'field-error', hidden: true });

  const f = {
    name: field({
      name: 'name',
      label: 'Name',
      control: h('input', { type: 'text', maxlength: 80, placeholder: 'Friday night game', autocomplete: 'off' }),
    }),
    description: field({
      name: 'description',
      label: 'Description (optional)',
      control: h('textarea', { rows: 2, maxlength: 500, placeholder: 'House rules, a greeting…' }),
    }),
    time_control: field({
      name: 'time_control',
      label: 'Time control',
      control: h('select', {},
        h('option', { value: 'none', text: 'No clock' }),
        PRESETS.map(([label, i, inc]) => h('option', { value: `${i}+${inc}`, text: label })),
        h('option', { value: 'custom', text: 'Custom…' }),
      ),
    }),
    initial_seconds: field({
      name: 'initial_seconds',
      label: 'Minutes each',
      control: h('input', { type: 'number', min: 0.25, max: 1440, step: 'any', value: '5', inputMode: 'decimal' }),
    }),
    increment_seconds: field({
      name: 'increment_seconds',
      label: 'Increment (seconds)',
      control: h('input', { type: 'number', min: 0, max: 600, step: 1, value: '0', inputMode: 'numeric' }),
    }),
    players: field({
      name: 'players',
      label: 'Players',
      control: h('select', {},
        h('option', { value: '2', text: '2 players' }),
        h('option', { value: '3', text: '3 players' }),
        h('option', { value: '4', text: '4 players' }),
      ),
    }),
    points_to_win: field({
      name: 'points_to_win',
      label: 'Points to win',
      control: h('input', { type: 'number', min: 1, max: 25, step: 1, value: '3', inputMode: 'numeric' }),
      hint: 'Rounds a player must win to win the session (1–25).',
    }),
    creator_seat: field({
      name: 'creator_seat',
      label: 'Your side',
      control: h('select', {}),
    }),
  };
  const custom = h('div', { class: 'field-row', hidden: true }, f.initial_seconds.el, f.increment_seconds.el);
  const tcSelect = /** @type {HTMLSelectElement} */ (f.time_control.control);
  let tcTouched = false;
  tcSelect.addEventListener('change', () => {
    tcTouched = true;
    custom.hidden = tcSelect.value !== 'custom';
  });

  const rated = h('input', { type: 'checkbox', id: 'create-rated', name: 'rated' });
  const ratedField = h('div', { class: 'field field-check' },
    rated, h('label', { for: 'create-rated' }, 'Rated', h('span', { class: 'field-hint', text: ' — counts toward ratings' })));

  const visPublic = h('input', { type: 'radio', name: 'visibility', value: 'public', id: 'vis-public', checked: true });
  const visPrivate = h('input', { type: 'radio', name: 'visibility', value: 'private', id: 'vis-private' });
  const visibility = h('fieldset', { class: 'field radios' },
    h('legend', { text: 'Who can find it' }),
    h('div', { class: 'radio' }, visPublic, h('label', { for: 'vis-public' }, 'Public', h('span', { class: 'field-hint', text: ' — listed in the lobby' }))),
    h('div', { class: 'radio' }, visPrivate, h('label', { for: 'vis-private' }, 'Private', h('span', { class: 'field-hint', text: ' — only people with the link' }))),
  );

  const formError = h('p', { class: 'form-error', role: 'alert', hidden: true });
  const submit = h('button', { type: 'submit', class: 'btn btn-primary btn-block', text: 'Create game' });

  function selectedKind() {
    const checked = /** @type {HTMLInputElement | null} */ (kindBox.querySelector('input:checked'));
    return checked?.value ?? 'chess';
  }

  function kindChanged() {
    const kind = selectedKind();
    const sides = KINDS[kind]?.sides ?? ['first', 'second'];
    const seat = /** @type {HTMLSelectElement} */ (f.creator_seat.control);
    const prev = seat.value || 'random';
    replace(seat,
      h('option', { value: 'random', text: 'Random' }),
      h('option', { value: 'first', text: `${sides[0]} (moves first)` }),
      h('option', { value: 'second', text: sides[1] }),
    );
    seat.value = prev;
    if (!tcTouched) {
      tcSelect.value = kind === 'chess' ? '300+3' : 'none';
      custom.hidden = true;
    }
    const info = kinds.find((k) => k.id === kind);
    tcSelect.disabled = info ? !info.supports_clock : false;
    f.players.el.hidden = !info?.realtime;
    f.points_to_win.el.hidden = !info?.realtime;
    f.name.control.setAttribute('placeholder', `${me?.username ?? 'My'}’s ${KINDS[kind]?.name ?? kind}`);
  }

  /** @param {KindInfo[]} list */
  function renderKinds(list) {
    kinds = list.filter((k) => !k.realtime || KINDS[k.id]);
    replace(kindBox, kinds.map((k, i) => {
      const id = `kind-${k.id}`;
      return h('div', { class: 'segment' },
        h('input', { type: 'radio', name: 'kind', id, value: k.id, checked: k.id === 'chess' || (i === 0 && !kinds.some((x) => x.id === 'chess')), onchange: kindChanged }),
        h('label', { for: id }, kindIcon(k.id), h('span', { text: k.name })),
      );
    }));
    kindChanged();
  }
  renderKinds(Object.values(KINDS).map((k) => /** @type {KindInfo} */ ({
    id: k.id, name: k.name, min_seats: 2, max_seats: 2, realtime: false,
    supports_draw_offers: k.draws, supports_clock: true, move_format: '', settings: [],
  })));
  api.kinds().then(
    (r) => renderKinds(r.kinds.filter((k) => KINDS[k.id])),
    () => {},
  );

  const fields = { ...f, kind: { el: kindBox, control: /** @type {any} */ (kindBox), setError: (/** @type {string | null} */ m) => { kindError.textContent = m ?? ''; kindError.hidden = !m; } } };

  const form = h('form', {
    class: 'card create-form',
    id: 'create-form',
    novalidate: true,
    'aria-labelledby': 'create-title',
    onsubmit: async (/** @type {SubmitEvent} */ e) => {
      e.preventDefault();
      clearErrors(fields, formError);
      const kind = selectedKind();
      /** @type {import('../types.js').CreateGameRequest} */
      const body = {
        kind,
        name: f.name.control.value.trim() || `${me?.username ?? 'My'}’s ${KINDS[kind]?.name ?? kind}`,
        description: f.description.control.value.trim() || null,
        settings: {
          rated: rated.checked,
          visibility: visPrivate.checked ? 'private' : 'public',
          creator_seat: /** @type {'random' | 'first' | 'second'} */ (f.creator_seat.control.value),
          time_control: null,
        },
      };
      if (KINDS[kind]?.realtime) {
        const points = Number(f.points_to_win.control.value);
        if (!Number.isInteger(points) || points < 1 || points > 25) {
          f.points_to_win.setError('A whole number from 1 to 25.');
          return;
        }
        body.settings = { ...body.settings, players: Number(f.players.control.value), points_to_win: points };
      }
      const tc = tcSelect.disabled ? 'none' : tcSelect.value;
      if (tc === 'custom') {
        const minutes = Number(f.initial_seconds.control.value);
        const inc = Number(f.increment_seconds.control.value);
        let bad = false;
        if (!Number.isFinite(minutes) || minutes <= 0 || minutes * 60 > 86400) {
          f.initial_seconds.setError('Between a few seconds and 1440 minutes.');
          bad = true;
        }
        if (!Number.isInteger(inc) || inc < 0 || inc > 600) {
          f.increment_seconds.setError('A whole number from 0 to 600.');
          bad = true;
        }
        if (bad) return;
        body.settings = { ...body.settings, time_control: { initial_seconds: Math.max(1, Math.round(minutes * 60)), increment_seconds: inc } };
      } else if (tc !== 'none') {
        const [i, inc] = tc.split('+').map(Number);
        body.settings = { ...body.settings, time_control: { initial_seconds: i, increment_seconds: inc } };
      }
      try {
        const game = await busy(submit, () => api.createGame(body));
        navigate(gamePath(game.id));
      } catch (err) {
        showError(err, fields, formError, { unknown_kind: 'kind' });
      }
    },
  },
    h('h2', { id: 'create-title', text: 'Create a game' }),
    h('div', { class: 'field' }, h('span', { class: 'label', id: 'kind-label', text: 'Game' }), kindBox, kindError),
    f.name.el,
    f.description.el,
    f.time_control.el,
    custom,
    f.players.el,
    f.points_to_win.el,
    f.creator_seat.el,
    ratedField,
    visibility,
    formError,
    submit,
  );
  kindBox.setAttribute('aria-labelledby', 'kind-label');
  return form;
}
