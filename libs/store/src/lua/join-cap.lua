-- Bounded join state (DESIGN, Security): a record is pending when nothing it joins is
-- there yet (feedback before its prediction, a prediction before its feedback), and what
-- is pending of each kind ('f' feedback, 'p' predictions) is limited per bucket, in total
-- and per deployment, in records and bytes. The bucket's `held` hash (the last key of every
-- script that runs this) counts it:
-- `<kind>:n`, `<kind>:b`, `<kind>:n:<deployment>`, `<kind>:b:<deployment>` (feedback naming
-- no deployment counts under ''), and keeps the limits in force (`limits`, "n b dn db":
-- the joiner's, per bucket) for the router's check before it publishes. A pending record is
-- charged there and on its request (`c:<field>` → bytes), so the sweep gives back exactly
-- what it removes; one past a limit writes nothing and is answered with the limit's name.
local HELD = KEYS[#KEYS]
local function parseLimits(text)
  local parts = {string.match(text or '', '^(%d+) (%d+) (%d+) (%d+)$')}
  if #parts ~= 4 then return nil end
  local limits = {}
  for i, part in ipairs(parts) do
    if not isPositiveInteger(part) then return nil end
    limits[i] = tonumber(part)
  end
  return limits
end
-- The limit `bytes` more of `kind` for `deployment` would pass, or nil.
local function overLimit(kind, deployment, bytes, limits)
  local held = redis.call('HMGET', HELD, kind .. ':n', kind .. ':b', kind .. ':n:' .. deployment, kind .. ':b:' .. deployment)
  if (tonumber(held[1]) or 0) + 1 > limits[1] then return 'count' end
  if (tonumber(held[2]) or 0) + bytes > limits[2] then return 'bytes' end
  if (tonumber(held[3]) or 0) + 1 > limits[3] then return 'deployment-count' end
  if (tonumber(held[4]) or 0) + bytes > limits[4] then return 'deployment-bytes' end
  return nil
end
-- Adds (sign 1) or gives back (sign -1) one record of `bytes`; a deployment's fields go when they reach 0.
local function account(kind, deployment, bytes, sign)
  redis.call('HINCRBY', HELD, kind .. ':n', sign)
  redis.call('HINCRBY', HELD, kind .. ':b', sign * bytes)
  if redis.call('HINCRBY', HELD, kind .. ':n:' .. deployment, sign) <= 0 then
    redis.call('HDEL', HELD, kind .. ':n:' .. deployment, kind .. ':b:' .. deployment)
  else
    redis.call('HINCRBY', HELD, kind .. ':b:' .. deployment, sign * bytes)
  end
end
-- Charges a pending record to its kind and its request (whose expiry the counters follow).
local function charge(key, field, kind, deployment, bytes, ttl)
  account(kind, deployment, bytes, 1)
  redis.call('HSET', key, 'c:' .. field, bytes)
  if redis.call('TTL', HELD) < tonumber(ttl) then redis.call('EXPIRE', HELD, ttl) end
end
-- Gives back what a prediction had pending once its pair is joined for good (compacted):
-- the limits bound what waits for a partner, not what joined within the window.
local function releasePrediction(key, pair)
  local charged = redis.call('HGET', key, 'c:p:' .. pair)
  if not charged then return end
  account('p', string.sub(pair, 1, string.find(pair, ':', 1, true) - 1), tonumber(charged), -1)
  redis.call('HDEL', key, 'c:p:' .. pair)
end
