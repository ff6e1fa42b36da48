import Ajv, { ValidateFunction } from 'ajv';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parse as parseYaml } from 'yaml';
import { binaryDataSize, OipDatatype, OIP_DATATYPES, oipStringify, tensorProblems } from '@switchyard/contracts';

/**
 * Validators of Open Inference Protocol bodies for the conformance suite: ajv on the
 * vendored spec's own schemas (spec/open_inference_rest.yaml, read from the source tree),
 * plus the prose rules of spec/inference_rest.md the schemas leave out (src/oip/rules.ts).
 * Test tooling: ajv is a development dependency, so no service imports this.
 */

export const SPEC_DIR = join(__dirname, 'spec');

/** The spec's component schemas by name (`inference_request`, `metadata_model_response`, …). */
export type OipSchemaName =
  | 'metadata_server_response'
  | 'metadata_server_error_response'
  | 'metadata_model_response'
  | 'metadata_model_error_response'
  | 'inference_request'
  | 'inference_response'
  | 'inference_error_response';

/** The prose's bodies the schema has none for: health and readiness (inference_rest.md, "Payload Contents"). */
const PROSE_SCHEMAS = {
  live_server_response: { type: 'object', properties: { live: { type: 'boolean' } }, required: ['live'] },
  ready_server_response: { type: 'object', properties: { ready: { type: 'boolean' } }, required: ['ready'] },
  ready_model_response: { type: 'object', properties: { name: { type: 'string' }, ready: { type: 'boolean' } }, required: ['name', 'ready'] },
};
export type OipProseSchemaName = keyof typeof PROSE_SCHEMAS;

interface Spec {
  components: { schemas: Record<string, object> };
}

export class OipValidators {
  private readonly compiled = new Map<string, ValidateFunction>();

  constructor(specDir = SPEC_DIR) {
    const spec = parseYaml(readFileSync(join(specDir, 'open_inference_rest.yaml'), 'utf8')) as Spec;
    // `x-examples` is the spec's own annotation keyword; strict mode would refuse it.
    const ajv = new Ajv({ allErrors: true, strict: false });
    ajv.addSchema({ components: spec.components }, 'oip');
    for (const name of Object.keys(spec.components.schemas)) this.compiled.set(name, ajv.compile({ $ref: `oip#/components/schemas/${name}` }));
    for (const [name, schema] of Object.entries(PROSE_SCHEMAS)) this.compiled.set(name, ajv.compile(schema));
  }

  /** Problems of `body` against a schema of the spec; for tensors, also the prose rules. Empty when valid. */
  problems(schema: OipSchemaName | OipProseSchemaName, body: unknown): string[] {
    const validate = this.compiled.get(schema);
    if (!validate) throw new Error(`the vendored spec has no schema ${schema}`);
    // The schema sees the JSON the body is (an ExactInteger as the number it is); the prose rules see the exact values.
    const json: unknown = body === undefined ? undefined : withBinaryData(JSON.parse(oipStringify(body)));
    const problems = validate(json) ? [] : (validate.errors ?? []).map((e) => `${schema}${e.instancePath} ${e.message ?? 'is invalid'}`);
    return [...problems, ...proseProblems(schema, body)];
  }

  /** Problems of an inference response given the request it answers: the schema, tensors, echoed id, requested outputs. */
  responseProblems(sent: object, response: unknown): string[] {
    const request = sent as { id?: string; outputs?: { name: string }[] };
    const problems = this.problems('inference_response', response);
    const body = response as { id?: unknown; outputs?: { name?: unknown }[] };
    if (request.id !== undefined && body?.id !== request.id)
      problems.push(`response id ${JSON.stringify(body?.id)} is not the request's ${JSON.stringify(request.id)}`);
    if (request.outputs?.length && Array.isArray(body?.outputs)) {
      const wanted = new Set(request.outputs.map((o) => o.name));
      for (const output of body.outputs)
        if (!wanted.has(output?.name as string)) problems.push(`response output ${JSON.stringify(output?.name)} was not requested`);
    }
    return problems;
  }
}

/**
 * The body as the schema sees it under Triton's binary extension (spec/extension_binary_data.md):
 * a tensor with `parameters.binary_data_size` has its data after the JSON, so the schema's
 * required `data` is given as empty; its sizes are binaryDataProblems' to check.
 */
function withBinaryData(json: unknown): unknown {
  if (json === null || typeof json !== 'object') return json;
  const body = { ...(json as Record<string, unknown>) };
  for (const key of ['inputs', 'outputs'])
    if (Array.isArray(body[key]))
      body[key] = (body[key] as Record<string, unknown>[]).map((tensor) =>
        binaryDataSize(tensor) === undefined || tensor.data !== undefined ? tensor : { ...tensor, data: [] },
      );
  return body;
}

function proseProblems(schema: string, body: unknown): string[] {
  const tensors = (key: string) => ((body as Record<string, unknown> | null)?.[key] as unknown[] | undefined) ?? [];
  switch (schema) {
    case 'inference_request':
      return Array.isArray(tensors('inputs')) ? tensors('inputs').flatMap((t, i) => tensorProblems(t, `inputs.${i}`)) : [];
    case 'inference_response':
      return Array.isArray(tensors('outputs')) ? tensors('outputs').flatMap((t, i) => tensorProblems(t, `outputs.${i}`)) : [];
    case 'metadata_model_response':
      return ['inputs', 'outputs'].flatMap((key) =>
        Array.isArray(tensors(key))
          ? tensors(key).flatMap((t, i) => {
              const { datatype, shape } = (t ?? {}) as { datatype?: unknown; shape?: unknown };
              const problems: string[] = [];
              if (!OIP_DATATYPES.includes(datatype as OipDatatype)) problems.push(`${key}.${i}.datatype ${JSON.stringify(datatype)} is not an OIP datatype`);
              // Metadata shapes may say -1: a dimension of any size.
              if (!Array.isArray(shape) || !shape.every((d) => Number.isInteger(d) && d >= -1)) problems.push(`${key}.${i}.shape must be integers ≥ -1`);
              return problems;
            })
          : [],
      );
    case 'inference_error_response':
    case 'metadata_server_error_response':
    case 'metadata_model_error_response':
      // The prose gives the error body as `{"error": $string}`: that one field.
      return body !== null && typeof body === 'object' && Object.keys(body).length === 1 ? [] : ['an error body holds exactly one field, "error"'];
    default:
      return [];
  }
}
