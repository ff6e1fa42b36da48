import { envelope, type StrategySpec } from '@switchyard/contracts';
import { buildHistory, decodeHistoryEvent, HistoryEvent } from './history';

const at = (s: number) => new Date(Date.UTC(2026, 10, 24, 17, 0, s)).toISOString();

describe(buildHistory.name, () => {
  it('turns spec changes, weight snapshots and decisions into split, reward and decision series', () => {
    const events: HistoryEvent[] = [
      {
        type: 'deployment',
        action: 'put',
        occurredAt: at(0),
        specVersion: 1,
        detail: { strategy: { type: 'canary', primary: 'v1', canary: 'v2', percent: 10 } },
      },
      {
        type: 'decision',
        action: 'rollback',
        occurredAt: at(20),
        fromVersion: 1,
        toVersion: 2,
        primary: 'v1',
        candidate: 'v2',
        reason: 'worse',
        evidence: { n: { v1: 200, v2: 30 }, mean: { v1: 0.9, v2: 0.7 }, delta: -0.2, low: -0.3, high: -0.1, srmP: 0.4 },
      },
      { type: 'deployment', action: 'put', occurredAt: at(30), specVersion: 3, detail: { strategy: { type: 'bandit' } } },
      {
        type: 'deployment',
        action: 'weights',
        occurredAt: at(40),
        specVersion: 3,
        detail: { weights: { v1: 0.3, v2: 0.7 }, stats: { v1: { count: 4, sum: 2, sumSq: 2 }, v2: { count: 0, sum: 0, sumSq: 0 } } },
      },
    ];
    const sut = buildHistory('churn', [...events].reverse());

    expect(sut.split).toEqual([
      { at: at(0), source: 'put', specVersion: 1, shares: { v1: 0.9, v2: 0.1 } },
      { at: at(20), source: 'rollback', specVersion: 2, shares: { v1: 1 } },
      { at: at(40), source: 'weights', specVersion: 3, shares: { v1: 0.3, v2: 0.7 } },
    ]);
    expect(sut.decisions).toMatchObject([{ at: at(20), action: 'rollback', fromVersion: 1, toVersion: 2, evidence: { srmP: 0.4 } }]);
    expect(sut.rewards[0]).toEqual({ at: at(20), source: 'decision:rollback', variants: { v1: { mean: 0.9, count: 200 }, v2: { mean: 0.7, count: 30 } } });
    // mean 0.5, sample variance 1/3: 0.5 ± 1.96·sqrt(1/12).
    const v1 = sut.rewards[1].variants.v1;
    expect(v1.mean).toBe(0.5);
    expect(v1.low).toBeCloseTo(0.5 - 1.96 * Math.sqrt(1 / 12), 10);
    expect(sut.rewards[1].variants.v2).toBeUndefined();
    expect(sut.changes.map((c) => c.action)).toEqual(['put', 'put']);
  });

  it("follows a plan through the controller's advances", () => {
    const plan: StrategySpec = {
      type: 'plan',
      primary: 'v1',
      candidate: 'v2',
      step: 0,
      steps: [{ shadow: {} }, { canary: 5 }, { pause: {} }, { promote: true }],
    };
    const sut = buildHistory('p', [
      { type: 'deployment', action: 'put', occurredAt: at(0), specVersion: 1, detail: { strategy: plan } },
      { type: 'decision', action: 'advance', occurredAt: at(1), fromVersion: 1, toVersion: 2 },
      { type: 'decision', action: 'advance', occurredAt: at(2), fromVersion: 2, toVersion: 3 },
      { type: 'decision', action: 'hold', occurredAt: at(3), fromVersion: 3, toVersion: 3 },
    ]);
    expect(sut.split.map((p) => p.shares)).toEqual([{ v1: 1 }, { v1: 0.95, v2: 0.05 }, { v1: 0.95, v2: 0.05 }]);
  });
});

describe(`${buildHistory.name} after a delete`, () => {
  it('starts over: a deployment created again under the same name has only its new history', () => {
    const sut = buildHistory('churn', [
      { type: 'deployment', action: 'put', occurredAt: at(0), specVersion: 1, detail: { strategy: { type: 'single', variant: 'old' } } },
      { type: 'decision', action: 'hold', occurredAt: at(1), fromVersion: 1, toVersion: 1 },
      { type: 'deployment', action: 'delete', occurredAt: at(2) },
      { type: 'deployment', action: 'put', occurredAt: at(3), specVersion: 1, detail: { strategy: { type: 'single', variant: 'new' } } },
    ]);
    expect(sut.split).toEqual([{ at: at(3), source: 'put', specVersion: 1, shares: { new: 1 } }]);
    expect(sut.decisions).toEqual([]);
    expect(sut.changes).toHaveLength(1);
  });
});

describe(decodeHistoryEvent.name, () => {
  const put = { ...envelope('deployment'), deployment: 'churn', action: 'put', specVersion: 1, detail: { strategy: { type: 'single', variant: 'v1' } } };
  const decision = {
    ...envelope('decision'),
    deployment: 'churn',
    action: 'rollback',
    reason: 'worse',
    fromVersion: 2,
    toVersion: 3,
    evidence: { metric: 'reward', n: {}, mean: {}, delta: null, low: null, high: null, alpha: 0.05, srmP: null },
  };

  it('decodes the deployment and decision events of the topic', () => {
    expect(decodeHistoryEvent(JSON.stringify(put))).toEqual(put);
    expect(decodeHistoryEvent(JSON.stringify(decision))).toEqual(decision);
  });

  it('leaves out what is not one of them', () => {
    expect(decodeHistoryEvent('{oops')).toBeUndefined();
    expect(decodeHistoryEvent(null)).toBeUndefined();
    expect(decodeHistoryEvent(JSON.stringify({ ...put, type: 'joined' }))).toBeUndefined();
    expect(decodeHistoryEvent(JSON.stringify({ ...put, action: 'explode' }))).toBeUndefined();
    expect(decodeHistoryEvent(JSON.stringify({ ...decision, fromVersion: 'two' }))).toBeUndefined();
  });
});
