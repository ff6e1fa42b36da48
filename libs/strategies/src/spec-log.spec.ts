import { randomUUID } from 'node:crypto';
import type { SpecChangeEvent } from '@switchyard/contracts';
import { applySpecChange, canonicalJson, emptyRecord, putOutcome, SpecBody, withStatus } from './spec-log';

const body = (...variants: string[]): SpecBody =>
  ({
    name: 'd',
    updatedAt: '2026-11-29T00:00:00.000Z',
    variants: variants.map((name) => ({ name, url: 'http://127.0.0.1:9', model: name, protocol: 'v2', timeoutMs: 1000, retries: 0 })),
    strategy: { type: 'single', variant: variants[0] },
    reward: { type: 'match' },
  }) as SpecBody;

const change = (fields: Partial<SpecChangeEvent>): SpecChangeEvent => ({
  type: 'spec-change',
  version: 1,
  eventId: randomUUID(),
  occurredAt: '2026-11-29T00:00:00.000Z',
  deployment: 'd',
  change: 'put',
  ...fields,
});

describe('applySpecChange (the registry folded from the spec log)', () => {
  it('numbers versions in log order and keeps the one in force before', () => {
    const record = emptyRecord();
    expect(applySpecChange(record, change({ body: body('a') }), 10)).toEqual({ result: 'written', version: 1 });
    expect(applySpecChange(record, change({ body: body('a', 'b') }), 11)).toEqual({ result: 'written', version: 2 });
    expect(record).toMatchObject({ offset: 11, current: 2, previous: 1, lastVersion: 2, incarnation: 10 });
    expect(record.history.get(1)).toEqual(body('a'));
  });

  it('applies a compare-and-set change only while its version is current', () => {
    const record = emptyRecord();
    applySpecChange(record, change({ body: body('a') }), 0);
    applySpecChange(record, change({ body: body('b') }), 1);
    expect(applySpecChange(record, change({ change: 'status', status: { step: 1 }, expectedVersion: 1 }), 2)).toEqual({ result: 'conflict', current: 2 });
    expect(applySpecChange(record, change({ body: body('c'), expectedVersion: 1 }), 2)).toEqual({ result: 'conflict', current: 2 });
    expect(applySpecChange(record, change({ body: body('c'), expectedVersion: 2 }), 3)).toEqual({ result: 'written', version: 3 });
    expect(applySpecChange(emptyRecord(), change({ body: body('c'), expectedVersion: 1 }), 0)).toEqual({ result: 'conflict', current: null });
  });

  it('rolls back to the version in force before, as a new version', () => {
    const record = emptyRecord();
    expect(applySpecChange(record, change({ change: 'rollback' }), 0)).toEqual({ result: 'nothing', current: null });
    applySpecChange(record, change({ body: body('a') }), 1);
    expect(applySpecChange(record, change({ change: 'rollback' }), 2)).toEqual({ result: 'nothing', current: 1 });
    applySpecChange(record, change({ body: body('b') }), 3);
    expect(applySpecChange(record, change({ change: 'rollback' }), 4)).toEqual({ result: 'written', version: 3, restored: 1 });
    expect(record.history.get(3)).toEqual(body('a'));
    expect(record).toMatchObject({ current: 3, previous: 2 });
  });

  it('deletes, and a deployment created again starts at version 1 in a new incarnation', () => {
    const record = emptyRecord();
    expect(applySpecChange(record, change({ change: 'delete' }), 0)).toEqual({ result: 'nothing', current: null });
    applySpecChange(record, change({ body: body('a') }), 1);
    expect(applySpecChange(record, change({ change: 'delete' }), 2)).toEqual({ result: 'written', version: 0 });
    expect(record).toMatchObject({ deleted: true, lastVersion: 0, current: undefined, previous: undefined });
    expect(record.history.size).toBe(0);
    expect(applySpecChange(record, change({ body: body('a') }), 5)).toEqual({ result: 'written', version: 1 });
    expect(record).toMatchObject({ deleted: false, incarnation: 5 });
  });

  it("records when each arm's current run began", () => {
    const record = emptyRecord();
    applySpecChange(record, change({ body: body('a', 'b') }), 0);
    applySpecChange(record, change({ body: body('a') }), 1);
    applySpecChange(record, change({ body: body('a', 'b') }), 2);
    expect({ ...record.armsSince }).toEqual({ a: 1, b: 3 });
    applySpecChange(record, change({ change: 'rollback' }), 3);
    expect({ ...record.armsSince }).toEqual({ a: 1 });
  });

  it('creates no version for a put of the spec in force, whenever and in whatever key order it was sent', () => {
    const record = emptyRecord();
    applySpecChange(record, change({ body: body('a') }), 0);
    const { strategy, ...rest } = body('a');
    const again = { strategy: { variant: 'a', type: 'single' }, ...rest, updatedAt: '2026-12-01T00:00:00.000Z' } as SpecBody;
    expect(applySpecChange(record, change({ body: again }), 1)).toEqual({ result: 'unchanged', version: 1 });
    expect(strategy).toEqual(again.strategy);
    expect(record).toMatchObject({ current: 1, lastVersion: 1, offset: 1 });
    expect(record.history.get(1)).toEqual(body('a'));
  });

  it('sets rollout status fields without a new version, keeping them over edits that keep the strategy', () => {
    const record = emptyRecord();
    expect(applySpecChange(record, change({ change: 'status', status: { step: 1 } }), 0)).toEqual({ result: 'conflict', current: null });
    applySpecChange(record, change({ body: body('a', 'b') }), 1);
    expect(applySpecChange(record, change({ change: 'status', status: { step: 1 }, expectedVersion: 1 }), 2)).toEqual({ result: 'written', version: 1 });
    applySpecChange(record, change({ change: 'status', status: { paused: true } }), 3);
    expect(record.status).toEqual({ step: 1, paused: true });
    expect(record).toMatchObject({ current: 1, lastVersion: 1 });
    // Re-applied as it was: the plan keeps its step.
    expect(applySpecChange(record, change({ body: body('a', 'b') }), 4)).toEqual({ result: 'unchanged', version: 1 });
    expect(record.status).toEqual({ step: 1, paused: true });
    // Another variant, the same strategy: a new version, the same status.
    applySpecChange(record, change({ body: body('a', 'c') }), 5);
    expect(record).toMatchObject({ current: 2, status: { step: 1, paused: true } });
    // Another strategy: the status starts afresh.
    applySpecChange(record, change({ body: body('b', 'c') }), 6);
    expect(record).toMatchObject({ current: 3, status: {} });
    applySpecChange(record, change({ change: 'status', status: { vetoed: ['c'] } }), 7);
    applySpecChange(record, change({ change: 'delete' }), 8);
    expect(record.status).toEqual({});
  });

  it('holds a spec that was rolled back or aborted: the same put again writes nothing until a retry or another spec', () => {
    const canary = { ...body('a', 'b'), strategy: { type: 'canary', primary: 'a', canary: 'b', percent: 20 } } as SpecBody;
    const single = body('a', 'b');
    const record = emptyRecord();
    applySpecChange(record, change({ body: canary }), 0);
    // The controller's rollback (a put that holds what it replaces).
    expect(applySpecChange(record, change({ body: single, hold: true, expectedVersion: 1 }), 1)).toEqual({ result: 'written', version: 2 });
    expect(record.status).toEqual({ held: 1 });
    // A GitOps loop re-applying its file, sent later.
    expect(applySpecChange(record, change({ body: { ...canary, updatedAt: '2026-12-02T00:00:00.000Z' } }), 2)).toEqual({ result: 'held', version: 2, held: 1 });
    // An edit that keeps the strategy keeps the hold; the spec in force is still unchanged.
    applySpecChange(record, change({ body: { ...single, reward: { type: 'negAbsError' } } as SpecBody }), 3);
    expect(record).toMatchObject({ current: 3, status: { held: 1 } });
    expect(applySpecChange(record, change({ body: canary }), 4)).toEqual({ result: 'held', version: 3, held: 1 });
    // The operator's retry writes it, and the hold is gone with the strategy it was about.
    expect(applySpecChange(record, change({ body: canary, retry: true }), 5)).toEqual({ result: 'written', version: 4 });
    expect(record.status).toEqual({});
    // An operator's rollback holds what it replaced; another spec clears the hold.
    expect(applySpecChange(record, change({ change: 'rollback' }), 6)).toEqual({ result: 'written', version: 5, restored: 3 });
    expect(record.status).toEqual({ held: 4 });
    applySpecChange(record, change({ body: { ...canary, strategy: { type: 'canary', primary: 'a', canary: 'b', percent: 5 } } as SpecBody }), 7);
    expect(record).toMatchObject({ current: 6, status: {} });
  });

  it('reads a plan recorded with its step and pause in the strategy (before the status) as a spec and its status', () => {
    const record = emptyRecord();
    const legacy = {
      ...body('a', 'b'),
      strategy: { type: 'plan', primary: 'a', candidate: 'b', steps: [{ canary: 5 }, { promote: true }], step: 1, paused: true },
    };
    expect(applySpecChange(record, change({ body: legacy as SpecBody }), 0)).toEqual({ result: 'written', version: 1 });
    expect(record.history.get(1)!.strategy).toEqual({ type: 'plan', primary: 'a', candidate: 'b', steps: [{ canary: 5 }, { promote: true }] });
    expect(record.status).toEqual({ step: 1, paused: true });
  });

  it('applies a change published twice (a producer retry) once', () => {
    const record = emptyRecord();
    const once = change({ body: body('a') });
    expect(applySpecChange(record, once, 0)).toEqual({ result: 'written', version: 1 });
    expect(applySpecChange(record, once, 1)).toEqual({ result: 'written', version: 1 });
    expect(record).toMatchObject({ lastVersion: 1, offset: 1 });
  });
});

