// A tiny DOM builder: `h('button', {class: 'btn', onclick}, 'Go')`. No framework: views
// build their elements once and update the parts that change.

/**
 * @typedef {string | number | Node | null | undefined | false} Child
 * @typedef {Child | Child[]} Children
 * @typedef {Record<string, unknown>} Attrs
 */

/**
 * Creates an element. Attributes: `class`, `text`, `on<event>` (listeners), `dataset`,
 * `style` (string), booleans (set when true), `aria-*` and other strings as attributes.
 * @template {keyof HTMLElementTagNameMap} K
 * @param {K} tag
 * @param {Attrs | null} [attrs]
 * @param {...Children} children
 * @returns {HTMLElementTagNameMap[K]}
 */
export function h(tag, attrs, ...children) {
  const el = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs ?? {})) {
    if (value === undefined || value === null) continue;
    if (value === false) {
      // `disabled: false`, `spellcheck: false`: clear a boolean property; else leave unset.
      if (key in el && typeof (/** @type {any} */ (el))[key] === 'boolean') /** @type {any} */ (el)[key] = false;
      continue;
    }
    if (key.startsWith('on') && typeof value === 'function') {
      el.addEventListener(key.slice(2), /** @type {EventListener} */ (value));
    } else if (key === 'class') {
      el.className = String(value);
    } else if (key === 'text') {
      el.textContent = String(value);
    } else if (key === 'dataset' && typeof value === 'object') {
      for (const [k, v] of Object.entries(/** @type {Record<string, string>} */ (value))) {
        el.dataset[k] = v;
      }
    } else if (value === true) {
      el.setAttribute(key, '');
    } else if (key in el && !key.includes('-') && key !== 'list' && key !== 'form' && key !== 'role') {
      /** @type {any} */ (el)[key] = value;
    } else {
      el.setAttribute(key, String(value));
    }
  }
  append(el, children);
  return el;
}

/**
 * Creates an SVG element with attributes.
 * @param {string} tag
 * @param {Record<string, string | number>} [attrs]
 * @param {...Element} children
 * @returns {SVGElement}
 */
export function svg(tag, attrs = {}, ...children) {
  const el = document.createElementNS('http://www.w3.org/2000/svg', tag);
  for (const [k, v] of Object.entries(attrs)) el.setAttribute(k, String(v));
  for (const c of children) el.appendChild(c);
  return /** @type {SVGElement} */ (el);
}

/**
 * @param {Element} parent
 * @param {Children[]} children
 */
function append(parent, children) {
  for (const child of children.flat()) {
    if (child === null || child === undefined || child === false) continue;
    parent.append(child instanceof Node ? child : String(child));
  }
}

/**
 * Replaces an element's children.
 * @param {Element} el
 * @param {...Children} children
 */
export function replace(el, ...children) {
  el.replaceChildren();
  append(el, children);
}

/**
 * Moves focus between the buttons of a grid with the arrow keys, Home and End (one tab stop
 * per grid: a "roving tabindex"). Buttons activate with Enter and Space natively.
 * @param {HTMLElement} grid
 * @param {number} columns
 */
export function rovingGrid(grid, columns) {
  grid.addEventListener('keydown', (e) => {
    const cells = /** @type {HTMLElement[]} */ ([...grid.querySelectorAll('[data-cell]')]);
    const i = cells.indexOf(/** @type {HTMLElement} */ (document.activeElement));
    if (i < 0) return;
    /** @type {Record<string, number>} */
    const step = { ArrowLeft: -1, ArrowRight: 1, ArrowUp: -columns, ArrowDown: columns };
    let next = -1;
    if (e.key in step) next = i + step[e.key];
    else if (e.key === 'Home') next = i - (i % columns);
    else if (e.key === 'End') next = i - (i % columns) + columns - 1;
    if (next < 0 || next >= cells.length || next === i) return;
    if ((e.key === 'ArrowLeft' || e.key === 'ArrowRight') && Math.floor(next / columns) !== Math.floor(i / columns)) return;
    e.preventDefault();
    focusCell(cells, next);
  });
}

/**
 * Makes `cells[index]` the grid's tab stop and focuses it.
 * @param {HTMLElement[]} cells
 * @param {number} index
 * @param {boolean} [focus]
 */
export function focusCell(cells, index, focus = true) {
  cells.forEach((c, j) => (c.tabIndex = j === index ? 0 : -1));
  if (focus) cells[index]?.focus();
}

/**
 * Keeps exactly one tab stop in a grid after a re-render: the focused cell, or the one
 * that had it, or the first.
 * @param {HTMLElement} grid
 */
export function keepTabStop(grid) {
  const cells = /** @type {HTMLElement[]} */ ([...grid.querySelectorAll('[data-cell]')]);
  let index = cells.findIndex((c) => c === document.activeElement);
  if (index < 0) index = cells.findIndex((c) => c.tabIndex === 0);
  focusCell(cells, Math.max(index, 0), false);
}
