-- Restores a claim read back from the joined topic: the pair is joined for good, so it is
-- compacted (committed claim, no prediction), and the prediction's charge to the pending
-- limits given back. Runs after join-seen.lua and join-cap.lua.
-- KEYS: seen-set, the request's hash, held. ARGV: pair, ttl, joined at, requestId.
if not (isDuration(ARGV[2]) and finiteNumber(ARGV[3]) and ARGV[4] and ARGV[4] ~= '') then return refuse('restoreClaim: pair, ttl, time and request id expected') end
seen(KEYS[2], ARGV[2], ARGV[3], ARGV[4])
releasePrediction(KEYS[2], ARGV[1])
compactPair(KEYS[2], ARGV[1])
