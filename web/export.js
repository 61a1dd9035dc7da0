// CSV (UTF-8 with BOM, so Excel shows Korean) and TSV (for pasting into a sheet).

function header(categories, labels) {
  return ['번호', '키워드', ...categories.map((c) => labels[c] || c), '합계', '캐시', '오류', '출처'];
}

function record(m, categories, labels) {
  return [
    m.index + 1,
    m.keyword,
    ...categories.map((c) => (typeof m.counts[c] === 'number' ? m.counts[c] : '')),
    m.total === null ? '' : m.total,
    categories.filter((c) => m.cached.has(c)).map((c) => labels[c] || c).join(', '),
    m.error || '',
    m.source === 'demo' ? '데모' : m.source === 'naver' ? '네이버' : m.source || '',
  ];
}

// A text cell that a spreadsheet would run as a formula gets a leading apostrophe.
const FORMULA = /^[=+\-@\t\r]/;

function csvCell(v) {
  if (typeof v === 'number') return String(v);
  let s = String(v);
  if (FORMULA.test(s)) s = `'${s}`;
  return /[",\r\n]/.test(s) ? `"${s.replaceAll('"', '""')}"` : s;
}

function tsvCell(v) {
  if (typeof v === 'number') return String(v);
  let s = String(v).replace(/[\t\r\n]+/g, ' ');
  if (FORMULA.test(s)) s = `'${s}`;
  return s;
}

export function toCSV(rows, categories, labels) {
  const lines = [header(categories, labels), ...rows.map((m) => record(m, categories, labels))];
  return `\uFEFF${lines.map((l) => l.map(csvCell).join(',')).join('\r\n')}\r\n`;
}

export function toTSV(rows, categories, labels) {
  const lines = [header(categories, labels), ...rows.map((m) => record(m, categories, labels))];
  return lines.map((l) => l.map(tsvCell).join('\t')).join('\n');
}

export function download(filename, text, type = 'text/csv;charset=utf-8') {
  const url = URL.createObjectURL(new Blob([text], { type }));
  const a = document.createElement('a');
  a.href = url;
  a.download = filename;
  a.hidden = true;
  document.body.append(a);
  a.click();
  a.remove();
  setTimeout(() => URL.revokeObjectURL(url), 10_000);
}

export async function copyText(text) {
  if (navigator.clipboard && window.isSecureContext) {
    try {
      await navigator.clipboard.writeText(text);
      return true;
    } catch {
      /* fall back below */
    }
  }
  const ta = document.createElement('textarea');
  ta.value = text;
  ta.setAttribute('readonly', '');
  ta.style.position = 'fixed';
  ta.style.opacity = '0';
  document.body.append(ta);
  ta.select();
  let ok = false;
  try {
    ok = document.execCommand('copy');
  } catch {
    ok = false;
  }
  ta.remove();
  return ok;
}
