-- Moves due delayed jobs to waiting, then takes up to ARGV[2] waiting jobs: each gets a
-- lease (its score in `active`) and a fresh token that later calls must present.
-- KEYS: wait, delayed, active
-- ARGV: job key prefix, how many, lease ms, worker id
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local due = redis.call('ZRANGEBYSCORE', KEYS[2], '-inf', now, 'LIMIT', 0, 1000)
for _, id in ipairs(due) do
  redis.call('ZREM', KEYS[2], id)
  redis.call('LPUSH', KEYS[1], id)
  redis.call('HSET', ARGV[1] .. id, 'state', 'waiting')
end
local out = {}
for _ = 1, tonumber(ARGV[2]) do
  local id = redis.call('RPOP', KEYS[1])
  if not id then break end
  local key = ARGV[1] .. id
  if redis.call('EXISTS', key) == 1 then
    local takes = redis.call('HINCRBY', key, 'takes', 1)
    local token = ARGV[4] .. ':' .. takes
    redis.call('ZADD', KEYS[3], now + tonumber(ARGV[3]), id)
    redis.call('HSET', key, 'state', 'active', 'token', token, 'processedOn', now)
    local f = redis.call('HMGET', key, 'payload', 'attempts', 'backoff', 'backoffMs',
      'attemptsMade', 'readyAt')
    table.insert(out, {id, token, f[1], f[2], f[3], f[4], f[5], f[6], tostring(now)})
  end
end
return out
