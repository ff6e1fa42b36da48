import Ajv, { type ValidateFunction } from 'ajv';
import { toInferInputs } from '@switchyard/demo-models';
import { modelServerService } from '../apps/model-server/src/model-server.service-definition';
import { routerService } from '../apps/router/src/router.service-definition';
import { isolation } from './support/kafka';
import { http } from './support/services';
import { useStack } from './support/stack';

type Operation = {
  requestBody?: { content: Record<string, { schema: object }> };
  responses: Record<string, { content?: Record<string, { schema?: object }> }>;
};

/**
 * The router's OpenAPI document (/docs/json) checked against the router itself: real
 * requests are validated against each route's documented body (a body the router takes
 * passes, one it refuses for a reason the schema can say fails), and every answer's status
 * must be documented for its route, its body valid against the documented schema.
 */
describe('OpenAPI document: real requests and answers validate against it', () => {
  const ids = isolation('openapi');
  const { modelServer, router } = useStack({
    ids,
    services: { modelServer: modelServerService, router: [routerService, { KAFKA_INGRESS: 'false' }] },
  });
  let doc: { paths: Record<string, Record<string, Operation>>; components: object };
  // class-validator's IsUrl documents `format: url`, which the router checks itself (allowlist, protocols): not re-checked here.
  const ajv = new Ajv({ strict: false, allErrors: true, formats: { url: true } });
  const compiled = new Map<object, ValidateFunction>();

  /** The schema's refs pointed into the document, which ajv holds as `openapi`. */
  const resolved = (schema: object): object => JSON.parse(JSON.stringify(schema).replaceAll('"#/components/', '"openapi#/components/'));
  const errorsOf = (schema: object, value: unknown) => {
    const validate = compiled.get(schema) ?? compiled.set(schema, ajv.compile(resolved(schema))).get(schema)!;
    return validate(value) ? [] : (validate.errors ?? []).map((e) => `${e.instancePath} ${e.message}`);
  };
  const operation = (method: string, template: string): Operation => {
    const found = doc.paths[template]?.[method.toLowerCase()];
    if (!found) throw new Error(`${method} ${template} is not in the document`);
    return found;
  };
  /** What the documented body schema says of `body`: [] when it is valid. */
  const requestErrors = (method: string, template: string, body: unknown) =>
    errorsOf(operation(method, template).requestBody!.content['application/json'].schema, body);

  /** Calls the route; its status must be documented and its body valid against the documented schema. */
  async function call(
    method: string,
    template: string,
    params: Record<string, string>,
    body?: unknown,
    options: { query?: string; headers?: Record<string, string> } = {},
  ) {
    const documented = operation(method, template).responses;
    const url = `${router.url}${template.replace(/\{(\w+)\}/g, (_, key: string) => params[key])}${options.query ?? ''}`;
    const answer = await http(method, url, body, options.headers);
    const response = documented[String(answer.status)];
    expect({ route: `${method} ${template}`, status: answer.status, documented: !!response }).toEqual({
      route: `${method} ${template}`,
      status: answer.status,
      documented: true,
    });
    const schema = response.content?.['application/json']?.schema;
    if (schema) expect({ status: answer.status, errors: errorsOf(schema, answer.body) }).toEqual({ status: answer.status, errors: [] });
    return answer;
  }

  const spec = (canaryModel = 'churn-v2') => ({
    variants: [
      { name: 'v1', url: modelServer.url, model: 'churn-v1', timeoutMs: 10000 },
      { name: 'v2', url: modelServer.url, model: canaryModel, timeoutMs: 10000 },
    ],
    strategy: { type: 'canary', primary: 'v1', canary: 'v2', percent: 20 },
    guardrails: { minSamples: 100 },
  });
  const inputs = toInferInputs([0.1, 0.2, 0.3, 0.4]);

  beforeAll(async () => {
    doc = (await http('GET', `${router.url}/docs/json`)).body;
    ajv.addSchema({ $id: 'openapi', components: doc.components });
  });

  it('documents and validates the control plane: PUT, GET, dry run, its 400, 401, 404, 415 and 422', async () => {
    const PUT = '/v1/deployments/{name}';
    expect(requestErrors('PUT', PUT, spec())).toEqual([]);
    expect((await call('PUT', PUT, { name: 'documented' }, spec())).status).toBe(200);
    expect((await call('PUT', PUT, { name: 'documented' }, spec(), { query: '?dryRun=true' })).body).toMatchObject({ result: 'unchanged' });

    const bad = { ...spec(), strategy: { type: 'canary', primary: 'v1', canary: 'v2', percent: 'twenty' } };
    expect(requestErrors('PUT', PUT, bad)).not.toEqual([]);
    expect((await call('PUT', PUT, { name: 'documented' }, bad)).body.problems).toContain(
      'strategy.percent must be a number conforming to the specified constraints',
    );
    // Valid by the schema, refused by the model server: 422, documented.
    expect(requestErrors('PUT', PUT, spec('churn-v9'))).toEqual([]);
    expect((await call('PUT', PUT, { name: 'typo' }, spec('churn-v9'))).status).toBe(422);
    expect((await call('PUT', PUT, { name: 'documented' }, spec(), { headers: { authorization: '' } })).status).toBe(401);
    expect((await call('PUT', PUT, { name: 'documented' }, JSON.stringify(spec()), { headers: { 'content-type': 'text/plain' } })).status).toBe(415);

    expect((await call('GET', '/v1/deployments', {})).body.deployments.map((d: { name: string }) => d.name)).toContain('documented');
    // Feedback that gave no reward, shown in status: none yet.
    expect((await call('GET', '/v1/deployments/{name}', { name: 'documented' })).body.feedback).toEqual({ unmatched: 0, unjoinable: {} });
    expect((await call('GET', '/v1/deployments/{name}', { name: 'missing' })).status).toBe(404);
    expect((await call('GET', '/v1/deployments/{name}', { name: 'Not A Name' })).status).toBe(400);
    expect((await call('GET', '/v1/deployments/{name}/spec', { name: 'documented' })).status).toBe(200);
    expect((await call('GET', '/v1/deployments/{name}/verdict', { name: 'documented' })).status).toBe(200);
    expect((await call('GET', '/v1/deployments/{name}/verdict', { name: 'missing' })).status).toBe(404);
    expect((await call('POST', '/v1/deployments/{name}/promote', { name: 'documented' }, { variant: 'v9' })).status).toBeGreaterThanOrEqual(400);
    expect((await call('POST', '/v1/deployments/{name}/plan/{action}', { name: 'documented', action: 'pause' })).status).toBeGreaterThanOrEqual(400);
  });

  it('documents and validates predictions and feedback: inputs, label, and their 4xx', async () => {
    const PREDICT = '/v1/deployments/{name}/predict';
    const body = { requestId: `openapi-${Date.now()}`, inputs };
    expect(requestErrors('POST', PREDICT, body)).toEqual([]);
    expect((await call('POST', PREDICT, { name: 'documented' }, body)).status).toBe(200);
    expect((await call('POST', PREDICT, { name: 'documented' }, body)).status).toBe(409);
    // No inputs: the document says so as the router does.
    expect(requestErrors('POST', PREDICT, { requestId: 'no-inputs' })).toEqual([expect.stringContaining("must have required property 'inputs'")]);
    expect((await call('POST', PREDICT, { name: 'documented' }, { requestId: 'no-inputs' })).status).toBe(400);
    expect((await call('POST', PREDICT, { name: 'missing' }, { inputs })).status).toBe(404);
    expect((await call('POST', PREDICT, { name: 'documented' }, { inputs: toInferInputs([0.1, 0.2, 0.3]) })).status).toBe(400);

    const FEEDBACK = '/v1/feedback';
    const label = { requestId: body.requestId, deployment: 'documented', label: 1 };
    expect(requestErrors('POST', FEEDBACK, label)).toEqual([]);
    expect(requestErrors('POST', FEEDBACK, [label, { requestId: body.requestId, reward: 0.5 }])).toEqual([]);
    expect(requestErrors('POST', FEEDBACK, { ...label, requestId: 'not valid!' })).not.toEqual([]);
    expect((await call('POST', FEEDBACK, {}, label)).body).toEqual({ accepted: 1 });
    expect((await call('POST', FEEDBACK, {}, { ...label, deployment: 'missing' })).status).toBe(404);
    expect((await call('POST', FEEDBACK, {}, { ...label, requestId: 'not valid!' })).status).toBe(400);
    expect((await call('POST', FEEDBACK, {}, label, { headers: { authorization: '' } })).status).toBe(401);
  });

  it('documents the Open Inference Protocol routes with their errors in OIP shape', async () => {
    const INFER = '/v2/models/{name}/infer';
    expect((await call('POST', INFER, { name: 'documented' }, { inputs })).status).toBe(200);
    expect((await call('POST', INFER, { name: 'missing' }, { inputs })).body).toEqual({ error: expect.any(String) });
    expect((await call('POST', INFER, { name: 'documented' }, { inputs: 'none' })).status).toBe(400);
    expect((await call('GET', '/v2/models/{name}/ready', { name: 'documented' })).status).toBe(200);
    expect((await call('GET', '/v2/models/{name}', { name: 'missing' })).status).toBe(404);
  });
});
