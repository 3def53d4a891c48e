// Short notices at the bottom of the screen, announced to screen readers.

import { h } from './dom.js';

/** @type {HTMLElement | null} */
let region = null;

function ensure() {
  if (!region) {
    region = h('div', { class: 'toasts', role: 'status', 'aria-live': 'polite' });
    document.body.append(region);
  }
  return region;
}

/**
 * @param {string} message
 * @param {'info' | 'error' | 'success'} [kind]
 */
export function toast(message, kind = 'info') {
  const el = h('div', { class: `toast toast-${kind}` }, message);
  ensure().append(el);
  setTimeout(() => {
    el.classList.add('leaving');
    setTimeout(() => el.remove(), 300);
  }, kind === 'error' ? 6000 : 3500);
}
