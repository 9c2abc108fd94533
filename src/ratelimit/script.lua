-- The checks of several requests, each deciding all of its matching policies at once,
-- in one atomic run (the actor batches the checks that arrive while a run is in flight).
-- ARGV[1]: how many requests; then per request: a member unique to it (empty when none
-- of its policies is a log), its policy count k, and per policy: the algorithm ('l'
-- sliding-window log, 'g' GCRA), its limit and its window (ms). KEYS: the state of each
-- policy and identity, all requests' in order.
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
--
-- Written for the cost per check, which is most of a limited request's cost in Redis
-- (docs/PERFORMANCE.md): policies are read from ARGV in place (no table per request or
-- policy), a TAT is passed to SET as a number (Redis writes an integer below 2^53 in
-- full, without an exponent), and an active client's TAT moves by INCRBY. A request
-- with a single GCRA policy (the common case) takes a path of its own: one pass, and
-- INCRBY before any read, so a client already counted costs one INCRBY (its key's
-- expiry moves once a window, see `expiry_for`; measured in docs/PERFORMANCE.md). A GCRA
-- key lives up to two windows after its last use (one TAT, about 160 bytes).
local call, tonumber, floor, ceil, max, min =
  redis.call, tonumber, math.floor, math.ceil, math.max, math.min
local t = call('TIME')
local now = tonumber(t[1]) * 1000 + floor(tonumber(t[2]) / 1000)
local now_us = tonumber(t[1]) * 1000000 + tonumber(t[2])

-- A GCRA policy's state for the answer, from the TAT it leaves: requests left, and the
-- wait (ms) until the next slot frees when none is left, else until the quota is whole.
local function gcra_state(tat, limit, period, wus)
  local ahead = tat - now_us
  local remaining = min(limit, max(0, floor((wus - ahead) / period)))
  if remaining == 0 then
    return remaining, ceil(max(0, ahead + period - wus) / 1000)
  end
  return remaining, ceil(ahead / 1000)
end

-- A GCRA key must outlive its TAT (once the TAT is behind now, no key means the same).
-- Time is cut into window-long spans (from the epoch); a key expires at the end of the
-- span its TAT is in, which is at most two windows after now since a TAT is at most one
-- window ahead. So the expiry moves only when the TAT enters a later span, once a window
-- of steady use, and a check spares the PTTL read it would take to ask. A key written
-- before this rule (expiry two windows after its last refresh) can expire once with its
-- TAT ahead while the new rule lets it run: that client gets one fresh burst, once.
local function expiry_for(tat, wus, window)
  return (floor(tat / wus) + 1) * window
end
local function keep_past(key, before, tat, wus, window)
  if floor(tat / wus) > floor(before / wus) then
    call('PEXPIREAT', key, expiry_for(tat, wus, window))
  end
end

-- The numbers of the last single-GCRA request's policy, and its period as INCRBY's
-- argument. A batch is mostly one policy, and ARGV strings are interned, so a repeat
-- costs two pointer comparisons instead of two `tonumber` and a number written out for
-- INCRBY on every check.
local last_limit, last_window, limit1, window1, wus1, period1, step1

