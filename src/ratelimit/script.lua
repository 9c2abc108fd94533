-- Sliding-window log over several policies at once, atomically.
-- KEYS[i]: the sorted set of one policy and identity (members: request ids, scores: ms).
-- ARGV[1]: a member unique to this request; ARGV[2i], ARGV[2i+1]: limit and window (ms)
-- of KEYS[i].
-- Returns {allowed, remaining_1, reset_ms_1, remaining_2, reset_ms_2, ...}, where
-- reset_ms is, for a policy with no request left, how long until its next slot frees
-- (the wait a refused client needs), and otherwise how long until its quota is whole
-- again (its newest entry leaves; just the window when this request was added, which
-- spares the common path a read: the one-call saving is measured in PERFORMANCE.md).
-- The time comes from Redis so instances with skewed clocks agree. A request uses quota
-- in every policy, and only when every policy allows it.
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local n = #KEYS
local counts = {}
local allowed = 1
for i = 1, n do
  local limit = tonumber(ARGV[2 * i])
  local window = tonumber(ARGV[2 * i + 1])
  redis.call('ZREMRANGEBYSCORE', KEYS[i], '-inf', now - window)
  counts[i] = redis.call('ZCARD', KEYS[i])
  if counts[i] >= limit then
    allowed = 0
  end
end
local out = {allowed}
for i = 1, n do
  local limit = tonumber(ARGV[2 * i])
  local window = tonumber(ARGV[2 * i + 1])
  local count = counts[i]
  if allowed == 1 then
    redis.call('ZADD', KEYS[i], now, ARGV[1])
    redis.call('PEXPIRE', KEYS[i], window)
    count = count + 1
  end
  local remaining = math.max(0, limit - count)
  local reset = window
  if remaining == 0 then
    -- The next slot frees when the entry at index count - limit (the oldest, normally)
    -- leaves the window.
    local at = math.max(0, count - limit)
    local entry = redis.call('ZRANGE', KEYS[i], at, at, 'WITHSCORES')
    if entry[2] then
      reset = math.max(0, tonumber(entry[2]) + window - now)
    end
  elseif allowed == 0 then
    -- Room here, but another policy refused: whole again when the newest entry leaves.
    local entry = redis.call('ZRANGE', KEYS[i], -1, -1, 'WITHSCORES')
    reset = 0
    if entry[2] then
      reset = math.max(0, tonumber(entry[2]) + window - now)
    end
  end
  out[#out + 1] = remaining
  out[#out + 1] = reset
end
return out
