import type { Message, Producer, TopicMessages } from 'kafkajs';
import { Histogram } from 'prom-client';

// Batch size is what producer cost depends on (kafkajs spends per request, not per byte).
const batchMessages = new Histogram({
  name: 'switchyard_producer_batch_messages',
  help: 'Messages per Kafka produce request sent by the batching producer',
  buckets: [1, 2, 5, 10, 20, 50, 100, 200, 500, 1000],
});

export interface OutboundMessage {
  key: string | null;
  value: string | Buffer;
  headers?: Record<string, string>;
}

/**
 * Bounds of one produce request: what is sent at once, even to one partition, must stay
 * under the broker's message.max.bytes (1 MB by default).
 */
export const MAX_REQUEST_MESSAGES = 1000;
export const MAX_REQUEST_BYTES = 512 * 1024;

/** Approximate size of a message in a produce request (key and value; strings count their length). */
export const messageSize = (message: Pick<Message, 'key' | 'value'>) => (message.key?.length ?? 0) + (message.value?.length ?? 0);

interface Pending {
  topic: string;
  message: Message;
  size: number;
  settle: { resolve: () => void; reject: (error: Error) => void };
}

export interface BatchingOptions {
  /** Flush as soon as this many messages wait; also the most one request carries. @default MAX_REQUEST_MESSAGES */
  maxBatch?: number;
  /**
   * Longest a message waits for others before a flush (kafkajs has no linger). The wait
   * adapts to the rate (see `BatchingProducer`); 0: always send on the next turn. @default 0
   */
  lingerMs?: number;
  /** A linger ends as soon as this many messages wait. @default LINGER_TARGET_BATCH */
  targetBatch?: number;
  /** Concurrent `sendBatch` calls. @default 4 */
  maxInFlight?: number;
  /** Clock in ms (tests). @default performance.now */
  now?: () => number;
}

/**
 * A small produce request costs the broker ≈ 200 µs of CPU whatever it carries (bench,
 * issue #18): 8 messages a request bring that near 25 µs a message.
 */
export const LINGER_TARGET_BATCH = 8;
/** Weight of the newest gap in the moving average of the gaps between sends. */
const GAP_SMOOTHING = 0.2;

/**
 * Coalesces every message sent in the same event-loop turn (or linger window) into one
 * `sendBatch`, because one awaited send per message is an order of magnitude slower.
 * Each caller still gets a promise that settles when *its* message is acknowledged.
 *
 * The linger is adaptive, so moderate rates do not cost one produce request per
 * message while sparse ones pay no wait for nothing: from a moving average of the gap
 * between sends, a message lingers only when the next is expected within `lingerMs`,
 * and then only as long as `targetBatch` messages are expected to take (never more
 * than `lingerMs`); the linger ends early once `targetBatch` messages wait. Messages
 * that queue while every request slot is busy keep their linger too, and leave with the
 * next acknowledgement once it is over; at saturation the expected gap is tiny, so it is.
 */
export class BatchingProducer {
  private queue: Pending[] = [];
  private scheduled = false;
  private timer: NodeJS.Timeout | undefined;
  private inFlight = 0;
  /** Queued messages whose wait is over but that found every request slot busy: they go with the next acknowledgement. */
  private ready = 0;
  private readonly idle: (() => void)[] = [];
  private readonly maxBatch: number;
  private readonly lingerMs: number;
  private readonly targetBatch: number;
  private readonly maxInFlight: number;
  private readonly now: () => number;
  private lastSendAt: number | undefined;
  /** Moving average of the ms between sends; infinite until two sends were seen. */
  private gapMs = Infinity;

  constructor(
    private readonly producer: Pick<Producer, 'sendBatch'>,
    options: BatchingOptions = {},
  ) {
    this.maxBatch = options.maxBatch ?? MAX_REQUEST_MESSAGES;
    this.lingerMs = options.lingerMs ?? 0;
    this.targetBatch = Math.min(options.targetBatch ?? LINGER_TARGET_BATCH, this.maxBatch);
    this.maxInFlight = options.maxInFlight ?? 4;
    this.now = options.now ?? (() => performance.now());
  }

