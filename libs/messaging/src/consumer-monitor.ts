import { Logger } from '@nestjs/common';
import { Counter, Gauge } from 'prom-client';
import { PeriodicTask } from '@switchyard/runtime';
import { describeError } from './failures';
import type { OffsetLookups } from './kafka-connection';

/** The monitors of this process's running consumers: `switchyard_consumer_stalled` is read from them at each scrape. */
const running = new Set<ConsumerMonitor>();

/** Why a consumer cannot make progress, as the `reason` label says it. */
export const STALL_REASONS = ['crashed', 'failing', 'no-progress'] as const;
export type StallReason = (typeof STALL_REASONS)[number];

export const consumerMetrics = {
  lag: new Gauge({
    name: 'switchyard_consumer_lag',
    help: "Messages between the group's committed offset and the partition's high-water mark, for the partitions this process holds; sampled every CONSUMER_LAG_INTERVAL_MS",
    labelNames: ['group', 'topic', 'partition'],
  }),
  failures: new Counter({
    name: 'switchyard_consumer_failures_total',
    help: 'Failed attempts at a batch or message, by kind (transient: retried without limit; permanent: counted towards POISON_ATTEMPTS)',
    labelNames: ['group', 'topic', 'kind'],
  }),
  deadLettered: new Counter({
    name: 'switchyard_consumer_dlq_total',
    help: 'Messages sent to the DLQ, by cause (invalid: refused by the handler; poison: failed POISON_ATTEMPTS times)',
    labelNames: ['group', 'topic', 'cause'],
  }),
  crashes: new Counter({
    name: 'switchyard_consumer_crashes_total',
    help: 'kafkajs consumer crashes, by whether kafkajs restarts the consumer',
    labelNames: ['group', 'restart'],
  }),
  stalled: new Gauge({
    name: 'switchyard_consumer_stalled',
    help: "What of a consumer cannot make progress, by why: crashed (kafkajs gave up on it: 1), failing (partitions whose head message failed CONSUMER_STUCK_ATTEMPTS times), no-progress (partitions with lag and no commit for the stall time); the group's /readyz says which partition and the error",
    labelNames: ['group', 'reason'],
    collect() {
      for (const monitor of running) {
        const counts = new Map<StallReason, number>(STALL_REASONS.map((reason) => [reason, 0]));
        for (const { reason } of monitor.stalls()) counts.set(reason, counts.get(reason)! + 1);
        for (const [reason, n] of counts) this.set({ group: monitor.groupId, reason }, n);
      }
    },
  }),
};

interface PartitionState {
  /** Last time this process saw the partition move: a commit of ours, or the committed offset changing. */
  progressAt: number;
  committed?: string;
  lag?: number;
  /** The message at the head of the partition that keeps failing, if one does. */
  failing?: { offset: string; attempts: number; reason: string };
}

export interface ConsumerMonitorOptions {
  offsets: OffsetLookups;
  groupId: string;
  topics: string[];
  /** Failed attempts on one message (of any kind) after which the partition counts as stuck. */
  stuckAttempts: number;
  stallMs: number;
  intervalMs: number;
}

/**
 * What `/readyz` and `/metrics` know about a consumer: the lag of the partitions it holds
 * (committed offsets against high-water marks, read periodically with one lookup per
 * topic), whether one of them is stuck on a message or stalled with lag, and whether
 * kafkajs gave up on the consumer for good.
 */
export class ConsumerMonitor {
  private readonly log = new Logger(ConsumerMonitor.name);
  private readonly partitions = new Map<string, PartitionState>();
  private readonly task: PeriodicTask;
  private crashed?: string;

  constructor(private readonly options: ConsumerMonitorOptions) {
    this.task = new PeriodicTask(
      () => this.sample(),
      options.intervalMs,
      (error) => this.log.warn({ groupId: options.groupId, error: describeError(error) }, 'could not sample consumer lag'),
    );
  }

  get groupId(): string {
    return this.options.groupId;
  }

  start(): void {
    running.add(this);
    this.task.start();
  }

