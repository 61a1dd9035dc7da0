// Number, time and duration formatting for Korean readers.

const nf = new Intl.NumberFormat('ko-KR');
const nf1 = new Intl.NumberFormat('ko-KR', { maximumFractionDigits: 1 });

/** 12543 -> "12,543" */
export function fmtNum(n) {
  return typeof n === 'number' && Number.isFinite(n) ? nf.format(n) : '—';
}

/** Korean 만/억 reading of a count, for tooltips: 12543 -> "약 1.3만", 125430000 -> "약 1억 2,543만". */
export function fmtMan(n) {
  if (typeof n !== 'number' || !Number.isFinite(n)) return '';
  if (n < 10_000) return `${nf.format(n)}`;
  if (n < 100_000) return `약 ${nf1.format(n / 10_000)}만`;
  let eok = Math.floor(n / 100_000_000);
  let man = Math.round((n % 100_000_000) / 10_000);
  if (man === 10_000) {
    eok += 1;
    man = 0;
  }
  const parts = [];
  if (eok) parts.push(`${nf.format(eok)}억`);
  if (man) parts.push(`${nf.format(man)}만`);
  return `약 ${parts.join(' ')}`;
}

/** 83000 -> "1분 23초" */
export function fmtDuration(ms) {
  if (typeof ms !== 'number' || !Number.isFinite(ms) || ms < 0) return '';
  const s = Math.round(ms / 1000);
  if (s < 1) return '1초 미만';
  if (s < 60) return `${s}초`;
  const m = Math.floor(s / 60);
  if (m < 60) return s % 60 ? `${m}분 ${s % 60}초` : `${m}분`;
  const h = Math.floor(m / 60);
  return m % 60 ? `${h}시간 ${m % 60}분` : `${h}시간`;
}

// built once: a formatter per call (toLocaleString with options) costs more than the page's
// whole render of a frame
const timeToday = new Intl.DateTimeFormat('ko-KR', { hour: 'numeric', minute: '2-digit' });
const timeOther = new Intl.DateTimeFormat('ko-KR', {
  month: 'long',
  day: 'numeric',
  hour: 'numeric',
  minute: '2-digit',
});

/** Epoch ms -> "오후 3:12" today, "10월 4일 오후 3:12" otherwise. */
export function fmtTime(ms) {
  if (!ms) return '';
  const d = new Date(ms);
  const now = new Date();
  const sameDay =
    d.getFullYear() === now.getFullYear() && d.getMonth() === now.getMonth() && d.getDate() === now.getDate();
  return (sameDay ? timeToday : timeOther).format(d);
}

/** Epoch ms -> "2025-10-04 15:12:03" (for titles and exports). */
export function fmtDateTime(ms) {
  if (!ms) return '';
  const d = new Date(ms);
  const p = (x) => String(x).padStart(2, '0');
  return `${d.getFullYear()}-${p(d.getMonth() + 1)}-${p(d.getDate())} ${p(d.getHours())}:${p(d.getMinutes())}:${p(d.getSeconds())}`;
}

/** 3.24 -> "초당 3.2개" */
export function fmtRate(perSec) {
  if (typeof perSec !== 'number' || !Number.isFinite(perSec) || perSec <= 0) return '';
  return `초당 ${nf1.format(perSec)}개`;
}
