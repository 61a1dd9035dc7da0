-- ARGV: job id, with results (0/1). Returns {summary, {idx, json, ...}} or nil; one script,
-- so lastEventId matches the results exactly.
local s = summary(ARGV[1])
if not s then return nil end
if ARGV[2] == '1' then return {s, redis.call('HGETALL', jkey(ARGV[1]) .. ':results')} end
return {s, {}}
