-- Replaces the whole report hash KEYS[1] (counters and positions) and the distinct units
-- counted KEYS[2] (add-report.lua): ARGV[1] the number of report field, value pairs, then
-- those pairs, then the units' field, value pairs.
local pairsInReport = isInteger(ARGV[1]) and tonumber(ARGV[1])
if not pairsInReport or pairsInReport < 0 or 1 + 2 * pairsInReport > #ARGV or (#ARGV - 1) % 2 ~= 0 then
  return refuse('replaceReport: a count of report pairs, then field/value pairs expected')
end
redis.call('DEL', KEYS[1], KEYS[2])
if pairsInReport > 0 then redis.call('HSET', KEYS[1], unpack(ARGV, 2, 1 + 2 * pairsInReport)) end
if #ARGV > 1 + 2 * pairsInReport then redis.call('HSET', KEYS[2], unpack(ARGV, 2 + 2 * pairsInReport)) end
