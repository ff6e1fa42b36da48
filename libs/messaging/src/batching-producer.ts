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
  /** Extra time to wait for more messages before a flush (kafkajs has no linger). @default 0 */
  lingerMs?: number;
  /** Concurrent `sendBatch` calls. @default 4 */
  maxInFlight?: number;
}

/**
 * Coalesces every message sent in the same event-loop turn (or linger window) into one
 * `sendBatch`, because one awaited send per message is an order of magnitude slower.
 * Each caller still gets a promise that settles when *its* message is acknowledged.
 */
export class BatchingProducer {
  private queue: Pending[] = [];
  private scheduled = false;
  private inFlight = 0;
  private readonly idle: (() => void)[] = [];
  private readonly maxBatch: number;
  private readonly lingerMs: number;
  private readonly maxInFlight: number;

  constructor(
    private readonly producer: Pick<Producer, 'sendBatch'>,
    options: BatchingOptions = {},
  ) {
    this.maxBatch = options.maxBatch ?? MAX_REQUEST_MESSAGES;
    this.lingerMs = options.lingerMs ?? 0;
    this.maxInFlight = options.maxInFlight ?? 4;
  }

  send(topic: string, messages: OutboundMessage[]): Promise<void> {
    const acknowledged = messages.map(
      (message) => new Promise<void>((resolve, reject) => this.queue.push({ topic, message, size: messageSize(message), settle: { resolve, reject } })),
    );
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

  private schedule(): void {
    if (this.queue.length >= this.maxBatch) return this.drain();
    if (this.scheduled) return;
    this.scheduled = true;
    const run = () => {
      this.scheduled = false;
      this.drain();
    };
    if (this.lingerMs > 0) setTimeout(run, this.lingerMs);
    else setImmediate(run);
  }

  private drain(): void {
    while (this.queue.length && this.inFlight < this.maxInFlight) {
      const batch = this.queue.splice(0, this.requestLength());
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
      if (this.queue.length) this.drain();
      else if (this.inFlight === 0) this.idle.splice(0).forEach((resolve) => resolve());
    }
  }
}
