import { applyDecorators, INestApplication } from '@nestjs/common';
import { ApiResponse, DocumentBuilder, OpenAPIObject, SwaggerModule } from '@nestjs/swagger';
import * as contracts from '@switchyard/contracts';
import { validationMetadatasToSchemas } from 'class-validator-jsonschema';
import type { MetadataStorage } from 'class-transformer/types/MetadataStorage';

// class-transformer's registry tells the converter which class a nested field holds
// (@Type), so `DeploymentSpecInput.variants` becomes an array of `VariantSpec` refs.
// eslint-disable-next-line @typescript-eslint/no-require-imports
const transformerMetadata = (require('class-transformer/cjs/storage') as { defaultMetadataStorage: MetadataStorage }).defaultMetadataStorage;

/**
 * The registry as the converter should read it: an `@Opaque()` field (predict's `inputs`, a
 * label) is excluded from class-transformer's conversion only (`toClassOnly`: it is kept
 * as sent), not from the body, so it is documented, as any JSON value.
 */
const documentedMetadata: MetadataStorage = Object.create(transformerMetadata, {
  findExcludeMetadata: {
    value: (target: object, key: string) => {
      const exclude = transformerMetadata.findExcludeMetadata(target as never, key);
      return exclude?.options?.toClassOnly ? undefined : exclude;
    },
  },
});

/** Names of the contract classes the API documents: what `libs/contracts` exports, nothing else that class-validator knows (env classes, say). */
const CONTRACT_CLASSES = new Set(
  Object.entries(contracts)
    .filter(([, value]) => typeof value === 'function' && /^class /.test(String(value)))
    .map(([name]) => name),
);

/**
 * JSON schemas of the contract classes, generated from their class-validator decorators:
 * the same metadata that validates every request, so the document cannot drift from it.
 */
export function contractSchemas(): Record<string, object> {
  const all = validationMetadatasToSchemas({
    classTransformerMetadataStorage: documentedMetadata,
    refPointerPrefix: '#/components/schemas/',
  });
  const schemas = Object.fromEntries(Object.entries(all).filter(([name]) => CONTRACT_CLASSES.has(name)));
  // The converter reads @Type's class, not its discriminator: a strategy and an evaluation's policy are one class per `type`.
  for (const [schema, field, classes] of [
    ['DeploymentSpecInput', 'strategy', contracts.STRATEGY_CLASSES],
    ['EvaluateBody', 'policy', contracts.EVALUATION_POLICY_CLASSES],
  ] as const) {
    (schemas[schema] as { properties: Record<string, object> }).properties[field] = {
      oneOf: classes.map(({ value }) => ({ $ref: `#/components/schemas/${value.name}` })),
      discriminator: { propertyName: 'type' },
    };
  }
  // An opaque field typed `unknown` is inferred as a class named Object: it is any JSON value.
  for (const schema of Object.values(schemas) as { properties?: Record<string, { $ref?: string }> }[]) {
    for (const [field, property] of Object.entries(schema.properties ?? {})) {
      if (property.$ref === '#/components/schemas/Object') schema.properties![field] = { description: 'any JSON value' } as never;
    }
  }
  (schemas.PredictBody as { properties: Record<string, object> }).properties.inputs = {
    not: { type: 'null' },
    description: "the model's inputs: OIP input tensors ([{name, shape, datatype, data}]) for a v2 variant, any JSON for a json one",
  };
  return schemas;
}

/** Why each error status is answered; the body is `HttpError` (`OipError` on /v2). */
const ERRORS: Record<number, string> = {
  400: 'the request is invalid: `problems` lists every field to fix',
  401: 'the route needs a key this request did not bring (Authorization: Bearer …)',
  404: 'no such deployment (or variant)',
  409: 'a conflict: the request id was used already, or the spec changed while the request was handled (read it again and retry)',
  413: 'the body or its tensors are too large',
  415: 'the body is not sent as application/json',
  422: 'the request is valid but cannot be acted on: the reason says why (a model that is not ready, inputs every variant refused, an evaluation without enough data)',
  429: 'too many requests in flight: retry later',
  502: 'the model failed',
  503: 'the router cannot reach what it needs (Redis, Kafka, every variant)',
};

/** The error answers of a route, each with its status's meaning and the error body's schema. */
export function ApiErrors(...statuses: (keyof typeof ERRORS)[]) {
  return applyDecorators(...statuses.map((status) => ApiResponse({ status, description: ERRORS[status], schema: { $ref: '#/components/schemas/HttpError' } })));
}

/** The error answers of an Open Inference Protocol route, in OIP's shape. */
export function ApiOipErrors(...statuses: (keyof typeof ERRORS)[]) {
  return applyDecorators(...statuses.map((status) => ApiResponse({ status, description: ERRORS[status], schema: { $ref: '#/components/schemas/OipError' } })));
}

const ERROR_SCHEMAS = {
  HttpError: {
    type: 'object',
    required: ['statusCode', 'message'],
    properties: {
      statusCode: { type: 'integer', minimum: 400, maximum: 599 },
      error: { type: 'string' },
      message: { type: 'string' },
      problems: { type: 'array', items: { type: 'string' }, description: 'every problem of a 400, each naming its field' },
      reasons: { type: 'array', items: { type: 'string' } },
      n: { type: 'object', additionalProperties: { type: 'number' } },
    },
  },
  OipError: { type: 'object', required: ['error'], properties: { error: { type: 'string' } }, additionalProperties: false },
};

/** Routes from the controllers (NestJS's route metadata), schemas from the contracts. */
export function openApiDocument(app: INestApplication): OpenAPIObject {
  const config = new DocumentBuilder()
    .setTitle('Switchyard router')
    .setDescription(
      'Predictions, feedback and the control plane of Switchyard deployments. Control-plane routes need `Authorization: Bearer <ADMIN_API_KEY>` when the router has one.',
    )
    .setVersion('1')
    .addBearerAuth()
    .build();
  const document = SwaggerModule.createDocument(app, config);
  document.components = {
    ...document.components,
    schemas: { ...contractSchemas(), ...ERROR_SCHEMAS, ...document.components?.schemas } as NonNullable<OpenAPIObject['components']>['schemas'],
  };
  return document;
}

/** Swagger UI at `/docs`, the document at `/docs/json`. */
export function setupOpenApi(app: INestApplication): void {
  let document: OpenAPIObject | undefined;
  SwaggerModule.setup('docs', app, () => (document ??= openApiDocument(app)), { jsonDocumentUrl: 'docs/json', yamlDocumentUrl: 'docs/yaml' });
}
