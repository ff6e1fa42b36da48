-- Applies one deployment's rewards from one partition of the joined topic, each exactly
-- once: an event at or before the partition's position was taken in already (a
-- redelivery) and is skipped; the position moves to the last event in the same atomic
-- step as the increments, so a crash can never leave one without the other. Events of a
-- partition come in offset order, so the position is all that needs remembering.
-- The rules, and their TypeScript reference: RewardLedger in libs/strategies
-- (isRedelivery: the dedup rule; rewardCounts: the arm-life rule).
--
-- KEYS: stats hash, arms hash, positions hash of one deployment.
-- ARGV[1]: partition; ARGV[2]: '1' to start a position the deployment does not have yet
-- for this partition (else the script changes nothing and answers 'N': the caller must
-- first make sure Redis did not lose it); then 6 per event, in offset order:
--   offset, arm field base, variant, spec version, reward, reward².
-- Answers one digit per event: 1 applied, 0 already taken in, 2 stale (the arm is not in
-- the spec any more, or this reward belongs to an earlier life of the arm).
-- A tombstone's positions expire with it.
local stats, arms, positions = KEYS[1], KEYS[2], KEYS[3]
local partition = ARGV[1]
local stored = redis.call('HGET', positions, partition)
if not stored and ARGV[2] ~= '1' then return 'N' end
local last = tonumber(stored or '-1')
local lastText = nil
local recorded = redis.call('HMGET', arms, '_v', '_deleted')
local out = {}
for i = 3, #ARGV, 6 do
  local offset = tonumber(ARGV[i])
  if offset <= last then
    out[#out + 1] = '0'
  else
    last, lastText = offset, ARGV[i]
    local counts = true
    if recorded[2] then
      counts = false
    else
      local since = redis.call('HGET', arms, ARGV[i + 2])
      local version = tonumber(ARGV[i + 3])
      if since then
        counts = version >= tonumber(since)
      elseif recorded[1] then
        counts = version > tonumber(recorded[1])
      end
    end
    if counts then
      local base = ARGV[i + 1]
      redis.call('HINCRBY', stats, base .. ':count', 1)
      redis.call('HINCRBYFLOAT', stats, base .. ':sum', ARGV[i + 4])
      redis.call('HINCRBYFLOAT', stats, base .. ':sumSq', ARGV[i + 5])
      out[#out + 1] = '1'
    else
      out[#out + 1] = '2'
    end
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
