-- ARGV: id, idj, prio, keywords json, categories json, total, created ms, source json, client,
-- name json
local id, prio, client = ARGV[1], ARGV[3], ARGV[9]
local jk = jkey(id)
if redis.call('EXISTS', jk) == 1 then return redis.error_reply('ERR job exists') end
local order = redis.call('INCR', PFX .. 'order')
local q = PFX .. 'queue:' .. prio
local qid = redis.call('XADD', q, '*', 'job', id)
redis.call('HSET', jk, 'idj', ARGV[2], 'status', 'pending', 'prio', prio,
  'keywords', ARGV[4], 'categories', ARGV[5], 'total', ARGV[6], 'current', 0,
  'created', ARGV[7], 'started', 'null', 'completed', 'null', 'error', 'null', 'seq', 0,
  'source', ARGV[8], 'client', client, 'qkey', q, 'qid', qid, 'order', order,
  'name', ARGV[10])
-- Queue position = rank by (priority, arrival): the streams deliver in that same order.
redis.call('ZADD', PFX .. 'pending', tonumber(prio) * 1e13 + order, id)
redis.call('ZADD', PFX .. 'jobs', order, id)
redis.call('SADD', PFX .. 'client:' .. client, id)
status_event(id)
feed_event(summary(id))
return 1
