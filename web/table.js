// The results table, virtualised: every row lives in a model array (`all`, in the current sort
// order; `view`, that order filtered), and only the rows in view (plus a margin) are in the DOM,
// between two spacer rows that keep the scroll height true. Incoming results are queued and
// applied once per animation frame; sorting and filtering reorder arrays, never DOM rows; a
// row's cells are built once, when first shown, and kept. Copy and export read the arrays, so
// they see every row, not only those on screen.

import { fmtDelta, fmtKst, fmtMan, fmtNum } from './format.js';

const NOTE_MIN_EM = 6;
const OVERSCAN_ROWS = 12;
const ALL_ROWS_UP_TO = 100; // a short table is kept whole (the browser's own find still works) // rows kept beyond each edge of the view, so a fast scroll shows no gap
const ROW_PX_GUESS = 37; // until the first row is measured
const FRESH_MAX = 20; // a short highlight for rows arriving live; not for hundreds at once

const collator = new Intl.Collator('ko-KR', { numeric: true, sensitivity: 'base' });

/** 경쟁률 of one category (documents ÷ monthly searches, from the server), or null. */
function ratioOf(r, category) {
  const v = r.ratio?.[category];
  return typeof v === 'number' ? v : null;
}

/** Derived, display-ready view of one Result; 경쟁률 is that of `ratioCat`. */
export function rowModel(r, categories, ratioCat = categories[0]) {
  const counts = r.counts || {};
  const errors = r.errors || {};
  const cached = new Set(r.cached || []);
  let total = 0;
  let have = 0;
  for (const c of categories) {
    if (typeof counts[c] === 'number') {
      total += counts[c];
      have++;
    }
  }
  const volume = r.searchVolume || null;
  return {
    index: r.index,
    keyword: r.keyword ?? '',
    volume, // searchVolume: {pc, mobile, total, ...Below, compIdx} or null
    ratio: ratioOf(r, ratioCat), // 경쟁률 of the picked category, or null
    volumeError: errors.searchVolume || null,
    counts,
    errors,
    cached,
    previous: r.previous || {}, // per category: the last earlier observation (history)
    error: r.error || null,
    source: r.source || null,
    total: have ? total : null,
    partial: have > 0 && have < categories.length,
    search: String(r.keyword ?? '').toLowerCase(),
    raw: r,
    el: null, // the <tr>, built when first shown
  };
}

function compareBy(key, dir) {
  const sign = dir === 'asc' ? 1 : -1;
  const byIndex = (a, b) => a.index - b.index;
  if (key === 'index') return (a, b) => sign * byIndex(a, b);
  if (key === 'keyword') return (a, b) => sign * collator.compare(a.keyword, b.keyword) || byIndex(a, b);
  const value =
    key === 'total'
      ? (r) => r.total
      : key === 'ratio'
        ? (r) => r.ratio
        : key.startsWith('vol:')
          ? (r) => r.volume?.[key.slice(4)]
          : (r) => r.counts[key.slice(4)];
  return (a, b) => {
    const va = value(a);
    const vb = value(b);
    const na = typeof va !== 'number';
    const nb = typeof vb !== 'number';
    if (na || nb) return na === nb ? byIndex(a, b) : na ? 1 : -1; // missing always last
    return sign * (va - vb) || byIndex(a, b);
  };
}

