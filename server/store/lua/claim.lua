-- ARGV: group, consumer, lease ms, now ms, held job ids...
-- Returns {job id, keywords, categories, current, started, prio} or {'', mark0, mark1, mark2}: the
-- last entry ids of the three queues when nothing was claimable, taken atomically with the
-- attempt, so a worker that then blocks on XREAD from them misses no job added meanwhile.
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
  local f = redis.call('HMGET', jk, 'keywords', 'categories', 'current', 'started', 'prio')
  return {id, f[1], f[2], f[3], f[4], f[5]}
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
