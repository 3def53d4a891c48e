// Sign up, log in, or play as a guest. Shown in place of any page while signed out, so a
// shared `/game/<id>` link leads to that game right after signing in.

import { h } from '../dom.js';
import { api } from '../api.js';
import { session } from '../session.js';
import { field, showError, clearErrors, busy } from './form.js';
import { KINDS } from '../game-model.js';
import { timeControl } from '../format.js';

/**
 * @param {{ gameId: string | null, invited?: boolean }} options the game whose link the
 *   visitor opened, if any; `invited`: an invite link (`/invite/<code>`) was opened
 * @returns {{ el: HTMLElement, destroy: () => void }}
 */
export function authView({ gameId, invited: byLink = false }) {
  const invited = gameId !== null || byLink;
  /** @param {import('../types.js').AuthResponse} r */
  const signedIn = (r) => session.set(r.token, r.player);

  // ---- sign up ----
  const su = {
    username: field({
      name: 'username',
      label: 'Username',
      hint: '3–24 letters, digits, _ or -',
      control: h('input', { type: 'text', autocomplete: 'username', required: true, maxlength: 24, spellcheck: false, autocapitalize: 'off' }),
    }),
    email: field({
      name: 'email',
      label: 'Email',
      hint: 'Never shown to other players',
      control: h('input', { type: 'email', autocomplete: 'email', required: true, maxlength: 254 }),
    }),
    password: field({
      name: 'password',
      label: 'Password',
      hint: 'At least 8 characters',
      control: h('input', { type: 'password', autocomplete: 'new-password', required: true, maxlength: 256 }),
    }),
  };
  const suError = h('p', { class: 'form-error', role: 'alert', hidden: true });
  const suButton = h('button', { type: 'submit', class: 'btn btn-primary btn-block', text: 'Create account' });
  const signup = h('form', {
    class: 'auth-form',
    id: 'signup-form',
    novalidate: true,
    onsubmit: (/** @type {SubmitEvent} */ e) => {
      e.preventDefault();
      clearErrors(su, suError);
      busy(suButton, () =>
        api.register({
          username: su.username.control.value.trim(),
          email: su.email.control.value.trim(),
          password: su.password.control.value,
        }),
      ).then(signedIn, (err) =>
        showError(err, su, suError, { username_taken: 'username', email_taken: 'email' }),
      );
    },
  }, su.username.el, su.email.el, su.password.el, suError, suButton);

  // ---- log in ----
  const li = {
    login: field({
      name: 'login',
      label: 'Username or email',
      control: h('input', { type: 'text', autocomplete: 'username', required: true, maxlength: 254, spellcheck: false, autocapitalize: 'off' }),
    }),
    password: field({
      name: 'password',
      label: 'Password',
      control: h('input', { type: 'password', autocomplete: 'current-password', required: true, maxlength: 256 }),
    }),
  };
  const liError = h('p', { class: 'form-error', role: 'alert', hidden: true });
  const liButton = h('button', { type: 'submit', class: 'btn btn-primary btn-block', text: 'Log in' });
  const login = h('form', {
    class: 'auth-form',
    id: 'login-form',
    novalidate: true,
    hidden: true,
    onsubmit: (/** @type {SubmitEvent} */ e) => {
      e.preventDefault();
      clearErrors(li, liError);
      const values = { login: li.login.control.value.trim(), password: li.password.control.value };
      /** @type {Record<string, string>} */
      const missing = {};
      if (!values.login) missing.login = 'Enter your username or email.';
      if (!values.password) missing.password = 'Enter your password.';
      if (Object.keys(missing).length > 0) {
        for (const [k, m] of Object.entries(missing)) li[/** @type {'login' | 'password'} */ (k)].setError(m);
        li[values.login ? 'password' : 'login'].control.focus();
        return;
      }
      busy(liButton, () => api.login(values)).then(signedIn, (err) =>
        showError(err, li, liError, { invalid_credentials: 'password' }),
      );
    },
  }, li.login.el, li.password.el, liError, liButton);

  // ---- tabs ----
  const tabSignup = h('button', { type: 'button', role: 'tab', id: 'tab-signup', class: 'tab', 'aria-controls': 'signup-form', text: 'Sign up' });
  const tabLogin = h('button', { type: 'button', role: 'tab', id: 'tab-login', class: 'tab', 'aria-controls': 'login-form', text: 'Log in' });
  /** @param {'signup' | 'login'} which */
  const select = (which) => {
    const s = which === 'signup';
    tabSignup.setAttribute('aria-selected', String(s));
    tabLogin.setAttribute('aria-selected', String(!s));
    tabSignup.tabIndex = s ? 0 : -1;
    tabLogin.tabIndex = s ? -1 : 0;
    signup.hidden = !s;
    login.hidden = s;
  };
  tabSignup.addEventListener('click', () => select('signup'));
  tabLogin.addEventListener('click', () => select('login'));
  const tabs = h('div', { class: 'tabs', role: 'tablist', 'aria-label': 'Account' }, tabSignup, tabLogin);
  tabs.addEventListener('keydown', (e) => {
    if (e.key !== 'ArrowLeft' && e.key !== 'ArrowRight') return;
    e.preventDefault();
    const toLogin = tabSignup.getAttribute('aria-selected') === 'true';
    select(toLogin ? 'login' : 'signup');
    (toLogin ? tabLogin : tabSignup).focus();
  });
  signup.setAttribute('role', 'tabpanel');
  signup.setAttribute('aria-labelledby', 'tab-signup');
  login.setAttribute('role', 'tabpanel');
  login.setAttribute('aria-labelledby', 'tab-login');
  select('signup');

  // ---- guest ----
  const guestError = h('p', { class: 'form-error', role: 'alert', hidden: true });
  const guest = h('button', {
    type: 'button',
    class: 'btn btn-secondary btn-block',
    id: 'guest-button',
    text: 'Play as a guest',
    onclick: () => {
      guestError.hidden = true;
      busy(guest, () => api.guest()).then(signedIn, (err) => {
        guestError.textContent = err instanceof Error ? err.message : 'Something went wrong.';
        guestError.hidden = false;
      });
    },
  });

  // What the link leads to (games can be read without an account).
  const invite = h('div', { class: 'invite-card', id: 'invite-card', hidden: true });
  if (gameId) {
    api.game(gameId).then((g) => {
      const host = g.participants[0]?.player.username ?? 'Someone';
      const free = g.state === 'waiting' && g.participants.length < 2;
      invite.append(
        h('span', { class: 'invite-kind', text: KINDS[g.kind]?.name ?? g.kind }),
        h('strong', { class: 'invite-name', text: g.name }),
        h('span', { class: 'muted small', text: `${free ? `${host} is waiting for an opponent` : g.participants.map((p) => p.player.username).join(' vs ')} · ${timeControl(g.settings.time_control ?? null)}` }),
      );
      invite.hidden = false;
    }, () => {});
  }

  const el = h('section', { class: 'auth' },
    h('div', { class: 'auth-hero' },
      h('h1', { text: invited ? 'You’re invited to a game' : 'Play with friends, live.' }),
      h('p', { class: 'lead', text: invited
        ? 'Sign up, log in, or jump straight in as a guest — the game opens right after.'
        : 'Chess, Connect Four and tic-tac-toe in your browser. Create a game, send the link, and play — every move is saved the moment it is made.' }),
      invite,
      h('ul', { class: 'auth-points' },
        h('li', { text: 'Moves reach your opponent instantly' }),
        h('li', { text: 'Clocks that survive a dropped connection' }),
        h('li', { text: 'Share a link to play or watch' }),
      ),
    ),
    h('div', { class: 'card auth-card' },
      tabs, signup, login,
      h('div', { class: 'divider', role: 'presentation' }, h('span', { text: 'or' })),
      guest, guestError,
      h('p', { class: 'muted small', text: 'Guests get a generated name and can play right away.' }),
    ),
  );
  return { el, destroy: () => {} };
}
