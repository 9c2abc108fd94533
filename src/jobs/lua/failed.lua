-- The newest ARGV[2] failed jobs with what the admin list shows.
-- KEYS: failed
-- ARGV: job key prefix, how many
local out = {}
for _, id in ipairs(redis.call('ZREVRANGE', KEYS[1], 0, tonumber(ARGV[2]) - 1)) do
  local f = redis.call('HMGET', ARGV[1] .. id, 'payload', 'attemptsMade', 'attempts',
    'failedReason', 'enqueuedAt', 'finishedOn')
  if f[1] then
    table.insert(out, {id, f[1], f[2] or '0', f[3] or '0', f[4] or '', f[5] or '0',
      f[6] or '0'})
  end
end
return out