export class ResultTable {
  /** @param {HTMLTableElement} table  inside its scrolling box (`.table-wrap`) */
  constructor(table, { onChange, ratioCategory = null } = {}) {
    this.table = table;
    this.thead = table.tHead || table.createTHead();
    this.tbody = table.tBodies[0] || table.createTBody();
    this.scroller = table.closest('.table-wrap') || table.parentElement;
    this.onChange = onChange;
    this.categories = [];
    this.labels = {};
    this.byIndex = new Map();
    this.all = []; // row models in sort order
    this.view = this.all; // what is shown: `all`, or the rows matching the filter
    this.filter = '';
    this.queue = [];
    this.frame = 0;
    this.windowFrame = 0;
    this.shown = { from: -1, to: -1, version: -1, rows: [], active: -1 };
    this.version = 0; // bumped whenever `view` changes
    this.rowPx = ROW_PX_GUESS;
    this.measured = false;
    this.active = -1; // keyboard position in `view`
    this.volumes = false; // the server has a search volume source: PC / 모바일 / 합계, 경쟁률
    // Keywords worth writing about: many searches, few documents (thresholds set on screen).
    this.hot = { minVolume: 1000, maxRatio: 1 };
    // 경쟁률 is shown for one category: the one picked (kept across jobs), else the job's first
    this.ratioPick = ratioCategory;
    this.ratioCat = null;
    this.sort = { key: 'index', dir: 'asc' };
    this.cmp = compareBy('index', 'asc');
    this.topSpacer = spacerRow();
    this.bottomSpacer = spacerRow();
    this.thead.addEventListener('click', (e) => {
      const btn = e.target.closest('button[data-sort]');
      if (btn) this.toggleSort(btn.dataset.sort);
    });
    this.geom = { fresh: false, headPx: 0, scrollPx: 0, heightPx: 0 };
    const moved = () => {
      this.staleGeometry();
      this.scheduleWindow();
    };
    this.scroller.addEventListener('scroll', moved, { passive: true });
    this.scroller.addEventListener('keydown', (e) => this.onKey(e));
    if (typeof ResizeObserver === 'function') {
      const ro = new ResizeObserver(moved);
      ro.observe(this.scroller);
      ro.observe(this.thead);
    }
  }

  get size() {
    return this.byIndex.size + this.queue.length;
  }

  /** Show the search volume columns or not (the server's config says whether it has them). */
  setVolumes(on) {
    if (this.volumes === on) return;
    this.volumes = on;
    const rows = [...this.all.map((m) => m.raw), ...this.queue];
    this.renderHead();
    this.clear();
    this.add(rows);
  }

  /** Highlight rows with at least `minVolume` monthly searches and a 경쟁률 of at most
   *  `maxRatio`; rows already built are rebuilt when next shown. */
  setHot(minVolume, maxRatio) {
    if (this.hot.minVolume === minVolume && this.hot.maxRatio === maxRatio) return;
    this.hot = { minVolume, maxRatio };
    for (const m of this.all) m.el = null;
    this.changed();
  }

  isHot(m) {
    return (
      this.volumes &&
      m.volume !== null &&
      m.ratio !== null &&
      m.volume.total >= this.hot.minVolume &&
      m.ratio <= this.hot.maxRatio
    );
  }

  /** New column set: clears everything. */
  setColumns(categories, labels) {
    this.categories = [...categories];
    this.labels = { ...labels };
    this.ratioCat = categories.includes(this.ratioPick) ? this.ratioPick : (categories[0] ?? null);
    this.clear();
    this.renderHead();
  }

  /** Show 경쟁률 of `category` (one of the job's; remembered for the jobs opened next): the
   *  column's values, its header, the sort by it and the highlight all follow. */
  setRatioCategory(category) {
    this.ratioPick = category;
    if (!this.categories.includes(category) || category === this.ratioCat) return;
    this.ratioCat = category;
    this.flush();
    for (const m of this.all) {
      m.ratio = ratioOf(m.raw, category);
      m.el = null; // rebuilt when next shown
    }
    this.renderHead();
    if (this.sort.key === 'ratio') this.all.sort(this.cmp);
    this.applyFilter();
    this.shown.version = -1;
    this.renderWindow();
    this.onChange?.();
  }

  clear() {
    cancelAnimationFrame(this.frame);
    this.frame = 0;
    this.queue = [];
    this.byIndex.clear();
    this.all = [];
    this.view = this.all;
    this.active = -1;
    this.changed();
  }

  /** "경쟁률 (블로그)": the header says whose documents are divided by the searches. */
  ratioLabel() {
    return this.ratioCat ? `경쟁률 (${this.labels[this.ratioCat] || this.ratioCat})` : '경쟁률';
  }

