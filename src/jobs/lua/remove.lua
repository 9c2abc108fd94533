-- Removes a job that is not running. 1 removed, 0 no such job, -1 running.
-- KEYS: job hash, wait, delayed, active, completed, failed
-- ARGV: id
if redis.call('EXISTS', KEYS[1]) == 0 then return 0 end
if redis.call('ZSCORE', KEYS[4], ARGV[1]) then return -1 end
redis.call('LREM', KEYS[2], 0, ARGV[1])
redis.call('ZREM', KEYS[3], ARGV[1])
redis.call('ZREM', KEYS[5], ARGV[1])
redis.call('ZREM', KEYS[6], ARGV[1])
redis.call('DEL', KEYS[1])
return 1
