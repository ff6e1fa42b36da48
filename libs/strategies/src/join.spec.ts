import { PredictionEvent } from '@switchyard/contracts';
import {
  expiredOutcome,
  feedbackApplies,
  feedbackFor,
  feedbackOutcomes,
  JOIN_BUCKETS,
  joinBucket,
  joinedEventId,
  joinPair,
  pairField,
  RecentPairs,
  uuidV5,
} from './join';

const prediction = (extra: Partial<PredictionEvent> = {}): PredictionEvent => ({
  type: 'prediction',
  version: 1,
  eventId: 'e-1',
  occurredAt: '2025-01-01T00:00:00.000Z',
  requestId: 'r-1',
  deployment: 'churn',
  variant: 'v1',
  role: 'served',
  strategy: 'single',
  specVersion: 3,
  probability: 1,
  outputs: [{ name: 'label', shape: [1], datatype: 'INT64', data: [1] }],
  latencyMs: 4,
  ...extra,
});
const feedbackAt = '2025-01-01T00:05:00.000Z';
const now = new Date('2025-01-01T00:05:01.000Z');

describe(joinPair.name, () => {
  it('joins a prediction with its label under a match reward', () => {
    const sut = joinPair(prediction(), { label: 1, feedbackAt }, { type: 'match' }, now);
    expect(sut).toEqual({
      ok: true,
      event: expect.objectContaining({
        type: 'joined',
        version: 1,
        eventId: joinedEventId(prediction()),
        occurredAt: now.toISOString(),
        requestId: 'r-1',
        variant: 'v1',
        role: 'served',
        specVersion: 3,
        label: 1,
        reward: 1,
        predictedAt: '2025-01-01T00:00:00.000Z',
        feedbackAt,
      }),
    });
  });

  it('scores a wrong answer 0 and an explicit reward as given, without a label field', () => {
    expect(joinPair(prediction(), { label: '0', feedbackAt }, { type: 'match' }, now)).toMatchObject({ ok: true, event: { reward: 0 } });
    const explicit = joinPair(prediction(), { reward: 0.25, feedbackAt }, { type: 'explicit' }, now);
    expect(explicit).toMatchObject({ ok: true, event: { reward: 0.25 } });
    expect(explicit.ok && 'label' in explicit.event).toBe(false);
  });

  it('refuses what cannot be scored, saying why', () => {
    expect(joinPair(prediction(), { label: 1, feedbackAt }, { type: 'explicit' }, now)).toMatchObject({ ok: false, cause: 'unscorable' });
    expect(joinPair(prediction(), { reward: 1e150, feedbackAt }, { type: 'explicit' }, now)).toEqual({
      ok: false,
      cause: 'reward-out-of-range',
      reason: "reward 1e+150 is outside the deployment's reward range [0, 1]",
    });
    expect(joinPair(prediction(), { label: 1, feedbackAt }, undefined, now)).toMatchObject({ ok: false, cause: 'spec-missing' });
    expect(joinPair(prediction({ error: 'timeout: slow', outputs: undefined }), { reward: 1, feedbackAt }, { type: 'explicit' }, now)).toMatchObject({
      ok: false,
      cause: 'prediction-error',
    });
  });
});

