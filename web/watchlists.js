// 관심 키워드: watchlists (GET/POST/PATCH/DELETE /api/watchlists, POST .../run). Each list shows
// its schedule, next and last run (KST), and the keywords that moved most in its last run
// (from each result's `previous`).
//
// A run being counted is followed live: the panel subscribes to the run's job through the
// page's shared live connection (shared.js: one stream per browser and topic, held by the
// leader tab and relayed to the others) and recomputes the movers from every `result` event.
// When the dashboard has the run open (지금 실행 opens it) it is the same topic: no second
// stream. The jobs feed (already open) says when a run starts, so the panel looks again at
// once instead of at its next REFRESH_MS tick; that tick stays for the lists' other fields.

import { api } from './api.js';
import { $ } from './dom.js';
import { fmtDelta, fmtKst, fmtNum } from './format.js';
import { newerId, TERMINAL } from './jobstate.js';
import { page } from './page.js';
import { SharedStream } from './shared.js';

const REFRESH_MS = 15_000;
const FEED_REFRESH_MS = 1000; // jobs-feed changes come in bursts: one look per burst
const HIDDEN_LET_GO_MS = 30_000; // as the open job's stream does (app.js)
const MOVERS = 3;

function el(tag, cls, text) {
  const node = document.createElement(tag);
  if (cls) node.className = cls;
  if (text !== undefined) node.textContent = text;
  return node;
}

function scheduleText(s) {
  return s.daily ? `매일 ${s.daily} (한국 시간)` : `${s.everyHours}시간마다`;
}

/** Keywords of a run by their change since the previous count (sum over categories). */
export function movers(results) {
  const moved = [];
  for (const r of results || []) {
    let d = 0;
    let seen = false;
    for (const [c, prev] of Object.entries(r.previous || {})) {
      if (typeof r.counts?.[c] === 'number') {
        d += r.counts[c] - prev.value;
        seen = true;
      }
    }
    if (seen && d !== 0) moved.push({ keyword: r.keyword, d });
  }
  moved.sort((a, b) => b.d - a.d);
  const up = moved.filter((m) => m.d > 0).slice(0, MOVERS);
  const down = moved.filter((m) => m.d < 0).reverse().slice(0, MOVERS);
  return { up, down };
}

// Runs by job id: {status, results: Map(index -> result), lastEventId, stream}. A run still
// counting is followed live; a finished one is kept so it is not fetched again.
const runs = new Map();

function mergeRun(run, job, replace) {
  if (replace) run.results.clear();
  for (const r of job?.results || []) run.results.set(r.index, r);
  if (job?.status) run.status = job.status;
}

/** One event of the run's job stream (the same events the open job gets). */
function applyRun(run, ev) {
  switch (ev.type) {
    case 'snapshot':
    case 'poll':
      mergeRun(run, ev.job, ev.type === 'snapshot' && ev.gap === true);
      run.lastEventId = newerId(run.lastEventId, ev.type === 'snapshot' ? (ev.id ?? ev.job?.lastEventId) : ev.job?.lastEventId);
      break;
    case 'result':
      // a second event for an index (its search volume arrived) replaces the first
      run.results.set(ev.result.index, ev.result);
      break;
    case 'status':
      run.status = ev.status;
      break;
    default:
      return false;
  }
  if (ev.id != null && ev.type !== 'snapshot') run.lastEventId = newerId(run.lastEventId, String(ev.id));
  return true;
}

function runMovers(run) {
  return { status: run.status, ...movers([...run.results.values()]) };
}

/** Follow a run that is still counting; its movers are redrawn as its results arrive. */
function follow(jobId, job) {
  let run = runs.get(jobId);
  if (run?.stream && !run.stream.stopped) return run;
  run ||= { status: job?.status || 'pending', results: new Map(), lastEventId: null, stream: null };
  if (job) mergeRun(run, job, true);
  runs.set(jobId, run);
  if (TERMINAL.has(run.status) || !page.ready) return run; // not before the page has its config
  run.stream = new SharedStream({
    kind: 'job',
    jobId,
    lastEventId: () => run.lastEventId,
    onEvent: (ev) => {
      if (applyRun(run, ev)) drawMovers(jobId);
      return TERMINAL.has(run.status);
    },
    onGone: () => runs.delete(jobId), // expired with its job
  });
  run.stream.start();
  return run;
}

/** Stop following (the tab is hidden): a later look starts again from where it was. */
function letGo() {
  for (const run of runs.values()) run.stream?.stop();
}

async function moversOf(jobId) {
  const known = runs.get(jobId);
  if (known && (TERMINAL.has(known.status) || (known.stream && !known.stream.stopped))) return runMovers(known);
  try {
    const { job } = await api(`/api/documents/status?jobId=${encodeURIComponent(jobId)}`);
    return runMovers(follow(jobId, job));
  } catch {
    return null; // expired with its job
  }
}

/** The movers part of a list's entry, from what is known of its run. */
function moversBox(m) {
  const box = el('div', 'wl-live');
  if (m && (m.up.length || m.down.length)) {
    if (m.up.length) box.append(moverList('많이 오름', m.up));
    if (m.down.length) box.append(moverList('많이 내림', m.down));
  } else if (m && m.status !== 'completed') {
    box.append(el('p', 'help', '마지막 실행을 조회하는 중…'));
  }
  return box;
}

function drawMovers(jobId) {
  const run = runs.get(jobId);
  if (!run) return;
  for (const li of document.querySelectorAll('#wl-list .wl-item')) {
    if (li.dataset.job !== jobId) continue;
    li.querySelector('.wl-live')?.replaceWith(moversBox(runMovers(run)));
  }
}

