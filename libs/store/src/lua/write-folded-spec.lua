-- Writes what a deployment's spec log folds to, up to log offset ARGV[2], as one atomic
-- step that every router sees whole. Redis is a cache of the log here: a write for an
-- offset already there changes nothing (another process folded the same log), and an
-- incremental write (ARGV[3] = '0') applies only on top of the state of the previous
-- change (ARGV[1]); anything else (Redis lost or behind) answers -1 and the caller writes
-- the whole state (ARGV[3] = '1').
--
-- KEYS: spec hash, history hash, rollout-state hash, then keys removed with a deletion.
-- ARGV: previous offset, offset, whole, deleted, current, previous, lastVersion,
-- incarnation, arms (JSON), channel, name, number of rollout field/value pairs, those
-- pairs, then history version/body pairs.
-- Answers 1 written, 0 already there, -1 not on top of the previous change.
-- Refused whole (args.lua) before any write when the arguments do not add up.
local n = isInteger(ARGV[12]) and tonumber(ARGV[12])
if not (isInteger(ARGV[1]) and isInteger(ARGV[2]) and (ARGV[3] == '0' or ARGV[3] == '1') and (ARGV[4] == '0' or ARGV[4] == '1') and n and n >= 0 and 12 + 2 * n <= #ARGV and (#ARGV - 12 - 2 * n) % 2 == 0) then
  return refuse('writeFoldedSpec: offsets, flags, fields and field/value pairs expected')
end
local stored = tonumber(redis.call('HGET', KEYS[1], 'offset') or '-1')
if stored >= tonumber(ARGV[2]) then return 0 end
local whole, deleted = ARGV[3] == '1', ARGV[4] == '1'
if not whole and stored ~= tonumber(ARGV[1]) then return -1 end
if whole or deleted then redis.call('DEL', KEYS[1], KEYS[2]) end
if deleted then for i = 3, #KEYS do redis.call('DEL', KEYS[i]) end end
redis.call('HSET', KEYS[1], 'offset', ARGV[2], 'lastVersion', ARGV[7], 'arms', ARGV[9])
local optional = {deleted = deleted and '1' or '', current = ARGV[5], previous = ARGV[6], incarnation = ARGV[8]}
for field, value in pairs(optional) do
  if value == '' then redis.call('HDEL', KEYS[1], field) else redis.call('HSET', KEYS[1], field, value) end
end
if n > 0 then redis.call('HSET', KEYS[3], unpack(ARGV, 13, 12 + 2 * n)) end
for i = 13 + 2 * n, #ARGV, 2 do redis.call('HSET', KEYS[2], ARGV[i], ARGV[i + 1]) end
redis.call('PUBLISH', ARGV[10], ARGV[11])
return 1
