// Stats panel: the original guide's planned dashboard figures (성공/실패 통계, 평균 처리 시간,
// API 사용량) from GET /api/stats, and its daily part (statsdaily.js: the last 30 days).
// Mounts itself into #stats-panel when the page has one. Refreshed when the jobs feed says a
// job changed (feed.js dispatches doccount:jobs-changed), not on a timer: a finished job shows
// in the figures at once. Also raises the banner when no key can count.
// Uses the dashboard's api() so the token handling (dialog, 401) is the page's own.

import { api } from './api.js';
import { fmtDuration, fmtKst, fmtNum } from './format.js';
import { renderDaily } from './statsdaily.js';

// Feed events come in bursts (a job's status and its feed entry): one read for a burst.
const SOON_MS = 300;

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

/** Every key retired: nothing can be counted, and the page says so at the top. */
export function renderKeyBanner(upstream) {
  const banner = document.getElementById('key-banner');
  if (!banner) return;
  const keys = upstream.keys || [];
  const none = upstream.provider === 'naver' && keys.length > 0 && keys.every((k) => k.retired);
  const why = keys.map((k) => `${k.label} ${k.retiredUntil ? `${new Date(k.retiredUntil).toLocaleString('ko-KR')}까지` : ''} ${k.retiredReason || ''}`.trim());
  // Spent for today only (the server's rule, naver.py): jobs are taken and wait for the reset.
  const spent = none && keys.every((k) => k.retiredUntil && /^daily quota/.test(k.retiredReason || ''));
  const resets = spent ? Math.min(...keys.map((k) => k.retiredUntil)) : 0;
  banner.textContent = !none
    ? ''
    : spent
      ? `모든 네이버 API 키의 오늘 호출 한도가 소진되었습니다. 새 작업은 접수되어 ${fmtKst(resets)}에 한도가 초기화되면 조회합니다.`
      : `사용 가능한 네이버 API 키가 없습니다. 새 작업을 시작할 수 없습니다 (${why.join('; ')}). 키 설정을 확인하세요.`;
  banner.hidden = !none;
}

export function renderStats(root, stats) {
  const { jobs, upstream } = stats;
  renderKeyBanner(upstream);
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
  const daily = stats.daily ? el('section', { class: 'stats-daily', 'aria-label': '일별 통계' }) : null;
  if (daily) parts.push(daily);
  root.replaceChildren(...parts);
  // After it is in the page: the chart takes the width it is given.
  if (daily) renderDaily(daily, stats.daily, { keys: upstream.provider === 'naver' });
}

export function mountStats(root) {
  const body = root.querySelector('[data-stats-body]') || root;
  let timer = null;
  let stale = false; // a change came while the tab was hidden
  async function refresh() {
    clearTimeout(timer);
    timer = null;
    try {
      renderStats(body, await api('/api/stats'));
      root.removeAttribute('aria-busy');
    } catch (e) {
      if (e?.name !== 'AbortError') body.replaceChildren(el('p', { class: 'help' }, `통계를 불러오지 못했습니다: ${e.message}`));
    }
  }
  /** A job changed (the jobs feed): read the figures once the burst is over. */
  function soon() {
    if (document.hidden) {
      stale = true;
      return;
    }
    if (!timer) timer = setTimeout(refresh, SOON_MS);
  }
  document.addEventListener('visibilitychange', () => {
    if (!document.hidden && stale) {
      stale = false;
      refresh();
    }
  });
  document.addEventListener('doccount:jobs-changed', soon);
  root.setAttribute('aria-busy', 'true');
  refresh();
  return { refresh, soon };
}

const mount = document.getElementById('stats-panel');
export const statsPanel = mount ? mountStats(mount) : null;
