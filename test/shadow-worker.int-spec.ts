import { randomUUID } from 'node:crypto';
import { envelope, ShadowRequestEvent, topicNames, validateDeploymentSpec } from '@switchyard/contracts';
import { groundTruth, toInferInputs } from '@switchyard/demo-models';
import { modelServerService } from '../apps/model-server/src/model-server.service-definition';
import { shadowWorkerService } from '../apps/shadow-worker/src/shadow-worker.service-definition';
import { isolation } from './support/kafka';
import { http } from './support/services';
import { useStack } from './support/stack';
import { waitFor } from './support/wait';

describe('shadow-worker (real Kafka, Redis and model-server)', () => {
  const ids = isolation('shadow');
  const topics = topicNames(ids.topicPrefix);
  const group = `shadow-${ids.groupSuffix}`;
  const { kafka, producer, modelServer, worker, specs, shadowPredictions, dlq } = useStack({
    ids,
    services: { modelServer: modelServerService, worker: [shadowWorkerService, { SHADOW_GROUP: group }] },
    specLog: true,
    producer: true,
    collect: { shadowPredictions: 'shadowPredictions', dlq: 'dlq' },
  });
  const features = [0.9, 0.8, 0.1, 0.5];
  const truth = groundTruth(features);

  /** The worker has committed everything written to the shadow-requests topic. */
  async function workerCaughtUp(): Promise<boolean> {
    const admin = kafka.admin();
    await admin.connect();
    try {
      const ends = await admin.fetchTopicOffsets(topics.shadowRequests);
      const [committed] = await admin.fetchOffsets({ groupId: group, topics: [topics.shadowRequests] });
      const at = new Map(committed.partitions.map((p) => [p.partition, Number(p.offset)]));
      return ends.every((end) => Number(end.high) === 0 || at.get(end.partition) === Number(end.high));
    } finally {
      await admin.disconnect();
    }
  }

  function shadowRequest(requestId: string, shadows: string[], specVersion = 1): ShadowRequestEvent {
    return {
      ...envelope('shadowRequest'),
      requestId,
      deployment: 'churn',
      specVersion,
      inputs: toInferInputs(features),
      primaryOutputs: [{ name: 'label', shape: [1], datatype: 'INT64', data: [truth] }],
      shadows,
    };
  }

  beforeAll(async () => {
    const spec = validateDeploymentSpec({
      variants: [
        { name: 'v1', url: modelServer.url, model: 'churn-v1', timeoutMs: 500 },
        { name: 's1', url: modelServer.url, model: 'churn-perfect', timeoutMs: 500 },
        { name: 's2', url: modelServer.url, model: 'churn-broken', timeoutMs: 500 },
      ],
      strategy: { type: 'shadow', primary: 'v1', shadows: ['s1', 's2'] },
    });
    if (!spec.ok) throw new Error(spec.problems.join('; '));
    await specs.put('churn', spec.value);
  });

  it('publishes one shadow prediction per shadow: outputs from the one that answers, the error of the one that fails', async () => {
    const requestId = `sr-${randomUUID()}`;
    await producer.send({ topic: topics.shadowRequests, messages: [{ key: requestId, value: JSON.stringify(shadowRequest(requestId, ['s1', 's2'])) }] });

    const events = await waitFor(
      () => {
        const mine = shadowPredictions.messages.filter((m) => m.key === requestId);
        return mine.length >= 2 ? mine : undefined;
      },
      { what: 'two shadow predictions' },
    );
    await waitFor(workerCaughtUp, { what: 'the worker to commit' });
    expect(shadowPredictions.messages.filter((m) => m.key === requestId)).toHaveLength(2);

    const byVariant = Object.fromEntries(events.map((m) => [m.value.variant, m.value]));
    const common = { type: 'prediction', version: 1, requestId, deployment: 'churn', role: 'shadow', strategy: 'shadow', specVersion: 1, probability: 1 };
    expect(byVariant.s1).toMatchObject(common);
    expect(byVariant.s1.outputs[0]).toMatchObject({ name: 'label', data: [truth] });
    expect(byVariant.s1.error).toBeUndefined();
    expect(byVariant.s2).toMatchObject(common);
    // What happened, not what the model wrote.
    expect(byVariant.s2.error).toBe('server-error: model answered 500');
    expect(byVariant.s2.outputs).toBeUndefined();

    const metrics = (await http('GET', `${worker.url}/metrics`)).body as string;
    expect(metrics).toMatch(/switchyard_shadow_agreement_total\{[^}]*deployment="churn",variant="s1",agree="true"[^}]*\} 1/);
    expect(metrics).toMatch(/switchyard_shadow_predictions_total\{[^}]*variant="s2",outcome="error"[^}]*\} 1/);
  });

  it('reports a spec version or a variant that does not exist as an error event', async () => {
    const requestId = `sr-${randomUUID()}`;
    await producer.send({
      topic: topics.shadowRequests,
      messages: [
        { key: requestId, value: JSON.stringify(shadowRequest(requestId, ['nope'])) },
        { key: `${requestId}-v9`, value: JSON.stringify(shadowRequest(`${requestId}-v9`, ['s1'], 9)) },
      ],
    });
    const unknownVariant = await waitFor(() => shadowPredictions.messages.find((m) => m.key === requestId));
    expect(unknownVariant.value.error).toMatch(/^unknown-variant: .*"nope"/);
    const missingSpec = await waitFor(() => shadowPredictions.messages.find((m) => m.key === `${requestId}-v9`));
    expect(missingSpec.value.error).toMatch(/^spec-missing: .*version 9/);
  });

  it('sends invalid messages to the DLQ and still serves the valid ones of the batch', async () => {
    const good = `sr-${randomUUID()}`;
    const bad = `bad-${randomUUID()}`;
    await producer.send({
      topic: topics.shadowRequests,
      messages: [
        { key: `${bad}-json`, value: '{not json' },
        { key: `${bad}-shape`, value: JSON.stringify({ ...shadowRequest(bad, ['s1']), shadows: 'Not A Name' }) },
        { key: good, value: JSON.stringify(shadowRequest(good, ['s1'])) },
      ],
    });
    await waitFor(() => shadowPredictions.messages.find((m) => m.key === good), { what: 'the valid request served' });
    const records = await waitFor(
      () => {
        const mine = dlq.messages.filter((m) => m.key?.startsWith(bad));
        return mine.length >= 2 ? mine : undefined;
      },
      { what: 'two DLQ records' },
    );
    const byKey = Object.fromEntries(records.map((m) => [m.key, m.value]));
    expect(byKey[`${bad}-json`]).toMatchObject({
      topic: topics.shadowRequests,
      value: '{not json',
      consumerGroup: group,
      error: expect.stringContaining('not valid JSON'),
    });
    expect(byKey[`${bad}-shape`].error).toContain('shadows');
    expect(shadowPredictions.messages.filter((m) => m.key?.startsWith(bad))).toHaveLength(0);
  });
});
