import { Inject, Injectable, Optional } from '@nestjs/common';
import { PredictionEvent, REQUEST_ID_PATTERN, Role, Validated, validatePlain } from '@switchyard/contracts';
import { JOIN_BUCKETS, joinBucket, StoredFeedback } from '@switchyard/strategies';
import { parseJson, UndecodableRecord } from './codec';
import { RedisClient } from './redis.client';
import type { StoreScripts } from './scripts';

/**
 * Join state lives in JOIN_BUCKETS buckets of request ids; bucket `b` is hash tag
 * `{join.b}` (a `.` no deployment name has), so each of its scripts (`lua/join-*.lua`)
 * touches one Redis Cluster slot. Per bucket:
 *   `{join.b}:r:<requestId>` a hash per request:
 *       `p:<deployment>:<variant>:<role>` → `<token>|<prediction JSON>`: the first copy
 *                                           seen (without the request id, deployment,
 *                                           variant and role the key and field hold), and
 *                                           the message it was stored from;
 *       `f`               → the first feedback that names no deployment (JSON),
 *       `f:<deployment>`  → the first feedback that names this deployment (JSON),
 *       `d:<deployment>:<variant>:<role>` → the token of the message that completed the
 *                                           pair and claimed its joined event; `c` once that
 *                                           event is committed (compactPairs after the
 *                                           batch's transaction, or a claim restored from
 *                                           the joined topic), when the `p:` field goes:
 *                                           a joined pair keeps only that it joined;
 *   `{join.b}:seen`  its request ids by first-seen time, for the sweeper;
 *   `{join.b}:ready` the marker that the bucket holds the state Kafka says it should.
 * A token is the Kafka coordinates `topic:partition:offset` of a message.
 *
 * A prediction joins the feedback naming its deployment, else the feedback naming none
 * (the join-scope rule: `feedbackFor`, `feedbackApplies`; `JoinLedger` in libs/strategies is
 * the reference the scripts are tested against).
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
  prediction: PredictionEvent;
  /** Coordinates of the Kafka message carrying it: the claim on the pairs it completes. */
  token: string;
}

export interface FeedbackRecord {
  requestId: string;
  /** The deployment it is ground truth for; absent: every deployment's prediction of the request. */
  deployment?: string;
  feedback: StoredFeedback;
  token: string;
}

/**
 * A pair ready to be joined: the stored (first) prediction and feedback, decoded; or,
 * when either does not decode, why (the pair is claimed all the same: it never joins).
 */
export type JoinCandidate = CompletedPair & ({ prediction: PredictionEvent; feedback: StoredFeedback } | { undecodable: UndecodableRecord });

/** A pair a message claimed: compacted once that message's transaction committed (`compactPairs`). */
export interface CompletedPair {
  requestId: string;
  /** `<deployment>:<variant>:<role>` */
  pair: string;
  /** The claiming message's coordinates. */
  token: string;
}

export interface StoredPredictions {
  candidates: JoinCandidate[];
  /** Per record: its message is the one the stored (first) copy came from, so it is counted in the report. */
  first: boolean[];
  /** The records not stored, by index, and why: pending past a limit (lua/join-cap.lua). */
  refused: Map<number, string>;
}

export interface RecordedFeedback {
  candidates: JoinCandidate[];
  /** The records not stored, by index, and why: pending past a limit (lua/join-cap.lua). */
  refused: Map<number, string>;
}

/**
 * What the join state holds pending of each kind (feedback whose prediction is not there,
 * predictions whose feedback is not), in total and per deployment. Each bucket takes its
 * share (`1 / JOIN_BUCKETS`), so that a bucket's one script checks its limits atomically,
 * on a Redis Cluster too; request ids spread evenly over the buckets, so the totals hold.
 */
export interface PendingLimits {
  records: number;
  bytes: number;
  recordsPerDeployment: number;
  bytesPerDeployment: number;
}

