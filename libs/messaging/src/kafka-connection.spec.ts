import { KafkaConnection } from './kafka-connection';
import { partitionForKey } from './partitioner';

const mockAdmin = {
  connect: jest.fn(async () => undefined),
  disconnect: jest.fn(async () => undefined),
  describeCluster: jest.fn(async () => ({ brokers: [{ nodeId: 1 }, { nodeId: 2 }] })),
  fetchTopicMetadata: jest.fn(async () => ({ topics: [{ partitions: [{}, {}, {}, {}, {}, {}] }] })),
  fetchTopicOffsets: jest.fn(async () => [{ partition: 0, offset: '9', low: '2', high: '9' }]),
};
const mockAdmins = jest.fn(() => mockAdmin);

jest.mock('kafkajs', () => ({ ...jest.requireActual('kafkajs'), Kafka: jest.fn(() => ({ admin: mockAdmins })) }));

describe(KafkaConnection.name, () => {
  beforeEach(() => jest.clearAllMocks());
  const make = () => new KafkaConnection({ brokers: ['b:9092'] });

  it('makes one admin client, connected once, for every lookup', async () => {
    const sut = make();
    await Promise.all([sut.brokerCount(), sut.topicOffsets('t'), sut.partitionCount('t')]);
    expect(await sut.brokerCount()).toBe(2);
    expect(await sut.topicOffsets('t')).toEqual([{ partition: 0, low: '2', high: '9' }]);
    expect(mockAdmins).toHaveBeenCalledTimes(1);
    expect(mockAdmin.connect).toHaveBeenCalledTimes(1);
  });

  it('connects again on the next call after a failed connect', async () => {
    const sut = make();
    mockAdmin.connect.mockRejectedValueOnce(new Error('no broker'));
    await expect(sut.brokerCount()).rejects.toThrow('no broker');
    expect(await sut.brokerCount()).toBe(2);
    expect(mockAdmin.connect).toHaveBeenCalledTimes(2);
  });

  it("looks a topic's partition count up once, and answers the partition of a key as every producer chooses it", async () => {
    const sut = make();
    expect(await sut.partitionOf('t', 'churn')).toBe(partitionForKey('churn', 6));
    expect(await sut.partitionCount('t')).toBe(6);
    expect(mockAdmin.fetchTopicMetadata).toHaveBeenCalledTimes(1);
  });

  it('disconnects the admin client on close and answers nothing after', async () => {
    const sut = make();
    await sut.brokerCount();
    await sut.close();
    expect(mockAdmin.disconnect).toHaveBeenCalledTimes(1);
    await expect(sut.brokerCount()).rejects.toThrow('closed');
  });
});
