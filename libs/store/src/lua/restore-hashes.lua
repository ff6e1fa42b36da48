-- Writes hashes of one slot back from a checkpoint, all or none: only when KEYS[1] (the
-- guard, e.g. the positions that say what the hashes hold) is missing, so a restore never
-- overwrites state written since Redis came back, and running it twice changes nothing.
-- KEYS: the guard, then the hashes. ARGV: per hash, its ttl in ms (0: none), its field
-- count, then fields and values. Answers 1 when restored, 0 when the guard was there.
local a = 1
for i = 2, #KEYS do
  if not (isInteger(ARGV[a]) and tonumber(ARGV[a]) >= 0 and isInteger(ARGV[a + 1]) and tonumber(ARGV[a + 1]) >= 0) then return refuse('restoreHashes: ttl and field count expected') end
  a = a + 2 + 2 * tonumber(ARGV[a + 1])
end
if a ~= #ARGV + 1 then return refuse('restoreHashes: arguments do not match the hashes') end
if redis.call('EXISTS', KEYS[1]) == 1 then return 0 end
a = 1
for i = 2, #KEYS do
  local ttl, n = tonumber(ARGV[a]), tonumber(ARGV[a + 1])
  redis.call('DEL', KEYS[i])
  for f = a + 2, a + 1 + 2 * n, 2 do redis.call('HSET', KEYS[i], ARGV[f], ARGV[f + 1]) end
  if n > 0 and ttl > 0 then redis.call('PEXPIRE', KEYS[i], ttl) end
  a = a + 2 + 2 * n
end
return 1
