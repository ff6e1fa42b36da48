import type { Message, PartitionerArgs, ProducerBatch, RecordMetadata } from 'kafkajs';
import { recordingPartitioner, sendBatchCompletely } from './complete-send';

describe(sendBatchCompletely.name, () => {
  const byKey = recordingPartitioner(
    () =>
      ({ message }: PartitionerArgs) =>
        Number(message.key),
  );
  // A fake kafkajs: partitions every message, "writes" them, and answers for the partitions it wrote.
  function fakeProducer(dropOnce: Set<number>) {
    const written: { partition: number; key: string }[] = [];
    const partition = byKey();
    const send = jest.fn(async ({ topicMessages }: ProducerBatch): Promise<RecordMetadata[]> => {
      const answer: RecordMetadata[] = [];
      for (const { topic, messages } of topicMessages!) {
        const parts = new Set<number>();
        for (const message of messages) {
          const p = partition({ topic, partitionMetadata: [], message });
          if (dropOnce.has(p)) continue;
          written.push({ partition: p, key: String(message.key) });
          parts.add(p);
        }
        for (const p of parts) answer.push({ topicName: topic, partition: p, errorCode: 0 });
      }
      dropOnce.clear();
      return answer;
    });
    return { send, written };
  }

  it('sends again, pinned to their partition, the messages of a partition missing from the answer', async () => {
    const { send, written } = fakeProducer(new Set([1]));
    const messages: Message[] = ['0', '1', '2', '1'].map((key) => ({ key, value: key }));
    const resent = jest.fn();
    await sendBatchCompletely(send, { topicMessages: [{ topic: 't', messages }] }, resent);
    expect(send).toHaveBeenCalledTimes(2);
    expect(send.mock.calls[1][0].topicMessages).toEqual([
      {
        topic: 't',
        messages: [
          { key: '1', value: '1', partition: 1 },
          { key: '1', value: '1', partition: 1 },
        ],
      },
    ]);
    expect(written.map((w) => w.key).sort()).toEqual(['0', '1', '1', '2']);
    expect(resent).toHaveBeenCalledWith([{ topic: 't', partitions: [1] }]);
  });

  it('sends once when every partition answered', async () => {
    const { send } = fakeProducer(new Set());
    await sendBatchCompletely(send, { topicMessages: [{ topic: 't', messages: [{ key: '0', value: 'a' }] }] });
    expect(send).toHaveBeenCalledTimes(1);
  });
});
