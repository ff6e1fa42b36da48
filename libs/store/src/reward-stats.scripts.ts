/**
 * Lua for the reward statistics. Per deployment three hashes, hash-tagged on the
 * deployment (`RedisClient.deploymentKey`) so every script touches one Cluster slot:
 *   `{<deployment>}:stats`     — `<arm>:count|sum|sumSq`, where `<arm>` is the variant
 *                                (served rewards) or `<variant>:shadow` (shadow rewards);
 *   `{<deployment>}:arms`      — the arms the statistics are kept for: `<variant>` → the
 *                                first spec version of its current run (`since`), `_v` →
 *                                the spec version this set reflects, `_born` its
 *                                incarnation, `_deleted` on a deleted deployment;
 *   `{<deployment>}:positions` — joined-topic partition → offset of the last event of this
 *                                deployment the statistics have taken in from it.
 * Variant names never contain ':' nor start with '_', so no two fields collide.
 */

/**
 * Applies one deployment's rewards from one partition of the joined topic, each exactly
 * once: an event at or before the partition's position was taken in already (a
 * redelivery) and is skipped; the position moves to the last event in the same atomic
 * step as the increments, so a crash can never leave one without the other. Events of a
 * partition come in offset order, so the position is all that needs remembering.
 *
 * KEYS: stats hash, arms hash, positions hash of one deployment.
 * ARGV[1]: partition; ARGV[2]: '1' to start a position the deployment does not have yet
 * for this partition (else the script changes nothing and answers 'N': the caller must
 * first make sure Redis did not lose it); then 6 per event, in offset order:
 *   offset, arm field base, variant, spec version, reward, reward².
 * Answers one digit per event: 1 applied, 0 already taken in, 2 stale (the arm is not in
 * the spec any more, or this reward belongs to an earlier life of the arm).
 *
 * Stale rule: with no arms hash (a deployment the updater has not seen), everything
 * counts. A known arm counts rewards from `since` on. An arm not in the set counts only
 * rewards of a spec version newer than the set (`_v`): the spec changed and the set will
 * follow; older ones are rewards of a removed arm arriving late. A tombstone (`_deleted`)
 * counts nothing, and the positions expire with it.
 */
export const APPLY_REWARDS = `
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
`;

/**
 * Makes the arm set of a deployment match its spec, atomically: arms gone from the spec
 * lose their statistics (served and shadow), new arms join with their `since`, the
 * statistics of every other arm are untouched. A stale view (a version older than the
 * one recorded) changes nothing, so updaters racing with different views cannot undo
 * each other. After a deletion the arms hash is a tombstone, and the positions expire
 * with it (until then they keep a redelivery from counting); a deployment created anew
 * under the same name starts with empty statistics.
 *
 * A deployment deleted and created again while no updater was listening is recognised by
 * its incarnation (the spec-log offset of its version 1), and also starts empty. Positions are
 * kept across lives: they say what of the joined topic was taken in, whatever its life.
 *
 * KEYS: stats hash, arms hash, positions hash. ARGV[1]: spec version (0 = the deployment
 * was deleted); ARGV[2]: time to live (s) of a tombstone; ARGV[3]: incarnation; then
 * pairs variant, since. Answers the number of arms removed, or -1 for a stale view.
 */
export const RECONCILE_ARMS = `
local version = tonumber(ARGV[1])
if version == 0 then
  redis.call('DEL', KEYS[1], KEYS[2])
  redis.call('HSET', KEYS[2], '_deleted', '1')
  redis.call('EXPIRE', KEYS[2], ARGV[2])
  redis.call('EXPIRE', KEYS[3], ARGV[2])
  return 0
end
redis.call('PERSIST', KEYS[3])
local born = redis.call('HGET', KEYS[2], '_born')
if redis.call('HEXISTS', KEYS[2], '_deleted') == 1 or (born and born ~= ARGV[3]) then
  redis.call('DEL', KEYS[1], KEYS[2])
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
for _, field in ipairs(redis.call('HKEYS', KEYS[1])) do
  local variant = string.match(field, '^([^:]+):')
  if not variant or reset[variant] or (recorded == 0 and not keep[variant]) then redis.call('HDEL', KEYS[1], field) end
end
redis.call('HSET', KEYS[2], '_v', version, '_born', ARGV[3])
redis.call('PERSIST', KEYS[2])
return removed
`;
