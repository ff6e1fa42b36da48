import type { TopicMessages } from 'kafkajs';
import { produceRequests } from './consumer.server';

describe(produceRequests.name, () => {
  const messages = (n: number, bytes: number) => Array.from({ length: n }, (_, i) => ({ key: `k${i}`.padEnd(4, '-'), value: 'x'.repeat(bytes - 4) }));

  it('keeps every message, in order, in requests of at most 1000 messages and about 512 KB', () => {
    const input: TopicMessages[] = [
      { topic: 'joined', messages: messages(2500, 100) },
      { topic: 'dlq', messages: messages(3, 100) },
      { topic: 'big', messages: messages(300, 4096) },
    ];
    const requests = [...produceRequests(input)];
    for (const request of requests) {
      const all = request.flatMap((t) => t.messages);
      expect(all.length).toBeLessThanOrEqual(1000);
      expect(all.reduce((a, m) => a + String(m.key).length + String(m.value).length, 0)).toBeLessThanOrEqual(512 * 1024);
    }
    const flattened = (list: TopicMessages[]) => list.flatMap((t) => t.messages.map((m) => `${t.topic}/${String(m.key)}`));
    expect(flattened(requests.flat())).toEqual(flattened(input));
  });

  it('yields nothing for no messages', () => {
    expect([...produceRequests([{ topic: 'joined', messages: [] }])]).toEqual([]);
  });
});
