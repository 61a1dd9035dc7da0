-- ARGV: limit. Newest first; ids whose hash expired before cleanup ran are skipped.
local limit = tonumber(ARGV[1])
local out, start = {}, 0
while #out < limit do
  local ids = redis.call('ZREVRANGE', PFX .. 'jobs', start, start + limit - 1)
  if #ids == 0 then break end
  for _, id in ipairs(ids) do
    local s = summary(id)
    if s then
      out[#out + 1] = s
      if #out >= limit then break end
    end
  end
  start = start + #ids
end
return out
