-- Once, when the stats counters are new to a file (the one statement at open that reads every
-- job; a file that has them never pays it again).
BEGIN IMMEDIATE;
DELETE FROM jobs_by_status;
INSERT INTO jobs_by_status (status, n) SELECT status, COUNT(*) FROM jobs GROUP BY status;
UPDATE job_time SET (sum_ms, n) = (
    SELECT COALESCE(SUM(completed_at - started_at), 0), COUNT(*) FROM jobs
    WHERE status = 'completed' AND started_at IS NOT NULL AND completed_at IS NOT NULL);
COMMIT;
