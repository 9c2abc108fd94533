-- The checks of several requests, each deciding all of its matching policies at once,
-- in one atomic run (the actor batches the checks that arrive while a run is in flight).
-- ARGV[1]: how many requests; then per request: a member unique to it, its policy count
-- k, and per policy: the algorithm ('l' sliding-window log, 'g' GCRA), its limit and its
-- window (ms). KEYS: the state of each policy and identity, all requests' in order.
-- Returns per request {allowed, remaining_1, reset_ms_1, remaining_2, reset_ms_2, ...},
-- where reset_ms is, for a policy with no request left, how long until its next slot
-- frees (the wait a refused client needs), and otherwise how long until its quota is
-- whole again. The time comes from Redis so instances with skewed clocks agree. A request
-- uses quota in every one of its policies, and only when every one allows it; requests
-- are decided in order, each seeing the quota the earlier ones used.
--
-- Sliding-window log: a sorted set of the allowed requests of the last window (members:
-- request ids, scores: ms). For a policy with room, the reset is the window when this
-- request was added, which spares the common path a read (measured in PERFORMANCE.md).
--
-- GCRA (generic cell rate algorithm, as redis-cell): one integer per identity, the
-- theoretical arrival time (TAT, microseconds). Each request moves it one period
-- (window / limit, rounded down to a whole microsecond) later; a request fits while the
-- TAT it would leave is at most one window ahead of now, so `limit` requests fit in a
-- burst and quota comes back one period at a time.
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local now_us = tonumber(t[1]) * 1000000 + tonumber(t[2])

-- One request: its policies p[i] = {key, algo, limit, window}; appends its answer to out.
local function check(p, member, out)
  local n = #p
  local seen = {}
  local allowed = 1
  for i = 1, n do
    local algo, limit, window = p[i].algo, p[i].limit, p[i].window
    local key = p[i].key
    if algo == 'g' then
      local period = math.max(1, math.floor(window * 1000 / limit))
      local tat = tonumber(redis.call('GET', key)) or now_us
      if tat < now_us then
        tat = now_us
      end
      seen[i] = tat
      if tat + period - now_us > window * 1000 then
        allowed = 0
      end
    else
      redis.call('ZREMRANGEBYSCORE', key, '-inf', now - window)
      seen[i] = redis.call('ZCARD', key)
      if seen[i] >= limit then
        allowed = 0
      end
    end
  end
  out[#out + 1] = allowed
  for i = 1, n do
    local algo, limit, window = p[i].algo, p[i].limit, p[i].window
    local key = p[i].key
    local remaining, reset
    if algo == 'g' then
      local period = math.max(1, math.floor(window * 1000 / limit))
      local tat = seen[i]
      if allowed == 1 then
        tat = tat + period
        -- The key lives until the TAT is reached: after that it would read as "now".
        redis.call('SET', key, string.format('%d', tat), 'PX',
          math.max(1, math.ceil((tat - now_us) / 1000)))
      end
      local ahead = tat - now_us
      remaining = math.min(limit, math.max(0, math.floor((window * 1000 - ahead) / period)))
      if remaining == 0 then
        reset = math.ceil(math.max(0, ahead + period - window * 1000) / 1000)
      else
        reset = math.ceil(ahead / 1000)
      end
    else
      local count = seen[i]
      if allowed == 1 then
        redis.call('ZADD', key, now, member)
        redis.call('PEXPIRE', key, window)
        count = count + 1
      end
      remaining = math.max(0, limit - count)
      reset = window
      if remaining == 0 then
        -- The next slot frees when the entry at index count - limit (the oldest, normally)
        -- leaves the window.
        local at = math.max(0, count - limit)
        local entry = redis.call('ZRANGE', key, at, at, 'WITHSCORES')
        if entry[2] then
          reset = math.max(0, tonumber(entry[2]) + window - now)
        end
      elseif allowed == 0 then
        -- Room here, but another policy refused: whole again when the newest entry leaves.
        local entry = redis.call('ZRANGE', key, -1, -1, 'WITHSCORES')
        reset = 0
        if entry[2] then
          reset = math.max(0, tonumber(entry[2]) + window - now)
        end
      end
    end
    out[#out + 1] = remaining
    out[#out + 1] = reset
  end
end

local out = {}
local a, k = 2, 1
for _ = 1, tonumber(ARGV[1]) do
  local member, count = ARGV[a], tonumber(ARGV[a + 1])
  a = a + 2
  local p = {}
  for i = 1, count do
    p[i] = {key = KEYS[k], algo = ARGV[a], limit = tonumber(ARGV[a + 1]),
      window = tonumber(ARGV[a + 2])}
    k = k + 1
    a = a + 3
  end
  check(p, member, out)
end
return out
