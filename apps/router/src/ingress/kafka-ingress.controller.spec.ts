import { KafkaClient, InboundBatch, InboundMessage } from '@switchyard/messaging';
import { PredictResponse } from '@switchyard/contracts';
import { Outcome } from '../outcome';
import { PredictService } from '../predict/predict.service';
import { RouterEnv } from '../router.env';
import { KafkaIngressController } from './kafka-ingress.controller';

const message = (requestId: string, deployment: string): InboundMessage => ({
  topic: 'requests',
  partition: 0,
  offset: '0',
  key: requestId,
  value: Buffer.from(JSON.stringify({ requestId, deployment, inputs: [1] })),
  headers: {},
  timestamp: '0',
});
const batchOf = (...messages: InboundMessage[]) => ({ topic: 'requests', partition: 0, messages }) as unknown as InboundBatch;

function setUp(predict: (deployment: string, requestId: string) => Promise<Outcome<PredictResponse>>) {
  const replies: { topic: string; key: string; value: unknown }[] = [];
  const kafka = {
    topics: { requests: 'requests', responses: 'responses', predictions: 'predictions' },
    topicExists: async () => true,
    publish: async (topic: string, messages: { key: string; value: string }[]) => {
      replies.push(...messages.map(({ key, value }) => ({ topic, key, value: JSON.parse(value) })));
    },
  } as unknown as KafkaClient;
  const predictions = { predict: (deployment: string, request: { requestId: string }) => predict(deployment, request.requestId) } as unknown as PredictService;
  return { sut: new KafkaIngressController(predictions, kafka, {} as RouterEnv), replies };
}

describe(KafkaIngressController.name, () => {
  it("answers a served request with the prediction and a failed one with the failure's message", async () => {
    const { sut, replies } = setUp(async (deployment, requestId) =>
      deployment === 'churn'
        ? { ok: true, value: { requestId, deployment, variant: 'v1', outputs: [2] } }
        : { ok: false, error: 'not-found', message: `deployment "${deployment}" does not exist` },
    );

    const outcome = await sut.handle(batchOf(message('k-1', 'churn'), message('k-2', 'missing')));

    expect(outcome).toEqual({ rejected: [] });
    expect(replies).toEqual([
      { topic: 'responses', key: 'k-1', value: { requestId: 'k-1', deployment: 'churn', variant: 'v1', outputs: [2] } },
      { topic: 'responses', key: 'k-2', value: { requestId: 'k-2', error: 'deployment "missing" does not exist' } },
    ]);
  });

  it('lets an error that is no outcome fail the batch, which is then retried', async () => {
    const { sut, replies } = setUp(async () => {
      throw new Error('redis down');
    });

    await expect(sut.handle(batchOf(message('k-1', 'churn')))).rejects.toThrow('redis down');
    expect(replies).toEqual([]);
  });
});
