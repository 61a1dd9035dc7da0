"""Lua scripts of the Redis store: every write a watcher can see is one atomic script.

Why Lua: a job's state, its event log, the queue index and the jobs feed must never disagree
(a snapshot's ``lastEventId`` is exactly the last event it includes), and several web nodes
and workers write concurrently. Each script changes the state *and* appends the events in one
step, so there is no window where another node sees one without the other.

Event ids: a job's log is a Redis Stream whose entries get the explicit id ``<seq>-0``, where
``seq`` is a per-job counter incremented in the same script (``HINCRBY seq``). The public id
is ``"<seq>"``, the same shape the embedded store uses. Because the id is known before the
``XADD``, the event JSON is assembled here with its id inside, stored once, and passed on
as-is by every read on every node: no patching per read or per subscriber. The JSON is built
by concatenating fragments that Python encoded (results, errors, keywords) with the few
numbers this script owns (ids, progress), in the key order of ``server.events.make_event``,
so both engines emit the same bytes.

Job hash fields hold JSON-ready text ("null", numbers, quoted strings) where a field is
spliced into JSON, so the job summary is built here too (``summary``) for the jobs feed.
"""

from __future__ import annotations

from string import Template

from server.codec import dumps
from server.model import JOBS_FEED

# Shared by all scripts. $prefix etc. are filled in once, at registration.
PRELUDE = Template(
    r"""
local PFX = '$prefix'
local EV_MAXLEN = '$event_maxlen'
local FEED_MAXLEN = '$feed_maxlen'
local FEED_ID_JSON = '$feed_id_json'
local TERMINAL = {completed = true, failed = true, cancelled = true}
local PRIO_NAMES = {['0'] = 'high', ['1'] = 'normal', ['2'] = 'low'}

local function jkey(id) return PFX .. 'job:' .. id end

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
    'prio', 'created', 'started', 'completed', 'error', 'seq', 'source', 'name')
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
    .. '","source":' .. f[12] .. ',"name":' .. (f[13] or 'null') .. '}'
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
  for _, k in ipairs({jk, jk .. ':results', jk .. ':events'}) do
    redis.call('PEXPIRE', k, ttl_ms)
  end
end

local function is_owner(q, group, qid, consumer)
  local p = redis.call('XPENDING', q, group, qid, qid, 1)[1]
  return p ~= nil and p[2] == consumer
end
"""
)

# ARGV: id, idj, prio, keywords json, categories json, total, created ms, source json, client
CREATE = r"""
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
"""

# ARGV: group, consumer, lease ms, now ms, held job ids...
# Returns {job id, keywords, categories, current, started} or {'', mark0, mark1, mark2}: the
# last entry ids of the three queues when nothing was claimable, taken atomically with the
# attempt, so a worker that then blocks on XREAD from them misses no job added meanwhile.
CLAIM = r"""
local G, C, lease, now = ARGV[1], ARGV[2], ARGV[3], ARGV[4]
local held = {}
for i = 5, #ARGV do held[ARGV[i]] = true end

local function take(q, eid, id)
  local jk = jkey(id)
  local st = redis.call('HGET', jk, 'status')
  if (not st) or TERMINAL[st] then
    -- Cancelled (or expired) before anyone ran it: acknowledge and drop.
    redis.call('XACK', q, G, eid)
    redis.call('XDEL', q, eid)
    return nil
  end
  if st == 'pending' then
    redis.call('HSET', jk, 'status', 'processing', 'started', now, 'worker', C)
    redis.call('ZREM', PFX .. 'pending', id)
    redis.call('SADD', PFX .. 'processing', id)
    status_event(id)
    feed_event(summary(id))
  else
    redis.call('HSET', jk, 'worker', C)
  end
  local f = redis.call('HMGET', jk, 'keywords', 'categories', 'current', 'started')
  return {id, f[1], f[2], f[3], f[4]}
end

-- First jobs whose holder let the lease run out (a dead worker), highest priority first.
for p = 0, 2 do
  local q = PFX .. 'queue:' .. p
  local cursor = '0-0'
  repeat
    local r = redis.call('XAUTOCLAIM', q, G, C, lease, cursor, 'COUNT', 1)
    cursor = r[1]
    for _, e in ipairs(r[2]) do
      local id = e[2] and e[2][2]
      -- Our own job, renewed late (event loop stall, Redis outage): still ours, not new work.
      if id and not held[id] then
        local got = take(q, e[1], id)
        if got then return got end
      end
    end
  until cursor == '0-0'
end
-- Then new jobs, by priority, oldest first.
for p = 0, 2 do
  local q = PFX .. 'queue:' .. p
  while true do
    local r = redis.call('XREADGROUP', 'GROUP', G, C, 'COUNT', 1, 'STREAMS', q, '>')
    if not r then break end
    local e = r[1][2][1]
    local got = take(q, e[1], e[2][2])
    if got then return got end
  end
end
local marks = {''}
for p = 0, 2 do
  local last = redis.call('XREVRANGE', PFX .. 'queue:' .. p, '+', '-', 'COUNT', 1)[1]
  marks[#marks + 1] = last and last[1] or '0-0'
end
return marks
"""

