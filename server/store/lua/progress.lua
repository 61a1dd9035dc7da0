-- ARGV: job id, extra fields as a JSON fragment (",\"k\":v..." or "").
local id = ARGV[1]
local jk = jkey(id)
if redis.call('EXISTS', jk) == 0 then return nil end
local f = redis.call('HMGET', jk, 'current', 'total')
return job_event(id, 'progress', ',' .. progress_json(f[1], f[2]) .. ARGV[2])
