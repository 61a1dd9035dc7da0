-- ARGV: job id, index, result json, failed (1: the result has an error), then the day's
-- counters (bump_stats). A repeated index (a resumed job's zombie predecessor)
-- changes nothing and appends nothing: every result reaches watchers once.
local id = ARGV[1]
local jk = jkey(id)
if redis.call('EXISTS', jk) == 0 then return nil end
if redis.call('HSETNX', jk .. ':results', ARGV[2], ARGV[3]) == 0 then return last_event(id) end
local cur = redis.call('HINCRBY', jk, 'current', 1)
if ARGV[4] == '1' then redis.call('HINCRBY', jk, 'failed', 1) end
bump_stats(5)
local total = redis.call('HGET', jk, 'total')
return job_event(id, 'result', ',' .. progress_json(cur, total) .. ',"result":' .. ARGV[3])
