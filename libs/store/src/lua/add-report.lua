-- Adds the counters of a batch's predictions, each only if its offset is past the
-- position stored for its topic-partition, then moves that position: a redelivered batch,
-- or one a zombie joiner handles too, is counted once (TypeScript reference: ReportLedger
-- in libs/strategies). KEYS[1]: the report hash.
-- ARGV: position field, the batch's last offset of this deployment, then per counted
-- message: offset, n, n fields (+1 each), m, m field and amount pairs (integers, passed
-- to HINCRBY as the strings they are). Offsets stay below 2^53, exact in Lua's numbers.
-- Refused whole (args.lua) before any write when a count or an amount is not an integer,
-- or the arguments do not add up.
if #ARGV < 2 or not isInteger(ARGV[2]) then return refuse('addReport: position field and last offset expected') end
local i = 3
while i <= #ARGV do
  local n = isInteger(ARGV[i]) and isInteger(ARGV[i + 1]) and tonumber(ARGV[i + 1])
  local m = n and n >= 0 and isInteger(ARGV[i + 2 + n]) and tonumber(ARGV[i + 2 + n])
  if not m or m < 0 or i + 2 + n + 2 * m > #ARGV then return refuse('addReport: message ' .. tostring(ARGV[i]) .. ': offset, n fields, m amounts expected') end
  for j = i + 3 + n, i + 1 + n + 2 * m, 2 do
    if not isInteger(ARGV[j + 1]) then return refuse('addReport: amount of ' .. ARGV[j] .. ' is not an integer') end
  end
  i = i + 3 + n + 2 * m
end
local stored = redis.call('HGET', KEYS[1], ARGV[1])
if stored and not tonumber(stored) then return refuse('addReport: stored position is not a number') end
local position = tonumber(stored or '-1')
i = 3
while i <= #ARGV do
  local n = tonumber(ARGV[i + 1])
  local m = tonumber(ARGV[i + 2 + n])
  if tonumber(ARGV[i]) > position then
    for j = i + 2, i + 1 + n do redis.call('HINCRBY', KEYS[1], ARGV[j], 1) end
    for j = i + 3 + n, i + 1 + n + 2 * m, 2 do redis.call('HINCRBY', KEYS[1], ARGV[j], ARGV[j + 1]) end
  end
  i = i + 3 + n + 2 * m
end
if tonumber(ARGV[2]) > position then redis.call('HSET', KEYS[1], ARGV[1], ARGV[2]) end
