// The "새 조회" form: keywords (counted and checked as they are typed), categories, priority,
// and starting a batch. Remembers the draft and the choices in localStorage.

import { api, ApiError } from './api.js';
import { $, hideToast, toast } from './dom.js';
import { fmtDuration, fmtKst, fmtNum } from './format.js';
import { wireExpand } from './expand.js';
import { wireImporter } from './importer.js';
import { dedupeText, parseKeywords } from './keywords.js';
import { page, PRIORITY_LABELS } from './page.js';
import { store } from './store.js';

let kwFrame = 0;
let draftTimer = 0;
let planTimer = 0;
let planAsked = 0; // the newest plan asked for: an older answer arriving late is dropped
const PLAN_DELAY_MS = 400; // typing: ask once the keywords settle, not on every keystroke

/** The quota plan in words: calls, what the keys have left today, today or not before when. */
export function planText(plan) {
  const head = `오늘 남은 한도 ${fmtNum(plan.callsLeftToday)}회`;
  if (plan.fits) return `${head} · 오늘 안에 끝납니다`;
  const until = typeof plan.finishesNotBefore === 'number' ? `${fmtKst(plan.finishesNotBefore)} 이후에 끝납니다` : '오늘 끝나지 않습니다';
  return `${head}로는 부족합니다 (필요 최대 ${fmtNum(plan.callsNeeded)}회): 한도가 초기화되면 이어서 조회하며 ${until}`;
}

function askPlan(keywords, cats) {
  clearTimeout(planTimer);
  const asked = ++planAsked;
  const el = $('quota-plan');
  if (!keywords.length || !cats.length) {
    el.hidden = true;
    return;
  }
  planTimer = setTimeout(async () => {
    let plan = null;
    try {
      plan = (await api('/api/documents/plan', { method: 'POST', body: { keywords, categories: cats } })).quota;
    } catch {
      plan = null; // the plan is advice: without it the form still works
    }
    if (asked !== planAsked) return;
    el.hidden = !plan;
    el.textContent = plan ? planText(plan) : '';
    el.classList.toggle('is-error', Boolean(plan && !plan.fits));
  }, PLAN_DELAY_MS);
}

