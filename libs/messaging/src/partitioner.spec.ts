import { randomUUID } from 'node:crypto';
import { Partitioners, PartitionerArgs } from 'kafkajs';
import { javaCompatiblePartitioner, murmur2, partitionForKey } from './partitioner';
// kafkajs's own murmur2, the reference this one must equal bit for bit.
// eslint-disable-next-line @typescript-eslint/no-require-imports
const kafkajsMurmur2 = require('kafkajs/src/producer/partitioners/default/murmur2') as (key: Buffer | string) => number;

describe('murmur2', () => {
  it("equals kafkajs's (and so the Java client's) murmur2 for keys of every length and for UTF-8", () => {
    const keys = ['', 'a', 'ab', 'abc', 'abcd', 'abcde', 'churn-bandit-wave-3-17', 'čšž-ключ-🔑', ...Array.from({ length: 500 }, () => randomUUID())];
    for (const key of keys) expect(murmur2(key)).toBe(kafkajsMurmur2(key));
    expect(murmur2(Buffer.from([0xff, 0x80, 0x00, 0x7f, 0xfe]))).toBe(kafkajsMurmur2(Buffer.from([0xff, 0x80, 0x00, 0x7f, 0xfe])));
  });

  it('matches known Java client values', () => {
    // org.apache.kafka.common.utils.Utils.murmur2 test vectors (UtilsTest.testMurmur2).
    expect(murmur2(Buffer.from('21'))).toBe(-973932308);
    expect(murmur2(Buffer.from('foobar'))).toBe(-790332482);
    expect(murmur2(Buffer.from('a-little-bit-long-string'))).toBe(-985981536);
    expect(murmur2(Buffer.from('a-little-bit-longer-string'))).toBe(-1486304829);
    expect(murmur2(Buffer.from('lkjh234lh9fiuh90y23oiuhsafujhadof229phr9h19h89h8'))).toBe(-58897971);
  });
});

describe('javaCompatiblePartitioner', () => {
  const partitionMetadata = Array.from({ length: 6 }, (_, partitionId) => ({ partitionId, leader: 1, partitionErrorCode: 0, replicas: [1], isr: [1] }));
  const args = (key: string | null, partition?: number): PartitionerArgs => ({ topic: 't', partitionMetadata, message: { key, value: 'v', partition } });

  it('chooses the partition kafkajs DefaultPartitioner chooses for every keyed message', () => {
    const ours = javaCompatiblePartitioner();
    const theirs = Partitioners.DefaultPartitioner();
    for (let i = 0; i < 500; i++) {
      const key = randomUUID();
      expect(ours(args(key))).toBe(theirs(args(key)));
    }
  });

  it('keeps an explicit partition, and spreads unkeyed messages round-robin', () => {
    const ours = javaCompatiblePartitioner();
    expect(ours(args('k', 4))).toBe(4);
    const chosen = Array.from({ length: 12 }, () => ours(args(null)));
    expect(new Set(chosen).size).toBe(6);
    expect(chosen.slice(6)).toEqual(chosen.slice(0, 6));
  });
});

describe('partitionForKey', () => {
  it("is the Java client's choice: murmur2 made positive, modulo the count (Kafka's own test vectors)", () => {
    // -973932308 & 0x7fffffff = 1173551340; -790332482 & 0x7fffffff = 1357151166.
    expect(partitionForKey('21', 1000)).toBe(340);
    expect(partitionForKey('foobar', 7)).toBe(1357151166 % 7);
    for (const key of ['a', 'b', 'request-1']) expect(partitionForKey(key, 1)).toBe(0);
  });
});
