-- Applies one deployment's rewards from one partition of the joined topic, each exactly
-- once: an event at or before the partition's position was taken in already (a
-- redelivery) and is skipped; the position moves to the last event in the same atomic
-- step as the increments, so a crash can never leave one without the other. Events of a
-- partition come in offset order, so the position is all that needs remembering.
-- The rules, and their TypeScript reference: RewardLedger in libs/strategies
-- (isRedelivery: the dedup rule; rewardCounts: the arm-life rule, arm-life.lua).
--
-- KEYS: stats hash, arms hash, positions hash of one deployment, the per-unit state of
-- its unit sums (a hash: `<arm field base>\n<unit key>` -> `<n> <S>`, the unit's rewards so
-- far in that cell's arm and split key), and the two generations of held rewards (hashes:
-- `_epoch` -> the period they hold, `<split key>\n<request id>` -> the request's rewards
-- that wait for their other half, `@<from>-<before>=<r>` served, with its cell's slot of
-- serve time, or `<variant>=<r> ...` shadows).
-- ARGV[1]: partition; ARGV[2]: '1' to start a position the deployment does not have yet
-- for this partition (else the script changes nothing and answers 'N': the caller must
-- first make sure Redis did not lose it); ARGV[3], ARGV[4]: the caller's clock (epoch ms)
-- and how long a half is held (ms); then 8 per event, in offset order:
--   offset, arm field base, variant, spec version, reward, reward², unit: '' to keep no
--   unit sums (the totals), '-' a request without a unit key (a unit of its own), or '+'
--   and the unit key; request: '' not to pair, or '+' and the request id. The unit sums
--   (libs/strategies cluster.ts, `addToUnitSums`) go to
--   `<base>:units|unitCountSq|unitSumSq|unitCountSum`; the unit's state is keyed by the
--   base's arm and split key, without its slot, so a unit is one cluster over the step.
--   A request's shadow and served rewards pair (RewardLedger's `pairRewards`,
--   `heldGeneration`): d = shadow − served goes to the paired cell
--   `<shadow>:paired:@<split key>:<from>-<before>:count|sum|sumSq`, in the served half's slot.
-- Answers one digit per event: 1 applied, 0 already taken in, 2 stale (the arm is not in
-- the spec any more, or this reward belongs to an earlier life of the arm).
-- A tombstone's positions expire with it.
-- Refused whole (args.lua) before any write: an argument that is not what it says, a
-- stored number that is not one, or increments that would take a sum past a double.
-- So every outcome is decided first, from reads only, and written after.
local stats, arms, positions, unitState = KEYS[1], KEYS[2], KEYS[3], KEYS[4]
local held = { KEYS[5], KEYS[6] }
local partition = ARGV[1]
local EVENT = 8
local FIRST = 5
if not isInteger(partition) or (ARGV[2] ~= '0' and ARGV[2] ~= '1') or not (isInteger(ARGV[3]) and tonumber(ARGV[3]) >= 0) or not isDuration(ARGV[4] or '')
    or (#ARGV - FIRST + 1) % EVENT ~= 0 then
  return refuse('applyRewards: partition, start flag, clock, hold and 8 arguments per event expected')
end
for i = FIRST, #ARGV, EVENT do
  local square = finiteNumber(ARGV[i + 5])
  local unit = ARGV[i + 6]
  local request = ARGV[i + 7]
  if not (isInteger(ARGV[i]) and ARGV[i + 1] ~= '' and ARGV[i + 2] ~= '' and isPositiveInteger(ARGV[i + 3]) and finiteNumber(ARGV[i + 4]) and square and square >= 0
      and (unit == '' or unit == '-' or string.sub(unit, 1, 1) == '+') and (request == '' or (string.sub(request, 1, 1) == '+' and #request > 1))) then
    return refuse('applyRewards: event at offset ' .. ARGV[i] .. ' needs an offset, an arm, a variant, a spec version, finite reward and reward², a unit and a request')
  end
end
-- A cell's base is `<arm>:@<split key>:<from>-<before>`: its unit state is per arm and split key.
local function unitField(base, unit)
  return (string.gsub(base, ':[0-9]+%-[0-9]+$', '')) .. '\n' .. string.sub(unit, 2)
end
local stored = redis.call('HGET', positions, partition)
if stored and not tonumber(stored) then return refuse('applyRewards: stored position of partition ' .. partition .. ' is not a number') end
if not stored and ARGV[2] ~= '1' then return 'N' end
local recorded = redis.call('HMGET', arms, '_v', '_deleted')
if recorded[1] and not tonumber(recorded[1]) then return refuse('applyRewards: stored arm set version is not a number') end

-- The held generations (heldGeneration): this period's slot, and the other if it holds the period just before.
local epoch = math.floor(tonumber(ARGV[3]) / tonumber(ARGV[4]))
local current = epoch % 2 + 1
local live = {}
for slot = 1, 2 do
  local text = redis.call('HGET', held[slot], '_epoch')
  if text and not isInteger(text) then return refuse('applyRewards: stored epoch of ' .. held[slot] .. ' is not an integer') end
  live[slot] = text ~= nil and tonumber(text) == (slot == current and epoch or epoch - 1)
end
-- Per held field: { slot, served, servedSlot, shadows (variant -> reward text), order (variants held) }, as after the batch.
local entries = {}
local function entryOf(field)
  if entries[field] then return entries[field] end
  for slot = 1, 2 do
    local text = live[slot] and redis.call('HGET', held[slot], field)
    if text then
      local entry = { slot = slot, shadows = {}, order = {} }
      for name, value in string.gmatch(text, '(%S*)=(%S+)') do
        if not tonumber(value) then return nil end
        local servedSlot = string.match(name, '^@([0-9]+%-[0-9]+)$')
        if servedSlot then
          entry.served, entry.servedSlot = value, servedSlot
        elseif string.match(name, '^[a-z0-9][a-z0-9_-]*$') then
          entry.shadows[name] = value
          entry.order[#entry.order + 1] = name
        end
        -- Any other token (a served reward held before its slot was kept, `=<r>`) pairs nothing.
      end
      entries[field] = entry
      return entry
    end
  end
  entries[field] = { slot = current, shadows = {}, order = {} }
  return entries[field]
end
-- Per pair completed: its paired cell and d, in order; per paired field: what it adds (for the overflow check).
local pairs_ = {}
local pairAdds = {}
local function addPair(shadow, key, slot, d)
  local cell = shadow .. ':paired:@' .. key .. ':' .. slot
  pairs_[#pairs_ + 1] = { cell, d }
  pairAdds[cell .. ':count'] = (pairAdds[cell .. ':count'] or 0) + 1
  pairAdds[cell .. ':sum'] = (pairAdds[cell .. ':sum'] or 0) + math.abs(d)
  pairAdds[cell .. ':sumSq'] = (pairAdds[cell .. ':sumSq'] or 0) + d * d
end

local last = tonumber(stored or '-1')
local lastText = nil
local out = {}
local adds = {}
-- Per event applied with a unit: its four increments; per unit field: its state after the batch.
local unitAdds = {}
local states = {}
for i = FIRST, #ARGV, EVENT do
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
      local unit = ARGV[i + 6]
      if unit ~= '' then
        local reward = tonumber(ARGV[i + 4])
        local n, s, field = 0, 0, nil
        if unit ~= '-' then
          field = unitField(base, unit)
          local state = states[field]
          if not state then
            local text = redis.call('HGET', unitState, field)
            if text then
              local a, b = string.match(text, '^(%S+) (%S+)$')
              state = { tonumber(a), tonumber(b) }
              if not (state[1] and state[2]) then return refuse('applyRewards: stored unit state ' .. field .. ' is not two numbers') end
            else
              state = { 0, 0 }
            end
          end
          n, s = state[1], state[2]
          states[field] = { n + 1, s + reward }
        end
        -- (n+1)² − n², (S+r)² − S², (n+1)(S+r) − nS: cluster.ts `addToUnitSums`.
        local add = { (n == 0) and 1 or 0, 2 * n + 1, 2 * s * reward + reward * reward, n * reward + s + reward }
        unitAdds[i] = add
        for k, measure in ipairs({ ':units', ':unitCountSq', ':unitSumSq', ':unitCountSum' }) do
          adds[base .. measure] = (adds[base .. measure] or 0) + math.abs(add[k])
        end
      end
      local request = ARGV[i + 7]
      local key, slot = nil, nil
      if request ~= '' then key, slot = string.match(base, ':@([0-9.]+):([0-9]+%-[0-9]+)$') end
      if key then
        local field = key .. '\n' .. string.sub(request, 2)
        local entry = entryOf(field)
        if not entry then return refuse('applyRewards: stored held rewards of ' .. field .. ' are not numbers') end
        local variant, reward = ARGV[i + 2], tonumber(ARGV[i + 4])
        if not string.match(base, '^[^:]+:shadow:@') then
          if not entry.served then
            for _, shadow in ipairs(entry.order) do addPair(shadow, key, slot, tonumber(entry.shadows[shadow]) - reward) end
            entry.served, entry.servedSlot, entry.shadows, entry.order = ARGV[i + 4], slot, {}, {}
          end
        elseif entry.served then
          addPair(variant, key, entry.servedSlot, reward - tonumber(entry.served))
        elseif not entry.shadows[variant] then
          entry.shadows[variant] = ARGV[i + 4]
          entry.order[#entry.order + 1] = variant
        end
      end
      out[#out + 1] = '1'
    else
      out[#out + 1] = '2'
    end
  end
end
for field, add in pairs(adds) do
  local current = redis.call('HGET', stats, field) or '0'
  local value = tonumber(current)
  local integral = string.sub(field, -6) == ':count' or string.sub(field, -6) == ':units' or string.sub(field, -12) == ':unitCountSq'
  if not value or (integral and not isInteger(current)) then return refuse('applyRewards: stored ' .. field .. ' is not a number') end
  if not (math.abs(value) + add < math.huge) then return refuse('applyRewards: ' .. field .. ' would overflow a double') end
end
for field, add in pairs(pairAdds) do
  local current = redis.call('HGET', stats, field) or '0'
  local value = tonumber(current)
  if not value or (string.sub(field, -6) == ':count' and not isInteger(current)) then return refuse('applyRewards: stored ' .. field .. ' is not a number') end
  if not (math.abs(value) + add < math.huge) then return refuse('applyRewards: ' .. field .. ' would overflow a double') end
end

-- Only writes from here on.
for i = FIRST, #ARGV, EVENT do
  if out[(i - FIRST) / EVENT + 1] == '1' then
    local base = ARGV[i + 1]
    redis.call('HINCRBY', stats, base .. ':count', 1)
    redis.call('HINCRBYFLOAT', stats, base .. ':sum', ARGV[i + 4])
    redis.call('HINCRBYFLOAT', stats, base .. ':sumSq', ARGV[i + 5])
    local add = unitAdds[i]
    if add then
      redis.call('HINCRBY', stats, base .. ':units', add[1])
      redis.call('HINCRBY', stats, base .. ':unitCountSq', add[2])
      redis.call('HINCRBYFLOAT', stats, base .. ':unitSumSq', string.format('%.17g', add[3]))
      redis.call('HINCRBYFLOAT', stats, base .. ':unitCountSum', string.format('%.17g', add[4]))
    end
  end
end
for field, state in pairs(states) do redis.call('HSET', unitState, field, string.format('%.17g %.17g', state[1], state[2])) end
for _, pair in ipairs(pairs_) do
  redis.call('HINCRBY', stats, pair[1] .. ':count', 1)
  redis.call('HINCRBYFLOAT', stats, pair[1] .. ':sum', string.format('%.17g', pair[2]))
  redis.call('HINCRBYFLOAT', stats, pair[1] .. ':sumSq', string.format('%.17g', pair[2] * pair[2]))
end
if next(entries) then
  -- This period's generation starts empty: what it held two periods ago waited long enough.
  if not live[current] then
    redis.call('UNLINK', held[current])
    redis.call('HSET', held[current], '_epoch', string.format('%d', epoch))
  end
  for field, entry in pairs(entries) do
    local tokens = {}
    if entry.served then tokens[1] = '@' .. entry.servedSlot .. '=' .. entry.served end
    for _, shadow in ipairs(entry.order) do tokens[#tokens + 1] = shadow .. '=' .. entry.shadows[shadow] end
    redis.call('HSET', held[entry.slot], field, table.concat(tokens, ' '))
  end
  -- Gone by themselves once nothing comes: two periods after the last write.
  redis.call('PEXPIRE', held[current], 2 * tonumber(ARGV[4]))
end
if lastText then
  redis.call('HSET', positions, partition, lastText)
  if recorded[2] then
    local ttl = redis.call('PTTL', arms)
    if ttl > 0 then redis.call('PEXPIRE', positions, ttl) end
  end
end
return table.concat(out)