/** @default Each kind: 1 000 000 records and 512 MiB, 250 000 and 128 MiB per deployment. */
export const DEFAULT_PENDING_LIMITS: PendingLimits = {
  records: 1_000_000,
  bytes: 512 * 2 ** 20,
  recordsPerDeployment: 250_000,
  bytesPerDeployment: 128 * 2 ** 20,
};

/** The token for a joiner's own limits; without it the store holds to DEFAULT_PENDING_LIMITS. */
export const PENDING_LIMITS = Symbol('PENDING_LIMITS');

/** The limits one bucket enforces, as its scripts take them: "records bytes perDeployment perDeploymentBytes". */
export function bucketLimits(limits: PendingLimits): string {
  return [limits.records, limits.bytes, limits.recordsPerDeployment, limits.bytesPerDeployment].map((l) => Math.ceil(l / JOIN_BUCKETS)).join(' ');
}

/** The totals a bucket's limits stand for. */
function fromBucketLimits(text: string): PendingLimits {
  const [records, bytes, recordsPerDeployment, bytesPerDeployment] = text.split(' ').map((share) => Number(share) * JOIN_BUCKETS);
  return { records, bytes, recordsPerDeployment, bytesPerDeployment };
}

const LIMIT_NAMES: Record<string, (limits: PendingLimits, deployment: string) => string> = {
  count: (l) => `${l.records} records in all`,
  bytes: (l) => `${l.bytes} bytes in all`,
  'deployment-count': (l, d) => `${l.recordsPerDeployment} records for ${d ? `deployment "${d}"` : 'feedback naming no deployment'}`,
  'deployment-bytes': (l, d) => `${l.bytesPerDeployment} bytes for ${d ? `deployment "${d}"` : 'feedback naming no deployment'}`,
};

/** Why a pending record was refused, from the limit a script named. */
export function pendingRefusal(kind: 'feedback' | 'prediction', limit: string, deployment: string, limits: PendingLimits): string {
  const what = kind === 'feedback' ? 'feedback waiting for its prediction' : 'predictions waiting for their feedback';
  const bound = LIMIT_NAMES[limit]?.(limits, deployment) ?? limit;
  return `the join state is full: ${what} may hold at most ${bound} (${JOIN_BUCKETS} buckets, the request's is at its share); retry later`;
}

export interface ExpiredRequest {
  requestId: string;
  /** The deployment each stored feedback names (`undefined`: none). */
  feedbackScopes: (string | undefined)[];
  /** Every pair of the request, from the fields' names (a compacted pair has no prediction left). */
  predictions: { prediction: Pick<PredictionEvent, 'deployment' | 'variant' | 'role'>; joined: boolean }[];
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
 * Records per script call at most: a call blocks Redis while it runs (about 10 µs a
 * record), so a huge batch is cut into calls of a few milliseconds each.
 */
const RECORDS_PER_CALL = 256;

/**
 * Join state in Redis. Every call takes a whole Kafka batch and costs one pipelined
 * round trip per server: one atomic script per bucket (one slot) for all of the batch's
 * records in it, in their order, so concurrent joiners and redeliveries always see a
 * consistent pair state, and a batch costs a few commands instead of one per record.
 */
@Injectable()
export class JoinStateStore {
  private readonly redis: RedisClient['redis'];
  private readonly lockKey: string;

  private readonly limitsArg: string;

  constructor(
    private readonly client: RedisClient,
    @Optional() @Inject(PENDING_LIMITS) readonly limits: PendingLimits = DEFAULT_PENDING_LIMITS,
  ) {
    this.limitsArg = bucketLimits(this.limits);
    this.redis = client.redis;
    this.lockKey = `${client.prefix}join:rebuild-lock`;
  }

  private bucketKey(bucket: number, kind: string): string {
    return `${this.client.prefix}{join.${bucket}}:${kind}`;
  }

