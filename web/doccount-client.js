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
// one job (docs/client.md). Types: doccount-client.d.ts beside this file. The dashboard's streams
// run on the same core (TransportCore, through web/transport.js): one implementation.
//
// `share: true`: every tab of this origin that watches through the module shares one connection
// per job (a leader tab elected with Web Locks holds it and relays over a BroadcastChannel), since
// browsers allow an origin only six HTTP/1.1 connections and a stream per tab uses them up.

const POLL_MS = 2000;
const TERMINAL = new Set(['completed', 'failed', 'cancelled']);
const ORDER = ['sse', 'ws', 'poll'];
const RENEW_BEFORE_MS = 60_000;

export class DocCountError extends Error {
  constructor(message, { status = 0, code = 'error' } = {}) {
    super(message);
    this.name = 'DocCountError';
    this.status = status;
    this.code = code;
  }
}

/** The later of two event ids (numeric ids compare as numbers; anything else: the newer wins). */
function newerId(a, b) {
  if (b == null || b === '') return a;
  if (a == null || a === '') return String(b);
  if (/^\d+$/.test(a) && /^\d+$/.test(String(b))) return BigInt(b) > BigInt(a) ? String(b) : a;
  return String(b);
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

// --- the transport core (the dashboard's streams run on it too: web/transport.js) -----------

const USEFUL_AFTER_MS = 4000; // a connection that lived this long without error counts as working
const POLL_EVERY_MS = { job: POLL_MS, jobs: 5000 };
// A server error frame's code, as the HTTP status the same refusal has elsewhere.
const ERROR_STATUS = { job_not_found: 404, stream_token_scope: 403, unauthorized: 401 };

function parseFrame(text) {
  try {
    return JSON.parse(text);
  } catch {
    return null;
  }
}

function available(t) {
  if (t === 'sse') return typeof globalThis.EventSource === 'function';
  if (t === 'ws') return typeof globalThis.WebSocket === 'function';
  return true;
}

/**
 * Live events for one job (`kind: 'job'`) or for the jobs feed (`kind: 'jobs'`), over the best
 * transport that works here: SSE, then WebSocket, then polling (a job: every 2 s, asking only for
 * what came after the last event, `?since=`). A connection that worked and dropped is reopened
 * at once from `lastEventId()`; one that never delivers is blamed only after a plain request
 * (the probe, also the polling step) succeeds, and after two such failures its transport is
 * demoted (in `demotions`, which a page may share between its streams). The probe also tells a
 * gone job (onGone) and a refused token (onRefused) from a broken transport.
 *
 * Hooks: `request(path)` (JSON, or throws an error with `status`, 0 for network),
 * `streamUrl(url, scope)` (the URL with a stream token), `eventTypes()` (the SSE event names),
 * optional `reauth()` (a new token after an `unauthorized` frame: true to reconnect),
 * `makeError(message, {status, code})`, `refused` (statuses that stop the stream, default [401]),
 * `baseUrl`, `transports`, `unreachable` (the offline state's message).
 * Callbacks: `onEvent(ev)` (true ends the stream), `onState({transport, state, detail})` with
 * state connecting | connected | reconnecting | offline | error | idle | done, `onGone(err)`,
 * `onRefused(err)`.
 */
export class TransportCore {
  constructor(o) {
    Object.assign(this, o);
    this.baseUrl ||= '';
    this.order = (o.transports || ORDER).filter((t) => ORDER.includes(t) && available(t));
    if (!this.order.length) this.order = ['poll'];
    this.demotions ||= { floor: 0 };
    this.refused ||= [401];
    this.makeError ||= (message, extra) => new DocCountError(message, extra);
    this.stopped = true;
    this.conn = null;
    this.timer = null;
    this.gen = 0;
    this.retries = 0;
    this.blindFails = 0;
    this.transport = null;
    this.state = 'idle';
  }

  best() {
    for (const t of this.order) if (ORDER.indexOf(t) >= this.demotions.floor) return t;
    return this.order.includes('poll') ? 'poll' : this.order[this.order.length - 1];
  }

  demote(t) {
    const i = ORDER.indexOf(t);
    if (i >= this.demotions.floor) this.demotions.floor = i + 1;
  }

  start() {
    if (!this.stopped) return;
    this.stopped = false;
    this.retries = 0;
    this.connect();
  }

  stop(state = 'idle', detail = '') {
    this.stopped = true;
    this.gen++;
    clearTimeout(this.timer);
    this.closeConn();
    this.emitState(state, detail);
  }

  closeConn() {
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

  emitState(state, detail = '') {
    this.state = state;
    this.onState?.({ transport: this.transport, state, detail });
  }

  connect() {
    if (this.stopped) return;
    clearTimeout(this.timer);
    this.closeConn();
    const gen = ++this.gen;
    this.transport = this.best();
    if (this.state !== 'offline') this.emitState(this.retries ? 'reconnecting' : 'connecting');
    if (this.transport === 'sse') this.openSSE(gen);
    else if (this.transport === 'ws') this.openWS(gen);
    else this.poll(gen);
  }

  live(gen) {
    return gen === this.gen && !this.stopped;
  }

  deliver(ev, gen) {
    if (!this.live(gen)) return;
    let end = false;
    try {
      end = this.onEvent(ev) === true;
    } catch (e) {
      console.error('doccount: event handler failed', e, ev);
    }
    if (end && !this.stopped) this.stop('done');
  }

  resumeId() {
    return this.kind === 'job' ? this.lastEventId?.() || null : null;
  }

  gone(err) {
    this.stop('idle');
    this.onGone?.(err);
  }

  refuse(err) {
    this.stop('error', err.message);
    this.onRefused?.(err);
  }

  /** `url` with a stream token of this stream's scope; null when the stream moved on meanwhile. */
  async streamUrl_(url, gen) {
    const scope = this.kind === 'jobs' ? { jobs: 'all' } : { jobId: this.jobId };
    let full;
    try {
      full = await this.streamUrl(url, scope);
    } catch (e) {
      if (!this.live(gen)) return null;
      if (e?.status === 404) this.gone(e);
      else if (this.refused.includes(e?.status)) this.refuse(e);
      else this.failed(gen, false);
      return null;
    }
    return this.live(gen) ? full : null;
  }

  // --- SSE -------------------------------------------------------------------------------

  async openSSE(gen) {
    let path =
      this.kind === 'jobs'
        ? '/api/documents/events?jobs=all'
        : `/api/documents/events?jobId=${encodeURIComponent(this.jobId)}`;
    const last = this.resumeId();
    if (last) path += `&lastEventId=${encodeURIComponent(last)}`;
    let types;
    try {
      types = await this.eventTypes();
    } catch {
      types = [];
    }
    const url = await this.streamUrl_(joinUrl(this.baseUrl, path), gen);
    if (url === null) return;
    let es;
    try {
      es = new EventSource(url);
    } catch {
      this.demote('sse');
      this.connect();
      return;
    }
    this.conn = es;
    let openedAt = 0;
    let got = false;
    es.onopen = () => {
      if (!this.live(gen)) return;
      openedAt = Date.now();
      this.emitState('connected');
    };
    const onMessage = (e) => {
      if (!this.live(gen)) return;
      const data = parseFrame(e.data);
      if (!data) return;
      got = true;
      if (data.id == null && e.lastEventId) data.id = e.lastEventId;
      if (!data.type) data.type = e.type;
      this.deliver(data, gen);
    };
    for (const t of [...(types || []), 'message']) es.addEventListener(t, onMessage);
    es.onerror = (e) => {
      if (!this.live(gen)) return;
      if (e && typeof e.data === 'string' && e.data) {
        // a server-sent `event: error`, not a connection failure
        const data = parseFrame(e.data);
        if (data) this.serverError(data, gen);
        return;
      }
      // We reconnect ourselves (with a fresh ?lastEventId=) instead of letting EventSource do it.
      es.close();
      this.conn = null;
      this.failed(gen, got || (openedAt > 0 && Date.now() - openedAt > USEFUL_AFTER_MS));
    };
  }

  // --- WebSocket -------------------------------------------------------------------------

  async openWS(gen) {
    const base = this.baseUrl
      ? this.baseUrl.replace(/^http/, 'ws').replace(/\/+$/, '')
      : `${location.protocol === 'https:' ? 'wss:' : 'ws:'}//${location.host}`;
    const url = await this.streamUrl_(`${base}/api/documents/ws`, gen);
    if (url === null) return;
    let ws;
    try {
      ws = new WebSocket(url);
    } catch {
      this.demote('ws');
      this.connect();
      return;
    }
    this.conn = ws;
    let openedAt = 0;
    let got = false;
    ws.onopen = () => {
      if (!this.live(gen)) return;
      openedAt = Date.now();
      const msg =
        this.kind === 'jobs'
          ? { type: 'subscribe', jobs: 'all' }
          : { type: 'subscribe', jobId: this.jobId };
      const last = this.resumeId();
      if (last) msg.lastEventId = last;
      ws.send(JSON.stringify(msg));
      this.emitState('connected');
    };
    ws.onmessage = (e) => {
      if (!this.live(gen)) return;
      const data = parseFrame(e.data);
      if (!data) return;
      got = true;
      if (data.type === 'error') {
        this.serverError(data, gen);
        return;
      }
      if (this.kind === 'jobs' && data.type !== 'jobs' && data.type !== 'job') return;
      if (this.kind === 'job' && data.jobId && data.jobId !== this.jobId) return;
      this.deliver(data, gen);
    };
    ws.onclose = () => {
      if (!this.live(gen)) return;
      this.conn = null;
      this.failed(gen, got || (openedAt > 0 && Date.now() - openedAt > USEFUL_AFTER_MS));
    };
  }

  serverError(data, gen) {
    if (!this.live(gen)) return;
    const status = ERROR_STATUS[data.code] || 0;
    const err = this.makeError(data.message || data.error || '실시간 연결 오류', {
      code: data.code || 'error',
      status,
    });
    if (status === 404) {
      this.gone(err);
    } else if (status === 401 && this.reauth) {
      this.closeConn();
      this.reauth().then((ok) => {
        if (!this.live(gen)) return;
        if (ok) this.connect();
        else this.refuse(err);
      });
    } else if (this.refused.includes(status)) {
      this.refuse(err);
    } else {
      this.closeConn();
      this.failed(gen, false);
    }
  }

  // --- failure handling ------------------------------------------------------------------

  async failed(gen, useful) {
    if (!this.live(gen)) return;
    const t = this.transport;
    if (useful) {
      // It worked, then dropped (server restart, proxy timeout): resume right away.
      this.retries = 0;
      this.blindFails = 0;
      this.emitState('reconnecting');
      this.retry(gen);
      return;
    }
    // It never worked. Is it the server, the job, the token, or this transport?
    const verdict = await this.probe(gen);
    if (!this.live(gen)) return;
    if (verdict === 'ok') {
      this.blindFails++;
      if (t !== 'poll' && this.blindFails >= 2) {
        this.demote(t);
        this.blindFails = 0;
        this.retries = 0;
        this.connect();
        return;
      }
      this.emitState('reconnecting');
    }
    if (verdict === 'ok' || verdict === 'down') this.retry(gen);
  }

  retry(gen) {
    const n = this.retries++;
    const delay = n === 0 ? 250 : Math.min(15000, 500 * 2 ** Math.min(n, 5));
    this.timer = setTimeout(() => {
      if (this.live(gen)) this.connect();
    }, delay + Math.random() * 250);
  }

  /** One plain request: also the polling step. Returns 'ok' | 'down' | 'gone' | 'auth' | 'end'. */
  async probe(gen) {
    try {
      if (this.kind === 'jobs') {
        const data = await this.request('/api/documents/jobs?limit=50');
        this.deliver({ type: 'jobs', jobs: data.jobs || [] }, gen);
      } else {
        this.deliver({ type: 'poll', job: await this.pollJob() }, gen);
      }
      return this.live(gen) ? 'ok' : 'end';
    } catch (e) {
      if (!this.live(gen)) return 'end';
      if (e?.status === 404) {
        this.gone(e);
        return 'gone';
      }
      if (this.refused.includes(e?.status)) {
        this.refuse(e);
        return 'auth';
      }
      const network = !e?.status;
      this.emitState('offline', network ? this.unreachable || e?.message || '' : e.message);
      return 'down';
    }
  }

  // --- polling ---------------------------------------------------------------------------

  /**
   * The job, with only the results after the last event seen (`since`): a poll with nothing new
   * is a few hundred bytes whatever the job's size. After a gap the results are all of them.
   */
  async pollJob() {
    const path = `/api/documents/status?jobId=${encodeURIComponent(this.jobId)}`;
    const since = this.resumeId();
    if (!since) return (await this.request(path)).job;
    try {
      return (await this.request(`${path}&since=${encodeURIComponent(since)}`)).job;
    } catch (e) {
      // An id this job's log never issued (a page restored from another store): ask for all.
      if (e?.status === 400) return (await this.request(path)).job;
      throw e;
    }
  }

  poll(gen) {
    const every = POLL_EVERY_MS[this.kind];
    const tick = async () => {
      if (!this.live(gen)) return;
      const verdict = await this.probe(gen);
      if (!this.live(gen)) return;
      if (verdict === 'ok') {
        this.retries = 0;
        if (this.state !== 'connected') this.emitState('connected');
        this.timer = setTimeout(tick, every);
      } else if (verdict === 'down') {
        this.retries++;
        this.timer = setTimeout(tick, Math.min(10000, every * this.retries));
      }
    };
    tick();
  }
}

// What the public onTransport says for each of the core's states.
const PUBLIC_STATE = {
  connecting: 'connecting',
  reconnecting: 'connecting',
  connected: 'open',
  offline: 'failed',
  error: 'failed',
};

class Watch {
  constructor(jobId, o) {
    this.jobId = jobId;
    this.o = o;
    this.baseUrl = o.baseUrl || '';
    this.seen = new Set(); // result indexes handed on
    this.lastEventId = o.lastEventId ?? null; // a relay for other tabs resumes from theirs
    this.status = null;
    this.gen = 0;
    this.closed = false;
    this.said = null; // the last [transport, state] told to onTransport
    this.stream = o.streamToken
      ? { token: o.streamToken, expiresAt: o.streamTokenExpiresAt || Infinity }
      : null;
    this.done = new Promise((resolve, reject) => {
      this.resolve = resolve;
      this.reject = reject;
    });
    // shared: this tab's events come from the leader tab's one connection (ShareHub below)
    this.hub = o.share && shareSupported() ? hubFor(this.baseUrl) : null;
    this.shared = null; // [transport, state] as the leader last reported it
    this.conn = null;
    if (this.hub) {
      this.hub.want(this);
      return;
    }
    this.conn = new TransportCore({
      kind: 'job',
      jobId,
      baseUrl: this.baseUrl,
      transports: o.transports,
      refused: [401, 403],
      lastEventId: () => this.lastEventId,
      request: (path) => this.authedRequest(path),
      streamUrl: (url) => this.withToken(url),
      eventTypes: () => eventTypes(this.baseUrl),
      onEvent: (ev) => {
        this.apply(ev, this.gen);
        return this.closed;
      },
      onState: ({ transport, state }) => this.say(transport, PUBLIC_STATE[state]),
      onGone: (err) => this.fail(err),
      onRefused: (err) => this.fail(err),
    });
    this.conn.start();
  }

  get transport() {
    if (this.hub) return this.shared?.[0] || (this.o.transports || ORDER)[0];
    return this.conn.transport || this.conn.best();
  }

  say(transport, state) {
    if (!state || (this.said?.[0] === transport && this.said?.[1] === state)) return;
    this.said = [transport, state];
    this.call('onTransport', transport, state);
  }

  /** The leader's connection state, as this tab's own (shared watches only). */
  sharedTransport(transport, state, leader) {
    if (this.closed) return;
    this.shared = [transport, state];
    this.call('onTransport', transport, state, { shared: true, leader });
  }

  /** What a leader needs to open this job's stream for us. */
  credentials() {
    return {
      token: this.o.token,
      streamToken: this.stream?.token,
      streamTokenExpiresAt: this.stream?.expiresAt,
      transports: this.o.transports,
      lastEventId: this.lastEventId,
    };
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

  /** One event: SSE data, a WebSocket frame, or a poll (`type: 'poll'`, a snapshot). */
  apply(ev, gen) {
    if (gen !== this.gen || this.closed) return;
    const whole = ev.type === 'poll' || ev.type === 'snapshot';
    const id = whole ? (ev.id ?? ev.job?.lastEventId) : ev.id;
    // events reach a shared watch from a catch-up and a relay at once: never step back
    if (id != null) this.lastEventId = this.hub ? newerId(this.lastEventId, id) : String(id);
    this.o.relay?.(ev);
    if (ev.type === 'snapshot' || ev.type === 'poll') {
      const job = ev.job;
      if (!job) return;
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
    // the job with every result (a poll's answer holds only the ones after `since`)
    let final = job;
    try {
      final = (await this.statusRequest()).job;
    } catch {
      final = job; // the status we saw is the end; the details are a bonus
    }
    this.resolve(final);
  }

  fail(error) {
    if (this.closed) return;
    this.stop();
    if (!this.hub) this.say(this.transport, 'failed');
    this.reject(error);
  }

  stop() {
    if (!this.closed) this.hub?.drop(this);
    this.closed = true;
    this.gen++;
    if (this.conn && !this.conn.stopped) this.conn.stop('idle');
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

  async authedRequest(path) {
    return request(this.baseUrl, path, { bearer: await this.credential() });
  }

  async statusRequest() {
    return this.authedRequest(`/api/documents/status?jobId=${encodeURIComponent(this.jobId)}`);
  }

  close() {
    if (this.closed) return;
    this.stop();
    this.resolve(null);
  }
}

// --- one connection for every tab (share: true) ----------------------------------------------

function shareSupported() {
  return typeof BroadcastChannel === 'function' && Boolean(globalThis.navigator?.locks?.request);
}

const TAB = String(globalThis.crypto?.randomUUID?.() || `${Date.now()}-${Math.random()}`);
const hubs = new Map(); // baseUrl -> ShareHub

function hubFor(baseUrl) {
  let hub = hubs.get(baseUrl);
  if (!hub) hubs.set(baseUrl, (hub = new ShareHub(baseUrl)));
  return hub;
}

// The leader tab (whoever holds the lock; the browser hands it on when that tab closes) runs one
// relay Watch per job that any tab follows and posts every event it gets; the tabs' own watches
// apply what arrives as if from their own stream, and drop what they have seen (by result
// index), so a tab that joins (or re-joins after a new leader takes over) first catches up with
// one status request and then follows the relay: nothing missed, nothing twice. A new leader
// resumes each job's stream from the lastEventId of the tab that asks for it.
class ShareHub {
  constructor(baseUrl) {
    this.baseUrl = baseUrl;
    this.leader = false;
    this.subs = new Map(); // jobId -> Set<Watch> of this tab
    this.topics = new Map(); // leader only: jobId -> {relay, wanters: Set<tab id>, transport}
    const name = `doccount-client:v1:${baseUrl || location.origin}`;
    this.channel = new BroadcastChannel(name);
    this.channel.onmessage = (e) => this.onMessage(e.data);
    navigator.locks.request(name, () => this.lead());
    globalThis.addEventListener?.('pagehide', () => this.post({ kind: 'bye', tab: TAB }));
  }

  post(msg) {
    try {
      this.channel.postMessage(msg);
    } catch {
      /* the page is going away */
    }
  }

  each(jobId, fn) {
    for (const w of [...(this.subs.get(jobId) || [])]) fn(w);
  }

  want(w) {
    let set = this.subs.get(w.jobId);
    if (!set) this.subs.set(w.jobId, (set = new Set()));
    set.add(w);
    if (this.leader) {
      const t = this.serve(TAB, w.jobId, w.credentials());
      if (t.transport) w.sharedTransport(...t.transport, true);
    } else {
      this.post({ kind: 'want', tab: TAB, jobId: w.jobId, cred: w.credentials() });
    }
    this.catchUp(w);
  }

  drop(w) {
    const set = this.subs.get(w.jobId);
    if (!set?.delete(w) || set.size) return;
    this.subs.delete(w.jobId);
    if (this.leader) this.unserve(TAB, w.jobId);
    else this.post({ kind: 'drop', tab: TAB, jobId: w.jobId });
  }

  /** One plain request for what this tab may have missed; the relayed events follow. */
  async catchUp(w) {
    const gen = w.gen;
    try {
      const data = await w.statusRequest();
      w.apply({ type: 'snapshot', id: data.job.lastEventId, job: data.job }, gen);
    } catch (e) {
      const refused = e instanceof DocCountError && [401, 403, 404].includes(e.status);
      if (refused && gen === w.gen) w.fail(e);
    }
  }

  lead() {
    this.leader = true;
    this.post({ kind: 'leader', tab: TAB });
    for (const set of this.subs.values()) {
      const w = set.values().next().value;
      if (w) this.serve(TAB, w.jobId, w.credentials());
    }
    return new Promise(() => {}); // held until this tab goes away
  }

  serve(tab, jobId, cred) {
    let t = this.topics.get(jobId);
    if (!t) {
      t = { wanters: new Set(), transport: null, relay: null };
      this.topics.set(jobId, t);
      t.relay = new Watch(jobId, {
        ...cred,
        baseUrl: this.baseUrl,
        relay: (ev) => this.relay(jobId, t, ev),
        onTransport: (transport, state) => {
          t.transport = [transport, state];
          this.each(jobId, (w) => w.sharedTransport(transport, state, true));
          this.post({ kind: 'transport', jobId, transport, state });
        },
      });
      const end = () => {
        if (this.topics.get(jobId) === t) this.topics.delete(jobId);
      };
      t.relay.done.then(end, (e) => {
        end();
        this.each(jobId, (w) => w.fail(e));
        this.post({ kind: 'gone', jobId, message: e.message, status: e.status, code: e.code });
      });
    }
    t.wanters.add(tab);
    if (tab !== TAB && t.transport) {
      this.post({ kind: 'transport', jobId, transport: t.transport[0], state: t.transport[1] });
    }
    return t;
  }

  unserve(tab, jobId) {
    const t = this.topics.get(jobId);
    if (!t) return;
    t.wanters.delete(tab);
    if (t.wanters.size) return;
    this.topics.delete(jobId);
    t.relay.close();
  }

  relay(jobId, t, ev) {
    // nobody else follows it: no copy to make
    if (t.wanters.size > 1 || !t.wanters.has(TAB)) this.post({ kind: 'event', jobId, ev });
    this.each(jobId, (w) => w.apply(ev, w.gen));
  }

  onMessage(msg) {
    if (!msg || typeof msg !== 'object') return;
    switch (msg.kind) {
      case 'event':
        if (!this.leader) this.each(msg.jobId, (w) => w.apply(msg.ev, w.gen));
        break;
      case 'transport':
        if (!this.leader) {
          this.each(msg.jobId, (w) => w.sharedTransport(msg.transport, msg.state, false));
        }
        break;
      case 'gone':
        if (!this.leader) {
          const e = new DocCountError(msg.message, { status: msg.status, code: msg.code });
          this.each(msg.jobId, (w) => w.fail(e));
        }
        break;
      case 'leader':
        // a new leader: tell it what we follow (from our own ids) and catch up on the gap
        for (const set of this.subs.values()) {
          const w = set.values().next().value;
          if (!w) continue;
          this.post({ kind: 'want', tab: TAB, jobId: w.jobId, cred: w.credentials() });
          for (const s of set) this.catchUp(s);
        }
        break;
      case 'want':
        if (this.leader) this.serve(msg.tab, msg.jobId, msg.cred || {});
        break;
      case 'drop':
        if (this.leader) this.unserve(msg.tab, msg.jobId);
        break;
      case 'bye':
        if (this.leader) for (const jobId of [...this.topics.keys()]) this.unserve(msg.tab, jobId);
        break;
      default:
    }
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
    get shared() {
      return Boolean(w.hub);
    },
    get transport() {
      return w.transport;
    },
  };
}

export const DocCount = { start, watch, streamToken };
export default DocCount;
