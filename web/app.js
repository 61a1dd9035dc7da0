// doccount dashboard: wires the form, the open job (live results), the job list and the
// connection indicator together. Plain ES modules, no build step.

import { api, ApiError, getToken, MSG_UNREACHABLE, requestToken, setTokenPrompt } from './api.js';
import { copyText, download, toCSV, toTSV } from './export.js';
import { fmtDateTime, fmtDuration, fmtNum, fmtRate, fmtTime } from './format.js';
import { JobList } from './joblist.js';
import { JobState, STATUS_LABELS, TERMINAL } from './jobstate.js';
import { dedupeText, parseKeywords } from './keywords.js';
import { store } from './store.js';
import { ResultTable } from './table.js';
import { LiveStream, TRANSPORT_LABELS } from './transport.js';

const $ = (id) => document.getElementById(id);

const FALLBACK_CONFIG = {
  provider: null,
  categories: [
    { name: 'blog', label: '블로그' },
    { name: 'cafe', label: '카페' },
    { name: 'news', label: '뉴스' },
    { name: 'web', label: '웹문서' },
    { name: 'kin', label: '지식iN' },
    { name: 'book', label: '책' },
    { name: 'encyc', label: '백과사전' },
    { name: 'shop', label: '쇼핑' },
    { name: 'image', label: '이미지' },
    { name: 'doc', label: '전문자료' },
  ],
  defaultCategories: ['blog', 'cafe', 'news', 'web'],
  maxKeywords: 1000,
  maxKeywordChars: 100,
  ratePerSec: 10,
  authRequired: false,
};

const PRIORITY_LABELS = { high: '높음', normal: '보통', low: '낮음' };
const CONN_TEXT = {
  idle: '대기',
  connecting: '연결 중',
  connected: '연결됨',
  reconnecting: '재연결 중',
  offline: '연결 끊김',
  error: '오류',
  done: '종료',
};

const app = {
  config: FALLBACK_CONFIG,
  labels: Object.fromEntries(FALLBACK_CONFIG.categories.map((c) => [c.name, c.label])),
  ready: false, // config loaded (and token asked for, where needed)
  job: null, // JobState of the open job
  stream: null, // LiveStream of the open job
  feed: null, // LiveStream of the jobs feed
  conn: { job: null, feed: null },
  frame: 0,
  hiddenRender: 0,
  saveTimer: 0,
  draftTimer: 0,
  kwFrame: 0,
  lastParse: null,
};

const table = new ResultTable($('result-table'), { onChange: () => scheduleRender() });
const jobList = new JobList($('job-list'), { onCancel: (id, btn) => cancelJob(id, btn) });

// --- small helpers -------------------------------------------------------------------------

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

function newerId(a, b) {
  if (b == null || b === '') return a;
  if (a == null || a === '') return String(b);
  const na = /^\d+$/.test(a);
  const nb = /^\d+$/.test(String(b));
  if (na && nb) return BigInt(b) > BigInt(a) ? String(b) : a;
  return String(b);
}

let toastTimer = 0;
function toast(message, kind = 'info') {
  const el = $('toast');
  el.textContent = message;
  el.dataset.kind = kind;
  el.hidden = false;
  clearTimeout(toastTimer);
  toastTimer = setTimeout(() => {
    el.hidden = true;
  }, 4000);
}

function announce(message) {
  const el = $('live');
  el.textContent = '';
  requestAnimationFrame(() => {
    el.textContent = message;
  });
}

function showGlobalAlert(message) {
  const el = $('global-alert');
  el.textContent = message;
  el.hidden = !message;
}

// --- configuration -------------------------------------------------------------------------

async function loadConfig() {
  for (let attempt = 0; ; attempt++) {
    try {
      const c = await api('/api/config');
      applyConfig(c);
      showGlobalAlert('');
      return;
    } catch (e) {
      showGlobalAlert(
        e instanceof ApiError && !e.network
          ? `설정을 불러오지 못했습니다: ${e.message}`
          : `${MSG_UNREACHABLE} 자동으로 다시 시도합니다…`,
      );
      await sleep(Math.min(10_000, 1000 * 2 ** attempt));
    }
  }
}

