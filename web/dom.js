// Small page helpers shared by every part of the dashboard: element lookup, the toast, the
// screen-reader announcer and the page-wide alert.

export const $ = (id) => document.getElementById(id);

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