describe(joinedEventId.name, () => {
  it('is the same for the same pair, different for another variant or role, and UUID-shaped', () => {
    const a = joinedEventId(prediction());
    expect(a).toBe(joinedEventId(prediction({ eventId: 'other', occurredAt: now.toISOString() })));
    expect(a).not.toBe(joinedEventId(prediction({ variant: 'v2' })));
    expect(a).not.toBe(joinedEventId(prediction({ role: 'shadow' })));
    expect(a).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-5[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
  });
});

describe(uuidV5.name, () => {
  it('matches the reference value (DNS namespace, "www.example.com", as Python uuid.uuid5 and the uuid npm package give it)', () => {
    expect(uuidV5('6ba7b810-9dad-11d1-80b4-00c04fd430c8', 'www.example.com')).toBe('2ed6657d-e927-568b-95e1-2665a8aea6a2');
  });
});

describe(pairField.name, () => {
  it('names the deployment, variant and role: two deployments sharing a request id are two pairs', () => {
    expect(pairField({ deployment: 'churn', variant: 's1', role: 'shadow' })).toBe('churn:s1:shadow');
    expect(pairField({ deployment: 'a', variant: 'v1', role: 'served' })).not.toBe(pairField({ deployment: 'b', variant: 'v1', role: 'served' }));
  });
});

describe(joinBucket.name, () => {
  it('puts a request id always in the same bucket, within range', () => {
    expect(joinBucket('r-42')).toBe(joinBucket('r-42'));
    for (let i = 0; i < 1000; i++) expect(joinBucket(`r-${i}`)).toBeGreaterThanOrEqual(0);
    for (let i = 0; i < 1000; i++) expect(joinBucket(`r-${i}`)).toBeLessThan(JOIN_BUCKETS);
  });

  it('is FNV-1a: a fixed function, so every joiner and every rebuild agree (changing it would move every request)', () => {
    // FNV-1a 32 of "a" is 0xe40c292c (the published test vector); 0xe40c292c % 16 = 12.
    expect(joinBucket('a')).toBe(0xe40c292c % JOIN_BUCKETS);
  });

  it('spreads request ids over every bucket', () => {
    const counts = new Array<number>(JOIN_BUCKETS).fill(0);
    for (let i = 0; i < 16000; i++) counts[joinBucket(`req-${i}`)]++;
    expect(Math.min(...counts)).toBeGreaterThan(800);
    expect(Math.max(...counts)).toBeLessThan(1200);
  });
});

describe(feedbackApplies.name, () => {
  it('applies feedback naming a deployment to it alone, and feedback naming none to every deployment', () => {
    expect(feedbackApplies('churn', 'churn')).toBe(true);
    expect(feedbackApplies('churn', 'fraud')).toBe(false);
    expect(feedbackApplies(undefined, 'fraud')).toBe(true);
  });
});

describe(feedbackFor.name, () => {
  it("picks the feedback naming the prediction's deployment, else the one naming none", () => {
    const stored = new Map<string | undefined, string>([
      ['churn', 'mine'],
      [undefined, 'any'],
    ]);
    expect(feedbackFor(stored, 'churn')).toBe('mine');
    expect(feedbackFor(stored, 'fraud')).toBe('any');
    expect(feedbackFor(new Map([['churn', 'mine']]), 'fraud')).toBeUndefined();
  });
});

describe(expiredOutcome.name, () => {
  const p = prediction();
  it('counts feedback that met no prediction, and predictions never joined', () => {
    expect(expiredOutcome({ feedbackScopes: [undefined], predictions: [] })).toEqual({ feedbackUnmatched: [undefined], unlabelled: [] });
    expect(expiredOutcome({ feedbackScopes: [], predictions: [{ prediction: p, joined: false }] })).toEqual({ feedbackUnmatched: [], unlabelled: [p] });
    expect(expiredOutcome({ feedbackScopes: [undefined], predictions: [{ prediction: p, joined: true }] })).toEqual({ feedbackUnmatched: [], unlabelled: [] });
  });

  it('counts feedback naming a deployment as unmatched when only other deployments predicted', () => {
    const other = prediction({ deployment: 'other' });
    expect(
      expiredOutcome({
        feedbackScopes: ['churn', 'gone', undefined],
        predictions: [
          { prediction: p, joined: true },
          { prediction: other, joined: false },
        ],
      }),
    ).toEqual({
      feedbackUnmatched: ['gone'],
      unlabelled: [other],
    });
  });
});

describe(feedbackOutcomes.name, () => {
  it('reads the per-deployment counts of feedback that gave no reward', () => {
    expect(feedbackOutcomes({})).toEqual({ unmatched: 0, unjoinable: {} });
    expect(
      feedbackOutcomes({ unmatched: '3', 'unjoinable:unscorable': '2', 'label-mismatch': '5', 'label-mismatch:last': 'a label of text can never equal…' }),
    ).toEqual({ unmatched: 3, unjoinable: { unscorable: 2 }, labelMismatch: { count: 5, last: 'a label of text can never equal…' } });
  });
});

describe(RecentPairs.name, () => {
  it('tells the first copy of a pair from a duplicate within the window', () => {
    const sut = new RecentPairs(1000);
    expect(sut.first('r1', 0)).toBe(true);
    expect(sut.first('r1', 500)).toBe(false);
    expect(sut.first('r2', 600)).toBe(true);
  });

  it('forgets a pair once the window since its first copy has passed, as the sweeper does', () => {
    const sut = new RecentPairs(1000);
    expect(sut.first('r1', 0)).toBe(true);
    expect(sut.first('r2', 1500)).toBe(true);
    expect(sut.first('r1', 1600)).toBe(true);
    expect(sut.first('r2', 1600)).toBe(false);
  });
});
