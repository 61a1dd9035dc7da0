// doccount browser client: start a batch and follow it live, with no build step.
//
//   import { DocCount } from 'https://doccount.example/static/doccount-client.js';
//   const job = await DocCount.start({ keywords: ['맥북'] }, { baseUrl, token });
//   const watch = DocCount.watch(job.jobId, { baseUrl, streamToken: job.streamToken,
//     onResult: (r) => show(r), onProgress: (p) => bar(p), onStatus: (s) => badge(s) });
//   const final = await watch.done;   // the finished job; watch.close() stops early
//
// Transports in order: SSE, then WebSocket, then polling every 2 s (the seed's interval). A
// dropped connection is reopened from the last event id; a transport that keeps failing is left
// for the next one. Every result reaches onResult exactly once, in whatever order the transports
// change. The API token never goes into a URL: streams carry a short-lived stream token for the
// one job (docs/client.md). Types: doccount-client.d.ts beside this file.

const POLL_MS = 2000;
const TERMINAL = new Set(['completed', 'failed', 'cancelled']);
const ORDER = ['sse', 'ws', 'poll'];
const FAILS_BEFORE_SWITCH = 2; // connections in a row that delivered nothing
const RENEW_BEFORE_MS = 60_000;
// A WebSocket error frame's code, as the HTTP status the same refusal has elsewhere.
const WS_ERROR_STATUS = { job_not_found: 404, stream_token_scope: 403, unauthorized: 401 };

export class DocCountError extends Error {
  constructor(message, { status = 0, code = 'error' } = {}) {
    super(message);
    this.name = 'DocCountError';
    this.status = status;
    this.code = code;
  }
}

function joinUrl(baseUrl, path) {
  return `${(baseUrl || '').replace(/\/+$/, '')}${path}`;
}

async function request(baseUrl, path, { method = 'GET', body, bearer, signal } = {}) {
  const headers = { Accept: 'application/json' };
  if (body !== undefined) headers['Content-Type'] = 'application/json';
  if (bearer) headers.Authorization = `Bearer ${bearer}`;
  let res;
  try {
    res = await fetch(joinUrl(baseUrl, path), {
      method,
      headers,
      body: body === undefined ? undefined : JSON.stringify(body),
      signal,
      cache: 'no-store',
    });
  } catch (e) {
    if (e?.name === 'AbortError') throw e;
    throw new DocCountError('서버에 연결할 수 없습니다', { code: 'network' });
  }
  let data = null;
  try {
    data = await res.json();
  } catch {
    /* not JSON: a proxy's error page */
  }
  if (!res.ok || !data || data.success === false) {
    throw new DocCountError(data?.error || `HTTP ${res.status}`, {
      status: res.status,
      code: data?.code || `http_${res.status}`,
    });
  }
  return data;
}

// The SSE event names, from the service's /api/config (one list, in server/events.py).
const eventTypesByBase = new Map();

function eventTypes(baseUrl) {
  let types = eventTypesByBase.get(baseUrl);
  if (!types) {
    types = request(baseUrl, '/api/config').then((c) => c.eventTypes);
    types.catch(() => eventTypesByBase.delete(baseUrl)); // asked again next time
    eventTypesByBase.set(baseUrl, types);
  }
  return types;
}

/**
 * Start a batch. Resolves to the server's answer: `{jobId, message, streamToken?,
 * streamTokenExpiresAt?}` (the stream token when the server has an API token).
 */
async function start(submission, { baseUrl = '', token } = {}) {
  return request(baseUrl, '/api/documents/batch', {
    method: 'POST',
    body: submission,
    bearer: token,
  });
}

/** A fresh stream token for a job, with the API token or a still-valid stream token. */
async function streamToken(jobId, { baseUrl = '', token, streamToken: current } = {}) {
  return request(baseUrl, `/api/documents/jobs/${encodeURIComponent(jobId)}/stream-token`, {
    method: 'POST',
    bearer: token || current,
  });
}

class Watch {
  constructor(jobId, o) {
    this.jobId = jobId;
    this.o = o;
    this.baseUrl = o.baseUrl || '';
    this.order = (o.transports || ORDER).filter((t) => ORDER.includes(t) && this.available(t));
    if (!this.order.length) this.order = ['poll'];
    this.at = 0; // index in order of the transport in use
    this.fails = 0;
    this.seen = new Set(); // result indexes handed on
    this.lastEventId = null;
    this.status = null;
    this.conn = null;
    this.timer = null;
    this.gen = 0;
    this.closed = false;
    this.stream = o.streamToken
      ? { token: o.streamToken, expiresAt: o.streamTokenExpiresAt || Infinity }
      : null;
    this.done = new Promise((resolve, reject) => {
      this.resolve = resolve;
      this.reject = reject;
    });
    this.connect();
  }

