-- Applies one deployment's rewards from one partition of the joined topic, each exactly
-- once: an event at or before the partition's position was taken in already (a
-- redelivery) and is skipped; the position moves to the last event in the same atomic
-- step as the increments, so a crash can never leave one without the other. Events of a
-- partition come in offset order, so the position is all that needs remembering.
-- The rules, and their TypeScript reference: RewardLedger in libs/strategies
-- (isRedelivery: the dedup rule; rewardCounts: the arm-life rule, arm-life.lua).
--
-- KEYS: stats hash, arms hash, positions hash of one deployment.
-- ARGV[1]: partition; ARGV[2]: '1' to start a position the deployment does not have yet
-- for this partition (else the script changes nothing and answers 'N': the caller must
-- first make sure Redis did not lose it); then 6 per event, in offset order:
--   offset, arm field base, variant, spec version, reward, reward².
-- Answers one digit per event: 1 applied, 0 already taken in, 2 stale (the arm is not in
-- the spec any more, or this reward belongs to an earlier life of the arm).
-- A tombstone's positions expire with it.
-- Refused whole (args.lua) before any write: an argument that is not what it says, a
-- stored number that is not one, or increments that would take a sum past a double.
-- So every outcome is decided first, from reads only, and written after.
local stats, arms, positions = KEYS[1], KEYS[2], KEYS[3]
local partition = ARGV[1]
if not isInteger(partition) or (ARGV[2] ~= '0' and ARGV[2] ~= '1') or (#ARGV - 2) % 6 ~= 0 then
  return refuse('applyRewards: partition, start flag and 6 arguments per event expected')
end
for i = 3, #ARGV, 6 do
  local square = finiteNumber(ARGV[i + 5])
  if not (isInteger(ARGV[i]) and ARGV[i + 1] ~= '' and ARGV[i + 2] ~= '' and isPositiveInteger(ARGV[i + 3]) and finiteNumber(ARGV[i + 4]) and square and square >= 0) then
    return refuse('applyRewards: event at offset ' .. ARGV[i] .. ' needs an offset, an arm, a variant, a spec version and finite reward and reward²')
  end
end
local stored = redis.call('HGET', positions, partition)
if stored and not tonumber(stored) then return refuse('applyRewards: stored position of partition ' .. partition .. ' is not a number') end
if not stored and ARGV[2] ~= '1' then return 'N' end
local recorded = redis.call('HMGET', arms, '_v', '_deleted')
if recorded[1] and not tonumber(recorded[1]) then return refuse('applyRewards: stored arm set version is not a number') end

local last = tonumber(stored or '-1')
local lastText = nil
local out = {}
local adds = {}
for i = 3, #ARGV, 6 do
  local offset = tonumber(ARGV[i])
  if offset <= last then
    out[#out + 1] = '0'
  else
    last, lastText = offset, ARGV[i]
    local counts, refusal = armCounts('applyRewards', arms, recorded, ARGV[i + 2], tonumber(ARGV[i + 3]))
    if refusal then return refusal end
    if counts then
      local base = ARGV[i + 1]
      adds[base .. ':count'] = (adds[base .. ':count'] or 0) + 1
      adds[base .. ':sum'] = (adds[base .. ':sum'] or 0) + math.abs(tonumber(ARGV[i + 4]))
      adds[base .. ':sumSq'] = (adds[base .. ':sumSq'] or 0) + tonumber(ARGV[i + 5])
      out[#out + 1] = '1'
    else
      out[#out + 1] = '2'
    end
  end
end
for field, add in pairs(adds) do
  local current = redis.call('HGET', stats, field) or '0'
  local value = tonumber(current)
  if not value or (string.sub(field, -6) == ':count' and not isInteger(current)) then return refuse('applyRewards: stored ' .. field .. ' is not a number') end
  if not (math.abs(value) + add < math.huge) then return refuse('applyRewards: ' .. field .. ' would overflow a double') end
end

-- Only writes from here on.
for i = 3, #ARGV, 6 do
  if out[(i - 3) / 6 + 1] == '1' then
    local base = ARGV[i + 1]
    redis.call('HINCRBY', stats, base .. ':count', 1)
    redis.call('HINCRBYFLOAT', stats, base .. ':sum', ARGV[i + 4])
    redis.call('HINCRBYFLOAT', stats, base .. ':sumSq', ARGV[i + 5])
  end
end
if lastText then
  redis.call('HSET', positions, partition, lastText)
  if recorded[2] then
    local ttl = redis.call('PTTL', arms)
    if ttl > 0 then redis.call('PEXPIRE', positions, ttl) end
  end
end
return table.concat(out)
