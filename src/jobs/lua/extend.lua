-- Renews the leases of the jobs this worker still holds (id and token pairs).
-- KEYS: active
-- ARGV: job key prefix, lease ms, id1, token1, id2, token2, ...
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local renewed = 0
for i = 3, #ARGV, 2 do
  local id = ARGV[i]
  if redis.call('HGET', ARGV[1] .. id, 'token') == ARGV[i + 1] then
    redis.call('ZADD', KEYS[1], 'XX', now + tonumber(ARGV[2]), id)
    renewed = renewed + 1
  end
end
return renewed