  available(t) {
    if (t === 'sse') return typeof globalThis.EventSource === 'function';
    if (t === 'ws') return typeof globalThis.WebSocket === 'function';
    return true;
  }

  get transport() {
    return this.order[this.at];
  }

  call(name, ...args) {
    try {
      this.o[name]?.(...args);
    } catch (e) {
      console.error(`doccount: ${name} failed`, e);
    }
  }

  // --- what arrives ------------------------------------------------------------------------

  result(result, progress, eventId) {
    const index = result.index;
    if (typeof index === 'number') {
      if (this.seen.has(index)) return;
      this.seen.add(index);
    }
    this.call('onResult', result, { progress, eventId });
  }

  setStatus(status, extra) {
    if (status === this.status) return;
    this.status = status;
    this.call('onStatus', status, extra);
  }

  /** One event (SSE data, WebSocket frame, or a poll turned into a snapshot). */
  apply(ev, gen) {
    if (gen !== this.gen || this.closed) return;
    if (ev.id != null) this.lastEventId = String(ev.id);
    if (ev.type === 'snapshot') {
      const job = ev.job;
      for (const r of job.results || []) this.result(r, job.progress, this.lastEventId);
      this.call('onProgress', job.progress, {});
      this.setStatus(job.status, { error: job.error ?? null, progress: job.progress, job });
      if (TERMINAL.has(job.status)) this.finish(job);
    } else if (ev.type === 'result') {
      this.result(ev.result, ev.progress, this.lastEventId);
      this.call('onProgress', ev.progress, {});
    } else if (ev.type === 'progress') {
      this.call('onProgress', ev.progress, { ratePerSec: ev.ratePerSec, etaMs: ev.etaMs });
    } else if (ev.type === 'status') {
      this.setStatus(ev.status, { error: ev.error ?? null, progress: ev.progress });
      if (TERMINAL.has(ev.status)) this.finish(null);
    }
  }

  async finish(job) {
    if (this.closed) return;
    this.stop();
    let final = job;
    if (!final || !final.results) {
      try {
        final = (await this.statusRequest()).job;
      } catch {
        final = job; // the status we saw is the end; the details are a bonus
      }
    }
    this.resolve(final);
  }

  fail(error) {
    if (this.closed) return;
    this.stop();
    this.call('onTransport', this.transport, 'failed');
    this.reject(error);
  }

  // --- tokens ------------------------------------------------------------------------------

  async credential() {
    const left = this.stream ? this.stream.expiresAt - Date.now() : 0;
    if (left > RENEW_BEFORE_MS) return this.stream.token;
    if (!this.stream && !this.o.token) return null; // an open server
    const data = await streamToken(this.jobId, {
      baseUrl: this.baseUrl,
      token: this.o.token,
      streamToken: this.stream?.token,
    });
    this.stream = { token: data.streamToken, expiresAt: data.streamTokenExpiresAt };
    return this.stream.token;
  }

  async withToken(url) {
    const token = await this.credential();
    return token ? `${url}${url.includes('?') ? '&' : '?'}token=${encodeURIComponent(token)}` : url;
  }

  async statusRequest() {
    const bearer = await this.credential();
    return request(this.baseUrl, `/api/documents/status?jobId=${encodeURIComponent(this.jobId)}`, {
      bearer,
    });
  }

  // --- connections -------------------------------------------------------------------------

  stop() {
    this.closed = true;
    this.gen++;
    clearTimeout(this.timer);
    this.dropConn();
  }

  dropConn() {
    const c = this.conn;
    this.conn = null;
    if (c) {
      try {
        c.close();
      } catch {
        /* already closed */
      }
    }
  }

  connect() {
    if (this.closed) return;
    clearTimeout(this.timer);
    this.dropConn();
    const gen = ++this.gen;
    this.call('onTransport', this.transport, 'connecting');
    const open = { sse: this.openSSE, ws: this.openWS, poll: this.poll }[this.transport];
    open.call(this, gen).catch((e) => this.failed(gen, false, e));
  }

