// One live connection per browser for every dashboard tab of this origin.
//
// Browsers give an origin six HTTP/1.1 connections; with a stream per tab, the seventh tab
// cannot even load. So one tab, the leader (elected with the Web Locks API: whoever holds the
// lock leads, and the browser hands it to the next tab when the leader closes or crashes),
// holds the streams (`LiveStream`: SSE, else WebSocket, else polling), one per topic that any
// tab wants (the jobs feed, a running job), and relays every event and connection state over
// a BroadcastChannel. The other tabs apply what arrives exactly as if it came from their own
// stream; JobState keys rows by index, so seeing an event twice never makes a second row.
//
// Nothing missed: a tab that joins a topic (or re-joins one after a new leader takes over, or
// after being hidden) first catches up with one plain request (the job's status, or the jobs
// list), then follows the relayed events. A new leader resumes each stream from the
// lastEventId of the tab that asked for it.
//
// Why not a SharedWorker: it has no localStorage (the token), no fallback on Chrome for
// Android, and would need the transport rewritten for a worker; the leader runs the page's own
// LiveStream unchanged. Where Web Locks or BroadcastChannel are missing, every tab streams
// for itself, as before.

import { api, ApiError } from './api.js';
import { newerId, TERMINAL } from './jobstate.js';
import { LiveStream } from './transport.js';

const CHANNEL = 'doccount:live:v1';
const LOCK = 'doccount:live-leader';

export const sharingSupported =
  typeof BroadcastChannel === 'function' && typeof navigator !== 'undefined' && Boolean(navigator.locks?.request);

const tabId = (crypto.randomUUID?.() || `${Date.now()}-${Math.random()}`).toString();

const topicOf = (kind, jobId) => (kind === 'jobs' ? 'jobs' : `job:${jobId}`);

/** Whether an event ends a job's stream (a final status). */
function ends(ev) {
  if (ev.type === 'status') return TERMINAL.has(ev.status);
  if (ev.type === 'snapshot' || ev.type === 'poll') return TERMINAL.has(ev.job?.status);
  return false;
}

class Hub {
  constructor() {
    this.leader = !sharingSupported; // alone, every tab leads itself
    this.subs = new Map(); // topic -> Set<Subscription> of this tab
    this.topics = new Map(); // leader only: topic -> {stream, wanters: Set<tabId>, lastEventId, state}
    this.channel = null;
    if (sharingSupported) {
      this.channel = new BroadcastChannel(CHANNEL);
      this.channel.onmessage = (e) => this.onMessage(e.data);
      navigator.locks.request(LOCK, () => this.lead());
      window.addEventListener('pagehide', () => this.post({ kind: 'bye', tab: tabId }));
    }
  }

  post(msg) {
    try {
      this.channel?.postMessage(msg);
    } catch {
      /* a closed channel (the page is going away) */
    }
  }

  // --- this tab's subscriptions ----------------------------------------------------------

  want(sub) {
    let set = this.subs.get(sub.topic);
    if (!set) this.subs.set(sub.topic, (set = new Set()));
    set.add(sub);
    if (this.leader) {
      const existed = this.topics.has(sub.topic);
      this.serve(tabId, sub.topic, sub);
      if (existed) this.catchUp(sub); // the stream is further on than this tab
      this.localState(sub.topic);
    } else {
      this.post({ kind: 'want', tab: tabId, topic: sub.topic, lastEventId: sub.resumeId() });
      this.catchUp(sub);
    }
  }

  drop(sub) {
    const set = this.subs.get(sub.topic);
    if (!set?.delete(sub) || set.size) return;
    this.subs.delete(sub.topic);
    if (this.leader) this.unserve(tabId, sub.topic);
    else this.post({ kind: 'drop', tab: tabId, topic: sub.topic });
  }

  /** One plain request for what this tab may have missed; the relayed events follow. */
  async catchUp(sub) {
    const gen = sub.gen;
    try {
      const ev =
        sub.kind === 'jobs'
          ? { type: 'jobs', jobs: (await api('/api/documents/jobs?limit=50')).jobs || [] }
          : {
              type: 'poll',
              job: (await api(`/api/documents/status?jobId=${encodeURIComponent(sub.jobId)}`)).job,
            };
      if (sub.gen === gen) sub.deliver(ev);
    } catch (e) {
      if (sub.gen === gen && e instanceof ApiError && e.status === 404) sub.gone(e);
      // anything else: the stream's own events (and its probe) say what is wrong
    }
  }

  deliverLocal(topic, ev) {
    for (const sub of [...(this.subs.get(topic) || [])]) sub.deliver(ev);
  }

  stateLocal(topic, state) {
    for (const sub of [...(this.subs.get(topic) || [])]) sub.emitState(state);
  }

  localState(topic) {
    const t = this.topics.get(topic);
    if (t?.state) this.stateLocal(topic, t.state);
  }

  // --- the leader ------------------------------------------------------------------------

  lead() {
    this.leader = true;
    this.post({ kind: 'leader', tab: tabId });
    // our own topics first, resuming from our own ids; the others ask again on 'leader'
    for (const [topic, set] of this.subs) {
      const sub = set.values().next().value;
      if (sub) this.serve(tabId, topic, sub);
    }
    return new Promise(() => {}); // held until this tab goes away
  }

