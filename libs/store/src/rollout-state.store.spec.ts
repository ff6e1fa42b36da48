import { DecisionEvent, DeploymentStatus, envelope } from '@switchyard/contracts';
import { UndecodableRecord } from './codec';
import type { RedisClient } from './redis.client';
import { RolloutStateStore } from './rollout-state.store';

describe(RolloutStateStore.name, () => {
  const decision: DecisionEvent = {
    ...envelope('decision'),
    deployment: 'churn',
    action: 'hold',
    reason: 'inconclusive',
    fromVersion: 2,
    toVersion: 2,
    evidence: {} as DecisionEvent['evidence'],
  };
  const storeOf = (hash: Record<string, string>) => {
    const client = {
      deploymentKey: (deployment: string, suffix: string) => `{${deployment}}:${suffix}`,
      redis: { hgetall: async () => hash, hget: async (_key: string, field: string) => hash[field] ?? null },
    };
    return new RolloutStateStore(client as unknown as RedisClient);
  };

  it('reads back the fields it writes, as the contract classes they were', async () => {
    const fields = storeOf({}).fields({
      status: { step: 1, vetoed: ['v2'] },
      write: { state: { lastDecision: undefined }, outbox: decision },
      writtenVersion: 3,
    });
    const sut = storeOf(fields);
    const status = await sut.status('churn');
    expect(status).toBeInstanceOf(DeploymentStatus);
    expect(status).toEqual({ step: 1, vetoed: ['v2'] });
    const { state, outbox } = await sut.read('churn');
    expect(state).toEqual({});
    expect(outbox).toEqual({ event: decision, writtenVersion: 3 });
  });

  it('answers an empty status when none was written', async () => {
    expect(await storeOf({}).status('churn')).toEqual({});
    expect(await storeOf({}).read('churn')).toEqual({});
  });

  it.each([
    ['a status that is not JSON', { status: '{oops' }, (sut: RolloutStateStore) => sut.status('churn')],
    ['a status of the wrong shape', { status: '{"step":"two","vetoed":"v2"}' }, (sut: RolloutStateStore) => sut.status('churn')],
    ['a status with an unknown field', { status: '{"step":1,"promote":true}' }, (sut: RolloutStateStore) => sut.status('churn')],
    ['an outbox that is no decision event', { outbox: '{"action":"promote"}' }, (sut: RolloutStateStore) => sut.read('churn')],
    ['a state that is no object', { state: '[1]' }, (sut: RolloutStateStore) => sut.read('churn')],
  ])('refuses %s as an UndecodableRecord', async (_what, hash, read) => {
    await expect(read(storeOf(hash))).rejects.toBeInstanceOf(UndecodableRecord);
  });

  it('says what could not be decoded and why', async () => {
    await expect(storeOf({ status: '{"step":-1}' }).status('churn')).rejects.toThrow(
      'rollout status of churn in Redis cannot be decoded: step must not be less than 0',
    );
  });
});
