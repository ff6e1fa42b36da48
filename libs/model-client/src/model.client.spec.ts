import { StoredVariant } from '@switchyard/contracts';
import { createServer, IncomingHttpHeaders, Server } from 'node:http';
import { AddressInfo } from 'node:net';
import { ModelClient, ModelError } from './model.client';

describe(ModelError.name, () => {
  it('keeps a ModelError as it is', () => {
    const failure = new ModelError('rejected', 'model rejected the request (400)', 400);

    expect(ModelError.of(failure)).toBe(failure);
  });

  it('takes any other error as unavailable, with its message', () => {
    const sut = ModelError.of(new TypeError('socket hang up'));

    expect(sut).toMatchObject({ kind: 'unavailable', message: 'socket hang up', retryable: true });
  });

  it('retries timeouts, refused connections and 5xx, not rejections or unreadable answers', () => {
    const retryable = (['timeout', 'unavailable', 'server-error', 'rejected', 'bad-response'] as const).filter((kind) => new ModelError(kind, '').retryable);

    expect(retryable).toEqual(['timeout', 'unavailable', 'server-error']);
  });
});

describe(`${ModelClient.name} and Triton's binary tensor extension`, () => {
  let server: Server;
  let url: string;
  const got: { headers: IncomingHttpHeaders; body: Buffer }[] = [];
  /** What the model answers next: its headers and body. */
  let answer: { headers: Record<string, string>; body: Buffer } = { headers: {}, body: Buffer.alloc(0) };
  const client = new ModelClient();
  const variant = (over: Partial<StoredVariant> = {}): StoredVariant =>
    ({ name: 'v1', url, model: 'm', protocol: 'v2', timeoutMs: 2000, retries: 0, ...over }) as StoredVariant;
  const binaryAnswer = (header: object, bytes: Buffer) => {
    const json = Buffer.from(JSON.stringify(header));
    return {
      headers: { 'content-type': 'application/octet-stream', 'inference-header-content-length': String(json.length) },
      body: Buffer.concat([json, bytes]),
    };
  };

  beforeAll(async () => {
    server = createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (chunk: Buffer) => chunks.push(chunk));
      req.on('end', () => {
        got.push({ headers: req.headers, body: Buffer.concat(chunks) });
        res.writeHead(200, { 'content-type': 'application/json', ...answer.headers }).end(answer.body);
      });
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });
  afterAll(async () => {
    await client.onApplicationShutdown();
    await new Promise((resolve) => server.close(resolve));
  });

  const inputs = [{ name: 'x', datatype: 'UINT8', shape: [3], parameters: { binary_data_size: 3 } }];
  const outputs = [{ name: 'y', datatype: 'INT32', shape: [1], parameters: { binary_data_size: 4 } }];

  it("sends binary inputs after the JSON header as they came, and keeps a binary answer's bytes undecoded", async () => {
    answer = binaryAnswer({ outputs }, Buffer.from([7, 0, 0, 0]));

    const result = await client.infer(variant(), inputs, 'r-1', { binary: [Buffer.from([1, 2]), Buffer.from([3])] });

    const sent = got.at(-1)!;
    const length = Number(sent.headers['inference-header-content-length']);
    expect(JSON.parse(sent.body.toString('utf8', 0, length))).toEqual({ id: 'r-1', inputs });
    expect([...sent.body.subarray(length)]).toEqual([1, 2, 3]);
    expect(sent.headers['content-length']).toBe(String(sent.body.length));
    expect(result).toMatchObject({ outputs, binary: Buffer.from([7, 0, 0, 0]) });
  });

  it('refuses a binary answer whose sizes do not add up, as a bad response (not retried)', async () => {
    answer = binaryAnswer({ outputs }, Buffer.from([7, 0]));

    await expect(client.infer(variant(), inputs, 'r-2', { binary: [Buffer.from([1, 2, 3])] })).rejects.toMatchObject({
      kind: 'bad-response',
      message: expect.stringContaining('outputs.0: binary_data_size 4 runs past the end of the binary data (2 bytes left)'),
    });
  });

  it('decodes binary inputs into JSON data for a json-protocol variant', async () => {
    answer = { headers: {}, body: Buffer.from('{"outputs": {"ok": true}}') };

    await client.infer(variant({ protocol: 'json' }), inputs, 'r-3', { binary: [Buffer.from([1, 2, 3])] });

    expect(JSON.parse(got.at(-1)!.body.toString())).toEqual({ inputs: [{ name: 'x', datatype: 'UINT8', shape: [3], data: [1, 2, 3] }] });
  });
});