function applyConfig(c) {
  app.config = { ...FALLBACK_CONFIG, ...c };
  if (!Array.isArray(app.config.categories) || !app.config.categories.length) {
    app.config.categories = FALLBACK_CONFIG.categories;
  }
  app.labels = Object.fromEntries(app.config.categories.map((x) => [x.name, x.label || x.name]));
  jobList.setLabels(app.labels);
  $('demo-banner').hidden = app.config.provider !== 'demo';
  document.body.classList.toggle('is-demo', app.config.provider === 'demo');
  renderCategories();
  analyzeKeywords();
  if (app.job) {
    // column labels may have been guessed before the config arrived
    table.setColumns(app.job.categories, app.labels);
    table.add(app.job.sortedResults());
  }
}

// --- the form ------------------------------------------------------------------------------

function renderCategories() {
  const saved = store.form().categories;
  const names = new Set(app.config.categories.map((c) => c.name));
  let selected = (Array.isArray(saved) ? saved : app.config.defaultCategories).filter((n) => names.has(n));
  if (!selected.length) selected = app.config.defaultCategories.filter((n) => names.has(n));
  const list = $('cat-list');
  list.replaceChildren(
    ...app.config.categories.map((c) => {
      const label = document.createElement('label');
      label.className = 'chip';
      const input = document.createElement('input');
      input.type = 'checkbox';
      input.name = 'category';
      input.value = c.name;
      input.checked = selected.includes(c.name);
      const span = document.createElement('span');
      span.textContent = c.label || c.name;
      label.append(input, span);
      return label;
    }),
  );
}

function selectedCategories() {
  return [...document.querySelectorAll('#cat-list input[name="category"]:checked')].map((i) => i.value);
}

function setCategories(names) {
  for (const i of document.querySelectorAll('#cat-list input[name="category"]')) {
    i.checked = names.includes(i.value);
  }
  onFormChange();
}

function onFormChange() {
  store.setForm({ ...store.form(), categories: selectedCategories(), priority: $('priority').value });
  analyzeKeywords();
}

function scheduleAnalyze() {
  if (!app.kwFrame) {
    app.kwFrame = requestAnimationFrame(() => {
      app.kwFrame = 0;
      analyzeKeywords();
    });
  }
  clearTimeout(app.draftTimer);
  app.draftTimer = setTimeout(() => store.setForm({ ...store.form(), draft: $('keywords').value }), 400);
}

