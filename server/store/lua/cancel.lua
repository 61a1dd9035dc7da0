-- ARGV: job id, now ms, ttl ms. Returns the summary, or nil.
local id = ARGV[1]
local jk = jkey(id)
local st = redis.call('HGET', jk, 'status')
if not st then return nil end
if st == 'pending' then
  redis.call('HSET', jk, 'status', 'cancelled', 'completed', ARGV[2], 'cancel', '1')
  -- Never delivered (a claim turns pending into processing in the same step): just drop it.
  local q = redis.call('HMGET', jk, 'qkey', 'qid')
  redis.call('XDEL', q[1], q[2])
  ended(id, 'cancelled', ARGV[2], ARGV[3])
  status_event(id)
  feed_event(summary(id))
elseif st == 'processing' then
  redis.call('HSET', jk, 'cancel', '1')
end
return summary(id)
