// What the page knows about one job: the summary, the results keyed by `index` (so an event
// seen twice, after a reconnect or a transport switch, never makes a second row), the last
// event id to resume from, and the rate / ETA.

export const TERMINAL = new Set(['completed', 'failed', 'cancelled']);

export const NO_WORKER_TEXT = '작업자 없음 · 작업자가 시작되면 조회합니다';
export const STALLED_TEXT = '멈춤, 곧 다른 작업자가 이어받습니다';
/** Every key's daily quota is spent: the job waits for midnight KST and resumes by itself. */
export function quotaText(resumesAtMs) {
  if (typeof resumesAtMs !== 'number') return '일일 호출 한도 소진 · 한도가 초기화되면 자동으로 재개합니다';
  // Korea keeps no daylight saving time: a fixed +9 h offset is exact.
  const at = new Date(resumesAtMs + 9 * 3600 * 1000).toISOString();
  return `일일 호출 한도 소진 · ${at.slice(0, 10)} ${at.slice(11, 16)} KST에 자동으로 재개합니다`;
}

/** The badge of a job: a completed job with failed keywords is not a clean success. */
export function badgeOf(job, failed = job.failedCount || 0) {
  if (job.status === 'completed' && failed > 0) {
    return { cls: 'badge badge-completed-errors', text: `완료 (오류 ${failed})` };
  }
  return { cls: `badge badge-${job.status}`, text: STATUS_LABELS[job.status] || job.status };
}

export const STATUS_LABELS = {
  pending: '대기 중',
  processing: '진행 중',
  completed: '완료',
  failed: '실패',
  cancelled: '취소됨',
};

const RATE_WINDOW_MS = 20_000;

/** The later of two event ids (numeric ids compare as numbers; anything else: the newer wins). */
export function newerId(a, b) {
  if (b == null || b === '') return a;
  if (a == null || a === '') return String(b);
  const na = /^\d+$/.test(a);
  const nb = /^\d+$/.test(String(b));
  if (na && nb) return BigInt(b) > BigInt(a) ? String(b) : a;
  return String(b);
}
const SERVER_RATE_FRESH_MS = 8_000;

/** Whether `next` says more than `held` about the same keyword: its search volume (or why
 *  there is none) arrived after its counts. Never the other way: a stale poll without the
 *  volume does not take it back. */
function updates(held, next) {
  if (next.searchVolume && !held.searchVolume) return true;
  const why = (x) => x.errors?.searchVolume;
  return Boolean(why(next)) && !why(held) && !held.searchVolume;
}

export class JobState {
  constructor(id) {
    this.id = id;
    this.job = {
      id,
      status: 'pending',
      progress: { current: 0, total: 0 },
      categories: [],
      priority: 'normal',
      queuePosition: null,
      createdAt: null,
      startedAt: null,
      completedAt: null,
      error: null,
      source: null,
    };
    this.results = new Map(); // index -> Result
    this.lastEventId = null;
    this.known = false; // seen from the server or the cache at least once
    this.serverRate = null; // {rate, etaMs, at}
    this.samples = []; // [{t, current}] observed progress, for a local rate when the server gives none
    this.cancelling = false;
  }

  get status() {
    return this.job.status;
  }

  get terminal() {
    return TERMINAL.has(this.job.status);
  }

  get categories() {
    return this.job.categories || [];
  }

  /** Results in index order. */
  sortedResults() {
    return [...this.results.values()].sort((a, b) => a.index - b.index);
  }

  /**
   * Merge a whole job (snapshot, status poll, or cache).
   * @returns {{reset: boolean, added: object[]}} reset: the caller must rebuild the table.
   */
  mergeJob(job, { replace = false } = {}) {
    if (!job) return { reset: false, added: [] };
    const { results, ...summary } = job;
    if (summary.status) {
      // the server names these only while they hold: a summary without them clears them
      summary.waiting = summary.waiting ?? null;
      summary.stalled = summary.stalled === true;
      summary.stalledSinceMs = summary.stalledSinceMs ?? null;
      summary.resumesAtMs = summary.resumesAtMs ?? null;
    }
    const prevCats = this.categories.join(',');
    const prevStatus = this.job.status;
    const prevProgress = this.job.progress;
    Object.assign(this.job, summary);
    // a late, stale answer never takes a finished job back to running
    if (!replace && TERMINAL.has(prevStatus) && !TERMINAL.has(this.job.status)) {
      this.job.status = prevStatus;
    }
    if (!replace && prevProgress && summary.progress && summary.progress.total === prevProgress.total) {
      this.job.progress = {
        current: Math.max(prevProgress.current, summary.progress.current),
        total: summary.progress.total,
      };
    }
    const reset = replace || prevCats !== this.categories.join(',');
    if (reset) this.results.clear();
    const added = [];
    (results || []).forEach((r, i) => {
      const row = r.index == null ? { ...r, index: i } : r;
      if (!this.results.has(row.index) || updates(this.results.get(row.index), row)) {
        this.results.set(row.index, row);
        added.push(row);
      }
    });
    this.known = true;
    this.sample();
    return { reset, added };
  }

