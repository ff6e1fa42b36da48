-- Replaces the whole report hash KEYS[1] (counters and positions) with ARGV's field, value pairs.
if #ARGV % 2 ~= 0 then return refuse('replaceReport: field/value pairs expected') end
redis.call('DEL', KEYS[1])
if #ARGV > 0 then redis.call('HSET', KEYS[1], unpack(ARGV)) end