  renderHead() {
    const tr = document.createElement('tr');
    const cols = [
      { key: 'index', label: '#', cls: 'col-idx' },
      { key: 'keyword', label: '키워드', cls: 'col-kw' },
      ...this.categories.map((c) => ({ key: `cat:${c}`, label: this.labels[c] || c, cls: 'col-num' })),
      { key: 'total', label: '합계', cls: 'col-num col-total' },
      ...(this.volumes
        ? [
            { key: 'vol:pc', label: 'PC 검색량', cls: 'col-num col-vol' },
            { key: 'vol:mobile', label: '모바일 검색량', cls: 'col-num col-vol' },
            { key: 'vol:total', label: '합계 검색량', cls: 'col-num col-vol' },
            { key: 'ratio', label: this.ratioLabel(), cls: 'col-num col-vol col-ratio' },
          ]
        : []),
      { key: null, label: '비고', cls: 'col-note' },
    ];
    for (const col of cols) {
      const th = document.createElement('th');
      th.scope = 'col';
      th.className = col.cls;
      if (col.key) {
        const b = document.createElement('button');
        b.type = 'button';
        b.className = 'sort';
        b.dataset.sort = col.key;
        b.innerHTML = '<span class="sort-label"></span><span class="sort-ind" aria-hidden="true"></span>';
        b.querySelector('.sort-label').textContent = col.label;
        th.append(b);
      } else {
        th.textContent = col.label;
      }
      tr.append(th);
    }
    this.thead.replaceChildren(tr);
    this.staleGeometry();
    // fixed layout: adding or moving rows never re-measures the whole table. The # and keyword
    // columns are sized in styles.css (--idx-w, --kw-w: the keyword column narrows on a phone
    // so it never covers the counts); the rest in em of the table's font; the note column
    // takes what is left, at least NOTE_MIN_EM.
    // the 경쟁률 header names its category: as wide as "경쟁률 (백과사전)" needs
    const ratioEm = 2.2 + 0.95 * [...this.ratioLabel()].length;
    const widths = [...this.categories.map(() => 6.6), 8.6, ...(this.volumes ? [7, 7.4, 7.4, ratioEm] : [])];
    const colgroup = document.createElement('colgroup');
    for (const w of ['var(--idx-w)', 'var(--kw-w)', ...widths.map((x) => `${x}em`), null]) {
      const col = document.createElement('col');
      if (w) col.style.width = w;
      colgroup.append(col);
    }
    this.table.querySelector('colgroup')?.remove();
    this.thead.before(colgroup);
    this.table.style.minWidth = `calc(var(--idx-w) + var(--kw-w) + ${widths.reduce((a, b) => a + b, NOTE_MIN_EM)}em)`;
    for (const sp of [this.topSpacer, this.bottomSpacer]) sp.firstChild.colSpan = cols.length;
    this.renderSortState();
  }

  renderSortState() {
    for (const th of this.thead.querySelectorAll('th')) {
      const b = th.querySelector('button[data-sort]');
      if (!b) continue;
      const active = b.dataset.sort === this.sort.key;
      th.setAttribute('aria-sort', active ? (this.sort.dir === 'asc' ? 'ascending' : 'descending') : 'none');
      b.querySelector('.sort-ind').textContent = active ? (this.sort.dir === 'asc' ? '▲' : '▼') : '';
      b.title = `${b.querySelector('.sort-label').textContent} 기준으로 정렬`;
    }
  }

  toggleSort(key) {
    let dir;
    if (this.sort.key === key) dir = this.sort.dir === 'asc' ? 'desc' : 'asc';
    else dir = key === 'index' || key === 'keyword' ? 'asc' : 'desc'; // biggest counts first
    this.setSort(key, dir);
  }

  setSort(key, dir) {
    this.sort = { key, dir };
    this.cmp = compareBy(key, dir);
    this.flush(); // pending rows first, then one sort of the model array
    this.all.sort(this.cmp);
    this.applyFilter();
    this.renderSortState();
    this.renderWindow();
    this.onChange?.();
  }

  /** Show only rows whose keyword contains `text` (case-insensitive); '' shows all. */
  setFilter(text) {
    const f = String(text || '').trim().toLowerCase();
    if (f === this.filter) return;
    this.filter = f;
    this.flush();
    this.applyFilter();
    this.scroller.scrollTop = 0;
    this.staleGeometry();
    this.renderWindow();
    this.onChange?.();
  }

  applyFilter() {
    const f = this.filter;
    this.view = f ? this.all.filter((m) => m.search.includes(f)) : this.all;
    this.active = Math.min(this.active, this.view.length - 1);
    this.changed();
  }

  changed() {
    this.version++;
    this.table.setAttribute('aria-rowcount', String(this.view.length + 1)); // + the header row
    this.scheduleWindow();
  }