# ARGV: job id, group, consumer. Resets the entry's idle time (the lease) if still ours.
RENEW = r"""
local jk = jkey(ARGV[1])
local f = redis.call('HMGET', jk, 'status', 'qkey', 'qid')
if (not f[1]) or f[1] ~= 'processing' then return 0 end
if not is_owner(f[2], ARGV[2], f[3], ARGV[3]) then return 0 end
redis.call('XCLAIM', f[2], ARGV[2], ARGV[3], 0, f[3], 'JUSTID')
return 1
"""

# ARGV: job id, group, consumer, lease ms. A worker stopping cleanly hands its job back: the
# entry looks idle for a whole lease, so the next claim anywhere takes it over at once.
RELEASE = r"""
local f = redis.call('HMGET', jkey(ARGV[1]), 'status', 'qkey', 'qid')
if f[1] ~= 'processing' or not is_owner(f[2], ARGV[2], f[3], ARGV[3]) then return 0 end
redis.call('XCLAIM', f[2], ARGV[2], ARGV[3], 0, f[3], 'IDLE', ARGV[4], 'JUSTID')
return 1
"""

# ARGV: job id, index, result json. A repeated index (a resumed job's zombie predecessor)
# changes nothing and appends nothing: every result reaches watchers once.
RECORD = r"""
local id = ARGV[1]
local jk = jkey(id)
if redis.call('EXISTS', jk) == 0 then return nil end
if redis.call('HSETNX', jk .. ':results', ARGV[2], ARGV[3]) == 0 then return last_event(id) end
local cur = redis.call('HINCRBY', jk, 'current', 1)
local total = redis.call('HGET', jk, 'total')
return job_event(id, 'result', ',' .. progress_json(cur, total) .. ',"result":' .. ARGV[3])
"""

# ARGV: job id, index, result json. Replaces a committed result (its volume came later) and
# appends a result event with the current progress; nil when there is nothing to replace.
UPDATE = r"""
local id = ARGV[1]
local jk = jkey(id)
if redis.call('HEXISTS', jk .. ':results', ARGV[2]) == 0 then return nil end
redis.call('HSET', jk .. ':results', ARGV[2], ARGV[3])
local f = redis.call('HMGET', jk, 'current', 'total')
if not f[1] then return nil end
return job_event(id, 'result', ',' .. progress_json(f[1], f[2]) .. ',"result":' .. ARGV[3])
"""

# ARGV: job id, extra fields as a JSON fragment (",\"k\":v..." or "").
PROGRESS = r"""
local id = ARGV[1]
local jk = jkey(id)
if redis.call('EXISTS', jk) == 0 then return nil end
local f = redis.call('HMGET', jk, 'current', 'total')
return job_event(id, 'progress', ',' .. progress_json(f[1], f[2]) .. ARGV[2])
"""

# ARGV: job id, status, error json, now ms, ttl ms, group, consumer.
# Only the holder finishes (a worker that lost its lease must not end a job another resumed);
# the queue entry is acknowledged here, with the terminal state, and not before.
FINISH = r"""
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
"""

# ARGV: job id, now ms, ttl ms. Returns the summary, or nil.
CANCEL = r"""
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
"""

# ARGV: job id, with results (0/1). Returns {summary, {idx, json, ...}} or nil; one script,
# so lastEventId matches the results exactly.
GET = r"""
local s = summary(ARGV[1])
if not s then return nil end
if ARGV[2] == '1' then return {s, redis.call('HGETALL', jkey(ARGV[1]) .. ':results')} end
return {s, {}}
"""

