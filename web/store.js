// Everything this page keeps in localStorage: the API token, the open job, finished and
// in-flight results (so a finished job opens without a request), and the form draft.

const P = 'doccount:v1:';
const JOB = `${P}job:`;
const MAX_CACHED_JOBS = 30;

function get(key) {
  try {
    return localStorage.getItem(key);
  } catch {
    return null;
  }
}

function getJSON(key) {
  const raw = get(key);
  if (!raw) return null;
  try {
    return JSON.parse(raw);
  } catch {
    return null;
  }
}

function cachedJobKeys() {
  const out = [];
  try {
    for (let i = 0; i < localStorage.length; i++) {
      const k = localStorage.key(i);
      if (k && k.startsWith(JOB)) out.push(k);
    }
  } catch {
    /* storage disabled */
  }
  return out;
}

/** Drop the least recently saved job caches (never `keepKey`). Returns how many were dropped. */
function evict(count, keepKey) {
  const entries = cachedJobKeys()
    .filter((k) => k !== keepKey)
    .map((k) => ({ k, t: getJSON(k)?.savedAt || 0 }))
    .sort((a, b) => a.t - b.t);
  const victims = entries.slice(0, count);
  for (const v of victims) localStorage.removeItem(v.k);
  return victims.length;
}

/** setItem that makes room by evicting old job caches when the quota is hit. */
function set(key, value) {
  for (let attempt = 0; attempt < 8; attempt++) {
    try {
      localStorage.setItem(key, value);
      return true;
    } catch (e) {
      if (!/quota/i.test(e?.name || '') && e?.code !== 22) return false;
      if (!evict(Math.max(1, 2 ** attempt), key)) return false;
    }
  }
  return false;
}

function del(key) {
  try {
    localStorage.removeItem(key);
  } catch {
    /* ignore */
  }
}

export const store = {
  token: () => get(`${P}token`),
  setToken: (t) => (t ? set(`${P}token`, t) : del(`${P}token`)),

  currentJob: () => get(`${P}current`),
  setCurrentJob: (id) => (id ? set(`${P}current`, id) : del(`${P}current`)),

  /** The category 경쟁률 is shown for (a category name; the job's first when it lacks it). */
  ratioCategory: () => get(`${P}ratio`),
  setRatioCategory: (c) => set(`${P}ratio`, c),

  form: () => getJSON(`${P}form`) || {},
  setForm: (f) => set(`${P}form`, JSON.stringify(f)),

  /** Short names of jobs ("맥북, 아이폰 외 10개") for the job list, newest last. */
  jobNames: () => getJSON(`${P}names`) || {},
  setJobName(id, name) {
    const names = getJSON(`${P}names`) || {};
    delete names[id];
    names[id] = name;
    const ids = Object.keys(names);
    for (const old of ids.slice(0, Math.max(0, ids.length - 200))) delete names[old];
    set(`${P}names`, JSON.stringify(names));
  },

  /** {job, results, lastEventId, savedAt} or null */
  loadJob: (id) => getJSON(JOB + id),

  saveJob(id, { job, results, lastEventId }) {
    const ok = set(JOB + id, JSON.stringify({ v: 1, job, results, lastEventId, savedAt: Date.now() }));
    const keys = cachedJobKeys();
    if (keys.length > MAX_CACHED_JOBS) evict(keys.length - MAX_CACHED_JOBS, JOB + id);
    return ok;
  },

  dropJob: (id) => del(JOB + id),

  /** Summaries of every cached job (for listing jobs the server no longer has). */
  cachedSummaries() {
    return cachedJobKeys()
      .map((k) => getJSON(k)?.job)
      .filter((j) => j && j.id);
  },
};
