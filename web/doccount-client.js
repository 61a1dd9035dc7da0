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
//
// `share: true`: every tab of this origin that watches through the module shares one connection
// per job (a leader tab elected with Web Locks holds it and relays over a BroadcastChannel), since
// browsers allow an origin only six HTTP/1.1 connections and a stream per tab uses them up.

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
    this.lastEventId = o.lastEventId ?? null; // a relay for other tabs resumes from theirs
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
    // shared: this tab's events come from the leader tab's one connection (ShareHub below)
    this.hub = o.share && shareSupported() ? hubFor(this.baseUrl) : null;
    this.shared = null; // [transport, state, info] as the leader last reported it
    if (this.hub) this.hub.want(this);
    else this.connect();
  }

  available(t) {
    if (t === 'sse') return typeof globalThis.EventSource === 'function';
    if (t === 'ws') return typeof globalThis.WebSocket === 'function';
    return true;
  }

  get transport() {
    return this.hub ? this.shared?.[0] || this.order[0] : this.order[this.at];
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

  /** One event (SSE data, WebSocket frame, or a poll turned into a snapshot). */
  apply(ev, gen) {
    if (gen !== this.gen || this.closed) return;
    // events reach a shared watch from a catch-up and a relay at once: never step back
    if (ev.id != null) {
      this.lastEventId = this.hub ? newerId(this.lastEventId, ev.id) : String(ev.id);
    }
    this.o.relay?.(ev);
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
    if (!this.hub) this.call('onTransport', this.transport, 'failed');
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
    if (!this.closed) this.hub?.drop(this);
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
