-- ARGV: cutoff ms (jobs that ended strictly before it go), batch size. Returns the number of
-- jobs deleted; the caller repeats while a full batch went.
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
  redis.call('DEL', jk, jk .. ':results', jk .. ':events', jk .. ':upd')
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
