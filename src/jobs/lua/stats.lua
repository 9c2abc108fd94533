-- waiting, active, delayed, completed, failed, and jobs finished in the last 60 s.
-- KEYS: wait, active, delayed, completed, failed
-- ARGV: processed counter prefix
local t = redis.call('TIME')
local second = tonumber(t[1])
local processed = 0
for s = second - 59, second do
  processed = processed + tonumber(redis.call('GET', ARGV[1] .. s) or '0')
end
return {redis.call('LLEN', KEYS[1]), redis.call('ZCARD', KEYS[2]),
  redis.call('ZCARD', KEYS[3]), redis.call('ZCARD', KEYS[4]), redis.call('ZCARD', KEYS[5]),
  processed}
