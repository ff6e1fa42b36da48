import { INestApplication } from '@nestjs/common';
import { DocumentBuilder, OpenAPIObject, SwaggerModule } from '@nestjs/swagger';
import * as contracts from '@switchyard/contracts';
import { validationMetadatasToSchemas } from 'class-validator-jsonschema';
import type { MetadataStorage } from 'class-transformer/types/MetadataStorage';

// class-transformer's registry tells the converter which class a nested field holds
// (@Type), so `DeploymentSpecInput.variants` becomes an array of `VariantSpec` refs.
// eslint-disable-next-line @typescript-eslint/no-require-imports
const transformerMetadata = (require('class-transformer/cjs/storage') as { defaultMetadataStorage: MetadataStorage }).defaultMetadataStorage;

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
  const all = validationMetadatasToSchemas({ classTransformerMetadataStorage: transformerMetadata, refPointerPrefix: '#/components/schemas/' });
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
  return schemas;
}

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
    schemas: { ...contractSchemas(), ...document.components?.schemas } as NonNullable<OpenAPIObject['components']>['schemas'],
  };
  return document;
}

/** Swagger UI at `/docs`, the document at `/docs/json`. */
export function setupOpenApi(app: INestApplication): void {
  let document: OpenAPIObject | undefined;
  SwaggerModule.setup('docs', app, () => (document ??= openApiDocument(app)), { jsonDocumentUrl: 'docs/json', yamlDocumentUrl: 'docs/yaml' });
}