  private requestKey(requestId: string): { bucket: number; key: string } {
    const bucket = bucketOf(requestId);
    return { bucket, key: this.bucketKey(bucket, `r:${requestId}`) };
  }

  /**
   * Runs `script` once per bucket (and chunk of RECORDS_PER_CALL) over the records in it,
   * with `args(record, index)` per record; answers each record's own reply, in the
   * records' order. The script builds each request's key from the bucket's prefix and the
   * request id (validated here), as the sweep does: its two declared keys then name the
   * slot, whatever the number of records.
   */
  private async perBucket<R extends { requestId: string }>(
    script: StoreScripts['joinPredictions'],
    records: R[],
    replay: boolean,
    args: (record: R, index: number) => (string | number)[],
  ): Promise<unknown[]> {
    const byBucket = new Map<number, number[]>();
    records.forEach((r, i) => {
      const bucket = bucketOf(r.requestId);
      const indexes = byBucket.get(bucket);
      if (indexes) indexes.push(i);
      else byBucket.set(bucket, [i]);
    });
    const calls: { indexes: number[]; reply: Promise<unknown[]> }[] = [];
    for (const [bucket, all] of byBucket) {
      for (let start = 0; start < all.length; start += RECORDS_PER_CALL) {
        const indexes = all.slice(start, start + RECORDS_PER_CALL);
        const perRecord = indexes.flatMap((i) => args(records[i], i));
        calls.push({
          indexes,
          reply: script(
            this.bucketKey(bucket, 'seen'),
            this.bucketKey(bucket, 'ready'),
            this.bucketKey(bucket, 'held'),
            replay ? '1' : '0',
            this.bucketKey(bucket, 'r:'),
            this.limitsArg,
            ...perRecord,
          ),
        });
      }
    }
    const replies = await settled(calls.map((c) => c.reply));
    const out = new Array<unknown>(records.length);
    calls.forEach(({ indexes }, c) => indexes.forEach((i, j) => (out[i] = replies[c][j])));
    return out;
  }

  /** Stores predictions and claims the pairs they complete; replaying (a rebuild), only stores them. */
  async recordPredictions(
    records: PredictionRecord[],
    timing: (record: PredictionRecord, index: number) => JoinTiming,
    replay = false,
  ): Promise<StoredPredictions> {
    if (!records.length) return { candidates: [], first: [], refused: new Map() };
    const replies = (await this.perBucket(this.redis.joinPredictions.bind(this.redis), records, replay, (r, i) => {
      const { ttlSeconds, nowMs } = timing(r, i);
      return [r.pair, r.deployment, encodePrediction(r.prediction), ttlSeconds, nowMs, r.requestId, r.token];
    })) as [number, string?, string?][];
    const refused = new Map<number, string>();
    replies.forEach(([first, limit], i) => first === -1 && refused.set(i, pendingRefusal('prediction', limit!, records[i].deployment, this.limits)));
    return {
      first: replies.map(([first]) => first === 1),
      candidates: records.flatMap((r, i) => {
        const [first, prediction, feedback] = replies[i];
        return first !== -1 && prediction !== undefined && feedback !== undefined
          ? [decodePair({ requestId: r.requestId, pair: r.pair, token: r.token }, prediction, feedback)]
          : [];
      }),
      refused,
    };
  }

