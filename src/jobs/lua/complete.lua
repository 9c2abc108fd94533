-- Marks a job completed if this worker still holds it, keeps the newest `keep` completed
-- jobs (the job's own keep, at most the queue-wide bound; this one is removed at once
-- when that is 0), removing older ones with their data, and counts it as processed.
-- KEYS: job hash, active, completed
-- ARGV: id, token, job key prefix, processed counter prefix, most completed jobs kept
if redis.call('HGET', KEYS[1], 'token') ~= ARGV[2] then return 0 end
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
redis.call('ZREM', KEYS[2], ARGV[1])
local keep = math.min(tonumber(redis.call('HGET', KEYS[1], 'keep') or '0'), tonumber(ARGV[5]))
if keep <= 0 then
  redis.call('DEL', KEYS[1])
else
  redis.call('HSET', KEYS[1], 'state', 'completed', 'finishedOn', now)
  redis.call('HDEL', KEYS[1], 'token')
  redis.call('ZADD', KEYS[3], now, ARGV[1])
  local extra = redis.call('ZCARD', KEYS[3]) - keep
  if extra > 0 then
    for _, old in ipairs(redis.call('ZRANGE', KEYS[3], 0, extra - 1)) do
      redis.call('DEL', ARGV[3] .. old)
    end
    redis.call('ZREMRANGEBYRANK', KEYS[3], 0, extra - 1)
  end
end
local bucket = ARGV[4] .. math.floor(now / 1000)
redis.call('INCR', bucket)
redis.call('EXPIRE', bucket, 120)
return 1
