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
    name TEXT
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
CREATE TABLE IF NOT EXISTS cache (
    keyword TEXT NOT NULL,
    category TEXT NOT NULL,
    count INTEGER NOT NULL,
    expires_at INTEGER NOT NULL,
    PRIMARY KEY (keyword, category)
) WITHOUT ROWID;
-- Monthly search volumes by (source scope, normalised keyword): a row is reused only by the
-- provider and upstream that produced it.
CREATE TABLE IF NOT EXISTS volume_cache (
    scope TEXT NOT NULL,
    keyword TEXT NOT NULL,
    data TEXT NOT NULL,
    observed_at INTEGER NOT NULL,
    expires_at INTEGER NOT NULL,
    PRIMARY KEY (scope, keyword)
) WITHOUT ROWID;
