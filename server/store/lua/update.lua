-- ARGV: job id, index, result json. Replaces a committed result (its search volume came after
-- its counts) and appends a result event with the current progress; nil when there is no
-- result at that index to replace.
local id = ARGV[1]
local jk = jkey(id)
if redis.call('HEXISTS', jk .. ':results', ARGV[2]) == 0 then return nil end
local f = redis.call('HMGET', jk, 'current', 'total')
if not f[1] then return nil end
redis.call('HSET', jk .. ':results', ARGV[2], ARGV[3])
local event = job_event(id, 'result', ',' .. progress_json(f[1], f[2]) .. ',"result":' .. ARGV[3])
-- The incremental poll sends a replaced result again (since.lua): index -> the event's seq.
redis.call('HSET', jk .. ':upd', ARGV[2], redis.call('HGET', jk, 'seq'))
return event
