// The open job: which job is shown, its live stream, what each event does to the page, and
// rendering it (at most once per animation frame). The job's state itself changes only in
// JobState.apply; this module reacts to what apply reports.

import { renderConn } from './conn.js';
import { $, announce, hideToast, setAttr, setText, toast } from './dom.js';
import { fmtDateTime, fmtDuration, fmtNum, fmtRate, fmtTime } from './format.js';
import { jobName } from './form.js';
import { badgeOf, JobState, NO_WORKER_TEXT, quotaText, STALLED_TEXT, TERMINAL } from './jobstate.js';
import { page, PRIORITY_LABELS } from './page.js';
import { store } from './store.js';
import { SharedStream } from './shared.js';

let frame = 0;
let hiddenRender = 0;
let saveTimer = 0;

// --- which job is open ---------------------------------------------------------------------

export function hashJob() {
  const m = location.hash.match(/^#job=(.+)$/);
  if (!m) return null;
  try {
    return decodeURIComponent(m[1]);
  } catch {
    return null;
  }
}

function setHash(id) {
  const h = id ? `#job=${encodeURIComponent(id)}` : '';
  if (location.hash !== h) history.replaceState(null, '', h || location.pathname + location.search);
}

function closeJob() {
  if (page.stream) page.stream.stop();
  page.stream = null;
  if (page.job) saveNow(page.job);
  page.job = null;
  page.conn.job = null;
}

/** Bring the open job's header (title, status, progress) into view when it is not: a job
 *  opened from the list further down, or started from the form, is seen from its top. */
function revealJobHead() {
  const panel = $('job-panel');
  const top = panel.getBoundingClientRect().top;
  const bottom = $('progress-block').hidden
    ? $('job-meta').getBoundingClientRect().bottom
    : $('progress-block').getBoundingClientRect().bottom;
  if (top >= 0 && bottom <= window.innerHeight) return;
  const smooth = !window.matchMedia('(prefers-reduced-motion: reduce)').matches;
  panel.scrollIntoView({ block: 'start', behavior: smooth ? 'smooth' : 'auto' });
}

export function openJob(id, { summary } = {}) {
  if (page.job?.id === id) {
    revealJobHead();
    return;
  }
  closeJob();
  const cached = store.loadJob(id);
  const st = cached?.job ? JobState.fromCache(id, cached) : new JobState(id);
  if (!cached?.job) {
    const known = summary || page.jobList.get(id);
    if (known) st.apply({ type: 'summary', job: known });
  }
  st.announced = { status: st.status, pct: 0 };
  page.job = st;
  store.setCurrentJob(id);
  setHash(id);
  page.jobList.setCurrent(id);
  $('job-error').hidden = true;
  $('job-notice').hidden = true;
  $('table-filter').value = '';
  page.table.setFilter('');
  page.table.setColumns(st.categories, page.labels);
  page.table.add(st.sortedResults());
  renderNow();
  revealJobHead();
  // A finished job from the cache opens without a single request.
  if (!(cached?.job && st.terminal) && page.ready) startJobStream(st);
  else renderConn();
}

/** Column labels may have been guessed (category names) before the config arrived. */
export function relabelJob() {
  const st = page.job;
  if (!st) return;
  page.table.setColumns(st.categories, page.labels);
  page.table.add(st.sortedResults());
}

export function startJobStream(st) {
  if (page.stream || st !== page.job) return;
  page.stream = new SharedStream({
    kind: 'job',
    jobId: st.id,
    lastEventId: () => st.lastEventId,
    onEvent: (ev) => onJobEvent(st, ev),
    onState: (s) => {
      page.conn.job = s;
      renderConn();
    },
    onGone: () => onJobGone(st),
  });
  page.stream.start();
}

/** After a new token: a stream that stopped on 401 starts again. */
export function restartJobStream() {
  if (page.job && page.stream?.stopped && !page.job.terminal) {
    page.stream = null;
    startJobStream(page.job);
  }
}

/** Apply an event from outside the job's own stream (the jobs feed, the list refresh). */
export function applyToOpenJob(jobId, ev) {
  const st = page.job;
  if (!st || st.id !== jobId) return;
  st.apply(ev);
  scheduleRender();
}

// --- events --------------------------------------------------------------------------------

function onJobEvent(st, ev) {
  if (st !== page.job) return true;
  const { handled, reset, added, statusFrom } = st.apply(ev);
  if (!handled) return false;
  if (reset) {
    page.table.setColumns(st.categories, page.labels);
    page.table.add(st.sortedResults());
  } else if (added.length) {
    page.table.add(added);
  }
  if (statusFrom !== null) onStatusChange(st);
  scheduleRender();
  if (st.terminal) {
    saveNow(st);
    return true; // the stream is over: close it (EventSource would reconnect otherwise)
  }
  scheduleSave(st);
  return false;
}

function onStatusChange(st) {
  const p = st.job.progress || { current: 0, total: 0 };
  const errors = countErrors(st);
  switch (st.status) {
    case 'processing':
      announce('작업이 시작되었습니다.');
      break;
    case 'completed': {
      const msg = `작업이 완료되었습니다. 키워드 ${fmtNum(p.total)}개${errors ? `, 오류 ${fmtNum(errors)}개` : ''}.`;
      announce(msg);
      if (st.announced?.status && !TERMINAL.has(st.announced.status)) toast(msg, 'success');
      break;
    }
    case 'failed':
      announce(`작업이 실패했습니다. ${st.job.error || ''}`);
      break;
    case 'cancelled':
      announce(`작업이 취소되었습니다. ${fmtNum(p.current)}개까지 조회한 결과가 남아 있습니다.`);
      break;
    default:
  }
  if (st.announced) st.announced.status = st.status;
}

function onJobGone(st) {
  if (st !== page.job) return;
  page.stream = null;
  if (st.results.size) {
    showNotice('서버에서 이 작업을 더 이상 찾을 수 없습니다. 이 브라우저에 저장된 결과만 보여 드립니다.');
  } else {
    store.dropJob(st.id);
    if (store.currentJob() === st.id) store.setCurrentJob(null);
    showJobError('작업을 찾을 수 없습니다. 보관 기간이 지났거나 다른 서버에서 만든 작업입니다.');
  }
  renderConn();
  scheduleRender();
}

function showJobError(message) {
  const el = $('job-error');
  el.textContent = message || '';
  el.hidden = !message;
  if (message) hideToast(); // "시작되었습니다" next to a failure would be untrue
}

function showNotice(message) {
  const el = $('job-notice');
  el.textContent = message || '';
  el.hidden = !message;
}

function countErrors(st) {
  let n = 0;
  for (const r of st.results.values()) if (r.error || (r.errors && Object.keys(r.errors).length)) n++;
  return n;
}

function countCached(st) {
  let n = 0;
  for (const r of st.results.values()) if (r.cached?.length) n++;
  return n;
}

// --- persistence ---------------------------------------------------------------------------

function scheduleSave(st) {
  if (saveTimer) return;
  saveTimer = setTimeout(() => {
    saveTimer = 0;
    saveNow(st);
  }, 800);
}

export function saveNow(st) {
  clearTimeout(saveTimer);
  saveTimer = 0;
  if (st?.known) store.saveJob(st.id, st.toCache());
}

// --- rendering (at most once per frame) ----------------------------------------------------

export function scheduleRender() {
  if (frame || hiddenRender) return;
  if (document.hidden) {
    // no animation frames in a background tab: still keep the title's progress current
    hiddenRender = setTimeout(renderNow, 1000);
  } else {
    frame = requestAnimationFrame(renderNow);
  }
}

export function renderNow() {
  cancelAnimationFrame(frame);
  clearTimeout(hiddenRender);
  frame = 0;
  hiddenRender = 0;
  const st = page.job;
  $('empty-state').hidden = Boolean(st);
  if (document.body.classList.contains('job-open') !== Boolean(st)) {
    document.body.classList.toggle('job-open', Boolean(st)); // a phone puts an open job first
  }
  $('results').hidden = !st;
  if (!st) {
    $('progress-block').hidden = true;
    $('job-status').hidden = true;
    $('job-source').hidden = true;
    $('cancel-job').hidden = true;
    setText($('job-meta'), '');
    $('export-csv').disabled = true;
    $('export-xlsx').disabled = true;
    $('copy-tsv').disabled = true;
    $('legend').hidden = true;
    $('table-tools').hidden = true;
    document.title = '문서수 조회';
    return;
  }
  const j = st.job;
  const p = j.progress || { current: 0, total: 0 };
  const pct = p.total ? Math.floor((p.current / p.total) * 100) : 0;

  // the job's name heads it (the server's, or this browser's for jobs from before names), as
  // in the list; without one, its start time
  const name = j.name || page.jobList.names[st.id] || '';
  setText($('job-title'), name || (j.createdAt ? `결과 · ${fmtTime(j.createdAt)}` : '결과'));
  const badge = $('job-status');
  badge.hidden = !st.known;
  const failed = Math.max(j.failedCount || 0, countErrors(st));
  if (failed > (j.failedCount || 0)) j.failedCount = failed; // the list shows it too
  const look = badgeOf(j, failed);
  setAttr(badge, 'class', look.cls);
  setText(badge, st.cancelling && !st.terminal ? '취소 중' : look.text);
  let isDemo = j.source === 'demo';
  if (!isDemo) {
    for (const r of st.results.values()) {
      if (r.source === 'demo') {
        isDemo = true;
        break;
      }
    }
  }
  $('job-source').hidden = !isDemo;

  const meta = [];
  if (name && j.createdAt) meta.push(fmtTime(j.createdAt));
  if (p.total) meta.push(`키워드 ${fmtNum(p.total)}개`);
  if (st.categories.length) meta.push(st.categories.map((c) => page.labels[c] || c).join('·'));
  if (j.priority && j.priority !== 'normal') meta.push(`우선순위 ${PRIORITY_LABELS[j.priority] || j.priority}`);
  if (j.startedAt && j.completedAt) meta.push(`소요 ${fmtDuration(j.completedAt - j.startedAt)}`);
  const errors = countErrors(st);
  const cached = countCached(st);
  if (errors) meta.push(`오류 ${fmtNum(errors)}개`);
  if (cached) meta.push(`캐시 사용 ${fmtNum(cached)}개`);
  const metaEl = $('job-meta');
  setText(metaEl, meta.join(' · '));
  setAttr(metaEl, 'title', j.createdAt ? `작업 ID ${j.id} · 생성 ${fmtDateTime(j.createdAt)}` : `작업 ID ${j.id}`);

  renderProgress(st, p, pct);

  if (j.status === 'failed') {
    showJobError(
      `작업이 실패했습니다. ${j.error || '원인을 알 수 없는 오류입니다.'}${st.results.size ? ' 실패 전까지 조회한 결과는 아래에 남아 있습니다.' : ''}`,
    );
  } else if ($('job-error').textContent.startsWith('작업이 실패')) {
    showJobError('');
  }
  if (j.status === 'cancelled') {
    showNotice(`작업이 취소되었습니다. 취소 전까지 조회한 ${fmtNum(st.results.size)}개 결과는 남아 있습니다.`);
  } else if ($('job-notice').textContent.startsWith('작업이 취소')) {
    showNotice('');
  }

  $('cancel-job').hidden = st.cancelling || !(j.status === 'pending' || j.status === 'processing');
  $('retry-failed').hidden = !(st.terminal && failed > 0);
  const hasRows = page.table.size > 0;
  $('legend').hidden = !hasRows;
  $('table-tools').hidden = !hasRows;
  const shown = page.table.view.length;
  setText($('table-count'), page.table.filter
    ? `${fmtNum(page.table.size)}개 중 ${fmtNum(shown)}개`
    : '');
  renderRatioPicker();
  $('export-csv').disabled = !hasRows;
  $('export-xlsx').disabled = !hasRows;
  $('copy-tsv').disabled = !hasRows;
  const title = j.status === 'processing' ? `(${pct}%) 문서수 조회` : '문서수 조회';
  if (document.title !== title) document.title = title;

  page.jobList.upsert(summaryOf(st));
  // a job started elsewhere gets its name from its first results
  if (!page.jobList.names[st.id] && st.results.has(0)) {
    const first = [st.results.get(0), st.results.get(1)].filter(Boolean).map((x) => x.keyword);
    const name = jobName(first, p.total || first.length);
    store.setJobName(st.id, name);
    page.jobList.setName(st.id, name);
  }
}

/** 경쟁률 기준: the open job's categories, the table's choice selected (options rebuilt only
 *  when the categories or their labels change: this runs every frame while results stream). */
function renderRatioPicker() {
  const t = page.table;
  const sel = $('ratio-category');
  const names = t.categories.map((c) => page.labels[c] || c);
  const sig = `${t.categories.join()}|${names.join()}`;
  if (sel.dataset.sig !== sig) {
    sel.dataset.sig = sig;
    sel.replaceChildren(...t.categories.map((c, i) => new Option(names[i], c)));
  }
  if (t.ratioCat && sel.value !== t.ratioCat) sel.value = t.ratioCat;
  $('ratio-pick').hidden = t.categories.length < 2;
}

function renderProgress(st, p, pct) {
  const j = st.job;
  $('progress-block').hidden = !st.known;
  const width = `${p.total ? (p.current / p.total) * 100 : 0}%`;
  const fill = $('progress-fill');
  if (fill.style.width !== width) fill.style.width = width;
  const bar = $('progress');
  setAttr(bar, 'data-status', j.status);
  setAttr(bar, 'aria-valuenow', String(pct));
  setAttr(bar, 'aria-valuetext', `${fmtNum(p.total)}개 중 ${fmtNum(p.current)}개 완료 (${pct}%)`);
  setText($('progress-count'), `${fmtNum(p.current)} / ${fmtNum(p.total)}`);
  setText($('progress-pct'), `${pct}%`);
  const { rate, etaMs } = st.estimate();
  let rateText = '';
  let etaText = '';
  if (j.status === 'pending' && j.waiting === 'no_worker') {
    etaText = NO_WORKER_TEXT; // nothing will start it: no queue position, no "soon"
  } else if (j.status === 'pending') {
    etaText = j.queuePosition ? `대기열 ${fmtNum(j.queuePosition)}번째 · 앞선 작업이 끝나면 시작합니다` : '곧 시작합니다';
  } else if (j.status === 'processing' && j.waiting === 'quota') {
    etaText = quotaText(j.resumesAtMs); // no rate, no ETA: nothing is counted until the reset
  } else if (j.status === 'processing' && j.stalled) {
    etaText = STALLED_TEXT; // a rate and an ETA would be untrue while nobody counts it
  } else if (j.status === 'processing') {
    rateText = fmtRate(rate);
    etaText = etaMs == null ? '남은 시간 계산 중' : etaMs < 1500 ? '곧 완료' : `남은 시간 약 ${fmtDuration(etaMs)}`;
  } else if (j.status === 'completed') {
    etaText = j.startedAt && j.completedAt ? `${fmtDuration(j.completedAt - j.startedAt)} 걸림` : '완료';
  }
  setText($('progress-rate'), rateText);
  setText($('progress-eta'), etaText);

  // milestones for screen readers (the visible text is not a live region: too chatty)
  if (j.status === 'processing' && st.announced) {
    const step = Math.floor(pct / 25) * 25;
    if (step > st.announced.pct && step < 100) {
      st.announced.pct = step;
      announce(`진행률 ${step}%: ${fmtNum(p.total)}개 중 ${fmtNum(p.current)}개 완료`);
    }
  }
}

function summaryOf(st) {
  const { results: _r, ...j } = st.job;
  return { ...j, id: st.id };
}