  async stop(): Promise<void> {
    running.delete(this);
    for (const reason of STALL_REASONS) consumerMetrics.stalled.remove({ group: this.options.groupId, reason });
    await this.task.stop();
  }

  /** The partitions this member holds after a rebalance (kafkajs GROUP_JOIN's memberAssignment). */
  assigned(assignment: Record<string, number[]>): void {
    const now = Date.now();
    const keep = new Set<string>();
    for (const [topic, partitions] of Object.entries(assignment)) {
      for (const partition of partitions) {
        const key = `${topic}/${partition}`;
        keep.add(key);
        if (!this.partitions.has(key)) this.partitions.set(key, { progressAt: now });
      }
    }
    for (const key of [...this.partitions.keys()]) {
      if (keep.has(key)) continue;
      this.partitions.delete(key);
      const [topic, partition] = splitKey(key);
      consumerMetrics.lag.remove({ group: this.options.groupId, topic, partition });
    }
  }

  progressed(topic: string, partition: number): void {
    const state = this.state(topic, partition);
    state.progressAt = Date.now();
    state.failing = undefined;
  }

  failed(topic: string, partition: number, offset: string, attempts: number, reason: string): void {
    this.state(topic, partition).failing = { offset, attempts, reason };
  }

  crashedForGood(error: unknown): void {
    this.crashed = describeError(error);
  }

  /** What cannot make progress, and why in words: what `/readyz` and `switchyard_consumer_stalled` say. */
  stalls(now = Date.now()): { reason: StallReason; text: string }[] {
    const stalls: { reason: StallReason; text: string }[] = [];
    if (this.crashed) stalls.push({ reason: 'crashed', text: `consumer ${this.options.groupId} crashed and will not restart: ${this.crashed}` });
    for (const [key, state] of this.partitions) {
      if (state.failing && state.failing.attempts >= this.options.stuckAttempts) {
        stalls.push({
          reason: 'failing',
          text: `${key} stuck at offset ${state.failing.offset} after ${state.failing.attempts} failed attempts: ${state.failing.reason}`,
        });
      } else if ((state.lag ?? 0) > 0 && now - state.progressAt > this.options.stallMs) {
        stalls.push({ reason: 'no-progress', text: `${key} made no progress for ${Math.round((now - state.progressAt) / 1000)} s with lag ${state.lag}` });
      }
    }
    return stalls;
  }

  /** Why this consumer is not ready, or nothing. */
  problems(now = Date.now()): string[] {
    return this.stalls(now).map(({ text }) => text);
  }

  async sample(): Promise<void> {
    const topics = [...new Set([...this.partitions.keys()].map((key) => splitKey(key)[0]))];
    if (!topics.length) return;
    const committed = await this.options.offsets.committedOffsets(this.options.groupId, topics);
    const now = Date.now();
    for (const topic of topics) {
      const at = new Map(committed.find((c) => c.topic === topic)?.partitions.map((p) => [p.partition, p.offset]) ?? []);
      for (const { partition, high, low } of await this.options.offsets.topicOffsets(topic)) {
        const state = this.partitions.get(`${topic}/${partition}`);
        if (!state) continue;
        const offset = at.get(partition) ?? '-1';
        const lag = Math.max(0, Number(high) - (Number(offset) < 0 ? Number(low) : Number(offset)));
        if (state.committed !== undefined && state.committed !== offset) state.progressAt = now;
        state.committed = offset;
        state.lag = lag;
        consumerMetrics.lag.set({ group: this.options.groupId, topic, partition: String(partition) }, lag);
      }
    }
  }

  private state(topic: string, partition: number): PartitionState {
    const key = `${topic}/${partition}`;
    let state = this.partitions.get(key);
    if (!state) this.partitions.set(key, (state = { progressAt: Date.now() }));
    return state;
  }
}

function splitKey(key: string): [string, string] {
  const slash = key.lastIndexOf('/');
  return [key.slice(0, slash), key.slice(slash + 1)];
}
