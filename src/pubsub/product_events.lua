-- Gives one product event the next deployment-wide offset, appends it to the capped
-- history stream under the id `{offset}-0` and publishes it, atomically, so every
-- instance and every replay sees the same event with the same offset and epoch.
-- KEYS[1] offset counter, KEYS[2] history stream, KEYS[3] the history's epoch,
-- KEYS[4] (product events only) the product's last published "rank category" (see
-- pubsub/event_order.rs).
-- ARGV[1] the event's JSON without its closing brace, ARGV[2] history size,
-- ARGV[3] the live channel (channels are not keys), ARGV[4] a fresh random epoch, kept
-- only if a new history starts here; with KEYS[4]: ARGV[5] the event's rank, ARGV[6] its
-- category as JSON text, ARGV[7] for an update the category before the write as JSON
-- text (else empty), ARGV[8] seconds the rank is remembered.
-- Returns the offset, or 0 for an event older than one already published (not news).
local previous = ARGV[7]
if KEYS[4] then
  local last = redis.call('GET', KEYS[4])
  if last then
    local rank, category = string.match(last, '^(%d+) ?(.*)$')
    if tonumber(rank) >= tonumber(ARGV[5]) then
      return 0
    end
    -- What clients last heard, whatever the write read before it.
    if previous ~= '' and category ~= '' then
      previous = category
    end
  end
  redis.call('SET', KEYS[4], ARGV[5] .. ' ' .. ARGV[6], 'EX', ARGV[8])
end
local epoch = redis.call('GET', KEYS[3])
local counter = redis.call('EXISTS', KEYS[1]) == 1
local stream = redis.call('EXISTS', KEYS[2]) == 1
if not counter and stream then
  -- The counter was lost (evicted, flushed) but the stream remains: continue after its
  -- last entry, or XADD would refuse an id not above it.
  local last = redis.call('XREVRANGE', KEYS[2], '+', '-', 'COUNT', 1)
  if #last > 0 then
    local top = string.match(last[1][1], '^(%d+)-')
    redis.call('SET', KEYS[1], top)
  end
end
if not (counter and stream and epoch) then
  -- A new history (or one we cannot vouch for): offsets clients hold no longer name
  -- its events, so it gets a new epoch, and every instance reads this one.
  epoch = ARGV[4]
  redis.call('SET', KEYS[3], epoch)
end
local offset = redis.call('INCR', KEYS[1])
local event = ARGV[1]
if previous and previous ~= '' and previous ~= ARGV[6] then
  event = event .. ',"previousCategory":' .. previous
end
event = event .. ',"epoch":' .. cjson.encode(epoch) .. ',"offset":' .. offset .. '}'
redis.call('XADD', KEYS[2], 'MAXLEN', ARGV[2], offset .. '-0', 'e', event)
redis.call('PUBLISH', ARGV[3], event)
return offset
