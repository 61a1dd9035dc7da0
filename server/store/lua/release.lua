-- ARGV: job id, group, consumer, lease ms. A worker stopping cleanly hands its job back: the
-- entry looks idle for a whole lease, so the next claim anywhere takes it over at once.
local f = redis.call('HMGET', jkey(ARGV[1]), 'status', 'qkey', 'qid')
if f[1] ~= 'processing' or not is_owner(f[2], ARGV[2], f[3], ARGV[3]) then return 0 end
redis.call('XCLAIM', f[2], ARGV[2], ARGV[3], 0, f[3], 'IDLE', ARGV[4], 'JUSTID')
return 1