function analyzeKeywords() {
  const { maxKeywords, maxKeywordChars, ratePerSec } = app.config;
  const r = parseKeywords($('keywords').value, { maxKeywords, maxKeywordChars });
  app.lastParse = r;
  const n = r.keywords.length;

  const count = $('kw-count');
  count.replaceChildren();
  const strong = document.createElement('strong');
  strong.textContent = `키워드 ${fmtNum(n)}개`;
  count.append(strong, ` / 최대 ${fmtNum(maxKeywords)}개`);
  if (r.duplicateCount) count.append(` · 중복 ${fmtNum(r.duplicateCount)}개`);
  count.classList.toggle('is-error', r.overLimit > 0);

  const issues = [];
  if (r.overLimit) {
    issues.push([
      'error',
      `한 번에 최대 ${fmtNum(maxKeywords)}개까지 조회할 수 있습니다. ${fmtNum(r.overLimit)}개를 줄여 주세요.`,
    ]);
  }
  if (r.tooLong.length) {
    const first = r.tooLong[0];
    const shown = [...first].length > 20 ? `${[...first].slice(0, 20).join('')}…` : first;
    issues.push([
      'error',
      `${fmtNum(maxKeywordChars)}자를 넘는 키워드 ${fmtNum(r.tooLong.length)}개: “${shown}”`,
    ]);
  }
  if (r.duplicates.length) {
    const list = r.duplicates
      .slice(0, 5)
      .map((d) => `${d.keyword} ×${d.count}`)
      .join(', ');
    const more = r.duplicates.length > 5 ? ` 외 ${fmtNum(r.duplicates.length - 5)}개` : '';
    issues.push(['warn', `중복된 키워드: ${list}${more} (중복도 각각 조회됩니다)`]);
  }
  $('kw-issues').replaceChildren(
    ...issues.map(([kind, text]) => {
      const li = document.createElement('li');
      li.className = `issue issue-${kind}`;
      li.textContent = text;
      return li;
    }),
  );
  $('dedupe').hidden = !r.duplicates.length;

  const cats = selectedCategories();
  const calls = n * cats.length;
  $('estimate').textContent =
    n && cats.length
      ? `API 호출 ${fmtNum(calls)}회 · 최대 약 ${fmtDuration((calls / (ratePerSec || 10)) * 1000)} 걸립니다 (초당 ${fmtNum(ratePerSec)}회 기준, 캐시된 값은 더 빠릅니다)`
      : '';
  return r;
}

function formError(message) {
  const el = $('form-error');
  el.textContent = message || '';
  el.hidden = !message;
}

async function submitBatch(e) {
  e?.preventDefault();
  const r = analyzeKeywords();
  const cats = selectedCategories();
  let problem = null;
  if (!r.keywords.length) problem = '키워드를 한 개 이상 입력해 주세요.';
  else if (r.overLimit)
    problem = `키워드가 너무 많습니다. 최대 ${fmtNum(app.config.maxKeywords)}개까지 가능합니다.`;
  else if (r.tooLong.length)
    problem = `${fmtNum(app.config.maxKeywordChars)}자를 넘는 키워드가 있습니다. 줄이거나 지워 주세요.`;
  else if (!cats.length) problem = '카테고리를 하나 이상 선택해 주세요.';
  if (problem) {
    formError(problem);
    (cats.length ? $('keywords') : document.querySelector('#cat-list input'))?.focus();
    return;
  }
  formError('');
  const btn = $('start');
  btn.disabled = true;
  btn.textContent = '시작하는 중…';
  const priority = $('priority').value;
  try {
    const res = await api('/api/documents/batch', {
      method: 'POST',
      body: { keywords: r.keywords, categories: cats, priority },
      interactive: true,
    });
    const summary = {
      id: res.jobId,
      status: 'pending',
      progress: { current: 0, total: r.keywords.length },
      categories: cats,
      priority,
      queuePosition: null,
      createdAt: Date.now(),
      local: true,
    };
    const name = jobName(r.keywords.slice(0, 2), r.keywords.length);
    store.setJobName(res.jobId, name);
    jobList.setName(res.jobId, name);
    jobList.upsert(summary);
    openJob(res.jobId, { summary });
    toast(res.message || '배치 작업이 시작되었습니다');
    if (window.matchMedia('(max-width: 900px)').matches) {
      $('job-panel').scrollIntoView({ behavior: 'smooth', block: 'start' });
    }
  } catch (err) {
    formError(err instanceof ApiError ? err.message : '작업을 시작하지 못했습니다.');
  } finally {
    btn.disabled = false;
    btn.textContent = '조회 시작';
  }
}

/** "맥북, 아이폰 15 외 10개": how a job is called in the list. */
function jobName(first, total) {
  const shown = first.map((k) => ([...k].length > 14 ? `${[...k].slice(0, 14).join('')}…` : k));
  return total > shown.length ? `${shown.join(', ')} 외 ${fmtNum(total - shown.length)}개` : shown.join(', ');
}

// --- the open job --------------------------------------------------------------------------

