-- Restores a claim read back from the joined topic. Runs after join-seen.lua.
-- KEYS: seen-set, the request's hash. ARGV: pair, ttl, joined at, requestId.
if not (isDuration(ARGV[2]) and finiteNumber(ARGV[3]) and ARGV[4] and ARGV[4] ~= '') then return refuse('restoreClaim: pair, ttl, time and request id expected') end
redis.call('HSETNX', KEYS[2], 'd:' .. ARGV[1], 'rebuilt')
seen(KEYS[2], ARGV[2], ARGV[3], ARGV[4])