describe(putOutcome.name, () => {
  it('is unchanged for the spec in force, held for the held one unless retried, else written', () => {
    expect(putOutcome(undefined, undefined, body('a'))).toBe('written');
    expect(putOutcome(body('a'), body('b'), { ...body('a'), updatedAt: 'later' })).toBe('unchanged');
    expect(putOutcome(body('a'), body('b'), body('b'))).toBe('held');
    expect(putOutcome(body('a'), body('b'), body('b'), true)).toBe('written');
    expect(putOutcome(body('a'), body('b'), body('c'))).toBe('written');
  });
});

describe(withStatus.name, () => {
  it('sets the fields given and keeps the others; a pause cleared leaves no field', () => {
    expect(withStatus({ step: 2, vetoed: ['a'] }, { paused: true })).toEqual({ step: 2, vetoed: ['a'], paused: true });
    expect(withStatus({ step: 2, paused: true }, { paused: false })).toEqual({ step: 2 });
    expect(withStatus({ step: 2, paused: true }, { step: 3 })).toEqual({ step: 3, paused: true });
  });
});

describe(canonicalJson.name, () => {
  it('sorts object keys at every depth and keeps array order', () => {
    expect(canonicalJson({ b: 1, a: { d: [2, 1], c: null } })).toBe('{"a":{"c":null,"d":[2,1]},"b":1}');
    expect(canonicalJson({ a: 1, b: 2 })).toBe(canonicalJson({ b: 2, a: 1 }));
  });
});
