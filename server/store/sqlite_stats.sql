-- Daily counters for /api/stats (server/store/sqlite_stats.py, server/store/stats_base.py):
-- one row per KST day, metric and dimension; a read of the window is one primary-key range.
CREATE TABLE IF NOT EXISTS stats_daily (
    day INTEGER NOT NULL,
    metric TEXT NOT NULL,
    dim TEXT NOT NULL,
    n INTEGER NOT NULL,
    PRIMARY KEY (day, metric, dim)
) WITHOUT ROWID;
