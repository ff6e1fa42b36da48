/**
 * Lua for the reward statistics. Per deployment two hashes:
 *   `stats:<deployment>` — `<arm>:count|sum|sumSq`, where `<arm>` is the variant (served
 *                          rewards) or `<variant>:shadow` (shadow rewards);
 *   `arms:<deployment>`  — the arms the statistics are kept for: `<variant>` → the first
 *                          spec version of its current run (`since`), `_v` → the spec
 *                          version this set reflects, `_born` its incarnation, `_deleted`
 *                          on a deleted deployment.
 * Variant names never contain ':' nor start with '_', so neither hash's fields collide.
 */

/**
 * Applies a batch of rewards, each exactly once: the event id is claimed with SET NX EX
 * in the same atomic step that adds the reward, so a redelivered or duplicated event is
 * recognised, and a crash can never leave one applied without its claim or vice versa.
 *
 * KEYS, 3 per event: applied-id key, stats hash, arms hash.
 * ARGV[1]: time to live (s) of the applied-id claims; then 5 per event:
 *   arm field base, variant, spec version, reward, reward².
 * Answers one digit per event: 1 applied, 0 already applied, 2 stale (the arm is not in
 * the spec any more, or this reward belongs to an earlier life of the arm).
 *
 * Stale rule: with no arms hash (a deployment the updater has not seen), everything
 * counts. A known arm counts rewards from `since` on. An arm not in the set counts only
 * rewards of a spec version newer than the set (`_v`): the spec changed and the set will
 * follow; older ones are rewards of a removed arm arriving late.
 */
export const APPLY_REWARDS = `
local ttl = ARGV[1]
local out = {}
for i = 0, #KEYS / 3 - 1 do
  local applied, stats, arms = KEYS[3 * i + 1], KEYS[3 * i + 2], KEYS[3 * i + 3]
  local base, variant = ARGV[5 * i + 2], ARGV[5 * i + 3]
  local version = tonumber(ARGV[5 * i + 4])
  local counts = true
  local known = redis.call('HMGET', arms, variant, '_v', '_deleted')
  if known[3] then
    counts = false
  elseif known[1] then
    counts = version >= tonumber(known[1])
  elseif known[2] then
    counts = version > tonumber(known[2])
  end
  if not redis.call('SET', applied, '1', 'NX', 'EX', ttl) then
    out[#out + 1] = '0'
  elseif counts then
    redis.call('HINCRBY', stats, base .. ':count', 1)
    redis.call('HINCRBYFLOAT', stats, base .. ':sum', ARGV[5 * i + 5])
    redis.call('HINCRBYFLOAT', stats, base .. ':sumSq', ARGV[5 * i + 6])
    out[#out + 1] = '1'
  else
    out[#out + 1] = '2'
  end
end
return table.concat(out)
`;

/**
 * Makes the arm set of a deployment match its spec, atomically: arms gone from the spec
 * lose their statistics (served and shadow), new arms join with their `since`, the
 * statistics of every other arm are untouched. A stale view (a version older than the
 * one recorded) changes nothing, so updaters racing with different views cannot undo
 * each other. After a deletion the hash is a tombstone, and a deployment created anew
 * under the same name starts with empty statistics.
 *
 * A deployment deleted and created again while no updater was listening is recognised by
 * its incarnation (when its version 1 was written), and also starts empty.
 *
 * KEYS: stats hash, arms hash. ARGV[1]: spec version (0 = the deployment was deleted);
 * ARGV[2]: time to live (s) of a tombstone; ARGV[3]: incarnation; then pairs variant, since.
 * Answers the number of arms removed, or -1 for a stale view.
 */
export const RECONCILE_ARMS = `
local version = tonumber(ARGV[1])
if version == 0 then
  redis.call('DEL', KEYS[1], KEYS[2])
  redis.call('HSET', KEYS[2], '_deleted', '1')
  redis.call('EXPIRE', KEYS[2], ARGV[2])
  return 0
end
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
