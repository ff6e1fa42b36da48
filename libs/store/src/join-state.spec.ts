import { envelope, PredictionEvent } from '@switchyard/contracts';
import { decodePrediction, decodeStoredFeedback, encodePrediction, encodeStoredFeedback } from './join-state';

const prediction: PredictionEvent = {
  ...envelope('prediction'),
  requestId: 'req-1',
  deployment: 'churn',
  variant: 'v1',
  role: 'served',
  strategy: 'canary',
  specVersion: 3,
  probability: 0.9,
  outputs: [{ name: 'label', shape: [1], datatype: 'INT64', data: [1] }],
  latencyMs: 4.2,
};

describe(encodePrediction.name, () => {
  it('stores a prediction as decodePrediction reads it back, without what its key and field hold', () => {
    const stored = encodePrediction(prediction);
    expect(JSON.parse(stored)).not.toHaveProperty('requestId');
    expect(JSON.parse(stored)).not.toHaveProperty('variant');
    expect(decodePrediction('req-1', 'churn:v1:served', stored)).toEqual({ ok: true, value: prediction });
  });
});

describe(encodeStoredFeedback.name, () => {
  it('stores feedback as decodeStoredFeedback reads it back, leaving out what it lacks', () => {
    const feedback = { feedbackAt: '2026-12-07T00:00:00.000Z', label: 0 };
    expect(decodeStoredFeedback(encodeStoredFeedback(feedback))).toEqual({ ok: true, value: feedback });
    expect(decodeStoredFeedback(encodeStoredFeedback({ feedbackAt: 'x', reward: -1 }))).toEqual({ ok: true, value: { feedbackAt: 'x', reward: -1 } });
  });
});

describe(decodePrediction.name, () => {
  it('decodes a stored prediction event as it was', () => {
    const sut = decodePrediction('req-1', 'churn:v1:served', JSON.stringify(prediction));
    expect(sut).toEqual({ ok: true, value: prediction });
  });

  it('refuses what is not a prediction event, saying why', () => {
    expect(decodePrediction('req-1', 'churn:v1:served', JSON.stringify({ strategy: 'canary' }))).toMatchObject({
      ok: false,
      problems: expect.arrayContaining([expect.stringContaining('specVersion')]),
    });
    expect(decodePrediction('req-1', 'churn:v1:served', '{oops')).toMatchObject({ ok: false });
    expect(decodePrediction('req-1', 'churn:v1:served', '[1]')).toEqual({ ok: false, problems: ['prediction must be a JSON object'] });
  });
});

describe(decodeStoredFeedback.name, () => {
  it('decodes feedback with its time, label and reward', () => {
    expect(decodeStoredFeedback('{"feedbackAt":"2026-12-07T00:00:00.000Z","label":null,"reward":0.5}')).toEqual({
      ok: true,
      value: { feedbackAt: '2026-12-07T00:00:00.000Z', label: null, reward: 0.5 },
    });
    expect(decodeStoredFeedback('{"feedbackAt":"2026-12-07T00:00:00.000Z","label":"yes"}')).toEqual({
      ok: true,
      value: { feedbackAt: '2026-12-07T00:00:00.000Z', label: 'yes' },
    });
  });

  it('refuses feedback without its time or with a reward that is not a finite number', () => {
    expect(decodeStoredFeedback('{"label":1}')).toEqual({ ok: false, problems: ['feedbackAt must be a string'] });
    expect(decodeStoredFeedback('{"feedbackAt":"x","reward":"1"}')).toEqual({ ok: false, problems: ['reward must be a finite number'] });
    expect(decodeStoredFeedback('[]')).toEqual({ ok: false, problems: ['feedback must be a JSON object'] });
  });
});
