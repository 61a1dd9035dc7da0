// The stats panel's daily part (stats.js mounts it): GET /api/stats' `daily` figures, the last
// 30 days in Korean time. Jobs and keywords per day as a small uPlot chart (vendored, as in
// history.js) with the same figures in a table, today's calls per key, the cache's hit rate
// (today and over the 30 days) and failures by reason over the 30 days.

import uPlot from './vendor/uplot/uPlot.esm.js';
import { fmtKstDay, fmtNum } from './format.js';

// Korean names of the failure codes a lookup or a job can end with (server/work/providers); an
// unknown code is shown as it is.
const REASONS = {
  rate_limited: '호출 속도 제한',
  upstream_unavailable: '네이버 API 일시 오류',
  bad_request: '잘못된 요청',
  upstream_rejected: '요청 거부',
  bad_upstream_body: '응답 형식 오류',
  upstream_error: '네이버 API 오류',
  config_error: '설정 오류',
  no_usable_key: '사용 가능한 키 없음',
  internal_error: '내부 오류',
  unknown: '알 수 없음',
};

let chart = null;

/** The chart on screen, or null (for tests and the console). */
export const dailyChart = () => chart;

function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (k === 'class') node.className = v;
    else node.setAttribute(k, v);
  }
  for (const child of children) node.append(child);
  return node;
}

/** 0.3333 -> "33.3%"; null (no lookups) -> "—". */
export function fmtRate(rate) {
  return rate == null ? '—' : `${(rate * 100).toFixed(1)}%`;
}

function hitText(f) {
  const lookups = f.cacheHits + f.freshLookups;
  return `${fmtRate(f.hitRate)} (적중 ${fmtNum(f.cacheHits)} / 조회 ${fmtNum(lookups)})`;
}

/** "2026-11-30" (a KST day) -> epoch seconds of its 00:00 KST. */
const daySeconds = (day) => Date.parse(`${day}T00:00:00+09:00`) / 1000;

function chartOptions(width) {
  return {
    width,
    height: 140,
    tzDate: (ts) => uPlot.tzDate(new Date(ts * 1000), 'Asia/Seoul'),
    scales: {
      // Half a day either side: the first and the last day's bars are whole.
      x: { time: true, range: (u, min, max) => [min - 43200, max + 43200] },
      jobs: { range: (u, min, max) => [0, Math.max(1, max)] },
    },
    legend: { live: true },
    cursor: { points: { size: 6 } },
    series: [
      { label: '날짜', value: (u, v) => (v == null ? '—' : fmtKstDay(v * 1000)) },
      {
        label: '키워드',
        stroke: '#0a8f5a',
        fill: 'rgba(10, 143, 90, 0.25)',
        paths: uPlot.paths.bars({ size: [0.7, 12] }),
        value: (u, v) => (v == null ? '—' : fmtNum(v)),
      },
      {
        label: '작업',
        scale: 'jobs',
        stroke: '#2f6fd6',
        width: 2,
        points: { show: true, size: 5 },
        value: (u, v) => (v == null ? '—' : fmtNum(v)),
      },
    ],
    axes: [
      { values: (u, splits) => splits.map((s) => fmtKstDay(s * 1000)) },
      { size: 44, values: (u, splits) => splits.map((v) => fmtNum(v)) },
      { scale: 'jobs', side: 1, size: 30, grid: { show: false }, values: (u, splits) => splits.map((v) => fmtNum(v)) },
    ],
  };
}

/** Days with anything in them, newest first: the chart's figures for screen readers and tests. */
function dayTable(perDay) {
  const table = el('table', { class: 'stats-days' });
  table.createCaption().textContent = '일별 처리량 (KST)';
  const head = table.createTHead().insertRow();
  for (const t of ['날짜', '작업', '키워드', '캐시 적중률', '실패']) head.append(el('th', { scope: 'col' }, t));
  const body = table.createTBody();
  const busy = perDay.filter((d) => d.jobs || d.keywords || Object.keys(d.callsByKey).length).reverse();
  for (const d of busy) {
    const failed = Object.values(d.failures).reduce((a, b) => a + b, 0);
    const tr = body.insertRow();
    tr.dataset.day = d.day;
    for (const text of [d.day, fmtNum(d.jobs), fmtNum(d.keywords), fmtRate(d.hitRate), fmtNum(failed)]) {
      tr.append(el('td', {}, text));
    }
  }
  if (!busy.length) body.insertRow().append(el('td', { colspan: '5' }, '최근 30일 동안 처리한 작업이 없습니다.'));
  return table;
}

