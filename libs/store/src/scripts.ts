import Redis from 'ioredis';

/**
 * Lua scripts, so each change of a deployment is one atomic step that every router
 * sees whole. KEYS: deployment hash, history hash, names set, epoch counter.
 */
const WRITE_SPEC = `
local version = redis.call('HINCRBY', KEYS[1], 'lastVersion', 1)
local previous = redis.call('HGET', KEYS[1], 'current')
if previous then redis.call('HSET', KEYS[1], 'previous', previous) end
redis.call('HSET', KEYS[1], 'current', version)
redis.call('HSET', KEYS[2], version, ARGV[1])
redis.call('SADD', KEYS[3], ARGV[2])
redis.call('INCR', KEYS[4])
redis.call('PUBLISH', ARGV[3], ARGV[2])
`;

const PUT_SPEC = `${WRITE_SPEC} return version`;

/**
 * Compare-and-set: writes only while the current version is still ARGV[4] (0 otherwise),
 * and in the same step sets the field/value pairs ARGV[5..] in hash KEYS[5], with the
 * version written as its field `writtenVersion`: whoever changes a spec on its own
 * judgement (the rollout controller) never writes the spec and loses the record of why.
 */
const PUT_SPEC_IF = `
if redis.call('HGET', KEYS[1], 'current') ~= ARGV[4] then return 0 end
${WRITE_SPEC}
redis.call('HSET', KEYS[5], 'writtenVersion', version, unpack(ARGV, 5))
return version
`;

/** Restores the spec in force before the current one, as a new version. */
const ROLLBACK_SPEC = `
local previous = redis.call('HGET', KEYS[1], 'previous')
if not previous then return {0, false} end
local spec = redis.call('HGET', KEYS[2], previous)
local version = redis.call('HINCRBY', KEYS[1], 'lastVersion', 1)
redis.call('HSET', KEYS[1], 'previous', redis.call('HGET', KEYS[1], 'current'))
redis.call('HSET', KEYS[1], 'current', version)
redis.call('HSET', KEYS[2], version, spec)
redis.call('INCR', KEYS[4])
redis.call('PUBLISH', ARGV[3], ARGV[2])
return {version, tonumber(previous)}
`;

/** Removes a deployment with its history and its statistics (KEYS[5..]): a re-created one starts fresh. */
const DELETE_SPEC = `
local existed = redis.call('SREM', KEYS[3], ARGV[2])
redis.call('DEL', KEYS[1], KEYS[2])
for i = 5, #KEYS do redis.call('DEL', KEYS[i]) end
if existed == 1 then
  redis.call('INCR', KEYS[4])
  redis.call('PUBLISH', ARGV[3], ARGV[2])
end
return existed
`;

type SpecScript = (deployment: string, history: string, names: string, epoch: string, spec: string, name: string, channel: string) => Promise<unknown>;
type SpecIfScript = (
  deployment: string,
  history: string,
  names: string,
  epoch: string,
  sideHash: string,
  spec: string,
  name: string,
  channel: string,
  expectedVersion: string,
  ...sideFields: string[]
) => Promise<unknown>;
type DeleteScript = (keyCount: number, ...keysThenArgs: string[]) => Promise<unknown>;

export type ScriptedRedis = Redis & {
  putSpec: SpecScript;
  putSpecIf: SpecIfScript;
  rollbackSpec: SpecScript;
  deleteSpec: DeleteScript;
};

export function defineScripts(redis: Redis): ScriptedRedis {
  redis.defineCommand('putSpec', { numberOfKeys: 4, lua: PUT_SPEC });
  redis.defineCommand('putSpecIf', { numberOfKeys: 5, lua: PUT_SPEC_IF });
  redis.defineCommand('rollbackSpec', { numberOfKeys: 4, lua: ROLLBACK_SPEC });
  // Key count given per call: the statistics keys to remove are the stores' business.
  redis.defineCommand('deleteSpec', { lua: DELETE_SPEC });
  return redis as ScriptedRedis;
}
