-- Stores a bucket's predictions, in order (first wins) and, live, claims each pair whose
-- feedback is there (join-scope.lua; TypeScript reference: JoinLedger in libs/strategies).
-- Answers per record {first, [prediction, feedback]}: first is 1 when the stored copy
-- came from this message (also on its redelivery), which is what the report counts.
-- Runs after join-ready.lua, join-seen.lua and join-scope.lua.
-- KEYS: seen-set, marker. ARGV: replay, the bucket's request-hash prefix, then per
-- record: pair, deployment, JSON, ttl, now, requestId, token.
-- Refused whole (args.lua) before any write when a record's ttl, time or request id is not one.
if (#ARGV - 2) % 7 ~= 0 then return refuse('joinPredictions: 7 arguments per record expected') end
for a = 2, #ARGV - 1, 7 do
  if not (isDuration(ARGV[a + 4]) and finiteNumber(ARGV[a + 5]) and ARGV[a + 6] ~= '') then return refuse('joinPredictions: record of ' .. ARGV[a + 6] .. ' needs a ttl, a time and a request id') end
end
local out = {}
for a = 2, #ARGV - 1, 7 do
  local pair, deployment, token = ARGV[a + 1], ARGV[a + 2], ARGV[a + 7]
  local key = ARGV[2] .. ARGV[a + 6]
  local p = 'p:' .. pair
  local done = 'd:' .. pair
  local mine = token .. '|'
  -- A compacted pair (its claim committed, its prediction dropped) keeps only `d:`: joined,
  -- so no copy is stored or counted again.
  local compacted = redis.call('HEXISTS', key, p) == 0 and redis.call('HGET', key, done) == COMMITTED
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
return out