function listOf(cls, entries, empty, item) {
  if (!entries.length) return el('p', { class: `stat-empty ${cls}` }, empty);
  return el('ul', { class: `stat-list ${cls}` }, ...entries.map(item));
}

/** ``keys``: the upstream has keys to count calls on (not the demo provider). */
export function renderDaily(root, daily, { keys = true } = {}) {
  chart?.destroy();
  chart = null;
  const today = daily.perDay[daily.perDay.length - 1];
  const total = daily.total;
  const box = el('div', { class: 'stats-chart', role: 'img', 'aria-label': '최근 30일 일별 작업과 키워드 수' });
  const calls = Object.entries(today.callsByKey);
  const failures = Object.entries(total.failures).sort((a, b) => b[1] - a[1]);
  const jobFailures = Object.entries(total.jobFailures).sort((a, b) => b[1] - a[1]);
  const reason = ([code, n]) =>
    el(
      'li',
      { 'data-code': code },
      el('span', { class: 'stat-list-label' }, REASONS[code] || code, ' ', el('code', {}, code)),
      el('span', { class: 'stat-list-n' }, `${fmtNum(n)}건`),
    );
  root.replaceChildren(
    el('h3', { class: 'stats-sub' }, `최근 ${daily.days}일 (${daily.from} ~ ${daily.to}, KST)`),
    el(
      'dl',
      { class: 'stats stats-window' },
      el('div', { class: 'stat', 'data-figure': 'jobs-today' }, el('dt', {}, '오늘 작업'), el('dd', {}, fmtNum(today.jobs))),
      el('div', { class: 'stat', 'data-figure': 'keywords-today' }, el('dt', {}, '오늘 키워드'), el('dd', {}, fmtNum(today.keywords))),
      el('div', { class: 'stat', 'data-figure': 'jobs-window' }, el('dt', {}, `${daily.days}일 작업`), el('dd', {}, fmtNum(total.jobs))),
      el('div', { class: 'stat', 'data-figure': 'keywords-window' }, el('dt', {}, `${daily.days}일 키워드`), el('dd', {}, fmtNum(total.keywords))),
    ),
    box,
    el('h3', { class: 'stats-sub' }, '캐시 적중률'),
    el(
      'p',
      { class: 'stat-hit' },
      el('span', { class: 'stat-hit-today' }, `오늘 ${hitText(today)}`),
      ' · ',
      el('span', { class: 'stat-hit-window' }, `${daily.days}일 ${hitText(total)}`),
    ),
    ...(keys
      ? [
          el('h3', { class: 'stats-sub' }, '오늘 키별 호출'),
          listOf('stat-calls', calls, '오늘은 아직 호출이 없습니다.', ([label, n]) =>
            el('li', {}, el('span', { class: 'stat-list-label' }, label), el('span', { class: 'stat-list-n' }, `${fmtNum(n)}회`)),
          ),
        ]
      : []),
    el('h3', { class: 'stats-sub' }, `실패 사유 (${daily.days}일)`),
    listOf('stat-failures', failures, '실패 없음', reason),
    ...(jobFailures.length
      ? [el('h3', { class: 'stats-sub' }, `작업 실패 사유 (${daily.days}일)`), listOf('stat-job-failures', jobFailures, '', reason)]
      : []),
    el('details', { class: 'stats-days-box' }, el('summary', {}, '일별 표'), dayTable(daily.perDay)),
  );
  const width = Math.max(240, Math.min(520, root.clientWidth || 300));
  const data = [
    daily.perDay.map((d) => daySeconds(d.day)),
    daily.perDay.map((d) => d.keywords),
    daily.perDay.map((d) => d.jobs),
  ];
  chart = new uPlot(chartOptions(width), data, box);
  box.dataset.keywords = String(total.keywords);
}