  send(topic: string, messages: OutboundMessage[]): Promise<void> {
    const acknowledged = messages.map(
      (message) => new Promise<void>((resolve, reject) => this.queue.push({ topic, message, size: messageSize(message), settle: { resolve, reject } })),
    );
    if (this.lingerMs > 0) this.observeSend();
    this.schedule();
    // One message per call is the router's hot path: no Promise.all around it.
    return acknowledged.length === 1 ? acknowledged[0] : Promise.all(acknowledged).then(() => undefined);
  }

  get pending(): number {
    return this.queue.length + this.inFlight;
  }

  /** Resolves once everything queued so far has been acknowledged or failed. */
  async flush(): Promise<void> {
    this.drain();
    if (this.pending === 0) return;
    await new Promise<void>((resolve) => this.idle.push(resolve));
  }

  private observeSend(): void {
    const now = this.now();
    if (this.lastSendAt !== undefined) {
      const gap = now - this.lastSendAt;
      this.gapMs = Number.isFinite(this.gapMs) ? this.gapMs + GAP_SMOOTHING * (gap - this.gapMs) : gap;
    }
    this.lastSendAt = now;
  }

  /** How long the queue should wait for more messages: 0 when none is expected within lingerMs. */
  private lingerFor(waiting: number): number {
    if (this.lingerMs <= 0 || waiting >= this.targetBatch || this.gapMs >= this.lingerMs) return 0;
    return Math.min(this.lingerMs, (this.targetBatch - waiting) * this.gapMs);
  }

  private schedule(): void {
    // A full batch waits for nothing more: `run`, so that it also counts as ready when every slot is busy.
    if (this.queue.length >= this.maxBatch) return this.run();
    if (this.timer && this.queue.length >= this.targetBatch) return this.run();
    if (this.scheduled) return;
    this.scheduled = true;
    const linger = this.lingerFor(this.queue.length);
    if (linger > 0) this.timer = setTimeout(() => this.run(), linger);
    else setImmediate(() => this.run());
  }

  /** The wait of everything queued is over: sent now, or with the next acknowledgement when every slot is busy. */
  private run(): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
    this.scheduled = false;
    this.ready = this.queue.length;
    this.drain();
  }

  private drain(): void {
    while (this.queue.length && this.inFlight < this.maxInFlight) {
      const batch = this.queue.splice(0, this.requestLength());
      this.ready = Math.max(0, this.ready - batch.length);
      this.inFlight++;
      void this.sendOne(batch);
    }
  }

  /** How many queued messages the next request takes: at most maxBatch and MAX_REQUEST_BYTES, at least one. */
  private requestLength(): number {
    let bytes = 0;
    let n = 0;
    while (n < this.queue.length && n < this.maxBatch && (n === 0 || bytes + this.queue[n].size <= MAX_REQUEST_BYTES)) bytes += this.queue[n++].size;
    return n;
  }

  private async sendOne(batch: Pending[]): Promise<void> {
    const byTopic = new Map<string, Message[]>();
    for (const { topic, message } of batch) {
      const messages = byTopic.get(topic) ?? byTopic.set(topic, []).get(topic)!;
      messages.push(message);
    }
    const topicMessages: TopicMessages[] = [...byTopic].map(([topic, messages]) => ({ topic, messages }));
    batchMessages.observe(batch.length);
    try {
      await this.producer.sendBatch({ topicMessages });
      batch.forEach(({ settle }) => settle.resolve());
    } catch (error) {
      batch.forEach(({ settle }) => settle.reject(error as Error));
    } finally {
      this.inFlight--;
      // Messages that came while this batch was in flight keep their own linger unless it
      // is over (or a flush waits): sending them at once would cut every batch at the
      // previous one's acknowledgement, one round trip's worth of messages (at 1000 msg/s
      // with 20 ms of linger, ≈ 10 a request instead of ≈ 20, bench issue #18).
      if (this.queue.length && (this.ready > 0 || this.idle.length)) this.drain();
      else if (this.inFlight === 0 && !this.queue.length) this.idle.splice(0).forEach((resolve) => resolve());
    }
  }
}