function hashJob() {
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
  if (app.stream) app.stream.stop();
  app.stream = null;
  if (app.job) saveNow(app.job);
  app.job = null;
  app.conn.job = null;
}

function openJob(id, { summary } = {}) {
  if (app.job?.id === id) return;
  closeJob();
  const cached = store.loadJob(id);
  const st = cached?.job ? JobState.fromCache(id, cached) : new JobState(id);
  if (!cached?.job) {
    const known = summary || jobList.get(id);
    if (known) st.mergeJob(known);
  }
  st.announced = { status: st.status, pct: 0 };
  app.job = st;
  store.setCurrentJob(id);
  setHash(id);
  jobList.setCurrent(id);
  $('job-error').hidden = true;
  $('job-notice').hidden = true;
  table.setColumns(st.categories, app.labels);
  table.add(st.sortedResults());
  renderNow();
  // A finished job from the cache opens without a single request.
  if (!(cached?.job && st.terminal) && app.ready) startJobStream(st);
  else renderConn();
}

function startJobStream(st) {
  if (app.stream || st !== app.job) return;
  app.stream = new LiveStream({
    kind: 'job',
    jobId: st.id,
    lastEventId: () => st.lastEventId,
    onEvent: (ev) => onJobEvent(st, ev),
    onState: (s) => {
      app.conn.job = s;
      renderConn();
    },
    onGone: (err) => onJobGone(st, err),
  });
  app.stream.start();
}

function onJobEvent(st, ev) {
  if (st !== app.job) return true;
  const wasStatus = st.status;
  switch (ev.type) {
    case 'snapshot':
    case 'poll': {
      const replace = ev.type === 'snapshot' && ev.gap === true;
      if (replace) st.lastEventId = null;
      const { reset, added } = st.mergeJob(ev.job, { replace });
      if (reset) {
        table.setColumns(st.categories, app.labels);
        table.add(st.sortedResults());
      } else {
        table.add(added);
      }
      st.lastEventId = newerId(st.lastEventId, ev.type === 'snapshot' ? (ev.id ?? ev.job?.lastEventId) : ev.job?.lastEventId);
      break;
    }
    case 'result': {
      const row = st.addResult(ev.result);
      if (row) table.add([row]);
      st.setProgress(ev.progress);
      break;
    }
    case 'progress':
      st.setProgress(ev.progress);
      st.setServerRate(ev.ratePerSec, ev.etaMs);
      break;
    case 'status':
      if (!(TERMINAL.has(st.status) && !TERMINAL.has(ev.status))) st.job.status = ev.status;
      if ('error' in ev) st.job.error = ev.error;
      st.setProgress(ev.progress);
      if (ev.status === 'processing' && !st.job.startedAt) st.job.startedAt = Date.now();
      if (TERMINAL.has(ev.status) && !st.job.completedAt) st.job.completedAt = Date.now();
      if (ev.status !== 'pending') st.job.queuePosition = null;
      break;
    default:
      return false;
  }
  if (ev.type !== 'snapshot' && ev.type !== 'poll' && ev.id != null) {
    st.lastEventId = newerId(st.lastEventId, String(ev.id));
  }
  if (st.status !== wasStatus) onStatusChange(st, wasStatus);
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
  if (st !== app.job) return;
  app.stream = null;
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
  if (app.saveTimer) return;
  app.saveTimer = setTimeout(() => {
    app.saveTimer = 0;
    saveNow(st);
  }, 800);
}

function saveNow(st) {
  clearTimeout(app.saveTimer);
  app.saveTimer = 0;
  if (st?.known) store.saveJob(st.id, st.toCache());
}

// --- rendering the open job (at most once per frame) ---------------------------------------

function scheduleRender() {
  if (app.frame || app.hiddenRender) return;
  if (document.hidden) {
    // no animation frames in a background tab: still keep the title's progress current
    app.hiddenRender = setTimeout(renderNow, 1000);
  } else {
    app.frame = requestAnimationFrame(renderNow);
  }
}

