import type { ProducerBatch } from 'kafkajs';
import { BatchingProducer, MAX_REQUEST_BYTES } from './batching-producer';

/** A recording stand-in for kafkajs's Producer: this spec is about batching, not Kafka. */
function recorder(fail = false) {
  const batches: ProducerBatch[] = [];
  let release: () => void = () => undefined;
  const gate = new Promise<void>((resolve) => (release = resolve));
  return {
    batches,
    release,
    producer: {
      sendBatch: async (batch: ProducerBatch) => {
        batches.push(batch);
        await gate;
        if (fail) throw new Error('broker down');
        return [];
      },
    },
  };
}

const message = (key: string) => ({ key, value: `v-${key}` });

describe(BatchingProducer.name, () => {
  it('sends everything published in one event-loop turn as one batch, grouped by topic', async () => {
    const { batches, release, producer } = recorder();
    release();
    const sut = new BatchingProducer(producer);
    await Promise.all([sut.send('a', [message('1'), message('2')]), sut.send('b', [message('3')]), sut.send('a', [message('4')])]);
    expect(batches).toHaveLength(1);
    expect(batches[0].topicMessages).toEqual([
      { topic: 'a', messages: [message('1'), message('2'), message('4')] },
      { topic: 'b', messages: [message('3')] },
    ]);
  });

  it('settles a caller only when its batch is acknowledged', async () => {
    const { release, producer } = recorder();
    const sut = new BatchingProducer(producer);
    let settled = false;
    const sent = sut.send('a', [message('1')]).then(() => (settled = true));
    await new Promise((resolve) => setImmediate(resolve));
    expect(settled).toBe(false);
    release();
    await sent;
    expect(settled).toBe(true);
  });

  it('rejects every caller of a failed batch', async () => {
    const { release, producer } = recorder(true);
    release();
    const sut = new BatchingProducer(producer);
    await expect(Promise.all([sut.send('a', [message('1')]), sut.send('a', [message('2')])])).rejects.toThrow('broker down');
  });

  it('sends a full batch queued while every request slot was busy once a slot frees, with no later send', async () => {
    const { batches, release, producer } = recorder();
    const sut = new BatchingProducer(producer, { maxBatch: 2, maxInFlight: 1 });
    const first = sut.send('a', [message('1')]);
    await new Promise((resolve) => setImmediate(resolve));
    const full = sut.send('a', [message('2'), message('3')]);
    release();
    await first;
    const outcome = await Promise.race([full.then(() => 'sent'), new Promise((resolve) => setTimeout(() => resolve('stuck'), 500))]);
    expect(outcome).toBe('sent');
    expect(batches.map((b) => b.topicMessages?.[0].messages.length)).toEqual([1, 2]);
  });

  it('splits at maxBatch and flush() waits for everything queued', async () => {
    const { batches, release, producer } = recorder();
    release();
    const sut = new BatchingProducer(producer, { maxBatch: 2 });
    void sut.send('a', ['1', '2', '3', '4', '5'].map(message));
    await sut.flush();
    expect(batches.map((b) => b.topicMessages![0].messages.length)).toEqual([2, 2, 1]);
    expect(sut.pending).toBe(0);
  });

  it('keeps each request under MAX_REQUEST_BYTES, so large events never exceed the broker limit', async () => {
    const { batches, release, producer } = recorder();
    release();
    const sut = new BatchingProducer(producer);
    const big = (key: string) => ({ key, value: 'x'.repeat(200 * 1024) });
    await sut.send('a', ['1', '2', '3', '4', '5'].map(big));
    expect(batches.map((b) => b.topicMessages![0].messages.length)).toEqual([2, 2, 1]);
    for (const b of batches) {
      const bytes = b.topicMessages![0].messages.reduce((n, m) => n + (m.value as string).length + (m.key as string).length, 0);
      expect(bytes).toBeLessThanOrEqual(MAX_REQUEST_BYTES);
    }
  });

  it('still sends a single message larger than the bound, on its own', async () => {
    const { batches, release, producer } = recorder();
    release();
    const sut = new BatchingProducer(producer);
    await sut.send('a', [{ key: 'huge', value: 'x'.repeat(MAX_REQUEST_BYTES + 1) }, message('small')]);
    expect(batches.map((b) => b.topicMessages![0].messages.length)).toEqual([1, 1]);
  });

  describe('adaptive linger', () => {
    beforeEach(() => jest.useFakeTimers());
    afterEach(() => jest.useRealTimers());

    /**
     * Sends one message every `gapMs` (fake time) to a broker that acknowledges each request
     * `ackMs` later; answers the size of each request and the longest wait of a message.
     */
    async function paced(options: { lingerMs: number; targetBatch?: number }, gapMs: number, count: number, ackMs = 0) {
      const { batches, release, producer } = recorder();
      release();
      const sentAt = new Map<string, number>();
      let longestWait = 0;
      const sut = new BatchingProducer(
        {
          sendBatch: async (batch) => {
            for (const m of batch.topicMessages![0].messages) longestWait = Math.max(longestWait, Date.now() - sentAt.get(m.key as string)!);
            if (ackMs) await new Promise((resolve) => setTimeout(resolve, ackMs));
            return producer.sendBatch(batch);
          },
        },
        { ...options, maxInFlight: 1, now: () => Date.now() },
      );
      const sent: Promise<void>[] = [];
      for (let i = 0; i < count; i++) {
        sentAt.set(String(i), Date.now());
        sent.push(sut.send('a', [message(String(i))]));
        await jest.advanceTimersByTimeAsync(gapMs);
      }
      await jest.advanceTimersByTimeAsync(100);
      await Promise.all(sent);
      const sizes = batches.map((b) => b.topicMessages![0].messages.length);
      expect(sizes.reduce((a, n) => a + n, 0)).toBe(count);
      return { sizes, longestWait };
    }

    it('gathers messages that come faster than the linger into shared requests, none waiting longer than the linger', async () => {
      const { sizes, longestWait } = await paced({ lingerMs: 5 }, 1, 40);
      expect(sizes.length).toBeLessThanOrEqual(10);
      expect(longestWait).toBeLessThanOrEqual(5);
    });

    it('keeps lingering while a request is in flight, so requests are not cut at each acknowledgement', async () => {
      // 1 message a ms, 20 ms of linger, a 3 ms round trip: ≈ 20 a request, not the ≈ 3 of one round trip.
      const { sizes, longestWait } = await paced({ lingerMs: 20, targetBatch: 64 }, 1, 200, 3);
      expect(sizes.length).toBeLessThanOrEqual(14);
      expect(longestWait).toBeLessThanOrEqual(20 + 3);
    });

    it('sends messages whose linger ended during a request in flight with its acknowledgement', async () => {
      // A 30 ms round trip outlasts the 5 ms linger: what queued meanwhile goes at once when it ends.
      const { sizes, longestWait } = await paced({ lingerMs: 5 }, 1, 100, 30);
      expect(sizes.length).toBeLessThanOrEqual(6);
      expect(longestWait).toBeLessThanOrEqual(30 + 1);
    });

    it('does not linger when the next message is not expected within the linger', async () => {
      const { sizes, longestWait } = await paced({ lingerMs: 5 }, 20, 5);
      expect(sizes).toEqual([1, 1, 1, 1, 1]);
      expect(longestWait).toBe(0);
    });

    it('lingers only as long as the target batch is expected to take', async () => {
      const { sizes, longestWait } = await paced({ lingerMs: 50, targetBatch: 4 }, 1, 40);
      expect(Math.max(...sizes)).toBeLessThanOrEqual(4);
      expect(longestWait).toBeLessThanOrEqual(4);
    });

    it('ends a linger as soon as the target batch waits', async () => {
      const { batches, release, producer } = recorder();
      release();
      const sut = new BatchingProducer(producer, { lingerMs: 50, targetBatch: 3, maxInFlight: 1, now: () => Date.now() });
      void sut.send('a', [message('first')]);
      await jest.advanceTimersByTimeAsync(10);
      expect(batches).toHaveLength(1);
      // 10 ms after the first: three messages are expected to take 20 ms, so this one lingers.
      void sut.send('a', [message('1')]);
      await jest.advanceTimersByTimeAsync(0);
      void sut.send('a', [message('2')]);
      await jest.advanceTimersByTimeAsync(0);
      expect(batches).toHaveLength(1);
      void sut.send('a', [message('3')]);
      await jest.advanceTimersByTimeAsync(0);
      expect(batches).toHaveLength(2);
      expect(batches[1].topicMessages![0].messages.map((m) => m.key)).toEqual(['1', '2', '3']);
    });
  });
});
