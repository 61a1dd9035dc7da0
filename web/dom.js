// Small page helpers shared by every part of the dashboard: element lookup, the toast, the
// screen-reader announcer and the page-wide alert.

export const $ = (id) => document.getElementById(id);

/** Set an element's text only when it changes: an unchanged write still costs a style and
 *  layout pass, and the open job renders every frame while results stream. */
export function setText(el, text) {
  if (el.textContent !== text) el.textContent = text;
}

/** The same for an attribute. */
export function setAttr(el, name, value) {
  if (el.getAttribute(name) !== value) el.setAttribute(name, value);
}

export const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

let toastTimer = 0;
export function toast(message, kind = 'info') {
  const el = $('toast');
  el.textContent = message;
  el.dataset.kind = kind;
  el.hidden = false;
  clearTimeout(toastTimer);
  toastTimer = setTimeout(() => {
    el.hidden = true;
  }, 4000);
}

/** A failure shown on the page makes a cheerful toast next to it untrue: take it away. */
export function hideToast() {
  clearTimeout(toastTimer);
  $('toast').hidden = true;
}

export function announce(message) {
  const el = $('live');
  el.textContent = '';
  // cleared then set a frame later, so the same message twice is still read out
  requestAnimationFrame(() => {
    el.textContent = message;
  });
}

export function showGlobalAlert(message) {
  const el = $('global-alert');
  el.textContent = message;
  el.hidden = !message;
}