export function renderCategories() {
  const cats = page.config.categories;
  const list = $('cat-list');
  if (!cats.length) {
    list.replaceChildren(Object.assign(document.createElement('span'), { className: 'help', textContent: '카테고리를 불러오는 중…' }));
    return;
  }
  const saved = store.form().categories;
  const names = new Set(cats.map((c) => c.name));
  const defaults = page.config.defaultCategories || [];
  let selected = (Array.isArray(saved) ? saved : defaults).filter((n) => names.has(n));
  if (!selected.length) selected = defaults.filter((n) => names.has(n));
  list.replaceChildren(
    ...cats.map((c) => {
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
  // before the config arrives there are no boxes: keep the saved choice rather than erase it
  const categories = page.config.categories.length ? selectedCategories() : store.form().categories;
  store.setForm({ ...store.form(), categories, priority: $('priority').value });
  analyzeKeywords();
}

function scheduleAnalyze() {
  if (!kwFrame) {
    kwFrame = requestAnimationFrame(() => {
      kwFrame = 0;
      analyzeKeywords();
    });
  }
  clearTimeout(draftTimer);
  draftTimer = setTimeout(() => store.setForm({ ...store.form(), draft: $('keywords').value }), 400);
}

export function analyzeKeywords() {
  const { maxKeywords, maxKeywordChars, ratePerSec } = page.config;
  const r = parseKeywords($('keywords').value, { maxKeywords, maxKeywordChars });
  const n = r.keywords.length;

  const count = $('kw-count');
  count.replaceChildren();
  const strong = document.createElement('strong');
  strong.textContent = `키워드 ${fmtNum(n)}개`;
  count.append(strong, ` / 최대 ${fmtNum(maxKeywords)}개`);
  if (r.duplicateCount) count.append(` · 중복 ${fmtNum(r.duplicateCount)}개`);
  count.classList.remove('is-error');

  const issues = [];
  if (r.overLimit) {
    // Said before starting: a long list becomes several jobs of at most maxKeywords each.
    const parts = Math.ceil(n / maxKeywords);
    issues.push([
      'warn',
      `키워드가 ${fmtNum(n)}개입니다. ${fmtNum(maxKeywords)}개씩 ${fmtNum(parts)}개 작업으로 나눠 시작합니다.`,
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
    issues.push(['warn', `중복된 키워드: ${list}${more} (중복은 한 번만 조회되고, 결과에는 입력한 자리마다 나옵니다)`]);
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
  // duplicates are fetched once (the server counts each distinct keyword once)
  const calls = (n - r.duplicateCount) * cats.length;
  $('estimate').textContent =
    n && cats.length
      ? `API 호출 ${fmtNum(calls)}회 · 최대 약 ${fmtDuration((calls / (ratePerSec || 10)) * 1000)} 걸립니다 (초당 ${fmtNum(ratePerSec)}회 기준, 캐시된 값은 더 빠릅니다)`
      : '';
  const valid = !r.overLimit && !r.tooLong.length;
  askPlan(valid ? r.keywords : [], cats);
  return r;
}

function formError(message) {
  const el = $('form-error');
  el.textContent = message || '';
  el.hidden = !message;
  if (message) hideToast();
}

/** "맥북, 아이폰 15 외 10개": how a job is called in the list. */
export function jobName(first, total) {
  const shown = first.map((k) => ([...k].length > 14 ? `${[...k].slice(0, 14).join('')}…` : k));
  return total > shown.length ? `${shown.join(', ')} 외 ${fmtNum(total - shown.length)}개` : shown.join(', ');
}

/** @param {(jobId: string, summary: object) => void} onStarted */
async function submitBatch(e, onStarted) {
  e?.preventDefault();
  const r = analyzeKeywords();
  const cats = selectedCategories();
  let problem = null;
  if (!r.keywords.length) problem = '키워드를 한 개 이상 입력해 주세요.';
  else if (r.tooLong.length)
    problem = `${fmtNum(page.config.maxKeywordChars)}자를 넘는 키워드가 있습니다. 줄이거나 지워 주세요.`;
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
  const size = page.config.maxKeywords || 1000;
  const parts = [];
  for (let i = 0; i < r.keywords.length; i += size) parts.push(r.keywords.slice(i, i + size));
  try {
    let first = null;
    for (let i = 0; i < parts.length; i++) {
      const keywords = parts[i];
      const body = { keywords, categories: cats, priority };
      if (parts.length > 1) {
        // "캠핑 외 2,499개 (1/3)": the server's default name, numbered
        body.name = `${jobName(r.keywords.slice(0, 1), r.keywords.length)} (${i + 1}/${parts.length})`;
      }
      const res = await api('/api/documents/batch', { method: 'POST', body, interactive: true });
      const summary = {
        id: res.jobId,
        status: 'pending',
        progress: { current: 0, total: keywords.length },
        categories: cats,
        priority,
        queuePosition: null,
        createdAt: Date.now(),
        local: true,
        name: body.name || null,
      };
      const name = body.name || jobName(keywords.slice(0, 2), keywords.length);
      store.setJobName(res.jobId, name);
      page.jobList.setName(res.jobId, name);
      page.jobList.upsert(summary);
      if (!first) first = { res, summary };
    }
    onStarted(first.res.jobId, first.summary);
    toast(
      parts.length > 1
        ? `${fmtNum(parts.length)}개 작업으로 나눠 시작했습니다`
        : first.res.message || '배치 작업이 시작되었습니다',
    );
  } catch (err) {
    formError(err instanceof ApiError ? err.message : '작업을 시작하지 못했습니다.');
  } finally {
    btn.disabled = false;
    btn.textContent = '조회 시작';
  }
}

/** @param {{onStarted: (jobId: string, summary: object) => void}} o */
export function wireForm({ onStarted }) {
  const kw = $('keywords');
  const form = store.form();
  if (typeof form.draft === 'string') kw.value = form.draft;
  if (form.priority && PRIORITY_LABELS[form.priority]) $('priority').value = form.priority;
  const submit = (e) => submitBatch(e, onStarted);
  kw.addEventListener('input', scheduleAnalyze);
  kw.addEventListener('keydown', (e) => {
    if (e.key === 'Enter' && (e.ctrlKey || e.metaKey)) submit(e);
  });
  $('batch-form').addEventListener('submit', submit);
  $('cat-list').addEventListener('change', onFormChange);
  $('priority').addEventListener('change', onFormChange);
  $('cats-default').addEventListener('click', () => setCategories(page.config.defaultCategories || []));
  $('cats-all').addEventListener('click', () => setCategories(page.config.categories.map((c) => c.name)));
  wireImporter(scheduleAnalyze);
  wireExpand(scheduleAnalyze);
  $('dedupe').addEventListener('click', () => {
    kw.value = dedupeText(kw.value);
    scheduleAnalyze();
    toast('중복된 키워드를 지웠습니다.');
    kw.focus();
  });
}