  /**
   * The one way the page changes a job: apply one event to it. Server events (`snapshot`,
   * `poll`, `result`, `progress`, `status`) and the page's own (`summary`: what the job list
   * or the form knows; `queue`: a fresher queue position; `cancelling`: the user asked to
   * cancel, the final status is still to come).
   * @returns {{handled: boolean, reset: boolean, added: object[], statusFrom: string|null}}
   *   reset: the caller must rebuild the table; added: rows new to the table;
   *   statusFrom: the status before, when this event changed it.
   */
  apply(ev) {
    const out = { handled: true, reset: false, added: [], statusFrom: null };
    const wasStatus = this.job.status;
    switch (ev.type) {
      case 'summary':
        Object.assign(out, this.mergeJob(ev.job));
        break;
      case 'snapshot':
      case 'poll': {
        const replace = ev.type === 'snapshot' && ev.gap === true;
        if (replace) this.lastEventId = null;
        Object.assign(out, this.mergeJob(ev.job, { replace }));
        this.lastEventId = newerId(
          this.lastEventId,
          ev.type === 'snapshot' ? (ev.id ?? ev.job?.lastEventId) : ev.job?.lastEventId,
        );
        break;
      }
      case 'result': {
        this.job.stalled = false; // counting again
        this.job.waiting = null;
        const row = this.addResult(ev.result);
        if (row) out.added.push(row);
        this.setProgress(ev.progress);
        break;
      }
      case 'progress':
        this.setProgress(ev.progress);
        this.setServerRate(ev.ratePerSec, ev.etaMs);
        // the server's health watch: nobody counts this job (or somebody does again)
        if ('waiting' in ev) {
          this.job.waiting = ev.waiting;
          this.job.resumesAtMs = ev.resumesAtMs ?? null;
        }
        if ('stalled' in ev) {
          this.job.stalled = ev.stalled === true;
          this.job.stalledSinceMs = ev.stalledSinceMs ?? null;
        }
        break;
      case 'status':
        if (!(TERMINAL.has(this.job.status) && !TERMINAL.has(ev.status))) this.job.status = ev.status;
        if ('error' in ev) this.job.error = ev.error;
        this.setProgress(ev.progress);
        if (ev.status === 'processing' && !this.job.startedAt) this.job.startedAt = Date.now();
        if (TERMINAL.has(ev.status) && !this.job.completedAt) this.job.completedAt = Date.now();
        if (ev.status !== 'pending') this.job.queuePosition = null;
        break;
      case 'queue':
        if (this.job.status === 'pending' && ev.queuePosition != null) this.job.queuePosition = ev.queuePosition;
        break;
      case 'cancelling':
        if (!this.terminal) this.cancelling = true;
        break;
      default:
        out.handled = false;
        return out;
    }
    const serverEvent = ev.type === 'result' || ev.type === 'progress' || ev.type === 'status';
    if (serverEvent && ev.id != null) this.lastEventId = newerId(this.lastEventId, String(ev.id));
    if (this.job.status !== wasStatus) out.statusFrom = wasStatus;
    return out;
  }

  /** @returns the result when it is new, or newer than the one held (a second `result`
   *  event with the same index: its search volume arrived after its counts), else null */
  addResult(r) {
    if (!r) return null;
    const row = r.index == null ? { ...r, index: this.results.size } : r;
    const held = this.results.get(row.index);
    if (held && !updates(held, row)) return null;
    this.results.set(row.index, row);
    return row;
  }

  setProgress(p) {
    if (!p || typeof p.current !== 'number') return;
    const cur = this.job.progress || { current: 0, total: 0 };
    if (p.total !== cur.total || p.current >= cur.current) this.job.progress = { ...p };
    this.sample();
  }

  setServerRate(rate, etaMs) {
    if (typeof rate === 'number' || typeof etaMs === 'number') {
      this.serverRate = { rate, etaMs, at: Date.now() };
    }
  }

  sample() {
    const now = Date.now();
    const current = this.job.progress?.current ?? 0;
    const last = this.samples[this.samples.length - 1];
    if (!last || last.current !== current) this.samples.push({ t: now, current });
    while (this.samples.length > 2 && now - this.samples[0].t > RATE_WINDOW_MS) this.samples.shift();
  }

  /** {rate: keywords/s | null, etaMs: ms | null} */
  estimate(now = Date.now()) {
    const { current = 0, total = 0 } = this.job.progress || {};
    if (this.status !== 'processing') return { rate: null, etaMs: null };
    const sr = this.serverRate;
    if (sr && now - sr.at < SERVER_RATE_FRESH_MS) {
      const etaMs = typeof sr.etaMs === 'number' ? Math.max(0, sr.etaMs - (now - sr.at)) : null;
      return { rate: sr.rate ?? null, etaMs };
    }
    let rate = null;
    const first = this.samples[0];
    const last = this.samples[this.samples.length - 1];
    if (first && last && last.t > first.t && last.current > first.current) {
      rate = ((last.current - first.current) * 1000) / (now - first.t);
    } else if (this.job.startedAt && current > 0 && now > this.job.startedAt) {
      rate = (current * 1000) / (now - this.job.startedAt);
    }
    const etaMs = rate ? ((total - current) / rate) * 1000 : null;
    return { rate, etaMs };
  }

  /** What goes into localStorage. */
  toCache() {
    return { job: { ...this.job }, results: this.sortedResults(), lastEventId: this.lastEventId };
  }

  static fromCache(id, cached) {
    const s = new JobState(id);
    s.mergeJob({ ...cached.job, results: cached.results || [] }, { replace: true });
    s.lastEventId = cached.lastEventId || null;
    s.samples = [];
    return s;
  }
}
