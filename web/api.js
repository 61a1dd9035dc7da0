// fetch wrapper: JSON in and out, the API token, and errors as plain Korean messages.

import { store } from './store.js';

export class ApiError extends Error {
  constructor(message, { status = 0, code = 'error' } = {}) {
    super(message);
    this.name = 'ApiError';
    this.status = status;
    this.code = code;
  }
  get network() {
    return this.status === 0;
  }
}

export const MSG_UNREACHABLE = '서버에 연결할 수 없습니다. 네트워크 연결이나 서버 상태를 확인해 주세요.';

let token = store.token();
// a token entered in another tab of this browser (the one holding the shared connection
// may not be the one the user typed it in)
window.addEventListener('storage', (e) => {
  if (e.key === null || e.key.endsWith('token')) token = store.token();
});
let promptFn = null; // (invalid: boolean) => Promise<string|null>
let pending = null; // the one token prompt in flight, shared by concurrent callers

export const getToken = () => token;

/** The UI registers how to ask the user for a token. */
export function setTokenPrompt(fn) {
  promptFn = fn;
}

let declined = false; // the user closed the dialog: do not ask again until they act

/**
 * Ask for a token once (concurrent callers share the dialog). Resolves true when one was given.
 * After the user declined, only a `force`d request (a click of theirs) asks again.
 */
export function requestToken(invalid = false, { force = false } = {}) {
  if (declined && !force && !pending) return Promise.resolve(false);
  if (!pending) {
    if (invalid) {
      token = null;
      store.setToken(null);
    }
    pending = (async () => {
      try {
        const t = promptFn ? await promptFn(invalid) : null;
        if (t) {
          token = t.trim();
          store.setToken(token);
          declined = false;
          return true;
        }
        declined = true;
        return false;
      } finally {
        pending = null;
      }
    })();
  }
  return pending;
}

// Stream tokens by scope ('jobs' or a job id): EventSource and WebSocket cannot send the API
// token in a header, and the server refuses it in a URL (proxies log URLs). A stream token is
// short-lived and good for one job (or the jobs feed) only.
const streamTokens = new Map();
const RENEW_BEFORE_MS = 60_000;

/**
 * `url` with `?token=<stream token>` for `scope` ({jobId} or {jobs: 'all'}), fetched (and
 * renewed before it expires) with the API token. Without an API token: `url` as it is.
 */
export async function withStreamToken(url, scope) {
  if (!token) return url;
  const key = scope.jobs === 'all' ? 'jobs' : scope.jobId;
  let held = streamTokens.get(key);
  if (!held || held.token !== token || held.expiresAt - Date.now() < RENEW_BEFORE_MS) {
    let data;
    try {
      data = await api('/api/documents/stream-token', { method: 'POST', body: scope });
    } catch (e) {
      if (e instanceof ApiError && e.code === 'stream_tokens_disabled') return url; // open server
      throw e;
    }
    held = { token, stream: data.streamToken, expiresAt: data.streamTokenExpiresAt };
    streamTokens.set(key, held);
  }
  return `${url}${url.includes('?') ? '&' : '?'}token=${encodeURIComponent(held.stream)}`;
}

// Requests still unanswered after SLOW_MS: the page says so (setSlowNotice) rather than
// leaving the user to stare at a page that silently waits.
const SLOW_MS = 3000;
let slowFn = null; // (waiting: {path, sinceMs}[]) => void
const inFlight = new Map(); // request -> {path, since, timer}
let requestSeq = 0;

/** The UI registers how to show requests that take long (called with [] when none are). */
export function setSlowNotice(fn) {
  slowFn = fn;
}

function slowChanged() {
  const now = Date.now();
  slowFn?.(
    [...inFlight.values()].filter((r) => r.slow).map((r) => ({ path: r.path, sinceMs: now - r.since })),
  );
}

function track(path) {
  const id = ++requestSeq;
  const r = { path, since: Date.now(), slow: false, timer: 0 };
  r.timer = setTimeout(() => {
    r.slow = true;
    slowChanged();
  }, SLOW_MS);
  inFlight.set(id, r);
  return () => {
    clearTimeout(r.timer);
    inFlight.delete(id);
    if (r.slow) slowChanged();
  };
}

/** `interactive`: a call the user just asked for, which may ask for the token again. */
export async function api(path, options = {}) {
  const done = track(path);
  try {
    return await request(path, options);
  } finally {
    done();
  }
}

async function request(path, { method = 'GET', body, signal, interactive = false } = {}) {
  for (let attempt = 0; ; attempt++) {
    const headers = { Accept: 'application/json' };
    if (body !== undefined) headers['Content-Type'] = 'application/json';
    if (token) headers.Authorization = `Bearer ${token}`;
    let res;
    try {
      res = await fetch(path, {
        method,
        headers,
        body: body === undefined ? undefined : JSON.stringify(body),
        signal,
        cache: 'no-store',
      });
    } catch (e) {
      if (e?.name === 'AbortError') throw e;
      throw new ApiError(MSG_UNREACHABLE, { status: 0, code: 'network' });
    }
    let data = null;
    try {
      data = await res.json();
    } catch {
      /* not JSON: a proxy error page, or an empty body */
    }
    if (res.status === 401 && attempt < 3) {
      if (await requestToken(attempt > 0 || Boolean(token), { force: interactive })) continue;
      throw new ApiError('API 토큰이 필요합니다.', { status: 401, code: 'unauthorized' });
    }
    if (!res.ok || !data || data.success === false) {
      const msg =
        data?.error ||
        (res.status >= 500
          ? `서버 오류가 발생했습니다 (${res.status}). 잠시 후 다시 시도해 주세요.`
          : `요청을 처리하지 못했습니다 (${res.status}).`);
      throw new ApiError(msg, { status: res.status, code: data?.code || `http_${res.status}` });
    }
    return data;
  }
}
