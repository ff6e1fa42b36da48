import { Injectable } from '@nestjs/common';
import { REQUEST_ID_PATTERN } from '@switchyard/contracts';
import { JOIN_BUCKETS, joinBucket } from '@switchyard/strategies';
import { RedisClient } from './redis.client';

/**
 * Join state lives in JOIN_BUCKETS buckets of request ids; bucket `b` is hash tag
 * `{join.b}` (a `.` no deployment name has), so each script below touches one Redis
 * Cluster slot. Per bucket:
 *   `{join.b}:r:<requestId>` a hash per request:
 *       `p:<deployment>:<variant>:<role>` → `<token>|<prediction JSON>`: the first copy
 *                                           seen, and the message it was stored from;
 *       `f`               → the first feedback that names no deployment (JSON),
 *       `f:<deployment>`  → the first feedback that names this deployment (JSON),
 *       `d:<deployment>:<variant>:<role>` → the token of the message that completed the
 *                                           pair and claimed its joined event (`rebuilt`
 *                                           for a claim restored from the joined topic);
 *   `{join.b}:seen`  its request ids by first-seen time, for the sweeper;
 *   `{join.b}:ready` the marker that the bucket holds the state Kafka says it should.
 * A token is the Kafka coordinates `topic:partition:offset` of a message.
 *
 * A prediction joins the feedback naming its deployment, else the feedback naming none.
 * The claim is made in the same atomic step that finds the pair complete. The joined
 * event is then written in a Kafka transaction together with that message's offset, so:
 * a later duplicate (other coordinates) never emits again, while a redelivery of the
 * claiming message itself (its transaction did not commit) emits again, replacing the
 * aborted attempt.
 *
 * Redis lost: a bucket without its marker refuses live writes (JoinStateLost), so nothing
 * is joined against an empty state; the joiner then rebuilds every bucket from Kafka with
 * the replay and restore calls below (which need no marker) and sets the markers again.
 */

/** Checks the bucket's marker unless replaying; answers JoinStateLost's reply without it. */
const READY = `
if ARGV[#ARGV] == '0' and redis.call('EXISTS', KEYS[3]) == 0 then return redis.error_reply('JOINSTATE_LOST the join state is being rebuilt') end
`;

/** Stores (or, when replaying, lowers to) the request's first-seen time, and its expiry once. */
const SEEN = (ttl: string, now: string, requestId: string) => `
if redis.call('TTL', KEYS[1]) < 0 then redis.call('EXPIRE', KEYS[1], ${ttl}) end
redis.call('ZADD', KEYS[2], 'LT', ${now}, ${requestId})
`;

/**
 * Stores a prediction (first wins) and, live, claims its pair when its feedback is there.
 * Answers {first, [prediction, feedback]}: first is 1 when the stored copy came from this
 * message (also on its redelivery), which is what the report counts.
 * ARGV: pair, deployment, JSON, ttl, now, requestId, token, replay.
 */
const JOIN_PREDICTION = `${READY}
local p = 'p:' .. ARGV[1]
local mine = ARGV[7] .. '|'
redis.call('HSETNX', KEYS[1], p, mine .. ARGV[3])
local stored = redis.call('HGET', KEYS[1], p)
local first = 0
if string.sub(stored, 1, #mine) == mine then first = 1 end
${SEEN('ARGV[4]', 'ARGV[5]', 'ARGV[6]')}
if ARGV[8] == '1' then return {first} end
local feedback = redis.call('HGET', KEYS[1], 'f:' .. ARGV[2]) or redis.call('HGET', KEYS[1], 'f')
if not feedback then return {first} end
local done = 'd:' .. ARGV[1]
local claim = redis.call('HGET', KEYS[1], done)
if claim and claim ~= ARGV[7] then return {first} end
redis.call('HSET', KEYS[1], done, ARGV[7])
return {first, string.sub(stored, string.find(stored, '|', 1, true) + 1), feedback}
`;

/**
 * Stores feedback (first wins per scope) and, live, claims every pair it completes that is
 * unclaimed or claimed by this message: the predictions of its deployment, or of every
 * deployment when it names none. Answers {prediction, feedback, prediction, feedback, …}.
 * ARGV: deployment or '', JSON, ttl, now, requestId, token, replay.
 */
