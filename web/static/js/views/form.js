// Form fields with their error message next to them, and the mapping from a problem
// document's `errors[].field` to those fields.

import { h } from '../dom.js';
import { ApiError } from '../api.js';

/**
 * @typedef {object} Field
 * @property {HTMLElement} el the label, control, hint and error
 * @property {HTMLInputElement | HTMLTextAreaElement | HTMLSelectElement} control
 * @property {(message: string | null) => void} setError
 */

let nextId = 1;

/**
 * @param {object} o
 * @param {string} o.name the API's field name (matches `errors[].field`)
 * @param {string} o.label
 * @param {HTMLInputElement | HTMLTextAreaElement | HTMLSelectElement} o.control
 * @param {string} [o.hint]
 * @returns {Field}
 */
export function field({ name, label, control, hint }) {
  const id = `f${nextId++}-${name.replace(/\W/g, '-')}`;
  control.id = id;
  control.name = name;
  const error = h('p', { class: 'field-error', id: `${id}-error`, hidden: true });
  const hintEl = hint ? h('p', { class: 'field-hint', id: `${id}-hint`, text: hint }) : null;
  control.setAttribute('aria-describedby', [hintEl?.id, error.id].filter(Boolean).join(' '));
  const el = h('div', { class: 'field', dataset: { field: name } }, h('label', { for: id, text: label }), control, hintEl, error);
  return {
    el,
    control,
    setError(message) {
      error.textContent = message ?? '';
      error.hidden = !message;
      if (message) control.setAttribute('aria-invalid', 'true');
      else control.removeAttribute('aria-invalid');
    },
  };
}

/**
 * Shows an API error on a form: each field error next to its field, the rest in the form's
 * own message. Focuses the first field in error.
 * @param {unknown} err
 * @param {Record<string, Field>} fields by API field name
 * @param {HTMLElement} formError
 * @param {Record<string, string>} [codeToField] e.g. `username_taken` → `username`
 */
export function showError(err, fields, formError, codeToField = {}) {
  clearErrors(fields, formError);
  const e = err instanceof ApiError ? err : new ApiError(0, 'internal', 'Something went wrong. Try again.');
  /** @type {Field | null} */
  let first = null;
  const byField = { ...e.fields };
  const mapped = codeToField[e.code];
  if (mapped && !byField[mapped]) byField[mapped] = e.message;
  const unplaced = [];
  for (const [name, message] of Object.entries(byField)) {
    const f = fields[name] ?? fields[name.split('.').pop() ?? ''];
    if (f) {
      f.setError(message);
      first ??= f;
    } else {
      unplaced.push(message);
    }
  }
  if (!first || unplaced.length > 0) {
    formError.textContent = unplaced.length > 0 ? unplaced.join(' ') : e.message;
    formError.hidden = false;
  }
  (first?.control ?? null)?.focus();
}

/**
 * @param {Record<string, Field>} fields
 * @param {HTMLElement} formError
 */
export function clearErrors(fields, formError) {
  Object.values(fields).forEach((f) => f.setError(null));
  formError.textContent = '';
  formError.hidden = true;
}

/**
 * Marks a submit button busy while `work` runs.
 * @template T
 * @param {HTMLButtonElement} button
 * @param {() => Promise<T>} work
 * @returns {Promise<T>}
 */
export async function busy(button, work) {
  button.disabled = true;
  button.setAttribute('aria-busy', 'true');
  try {
    return await work();
  } finally {
    button.disabled = false;
    button.removeAttribute('aria-busy');
  }
}
