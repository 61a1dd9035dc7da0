-- One fresh observation into the keyword history (server/store/redis_history.py), atomically:
-- the series (trimmed by age and length), the keyword's latest of its kind (unless a newer one
-- is there: two jobs racing), and the search indexes.
-- KEYS: series, latest, keywords, initials, last, then one gram key per two-character piece
-- ARGV: keyword, kind, observed ms, value, provider, initials member, cutoff ms (0: none), cap
local ms = tonumber(ARGV[3])
local entry = ARGV[3] .. ':' .. ARGV[4] .. ':' .. ARGV[5]
redis.call('ZADD', KEYS[1], ms, entry)
if tonumber(ARGV[7]) > 0 then
  redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', '(' .. ARGV[7])
end
redis.call('ZREMRANGEBYRANK', KEYS[1], 0, -tonumber(ARGV[8]) - 1)
local current = redis.call('HGET', KEYS[2], ARGV[2])
if not current or tonumber(string.match(current, '^(%d+):')) <= ms then
  redis.call('HSET', KEYS[2], ARGV[2], entry)
end
redis.call('ZADD', KEYS[3], 0, ARGV[1])
redis.call('ZADD', KEYS[4], 0, ARGV[6])
local last = redis.call('ZSCORE', KEYS[5], ARGV[1])
if not last or tonumber(last) < ms then
  redis.call('ZADD', KEYS[5], ms, ARGV[1])
end
for i = 6, #KEYS do
  redis.call('ZADD', KEYS[i], 0, ARGV[1])
end
return 1