  /** Queue results; they reach the table on the next animation frame. A result for an index
   *  already in the table replaces its row (its search volume arrived after its counts). */
  add(results) {
    for (const r of results) {
      const held = this.byIndex.get(r.index);
      if (held) {
        this.update(held, r);
        continue;
      }
      this.queue.push(r);
    }
    if (this.queue.length && !this.frame) {
      this.frame = requestAnimationFrame(() => this.flush());
    }
  }

  update(held, r) {
    if (held.raw === r) return;
    const m = rowModel(r, this.categories, this.ratioCat);
    this.byIndex.set(m.index, m);
    const at = this.all.indexOf(held);
    if (at >= 0) this.all[at] = m;
    if (this.sort.key === 'ratio' || this.sort.key.startsWith('vol:')) this.all.sort(this.cmp);
    if (this.filter || this.view !== this.all) this.applyFilter();
    else this.changed();
    this.onChange?.();
  }

  /** Replace all rows (a snapshot with gap, or a job opened from cache). */
  reset(results) {
    this.clear();
    this.add(results);
  }

  /** Apply queued rows to the model arrays: work per row, plus one window render. */
  flush() {
    cancelAnimationFrame(this.frame);
    this.frame = 0;
    if (!this.queue.length) return;
    const batch = this.queue;
    this.queue = [];
    const fresh = [];
    for (const r of batch) {
      if (this.byIndex.has(r.index)) continue;
      const m = rowModel(r, this.categories, this.ratioCat);
      this.byIndex.set(m.index, m);
      fresh.push(m);
    }
    if (!fresh.length) return;
    if (fresh.length <= FRESH_MAX) for (const m of fresh) m.fresh = true;
    const last = this.all[this.all.length - 1];
    fresh.sort(this.cmp);
    if (!last || this.cmp(last, fresh[0]) <= 0) {
      for (const m of fresh) this.all.push(m); // the common case: after the current last row
    } else if (fresh.length > 64) {
      for (const m of fresh) this.all.push(m);
      this.all.sort(this.cmp);
    } else {
      for (const m of fresh) this.all.splice(this.insertAt(m), 0, m);
    }
    if (this.filter) this.applyFilter();
    else this.changed();
    this.renderWindow(); // now, in this frame: the rows show with the status that came with them
    this.onChange?.();
  }

