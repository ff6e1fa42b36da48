-- Claims and removes a bucket's requests first seen before a cutoff, in one step, so two
-- joiners sweeping at once never count the same request twice, and gives back to the
-- bucket's held counters what each had pending (its `c:` charges, join-cap.lua). Keys are
-- built from members, which were validated request ids when added, under the bucket's own
-- hash tag. Runs after join-cap.lua.
-- KEYS: the bucket's seen-set, held. ARGV: cutoff (ms), the bucket's request-hash prefix, limit.
if not (finiteNumber(ARGV[1]) and ARGV[2] and isPositiveInteger(ARGV[3])) then return refuse('sweepJoins: cutoff, prefix and limit expected') end
local ids = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', ARGV[1], 'LIMIT', 0, tonumber(ARGV[3]))
local out = {}
for _, id in ipairs(ids) do
  local key = ARGV[2] .. id
  local fields = redis.call('HGETALL', key)
  for i = 1, #fields, 2 do
    local name = fields[i]
    if string.sub(name, 1, 2) == 'c:' then
      -- c:f, c:f:<deployment>, c:p:<deployment>:<variant>:<role>
      local kind, rest = string.sub(name, 3, 3), string.sub(name, 5)
      local deployment = rest
      if kind == 'p' then deployment = string.sub(rest, 1, string.find(rest, ':', 1, true) - 1) end
      account(kind, deployment, tonumber(fields[i + 1]), -1)
    end
  end
  out[#out + 1] = id
  out[#out + 1] = fields
  redis.call('DEL', key)
  redis.call('ZREM', KEYS[1], id)
end
return out