const JOIN_FEEDBACK = `${READY}
local scope = ARGV[1]
local f = 'f'
if scope ~= '' then f = 'f:' .. scope end
redis.call('HSETNX', KEYS[1], f, ARGV[2])
${SEEN('ARGV[3]', 'ARGV[4]', 'ARGV[5]')}
local out = {}
if ARGV[7] == '1' then return out end
local fields = redis.call('HGETALL', KEYS[1])
local hash = {}
for i = 1, #fields, 2 do hash[fields[i]] = fields[i + 1] end
for i = 1, #fields, 2 do
  local name = fields[i]
  if string.sub(name, 1, 2) == 'p:' then
    local pair = string.sub(name, 3)
    local deployment = string.sub(pair, 1, string.find(pair, ':', 1, true) - 1)
    local feedback = hash['f:' .. deployment] or hash['f']
    local claim = hash['d:' .. pair]
    if (scope == '' or scope == deployment) and feedback and (not claim or claim == ARGV[6]) then
      redis.call('HSET', KEYS[1], 'd:' .. pair, ARGV[6])
      local stored = fields[i + 1]
      out[#out + 1] = string.sub(stored, string.find(stored, '|', 1, true) + 1)
      out[#out + 1] = feedback
    end
  end
end
return out
`;

/** Restores a claim read back from the joined topic. ARGV: pair, ttl, joined at, requestId. */
const RESTORE_CLAIM = `
redis.call('HSETNX', KEYS[1], 'd:' .. ARGV[1], 'rebuilt')
${SEEN('ARGV[2]', 'ARGV[3]', 'ARGV[4]')}
`;

/**
 * Claims and removes a bucket's requests first seen before a cutoff, in one step, so two
 * joiners sweeping at once never count the same request twice. Keys are built from
 * members, which were validated request ids when added, under the bucket's own hash tag.
 */
const SWEEP = `
local ids = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', ARGV[1], 'LIMIT', 0, tonumber(ARGV[3]))
local out = {}
for _, id in ipairs(ids) do
  local key = ARGV[2] .. id
  out[#out + 1] = id
  out[#out + 1] = redis.call('HGETALL', key)
  redis.call('DEL', key)
  redis.call('ZREM', KEYS[1], id)
end
return out
`;

/** Sets the rebuild lock's expiry again, only while `owner` holds it. */
const RENEW_LOCK = `
if redis.call('GET', KEYS[1]) ~= ARGV[1] then return 0 end
return redis.call('PEXPIRE', KEYS[1], ARGV[2])
`;

const RELEASE_LOCK = `
if redis.call('GET', KEYS[1]) ~= ARGV[1] then return 0 end
return redis.call('DEL', KEYS[1])
`;

type Reply = Promise<unknown>;
type JoinScripts = {
  joinPrediction(
    key: string,
    seen: string,
    ready: string,
    pair: string,
    deployment: string,
    json: string,
    ttl: number,
    now: number,
    requestId: string,
    token: string,
    replay: string,
  ): Reply;
  joinFeedback(
    key: string,
    seen: string,
    ready: string,
    scope: string,
    json: string,
    ttl: number,
    now: number,
    requestId: string,
    token: string,
    replay: string,
  ): Reply;
  restoreClaim(key: string, seen: string, pair: string, ttl: number, at: number, requestId: string): Reply;
  sweepJoins(seen: string, cutoff: number, keyPrefix: string, limit: number): Promise<(string | string[])[]>;
  renewLock(key: string, owner: string, ttlMs: number): Promise<number>;
  releaseLock(key: string, owner: string): Promise<number>;
};

/** A bucket has lost its state: the caller should have it rebuilt and try again. */
export class JoinStateLost extends Error {
  constructor() {
    super('the join state was lost (Redis restarted empty?) and is being rebuilt from Kafka');
    this.name = 'JoinStateLost';
  }
}

export interface PredictionRecord {
  requestId: string;
  deployment: string;
  /** `<deployment>:<variant>:<role>` (pairField): one joined event per pair and request. */
  pair: string;
  json: string;
  /** Coordinates of the Kafka message carrying it: the claim on the pairs it completes. */
  token: string;
}

export interface FeedbackRecord {
  requestId: string;
  /** The deployment it is ground truth for; absent: every deployment's prediction of the request. */
  deployment?: string;
  json: string;
  token: string;
}

/** A pair ready to be joined: the stored (first) prediction and feedback, as JSON. */
export interface JoinCandidate {
  requestId: string;
  prediction: string;
  feedback: string;
}

