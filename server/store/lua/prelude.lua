-- Shared by every script of the Redis store, put before each one. The four placeholders
-- (prefix, event_maxlen, feed_maxlen, feed_id_json) are filled in once, at registration, by
-- Python's string.Template (server/store/redis_scripts.py).
local PFX = '$prefix'
local EV_MAXLEN = '$event_maxlen'
local FEED_MAXLEN = '$feed_maxlen'
local FEED_ID_JSON = '$feed_id_json'
local TERMINAL = {completed = true, failed = true, cancelled = true}
local PRIO_NAMES = {['0'] = 'high', ['1'] = 'normal', ['2'] = 'low'}

local function jkey(id) return PFX .. 'job:' .. id end

-- The day's counters for /api/stats (server/store/redis_stats.py): ARGV[from] is the day's
-- hash ('' or absent: none), ARGV[from + 1] its TTL in seconds, then field, increment pairs.
local function bump_stats(from)
  local key = ARGV[from]
  if key == nil or key == '' then return end
  for i = from + 2, #ARGV, 2 do redis.call('HINCRBY', key, ARGV[i], ARGV[i + 1]) end
  redis.call('EXPIRE', key, ARGV[from + 1])
end

local function progress_json(cur, total)
  return '"progress":{"current":' .. cur .. ',"total":' .. total .. '}'
end

-- The id goes into the JSON before XADD: "<seq>-0" in the stream, "<seq>" outside.
local function append(stream, maxlen, seq, id_json, etype, body)
  local id = tostring(seq)
  local json = '{"id":"' .. id .. '","jobId":' .. id_json .. ',"type":"' .. etype .. '"'
    .. body .. '}'
  local t = redis.call('TIME')
  local ms = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
  redis.call('XADD', stream, 'MAXLEN', '~', maxlen, id .. '-0', 't', etype, 'j', json, 'ms', ms)
  return {id, etype, json}
end

local function job_event(id, etype, body)
  local jk = jkey(id)
  local seq = redis.call('HINCRBY', jk, 'seq', 1)
  return append(jk .. ':events', EV_MAXLEN, seq, redis.call('HGET', jk, 'idj'), etype, body)
end

local function status_event(id)
  local f = redis.call('HMGET', jkey(id), 'status', 'error', 'current', 'total')
  return job_event(id, 'status',
    ',"status":"' .. f[1] .. '","error":' .. f[2] .. ',' .. progress_json(f[3], f[4]))
end

-- The job as the status endpoint shows it, without results (server.store.sqlite._summary).
local function summary(id)
  local f = redis.call('HMGET', jkey(id), 'idj', 'status', 'current', 'total', 'categories',
    'prio', 'created', 'started', 'completed', 'error', 'seq', 'source', 'failed', 'name')
  if not f[1] then return nil end
  local pos = 'null'
  if f[2] == 'pending' then
    local rank = redis.call('ZRANK', PFX .. 'pending', id)
    if rank then pos = tostring(rank + 1) end
  end
  return '{"id":' .. f[1] .. ',"status":"' .. f[2] .. '",' .. progress_json(f[3], f[4])
    .. ',"categories":' .. f[5] .. ',"priority":"' .. (PRIO_NAMES[f[6]] or 'normal')
    .. '","queuePosition":' .. pos .. ',"createdAt":' .. f[7] .. ',"startedAt":' .. f[8]
    .. ',"completedAt":' .. f[9] .. ',"error":' .. f[10] .. ',"lastEventId":"' .. f[11]
    .. '","source":' .. f[12] .. ',"failedCount":' .. (f[13] or '0') .. ',"name":'
    .. (f[14] or 'null') .. '}'
end

local function feed_event(job_json)
  local seq = redis.call('INCR', PFX .. 'feed:seq')
  return append(PFX .. 'feed', FEED_MAXLEN, seq, FEED_ID_JSON, 'job', ',"job":' .. job_json)
end

local function last_event(id)
  local e = redis.call('XREVRANGE', jkey(id) .. ':events', '+', '-', 'COUNT', 1)[1]
  if not e then return {'0', 'status', ''} end
  local f = {}
  for i = 1, #e[2], 2 do f[e[2][i]] = e[2][i + 1] end
  return {string.match(e[1], '^(%d+)'), f.t, f.j}
end

-- A job reached a terminal status: stats and cleanup bookkeeping, then its TTL starts.
local function ended(id, status, now_ms, ttl_ms)
  local jk = jkey(id)
  local f = redis.call('HMGET', jk, 'client', 'started')
  redis.call('SREM', PFX .. 'client:' .. f[1], id)
  redis.call('SREM', PFX .. 'processing', id)
  redis.call('ZREM', PFX .. 'pending', id)
  redis.call('ZADD', PFX .. 'ended', now_ms, id)
  local dur = ''
  if status == 'completed' and f[2] ~= 'null' then
    -- Started and ended may be stamped by two machines' clocks (a takeover): never below 0.
    dur = string.format('%d', math.max(0, tonumber(now_ms) - tonumber(f[2])))
    redis.call('HINCRBY', PFX .. 'stats', 'dur_sum', dur)
    redis.call('HINCRBY', PFX .. 'stats', 'dur_n', 1)
  end
  redis.call('HSET', PFX .. 'ended:info', id, status .. '|' .. dur)
  redis.call('HINCRBY', PFX .. 'stats', status, 1)
  -- Cleanup deletes precisely; the TTL is the safety net when no process runs cleanup.
  for _, k in ipairs({jk, jk .. ':results', jk .. ':events', jk .. ':upd'}) do
    redis.call('PEXPIRE', k, ttl_ms)
  end
end

local function is_owner(q, group, qid, consumer)
  local p = redis.call('XPENDING', q, group, qid, qid, 1)[1]
  return p ~= nil and p[2] == consumer
end
