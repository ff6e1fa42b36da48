import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import Redis, { Cluster } from 'ioredis';

type Reply = Promise<unknown>;
type Arg = string | number;
/** The bucket's seen-set, marker and held counters, replay, the bucket's request-hash prefix, the limits, then each record's arguments. */
type BucketScript = (
  seen: string,
  ready: string,
  held: string,
  replay: '0' | '1',
  requestPrefix: string,
  limits: string,
  ...records: Arg[]
) => Promise<unknown[]>;

/** Every Lua script of the stores, as commands on the connection; each store's doc says what its scripts do, the `.lua` file how. */
export interface StoreScripts {
  /** Key count given per call: the keys a deletion removes are the registry's business. */
  writeFoldedSpec(keyCount: number, ...keysThenArgs: Arg[]): Promise<number>;
  applyRewards(
    stats: string,
    arms: string,
    positions: string,
    unitState: string,
    held0: string,
    held1: string,
    partition: number,
    start: 0 | 1,
    now: number,
    holdMs: number,
    ...events: Arg[]
  ): Promise<string>;
  applyRidge(stats: string, arms: string, positions: string, partition: number, ...events: Arg[]): Promise<string>;
  reconcileArms(
    stats: string,
    arms: string,
    positions: string,
    unitState: string,
    version: number,
    tombstoneTtl: number,
    incarnation: string,
    ...variantSince: Arg[]
  ): Promise<number>;
  joinPredictions: BucketScript;
  joinFeedback: BucketScript;
  pendingRoom(request: string, held: string, deployment: string, bytes: number): Promise<[limit: string, bucketLimits: string] | null>;
  restoreClaim(seen: string, key: string, held: string, pair: string, ttl: number, at: number, requestId: string): Reply;
  sweepJoins(seen: string, held: string, cutoff: number, keyPrefix: string, limit: number): Promise<(string | string[])[]>;
  compactPairs(requestPrefix: string, held: string, ...requestPairTokens: Arg[]): Promise<number>;
  /** Key count given per call: the hashes of one slot. */
  snapshotHashes(keyCount: number, ...keys: string[]): Promise<[number, string[]][]>;
  /** Key count given per call: the guard, then the hashes of one slot. */
  restoreHashes(keyCount: number, ...keysThenArgs: Arg[]): Promise<number>;
  renewLock(key: string, owner: string, ttlMs: number): Promise<number>;
  releaseLock(key: string, owner: string): Promise<number>;
  addReport(key: string, units: string, position: string, lastOffset: string, maxUnitsPerKey: number, ...counted: Arg[]): Reply;
  replaceReport(key: string, units: string, reportPairs: number, ...fieldValues: Arg[]): Reply;
  writeWeights(key: string, expected: number, weights: string, specVersion: number, computedAt: string, policy?: string, segments?: string): Promise<number>;
  takeLease(key: string, owner: string, ms: number): Promise<number>;
  clearOutbox(key: string, eventId: string): Promise<number>;
}

/**
 * Each command's `.lua` files under `lua/` (joined in order after `args.lua`, the argument
 * checks every script runs before its first write; the join scripts share their opening
 * check, seen-set update and join-scope rule) and its number of keys (none: given per call).
 */
const COMMANDS: Record<keyof StoreScripts, { files: string[]; numberOfKeys?: number }> = {
  writeFoldedSpec: { files: ['write-folded-spec'] },
  applyRewards: { files: ['arm-life', 'apply-rewards'], numberOfKeys: 6 },
  applyRidge: { files: ['arm-life', 'apply-ridge'], numberOfKeys: 3 },
  reconcileArms: { files: ['reconcile-arms'], numberOfKeys: 4 },
  joinPredictions: { files: ['join-ready', 'join-seen', 'join-scope', 'join-cap', 'join-predictions'], numberOfKeys: 3 },
  joinFeedback: { files: ['join-ready', 'join-seen', 'join-scope', 'join-cap', 'join-feedback'], numberOfKeys: 3 },
  pendingRoom: { files: ['join-scope', 'join-cap', 'pending-room'], numberOfKeys: 2 },
  restoreClaim: { files: ['join-seen', 'join-cap', 'restore-claim'], numberOfKeys: 3 },
  sweepJoins: { files: ['join-cap', 'sweep-joins'], numberOfKeys: 2 },
  compactPairs: { files: ['join-seen', 'join-cap', 'compact-pairs'], numberOfKeys: 2 },
  snapshotHashes: { files: ['snapshot-hashes'] },
  restoreHashes: { files: ['restore-hashes'] },
  renewLock: { files: ['renew-lock'], numberOfKeys: 1 },
  releaseLock: { files: ['release-lock'], numberOfKeys: 1 },
  addReport: { files: ['add-report'], numberOfKeys: 2 },
  replaceReport: { files: ['replace-report'], numberOfKeys: 2 },
  writeWeights: { files: ['write-weights'], numberOfKeys: 1 },
  takeLease: { files: ['take-lease'], numberOfKeys: 1 },
  clearOutbox: { files: ['clear-outbox'], numberOfKeys: 1 },
};

/**
 * The Lua source of a command, read from beside this module: `src/lua` when running from
 * source, `dist/…/src/lua` once built (`scripts/post-build.sh` copies the files).
 */
export function scriptSource(command: keyof StoreScripts): string {
  return ['args', ...COMMANDS[command].files].map((file) => readFileSync(join(__dirname, 'lua', `${file}.lua`), 'utf8')).join('\n');
}

/** Defines every store script on a new connection, once: ioredis then runs each by its SHA (EVALSHA), loading it where missing. */
export function defineScripts<C extends Redis | Cluster>(redis: C): C & StoreScripts {
  for (const [name, { numberOfKeys }] of Object.entries(COMMANDS)) {
    redis.defineCommand(name, { lua: scriptSource(name as keyof StoreScripts), ...(numberOfKeys !== undefined && { numberOfKeys }) });
  }
  return redis as C & StoreScripts;
}
