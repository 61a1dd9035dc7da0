// CSV (UTF-8 with BOM, so Excel shows Korean) and TSV (for pasting into a sheet). When the
// rows have search volumes, the same volume columns as the server's export (server/export.py):
// PC / 모바일 / 총 검색량, one 경쟁률 per category, 광고 경쟁도; "< 10" stays "< 10".

function hasVolumes(rows) {
  return rows.some((m) => m.volume !== null || m.volumeError);
}

function header(categories, labels, volumes) {
  const names = categories.map((c) => labels[c] || c);
  const vol = volumes
    ? ['PC 검색량', '모바일 검색량', '총 검색량', ...names.map((n) => `경쟁률 (${n})`), '광고 경쟁도']
    : [];
  return ['번호', '키워드', ...names, '합계', ...vol, '캐시', '오류', '출처'];
}

function volumeCell(volume, part) {
  if (!volume) return '';
  if (volume[`${part}Below`]) return '< 10';
  return typeof volume[part] === 'number' ? volume[part] : '';
}

function volumeCells(m, categories) {
  const ratios = m.raw?.ratio || {};
  return [
    volumeCell(m.volume, 'pc'),
    volumeCell(m.volume, 'mobile'),
    volumeCell(m.volume, 'total'),
    ...categories.map((c) => (typeof ratios[c] === 'number' ? ratios[c] : '')),
    m.volume?.compIdx || '',
  ];
}

function record(m, categories, labels, volumes) {
  const errors = [m.error, m.volumeError && `검색량: ${m.volumeError}`].filter(Boolean);
  return [
    m.index + 1,
    m.keyword,
    ...categories.map((c) => (typeof m.counts[c] === 'number' ? m.counts[c] : '')),
    m.total === null ? '' : m.total,
    ...(volumes ? volumeCells(m, categories) : []),
    categories.filter((c) => m.cached.has(c)).map((c) => labels[c] || c).join(', '),
    errors.join('; '),
    m.source === 'demo' ? '데모' : m.source === 'naver' ? '네이버' : m.source || '',
  ];
}

function lines(rows, categories, labels) {
  const volumes = hasVolumes(rows);
  return [
    header(categories, labels, volumes),
    ...rows.map((m) => record(m, categories, labels, volumes)),
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
  const table = lines(rows, categories, labels);
  return `\uFEFF${table.map((l) => l.map(csvCell).join(',')).join('\r\n')}\r\n`;
}

export function toTSV(rows, categories, labels) {
  return lines(rows, categories, labels)
    .map((l) => l.map(tsvCell).join('\t'))
    .join('\n');
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
