-- Adds a job unless one with this id exists (so an enqueue repeated after a crash, or by
-- several instances for one cron tick, adds one job). With KEYS[4], the per-tick cron
-- key, only the first caller of the tick enqueues.
-- KEYS: job hash, wait, delayed, [cron tick key]
-- ARGV: id, payload, attempts, backoff, backoff ms, keep completed, delay ms, tick key ttl ms
if KEYS[4] then
  if not redis.call('SET', KEYS[4], '1', 'NX', 'PX', ARGV[8]) then return 0 end
end
if redis.call('EXISTS', KEYS[1]) == 1 then return 0 end
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local delay = tonumber(ARGV[7])
local ready = now + delay
redis.call('HSET', KEYS[1], 'payload', ARGV[2], 'attempts', ARGV[3], 'backoff', ARGV[4],
  'backoffMs', ARGV[5], 'keep', ARGV[6], 'attemptsMade', 0, 'enqueuedAt', now,
  'readyAt', ready)
if delay > 0 then
  redis.call('ZADD', KEYS[3], ready, ARGV[1])
  redis.call('HSET', KEYS[1], 'state', 'delayed')
else
  redis.call('LPUSH', KEYS[2], ARGV[1])
  redis.call('HSET', KEYS[1], 'state', 'waiting')
end
return 1
