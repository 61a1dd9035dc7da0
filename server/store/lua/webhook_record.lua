-- One delivery attempt recorded, only by the node holding the lease of a pending delivery.
-- KEYS: the delivery hash, the due zset; ARGV: owner, attempt JSON, new state, next ms, job id.
local w = KEYS[1]
local f = redis.call('HMGET', w, 'state', 'owner', 'attempts')
if f[1] ~= 'pending' or f[2] ~= ARGV[1] then return 0 end
local attempts = f[3]
if attempts == '[]' then attempts = '[' .. ARGV[2] .. ']'
else attempts = string.sub(attempts, 1, -2) .. ',' .. ARGV[2] .. ']' end
redis.call('HSET', w, 'state', ARGV[3], 'attempts', attempts, 'owner', '', 'until', 0)
if ARGV[3] == 'pending' then
  redis.call('ZADD', KEYS[2], tonumber(ARGV[4]), ARGV[5])
else
  redis.call('ZREM', KEYS[2], ARGV[5])
end
return 1
