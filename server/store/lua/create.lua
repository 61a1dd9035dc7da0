-- ARGV: id, idj, prio, keywords json, categories json, total, created ms, source json, client,
-- max queued jobs of this client ('' = no cap), idempotency key ('' = none), its window in ms,
-- name json, then the day's counters (bump_stats).
-- Returns the job id (new, or the one the idempotency key made before), or 0 when the client's
-- queue is full: checked and inserted in one script, so concurrent submissions cannot all pass.
local id, prio, client = ARGV[1], ARGV[3], ARGV[9]
local jk = jkey(id)
local ik = nil
if ARGV[11] ~= '' then
  -- Length-prefixed: an IPv6 client's colons cannot make two (client, key) pairs meet.
  ik = PFX .. 'idem:' .. #client .. ':' .. client .. ':' .. ARGV[11]
  local first = redis.call('GET', ik)
  if first then return first end
end
if redis.call('EXISTS', jk) == 1 then return redis.error_reply('ERR job exists') end
if ARGV[10] ~= '' and redis.call('SCARD', PFX .. 'client:' .. client) >= tonumber(ARGV[10]) then
  return 0
end
if ik then redis.call('SET', ik, id, 'PX', ARGV[12]) end
local order = redis.call('INCR', PFX .. 'order')
local q = PFX .. 'queue:' .. prio
local qid = redis.call('XADD', q, '*', 'job', id)
redis.call('HSET', jk, 'idj', ARGV[2], 'status', 'pending', 'prio', prio,
  'keywords', ARGV[4], 'categories', ARGV[5], 'total', ARGV[6], 'current', 0,
  'created', ARGV[7], 'started', 'null', 'completed', 'null', 'error', 'null', 'seq', 0,
  'source', ARGV[8], 'client', client, 'qkey', q, 'qid', qid, 'order', order,
  'name', ARGV[13])
-- Queue position = rank by (priority, arrival): the streams deliver in that same order.
redis.call('ZADD', PFX .. 'pending', tonumber(prio) * 1e13 + order, id)
redis.call('ZADD', PFX .. 'jobs', order, id)
redis.call('SADD', PFX .. 'client:' .. client, id)
bump_stats(14)
status_event(id)
feed_event(summary(id))
return id
