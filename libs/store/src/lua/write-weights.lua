-- Compare-and-set write: the version read before computing must still be current, so a
-- slower updater (whose claim expired mid-computation) cannot overwrite newer weights
-- with older ones. KEYS[1] weights hash; ARGV: expected version, weights JSON,
-- specVersion, computedAt, and for a contextual bandit its policy JSON (the arms' fitted
-- models) and its shares per segment JSON (absent: any former ones are removed). Answers
-- the new version, or -1 when another write came first.
if not (isInteger(ARGV[1]) and ARGV[2] and isPositiveInteger(ARGV[3]) and ARGV[4]) then return refuse('writeWeights: expected version, weights, spec version and time expected') end
local current = tonumber(redis.call('HGET', KEYS[1], 'version') or '0')
if current ~= tonumber(ARGV[1]) then return -1 end
local version = current + 1
redis.call('HSET', KEYS[1], 'version', version, 'weights', ARGV[2], 'specVersion', ARGV[3], 'computedAt', ARGV[4])
if ARGV[5] and ARGV[6] then
  redis.call('HSET', KEYS[1], 'policy', ARGV[5], 'segments', ARGV[6])
else
  redis.call('HDEL', KEYS[1], 'policy', 'segments')
end
return version