local out, o = {}, 0
-- Per policy of the request being decided: the TAT (GCRA) or count (log) it found, and
-- (GCRA) whether the stored TAT was ahead of now.
local seen, ahead = {}, {}
local a, k = 2, 1
for _ = 1, tonumber(ARGV[1]) do
  local member, count = ARGV[a], ARGV[a + 1]
  local n = count == '1' and 1 or tonumber(count)
  local first = a + 2
  a = first + 3 * n

  if n == 1 and ARGV[first] == 'g' then
    -- One GCRA policy, the common case (every request meets `global`): one pass, and the
    -- TAT moved first, which spares a read for a client already counted: a stored TAT
    -- still ahead of now was moved right (moved back if the request is refused); one
    -- behind now, or none, is set afresh. All within this atomic run.
    if ARGV[first + 1] ~= last_limit or ARGV[first + 2] ~= last_window then
      last_limit, last_window = ARGV[first + 1], ARGV[first + 2]
      limit1, window1 = tonumber(last_limit), tonumber(last_window)
      wus1 = window1 * 1000
      period1 = max(1, floor(wus1 / limit1))
      step1 = tostring(period1)
    end
    local key, limit, window, wus, period = KEYS[k], limit1, window1, wus1, period1
    local tat = call('INCRBY', key, step1)
    local allowed
    if tat - period >= now_us then
      allowed = tat - now_us <= wus
      if not allowed then
        call('DECRBY', key, period)
        tat = tat - period
      else
        keep_past(key, tat - period, tat, wus, window)
      end
    else
      tat = now_us + period
      allowed = period <= wus
      if allowed then
        call('SET', key, tat, 'PXAT', expiry_for(tat, wus, window))
      else
        call('DEL', key)
        tat = now_us
      end
    end
    local remaining, reset = gcra_state(tat, limit, period, wus)
    out[o + 1] = allowed and 1 or 0
    out[o + 2] = remaining
    out[o + 3] = reset
    o = o + 3
  else
    -- Pass 1: does every policy have room?
    local allowed = 1
    for i = 0, n - 1 do
      local p, key = first + 3 * i, KEYS[k + i]
      local limit, window = tonumber(ARGV[p + 1]), tonumber(ARGV[p + 2])
      if ARGV[p] == 'g' then
        local period = max(1, floor(window * 1000 / limit))
        local tat = tonumber(call('GET', key))
        -- A stored TAT still ahead of now can be moved in place (pass 2).
        ahead[i] = tat ~= nil and tat >= now_us
        if not ahead[i] then
          tat = now_us
        end
        seen[i] = tat
        if tat + period - now_us > window * 1000 then
          allowed = 0
        end
      else
        call('ZREMRANGEBYSCORE', key, '-inf', now - window)
        local count = call('ZCARD', key)
        seen[i] = count
        if count >= limit then
          allowed = 0
        end
      end
    end
    out[o + 1] = allowed
    o = o + 1

    -- Pass 2: use the quota if allowed, and report each policy's state.
    for i = 0, n - 1 do
      local p, key = first + 3 * i, KEYS[k + i]
      local limit, window = tonumber(ARGV[p + 1]), tonumber(ARGV[p + 2])
      local remaining, reset
      if ARGV[p] == 'g' then
        local period = max(1, floor(window * 1000 / limit))
        local tat = seen[i]
        if allowed == 1 then
          tat = tat + period
          if ahead[i] then
            -- INCRBY changes the integer in place and keeps the expiry (cheaper than a SET).
            call('INCRBY', key, period)
            keep_past(key, tat - period, tat, window * 1000, window)
          else
            call('SET', key, tat, 'PXAT', expiry_for(tat, window * 1000, window))
          end
        end
        remaining, reset = gcra_state(tat, limit, period, window * 1000)
      else
        local count = seen[i]
        if allowed == 1 then
          call('ZADD', key, now, member)
          call('PEXPIRE', key, window)
          count = count + 1
        end
        remaining = max(0, limit - count)
        reset = window
        if remaining == 0 then
          -- The next slot frees when the entry at index count - limit (the oldest, normally)
          -- leaves the window.
          local at = max(0, count - limit)
          local entry = call('ZRANGE', key, at, at, 'WITHSCORES')
          if entry[2] then
            reset = max(0, tonumber(entry[2]) + window - now)
          end
        elseif allowed == 0 then
          -- Room here, but another policy refused: whole again when the newest entry leaves.
          local entry = call('ZRANGE', key, -1, -1, 'WITHSCORES')
          reset = 0
          if entry[2] then
            reset = max(0, tonumber(entry[2]) + window - now)
          end
        end
      end
      out[o + 1] = remaining
      out[o + 2] = reset
      o = o + 2
    end
  end
  k = k + n
end
return out
