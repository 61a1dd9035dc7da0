-- KEYS: retired zset, reasons hash. ARGV: key, until ms or '+inf', reason. GT: a retirement for
-- good is never shortened by a later one until a time; the reason is that of the retirement
-- that holds.
if redis.call('ZADD', KEYS[1], 'GT', 'CH', ARGV[2], ARGV[1]) == 1 then
  redis.call('HSET', KEYS[2], ARGV[1], ARGV[3])
end
return 0
