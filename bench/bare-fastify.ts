/**
 * Second baseline for the router-overhead benchmark: the bare proxy on Fastify, the HTTP
 * framework under the router's NestJS. Same body, model call and answer as
 * `bare-proxy.ts`; the router / bare-fastify ratio is the cost of NestJS, validation,
 * strategy, metrics and publishing, without the cost of having a framework at all.
 *
 * Env: PORT (listen), MODEL_URL (origin of the model server), MODEL (model name).
 */
import { randomUUID } from 'node:crypto';
import Fastify from 'fastify';
import { inferOutputs, modelPool } from './bare-infer';

const port = Number(process.env.PORT ?? 3991);
const model = process.env.MODEL ?? 'churn-v1';
const path = `/v2/models/${encodeURIComponent(model)}/infer`;
const pool = modelPool(process.env.MODEL_URL ?? 'http://127.0.0.1:9000');

const app = Fastify({ logger: false, keepAliveTimeout: 30_000 });
app.get('/readyz', async () => ({ status: 'ok' }));
app.post('/', async (request, reply) => {
  const { inputs } = request.body as { inputs: unknown };
  const requestId = randomUUID();
  try {
    const answer = await inferOutputs(pool, path, requestId, inputs);
    return reply.code(answer.status === 200 ? 200 : 502).send({ requestId, outputs: answer.outputs });
  } catch (error) {
    return reply.code(502).send({ error: (error as Error).message });
  }
});

const stop = () =>
  void app
    .close()
    .then(() => pool.close())
    .finally(() => process.exit(0));
process.on('SIGTERM', stop);
process.on('SIGINT', stop);

app.listen({ port, host: '127.0.0.1' }).catch((error: Error) => {
  process.stderr.write(`bare-fastify failed: ${error.stack}\n`);
  process.exit(1);
});
