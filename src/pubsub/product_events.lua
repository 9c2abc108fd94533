-- Gives one product event the next deployment-wide offset, appends it to the capped
-- history stream under the id `{offset}-0` and publishes it, atomically, so every
-- instance and every replay sees the same event with the same offset.
-- KEYS[1] offset counter, KEYS[2] history stream.
-- ARGV[1] the event's JSON without its closing brace, ARGV[2] history size,
-- ARGV[3] the live channel (channels are not keys).
if redis.call('EXISTS', KEYS[1]) == 0 then
  -- The counter was lost (evicted, flushed) but the stream may remain: continue after
  -- its last entry, or XADD would refuse an id not above it.
  local last = redis.call('XREVRANGE', KEYS[2], '+', '-', 'COUNT', 1)
  if #last > 0 then
    local top = string.match(last[1][1], '^(%d+)-')
    redis.call('SET', KEYS[1], top)
  end
end
local offset = redis.call('INCR', KEYS[1])
local event = ARGV[1] .. ',"offset":' .. offset .. '}'
redis.call('XADD', KEYS[2], 'MAXLEN', ARGV[2], offset .. '-0', 'e', event)
redis.call('PUBLISH', ARGV[3], event)
return offset
