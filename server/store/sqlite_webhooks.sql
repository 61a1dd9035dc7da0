-- The webhook ledger of the SQLite store (server/store/sqlite_webhooks.py).
CREATE TABLE IF NOT EXISTS webhooks (
    job_id TEXT PRIMARY KEY,
    url TEXT NOT NULL,
    state TEXT NOT NULL,
    attempts TEXT NOT NULL DEFAULT '[]',
    next_ms INTEGER NOT NULL,
    lease_owner TEXT,
    lease_until_ms INTEGER NOT NULL DEFAULT 0,
    created_ms INTEGER NOT NULL
) WITHOUT ROWID;
-- The sender's look-up of due deliveries: only pending ones, oldest due first.
CREATE INDEX IF NOT EXISTS webhooks_due ON webhooks (next_ms) WHERE state = 'pending';
