-- The claim of a pair whose joined event is committed (compacted, or read back from the
-- joined topic): no message claims it again, and its prediction is no longer kept.
local COMMITTED = 'c'
-- Stores (or, when replaying, lowers to) the request's first-seen time in the bucket's
-- seen-set (KEYS[1]), and the request hash's expiry once.
local function seen(key, ttl, now, requestId)
  if redis.call('TTL', key) < 0 then redis.call('EXPIRE', key, ttl) end
  redis.call('ZADD', KEYS[1], 'LT', now, requestId)
end
-- Compacts a pair whose joined event is committed: its prediction goes, its claim becomes
-- COMMITTED. HDEL leaves a listpack's allocation as large as it was, so the hash is
-- written anew (with its expiry) to take only what it still holds.
local function compactPair(key, pair)
  redis.call('HDEL', key, 'p:' .. pair)
  redis.call('HSET', key, 'd:' .. pair, COMMITTED)
  local ttl = redis.call('PTTL', key)
  local fields = redis.call('HGETALL', key)
  redis.call('DEL', key)
  redis.call('HSET', key, unpack(fields))
  if ttl > 0 then redis.call('PEXPIRE', key, ttl) end
end
