import { envelope, PredictionEvent } from '@switchyard/contracts';
import { EXPIRY_GRACE_SECONDS, feedbackRecord, joinTiming, predictionRecord, reportBatches } from './join.records';

const prediction = (deployment: string, extra: Partial<PredictionEvent> = {}): PredictionEvent => ({
  ...envelope('prediction'),
  requestId: 'r-1',
  deployment,
  variant: 'v1',
  role: 'served',
  strategy: 'single',
  specVersion: 2,
  probability: 1,
  latencyMs: 3,
  ...extra,
});
const at = (offset: number) => ({ topic: 'sy.predictions', partition: 4, offset: String(offset), timestamp: '1700000000000' });

describe(reportBatches.name, () => {
  it('gives each deployment its last offset, the counters of the first copies only, and their recent served buckets', () => {
    const minute = (s: number) => ({ occurredAt: new Date(Date.UTC(2026, 11, 7, 8, 0, s)).toISOString() });
    const batches = reportBatches(
      [
        { message: at(10), value: prediction('a', minute(10)) },
        { message: at(11), value: prediction('b', { strategy: 'bandit', probability: 0.25, ...minute(70) }) },
        { message: at(12), value: prediction('a', { error: 'boom', ...minute(59) }) },
        { message: at(13), value: prediction('a', minute(20)) },
      ],
      [true, true, true, false],
    );
    const eight = Date.UTC(2026, 11, 7, 8) / 1000;
    expect(batches).toEqual([
      {
        deployment: 'a',
        topic: 'sy.predictions',
        partition: 4,
        lastOffset: '13',
        counted: [
          { offset: '10', fields: ['v1:served:requests', 'v1:served:lat:2', 'v1:served:requests@2'], sums: [] },
          { offset: '12', fields: ['v1:served:requests', 'v1:served:errors', 'v1:served:requests@2'], sums: [] },
        ],
        // The redelivered copy (offset 13) is not counted; both first copies were served in 08:00.
        recent: [[eight, 'v1', 2]],
      },
      {
        deployment: 'b',
        topic: 'sy.predictions',
        partition: 4,
        lastOffset: '11',
        counted: [
          {
            offset: '11',
            fields: ['v1:served:requests', 'v1:served:lat:2', 'v1:served:requests@2'],
            sums: [
              ['v1:served:ipw@2', 4_000_000],
              ['v1:served:ipwSq@2', 16_000],
            ],
          },
        ],
        recent: [[eight + 60, 'v1', 1]],
      },
    ]);
  });
});

describe(joinTiming.name, () => {
  it('keeps a live record for the window and the grace', () => {
    expect(joinTiming(60, 5000, 5000)).toEqual({ nowMs: 5000, ttlSeconds: 60 + EXPIRY_GRACE_SECONDS });
  });

  it('gives a replayed record what is left of its window, from when Kafka saw it', () => {
    expect(joinTiming(60, 5000, 5000 + 50_000)).toEqual({ nowMs: 5000, ttlSeconds: 10 + EXPIRY_GRACE_SECONDS });
    expect(joinTiming(60, 0, 10_000_000)).toEqual({ nowMs: 0, ttlSeconds: 1 });
  });
});

describe('records', () => {
  it('claim with the Kafka coordinates and keep a prediction per deployment, variant and role', () => {
    const event = prediction('a', { variant: 's1', role: 'shadow' });
    expect(predictionRecord(at(7), event)).toEqual({
      requestId: 'r-1',
      deployment: 'a',
      pair: 'a:s1:shadow',
      prediction: event,
      token: 'sy.predictions:4:7',
    });
  });

  it('keep the deployment feedback names, and the message time when it carries none', () => {
    expect(feedbackRecord(at(8), { requestId: 'r-1', deployment: 'a', label: 1 })).toEqual({
      requestId: 'r-1',
      deployment: 'a',
      feedback: { feedbackAt: new Date(1700000000000).toISOString(), label: 1 },
      token: 'sy.predictions:4:8',
    });
    expect(feedbackRecord(at(9), { requestId: 'r-1', reward: 0.5 }).deployment).toBeUndefined();
  });
});
