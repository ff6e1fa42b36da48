import { groundTruth } from './churn';
import { DEMO_MODELS, findDemoModel, predict } from './models';
import { randomFeatures, seededRng } from './random';

describe(predict.name, () => {
  const sut = predict;
  const SAMPLES = 20_000;
  const samples = (() => {
    const rng = seededRng(20240611);
    return Array.from({ length: SAMPLES }, () => randomFeatures(rng));
  })();

  it.each(DEMO_MODELS.map((model) => [model.name, model.accuracy] as const))(
    '%s is right %d of the time, within 1.5 points, over 20k random inputs',
    (name, accuracy) => {
      let right = 0;
      for (const features of samples) if (sut(name, features).label === groundTruth(features)) right++;
      expect(Math.abs(right / SAMPLES - accuracy)).toBeLessThanOrEqual(0.015);
    },
  );

  it('states the accuracies the demos rely on', () => {
    expect(Object.fromEntries(DEMO_MODELS.map((m) => [m.name, m.accuracy]))).toEqual({
      'churn-v1': 0.7,
      'churn-v2': 0.8,
      'churn-v3': 0.9,
      'churn-perfect': 1,
      'churn-slow': 0.8,
      'churn-broken': 0.7,
    });
  });

  it('gives the same answer for the same model and features, every time', () => {
    for (const features of samples.slice(0, 500)) {
      for (const model of DEMO_MODELS) expect(sut(model, [...features])).toEqual(sut(model.name, features));
    }
  });

  it('makes churn-slow answer exactly as churn-v2', () => {
    for (const features of samples.slice(0, 2000)) expect(sut('churn-slow', features)).toEqual(sut('churn-v2', features));
  });

  it('makes different models err on different inputs', () => {
    const wrong = (name: string) => samples.map((f) => sut(name, f).label !== groundTruth(f));
    const v1 = wrong('churn-v1');
    const v2 = wrong('churn-v2');
    const both = v1.filter((w, i) => w && v2[i]).length / SAMPLES;
    // Independent errors: P(both wrong) ~ 0.3 * 0.2.
    expect(both).toBeGreaterThan(0.045);
    expect(both).toBeLessThan(0.075);
  });

  it('scores the label it answers: >= 0.5 for 1, <= 0.5 for 0, within [0, 1]', () => {
    for (const features of samples.slice(0, 5000)) {
      for (const model of DEMO_MODELS) {
        const { label, score } = sut(model, features);
        expect(score).toBeGreaterThanOrEqual(label === 1 ? 0.5 : 0);
        expect(score).toBeLessThanOrEqual(label === 1 ? 1 : 0.5);
      }
    }
  });

  it('throws on an unknown model or bad features', () => {
    expect(() => sut('churn-v9', [0, 0, 0, 0])).toThrow('unknown demo model "churn-v9"');
    expect(() => sut('churn-v1', [0, 0, 0])).toThrow('features must be 4 numbers; got 3');
  });
});

describe(findDemoModel.name, () => {
  it('finds built-in models with their test behaviour', () => {
    expect(findDemoModel('churn-v2')).toMatchObject({ accuracy: 0.8, latencyMs: 0, seed: 'churn-v2' });
    expect(findDemoModel('churn-slow')).toMatchObject({ latencyMs: 2000, seed: 'churn-v2' });
    expect(findDemoModel('churn-broken')?.failure).toMatch(/always fails/);
    expect(findDemoModel('nope')).toBeUndefined();
  });
});
