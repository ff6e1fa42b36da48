-- Makes the arm set of a deployment match its spec, atomically: arms gone from the spec
-- lose their statistics (served and shadow), new arms join with their `since`, the
-- statistics of every other arm are untouched. A stale view (a version older than the
-- one recorded) changes nothing, so updaters racing with different views cannot undo
-- each other. After a deletion the arms hash is a tombstone, and the positions expire
-- with it (until then they keep a redelivery from counting); a deployment created anew
-- under the same name starts with empty statistics.
--
-- A deployment deleted and created again while no updater was listening is recognised by
-- its incarnation (the spec-log offset of its version 1), and also starts empty. Positions are
-- kept across lives: they say what of the joined topic was taken in, whatever its life.
-- TypeScript reference: RewardLedger.reconcile in libs/strategies.
--
-- KEYS: stats hash, arms hash, positions hash, and the per-unit state of the stats' unit
-- sums (apply-rewards.lua), whose fields start with the arm as the stats' do and follow
-- them. ARGV[1]: spec version (0 = the deployment
-- was deleted); ARGV[2]: time to live (s) of a tombstone; ARGV[3]: incarnation; then
-- pairs variant, since. Answers the number of arms removed, or -1 for a stale view.
-- Refused whole (args.lua) before any write when a number is not one.
if not (isInteger(ARGV[1]) and tonumber(ARGV[1]) >= 0 and isDuration(ARGV[2]) and ARGV[3] and (#ARGV - 3) % 2 == 0) then
  return refuse('reconcileArms: version, tombstone ttl, incarnation and variant/since pairs expected')
end
for i = 4, #ARGV, 2 do
  if ARGV[i] == '' or not isPositiveInteger(ARGV[i + 1]) then return refuse('reconcileArms: variant ' .. ARGV[i] .. ' needs a positive integer since') end
end
local version = tonumber(ARGV[1])
if version == 0 then
  redis.call('DEL', KEYS[1], KEYS[2], KEYS[4])
  redis.call('HSET', KEYS[2], '_deleted', '1')
  redis.call('EXPIRE', KEYS[2], ARGV[2])
  redis.call('EXPIRE', KEYS[3], ARGV[2])
  return 0
end
redis.call('PERSIST', KEYS[3])
local born = redis.call('HGET', KEYS[2], '_born')
if redis.call('HEXISTS', KEYS[2], '_deleted') == 1 or (born and born ~= ARGV[3]) then
  redis.call('DEL', KEYS[1], KEYS[2], KEYS[4])
end
local recorded = tonumber(redis.call('HGET', KEYS[2], '_v') or '0')
if version < recorded then return -1 end
local keep = {}
for i = 4, #ARGV, 2 do keep[ARGV[i]] = tonumber(ARGV[i + 1]) end
local reset = {}
local removed = 0
for _, name in ipairs(redis.call('HKEYS', KEYS[2])) do
  if string.sub(name, 1, 1) ~= '_' and not keep[name] then
    redis.call('HDEL', KEYS[2], name)
    reset[name] = true
    removed = removed + 1
  end
end
-- An arm whose run now starts later than recorded was removed and added back while
-- this updater was not looking: its old life's statistics go too.
for name, since in pairs(keep) do
  local recordedSince = tonumber(redis.call('HGET', KEYS[2], name) or '0')
  if recordedSince < since then
    if recordedSince > 0 then reset[name] = true end
    redis.call('HSET', KEYS[2], name, since)
  end
end
-- With no set recorded yet, statistics of variants outside the spec are leftovers too.
-- (Otherwise a variant outside the set can only have statistics from a spec newer than
-- this view, which that spec's own reconcile will judge.)
for _, key in ipairs({ KEYS[1], KEYS[4] }) do
  for _, field in ipairs(redis.call('HKEYS', key)) do
    local variant = string.match(field, '^([^:]+):')
    if not variant or reset[variant] or (recorded == 0 and not keep[variant]) then redis.call('HDEL', key, field) end
  end
end
redis.call('HSET', KEYS[2], '_v', version, '_born', ARGV[3])
redis.call('PERSIST', KEYS[2])
return removed
