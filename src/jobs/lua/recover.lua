-- Puts jobs whose lease lapsed (their worker died or hung) back at the head of waiting.
-- KEYS: active, wait
-- ARGV: job key prefix
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local lapsed = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', now, 'LIMIT', 0, 1000)
for _, id in ipairs(lapsed) do
  redis.call('ZREM', KEYS[1], id)
  local key = ARGV[1] .. id
  if redis.call('EXISTS', key) == 1 then
    redis.call('HSET', key, 'state', 'waiting')
    redis.call('HDEL', key, 'token')
    redis.call('HINCRBY', key, 'stalled', 1)
    redis.call('RPUSH', KEYS[2], id)
  end
end
return lapsed
