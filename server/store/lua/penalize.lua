-- KEYS[1]: slot key. ARGV: delay us. Pushes the next free slot to at least now + delay.
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local slot = tonumber(redis.call('GET', KEYS[1]) or '0')
local want = now + tonumber(ARGV[1])
if slot < want then
  redis.call('SET', KEYS[1], string.format('%d', want),
    'PX', math.ceil(tonumber(ARGV[1]) / 1000) + 1000)
end
return 0
