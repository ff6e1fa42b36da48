/**
 * Baseline for the router-overhead benchmark: the least a proxy in front of a model can
 * do. It reads the same JSON body the router gets (`{inputs}`), sends it to the same
 * model over OIP v2 with the same undici Pool settings as `libs/model-client`, and
 * answers the model's `outputs`. No validation, no strategy, no Redis, no Kafka, no
 * metrics, no logging.
 *
 * Env: PORT (listen), MODEL_URL (origin of the model server), MODEL (model name).
 */
import { createServer } from 'node:http';
import { randomUUID } from 'node:crypto';
import { inferOutputs, modelPool } from './bare-infer';

const port = Number(process.env.PORT ?? 3990);
const modelUrl = process.env.MODEL_URL ?? 'http://127.0.0.1:9000';
const model = process.env.MODEL ?? 'churn-v1';
const path = `/v2/models/${encodeURIComponent(model)}/infer`;

const pool = modelPool(modelUrl);

const server = createServer((req, res) => {
  if (req.method === 'GET' && (req.url === '/readyz' || req.url === '/healthz')) {
    res.writeHead(200, { 'content-type': 'application/json' }).end('{"status":"ok"}');
    return;
  }
  const chunks: Buffer[] = [];
  req.on('data', (chunk: Buffer) => chunks.push(chunk));
  req.on('end', () => {
    void (async () => {
      try {
        const { inputs } = JSON.parse(Buffer.concat(chunks).toString('utf8')) as { inputs: unknown };
        const requestId = randomUUID();
        const answer = await inferOutputs(pool, path, requestId, inputs);
        const body = JSON.stringify({ requestId, outputs: answer.outputs });
        res.writeHead(answer.status === 200 ? 200 : 502, { 'content-type': 'application/json' }).end(body);
      } catch (error) {
        res.writeHead(502, { 'content-type': 'application/json' }).end(JSON.stringify({ error: (error as Error).message }));
      }
    })();
  });
});

server.keepAliveTimeout = 30_000;
server.listen(port, '127.0.0.1', () => process.stdout.write(`bare-proxy listening on ${port}\n`));

const stop = () => {
  server.close();
  server.closeAllConnections();
  void pool.close().finally(() => process.exit(0));
};
process.on('SIGTERM', stop);
process.on('SIGINT', stop);
