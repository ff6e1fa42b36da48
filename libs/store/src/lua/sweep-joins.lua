-- Claims and removes a bucket's requests first seen before a cutoff, in one step, so two
-- joiners sweeping at once never count the same request twice. Keys are built from
-- members, which were validated request ids when added, under the bucket's own hash tag.
-- KEYS[1]: the bucket's seen-set. ARGV: cutoff (ms), the bucket's request-hash prefix, limit.
if not (finiteNumber(ARGV[1]) and ARGV[2] and isPositiveInteger(ARGV[3])) then return refuse('sweepJoins: cutoff, prefix and limit expected') end
local ids = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', ARGV[1], 'LIMIT', 0, tonumber(ARGV[3]))
local out = {}
for _, id in ipairs(ids) do
  local key = ARGV[2] .. id
  out[#out + 1] = id
  out[#out + 1] = redis.call('HGETALL', key)
  redis.call('DEL', key)
  redis.call('ZREM', KEYS[1], id)
end
return out
