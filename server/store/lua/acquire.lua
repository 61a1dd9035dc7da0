-- The per-key pacer: "next free slot" in microseconds of the Redis clock, a token bucket of
-- capacity one. Each caller reserves the next slot in the order its call reaches Redis, so
-- waiters on every worker are served first come, first served and together keep the rate.
-- KEYS[1]: slot key. ARGV: interval us. Returns the microseconds to wait before calling.
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local slot = tonumber(redis.call('GET', KEYS[1]) or '0')
if slot < now then slot = now end
local nxt = slot + tonumber(ARGV[1])
redis.call('SET', KEYS[1], string.format('%d', nxt), 'PX', math.ceil((nxt - now) / 1000) + 1000)
return slot - now
