-- A due webhook delivery of an ended job, leased to a node (server/store/redis_webhooks.py).
-- KEYS[1] the due zset; ARGV: prefix, now ms, lease ms, owner, recheck ms, how many to scan.
local pfx, now, lease, owner, recheck = ARGV[1], tonumber(ARGV[2]), tonumber(ARGV[3]), ARGV[4],
  tonumber(ARGV[5])
local due = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', now, 'LIMIT', 0, tonumber(ARGV[6]))
for _, id in ipairs(due) do
  local w = pfx .. 'wh:' .. id
  local status = redis.call('HGET', pfx .. 'job:' .. id, 'status')
  if not status or redis.call('HGET', w, 'state') ~= 'pending' then
    redis.call('ZREM', KEYS[1], id)  -- the job was cleaned up, or the record is settled
  elseif status == 'completed' or status == 'failed' or status == 'cancelled' then
    redis.call('HSET', w, 'owner', owner, 'until', now + lease)
    redis.call('ZADD', KEYS[1], now + lease, id)
    local f = redis.call('HMGET', w, 'url', 'attempts')
    return {id, f[1], f[2]}
  else
    redis.call('ZADD', KEYS[1], now + recheck, id)
  end
end
return false
