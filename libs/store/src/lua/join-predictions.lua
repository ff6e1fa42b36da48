-- Stores a bucket's predictions, in order (first wins) and, live, claims each pair whose
-- feedback is there (join-scope.lua; TypeScript reference: JoinLedger in libs/strategies).
-- Answers per record {first, [prediction, feedback]}: first is 1 when the stored copy
-- came from this message (also on its redelivery), which is what the report counts.
-- A new prediction whose feedback is not there is pending (join-cap.lua): past a limit it
-- is not stored, and answered {-1, limit}.
-- Runs after join-ready.lua, join-seen.lua, join-scope.lua and join-cap.lua.
-- KEYS: seen-set, marker, held. ARGV: replay, the bucket's request-hash prefix, the limits,
-- then per record: pair, deployment, JSON, ttl, now, requestId, token.
-- Refused whole (args.lua) before any write when the limits or a record's ttl, time or request id are not ones.
if (#ARGV - 3) % 7 ~= 0 then return refuse('joinPredictions: 7 arguments per record expected') end
local limits = parseLimits(ARGV[3])
if not limits then return refuse('joinPredictions: limits "n b dn db" expected') end
for a = 3, #ARGV - 1, 7 do
  if not (isDuration(ARGV[a + 4]) and finiteNumber(ARGV[a + 5]) and ARGV[a + 6] ~= '') then return refuse('joinPredictions: record of ' .. ARGV[a + 6] .. ' needs a ttl, a time and a request id') end
end
redis.call('HSET', KEYS[3], 'limits', ARGV[3])
local out = {}
for a = 3, #ARGV - 1, 7 do
  local pair, deployment, token = ARGV[a + 1], ARGV[a + 2], ARGV[a + 7]
  local key = ARGV[2] .. ARGV[a + 6]
  local p = 'p:' .. pair
  local done = 'd:' .. pair
  local mine = token .. '|'
  -- A compacted pair (its claim committed, its prediction dropped) keeps only `d:`: joined,
  -- so no copy is stored, charged or counted again.
  local compacted = redis.call('HEXISTS', key, p) == 0 and redis.call('HGET', key, done) == COMMITTED
  local refused = nil
  if not compacted and redis.call('HEXISTS', key, p) == 0 and not feedbackFor(function(field) return redis.call('HGET', key, field) end, deployment) then
    local bytes = #p + #mine + #ARGV[a + 3]
    refused = overLimit('p', deployment, bytes, limits)
    if not refused then charge(key, p, 'p', deployment, bytes, ARGV[a + 4]) end
  end
  if refused then
    out[#out + 1] = {-1, refused}
  else
    if not compacted then redis.call('HSETNX', key, p, mine .. ARGV[a + 3]) end
    local stored = redis.call('HGET', key, p) or ''
    local first = 0
    if string.sub(stored, 1, #mine) == mine then first = 1 end
    seen(key, ARGV[a + 4], ARGV[a + 5], ARGV[a + 6])
    local reply = {first}
    if not replay and not compacted then
      local feedback = feedbackFor(function(field) return redis.call('HGET', key, field) end, deployment)
      local claim = feedback and redis.call('HGET', key, done)
      if feedback and (not claim or claim == token) then
        redis.call('HSET', key, done, token)
        reply = {first, string.sub(stored, string.find(stored, '|', 1, true) + 1), feedback}
      end
    end
    out[#out + 1] = reply
  end
end
return out
