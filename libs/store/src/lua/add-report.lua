-- Adds the counters of a batch's predictions, each only if its offset is past the
-- position stored for its topic-partition, then moves that position: a redelivered batch,
-- or one a zombie joiner handles too, is counted once (TypeScript reference: ReportLedger
-- in libs/strategies). KEYS[1]: the report hash; KEYS[2]: the distinct units counted
-- (`<split key>\n<unit key>` -> 1, `#<split key>` -> units counted under the key).
-- ARGV: position field, the batch's last offset of this deployment, the most units counted
-- per split key, then per counted message: offset, n, n fields (+1 each), m, m field and
-- amount pairs (integers, passed to HINCRBY as the strings they are), u, u triples of
-- split key, unit key ('' for a request without one: a unit of its own) and the field
-- that counts the unit. Offsets stay below 2^53, exact in Lua's numbers.
-- Refused whole (args.lua) before any write when a count or an amount is not an integer,
-- or the arguments do not add up.
if #ARGV < 3 or not isInteger(ARGV[2]) or not isInteger(ARGV[3]) then return refuse('addReport: position field, last offset and units cap expected') end
local i = 4
while i <= #ARGV do
  local n = isInteger(ARGV[i]) and isInteger(ARGV[i + 1]) and tonumber(ARGV[i + 1])
  local m = n and n >= 0 and isInteger(ARGV[i + 2 + n]) and tonumber(ARGV[i + 2 + n])
  local u = m and m >= 0 and isInteger(ARGV[i + 3 + n + 2 * m]) and tonumber(ARGV[i + 3 + n + 2 * m])
  if not u or u < 0 or i + 3 + n + 2 * m + 3 * u > #ARGV then
    return refuse('addReport: message ' .. tostring(ARGV[i]) .. ': offset, n fields, m amounts, u units expected')
  end
  for j = i + 3 + n, i + 1 + n + 2 * m, 2 do
    if not isInteger(ARGV[j + 1]) then return refuse('addReport: amount of ' .. ARGV[j] .. ' is not an integer') end
  end
  i = i + 4 + n + 2 * m + 3 * u
end
local stored = redis.call('HGET', KEYS[1], ARGV[1])
if stored and not tonumber(stored) then return refuse('addReport: stored position is not a number') end
local position = tonumber(stored or '-1')
local cap = tonumber(ARGV[3])
i = 4
while i <= #ARGV do
  local n = tonumber(ARGV[i + 1])
  local m = tonumber(ARGV[i + 2 + n])
  local u = tonumber(ARGV[i + 3 + n + 2 * m])
  if tonumber(ARGV[i]) > position then
    for j = i + 2, i + 1 + n do redis.call('HINCRBY', KEYS[1], ARGV[j], 1) end
    for j = i + 3 + n, i + 1 + n + 2 * m, 2 do redis.call('HINCRBY', KEYS[1], ARGV[j], ARGV[j + 1]) end
    -- A unit counts once per split key, and only while the key has fewer than the cap (all arms together).
    for j = i + 4 + n + 2 * m, i + 3 + n + 2 * m + 3 * u, 3 do
      local total = '#' .. ARGV[j]
      if tonumber(redis.call('HGET', KEYS[2], total) or '0') < cap
          and (ARGV[j + 1] == '' or redis.call('HSETNX', KEYS[2], ARGV[j] .. '\n' .. ARGV[j + 1], 1) == 1) then
        redis.call('HINCRBY', KEYS[2], total, 1)
        redis.call('HINCRBY', KEYS[1], ARGV[j + 2], 1)
      end
    end
  end
  i = i + 4 + n + 2 * m + 3 * u
end
if tonumber(ARGV[2]) > position then redis.call('HSET', KEYS[1], ARGV[1], ARGV[2]) end
