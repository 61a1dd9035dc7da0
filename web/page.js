// What the parts of the page share: the server's configuration and the few live objects
// (the open job, its stream, the jobs feed, the connection states). One object, so each
// module reads the current value rather than a copy taken at import time.

// Only limits live here; the category list comes from /api/config alone (an empty list until
// the server answers, so no category can be offered that the server does not know).
const DEFAULT_CONFIG = {
  provider: null,
  categories: [],
  defaultCategories: [],
  eventTypes: [], // the SSE event names, from /api/config
  maxKeywords: 1000,
  maxKeywordChars: 100,
  ratePerSec: 10,
  authRequired: false,
};

export const PRIORITY_LABELS = { high: '높음', normal: '보통', low: '낮음' };

export const page = {
  config: { ...DEFAULT_CONFIG },
  labels: {}, // category name -> Korean label
  ready: false, // config loaded (and token asked for, where needed)
  job: null, // JobState of the open job
  stream: null, // LiveStream of the open job
  feed: null, // LiveStream of the jobs feed
  conn: { job: null, feed: null }, // the last state each stream reported
  table: null, // ResultTable
  jobList: null, // JobList
};

/** Take the server's configuration; returns whether it carried a usable category list. */
export function setConfig(c) {
  page.config = { ...DEFAULT_CONFIG, ...c };
  if (!Array.isArray(page.config.categories)) page.config.categories = [];
  page.labels = Object.fromEntries(page.config.categories.map((x) => [x.name, x.label || x.name]));
}
