-- The arm-life rule (RewardLedger's rewardCounts in libs/strategies): whether a reward of
-- `variant` under spec version `version` counts, `recorded` being the arms hash's `_v` and
-- `_deleted` (HMGET). Answers true or false, or nil and the refusal when the arm's stored
-- start is not a number (`script` names the caller in it).
local function armCounts(script, arms, recorded, variant, version)
  if recorded[2] then return false end
  local since = redis.call('HGET', arms, variant)
  if since and not tonumber(since) then return nil, refuse(script .. ': stored start of arm ' .. variant .. ' is not a number') end
  if since then return version >= tonumber(since) end
  if recorded[1] then return version > tonumber(recorded[1]) end
  return true
end
