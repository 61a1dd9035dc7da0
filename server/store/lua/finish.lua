-- ARGV: job id, status, error json, now ms, ttl ms, group, consumer.
-- Only the holder finishes (a worker that lost its lease must not end a job another resumed);
-- the queue entry is acknowledged here, with the terminal state, and not before.
local id, status, G, C = ARGV[1], ARGV[2], ARGV[6], ARGV[7]
local jk = jkey(id)
local f = redis.call('HMGET', jk, 'status', 'qkey', 'qid')
if not f[1] then return nil end
if TERMINAL[f[1]] or not is_owner(f[2], G, f[3], C) then return last_event(id) end
redis.call('HSET', jk, 'status', status, 'error', ARGV[3], 'completed', ARGV[4])
redis.call('XACK', f[2], G, f[3])
redis.call('XDEL', f[2], f[3])
ended(id, status, ARGV[4], ARGV[5])
local ev = status_event(id)
feed_event(summary(id))
return ev