  serve(tab, topic, { kind, jobId, lastEventId: last }) {
    const lastEventId = typeof last === 'function' ? last() : last;
    let t = this.topics.get(topic);
    if (!t) {
      t = { wanters: new Set(), lastEventId: lastEventId ?? null, state: null, stream: null };
      this.topics.set(topic, t);
      t.stream = new LiveStream({
        kind,
        jobId,
        lastEventId: () => t.lastEventId,
        onEvent: (ev) => this.relay(topic, t, ev),
        onState: (s) => {
          t.state = { ...s, shared: sharingSupported, leader: true };
          this.stateLocal(topic, t.state);
          this.post({ kind: 'state', topic, state: { ...t.state, leader: false } });
        },
        onGone: (err) => {
          this.topics.delete(topic);
          for (const sub of [...(this.subs.get(topic) || [])]) sub.gone(err);
          this.post({ kind: 'gone', topic, message: err?.message || '' });
        },
      });
      t.stream.start();
    } else if (t.stream.stopped) {
      // a stream that gave up (a rejected token, say) starts again for a tab that asks anew
      t.stream.start();
    }
    t.wanters.add(tab);
    if (tab !== tabId && t.state) this.post({ kind: 'state', topic, state: { ...t.state, leader: false } });
  }

  unserve(tab, topic) {
    const t = this.topics.get(topic);
    if (!t) return;
    t.wanters.delete(tab);
    if (t.wanters.size) return;
    t.stream.stop();
    this.topics.delete(topic);
  }

  relay(topic, t, ev) {
    if (ev.type === 'snapshot' && ev.gap === true) t.lastEventId = null;
    const id = ev.type === 'snapshot' ? (ev.id ?? ev.job?.lastEventId) : ev.type === 'poll' ? ev.job?.lastEventId : ev.id;
    if (id != null) t.lastEventId = newerId(t.lastEventId, String(id));
    // no other tab wants it: no copy to make (a structured clone per event adds up at 400/s)
    if (t.wanters.size > 1 || !t.wanters.has(tabId)) this.post({ kind: 'event', topic, ev });
    this.deliverLocal(topic, ev);
    const end = topic !== 'jobs' && ends(ev);
    if (end) this.topics.delete(topic);
    return end;
  }

  // --- messages from the other tabs ------------------------------------------------------

  onMessage(msg) {
    if (!msg || typeof msg !== 'object') return;
    switch (msg.kind) {
      case 'event':
        if (!this.leader) this.deliverLocal(msg.topic, msg.ev);
        break;
      case 'state':
        if (!this.leader) this.stateLocal(msg.topic, msg.state);
        break;
      case 'gone':
        if (!this.leader) {
          const err = new ApiError(msg.message || '작업을 찾을 수 없습니다.', { status: 404, code: 'job_not_found' });
          for (const sub of [...(this.subs.get(msg.topic) || [])]) sub.gone(err);
        }
        break;
      case 'leader':
        // a new leader: tell it what we watch (from our own ids) and catch up on the gap
        for (const set of this.subs.values()) {
          const sub = set.values().next().value;
          if (!sub) continue;
          this.post({ kind: 'want', tab: tabId, topic: sub.topic, lastEventId: sub.resumeId() });
          for (const s of set) this.catchUp(s);
        }
        break;
      case 'want':
        if (this.leader) {
          const [kind, jobId] = msg.topic === 'jobs' ? ['jobs', null] : ['job', msg.topic.slice(4)];
          this.serve(msg.tab, msg.topic, { kind, jobId, lastEventId: msg.lastEventId });
        }
        break;
      case 'drop':
        if (this.leader) this.unserve(msg.tab, msg.topic);
        break;
      case 'bye':
        if (this.leader) for (const topic of [...this.topics.keys()]) this.unserve(msg.tab, topic);
        break;
      default:
    }
  }
}

let hub = null;

/**
 * A live subscription with LiveStream's surface (start, stop, stopped), served by this
 * browser's one shared connection.
 */
export class SharedStream {
  /** @param {object} o  as for LiveStream: kind, jobId, lastEventId(), onEvent, onState, onGone */
  constructor(o) {
    Object.assign(this, o);
    this.topic = topicOf(o.kind, o.jobId);
    this.stopped = true;
    this.gen = 0;
    this.state = 'idle';
  }

  resumeId() {
    return this.kind === 'job' ? this.lastEventId?.() || null : null;
  }

  start() {
    if (!this.stopped) return;
    hub ||= new Hub();
    this.stopped = false;
    this.gen++;
    hub.want(this);
  }

  stop(state = 'idle') {
    if (this.stopped) return;
    this.stopped = true;
    this.gen++;
    hub.drop(this);
    this.emitState({ transport: null, state, detail: '' }, true);
  }

  deliver(ev) {
    if (this.stopped) return;
    let end = false;
    try {
      end = this.onEvent(ev) === true;
    } catch (e) {
      console.error('doccount: event handler failed', e, ev);
    }
    if (end) this.stop('done');
  }

  emitState(s, force = false) {
    if (this.stopped && !force) return;
    this.state = s.state;
    this.onState?.(s);
  }

  gone(err) {
    if (this.stopped) return;
    this.stopped = true;
    this.gen++;
    hub.drop(this);
    this.onGone?.(err);
  }
}
