-- Compacts the pairs a batch claimed once its Kafka transaction committed (the claiming
-- message is then never redelivered): the prediction is dropped and the claim becomes
-- COMMITTED, so the pair keeps only that it joined. A pair claimed by another message (or
-- a request the sweeper or a Redis loss removed) is left as it is: nothing is created.
-- The prediction's charge to the pending limits is given back (join-cap.lua).
-- Runs after join-seen.lua (compactPair) and join-cap.lua (releasePrediction).
-- KEYS: the bucket's request-hash prefix, held. ARGV: per pair, requestId, pair, token.
if #ARGV % 3 ~= 0 then return refuse('compactPairs: 3 arguments per pair expected') end
local compacted = 0
for a = 1, #ARGV, 3 do
  local key, pair = KEYS[1] .. ARGV[a], ARGV[a + 1]
  if redis.call('HGET', key, 'd:' .. pair) == ARGV[a + 2] then
    releasePrediction(key, pair)
    compactPair(key, pair)
    compacted = compacted + 1
  end
end
return compacted
