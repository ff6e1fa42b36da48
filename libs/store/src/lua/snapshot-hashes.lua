-- Reads hashes of one slot at one instant, for a checkpoint: per key {ttl in ms (0: none,
-- -2: missing), its fields and values}.
local out = {}
for i, key in ipairs(KEYS) do
  local ttl = redis.call('PTTL', key)
  if ttl == -1 then ttl = 0 end
  out[i] = {ttl, redis.call('HGETALL', key)}
end
return out
