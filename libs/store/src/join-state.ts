import { Injectable } from '@nestjs/common';
import { REQUEST_ID_PATTERN } from '@switchyard/contracts';
import { RedisClient } from './redis.client';
import { ReportStore } from './report.store';

/**
 * Join state of one request is one hash `join:r:<requestId>`:
 *   `p:<variant>:<role>` → the first prediction event seen for that pair (JSON),
 *   `f`                  → the first feedback seen (JSON; later ones are ignored),
 *   `d:<variant>:<role>` → the Kafka coordinates (`topic:partition:offset`) of the message
 *                          that completed the pair and claimed its joined event.
 * The claim is made in the same atomic step that finds the pair complete. The joined
 * event is then written in a Kafka transaction together with that message's offset, so:
 * a later duplicate (other coordinates) never emits again, while a redelivery of the
 * claiming message itself (its transaction did not commit) emits again, replacing the
 * aborted attempt. A sorted set `join:seen` holds every request id by first-seen time,
 * so the sweeper can count what expired unjoined before removing it.
 */

/**
 * Stores a prediction (first wins) and claims its pair when feedback is there. A
 * prediction stored for the first time also adds its report counters (ARGV[7..]) to the
 * deployment's report hash, so redeliveries are never counted twice.
 */
const JOIN_PREDICTION = `
local field = ARGV[1]
if redis.call('HSETNX', KEYS[1], 'p:' .. field, ARGV[2]) == 1 then
  for i = 7, #ARGV do redis.call('HINCRBY', KEYS[3], ARGV[i], 1) end
end
if redis.call('TTL', KEYS[1]) < 0 then redis.call('EXPIRE', KEYS[1], ARGV[3]) end
redis.call('ZADD', KEYS[2], 'NX', ARGV[4], ARGV[5])
local feedback = redis.call('HGET', KEYS[1], 'f')
if not feedback then return false end
local claim = redis.call('HGET', KEYS[1], 'd:' .. field)
if claim and claim ~= ARGV[6] then return false end
redis.call('HSET', KEYS[1], 'd:' .. field, ARGV[6])
return {redis.call('HGET', KEYS[1], 'p:' .. field), feedback}
`;

/** Stores feedback (first wins); claims and answers every prediction whose pair is unclaimed or claimed by this message. */
const JOIN_FEEDBACK = `
redis.call('HSETNX', KEYS[1], 'f', ARGV[1])
if redis.call('TTL', KEYS[1]) < 0 then redis.call('EXPIRE', KEYS[1], ARGV[2]) end
redis.call('ZADD', KEYS[2], 'NX', ARGV[3], ARGV[4])
local out = {redis.call('HGET', KEYS[1], 'f')}
local fields = redis.call('HGETALL', KEYS[1])
for i = 1, #fields, 2 do
  local name = fields[i]
  if string.sub(name, 1, 2) == 'p:' then
    local done = 'd:' .. string.sub(name, 3)
    local claim = redis.call('HGET', KEYS[1], done)
    if not claim or claim == ARGV[5] then
      redis.call('HSET', KEYS[1], done, ARGV[5])
      out[#out + 1] = fields[i + 1]
    end
  end
end
return out
`;

/**
 * Claims and removes requests first seen before a cutoff, in one step, so two joiners
 * sweeping at once never count the same request twice. Keys are built from members,
 * which were validated request ids when added.
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

type JoinScripts = {
  joinPrediction(key: string, seen: string, report: string, field: string, prediction: string, ttl: number, now: number, requestId: string, token: string, ...counters: string[]): Promise<[string, string] | null>;
  joinFeedback(key: string, seen: string, feedback: string, ttl: number, now: number, requestId: string, token: string): Promise<string[]>;
  sweepJoins(seen: string, cutoff: number, keyPrefix: string, limit: number): Promise<(string | string[])[]>;
};

export interface PredictionRecord {
  requestId: string;
  /** `<variant>:<role>`: one joined event per field and request. */
  field: string;
  json: string;
  /** Coordinates of the Kafka message carrying it: the claim on the pairs it completes. */
  token: string;
  deployment: string;
  /** Report counter fields this prediction adds when first seen. */
  counters: string[];
}

export interface FeedbackRecord {
  requestId: string;
  json: string;
  token: string;
}