  /** Stores feedback and claims the pairs it completes; replaying (a rebuild), only stores it. */
  async recordFeedback(records: FeedbackRecord[], timing: (record: FeedbackRecord, index: number) => JoinTiming, replay = false): Promise<RecordedFeedback> {
    if (!records.length) return { candidates: [], refused: new Map() };
    const replies = (await this.perBucket(this.redis.joinFeedback.bind(this.redis), records, replay, (r, i) => {
      const { ttlSeconds, nowMs } = timing(r, i);
      return [r.deployment ?? '', encodeStoredFeedback(r.feedback), ttlSeconds, nowMs, r.requestId, r.token];
    })) as [string | number, ...string[]][];
    const refused = new Map<number, string>();
    const candidates = records.flatMap((r, i) => {
      const reply = replies[i];
      if (reply[0] === -1) {
        refused.set(i, pendingRefusal('feedback', reply[1], r.deployment ?? '', this.limits));
        return [];
      }
      const pairs: JoinCandidate[] = [];
      for (let j = 0; j < reply.length; j += 3)
        pairs.push(decodePair({ requestId: r.requestId, pair: reply[j] as string, token: r.token }, reply[j + 1] as string, reply[j + 2] as string));
      return pairs;
    });
    return { candidates, refused };
  }

  /**
   * Per feedback, the reason the joiner would refuse it now as pending past a limit, or
   * undefined: read only, so a router can answer 429 before publishing (the joiner's own
   * check decides, so two routers racing for the last room only cost a DLQ record).
   */
  async pendingFeedbackRefusals(items: { requestId: string; deployment?: string; bytes: number }[]): Promise<(string | undefined)[]> {
    const limits = await settled(
      items.map(({ requestId, deployment, bytes }) => {
        const { bucket, key } = this.requestKey(requestId);
        return this.redis.pendingRoom(key, this.bucketKey(bucket, 'held'), deployment ?? '', bytes);
      }),
    );
    // The joiner's limits, as it wrote them for its buckets: this process's own may differ.
    return limits.map((reply, i) => (reply ? pendingRefusal('feedback', reply[0], items[i].deployment ?? '', fromBucketLimits(reply[1])) : undefined));
  }

  /**
   * Compacts pairs whose claiming message's Kafka transaction committed (it is never
   * redelivered): each keeps only that it joined. One script per bucket; a pair claimed by
   * another message, or already gone, is left as it is. Answers how many were compacted.
   */
  async compactPairs(pairs: CompletedPair[]): Promise<number> {
    const byBucket = new Map<number, (string | number)[]>();
    for (const { requestId, pair, token } of pairs) {
      const bucket = bucketOf(requestId);
      const args = byBucket.get(bucket) ?? byBucket.set(bucket, []).get(bucket)!;
      args.push(requestId, pair, token);
    }
    const counts = await settled(
      [...byBucket].map(([bucket, args]) => this.redis.compactPairs(this.bucketKey(bucket, 'r:'), this.bucketKey(bucket, 'held'), ...args)),
    );
    return counts.reduce((sum, n) => sum + Number(n), 0);
  }

  /** Marks pairs already joined (read back from the joined topic) so that nothing emits them again. */
  async restoreClaims(claims: RestoredClaim[], timing: (claim: RestoredClaim, index: number) => JoinTiming): Promise<void> {
    if (!claims.length) return;
    await settled(
      claims.map((c, i) => {
        const { bucket, key } = this.requestKey(c.requestId);
        const { ttlSeconds, nowMs } = timing(c, i);
        return this.redis.restoreClaim(this.bucketKey(bucket, 'seen'), key, this.bucketKey(bucket, 'held'), c.pair, ttlSeconds, nowMs, c.requestId);
      }),
    );
  }

