-- Deletes the rebuild lock KEYS[1], only while owner ARGV[1] holds it.
if redis.call('GET', KEYS[1]) ~= ARGV[1] then return 0 end
return redis.call('DEL', KEYS[1])
