-- ARGV: job id, event seq. The incremental poll: {summary, gap, {result json...}} with the
-- results committed after event seq (results are a prefix, so they are the indices from the
-- count that event showed), every result and gap '1' when the log no longer holds the event;
-- {summary, 'future'} when seq is past the job's last event; nil when there is no such job.
local id, seq = ARGV[1], tonumber(ARGV[2])
local s = summary(id)
if not s then return nil end
local jk = jkey(id)
local f = redis.call('HMGET', jk, 'seq', 'current')
if seq > tonumber(f[1]) then return {s, 'future'} end
local first, gap = 0, '0'
if seq > 0 then
  local e = redis.call('XRANGE', jk .. ':events', seq .. '-0', seq .. '-0')[1]
  if e then
    for i = 1, #e[2], 2 do
      -- Every job event carries its progress, first of its fields after the type.
      if e[2][i] == 'j' then
        first = tonumber(string.match(e[2][i + 1], '"progress":{"current":(%d+)'))
      end
    end
  else
    gap = '1'
  end
end
local texts, last = {}, tonumber(f[2]) - 1
if first > 0 then
  -- Results of the prefix already sent that were replaced since (update.lua: their volume).
  local upd, again = redis.call('HGETALL', jk .. ':upd'), {}
  for i = 1, #upd, 2 do
    local idx = tonumber(upd[i])
    if idx < first and tonumber(upd[i + 1]) > seq then again[#again + 1] = idx end
  end
  table.sort(again)
  for _, idx in ipairs(again) do
    texts[#texts + 1] = redis.call('HGET', jk .. ':results', tostring(idx))
  end
end
for from = first, last, 500 do
  local fields = {}
  for i = from, math.min(from + 499, last) do fields[#fields + 1] = tostring(i) end
  for _, t in ipairs(redis.call('HMGET', jk .. ':results', unpack(fields))) do
    texts[#texts + 1] = t
  end
end
return {s, gap, texts}
