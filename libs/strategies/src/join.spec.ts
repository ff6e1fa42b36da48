import { PredictionEvent } from '@switchyard/contracts';
import { expiredOutcome, joinedEventId, joinPair, pairField, uuidV5 } from './join';

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
  it('names the variant and role', () => {
    expect(pairField({ variant: 's1', role: 'shadow' })).toBe('s1:shadow');
  });
});

describe(expiredOutcome.name, () => {
  it('counts feedback that met no prediction, and predictions never joined', () => {
    expect(expiredOutcome({ feedback: '{}', predictions: [] })).toEqual({ feedbackUnmatched: true, unlabelled: [] });
    const p = prediction();
    expect(expiredOutcome({ predictions: [{ prediction: p, joined: false }] })).toEqual({ feedbackUnmatched: false, unlabelled: [p] });
    expect(expiredOutcome({ feedback: '{}', predictions: [{ prediction: p, joined: true }] })).toEqual({ feedbackUnmatched: false, unlabelled: [] });
  });
});