function renderNow() {
  cancelAnimationFrame(app.frame);
  clearTimeout(app.hiddenRender);
  app.frame = 0;
  app.hiddenRender = 0;
  const st = app.job;
  $('empty-state').hidden = Boolean(st);
  $('results').hidden = !st;
  if (!st) {
    $('progress-block').hidden = true;
    $('job-status').hidden = true;
    $('job-source').hidden = true;
    $('cancel-job').hidden = true;
    $('job-meta').textContent = '';
    $('export-csv').disabled = true;
    $('copy-tsv').disabled = true;
    $('legend').hidden = true;
    document.title = '문서수 조회';
    return;
  }
  const j = st.job;
  const p = j.progress || { current: 0, total: 0 };
  const pct = p.total ? Math.floor((p.current / p.total) * 100) : 0;

  $('job-title').textContent = j.createdAt ? `결과 · ${fmtTime(j.createdAt)}` : '결과';
  const badge = $('job-status');
  badge.hidden = !st.known;
  badge.className = `badge badge-${j.status}`;
  badge.textContent =
    st.cancelling && !st.terminal ? '취소 중' : STATUS_LABELS[j.status] || j.status;
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
  if (p.total) meta.push(`키워드 ${fmtNum(p.total)}개`);
  if (st.categories.length) meta.push(st.categories.map((c) => app.labels[c] || c).join('·'));
  if (j.priority && j.priority !== 'normal') meta.push(`우선순위 ${PRIORITY_LABELS[j.priority] || j.priority}`);
  if (j.startedAt && j.completedAt) meta.push(`소요 ${fmtDuration(j.completedAt - j.startedAt)}`);
  const errors = countErrors(st);
  const cached = countCached(st);
  if (errors) meta.push(`오류 ${fmtNum(errors)}개`);
  if (cached) meta.push(`캐시 사용 ${fmtNum(cached)}개`);
  const metaEl = $('job-meta');
  metaEl.textContent = meta.join(' · ');
  metaEl.title = j.createdAt ? `작업 ID ${j.id} · 생성 ${fmtDateTime(j.createdAt)}` : `작업 ID ${j.id}`;

  // progress
  $('progress-block').hidden = !st.known;
  const fill = $('progress-fill');
  fill.style.width = `${p.total ? (p.current / p.total) * 100 : 0}%`;
  const bar = $('progress');
  bar.dataset.status = j.status;
  bar.setAttribute('aria-valuenow', String(pct));
  bar.setAttribute('aria-valuetext', `${fmtNum(p.total)}개 중 ${fmtNum(p.current)}개 완료 (${pct}%)`);
  $('progress-count').textContent = `${fmtNum(p.current)} / ${fmtNum(p.total)}`;
  $('progress-pct').textContent = `${pct}%`;
  const { rate, etaMs } = st.estimate();
  let rateText = '';
  let etaText = '';
  if (j.status === 'pending') {
    etaText = j.queuePosition ? `대기열 ${fmtNum(j.queuePosition)}번째 · 앞선 작업이 끝나면 시작합니다` : '곧 시작합니다';
  } else if (j.status === 'processing') {
    rateText = fmtRate(rate);
    etaText = etaMs == null ? '남은 시간 계산 중' : etaMs < 1500 ? '곧 완료' : `남은 시간 약 ${fmtDuration(etaMs)}`;
  } else if (j.status === 'completed') {
    etaText = j.startedAt && j.completedAt ? `${fmtDuration(j.completedAt - j.startedAt)} 걸림` : '완료';
  }
  $('progress-rate').textContent = rateText;
  $('progress-eta').textContent = etaText;

  // milestones for screen readers (the visible text is not a live region: too chatty)
  if (j.status === 'processing' && st.announced) {
    const step = Math.floor(pct / 25) * 25;
    if (step > st.announced.pct && step < 100) {
      st.announced.pct = step;
      announce(`진행률 ${step}%: ${fmtNum(p.total)}개 중 ${fmtNum(p.current)}개 완료`);
    }
  }

  if (j.status === 'failed') {
    showJobError(`작업이 실패했습니다. ${j.error || '원인을 알 수 없는 오류입니다.'}${st.results.size ? ' 실패 전까지 조회한 결과는 아래에 남아 있습니다.' : ''}`);
  } else if ($('job-error').textContent.startsWith('작업이 실패')) {
    showJobError('');
  }
  if (j.status === 'cancelled') {
    showNotice(`작업이 취소되었습니다. 취소 전까지 조회한 ${fmtNum(st.results.size)}개 결과는 남아 있습니다.`);
  } else if ($('job-notice').textContent.startsWith('작업이 취소')) {
    showNotice('');
  }

  $('cancel-job').hidden = st.cancelling || !(j.status === 'pending' || j.status === 'processing');
  const hasRows = table.size > 0;
  $('legend').hidden = !hasRows;
  $('export-csv').disabled = !hasRows;
  $('copy-tsv').disabled = !hasRows;
  document.title = j.status === 'processing' ? `(${pct}%) 문서수 조회` : '문서수 조회';

  jobList.upsert(summaryOf(st));
  // a job started elsewhere gets its name from its first results
  if (!jobList.names[st.id] && st.results.has(0)) {
    const first = [st.results.get(0), st.results.get(1)].filter(Boolean).map((x) => x.keyword);
    const name = jobName(first, p.total || first.length);
    store.setJobName(st.id, name);
    jobList.setName(st.id, name);
  }
}

