-- ARGV: job id, group, consumer. Resets the entry's idle time (the lease) if still ours.
local jk = jkey(ARGV[1])
local f = redis.call('HMGET', jk, 'status', 'qkey', 'qid')
if (not f[1]) or f[1] ~= 'processing' then return 0 end
if not is_owner(f[2], ARGV[2], f[3], ARGV[3]) then return 0 end
redis.call('XCLAIM', f[2], ARGV[2], ARGV[3], 0, f[3], 'JUSTID')
return 1
