-- Gives one product event the next deployment-wide offset, appends it to the capped
-- history stream under the id `{offset}-0` and publishes it, atomically, so every
-- instance and every replay sees the same event with the same offset.
-- KEYS[1] offset counter, KEYS[2] history stream, KEYS[3] (product events only) the
-- product's last published "rank category" (see pubsub/event_order.rs).
-- ARGV[1] the event's JSON without its closing brace, ARGV[2] history size,
-- ARGV[3] the live channel (channels are not keys); with KEYS[3]: ARGV[4] the event's
-- rank, ARGV[5] its category as JSON text, ARGV[6] for an update the category before
-- the write as JSON text (else empty), ARGV[7] seconds the rank is remembered.
-- Returns the offset, or 0 for an event older than one already published (not news).
local previous = ARGV[6]
if KEYS[3] then
  local last = redis.call('GET', KEYS[3])
  if last then
    local rank, category = string.match(last, '^(%d+) ?(.*)$')
    if tonumber(rank) >= tonumber(ARGV[4]) then
      return 0
    end
    -- What clients last heard, whatever the write read before it.
    if previous ~= '' and category ~= '' then
      previous = category
    end
  end
  redis.call('SET', KEYS[3], ARGV[4] .. ' ' .. ARGV[5], 'EX', ARGV[7])
end
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
local event = ARGV[1]
if previous and previous ~= '' and previous ~= ARGV[5] then
  event = event .. ',"previousCategory":' .. previous
end
event = event .. ',"offset":' .. offset .. '}'
redis.call('XADD', KEYS[2], 'MAXLEN', ARGV[2], offset .. '-0', 'e', event)
redis.call('PUBLISH', ARGV[3], event)
return offset
