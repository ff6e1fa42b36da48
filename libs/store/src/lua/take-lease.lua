-- Renews the lease KEYS[1] while owner ARGV[1] holds it, else takes it when free, for
-- ARGV[2] ms: 1 when the owner holds it after.
if not isDuration(ARGV[2]) then return refuse('takeLease: owner and a positive time in ms expected') end
if redis.call('GET', KEYS[1]) == ARGV[1] then
  redis.call('PEXPIRE', KEYS[1], ARGV[2])
  return 1
end
if redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2], 'NX') then return 1 end
return 0
