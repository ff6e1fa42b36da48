import { Injectable } from '@nestjs/common';
import type { ReportedBatch } from '@switchyard/strategies';
import type { CheckpointedHash } from '@switchyard/contracts';
import { snapshotHashes } from './hash-snapshot';
import { NotedDeployments } from './noted-deployments';
import { RedisClient } from './redis.client';

/** Position fields start with `@`, which no counter field (`<variant>:<role>:…`) does. */
const POSITION = '@';

/** One deployment's share of a Kafka batch of predictions. */
export interface ReportBatch extends ReportedBatch {
  deployment: string;
}

/**
 * The deployment report's counters, one hash per deployment (`{<deployment>}:report`)
 * with fields `<variant>:<role>:requests|errors|lat:<bucket>|compared|agree…` (and a
 * bandit's integer inverse-propensity sums `<arm>:served:ipw@<version>…`), and
 * `@<topic>:<partition>` → the last offset of a predictions topic-partition counted in
 * it. The feedback joiner adds to it as it first stores each prediction, and rebuilds it
 * from the prediction topics when Redis was lost; the router and controller read it.
 * `lua/add-report.lua` counts; `ReportLedger` of libs/strategies is its reference.
 */
@Injectable()
export class ReportStore {
  /** Every deployment with a report (`report:deployments`): what a checkpoint takes. */
  readonly deployments: NotedDeployments;

  constructor(private readonly client: RedisClient) {
    this.deployments = new NotedDeployments(client, 'report:deployments');
  }

  key(deployment: string): string {
    return this.client.deploymentKey(deployment, 'report');
  }

  /** The whole report, counters and positions, as it is at one instant: its checkpoint (kind `report`). */
  snapshot(deployment: string): Promise<Record<string, CheckpointedHash>> {
    return snapshotHashes(this.client, deployment, ['report']);
  }

  /** A checkpointed report's counters and its positions (`topic:partition` → last offset counted). */
  static parseSnapshot(hash: CheckpointedHash | undefined): { counters: Map<string, number>; positions: Map<string, bigint> } {
    const counters = new Map<string, number>();
    const positions = new Map<string, bigint>();
    for (const [field, value] of Object.entries(hash?.fields ?? {})) {
      if (field.startsWith(POSITION)) {
        if (/^\d{1,18}$/.test(value)) positions.set(field.slice(POSITION.length), BigInt(value));
      } else if (Number.isFinite(Number(value))) counters.set(field, Number(value));
    }
    return { counters, positions };
  }

  /** The counters, without the positions. */
  async read(deployment: string): Promise<Record<string, string>> {
    const all = await this.client.redis.hgetall(this.key(deployment));
    return Object.fromEntries(Object.entries(all).filter(([field]) => !field.startsWith(POSITION)));
  }

  /** Counts a batch's first-seen predictions, once per offset (the calls pipelined by the connection). */
  async add(batches: ReportBatch[]): Promise<void> {
    if (!batches.length) return;
    await this.deployments.note(batches.map((b) => b.deployment));
    await Promise.all(
      batches.map((b) => {
        const counted = b.counted.flatMap(({ offset, fields, sums }) => [offset, fields.length, ...fields, sums.length, ...sums.flat()]);
        return this.client.redis.addReport(this.key(b.deployment), positionField(b.topic, b.partition), b.lastOffset, ...counted);
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
    await this.client.redis.replaceReport(this.key(deployment), ...pairs);
    await this.deployments.note([deployment]);
  }
}

function positionField(topic: string, partition: number): string {
  return `${POSITION}${topic}:${partition}`;
}
