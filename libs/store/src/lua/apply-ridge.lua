-- Adds one deployment's contextual rewards from one partition of the joined topic to its
-- arms' ridge sums, each exactly once: the same ledger as apply-rewards.lua (a position per
-- partition, moved in the same atomic step as the sums; the arm-life rule, arm-life.lua),
-- over keys of its own. Like the cohort ledger it starts a position wherever it has none:
-- it runs after the totals' call, which decided whether the partition may start.
-- The increments are computed by the caller (ridgeIncrement in libs/strategies): this
-- script only adds them up.
--
-- KEYS: ridge hash, arms hash, positions hash of one deployment.
-- ARGV[1]: partition; then per event, in offset order: offset, model (`<fingerprint>.<era>`),
-- variant, spec version, n, then n finite increments, added to fields `<variant>:<model>:<i>`
-- (i from 0). Answers one digit per event: 1 applied, 0 already taken in, 2 stale.
-- Refused whole (args.lua) before any write: an argument that is not what it says, a
-- stored number that is not one, or a sum that would pass a double.
local stats, arms, positions = KEYS[1], KEYS[2], KEYS[3]
local partition = ARGV[1]
if not isInteger(partition) then return refuse('applyRidge: partition expected') end
local events = {}
local i = 2
while i <= #ARGV do
  local n = tonumber(ARGV[i + 4] or '')
  if not (isInteger(ARGV[i]) and ARGV[i + 1] and string.match(ARGV[i + 1], '^[0-9a-f]+%.%d+$') and ARGV[i + 2] and ARGV[i + 2] ~= '' and isPositiveInteger(ARGV[i + 3] or '') and isPositiveInteger(ARGV[i + 4]) and n <= 1024 and i + 4 + n <= #ARGV) then
    return refuse('applyRidge: event ' .. #events + 1 .. ' needs an offset, a model, a variant, a spec version and a count of increments that follow')
  end
  for k = 1, n do
    if not finiteNumber(ARGV[i + 4 + k]) then return refuse('applyRidge: event at offset ' .. ARGV[i] .. ' has an increment that is not a finite number') end
  end
  events[#events + 1] = { at = i, n = n }
  i = i + 5 + n
end
local stored = redis.call('HGET', positions, partition)
if stored and not tonumber(stored) then return refuse('applyRidge: stored position of partition ' .. partition .. ' is not a number') end
local recorded = redis.call('HMGET', arms, '_v', '_deleted')
if recorded[1] and not tonumber(recorded[1]) then return refuse('applyRidge: stored arm set version is not a number') end

local last = tonumber(stored or '-1')
local lastText = nil
local out = {}
local adds = {}
for _, event in ipairs(events) do
  local at = event.at
  local offset = tonumber(ARGV[at])
  if offset <= last then
    out[#out + 1] = '0'
  else
    last, lastText = offset, ARGV[at]
    local counts, refusal = armCounts('applyRidge', arms, recorded, ARGV[at + 2], tonumber(ARGV[at + 3]))
    if refusal then return refusal end
    if counts then
      local base = ARGV[at + 2] .. ':' .. ARGV[at + 1] .. ':'
      for k = 1, event.n do
        local field = base .. (k - 1)
        adds[field] = (adds[field] or 0) + tonumber(ARGV[at + 4 + k])
      end
      out[#out + 1] = '1'
    else
      out[#out + 1] = '2'
    end
  end
end
for field, add in pairs(adds) do
  local value = tonumber(redis.call('HGET', stats, field) or '0')
  if not value then return refuse('applyRidge: stored ' .. field .. ' is not a number') end
  if not (math.abs(value) + math.abs(add) < math.huge) then return refuse('applyRidge: ' .. field .. ' would overflow a double') end
end

-- Only writes from here on.
for field, add in pairs(adds) do redis.call('HINCRBYFLOAT', stats, field, string.format('%.17g', add)) end
if lastText then
  redis.call('HSET', positions, partition, lastText)
  if recorded[2] then
    local ttl = redis.call('PTTL', arms)
    if ttl > 0 then redis.call('PEXPIRE', positions, ttl) end
  end
end
return table.concat(out)
