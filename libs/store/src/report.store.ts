import { Injectable } from '@nestjs/common';
import type { ReportCounts } from '@switchyard/strategies';
import { RedisClient } from './redis.client';

/**
 * Adds the counters of a batch's predictions, each only if its offset is past the
 * position stored for its topic-partition, then moves that position: a redelivered batch,
 * or one a zombie joiner handles too, is counted once. ARGV: position field, the batch's
 * last offset of this deployment, then per counted message: offset, n, n fields (+1
 * each), m, m field and amount pairs (integers, passed to HINCRBY as the strings they
 * are). Offsets stay below 2^53, exact in Lua's numbers.
 */
const ADD_REPORT = `
local position = tonumber(redis.call('HGET', KEYS[1], ARGV[1]) or '-1')
local i = 3
while i <= #ARGV do
  local n = tonumber(ARGV[i + 1])
  local m = tonumber(ARGV[i + 2 + n])
  if tonumber(ARGV[i]) > position then
    for j = i + 2, i + 1 + n do redis.call('HINCRBY', KEYS[1], ARGV[j], 1) end
    for j = i + 3 + n, i + 1 + n + 2 * m, 2 do redis.call('HINCRBY', KEYS[1], ARGV[j], ARGV[j + 1]) end
  end
  i = i + 3 + n + 2 * m
end
if tonumber(ARGV[2]) > position then redis.call('HSET', KEYS[1], ARGV[1], ARGV[2]) end
`;

/** Replaces the whole hash (counters and positions) with ARGV's field, value pairs. */
const REPLACE_REPORT = `
redis.call('DEL', KEYS[1])
if #ARGV > 0 then redis.call('HSET', KEYS[1], unpack(ARGV)) end
`;

type ReportScripts = {
  addReport(key: string, position: string, lastOffset: string, ...counted: (string | number)[]): Promise<unknown>;
  replaceReport(key: string, ...fieldValues: (string | number)[]): Promise<unknown>;
};

/** Position fields start with `@`, which no counter field (`<variant>:<role>:…`) does. */
const POSITION = '@';

/** One deployment's share of a Kafka batch of predictions. */
export interface ReportBatch {
  deployment: string;
  topic: string;
  partition: number;
  /** The last offset of this deployment's messages in the batch. */
  lastOffset: string;
  /** The messages whose prediction is counted (first copies), with what each adds (`reportCounts`). */
  counted: ({ offset: string } & ReportCounts)[];
}

/**
 * The deployment report's counters, one hash per deployment (`{<deployment>}:report`)
 * with fields `<variant>:<role>:requests|errors|lat:<bucket>|compared|agree…` (and a
 * bandit's integer inverse-propensity sums `<arm>:served:ipw@<version>…`), and
 * `@<topic>:<partition>` → the last offset of a predictions topic-partition counted in
 * it. The feedback joiner adds to it as it first stores each prediction, and rebuilds it
 * from the prediction topics when Redis was lost; the router and controller read it.
 */
@Injectable()
export class ReportStore {
  private readonly redis: RedisClient['redis'] & ReportScripts;

  constructor(private readonly client: RedisClient) {
    client.redis.defineCommand('addReport', { numberOfKeys: 1, lua: ADD_REPORT });
    client.redis.defineCommand('replaceReport', { numberOfKeys: 1, lua: REPLACE_REPORT });
    this.redis = client.redis as RedisClient['redis'] & ReportScripts;
  }

  key(deployment: string): string {
    return this.client.deploymentKey(deployment, 'report');
  }

  /** The counters, without the positions. */
  async read(deployment: string): Promise<Record<string, string>> {
    const all = await this.client.redis.hgetall(this.key(deployment));
    return Object.fromEntries(Object.entries(all).filter(([field]) => !field.startsWith(POSITION)));
  }

  /** Counts a batch's first-seen predictions, once per offset (the calls pipelined by the connection). */
  async add(batches: ReportBatch[]): Promise<void> {
    if (!batches.length) return;
    await Promise.all(
      batches.map((b) => {
        const counted = b.counted.flatMap(({ offset, fields, sums }) => [offset, fields.length, ...fields, sums.length, ...sums.flat()]);
        return this.redis.addReport(this.key(b.deployment), positionField(b.topic, b.partition), b.lastOffset, ...counted);
      }),
    );
  }

  /**
   * Replaces a deployment's report with a recount: `positions` are the last offsets the
   * recount covered, so later additions count only what follows.
   */
  async replace(deployment: string, counters: Map<string, number>, positions: { topic: string; partition: number; offset: string }[]): Promise<void> {
    const pairs: (string | number)[] = [...counters].flat();
    for (const { topic, partition, offset } of positions) pairs.push(positionField(topic, partition), offset);
    await this.redis.replaceReport(this.key(deployment), ...pairs);
  }
}

function positionField(topic: string, partition: number): string {
  return `${POSITION}${topic}:${partition}`;
}
