// Keyword history: the chart of one keyword's counts over time (uPlot, vendored under
// vendor/uplot/, loaded as an ES module: no build step) and the 키워드 검색 box that finds any
// keyword ever counted (GET /api/keywords). A keyword button in the results table (table.js)
// or in the search results opens the chart. Dates are Korean time whatever the browser's zone.

import uPlot from './vendor/uplot/uPlot.esm.js';
import { api } from './api.js';
import { $ } from './dom.js';
import { fmtKst, fmtKstDay, fmtNum } from './format.js';

const SEARCH_DEBOUNCE_MS = 250;
const COLORS = ['#0a8f5a', '#2f6fd6', '#d9822b', '#9b51e0', '#c0392b', '#16a2b8', '#6d6d6d'];

// The search-volume kinds the history keeps beside the categories (GET /api/keywords/history).
const VOLUME_LABELS = { volumePc: 'PC 검색량', volumeMobile: '모바일 검색량', volumeTotal: '월간 검색량' };

let chart = null;
let opened = 0; // the newest open request wins

function el(tag, cls, text) {
  const node = document.createElement(tag);
  if (cls) node.className = cls;
  if (text !== undefined) node.textContent = text;
  return node;
}

/** The chart on screen, or null (for tests and the console). */
export const currentChart = () => chart;

/** Series from the API -> uPlot's aligned columns: x (seconds) and one column per kind. */
export function alignSeries(series) {
  const times = [...new Set(series.flatMap((s) => s.points.map((p) => p.observedAt)))].sort((a, b) => a - b);
  const at = new Map(times.map((t, i) => [t, i]));
  const columns = series.map((s) => {
    const col = new Array(times.length).fill(null);
    for (const p of s.points) col[at.get(p.observedAt)] = p.value;
    return col;
  });
  return [times.map((t) => t / 1000), ...columns];
}

const yLabel = (series) => (series.some((s) => s.kind in VOLUME_LABELS) ? '문서 수 · 검색량' : '문서 수');

function chartOptions(series, width) {
  return {
    width,
    height: 280,
    // Korean time for the axis and the legend
    tzDate: (ts) => uPlot.tzDate(new Date(ts * 1000), 'Asia/Seoul'),
    scales: { x: { time: true } },
    cursor: { points: { size: 7 } },
    legend: { live: true },
    series: [
      { label: '관측 시각', value: (u, v) => (v == null ? '—' : fmtKst(v * 1000)) },
      ...series.map((s, i) => ({
        label: s.label,
        stroke: COLORS[i % COLORS.length],
        width: 2,
        spanGaps: true,
        points: { show: true, size: 6 },
        value: (u, v) => (v == null ? '—' : fmtNum(v)),
      })),
    ],
    axes: [
      { values: (u, splits) => splits.map((s) => fmtKstDay(s * 1000)) },
      { label: yLabel(series), size: 70, values: (u, splits) => splits.map((v) => fmtNum(v)) },
    ],
  };
}

/** The same figures as a table, for screen readers (the chart is a canvas). */
function dataTable(series) {
  const table = el('table', 'sr-only history-data');
  table.createCaption().textContent = '이력 데이터';
  const head = table.createTHead().insertRow();
  for (const t of ['카테고리', '관측 시각 (KST)', yLabel(series)]) head.append(el('th', '', t));
  const body = table.createTBody();
  for (const s of series) {
    for (const p of s.points) {
      const tr = body.insertRow();
      tr.append(el('td', '', s.label), el('td', '', fmtKst(p.observedAt)), el('td', '', fmtNum(p.value)));
    }
  }
  return table;
}

export async function openHistory(keyword) {
  const dialog = $('history-dialog');
  const box = $('history-chart');
  const note = $('history-note');
  const seq = ++opened;
  $('history-title').textContent = `${keyword} 이력`;
  note.textContent = '불러오는 중…';
  chart?.destroy();
  chart = null;
  box.replaceChildren();
  box.removeAttribute('data-points');
  if (!dialog.open) dialog.showModal();
  let data;
  try {
    data = await api(`/api/keywords/history?keyword=${encodeURIComponent(keyword)}`);
  } catch (e) {
    if (seq === opened) note.textContent = e.message;
    return;
  }
  if (seq !== opened) return;
  const series = data.series.filter((s) => s.points.length);
  const points = series.reduce((n, s) => n + s.points.length, 0);
  if (!points) {
    note.textContent = '아직 기록된 조회가 없습니다. 조회하면 그때부터 이력이 쌓입니다.';
    return;
  }
  const first = Math.min(...series.map((s) => s.points[0].observedAt));
  const last = Math.max(...series.map((s) => s.points[s.points.length - 1].observedAt));
  note.textContent = `관측 ${fmtNum(points)}건 · ${fmtKst(first)} ~ ${fmtKst(last)}`;
  const width = Math.max(280, Math.min(820, box.clientWidth || dialog.clientWidth - 48));
  chart = new uPlot(chartOptions(series, width), alignSeries(series), box);
  box.dataset.points = String(points);
  box.append(dataTable(series));
}

function latestText(found) {
  const parts = Object.entries(found.latest).map(([kind, o]) => `${labelOf(kind)} ${fmtNum(o.value)}`);
  return parts.join(' · ');
}

let labels = {};
function labelOf(kind) {
  return labels[kind] || VOLUME_LABELS[kind] || kind;
}

function wireSearch() {
  const input = $('keyword-search');
  const list = $('keyword-results');
  const status = $('keyword-search-status');
  if (!input) return;
  let timer = 0;
  let controller = null;
  const run = async () => {
    const q = input.value.trim();
    controller?.abort();
    if (!q) {
      list.replaceChildren();
      status.textContent = '';
      return;
    }
    controller = new AbortController();
    try {
      const data = await api(`/api/keywords?q=${encodeURIComponent(q)}&limit=20`, { signal: controller.signal });
      list.replaceChildren(
        ...data.keywords.map((k) => {
          const li = el('li', 'kw-found');
          const b = el('button', 'kw-link', k.keyword);
          b.type = 'button';
          b.dataset.keyword = k.keyword;
          b.title = `${k.keyword}: 이력 차트 보기`;
          li.append(b, el('span', 'kw-latest', latestText(k)));
          if (k.lastObservedAt) li.append(el('span', 'kw-when', fmtKst(k.lastObservedAt)));
          return li;
        }),
      );
      status.textContent = data.keywords.length ? `${data.keywords.length}개 찾음` : '조회한 적 없는 키워드입니다';
    } catch (e) {
      if (e?.name !== 'AbortError') status.textContent = e.message;
    }
  };
  input.addEventListener('input', () => {
    clearTimeout(timer);
    timer = setTimeout(run, SEARCH_DEBOUNCE_MS);
  });
  input.addEventListener('keydown', (e) => {
    if (e.key === 'Enter') {
      clearTimeout(timer);
      run();
    }
  });
}

function wire() {
  // any keyword button on the page (results table, search results) opens its chart
  document.addEventListener('click', (e) => {
    const b = e.target.closest?.('button.kw-link');
    if (b?.dataset.keyword) openHistory(b.dataset.keyword);
  });
  $('history-close')?.addEventListener('click', () => $('history-dialog').close());
  $('history-dialog')?.addEventListener('close', () => {
    chart?.destroy();
    chart = null;
    opened++;
  });
  wireSearch();
  api('/api/config')
    .then((c) => {
      labels = Object.fromEntries(c.categories.map((x) => [x.name, x.label]));
    })
    .catch(() => {});
}

wire();