# ARGV: limit. Newest first; ids whose hash expired before cleanup ran are skipped.
LIST = r"""
local limit = tonumber(ARGV[1])
local out, start = {}, 0
while #out < limit do
  local ids = redis.call('ZREVRANGE', PFX .. 'jobs', start, start + limit - 1)
  if #ids == 0 then break end
  for _, id in ipairs(ids) do
    local s = summary(id)
    if s then
      out[#out + 1] = s
      if #out >= limit then break end
    end
  end
  start = start + #ids
end
return out
"""

# ARGV: job summary json.
FEED = r"""
return feed_event(ARGV[1])
"""

# ARGV: cutoff ms (jobs that ended strictly before it go), batch size. Returns the number of
# jobs deleted; the caller repeats while a full batch went.
CLEANUP = r"""
local cutoff, batch = ARGV[1], tonumber(ARGV[2])
local ids = redis.call('ZRANGEBYSCORE', PFX .. 'ended', '-inf', '(' .. cutoff,
  'LIMIT', 0, batch)
for _, id in ipairs(ids) do
  local info = redis.call('HGET', PFX .. 'ended:info', id)
  if info then
    local status, dur = string.match(info, '^(%a+)|(%d*)$')
    redis.call('HINCRBY', PFX .. 'stats', status, -1)
    if dur ~= '' then
      -- '%d', not tostring: Lua would write -0, which Redis does not take for an integer.
      redis.call('HINCRBY', PFX .. 'stats', 'dur_sum', string.format('%d', -tonumber(dur)))
      redis.call('HINCRBY', PFX .. 'stats', 'dur_n', -1)
    end
  end
  local jk = jkey(id)
  redis.call('DEL', jk, jk .. ':results', jk .. ':events')
  redis.call('ZREM', PFX .. 'jobs', id)
  redis.call('ZREM', PFX .. 'ended', id)
  redis.call('HDEL', PFX .. 'ended:info', id)
end
-- The jobs feed: drop entries older than the cutoff (its ids are sequence numbers, so find
-- the first young entry by its time field).
local feed = PFX .. 'feed'
local from = '-'
while true do
  local page = redis.call('XRANGE', feed, from, '+', 'COUNT', 100)
  if #page == 0 then
    redis.call('XTRIM', feed, 'MAXLEN', 0)
    break
  end
  local young = nil
  for _, e in ipairs(page) do
    local ms = nil
    for i = 1, #e[2], 2 do if e[2][i] == 'ms' then ms = tonumber(e[2][i + 1]) end end
    if ms and ms >= tonumber(cutoff) then young = e[1] break end
  end
  if young then
    redis.call('XTRIM', feed, 'MINID', young)
    break
  end
  from = '(' .. page[#page][1]
end
return #ids
"""

# The per-key pacer: "next free slot" in microseconds of the Redis clock, a token bucket of
# capacity one. Each caller reserves the next slot in the order its call reaches Redis, so
# waiters on every worker are served first come, first served and together keep the rate.
# KEYS[1]: slot key. ARGV: interval us. Returns the microseconds to wait before calling.
ACQUIRE = r"""
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local slot = tonumber(redis.call('GET', KEYS[1]) or '0')
if slot < now then slot = now end
local nxt = slot + tonumber(ARGV[1])
redis.call('SET', KEYS[1], string.format('%d', nxt), 'PX', math.ceil((nxt - now) / 1000) + 1000)
return slot - now
"""

# KEYS[1]: slot key. ARGV: delay us. Pushes the next free slot to at least now + delay.
PENALIZE = r"""
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local slot = tonumber(redis.call('GET', KEYS[1]) or '0')
local want = now + tonumber(ARGV[1])
if slot < want then
  redis.call('SET', KEYS[1], string.format('%d', want),
    'PX', math.ceil(tonumber(ARGV[1]) / 1000) + 1000)
end
return 0
"""


def with_prelude(body: str, *, prefix: str, event_maxlen: int, feed_maxlen: int) -> str:
    prelude = PRELUDE.substitute(
        prefix=prefix,
        event_maxlen=str(event_maxlen),
        feed_maxlen=str(feed_maxlen),
        feed_id_json=dumps(JOBS_FEED),
    )
    return prelude + body
