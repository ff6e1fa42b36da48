-- Stores (or, when replaying, lowers to) the request's first-seen time in the bucket's
-- seen-set (KEYS[1]), and the request hash's expiry once.
local function seen(key, ttl, now, requestId)
  if redis.call('TTL', key) < 0 then redis.call('EXPIRE', key, ttl) end
  redis.call('ZADD', KEYS[1], 'LT', now, requestId)
end
