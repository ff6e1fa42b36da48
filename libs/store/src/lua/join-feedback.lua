-- Stores a bucket's feedback, in order (first wins per scope) and, live, claims every pair
-- each completes that is unclaimed or claimed by that message: the predictions of its
-- deployment, or of every deployment when it names none (feedbackApplies in
-- libs/strategies), each joined with the feedback it joins (join-scope.lua; TypeScript
-- reference: JoinLedger in libs/strategies). Answers per record
-- {pair, prediction, feedback, pair, prediction, feedback, …}.
-- New feedback that no prediction of its scope is there for is pending (join-cap.lua): past
-- a limit it is not stored, and answered {-1, limit}.
-- Runs after join-ready.lua, join-seen.lua, join-scope.lua and join-cap.lua.
-- KEYS: seen-set, marker, held. ARGV: replay, the bucket's request-hash prefix, the limits,
-- then per record: deployment or '', JSON, ttl, now, requestId, token.
-- Refused whole (args.lua) before any write when the limits or a record's ttl, time or request id are not ones.
if (#ARGV - 3) % 6 ~= 0 then return refuse('joinFeedback: 6 arguments per record expected') end
local limits = parseLimits(ARGV[3])
if not limits then return refuse('joinFeedback: limits "n b dn db" expected') end
for a = 3, #ARGV - 1, 6 do
  if not (isDuration(ARGV[a + 3]) and finiteNumber(ARGV[a + 4]) and ARGV[a + 5] ~= '') then return refuse('joinFeedback: record of ' .. ARGV[a + 5] .. ' needs a ttl, a time and a request id') end
end
redis.call('HSET', KEYS[3], 'limits', ARGV[3])
local out = {}
for a = 3, #ARGV - 1, 6 do
  local scope, token = ARGV[a + 1], ARGV[a + 6]
  local key = ARGV[2] .. ARGV[a + 5]
  local f = 'f'
  if scope ~= '' then f = 'f:' .. scope end
  local refused = nil
  if redis.call('HEXISTS', key, f) == 0 and not predictionIn(redis.call('HKEYS', key), scope) then
    local bytes = #f + #ARGV[a + 2]
    refused = overLimit('f', scope, bytes, limits)
    if not refused then charge(key, f, 'f', scope, bytes, ARGV[a + 3]) end
  end
  if refused then
    out[#out + 1] = {-1, refused}
  else
    redis.call('HSETNX', key, f, ARGV[a + 2])
    seen(key, ARGV[a + 3], ARGV[a + 4], ARGV[a + 5])
    local reply = {}
    if not replay then
      local fields = redis.call('HGETALL', key)
      local hash = {}
      for i = 1, #fields, 2 do hash[fields[i]] = fields[i + 1] end
      local function read(field) return hash[field] end
      for i = 1, #fields, 2 do
        local name = fields[i]
        if string.sub(name, 1, 2) == 'p:' then
          local pair = string.sub(name, 3)
          local deployment = string.sub(pair, 1, string.find(pair, ':', 1, true) - 1)
          local feedback = feedbackFor(read, deployment)
          local claim = hash['d:' .. pair]
          if (scope == '' or scope == deployment) and feedback and (not claim or claim == token) then
            redis.call('HSET', key, 'd:' .. pair, token)
            local stored = fields[i + 1]
            reply[#reply + 1] = pair
            reply[#reply + 1] = string.sub(stored, string.find(stored, '|', 1, true) + 1)
            reply[#reply + 1] = feedback
          end
        end
      end
    end
    out[#out + 1] = reply
  end
end
return out
