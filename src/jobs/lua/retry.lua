-- Moves a failed job back to waiting with its attempts reset. 1 moved, 0 no such job,
-- -1 the job exists but has not failed.
-- KEYS: job hash, failed, wait
-- ARGV: id
if redis.call('EXISTS', KEYS[1]) == 0 then return 0 end
if redis.call('ZREM', KEYS[2], ARGV[1]) == 0 then return -1 end
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
redis.call('HSET', KEYS[1], 'state', 'waiting', 'attemptsMade', 0, 'readyAt', now)
redis.call('HDEL', KEYS[1], 'finishedOn')
redis.call('LPUSH', KEYS[3], ARGV[1])
return 1