function moverList(title, items) {
  const p = el('p', 'wl-movers');
  p.append(el('span', 'wl-movers-title', title));
  for (const m of items) {
    const b = el('button', 'kw-link', m.keyword);
    b.type = 'button';
    b.dataset.keyword = m.keyword;
    p.append(' ', b, el('span', m.d > 0 ? 'delta delta-up' : 'delta delta-down', fmtDelta(m.d)));
  }
  return p;
}

async function renderList() {
  const list = $('wl-list');
  let data;
  try {
    data = await api('/api/watchlists');
  } catch (e) {
    $('wl-status').textContent = e.message;
    return;
  }
  $('wl-status').textContent = data.watchlists.length ? '' : '아직 관심 키워드 목록이 없습니다.';
  const items = await Promise.all(
    data.watchlists.map(async (wl) => {
      const li = el('li', 'wl-item');
      li.dataset.id = wl.id;
      const head = el('div', 'wl-head');
      head.append(el('strong', 'wl-name', wl.name), el('span', 'badge', wl.paused ? '일시정지' : '사용 중'));
      li.append(head);
      li.append(el('p', 'help', `키워드 ${fmtNum(wl.keywords.length)}개 · ${scheduleText(wl.schedule)}`));
      const when = [];
      when.push(wl.nextRunAt ? `다음 실행 ${fmtKst(wl.nextRunAt)}` : '다음 실행 없음 (일시정지)');
      when.push(wl.lastRunAt ? `마지막 실행 ${fmtKst(wl.lastRunAt)}` : '아직 실행 전');
      li.append(el('p', 'help wl-when', when.join(' · ')));
      if (wl.quota && !wl.quota.fits) {
        li.append(
          el(
            'p',
            'form-error',
            `오늘 남은 호출 ${fmtNum(wl.quota.callsLeftToday)}회로는 부족합니다 (필요 ${fmtNum(wl.quota.callsNeeded)}회): 실행하면 ${fmtKst(wl.quota.finishesNotBefore)} 이후에 끝납니다.`,
          ),
        );
      }
      if (wl.lastJobId) {
        li.dataset.job = wl.lastJobId;
        li.append(moversBox(await moversOf(wl.lastJobId)));
      }
      const actions = el('div', 'wl-actions');
      const run = el('button', 'btn btn-ghost btn-small', '지금 실행');
      run.type = 'button';
      run.dataset.run = wl.id;
      const pause = el('button', 'btn btn-ghost btn-small', wl.paused ? '재개' : '일시정지');
      pause.type = 'button';
      pause.dataset.pause = wl.id;
      pause.dataset.paused = String(wl.paused);
      const del = el('button', 'btn btn-danger-ghost btn-small', '삭제');
      del.type = 'button';
      del.dataset.delete = wl.id;
      actions.append(run, pause, del);
      li.append(actions);
      return li;
    }),
  );
  list.replaceChildren(...items);
  // results that arrived while the entries were being built
  for (const jobId of runs.keys()) drawMovers(jobId);
}

function wire() {
  const form = $('wl-form');
  if (!form) return;
  $('wl-kind').addEventListener('change', () => {
    const daily = $('wl-kind').value === 'daily';
    $('wl-time').hidden = !daily;
    $('wl-hours').hidden = daily;
  });
  form.addEventListener('submit', async (e) => {
    e.preventDefault();
    const keywords = $('wl-keywords')
      .value.split(/[\n,\t]/)
      .map((k) => k.trim())
      .filter(Boolean);
    const schedule =
      $('wl-kind').value === 'daily' ? { daily: $('wl-time').value } : { everyHours: Number($('wl-hours').value) };
    try {
      await api('/api/watchlists', {
        method: 'POST',
        body: { name: $('wl-name').value, keywords, schedule },
        interactive: true,
      });
      $('wl-error').hidden = true;
      form.reset();
      $('wl-time').hidden = false;
      $('wl-hours').hidden = true;
      await renderList();
    } catch (err) {
      $('wl-error').textContent = err.message;
      $('wl-error').hidden = false;
    }
  });
  $('wl-list').addEventListener('click', async (e) => {
    const b = e.target.closest('button[data-run], button[data-pause], button[data-delete]');
    if (!b) return;
    const path = `/api/watchlists/${encodeURIComponent(b.dataset.run || b.dataset.pause || b.dataset.delete)}`;
    try {
      if (b.dataset.run) {
        const { jobId } = await api(`${path}/run`, { method: 'POST', interactive: true });
        location.hash = `job=${jobId}`; // the dashboard opens the run's job
      } else if (b.dataset.pause) {
        await api(path, { method: 'PATCH', body: { paused: b.dataset.paused !== 'true' }, interactive: true });
      } else {
        await api(path, { method: 'DELETE', interactive: true });
      }
    } catch (err) {
      $('wl-status').textContent = err.message;
    }
    await renderList();
  });
  renderList();
  setInterval(renderList, REFRESH_MS);
  // A run started by the scheduler (or another tab) shows up in the jobs feed: look now.
  let feedTimer = 0;
  document.addEventListener('doccount:jobs-changed', () => {
    if (feedTimer) return;
    feedTimer = setTimeout(() => {
      feedTimer = 0;
      renderList();
    }, FEED_REFRESH_MS);
  });
  let hiddenTimer = 0;
  document.addEventListener('visibilitychange', () => {
    clearTimeout(hiddenTimer);
    if (document.hidden) hiddenTimer = setTimeout(letGo, HIDDEN_LET_GO_MS);
    else renderList();
  });
}

wire();