export interface StoredPredictions {
  candidates: JoinCandidate[];
  /** Per record: its message is the one the stored (first) copy came from, so it is counted in the report. */
  first: boolean[];
}

export interface ExpiredRequest {
  requestId: string;
  /** The deployment each stored feedback names (`undefined`: none). */
  feedbackScopes: (string | undefined)[];
  predictions: { json: string; joined: boolean }[];
}

/** When a record was seen and how long its request's state may live from now. */
export interface JoinTiming {
  ttlSeconds: number;
  nowMs: number;
}

/** A claim read back from the joined topic while rebuilding. */
export interface RestoredClaim {
  requestId: string;
  pair: string;
}

/**
 * Join state in Redis. Every call takes a whole Kafka batch and costs one pipelined
 * round trip per server, each record one atomic script in its bucket's slot, so concurrent joiners
 * and redeliveries always see a consistent pair state.
 */
@Injectable()
export class JoinStateStore {
  private readonly redis: RedisClient['redis'] & JoinScripts;
  private readonly lockKey: string;

  constructor(private readonly client: RedisClient) {
    client.redis.defineCommand('joinPrediction', { numberOfKeys: 3, lua: JOIN_PREDICTION });
    client.redis.defineCommand('joinFeedback', { numberOfKeys: 3, lua: JOIN_FEEDBACK });
    client.redis.defineCommand('restoreClaim', { numberOfKeys: 2, lua: RESTORE_CLAIM });
    client.redis.defineCommand('sweepJoins', { numberOfKeys: 1, lua: SWEEP });
    client.redis.defineCommand('renewLock', { numberOfKeys: 1, lua: RENEW_LOCK });
    client.redis.defineCommand('releaseLock', { numberOfKeys: 1, lua: RELEASE_LOCK });
    this.redis = client.redis as RedisClient['redis'] & JoinScripts;
    this.lockKey = `${client.prefix}join:rebuild-lock`;
  }

  private bucketKey(bucket: number, kind: string): string {
    return `${this.client.prefix}{join.${bucket}}:${kind}`;
  }

  /** The request's hash, its bucket's seen-set and its bucket's marker. */
  private keys(requestId: string): [string, string, string] {
    if (!REQUEST_ID_PATTERN.test(requestId)) throw new Error(`invalid requestId ${JSON.stringify(requestId)}`);
    const bucket = joinBucket(requestId);
    return [this.bucketKey(bucket, `r:${requestId}`), this.bucketKey(bucket, 'seen'), this.bucketKey(bucket, 'ready')];
  }

  /** Stores predictions and claims the pairs they complete; replaying (a rebuild), only stores them. */
  async recordPredictions(
    records: PredictionRecord[],
    timing: (record: PredictionRecord, index: number) => JoinTiming,
    replay = false,
  ): Promise<StoredPredictions> {
    if (!records.length) return { candidates: [], first: [] };
    const replies = (await settled(
      records.map((r, i) => {
        const { ttlSeconds, nowMs } = timing(r, i);
        return this.redis.joinPrediction(...this.keys(r.requestId), r.pair, r.deployment, r.json, ttlSeconds, nowMs, r.requestId, r.token, replay ? '1' : '0');
      }),
    )) as [number, string?, string?][];
    return {
      first: replies.map(([first]) => first === 1),
      candidates: records.flatMap((r, i) => {
        const [, prediction, feedback] = replies[i];
        return prediction !== undefined && feedback !== undefined ? [{ requestId: r.requestId, prediction, feedback }] : [];
      }),
    };
  }

  /** Stores feedback and claims the pairs it completes; replaying (a rebuild), only stores it. */
  async recordFeedback(records: FeedbackRecord[], timing: (record: FeedbackRecord, index: number) => JoinTiming, replay = false): Promise<JoinCandidate[]> {
    if (!records.length) return [];
    const replies = (await settled(
      records.map((r, i) => {
        const { ttlSeconds, nowMs } = timing(r, i);
        return this.redis.joinFeedback(...this.keys(r.requestId), r.deployment ?? '', r.json, ttlSeconds, nowMs, r.requestId, r.token, replay ? '1' : '0');
      }),
    )) as string[][];
    return records.flatMap((r, i) => {
      const reply = replies[i];
      const pairs: JoinCandidate[] = [];
      for (let j = 0; j < reply.length; j += 2) pairs.push({ requestId: r.requestId, prediction: reply[j], feedback: reply[j + 1] });
      return pairs;
    });
  }

