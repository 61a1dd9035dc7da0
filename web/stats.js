// Stats panel: the original guide's planned dashboard figures (성공/실패 통계, 평균 처리 시간,
// API 사용량) from GET /api/stats. Mounts itself into #stats-panel when the page has one.
// Uses the dashboard's api() so the token handling (dialog, 401) is the page's own.

import { api } from './api.js';
import { fmtDuration, fmtNum } from './format.js';

const REFRESH_MS = 10_000;

function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (k === 'class') node.className = v;
    else node.setAttribute(k, v);
  }
  for (const child of children) node.append(child);
  return node;
}

/** One figure: a label over a number. */
function figure(label, value, title = '') {
  const node = el('div', { class: 'stat' }, el('dt', {}, label), el('dd', {}, value));
  if (title) node.title = title;
  return node;
}

/** One key's daily use against its quota, as a meter (label only: ids and secrets never reach the page). */
function keyRow(key) {
  const used = key.callsToday;
  const pct = key.dailyQuota ? Math.min(100, (used / key.dailyQuota) * 100) : 0;
  const meter = el('meter', {
    min: '0',
    max: String(key.dailyQuota),
    low: String(key.dailyQuota * 0.7),
    high: String(key.dailyQuota * 0.9),
    optimum: '0',
    value: String(used),
    'aria-label': `${key.label} 오늘 사용량`,
  });
  const state = key.retired ? el('span', { class: 'badge badge-failed' }, '사용 중지') : '';
  return el(
    'li',
    { class: 'stat-key' },
    el('span', { class: 'stat-key-label' }, key.label),
    meter,
    el('span', { class: 'stat-key-use' }, `${fmtNum(used)} / ${fmtNum(key.dailyQuota)} (${pct.toFixed(1)}%)`),
    state,
  );
}

export function renderStats(root, stats) {
  const { jobs, upstream } = stats;
  const list = el(
    'dl',
    { class: 'stats' },
    figure('완료', fmtNum(jobs.succeeded)),
    figure('실패', fmtNum(jobs.failed)),
    figure('취소', fmtNum(jobs.cancelled)),
    figure('대기', fmtNum(jobs.queueDepth)),
    figure('평균 처리 시간', jobs.avgJobMs == null ? '—' : fmtDuration(jobs.avgJobMs)),
  );
  const parts = [list];
  if (upstream.keys.length) {
    parts.push(
      el('p', { class: 'help' }, `오늘(${upstream.dayKst}, KST) API 사용량 · 키당 하루 ${fmtNum(upstream.dailyQuota)}회`),
      el('ul', { class: 'stat-keys' }, ...upstream.keys.map(keyRow)),
    );
  } else if (upstream.provider === 'demo') {
    parts.push(el('p', { class: 'help' }, '데모 모드: 네이버 API를 호출하지 않습니다.'));
  }
  root.replaceChildren(...parts);
}

export function mountStats(root, { refreshMs = REFRESH_MS } = {}) {
  const body = root.querySelector('[data-stats-body]') || root;
  let timer = null;
  async function refresh() {
    clearTimeout(timer);
    try {
      renderStats(body, await api('/api/stats'));
      root.removeAttribute('aria-busy');
    } catch (e) {
      if (e?.name !== 'AbortError') body.replaceChildren(el('p', { class: 'help' }, `통계를 불러오지 못했습니다: ${e.message}`));
    }
    if (!document.hidden) timer = setTimeout(refresh, refreshMs);
  }
  document.addEventListener('visibilitychange', () => {
    if (!document.hidden) refresh();
  });
  root.setAttribute('aria-busy', 'true');
  refresh();
  return { refresh };
}

const mount = document.getElementById('stats-panel');
if (mount) mountStats(mount);
