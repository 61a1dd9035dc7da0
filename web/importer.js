// Keywords from a file (.txt, .csv, .xlsx: dropped on the keyword box or chosen) or from a
// spreadsheet paste (text with tabs). The server reads it (POST /api/documents/keywords/parse,
// openpyxl for .xlsx: no spreadsheet library in the page), by the same rules as the CLI: a
// 키워드/keyword header row is skipped, numbers alone are never keywords. The user picks the
// column (the 키워드 column, else the first, by default); the keywords then fill the box.

import { ApiError, getToken, MSG_UNREACHABLE } from './api.js';
import { $, toast } from './dom.js';
import { fmtNum } from './format.js';

let pending = null; // {body, filename}: what the picker is showing

async function parse(body, filename, column) {
  const q = new URLSearchParams({ filename });
  if (column) q.set('column', String(column));
  const headers = { Accept: 'application/json' };
  const token = getToken();
  if (token) headers.Authorization = `Bearer ${token}`;
  let res;
  try {
    res = await fetch(`/api/documents/keywords/parse?${q}`, { method: 'POST', body, headers });
  } catch {
    throw new ApiError(MSG_UNREACHABLE, { status: 0, code: 'network' });
  }
  let data = null;
  try {
    data = await res.json();
  } catch {
    /* not JSON */
  }
  if (!res.ok || !data?.success) {
    throw new ApiError(data?.error || `파일을 읽지 못했습니다 (${res.status}).`, {
      status: res.status,
      code: data?.code || `http_${res.status}`,
    });
  }
  return data;
}

function show(data) {
  const panel = $('import-panel');
  const select = $('import-column');
  select.replaceChildren(
    ...data.columns.map((c) => {
      const o = document.createElement('option');
      o.value = String(c.index);
      const sample = c.sample.length ? ` · ${c.sample.slice(0, 3).join(', ')}` : '';
      o.textContent = `${c.name} (${fmtNum(c.count)}개${sample})`;
      o.disabled = c.count === 0;
      return o;
    }),
  );
  select.value = String(data.column);
  $('import-name').textContent = pending.filename;
  const n = data.keywords.length;
  $('import-summary').textContent =
    `${data.headerRow ? '첫 행은 제목으로 보고 건너뜁니다. ' : ''}` +
    `선택한 열의 키워드 ${fmtNum(n)}개` +
    (n > 1000 ? ` (1,000개씩 ${Math.ceil(n / 1000)}개 작업으로 나눠 시작됩니다)` : '');
  panel.dataset.keywords = JSON.stringify(data.keywords);
  panel.hidden = false;
}

async function open(body, filename) {
  pending = { body, filename };
  try {
    show(await parse(body, filename));
  } catch (e) {
    pending = null;
    $('import-panel').hidden = true;
    toast(e instanceof ApiError ? e.message : '파일을 읽지 못했습니다.', 'error');
  }
}

function close() {
  pending = null;
  $('import-panel').hidden = true;
}

/** @param {() => void} onFilled called after the keywords replaced the box's text */
export function wireImporter(onFilled) {
  const kw = $('keywords');
  const input = $('import-file');
  $('import-choose').addEventListener('click', () => input.click());
  input.addEventListener('change', () => {
    const file = input.files?.[0];
    if (file) open(file, file.name);
    input.value = '';
  });
  kw.addEventListener('dragover', (e) => {
    if ([...(e.dataTransfer?.types || [])].includes('Files')) {
      e.preventDefault();
      kw.classList.add('drop-target');
    }
  });
  kw.addEventListener('dragleave', () => kw.classList.remove('drop-target'));
  kw.addEventListener('drop', (e) => {
    const file = e.dataTransfer?.files?.[0];
    kw.classList.remove('drop-target');
    if (!file) return;
    e.preventDefault();
    open(file, file.name);
  });
  // A paste of several spreadsheet columns (tab-separated) goes through the picker; a plain
  // list is left to the box as before.
  kw.addEventListener('paste', (e) => {
    const text = e.clipboardData?.getData('text/plain') || '';
    if (!text.includes('\t')) return;
    e.preventDefault();
    open(new Blob([text], { type: 'text/plain' }), '붙여넣기.txt');
  });
  $('import-column').addEventListener('change', async (e) => {
    if (!pending) return;
    try {
      show(await parse(pending.body, pending.filename, e.target.value));
    } catch (err) {
      toast(err instanceof ApiError ? err.message : '파일을 읽지 못했습니다.', 'error');
    }
  });
  $('import-cancel').addEventListener('click', close);
  $('import-apply').addEventListener('click', () => {
    const keywords = JSON.parse($('import-panel').dataset.keywords || '[]');
    kw.value = keywords.join('\n');
    close();
    onFilled();
    toast(`키워드 ${fmtNum(keywords.length)}개를 넣었습니다.`, 'success');
    kw.focus();
  });
}