  /**
   * Removes up to `limit` requests per bucket first seen before `cutoffMs` and returns
   * what they held; `more` when some bucket may hold more.
   */
  async sweep(cutoffMs: number, limit: number): Promise<{ expired: ExpiredRequest[]; more: boolean }> {
    const buckets = (await settled(
      BUCKETS.map((b) => this.redis.sweepJoins(this.bucketKey(b, 'seen'), this.bucketKey(b, 'held'), cutoffMs, this.bucketKey(b, 'r:'), limit)),
    )) as (string | string[])[][];
    const expired: ExpiredRequest[] = [];
    for (const flat of buckets) {
      for (let i = 0; i < flat.length; i += 2) {
        const fields = flat[i + 1] as string[];
        const names = new Set<string>();
        for (let j = 0; j < fields.length; j += 2) names.add(fields[j]);
        const feedbackScopes: (string | undefined)[] = [];
        const predictions: ExpiredRequest['predictions'] = [];
        for (const name of names) {
          if (name === 'f') feedbackScopes.push(undefined);
          else if (name.startsWith('f:')) feedbackScopes.push(name.slice(2));
          // A pair is its `p:` field, or a `d:` field alone once compacted.
          else if (name.startsWith('p:') || (name.startsWith('d:') && !names.has(`p:${name.slice(2)}`))) {
            const [deployment, variant, role] = name.slice(2).split(':');
            predictions.push({ prediction: { deployment, variant, role: role as Role }, joined: names.has(`d:${name.slice(2)}`) });
          }
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

/** A prediction as it is stored: the event's JSON without what its request's key and its pair's field already say. */
export function encodePrediction(prediction: PredictionEvent): string {
  // eslint-disable-next-line @typescript-eslint/no-unused-vars -- left out on purpose
  const { requestId, deployment, variant, role, ...rest } = prediction;
  return JSON.stringify(rest);
}

/** A stored prediction of `requestId` and `pair` (`<deployment>:<variant>:<role>`): the event as the joiner validated it from Kafka. */
export function decodePrediction(requestId: string, pair: string, json: string): Validated<PredictionEvent> {
  const parsed = parseJson(json);
  if (!parsed.ok) return parsed;
  if (typeof parsed.value !== 'object' || parsed.value === null || Array.isArray(parsed.value))
    return { ok: false, problems: ['prediction must be a JSON object'] };
  const [deployment, variant, role] = pair.split(':');
  return validatePlain(PredictionEvent, { ...parsed.value, requestId, deployment, variant, role });
}

/** Feedback as it is stored: its JSON. */
export function encodeStoredFeedback(feedback: StoredFeedback): string {
  return JSON.stringify(feedback);
}

/** Stored feedback as `feedbackRecord` keeps it: when it came, and its label and (finite) reward when given. */
export function decodeStoredFeedback(json: string): Validated<StoredFeedback> {
  const parsed = parseJson(json);
  if (!parsed.ok) return parsed;
  if (typeof parsed.value !== 'object' || parsed.value === null || Array.isArray(parsed.value))
    return { ok: false, problems: ['feedback must be a JSON object'] };
  const { feedbackAt, label, reward } = parsed.value as Record<string, unknown>;
  const problems = [
    ...(typeof feedbackAt === 'string' ? [] : ['feedbackAt must be a string']),
    ...(reward === undefined || (typeof reward === 'number' && Number.isFinite(reward)) ? [] : ['reward must be a finite number']),
  ];
  if (problems.length) return { ok: false, problems };
  const feedback: StoredFeedback = { feedbackAt: feedbackAt as string };
  if (label !== undefined) feedback.label = label;
  if (reward !== undefined) feedback.reward = reward as number;
  return { ok: true, value: feedback };
}

function decodePair(completed: CompletedPair, predictionJson: string, feedbackJson: string): JoinCandidate {
  const prediction = decodePrediction(completed.requestId, completed.pair, predictionJson);
  const feedback = decodeStoredFeedback(feedbackJson);
  if (prediction.ok && feedback.ok) return { ...completed, prediction: prediction.value, feedback: feedback.value };
  const problems = [...(prediction.ok ? [] : prediction.problems), ...(feedback.ok ? [] : feedback.problems)];
  return { ...completed, undecodable: new UndecodableRecord(`the stored pair of ${completed.requestId}`, problems) };
}

/** The bucket of a valid request id; keys are built from it, so an invalid one is refused. */
function bucketOf(requestId: string): number {
  if (!REQUEST_ID_PATTERN.test(requestId)) throw new Error(`invalid requestId ${JSON.stringify(requestId)}`);
  return joinBucket(requestId);
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
