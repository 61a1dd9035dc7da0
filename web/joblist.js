// The live job list (from the jobs feed). Items are links (#job=<id>), so a job can also be
// opened in another tab; running jobs get a cancel button.

import { fmtDateTime, fmtNum, fmtTime } from './format.js';
import { badgeOf, TERMINAL } from './jobstate.js';

const LIMIT = 50;

/** What an item shows. */
function signature(j) {
  return `${shape(j)}|${j.progress?.current}`;
}

/** What an item shows but its progress: an item is rebuilt only when this changes. A running
 *  job's count changes every frame; that is one text written in place. */
function shape(j) {
  const p = j.progress || {};
  return [j.status, p.total, j.queuePosition, j.error, j.source, j.createdAt, (j.categories || []).join(), j.name].join('|');
}

export class JobList {
  constructor(ul, { onCancel, labels = {} } = {}) {
    this.ul = ul;
    this.onCancel = onCancel;
    this.labels = labels;
    this.jobs = new Map();
    this.current = null;
    this.frame = 0;
    this.loaded = false;
    this.labelsSig = '';
    this.names = {}; // job id -> short name, from this browser's own submissions
    ul.addEventListener('click', (e) => {
      const btn = e.target.closest('button[data-cancel]');
      if (btn) {
        e.preventDefault();
        this.onCancel?.(btn.dataset.cancel, btn);
      }
    });
  }

  setLabels(labels) {
    this.labels = labels;
    this.labelsSig = Object.values(labels).join(',');
    this.schedule();
  }

  /** The full list (first `jobs` event, or a poll). */
  setAll(jobs) {
    const keep = new Map();
    for (const j of jobs) keep.set(j.id, { ...this.jobs.get(j.id), ...j });
    // keep jobs we know locally (just started, or open) that the server list does not include yet
    for (const [id, j] of this.jobs) if (!keep.has(id) && (id === this.current || j.local)) keep.set(id, j);
    this.jobs = keep;
    this.loaded = true;
    this.schedule();
  }

  upsert(job) {
    if (!job?.id) return;
    const prev = this.jobs.get(job.id);
    // never go back from a terminal status because of a stale summary
    if (prev && TERMINAL.has(prev.status) && !TERMINAL.has(job.status)) return;
    const next = { ...prev, ...job };
    if (prev && signature(prev) === signature(next)) return;
    this.jobs.set(job.id, next);
    this.schedule();
  }

  setNames(names) {
    this.names = { ...names };
    this.schedule();
  }

  setName(id, name) {
    if (this.names[id] === name) return;
    this.names[id] = name;
    this.schedule();
  }

  get(id) {
    return this.jobs.get(id);
  }

  setCurrent(id) {
    this.current = id;
    this.schedule();
  }

  schedule() {
    if (!this.frame) this.frame = requestAnimationFrame(() => this.render());
  }

  /** Reconcile in place: unchanged items keep their nodes (and keyboard focus). */
  render() {
    this.frame = 0;
    const jobs = [...this.jobs.values()]
      .sort((a, b) => (b.createdAt || 0) - (a.createdAt || 0))
      .slice(0, LIMIT);
    const existing = new Map([...this.ul.children].map((li) => [li.dataset.jobId, li]));
    let cursor = this.ul.firstElementChild;
    for (const j of jobs) {
      const sig = `${shape(j)}|${j.id === this.current}|${this.labelsSig}|${this.names[j.id] || ''}`;
      let li = existing.get(j.id);
      existing.delete(j.id);
      if (li && li.dataset.sig !== sig) {
        const focused = li.contains(document.activeElement)
          ? document.activeElement.matches('button') ? 'button' : 'a'
          : null;
        const fresh = this.item(j);
        li.replaceWith(fresh);
        if (cursor === li) cursor = fresh;
        li = fresh;
        if (focused) li.querySelector(focused)?.focus();
      } else if (!li) {
        li = this.item(j);
      }
      li.dataset.sig = sig;
      const sub = li.querySelector('.job-sub');
      const detail = this.detail(j);
      if (sub && sub.textContent !== detail) sub.textContent = detail;
      if (li !== cursor) this.ul.insertBefore(li, cursor);
      else cursor = cursor.nextElementSibling;
    }
    for (const li of existing.values()) li.remove();
    const empty = document.getElementById('jobs-empty');
    if (empty) {
      empty.hidden = jobs.length > 0;
      empty.textContent = this.loaded
        ? '아직 작업이 없습니다. 키워드를 넣고 조회를 시작해 보세요.'
        : '작업 목록을 불러오는 중…';
    }
  }

  item(j) {
    const li = document.createElement('li');
    li.className = `job-item status-${j.status}`;
    li.dataset.jobId = j.id;
    const a = document.createElement('a');
    a.className = 'job-link';
    a.href = `#job=${encodeURIComponent(j.id)}`;
    if (j.id === this.current) a.setAttribute('aria-current', 'true');

    const top = document.createElement('span');
    top.className = 'job-top';
    const badge = document.createElement('span');
    const look = badgeOf(j);
    badge.className = look.cls;
    badge.textContent = look.text;
    top.append(badge);
    const when = document.createElement('span');
    when.className = 'job-when';
    when.textContent = fmtTime(j.createdAt);
    when.title = fmtDateTime(j.createdAt);
    top.append(when);

    const main = document.createElement('span');
    main.className = 'job-main';
    const total = j.progress?.total ?? 0;
    const cats = (j.categories || []).map((c) => this.labels[c] || c).join('·');
    // The server's name ("캠핑 의자 외 29개", or the one given); this browser's guess for jobs
    // from before names existed.
    const name = j.name || this.names[j.id];
    main.textContent = name || `키워드 ${fmtNum(total)}개${cats ? ` · ${cats}` : ''}`;
    main.title = `키워드 ${fmtNum(total)}개${cats ? ` · ${cats}` : ''}`;

    const sub = document.createElement('span');
    sub.className = 'job-sub';
    sub.textContent = this.detail(j);

    a.append(top, main, sub);
    li.append(a);
    if (j.status === 'pending' || j.status === 'processing') {
      const b = document.createElement('button');
      b.type = 'button';
      b.className = 'btn btn-ghost btn-small job-cancel';
      b.dataset.cancel = j.id;
      b.textContent = '취소';
      b.setAttribute('aria-label', `${fmtTime(j.createdAt)} 작업 취소`);
      li.append(b);
    }
    return li;
  }

  detail(j) {
    const p = j.progress || { current: 0, total: 0 };
    switch (j.status) {
      case 'pending':
        return j.queuePosition ? `대기열 ${fmtNum(j.queuePosition)}번째` : '곧 시작';
      case 'processing':
        return `${fmtNum(p.current)} / ${fmtNum(p.total)} 처리`;
      case 'completed':
        return `${fmtNum(p.current)}개 완료${j.source === 'demo' ? ' · 데모' : ''}`;
      case 'failed':
        return j.error ? `실패: ${j.error}` : '실패';
      case 'cancelled':
        return `${fmtNum(p.current)} / ${fmtNum(p.total)}에서 취소`;
      default:
        return '';
    }
  }
}
