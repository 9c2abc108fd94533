-- Records a failed attempt if this worker still holds the job: back to delayed (or
-- waiting) after ARGV[4] ms, or, with -1, into the failed set with its error, keeping the
-- newest ARGV[6] failed jobs there (older ones are removed with their data).
-- KEYS: job hash, active, delayed, failed, wait
-- ARGV: id, token, error, retry delay ms or -1, processed counter prefix, most failed jobs
--       kept, job key prefix
if redis.call('HGET', KEYS[1], 'token') ~= ARGV[2] then return 0 end
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
redis.call('ZREM', KEYS[2], ARGV[1])
redis.call('HINCRBY', KEYS[1], 'attemptsMade', 1)
redis.call('HSET', KEYS[1], 'failedReason', ARGV[3])
redis.call('HDEL', KEYS[1], 'token')
local delay = tonumber(ARGV[4])
if delay < 0 then
  redis.call('ZADD', KEYS[4], now, ARGV[1])
  redis.call('HSET', KEYS[1], 'state', 'failed', 'finishedOn', now)
  local extra = redis.call('ZCARD', KEYS[4]) - tonumber(ARGV[6])
  if extra > 0 then
    for _, old in ipairs(redis.call('ZRANGE', KEYS[4], 0, extra - 1)) do
      redis.call('DEL', ARGV[7] .. old)
    end
    redis.call('ZREMRANGEBYRANK', KEYS[4], 0, extra - 1)
  end
  local bucket = ARGV[5] .. math.floor(now / 1000)
  redis.call('INCR', bucket)
  redis.call('EXPIRE', bucket, 120)
elseif delay == 0 then
  redis.call('LPUSH', KEYS[5], ARGV[1])
  redis.call('HSET', KEYS[1], 'state', 'waiting', 'readyAt', now)
else
  redis.call('ZADD', KEYS[3], now + delay, ARGV[1])
  redis.call('HSET', KEYS[1], 'state', 'delayed', 'readyAt', now + delay)
end
return 1