function summaryOf(st) {
  const { results: _r, ...j } = st.job;
  return { ...j, id: st.id };
}

// --- connection indicator ------------------------------------------------------------------

function renderConn() {
  const jobLive = app.stream && !app.stream.stopped && app.conn.job;
  const s = jobLive ? app.conn.job : app.conn.feed;
  const el = $('conn');
  const state = s?.state || 'idle';
  el.dataset.state = state;
  $('conn-transport').textContent = s?.transport ? TRANSPORT_LABELS[s.transport] : '—';
  let text = CONN_TEXT[state] || state;
  if (state === 'connected' && s.transport === 'poll') text = '2초마다 확인';
  $('conn-state').textContent = text;
  const what = jobLive ? '작업 결과' : '작업 목록';
  el.title = s?.transport
    ? `${what}: ${TRANSPORT_LABELS[s.transport]} ${text}${s.detail ? ` — ${s.detail}` : ''}`
    : '실시간 연결 없음';
  $('auth-needed').hidden = ![app.conn.job, app.conn.feed].some((c) => c?.state === 'error');
  const offline = [app.conn.job, app.conn.feed].some((c) => c?.state === 'offline');
  const connected = [app.conn.job, app.conn.feed].some((c) => c?.state === 'connected');
  if (offline && !connected) showGlobalAlert(`${MSG_UNREACHABLE} 다시 연결하는 중입니다…`);
  else if ($('global-alert').textContent.startsWith(MSG_UNREACHABLE) && connected) showGlobalAlert('');
}

// --- jobs feed -----------------------------------------------------------------------------

function startFeed() {
  if (!app.feed) {
    app.feed = new LiveStream({
      kind: 'jobs',
      onEvent: (ev) => {
        if (ev.type === 'jobs') jobList.setAll(ev.jobs || []);
        else if (ev.type === 'job' && ev.job) {
          // a job leaving the queue moves every waiting job up: refresh their positions
          if (ev.job.status !== 'pending' && jobList.get(ev.job.id)?.status === 'pending') {
            scheduleListRefresh();
          }
          jobList.upsert(ev.job);
          const st = app.job;
          if (st && ev.job.id === st.id && st.status === 'pending' && ev.job.status === 'pending') {
            st.job.queuePosition = ev.job.queuePosition ?? st.job.queuePosition;
            scheduleRender();
          }
        }
        return false;
      },
      onState: (s) => {
        app.conn.feed = s;
        renderConn();
      },
    });
  }
  app.feed.start();
}

