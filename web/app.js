// doccount dashboard: the page's entry point. Builds the parts (form, open job, job list,
// connection indicator, jobs feed), wires the page-wide events and boots. Plain ES modules,
// no build step; each part lives in its own module:
//   form.js (새 조회) · jobview.js (the open job) · jobactions.js (cancel, export, copy) ·
//   joblist.js (최근 작업) · feed.js (the jobs feed) · conn.js (the indicator) · token.js ·
//   jobstate.js (a job's state: changed only by JobState.apply(event)) · page.js (shared state).

import { api, ApiError, getToken, MSG_UNREACHABLE, requestToken, setSlowNotice } from './api.js';
import { $, showGlobalAlert, sleep } from './dom.js';
import { restartFeed, scheduleListRefresh, startFeed } from './feed.js';
import { analyzeKeywords, renderCategories, wireForm } from './form.js';
import { renderExpandButton } from './expand.js';
import { cancelJob, wireJobActions } from './jobactions.js';
import { JobList } from './joblist.js';
import {
  hashJob,
  openJob,
  relabelJob,
  renderNow,
  restartJobStream,
  saveNow,
  scheduleRender,
  startJobStream,
} from './jobview.js';
import { page, setConfig } from './page.js';
import { sharingSupported } from './shared.js';
import { store } from './store.js';
import { ResultTable } from './table.js';
import { wireTokenDialog } from './token.js';
import { setEventTypes } from './transport.js';

page.table = new ResultTable($('result-table'), {
  onChange: () => scheduleRender(),
  ratioCategory: store.ratioCategory(),
});
page.jobList = new JobList($('job-list'), { onCancel: (id, btn) => cancelJob(id, btn) });

async function loadConfig() {
  for (let attempt = 0; ; attempt++) {
    try {
      applyConfig(await api('/api/config'));
      showGlobalAlert('');
      return;
    } catch (e) {
      showGlobalAlert(
        e instanceof ApiError && !e.network
          ? `설정을 불러오지 못했습니다: ${e.message}`
          : `${MSG_UNREACHABLE} 자동으로 다시 시도합니다…`,
      );
      await sleep(Math.min(10_000, 1000 * 2 ** attempt));
    }
  }
}

function applyConfig(c) {
  setConfig(c);
  setEventTypes(page.config.eventTypes);
  page.jobList.setLabels(page.labels);
  $('demo-banner').hidden = page.config.provider !== 'demo';
  document.body.classList.toggle('is-demo', page.config.provider === 'demo');
  renderCategories();
  renderExpandButton();
  const volumes = Boolean(page.config.volumeProvider) && page.config.volumeProvider !== 'off';
  page.table.setVolumes(volumes);
  $('hot-tools').hidden = !volumes;
  analyzeKeywords();
  relabelJob();
}

// Requests the server has not answered for a few seconds: say so, with the time waited.
let slowTimer = 0;
function showSlow(waiting) {
  clearInterval(slowTimer);
  const el = $('slow-notice');
  if (!waiting.length) {
    el.hidden = true;
    return;
  }
  const started = Date.now() - Math.max(...waiting.map((w) => w.sinceMs));
  const render = () => {
    const s = Math.round((Date.now() - started) / 1000);
    el.textContent = `서버가 ${s}초째 응답하지 않습니다 (요청 ${waiting.length}개). 서버나 네트워크가 느리거나 연결이 모자란 것 같습니다. 계속 기다리는 중입니다…`;
  };
  render();
  el.hidden = false;
  slowTimer = setInterval(render, 1000);
}

function wire() {
  wireForm({ onStarted: (jobId, summary) => openJob(jobId, { summary }) });
  wireJobActions({ onStarted: (jobId, summary) => openJob(jobId, { summary }) });
  wireTokenDialog();
  $('auth-enter').addEventListener('click', async () => {
    if (!(await requestToken(false, { force: true }))) return;
    $('auth-needed').hidden = true;
    restartFeed();
    restartJobStream();
  });

  window.addEventListener('hashchange', () => {
    const id = hashJob();
    if (id && id !== page.job?.id) openJob(id);
  });
  window.addEventListener('pagehide', () => page.job && saveNow(page.job));

  // A tab hidden for a while lets go of its share of the live connection: the jobs feed, and
  // (where tabs share one connection) the open job too. Shown again, it catches up with one
  // request and follows the stream from there. Without sharing the open job keeps streaming,
  // so its results stay cached.
  let hiddenTimer = 0;
  let letGoJob = false;
  document.addEventListener('visibilitychange', () => {
    clearTimeout(hiddenTimer);
    if (document.hidden) {
      hiddenTimer = setTimeout(() => {
        page.feed?.stop();
        if (sharingSupported && page.stream && !page.stream.stopped) {
          page.stream.stop();
          page.stream = null;
          letGoJob = true;
        }
      }, 30_000);
      return;
    }
    if (!page.ready) return;
    if (page.feed?.stopped) page.feed.start();
    if (letGoJob) {
      letGoJob = false;
      if (page.job && !page.job.terminal) startJobStream(page.job);
    }
  });
  setSlowNotice(showSlow);
  // the ETA counts down between events
  let pendingCheck = 0;
  setInterval(() => {
    const st = page.job;
    if (st?.status === 'processing') scheduleRender();
    // while our job waits, keep its queue position fresh (status events only come on changes)
    if (st?.status === 'pending' && page.ready && Date.now() - pendingCheck > 5000) {
      pendingCheck = Date.now();
      scheduleListRefresh();
    }
  }, 1000);
}

async function boot() {
  page.jobList.setNames(store.jobNames());
  wire();
  renderCategories();
  analyzeKeywords();
  const first = hashJob() || store.currentJob();
  if (first) openJob(first);
  else renderNow();
  await loadConfig();
  if (page.config.authRequired && !getToken()) await requestToken(false);
  page.ready = true;
  startFeed();
  if (page.job && !page.stream && !(page.job.terminal && store.loadJob(page.job.id)?.job)) {
    startJobStream(page.job);
  }
}

boot();
