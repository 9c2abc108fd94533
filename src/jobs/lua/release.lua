-- At shutdown: a job this worker still holds goes back to the head of waiting.
-- KEYS: job hash, active, wait
-- ARGV: id, token
if redis.call('HGET', KEYS[1], 'token') ~= ARGV[2] then return 0 end
redis.call('ZREM', KEYS[2], ARGV[1])
redis.call('HDEL', KEYS[1], 'token')
redis.call('HSET', KEYS[1], 'state', 'waiting')
redis.call('RPUSH', KEYS[3], ARGV[1])
return 1
