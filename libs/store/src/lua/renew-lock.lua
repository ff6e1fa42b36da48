-- Sets the rebuild lock KEYS[1]'s expiry (ARGV[2] ms) again, only while owner ARGV[1] holds it.
if not isDuration(ARGV[2]) then return refuse('renewLock: owner and a positive time in ms expected') end
if redis.call('GET', KEYS[1]) ~= ARGV[1] then return 0 end
return redis.call('PEXPIRE', KEYS[1], ARGV[2])
