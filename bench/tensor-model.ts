/**
 * The model of the large-tensor rows: an OIP v2 server with one model, `tensor`, that
 * reads an FP32 tensor of any shape, as JSON or in Triton's binary extension, and answers
 * its sum (FP64 [1]). Reading its input is all its work, so a row through the router
 * against this model called directly shows what the router adds to moving the tensor.
 *
 * Env: PORT (listen).
 */
import { createServer } from 'node:http';

const port = Number(process.env.PORT ?? 3991);
const PATH = '/v2/models/tensor/infer';

interface Input {
  name: string;
  datatype: string;
  shape: number[];
  data?: number[];
  parameters?: { binary_data_size?: number };
}

/** The sum of the first input's elements, from its JSON data or its binary bytes (little-endian FP32). */
function sumOf(input: Input, binary: Buffer | undefined): number {
  let sum = 0;
  if (input.data) {
    for (const value of input.data) sum += value;
    return sum;
  }
  if (!binary) throw new Error('input has neither data nor binary data');
  for (let at = 0; at + 4 <= binary.length; at += 4) sum += binary.readFloatLE(at);
  return sum;
}

const server = createServer((req, res) => {
  if (req.method === 'GET' && (req.url === '/readyz' || req.url === '/v2/models/tensor/ready')) {
    res.writeHead(200, { 'content-type': 'application/json' }).end('{"ready":true}');
    return;
  }
  const chunks: Buffer[] = [];
  req.on('data', (chunk: Buffer) => chunks.push(chunk));
  req.on('end', () => {
    if (req.method !== 'POST' || req.url !== PATH) {
      res.writeHead(404, { 'content-type': 'application/json' }).end('{"error":"no such route"}');
      return;
    }
    try {
      const body = Buffer.concat(chunks);
      const headerLength = req.headers['inference-header-content-length'];
      const length = headerLength === undefined ? body.length : Number(headerLength);
      const request = JSON.parse(body.toString('utf8', 0, length)) as { id?: string; inputs: Input[] };
      const sum = sumOf(request.inputs[0], headerLength === undefined ? undefined : body.subarray(length));
      const answer = {
        model_name: 'tensor',
        ...(request.id !== undefined && { id: request.id }),
        outputs: [{ name: 'sum', datatype: 'FP64', shape: [1], data: [sum] }],
      };
      res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify(answer));
    } catch (error) {
      res.writeHead(400, { 'content-type': 'application/json' }).end(JSON.stringify({ error: (error as Error).message }));
    }
  });
});

server.listen(port, '127.0.0.1');
for (const signal of ['SIGTERM', 'SIGINT'] as const) process.once(signal, () => server.close(() => process.exit(0)));
