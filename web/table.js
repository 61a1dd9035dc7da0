// The results table. Rows arrive one by one (up to 1,000+); they are queued and written to
// the DOM once per animation frame, each inserted at its sorted position. Sorting by the user
// reorders the existing <tr> nodes; nothing is ever re-rendered wholesale per event.

import { fmtMan, fmtNum } from './format.js';

const FRAME_ROWS = 150;
const NOTE_MIN_EM = 6;

const collator = new Intl.Collator('ko-KR', { numeric: true, sensitivity: 'base' });

/** Derived, display-ready view of one Result. */
export function rowModel(r, categories) {
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
  const first = categories[0];
  const ratio = r.ratio && typeof r.ratio[first] === 'number' ? r.ratio[first] : null;
  return {
    index: r.index,
    keyword: r.keyword ?? '',
    volume,
    ratio,
    volumeError: errors.searchVolume || null,
    sig: JSON.stringify([r.counts, r.errors, r.error, volume?.total, volume?.pc, r.ratio]),
    counts,
    errors,
    cached,
    error: r.error || null,
    source: r.source || null,
    total: have ? total : null,
    partial: have > 0 && have < categories.length,
    raw: r,
    el: null,
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
  /** @param {HTMLTableElement} table */
  constructor(table, { onChange } = {}) {
    this.table = table;
    this.thead = table.tHead || table.createTHead();
    this.tbody = table.tBodies[0] || table.createTBody();
    this.onChange = onChange;
    this.categories = [];
    this.labels = {};
    this.byIndex = new Map();
    this.order = []; // row models in display order
    this.queue = [];
    this.frame = 0;
    this.volumes = false; // the server has a search volume source: PC / 모바일 / 합계, 경쟁률
    this.sort = { key: 'index', dir: 'asc' };
    this.cmp = compareBy('index', 'asc');
    this.thead.addEventListener('click', (e) => {
      const btn = e.target.closest('button[data-sort]');
      if (btn) this.toggleSort(btn.dataset.sort);
    });
  }

  get size() {
    return this.byIndex.size + this.queue.length;
  }

  /** Show the search volume columns (from the next setColumns on). */
  setVolumes(on) {
    if (this.volumes === on) return;
    this.volumes = on;
    const rows = [...this.order.map((m) => m.raw), ...this.queue];
    this.renderHead();
    this.clear();
    this.add(rows);
  }

  /** New column set: clears everything. */
  setColumns(categories, labels) {
    this.categories = [...categories];
    this.labels = { ...labels };
    this.clear();
    this.renderHead();
  }

  clear() {
    cancelAnimationFrame(this.frame);
    this.frame = 0;
    this.queue = [];
    this.byIndex.clear();
    this.order = [];
    this.tbody.replaceChildren();
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
            { key: 'ratio', label: '경쟁률', cls: 'col-num col-vol col-ratio' },
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
    // fixed layout: adding or moving rows never re-measures the whole table
    // (in em of the table's font; the note column takes what is left, at least NOTE_MIN_EM)
    const widths = [
      3.2,
      11,
      ...this.categories.map(() => 6.6),
      8.6,
      ...(this.volumes ? [7, 7.4, 7.4, 6] : []),
    ];
    const colgroup = document.createElement('colgroup');
    for (const w of [...widths, null]) {
      const col = document.createElement('col');
      if (w) col.style.width = `${w}em`;
      colgroup.append(col);
    }
    this.table.querySelector('colgroup')?.remove();
    this.thead.before(colgroup);
    this.table.style.minWidth = `${widths.reduce((a, b) => a + b, NOTE_MIN_EM)}em`;
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
    this.flush(); // pending rows first, then one reorder
    this.order.sort(this.cmp);
    const frag = document.createDocumentFragment();
    for (const r of this.order) frag.append(r.el);
    this.tbody.append(frag);
    this.renderSortState();
    this.onChange?.();
  }

  /** Queue results; they reach the DOM on the next animation frame. A result for an index
   *  already shown replaces its row in place when it says more (its search volume arrived);
   *  an identical one is ignored. */
  add(results) {
    for (const r of results) {
      const shown = this.byIndex.get(r.index);
      if (shown) {
        this.update(shown, r);
        continue;
      }
      this.queue.push(r);
    }
    if (this.queue.length && !this.frame) {
      this.frame = requestAnimationFrame(() => this.flush(false));
    }
  }

  update(shown, r) {
    const m = rowModel(r, this.categories);
    if (m.sig === shown.sig) return;
    m.el = this.renderRow(m);
    shown.el.replaceWith(m.el);
    this.byIndex.set(m.index, m);
    const at = this.order.indexOf(shown);
    if (at >= 0) this.order[at] = m;
    this.onChange?.();
  }

  /** Replace all rows (a snapshot with gap, or a job opened from cache). */
  reset(results) {
    this.clear();
    this.add(results);
  }

  /** Write queued rows. Per animation frame at most FRAME_ROWS, so a big batch (a poll, a
   *  reopened job) never freezes the page; `all` (export, sorting) writes everything now. */
  flush(all = true) {
    cancelAnimationFrame(this.frame);
    this.frame = 0;
    if (!this.queue.length) return;
    let batch = this.queue;
    this.queue = [];
    if (!all && batch.length > FRAME_ROWS) {
      this.queue = batch.slice(FRAME_ROWS);
      batch = batch.slice(0, FRAME_ROWS);
      this.frame = requestAnimationFrame(() => this.flush(false));
    }
    const fresh = [];
    for (const r of batch) {
      if (this.byIndex.has(r.index)) continue;
      const m = rowModel(r, this.categories);
      m.el = this.renderRow(m);
      this.byIndex.set(m.index, m);
      fresh.push(m);
    }
    if (!fresh.length) return;
    // a short highlight for rows arriving live; not for a thousand rows opened at once
    if (fresh.length <= 20) for (const m of fresh) m.el.classList.add('row-new');
    fresh.sort(this.cmp);
    const last = this.order[this.order.length - 1];
    if (!last || this.cmp(last, fresh[0]) <= 0) {
      // the common case: everything goes after the current last row
      const frag = document.createDocumentFragment();
      for (const m of fresh) frag.append(m.el);
      this.tbody.append(frag);
      this.order.push(...fresh);
    } else {
      for (const m of fresh) {
        let lo = 0;
        let hi = this.order.length;
        while (lo < hi) {
          const mid = (lo + hi) >> 1;
          if (this.cmp(this.order[mid], m) <= 0) lo = mid + 1;
          else hi = mid;
        }
        const before = this.order[lo];
        this.order.splice(lo, 0, m);
        this.tbody.insertBefore(m.el, before ? before.el : null);
      }
    }
    this.onChange?.();
  }

  renderRow(m) {
    const tr = document.createElement('tr');
    tr.dataset.index = String(m.index);
    if (m.error) tr.classList.add('row-error');

    const idx = document.createElement('td');
    idx.className = 'col-idx';
    idx.textContent = String(m.index + 1);
    tr.append(idx);

    const kw = document.createElement('th');
    kw.scope = 'row';
    kw.className = 'col-kw';
    kw.textContent = m.keyword;
    kw.title = m.keyword;
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

    if (this.volumes) {
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
        const label = this.labels[this.categories[0]] || this.categories[0];
        ratio.title = `${label} 문서 수 ÷ 월간 검색량${v?.totalBelow ? ' ("< 10"은 10으로 계산)' : ''}`;
      }
      tr.append(ratio);
    }

    const note = document.createElement('td');
    note.className = 'col-note';
    if (m.error) {
      note.textContent = m.error;
      note.title = m.error;
    }
    tr.append(note);
    return tr;
  }

  /** Row models in the order shown (pending rows included). */
  rows() {
    this.flush();
    return this.order;
  }
}