let listRefreshTimer = 0;
function scheduleListRefresh() {
  if (listRefreshTimer) return;
  listRefreshTimer = setTimeout(async () => {
    listRefreshTimer = 0;
    try {
      const data = await api('/api/documents/jobs?limit=50');
      jobList.setAll(data.jobs || []);
      const st = app.job;
      const mine = st && (data.jobs || []).find((j) => j.id === st.id);
      if (mine && st.status === 'pending' && mine.status === 'pending') {
        st.job.queuePosition = mine.queuePosition;
        scheduleRender();
      }
    } catch {
      /* the feed will bring the next update */
    }
  }, 1000);
}

// --- actions -------------------------------------------------------------------------------

function confirmCancel() {
  const dlg = $('confirm-dialog');
  return new Promise((resolve) => {
    dlg.returnValue = '';
    dlg.addEventListener('close', () => resolve(dlg.returnValue === 'yes'), { once: true });
    dlg.showModal();
  });
}

async function cancelJob(id, btn) {
  if (!(await confirmCancel())) return;
  if (btn) btn.disabled = true;
  try {
    const res = await api(`/api/documents/jobs/${encodeURIComponent(id)}`, {
      method: 'DELETE',
      interactive: true,
    });
    if (res.job) jobList.upsert(res.job);
    const st = app.job;
    if (st && st.id === id && !st.terminal) {
      // The stream brings the rest: results counted before the cancel took hold, then the
      // final status. Marking the job finished here would close it before they arrive.
      st.cancelling = true;
      scheduleRender();
    }
    toast('작업을 취소했습니다. 조회된 결과는 남아 있습니다.');
  } catch (e) {
    toast(e instanceof ApiError ? e.message : '작업을 취소하지 못했습니다.', 'error');
  } finally {
    if (btn) btn.disabled = false;
  }
}

function exportName(st, ext) {
  const d = new Date(st.job.createdAt || Date.now());
  const p = (x) => String(x).padStart(2, '0');
  return `문서수_${d.getFullYear()}-${p(d.getMonth() + 1)}-${p(d.getDate())}_${p(d.getHours())}${p(d.getMinutes())}.${ext}`;
}

function exportCSV() {
  const st = app.job;
  if (!st) return;
  const rows = table.rows();
  download(exportName(st, 'csv'), toCSV(rows, st.categories, app.labels));
  toast(`CSV 파일을 저장했습니다 (${fmtNum(rows.length)}행). 엑셀에서 바로 열 수 있습니다.`, 'success');
}

async function copyTSV() {
  const st = app.job;
  if (!st) return;
  const rows = table.rows();
  const ok = await copyText(toTSV(rows, st.categories, app.labels));
  toast(
    ok
      ? `표를 복사했습니다 (${fmtNum(rows.length)}행). 스프레드시트에 붙여 넣으세요.`
      : '복사하지 못했습니다. CSV 내보내기를 이용해 주세요.',
    ok ? 'success' : 'error',
  );
}

// --- token dialog --------------------------------------------------------------------------

function tokenProblem(value) {
  if (!value.trim()) return '토큰을 입력해 주세요.';
  // HTTP headers carry ASCII only: a pasted Korean word or a stray space is a typo
  if (/[^\x21-\x7e]/.test(value.trim())) return '토큰에는 영문, 숫자, 기호만 쓸 수 있습니다.';
  return null;
}

function promptToken(invalid) {
  const dlg = $('token-dialog');
  const input = $('token-input');
  const err = $('token-error');
  err.textContent = '토큰이 올바르지 않습니다. 다시 확인해 주세요.';
  err.hidden = !invalid;
  input.value = '';
  return new Promise((resolve) => {
    dlg.returnValue = '';
    dlg.addEventListener(
      'close',
      () => resolve(dlg.returnValue === 'ok' && input.value.trim() ? input.value.trim() : null),
      { once: true },
    );
    dlg.showModal();
    input.focus();
  });
}