  /** Marks pairs already joined (read back from the joined topic) so that nothing emits them again. */
  async restoreClaims(claims: RestoredClaim[], timing: (claim: RestoredClaim, index: number) => JoinTiming): Promise<void> {
    if (!claims.length) return;
    await settled(
      claims.map((c, i) => {
        const [key, seen] = this.keys(c.requestId);
        const { ttlSeconds, nowMs } = timing(c, i);
        return this.redis.restoreClaim(key, seen, c.pair, ttlSeconds, nowMs, c.requestId);
      }),
    );
  }

  /**
   * Removes up to `limit` requests per bucket first seen before `cutoffMs` and returns
   * what they held; `more` when some bucket may hold more.
   */
  async sweep(cutoffMs: number, limit: number): Promise<{ expired: ExpiredRequest[]; more: boolean }> {
    const buckets = (await settled(BUCKETS.map((b) => this.redis.sweepJoins(this.bucketKey(b, 'seen'), cutoffMs, this.bucketKey(b, 'r:'), limit)))) as (
      string | string[]
    )[][];
    const expired: ExpiredRequest[] = [];
    for (const flat of buckets) {
      for (let i = 0; i < flat.length; i += 2) {
        const fields = flat[i + 1] as string[];
        const hash = new Map<string, string>();
        for (let j = 0; j < fields.length; j += 2) hash.set(fields[j], fields[j + 1]);
        const feedbackScopes: (string | undefined)[] = [];
        const predictions: ExpiredRequest['predictions'] = [];
        for (const [name, value] of hash) {
          if (name === 'f') feedbackScopes.push(undefined);
          else if (name.startsWith('f:')) feedbackScopes.push(name.slice(2));
          else if (name.startsWith('p:')) predictions.push({ json: value.slice(value.indexOf('|') + 1), joined: hash.has(`d:${name.slice(2)}`) });
        }
        expired.push({ requestId: flat[i] as string, feedbackScopes, predictions });
      }
    }
    return { expired, more: buckets.some((flat) => flat.length / 2 >= limit) };
  }

  /** Whether every bucket has its marker: false after Redis was lost, until a rebuild ends. */
  async ready(): Promise<boolean> {
    return (await settled(BUCKETS.map((b) => this.redis.exists(this.bucketKey(b, 'ready'))))).every((exists) => exists === 1);
  }

  /** Removes or sets every bucket's marker (one key per slot, so one command each). */
  async setReady(ready: boolean): Promise<void> {
    const at = new Date().toISOString();
    await settled<unknown>(BUCKETS.map((b) => (ready ? this.redis.set(this.bucketKey(b, 'ready'), at) : this.redis.del(this.bucketKey(b, 'ready')))));
  }

  /** Takes the rebuild lock for `owner` for `ttlMs` (renewed while rebuilding); false if another holds it. */
  async lockRebuild(owner: string, ttlMs: number): Promise<boolean> {
    return (await this.redis.set(this.lockKey, owner, 'PX', ttlMs, 'NX')) === 'OK';
  }

  async renewRebuildLock(owner: string, ttlMs: number): Promise<boolean> {
    return (await this.redis.renewLock(this.lockKey, owner, ttlMs)) === 1;
  }

  async releaseRebuildLock(owner: string): Promise<void> {
    await this.redis.releaseLock(this.lockKey, owner);
  }
}

/** The replies of a pipeline; a bucket that lost its marker is JoinStateLost. */
const BUCKETS = Array.from({ length: JOIN_BUCKETS }, (_, b) => b);

/**
 * Every call's answer, once all have settled. The connection pipelines calls made in one
 * turn (ioredis auto-pipelining: one round trip per server, as a Redis Cluster needs).
 */
async function settled<T>(calls: Promise<T>[]): Promise<T[]> {
  const replies = await Promise.allSettled(calls);
  const failed = replies.find((reply): reply is PromiseRejectedResult => reply.status === 'rejected');
  if (failed) throw (failed.reason as Error).message.startsWith('JOINSTATE_LOST') ? new JoinStateLost() : failed.reason;
  return replies.map((reply) => (reply as PromiseFulfilledResult<T>).value);
}
