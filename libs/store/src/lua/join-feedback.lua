-- Stores a bucket's feedback, in order (first wins per scope) and, live, claims every pair
-- each completes that is unclaimed or claimed by that message: the predictions of its
-- deployment, or of every deployment when it names none (feedbackApplies in
-- libs/strategies), each joined with the feedback it joins (join-scope.lua; TypeScript
-- reference: JoinLedger in libs/strategies). Answers per record
-- {pair, prediction, feedback, pair, prediction, feedback, …}.
-- Runs after join-ready.lua, join-seen.lua and join-scope.lua.
-- KEYS: seen-set, marker. ARGV: replay, the bucket's request-hash prefix, then per
-- record: deployment or '', JSON, ttl, now, requestId, token.
-- Refused whole (args.lua) before any write when a record's ttl, time or request id is not one.
if (#ARGV - 2) % 6 ~= 0 then return refuse('joinFeedback: 6 arguments per record expected') end
for a = 2, #ARGV - 1, 6 do
  if not (isDuration(ARGV[a + 3]) and finiteNumber(ARGV[a + 4]) and ARGV[a + 5] ~= '') then return refuse('joinFeedback: record of ' .. ARGV[a + 5] .. ' needs a ttl, a time and a request id') end
end
local out = {}
for a = 2, #ARGV - 1, 6 do
  local scope, token = ARGV[a + 1], ARGV[a + 6]
  local key = ARGV[2] .. ARGV[a + 5]
  local f = 'f'
  if scope ~= '' then f = 'f:' .. scope end
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
return out