/** A pair ready to be joined: the stored (first) prediction and feedback, as JSON. */
export interface JoinCandidate {
  requestId: string;
  prediction: string;
  feedback: string;
}

export interface ExpiredRequest {
  requestId: string;
  feedback?: string;
  predictions: { field: string; json: string; joined: boolean }[];
}

export interface JoinTiming {
  ttlSeconds: number;
  nowMs: number;
}

/**
 * Join state in Redis. Every call takes a whole Kafka batch and costs one pipelined
 * round trip, each record one atomic script, so concurrent joiners and redeliveries
 * always see a consistent pair state.
 */
@Injectable()
export class JoinStateStore {
  private readonly seenKey: string;
  private readonly requestPrefix: string;
  private readonly redis: RedisClient['redis'] & JoinScripts;

  constructor(
    client: RedisClient,
    private readonly reports: ReportStore,
  ) {
    this.seenKey = `${client.prefix}join:seen`;
    this.requestPrefix = `${client.prefix}join:r:`;
    client.redis.defineCommand('joinPrediction', { numberOfKeys: 3, lua: JOIN_PREDICTION });
    client.redis.defineCommand('joinFeedback', { numberOfKeys: 2, lua: JOIN_FEEDBACK });
    client.redis.defineCommand('sweepJoins', { numberOfKeys: 1, lua: SWEEP });
    this.redis = client.redis as RedisClient['redis'] & JoinScripts;
  }

  private key(requestId: string): string {
    if (!REQUEST_ID_PATTERN.test(requestId)) throw new Error(`invalid requestId ${JSON.stringify(requestId)}`);
    return `${this.requestPrefix}${requestId}`;
  }

  async recordPredictions(records: PredictionRecord[], { ttlSeconds, nowMs }: JoinTiming): Promise<JoinCandidate[]> {
    if (!records.length) return [];
    const pipeline = this.redis.pipeline() as unknown as JoinScripts & { exec: () => Promise<[Error | null, unknown][] | null> };
    for (const r of records) {
      void pipeline.joinPrediction(this.key(r.requestId), this.seenKey, this.reports.key(r.deployment), r.field, r.json, ttlSeconds, nowMs, r.requestId, r.token, ...r.counters);
    }
    const replies = results(await pipeline.exec()) as ([string, string] | null)[];
    return records.flatMap((r, i) => {
      const reply = replies[i];
      return reply ? [{ requestId: r.requestId, prediction: reply[0], feedback: reply[1] }] : [];
    });
  }

  async recordFeedback(records: FeedbackRecord[], { ttlSeconds, nowMs }: JoinTiming): Promise<JoinCandidate[]> {
    if (!records.length) return [];
    const pipeline = this.redis.pipeline() as unknown as JoinScripts & { exec: () => Promise<[Error | null, unknown][] | null> };
    for (const r of records) void pipeline.joinFeedback(this.key(r.requestId), this.seenKey, r.json, ttlSeconds, nowMs, r.requestId, r.token);
    const replies = results(await pipeline.exec()) as string[][];
    return records.flatMap((r, i) => {
      const [feedback, ...predictions] = replies[i];
      return predictions.map((prediction) => ({ requestId: r.requestId, prediction, feedback }));
    });
  }

  /** Removes up to `limit` requests first seen before `cutoffMs` and returns what they held. */
  async sweep(cutoffMs: number, limit: number): Promise<ExpiredRequest[]> {
    const flat = await this.redis.sweepJoins(this.seenKey, cutoffMs, this.requestPrefix, limit);
    const expired: ExpiredRequest[] = [];
    for (let i = 0; i < flat.length; i += 2) {
      const fields = flat[i + 1] as string[];
      const hash = new Map<string, string>();
      for (let j = 0; j < fields.length; j += 2) hash.set(fields[j], fields[j + 1]);
      const predictions = [...hash]
        .filter(([name]) => name.startsWith('p:'))
        .map(([name, json]) => ({ field: name.slice(2), json, joined: hash.has(`d:${name.slice(2)}`) }));
      expired.push({ requestId: flat[i] as string, feedback: hash.get('f'), predictions });
    }
    return expired;
  }
}

function results(replies: [Error | null, unknown][] | null): unknown[] {
  if (!replies) throw new Error('redis pipeline was aborted');
  const failed = replies.find(([error]) => error);
  if (failed) throw failed[0];
  return replies.map(([, value]) => value);
}
