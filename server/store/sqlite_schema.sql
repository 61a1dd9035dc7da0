-- The embedded store's tables, indexes and the triggers that keep its counters (server/store/sqlite.py
-- runs it at every open: everything is IF NOT EXISTS).
CREATE TABLE IF NOT EXISTS jobs (
    id TEXT PRIMARY KEY,
    status TEXT NOT NULL,
    priority INTEGER NOT NULL,
    keywords TEXT NOT NULL,
    categories TEXT NOT NULL,
    total INTEGER NOT NULL,
    current INTEGER NOT NULL DEFAULT 0,
    created_at INTEGER NOT NULL,
    started_at INTEGER,
    completed_at INTEGER,
    error TEXT,
    last_seq INTEGER NOT NULL DEFAULT 0,
    claimed_by TEXT,
    cancel_requested INTEGER NOT NULL DEFAULT 0,
    source TEXT NOT NULL,
    client TEXT NOT NULL DEFAULT '',
    name TEXT,
    -- results with an error (failedCount): a "completed" job may still have failed keywords
    failed INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX IF NOT EXISTS jobs_queue ON jobs (status, priority);
CREATE INDEX IF NOT EXISTS jobs_created ON jobs (created_at);
-- count_queued runs on every submission: without this it counts every queued job of every client.
CREATE INDEX IF NOT EXISTS jobs_client ON jobs (client, status);
CREATE TABLE IF NOT EXISTS results (
    job_id TEXT NOT NULL,
    idx INTEGER NOT NULL,
    data TEXT NOT NULL,
    PRIMARY KEY (job_id, idx)
) WITHOUT ROWID;
-- Results replaced after their commit (a search volume arriving after the counts), with the
-- event that replaced them: the incremental poll (?since=) sends them again, though their index
-- is below the prefix the event it was asked from showed.
CREATE TABLE IF NOT EXISTS result_updates (
    job_id TEXT NOT NULL,
    idx INTEGER NOT NULL,
    seq INTEGER NOT NULL,
    PRIMARY KEY (job_id, idx)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS events (
    job_id TEXT NOT NULL,
    seq INTEGER NOT NULL,
    type TEXT NOT NULL,
    data TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    PRIMARY KEY (job_id, seq)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS feeds (
    name TEXT PRIMARY KEY,
    last_seq INTEGER NOT NULL
);
-- Counters kept by triggers in the same transactions as the jobs they count, so a submission
-- reads two small rows instead of counting a queue that may be thousands deep: pending jobs per
-- priority (the new job's queuePosition), and pending + processing jobs per client (the cap).
CREATE TABLE IF NOT EXISTS pending_by_priority (
    priority INTEGER PRIMARY KEY,
    n INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS queued_by_client (
    client TEXT PRIMARY KEY,
    n INTEGER NOT NULL
) WITHOUT ROWID;
CREATE TRIGGER IF NOT EXISTS jobs_count_insert AFTER INSERT ON jobs BEGIN
    INSERT INTO pending_by_priority (priority, n) SELECT NEW.priority, 1
        WHERE NEW.status = 'pending' ON CONFLICT (priority) DO UPDATE SET n = n + 1;
    INSERT INTO queued_by_client (client, n) SELECT NEW.client, 1
        WHERE NEW.status IN ('pending', 'processing') ON CONFLICT (client) DO UPDATE SET n = n + 1;
END;
CREATE TRIGGER IF NOT EXISTS jobs_count_update AFTER UPDATE OF status, priority, client ON jobs
WHEN OLD.status IS NOT NEW.status OR OLD.priority IS NOT NEW.priority
    OR OLD.client IS NOT NEW.client BEGIN
    UPDATE pending_by_priority SET n = n - 1
        WHERE OLD.status = 'pending' AND priority = OLD.priority;
    INSERT INTO pending_by_priority (priority, n) SELECT NEW.priority, 1
        WHERE NEW.status = 'pending' ON CONFLICT (priority) DO UPDATE SET n = n + 1;
    UPDATE queued_by_client SET n = n - 1
        WHERE OLD.status IN ('pending', 'processing') AND client = OLD.client;
    DELETE FROM queued_by_client WHERE client = OLD.client AND n <= 0;
    INSERT INTO queued_by_client (client, n) SELECT NEW.client, 1
        WHERE NEW.status IN ('pending', 'processing') ON CONFLICT (client) DO UPDATE SET n = n + 1;
END;
CREATE TRIGGER IF NOT EXISTS jobs_count_delete AFTER DELETE ON jobs BEGIN
    UPDATE pending_by_priority SET n = n - 1
        WHERE OLD.status = 'pending' AND priority = OLD.priority;
    UPDATE queued_by_client SET n = n - 1
        WHERE OLD.status IN ('pending', 'processing') AND client = OLD.client;
    DELETE FROM queued_by_client WHERE client = OLD.client AND n <= 0;
END;
-- Idempotency-Key of a submission: the same key from the same client within the window
-- returns the job it first created.
CREATE TABLE IF NOT EXISTS idempotency (
    client TEXT NOT NULL,
    key TEXT NOT NULL,
    job_id TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    PRIMARY KEY (client, key)
) WITHOUT ROWID;
-- A cached count says where it came from (origin: the provider and its upstream) and when it was
-- observed; a lookup only takes counts of its own origin. It replaced the table "cache", whose
-- rows said neither (dropped at open: a count of unknown origin is not served).
CREATE TABLE IF NOT EXISTS counts (
    origin TEXT NOT NULL,
    keyword TEXT NOT NULL,
    category TEXT NOT NULL,
    count INTEGER NOT NULL,
    observed_at INTEGER NOT NULL,
    expires_at INTEGER NOT NULL,
    PRIMARY KEY (origin, keyword, category)
) WITHOUT ROWID;
-- Monthly search volumes by (origin, normalised keyword), like counts: a row is reused only by the
-- provider and upstream that produced it.
CREATE TABLE IF NOT EXISTS volumes (
    origin TEXT NOT NULL,
    keyword TEXT NOT NULL,
    data TEXT NOT NULL,
    observed_at INTEGER NOT NULL,
    expires_at INTEGER NOT NULL,
    PRIMARY KEY (origin, keyword)
) WITHOUT ROWID;
-- Cleanup finds what expired through these, a batch at a time, instead of reading every row.
-- (completed_at is set exactly when a job turns terminal.)
CREATE INDEX IF NOT EXISTS jobs_completed ON jobs (completed_at);
CREATE INDEX IF NOT EXISTS counts_expiry ON counts (expires_at);
CREATE INDEX IF NOT EXISTS volumes_expiry ON volumes (expires_at);
CREATE INDEX IF NOT EXISTS idempotency_created ON idempotency (created_at);
-- /api/stats and /metrics: jobs per status and the running sum of completed jobs' times, kept
-- by triggers in the same transactions as the jobs, so a scrape reads a handful of rows
-- whatever the number of jobs (AVG over the table took a second at 100,000 jobs).
CREATE TABLE IF NOT EXISTS jobs_by_status (
    status TEXT PRIMARY KEY,
    n INTEGER NOT NULL
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS job_time (
    id INTEGER PRIMARY KEY CHECK (id = 0),
    sum_ms INTEGER NOT NULL,
    n INTEGER NOT NULL
);
INSERT OR IGNORE INTO job_time (id, sum_ms, n) VALUES (0, 0, 0);
CREATE TRIGGER IF NOT EXISTS jobs_stats_insert AFTER INSERT ON jobs BEGIN
    INSERT INTO jobs_by_status (status, n) VALUES (NEW.status, 1)
        ON CONFLICT (status) DO UPDATE SET n = n + 1;
    UPDATE job_time SET sum_ms = sum_ms + (NEW.completed_at - NEW.started_at), n = n + 1
        WHERE NEW.status = 'completed' AND NEW.started_at IS NOT NULL
        AND NEW.completed_at IS NOT NULL;
END;
CREATE TRIGGER IF NOT EXISTS jobs_stats_update AFTER UPDATE OF status, started_at, completed_at
ON jobs BEGIN
    UPDATE jobs_by_status SET n = n - 1
        WHERE OLD.status IS NOT NEW.status AND status = OLD.status;
    INSERT INTO jobs_by_status (status, n) SELECT NEW.status, 1
        WHERE OLD.status IS NOT NEW.status ON CONFLICT (status) DO UPDATE SET n = n + 1;
    UPDATE job_time SET sum_ms = sum_ms - (OLD.completed_at - OLD.started_at), n = n - 1
        WHERE OLD.status = 'completed' AND OLD.started_at IS NOT NULL
        AND OLD.completed_at IS NOT NULL;
    UPDATE job_time SET sum_ms = sum_ms + (NEW.completed_at - NEW.started_at), n = n + 1
        WHERE NEW.status = 'completed' AND NEW.started_at IS NOT NULL
        AND NEW.completed_at IS NOT NULL;
END;
CREATE TRIGGER IF NOT EXISTS jobs_stats_delete AFTER DELETE ON jobs BEGIN
    UPDATE jobs_by_status SET n = n - 1 WHERE status = OLD.status;
    UPDATE job_time SET sum_ms = sum_ms - (OLD.completed_at - OLD.started_at), n = n - 1
        WHERE OLD.status = 'completed' AND OLD.started_at IS NOT NULL
        AND OLD.completed_at IS NOT NULL;
END;
DROP TABLE IF EXISTS cache;
DROP TABLE IF EXISTS volume_cache;  -- the volumes' table before it was named like counts
-- Naver's quota is per key per KST day: calls counted here survive a restart, as on Redis.
CREATE TABLE IF NOT EXISTS key_calls (
    day INTEGER NOT NULL,
    key TEXT NOT NULL,
    n INTEGER NOT NULL,
    PRIMARY KEY (day, key)
) WITHOUT ROWID;
-- Worker heartbeats: who counts, when last seen, and the jobs held then (a JSON list).
CREATE TABLE IF NOT EXISTS workers (
    id TEXT PRIMARY KEY,
    seen_at INTEGER NOT NULL,
    jobs TEXT NOT NULL
);
-- Keys out of service: until_ms NULL is for good.
CREATE TABLE IF NOT EXISTS key_retired (
    key TEXT PRIMARY KEY,
    until_ms INTEGER,
    reason TEXT NOT NULL,
    at_ms INTEGER NOT NULL
);
-- Keyword history (server/store/sqlite_history.py): outlives jobs; only --history-days prunes it.
-- A keyword is stored once and observations refer to it by id: an observation row is then a
-- few integers (about 40 bytes with its index entry, bench/history.py measures it).
CREATE TABLE IF NOT EXISTS keywords (
    id INTEGER PRIMARY KEY,
    keyword TEXT NOT NULL UNIQUE,
    initials TEXT NOT NULL,
    last_at INTEGER NOT NULL,
    latest TEXT NOT NULL DEFAULT '{}'
);
CREATE INDEX IF NOT EXISTS keywords_initials ON keywords (initials, keyword);
CREATE INDEX IF NOT EXISTS keywords_last ON keywords (last_at);
-- Every two-character piece of each keyword: a contains-search starts from one piece's rows
-- instead of reading every keyword.
CREATE TABLE IF NOT EXISTS keyword_grams (
    gram TEXT NOT NULL,
    keyword_id INTEGER NOT NULL,
    PRIMARY KEY (gram, keyword_id)
) WITHOUT ROWID;
-- Rows arrive in time order, so pruning walks the rowid from the oldest (no time index).
CREATE TABLE IF NOT EXISTS observations (
    id INTEGER PRIMARY KEY,
    keyword_id INTEGER NOT NULL,
    kind TEXT NOT NULL,
    observed_at INTEGER NOT NULL,
    value INTEGER NOT NULL,
    provider TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS observations_series ON observations (keyword_id, kind, observed_at);
-- Watchlists (server/store/sqlite_watch.py) and the runs the scheduler has claimed: one row per
-- (watchlist, due time), so a due run makes one job however often the scheduler looks.
CREATE TABLE IF NOT EXISTS watchlists (
    id TEXT PRIMARY KEY,
    created_at INTEGER NOT NULL,
    data TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS watch_runs (
    watchlist_id TEXT NOT NULL,
    due_at INTEGER NOT NULL,
    PRIMARY KEY (watchlist_id, due_at)
) WITHOUT ROWID;
