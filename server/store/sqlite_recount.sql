-- The trigger-kept counters, rebuilt from the jobs as they are (run at every open: a file from
-- before the counters existed, or one whose counters a crash left behind, starts right).
BEGIN IMMEDIATE;
DELETE FROM pending_by_priority;
INSERT INTO pending_by_priority (priority, n)
    SELECT priority, COUNT(*) FROM jobs WHERE status = 'pending' GROUP BY priority;
DELETE FROM queued_by_client;
INSERT INTO queued_by_client (client, n) SELECT client, COUNT(*) FROM jobs
    WHERE status IN ('pending', 'processing') GROUP BY client;
COMMIT;