  /** A connection ended before the job did. `useful`: it delivered something first. */
  async failed(gen, useful, error) {
    if (gen !== this.gen || this.closed) return;
    this.dropConn();
    this.call('onTransport', this.transport, 'failed');
    if (error instanceof DocCountError && [401, 403, 404].includes(error.status)) {
      this.fail(error);
      return;
    }
    this.fails = useful ? 0 : this.fails + 1;
    if (!useful) {
      // Is it this transport, or the job, or the token? A plain request tells.
      try {
        const data = await this.statusRequest();
        if (gen !== this.gen || this.closed) return;
        this.apply({ type: 'snapshot', id: data.job.lastEventId, job: data.job }, gen);
        if (this.closed) return;
      } catch (e) {
        if (gen !== this.gen || this.closed) return;
        if (e instanceof DocCountError && [401, 403, 404].includes(e.status)) {
          this.fail(e);
          return;
        }
      }
      if (this.fails >= FAILS_BEFORE_SWITCH && this.at < this.order.length - 1) {
        this.at++;
        this.fails = 0;
        this.connect();
        return;
      }
    }
    const delay = useful ? 100 : Math.min(5000, 250 * 2 ** this.fails);
    this.timer = setTimeout(() => {
      if (gen === this.gen && !this.closed) this.connect();
    }, delay);
  }

  async openSSE(gen) {
    const path = `/api/documents/events?jobId=${encodeURIComponent(this.jobId)}`;
    let url = joinUrl(this.baseUrl, path);
    if (this.lastEventId) url += `&lastEventId=${encodeURIComponent(this.lastEventId)}`;
    url = await this.withToken(url);
    const types = await eventTypes(this.baseUrl);
    if (gen !== this.gen || this.closed) return;
    const es = new EventSource(url);
    this.conn = es;
    let got = false;
    es.onopen = () => {
      if (gen === this.gen) this.call('onTransport', 'sse', 'open');
    };
    const onEvent = (e) => {
      if (gen !== this.gen) return;
      let data;
      try {
        data = JSON.parse(e.data);
      } catch {
        return;
      }
      got = true;
      if (data.id == null && e.lastEventId) data.id = e.lastEventId;
      this.apply(data, gen);
    };
    for (const t of types) es.addEventListener(t, onEvent);
    es.onerror = () => {
      if (gen !== this.gen) return;
      es.close(); // we reconnect ourselves, from our own last id
      this.failed(gen, got);
    };
  }

  async openWS(gen) {
    const base = this.baseUrl || location.origin;
    let url = `${base.replace(/^http/, 'ws').replace(/\/+$/, '')}/api/documents/ws`;
    url = await this.withToken(url);
    if (gen !== this.gen || this.closed) return;
    const ws = new WebSocket(url);
    this.conn = ws;
    let got = false;
    ws.onopen = () => {
      if (gen !== this.gen) return;
      const frame = { type: 'subscribe', jobId: this.jobId };
      if (this.lastEventId) frame.lastEventId = this.lastEventId;
      ws.send(JSON.stringify(frame));
      this.call('onTransport', 'ws', 'open');
    };
    ws.onmessage = (e) => {
      if (gen !== this.gen) return;
      let data;
      try {
        data = JSON.parse(e.data);
      } catch {
        return;
      }
      if (data.jobId && data.jobId !== this.jobId) return;
      if (data.type === 'error') {
        const status = WS_ERROR_STATUS[data.code] || 0;
        const error = new DocCountError(data.message || data.code, { status, code: data.code });
        this.dropConn();
        this.failed(gen, false, error);
        return;
      }
      got = true;
      this.apply(data, gen);
    };
    ws.onclose = () => {
      if (gen === this.gen) this.failed(gen, got);
    };
  }

  async poll(gen) {
    this.call('onTransport', 'poll', 'open');
    const tick = async () => {
      if (gen !== this.gen || this.closed) return;
      let wait = POLL_MS;
      try {
        const data = await this.statusRequest();
        this.apply({ type: 'snapshot', id: data.job.lastEventId, job: data.job }, gen);
        this.fails = 0;
      } catch (e) {
        if (gen !== this.gen || this.closed) return;
        if (e instanceof DocCountError && [401, 403, 404].includes(e.status)) {
          this.fail(e);
          return;
        }
        this.fails++;
        wait = Math.min(10_000, POLL_MS * this.fails);
      }
      if (gen === this.gen && !this.closed) this.timer = setTimeout(tick, wait);
    };
    await tick();
  }

  close() {
    if (this.closed) return;
    this.stop();
    this.resolve(null);
  }
}

/**
 * Follow a job until it ends. Returns `{close(), done}`: `done` resolves to the final job (with
 * every result), or to null after `close()`; it rejects with a DocCountError when the job is
 * gone (404) or the token is refused (401/403).
 */
function watch(jobId, options = {}) {
  const w = new Watch(jobId, options);
  return {
    close: () => w.close(),
    done: w.done,
    get transport() {
      return w.transport;
    },
  };
}

export const DocCount = { start, watch, streamToken };
export default DocCount;
