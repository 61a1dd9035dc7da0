// Live updates for one job, or for the jobs feed, over the best transport that works here:
// SSE first, WebSocket where SSE fails, polling as the last resort (as the seed did, every 2 s,
// but asking only for what came after the last event seen: `?since=`).
//
// A transport that never delivers is only blamed after a probe through plain HTTP succeeds:
// if the probe fails too, the server is down and we keep retrying the same transport.

import { api, ApiError, MSG_UNREACHABLE, requestToken, withStreamToken } from './api.js';

export const TRANSPORT_LABELS = { sse: 'SSE', ws: 'WebSocket', poll: '폴링' };
const ORDER = ['sse', 'ws', 'poll'];
const POLL_MS = { job: 2000, jobs: 5000 };
const USEFUL_AFTER_MS = 4000; // a connection that lived this long without error counts as working

/** A server frame as an object, or null for anything that is not JSON. */
function parseFrame(text) {
  try {
    return JSON.parse(text);
  } catch {
    return null;
  }
}

/** Whether a connection that just failed had worked: it delivered, or it lived long enough. */
function wasUseful(got, openedAt) {
  return got || (openedAt > 0 && Date.now() - openedAt > USEFUL_AFTER_MS);
}

function available(t) {
  if (t === 'sse') return typeof window.EventSource === 'function';
  if (t === 'ws') return typeof window.WebSocket === 'function';
  return true;
}

// The SSE event names to listen for: the server's list, from /api/config (setEventTypes);
// streams start only once the config is in. An unnamed `message` is always heard.
let eventTypes = [];

export function setEventTypes(types) {
  if (Array.isArray(types)) eventTypes = types.filter((t) => typeof t === 'string');
}

// Transports before ORDER[floor] have proven broken on this page (shared by every stream).
let floor = 0;

function best() {
  for (let i = floor; i < ORDER.length; i++) if (available(ORDER[i])) return ORDER[i];
  return 'poll';
}

function demote(t) {
  const i = ORDER.indexOf(t);
  if (i >= floor) floor = i + 1;
}

export class LiveStream {
  /**
   * @param {object} o
   * @param {'job'|'jobs'} o.kind
   * @param {string} [o.jobId]
   * @param {() => (string|null)} [o.lastEventId]  resume point, read at every (re)connect
   * @param {(ev: object) => (boolean|void)} o.onEvent  return true when the stream is over
   * @param {(s: {transport: string, state: string, detail: string}) => void} [o.onState]
   * @param {(err: ApiError) => void} [o.onGone]  the job does not exist (any more)
   */
  constructor(o) {
    Object.assign(this, o);
    this.stopped = true;
    this.conn = null;
    this.timer = null;
    this.gen = 0;
    this.retries = 0;
    this.blindFails = 0;
    this.transport = null;
    this.state = 'idle';
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
    this.transport = best();
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
    if (end) this.stop('done');
  }

  resumeId() {
    return this.kind === 'job' ? this.lastEventId?.() || null : null;
  }

  /** `url` with a stream token of this stream's scope; null when the stream moved on meanwhile. */
  async streamUrl(url, gen) {
    const scope = this.kind === 'jobs' ? { jobs: 'all' } : { jobId: this.jobId };
    let full;
    try {
      full = await withStreamToken(url, scope);
    } catch (e) {
      if (!this.live(gen)) return null;
      if (e instanceof ApiError && e.status === 404) {
        this.stop('idle');
        this.onGone?.(e);
      } else {
        this.failed(gen, false);
      }
      return null;
    }
    return this.live(gen) ? full : null;
  }

  // --- SSE -------------------------------------------------------------------------------

  async openSSE(gen) {
    let url =
      this.kind === 'jobs'
        ? '/api/documents/events?jobs=all'
        : `/api/documents/events?jobId=${encodeURIComponent(this.jobId)}`;
    const last = this.resumeId();
    if (last) url += `&lastEventId=${encodeURIComponent(last)}`;
    url = await this.streamUrl(url, gen);
    if (url === null) return;
    let es;
    try {
      es = new EventSource(url);
    } catch {
      demote('sse');
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
    for (const t of [...eventTypes, 'message']) {
      es.addEventListener(t, onMessage);
    }
    es.onerror = (e) => {
      if (!this.live(gen)) return;
      if (e && typeof e.data === 'string' && e.data) {
        // a server-sent `event: error`, not a connection failure
        try {
          this.serverError(JSON.parse(e.data), gen);
        } catch {
          /* ignore */
        }
        return;
      }
      // We reconnect ourselves (with a fresh ?lastEventId=) instead of letting EventSource do it.
      es.close();
      this.conn = null;
      this.failed(gen, wasUseful(got, openedAt));
    };
  }

  // --- WebSocket -------------------------------------------------------------------------

  async openWS(gen) {
    const proto = location.protocol === 'https:' ? 'wss:' : 'ws:';
    const url = await this.streamUrl(`${proto}//${location.host}/api/documents/ws`, gen);
    if (url === null) return;
    let ws;
    try {
      ws = new WebSocket(url);
    } catch {
      demote('ws');
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
      this.failed(gen, wasUseful(got, openedAt));
    };
  }

  serverError(data, gen) {
    if (!this.live(gen)) return;
    const err = new ApiError(data.message || data.error || '실시간 연결 오류', {
      code: data.code || 'error',
      status: data.code === 'unauthorized' ? 401 : data.code === 'job_not_found' ? 404 : 0,
    });
    if (err.status === 404) {
      this.stop('idle');
      this.onGone?.(err);
    } else if (err.status === 401) {
      this.closeConn();
      requestToken(true).then((ok) => {
        if (!this.live(gen)) return;
        if (ok) this.connect();
        else this.stop('error', 'API 토큰이 필요합니다.');
      });
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
        demote(t);
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

  /** One plain HTTP request: also the polling step. Returns 'ok' | 'down' | 'gone' | 'auth' | 'end'. */
  async probe(gen) {
    try {
      if (this.kind === 'jobs') {
        const data = await api('/api/documents/jobs?limit=50');
        this.deliver({ type: 'jobs', jobs: data.jobs || [] }, gen);
      } else {
        this.deliver({ type: 'poll', job: await this.pollJob() }, gen);
      }
      return this.live(gen) ? 'ok' : 'end';
    } catch (e) {
      if (!this.live(gen)) return 'end';
      if (e instanceof ApiError && e.status === 404) {
        this.stop('idle');
        this.onGone?.(e);
        return 'gone';
      }
      if (e instanceof ApiError && e.status === 401) {
        this.stop('error', e.message);
        return 'auth';
      }
      this.emitState('offline', e instanceof ApiError && !e.network ? e.message : MSG_UNREACHABLE);
      return 'down';
    }
  }

  // --- polling ---------------------------------------------------------------------------

  /**
   * The job, with only the results after the last event this page has (`since`): a poll
   * with nothing new is a few hundred bytes whatever the job's size. The answer's results
   * merge into what the page holds (by index); after a gap they are all of them.
   */
  async pollJob() {
    const url = `/api/documents/status?jobId=${encodeURIComponent(this.jobId)}`;
    const since = this.resumeId();
    if (!since) return (await api(url)).job;
    try {
      return (await api(`${url}&since=${encodeURIComponent(since)}`)).job;
    } catch (e) {
      // An id this job's log never issued (a page restored from another store): ask for all.
      if (e instanceof ApiError && e.status === 400) return (await api(url)).job;
      throw e;
    }
  }

  poll(gen) {
    const every = POLL_MS[this.kind];
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