// --- boot ----------------------------------------------------------------------------------

function wire() {
  const kw = $('keywords');
  const form = store.form();
  if (typeof form.draft === 'string') kw.value = form.draft;
  if (form.priority && PRIORITY_LABELS[form.priority]) $('priority').value = form.priority;
  kw.addEventListener('input', scheduleAnalyze);
  kw.addEventListener('keydown', (e) => {
    if (e.key === 'Enter' && (e.ctrlKey || e.metaKey)) submitBatch(e);
  });
  $('batch-form').addEventListener('submit', submitBatch);
  $('cat-list').addEventListener('change', onFormChange);
  $('priority').addEventListener('change', onFormChange);
  $('cats-default').addEventListener('click', () => setCategories(app.config.defaultCategories));
  $('cats-all').addEventListener('click', () => setCategories(app.config.categories.map((c) => c.name)));
  $('dedupe').addEventListener('click', () => {
    kw.value = dedupeText(kw.value);
    scheduleAnalyze();
    toast('중복된 키워드를 지웠습니다.');
    kw.focus();
  });
  $('cancel-job').addEventListener('click', (e) => app.job && cancelJob(app.job.id, e.currentTarget));
  $('export-csv').addEventListener('click', exportCSV);
  $('copy-tsv').addEventListener('click', copyTSV);
  $('auth-enter').addEventListener('click', async () => {
    if (!(await requestToken(false, { force: true }))) return;
    $('auth-needed').hidden = true;
    if (app.feed) {
      app.feed.stop();
      app.feed.start();
    }
    if (app.job && app.stream?.stopped && !app.job.terminal) {
      app.stream = null;
      startJobStream(app.job);
    }
  });
  $('token-cancel').addEventListener('click', () => $('token-dialog').close('cancel'));
  $('token-form').addEventListener('submit', (e) => {
    const problem = tokenProblem($('token-input').value);
    if (problem) {
      e.preventDefault();
      $('token-error').textContent = problem;
      $('token-error').hidden = false;
      $('token-input').focus();
    }
  });
  setTokenPrompt(promptToken);

  window.addEventListener('hashchange', () => {
    const id = hashJob();
    if (id && id !== app.job?.id) openJob(id);
  });
  window.addEventListener('pagehide', () => app.job && saveNow(app.job));

  // A hidden tab lets go of the jobs feed (browsers allow few open streams per server);
  // the open job keeps streaming so its results stay cached.
  let hiddenTimer = 0;
  document.addEventListener('visibilitychange', () => {
    clearTimeout(hiddenTimer);
    if (document.hidden) {
      hiddenTimer = setTimeout(() => app.feed?.stop(), 30_000);
    } else if (app.ready && app.feed?.stopped) {
      app.feed.start();
    }
  });
  // the ETA counts down between events
  let pendingCheck = 0;
  setInterval(() => {
    const st = app.job;
    if (st?.status === 'processing') scheduleRender();
    // while our job waits, keep its queue position fresh (status events only come on changes)
    if (st?.status === 'pending' && app.ready && Date.now() - pendingCheck > 5000) {
      pendingCheck = Date.now();
      scheduleListRefresh();
    }
  }, 1000);
}

async function boot() {
  jobList.setNames(store.jobNames());
  wire();
  renderCategories();
  analyzeKeywords();
  const first = hashJob() || store.currentJob();
  if (first) openJob(first);
  else renderNow();
  await loadConfig();
  if (app.config.authRequired && !getToken()) await requestToken(false);
  app.ready = true;
  startFeed();
  if (app.job && !app.stream && !(app.job.terminal && store.loadJob(app.job.id)?.job)) {
    startJobStream(app.job);
  }
}

boot();
