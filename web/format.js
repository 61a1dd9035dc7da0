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

/** A change: 1204 -> "▲1,204", -5 -> "▼5", 0 -> "변동 없음"; `compact` shortens 10,000 and
 *  more to 만 ("▲1.3만") and 0 to "–", for the small mark beside a count. */
export function fmtDelta(d, { compact = false } = {}) {
  if (typeof d !== 'number' || !Number.isFinite(d)) return '';
  if (d === 0) return compact ? '–' : '변동 없음';
  const a = Math.abs(d);
  const text = compact && a >= 10_000 ? `${nf1.format(a / 10_000)}만` : nf.format(a);
  return `${d > 0 ? '▲' : '▼'}${text}`;
}

// Naver's day and the service's schedules are Korean time, whatever the browser's zone.
const kstDateTime = new Intl.DateTimeFormat('ko-KR', {
  timeZone: 'Asia/Seoul',
  year: 'numeric',
  month: '2-digit',
  day: '2-digit',
  hour: '2-digit',
  minute: '2-digit',
  hourCycle: 'h23',
});
const kstDay = new Intl.DateTimeFormat('ko-KR', { timeZone: 'Asia/Seoul', month: 'numeric', day: 'numeric' });

function kstParts(ms) {
  const p = {};
  for (const { type, value } of kstDateTime.formatToParts(new Date(ms))) p[type] = value;
  return p;
}

/** Epoch ms -> "2026-01-05 14:03 KST". */
export function fmtKst(ms) {
  if (typeof ms !== 'number' || !Number.isFinite(ms)) return '';
  const p = kstParts(ms);
  return `${p.year}-${p.month}-${p.day} ${p.hour}:${p.minute} KST`;
}

/** Epoch ms -> "1. 5." style short KST day, for chart axes. */
export function fmtKstDay(ms) {
  return kstDay.format(new Date(ms));
}