  insertAt(m) {
    let lo = 0;
    let hi = this.all.length;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if (this.cmp(this.all[mid], m) <= 0) lo = mid + 1;
      else hi = mid;
    }
    return lo;
  }

  /** The scroller's position and size and the header's height, read only when stale. */
  geometry() {
    const g = this.geom;
    if (!g.fresh) {
      g.headPx = this.thead.offsetHeight;
      g.scrollPx = this.scroller.scrollTop;
      g.heightPx = this.scroller.clientHeight;
      g.fresh = true;
    }
    return g;
  }

  staleGeometry() {
    this.geom.fresh = false;
  }

  scheduleWindow() {
    if (!this.windowFrame) {
      this.windowFrame = requestAnimationFrame(() => {
        this.windowFrame = 0;
        this.renderWindow();
      });
    }
  }

  /** Put the rows in view (and OVERSCAN_ROWS either side) into the DOM, if they changed. */
  renderWindow() {
    cancelAnimationFrame(this.windowFrame);
    this.windowFrame = 0;
    const n = this.view.length;
    const rowPx = this.rowPx;
    // geometry as last seen by the scroll and resize observers: reading it here, after this
    // frame's DOM writes, would force a layout on every frame while results stream in
    const { headPx, scrollPx, heightPx } = this.geometry();
    const top = Math.max(0, scrollPx - headPx);
    const height = heightPx || window.innerHeight;
    const all = n <= ALL_ROWS_UP_TO;
    const from = all ? 0 : Math.max(0, Math.min(n, Math.floor(top / rowPx)) - OVERSCAN_ROWS);
    const to = all ? n : Math.min(n, Math.ceil((top + height) / rowPx) + OVERSCAN_ROWS);
    const s = this.shown;
    if (s.from === from && s.to === to && s.version === this.version) return;
    const rows = [];
    for (let i = from; i < to; i++) {
      const m = this.view[i];
      if (!m.el) m.el = this.renderRow(m);
      rows.push(m.el);
    }
    setHeight(this.topSpacer, from * rowPx);
    setHeight(this.bottomSpacer, (n - to) * rowPx);
    // Rows streaming in below the view change only the bottom spacer: leave the rows alone
    // (re-inserting them would restyle every cell, every frame).
    const same = s.from === from && s.rows.length === rows.length && rows.every((el, i) => el === s.rows[i]);
    this.shown = { from, to, version: this.version, rows, active: this.active };
    if (same && s.active === this.active) return;
    rows.forEach((el, i) => {
      el.setAttribute('aria-rowindex', String(from + i + 2));
      el.classList.toggle('row-active', from + i === this.active);
    });
    if (same) return;
    const grown = s.from === from && s.rows.length < rows.length && s.rows.every((el, i) => el === rows[i]);
    if (grown && this.tbody.lastChild === this.bottomSpacer) {
      // rows arriving at the end of a short table: add them, leave the others alone
      const frag = document.createDocumentFragment();
      for (let i = s.rows.length; i < rows.length; i++) frag.append(rows[i]);
      this.tbody.insertBefore(frag, this.bottomSpacer);
    } else {
      this.tbody.replaceChildren(this.topSpacer, ...rows, this.bottomSpacer);
    }
    if (!this.measured && rows.length) {
      // every row is one line high: measure one, once, and place the window by it
      const h = rows[0].getBoundingClientRect().height;
      if (h > 0) {
        this.measured = true;
        if (Math.abs(h - rowPx) > 0.5) {
          this.rowPx = h;
          this.shown.version = -1;
          this.scheduleWindow();
        }
      }
    }
  }

  /** Arrow keys, Page Up/Down, Home/End move a highlighted row through every row. */
  onKey(e) {
    if (e.target !== this.scroller || e.altKey || e.ctrlKey || e.metaKey) return;
    const n = this.view.length;
    if (!n) return;
    const page = Math.max(1, Math.floor((this.scroller.clientHeight - this.thead.offsetHeight) / this.rowPx) - 1);
    const moves = { ArrowDown: 1, ArrowUp: -1, PageDown: page, PageUp: -page, Home: -n, End: n };
    if (!(e.key in moves)) return;
    e.preventDefault();
    this.active = Math.max(0, Math.min(n - 1, (this.active < 0 ? -1 : this.active) + moves[e.key]));
    const m = this.view[this.active];
    const rowTop = this.active * this.rowPx;
    const headPx = this.thead.offsetHeight;
    const viewPx = this.scroller.clientHeight - headPx;
    if (rowTop < this.scroller.scrollTop) this.scroller.scrollTop = rowTop;
    else if (rowTop + this.rowPx > this.scroller.scrollTop + viewPx) {
      this.scroller.scrollTop = rowTop + this.rowPx - viewPx;
    }
    this.staleGeometry();
    this.shown.version = -1;
    this.renderWindow();
    this.scroller.setAttribute('aria-activedescendant', m.el.id);
  }

  renderRow(m) {
    const tr = document.createElement('tr');
    tr.id = `${this.table.id || 'rt'}-row-${m.index}`;
    tr.dataset.index = String(m.index);
    if (m.error) tr.classList.add('row-error');
    if (this.isHot(m)) tr.classList.add('row-hot');
    if (m.fresh) {
      m.fresh = false;
      tr.classList.add('row-new');
      // once: a row scrolled out and back must not flash again
      tr.addEventListener('animationend', () => tr.classList.remove('row-new'), { once: true });
    }

    const idx = document.createElement('td');
    idx.className = 'col-idx';
    idx.textContent = String(m.index + 1);
    tr.append(idx);

    const kw = document.createElement('th');
    kw.scope = 'row';
    kw.className = 'col-kw';
    // a button: clicking a keyword opens its history chart (history.js listens on the table)
    const link = document.createElement('button');
    link.type = 'button';
    link.className = 'kw-link';
    link.dataset.keyword = m.keyword;
    link.textContent = m.keyword;
    link.title = `${m.keyword}: 이력 차트 보기`;
    kw.append(link);
    tr.append(kw);

    for (const c of this.categories) {
      const td = document.createElement('td');
      td.className = 'col-num';
      td.dataset.cat = c;
      const n = m.counts[c];
      const label = this.labels[c] || c;
      if (typeof n === 'number') {
        td.textContent = fmtNum(n);
        const tip = [];
        if (n >= 10_000) tip.push(fmtMan(n));
        const prev = m.previous[c];
        if (prev && typeof prev.value === 'number') {
          // the change since the last earlier observation: a small mark, the whole story on hover
          const d = n - prev.value;
          const mark = document.createElement('span');
          mark.className = `delta ${d > 0 ? 'delta-up' : d < 0 ? 'delta-down' : 'delta-same'}`;
          mark.textContent = fmtDelta(d, { compact: true });
          td.append(' ', mark);
          tip.push(`이전 ${fmtNum(prev.value)} (${fmtKst(prev.observedAt)}) 대비 ${fmtDelta(d)}`);
        }
        if (m.cached.has(c)) {
          td.classList.add('cached');
          tip.push('캐시된 값');
          const mark = document.createElement('span');
          mark.className = 'cache-mark';
          mark.textContent = '(캐시)';
          td.append(mark);
        }
        if (tip.length) td.title = `${label}: ${tip.join(' · ')}`;
      } else {
        const msg = m.errors[c] || m.error;
        td.classList.add(msg ? 'failed' : 'missing');
        td.textContent = msg ? '실패' : '—';
        td.title = msg ? `${label}: ${msg}` : `${label}: 값 없음`;
      }
      tr.append(td);
    }

    const total = document.createElement('td');
    total.className = 'col-num col-total';
    if (m.total === null) {
      total.textContent = '—';
    } else {
      total.textContent = (m.partial ? '≥ ' : '') + fmtNum(m.total);
      const tip = [];
      if (m.total >= 10_000) tip.push(fmtMan(m.total));
      if (m.partial) tip.push('일부 카테고리 실패: 성공한 카테고리만 합산');
      if (tip.length) total.title = tip.join(' · ');
    }
    tr.append(total);
    if (this.volumes) this.renderVolume(tr, m);

    const note = document.createElement('td');
    note.className = 'col-note';
    if (m.error) {
      note.textContent = m.error;
      note.title = m.error;
    }
    tr.append(note);
    return tr;
  }

  /** PC / 모바일 / 합계 검색량 and 경쟁률 cells. Naver's "< 10" is shown as such. */
  renderVolume(tr, m) {
    const v = m.volume;
    for (const part of ['pc', 'mobile', 'total']) {
      const td = document.createElement('td');
      td.className = 'col-num col-vol';
      td.dataset.vol = part;
      if (v) {
        const below = v[`${part}Below`];
        td.textContent = below ? (part === 'total' ? `≈ ${fmtNum(v.total)}` : '< 10') : fmtNum(v[part]);
        if (below) {
          td.classList.add('below');
          td.title = '네이버가 "< 10"(10회 미만)으로 알려 준 값입니다';
        }
      } else {
        td.textContent = '—';
        td.title = m.volumeError || '검색량을 아직 받지 못했습니다';
        if (m.volumeError) td.classList.add('failed');
      }
      tr.append(td);
    }
    const ratio = document.createElement('td');
    ratio.className = 'col-num col-vol col-ratio';
    ratio.textContent = m.ratio === null ? '—' : m.ratio.toFixed(2);
    if (m.ratio !== null) {
      const label = this.labels[this.ratioCat] || this.ratioCat;
      ratio.title = `${label} 문서 수 ÷ 월간 검색량${v?.totalBelow ? ' ("< 10"은 10으로 계산)' : ''}`;
    }
    tr.append(ratio);
  }

  /** Every row model in the current sort order (pending rows included; the filter ignored:
   *  copy and export take the whole job). */
  rows() {
    this.flush();
    return this.all;
  }

  /** The rows the filter lets through, in order. */
  viewRows() {
    this.flush();
    return this.view;
  }
}

function setHeight(spacer, px) {
  const h = `${px}px`;
  if (spacer.firstChild.style.height !== h) spacer.firstChild.style.height = h;
}

function spacerRow() {
  const tr = document.createElement('tr');
  tr.className = 'spacer';
  tr.setAttribute('aria-hidden', 'true');
  tr.append(document.createElement('td'));
  return tr;
}
