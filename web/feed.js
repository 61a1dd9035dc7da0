// The jobs feed: keeps the job list current, and the open job's queue position while it waits.

import { api } from './api.js';
import { renderConn } from './conn.js';
import { applyToOpenJob } from './jobview.js';
import { page } from './page.js';
import { SharedStream } from './shared.js';

// The stats panel (stats.js, its own module script) listens: the figures move with the jobs.
const jobsChanged = () => document.dispatchEvent(new CustomEvent('doccount:jobs-changed'));

let listRefreshTimer = 0;

export function startFeed() {
  if (!page.feed) {
    page.feed = new SharedStream({
      kind: 'jobs',
      onEvent: (ev) => {
        if (ev.type === 'jobs') {
          page.jobList.setAll(ev.jobs || []);
          jobsChanged(); // caught up (a reconnect): the figures may have moved too
        } else if (ev.type === 'job' && ev.job) {
          jobsChanged(); // the figures change with the jobs: pushed, not polled
          // a job leaving the queue moves every waiting job up: refresh their positions
          if (ev.job.status !== 'pending' && page.jobList.get(ev.job.id)?.status === 'pending') {
            scheduleListRefresh();
          }
          page.jobList.upsert(ev.job);
          if (ev.job.status === 'pending') {
            applyToOpenJob(ev.job.id, { type: 'queue', queuePosition: ev.job.queuePosition });
          }
        }
        return false;
      },
      onState: (s) => {
        page.conn.feed = s;
        renderConn();
      },
    });
  }
  page.feed.start();
}

/** Start the feed again (a new token, a tab shown again). */
export function restartFeed() {
  if (!page.feed) return;
  page.feed.stop();
  page.feed.start();
}

export function scheduleListRefresh() {
  if (listRefreshTimer) return;
  listRefreshTimer = setTimeout(async () => {
    listRefreshTimer = 0;
    try {
      const data = await api('/api/documents/jobs?limit=50');
      page.jobList.setAll(data.jobs || []);
      const st = page.job;
      const mine = st && (data.jobs || []).find((j) => j.id === st.id);
      if (mine && mine.status === 'pending') {
        applyToOpenJob(mine.id, { type: 'queue', queuePosition: mine.queuePosition });
      }
    } catch {
      /* the feed will bring the next update */
    }
  }, 1000);
}
