import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { BaseEnv, envVariables, EnvVariable, ServiceDefinition } from '@switchyard/runtime';
import { banditUpdaterService } from '../apps/bandit-updater/src/bandit-updater.service-definition';
import { feedbackJoinerService } from '../apps/feedback-joiner/src/feedback-joiner.service-definition';
import { modelServerService } from '../apps/model-server/src/model-server.service-definition';
import { rolloutControllerService } from '../apps/rollout-controller/src/rollout-controller.service-definition';
import { routerService } from '../apps/router/src/router.service-definition';
import { shadowWorkerService } from '../apps/shadow-worker/src/shadow-worker.service-definition';

/** The page, relative to the repository's root, and the command that writes it. */
export const CONFIGURATION_PAGE = 'docs/configuration.md';
export const REGENERATE = 'npm run docs:config';

type Service = Pick<ServiceDefinition<BaseEnv>, 'name' | 'summary' | 'envClass'>;

export const SERVICES: Service[] = [
  routerService,
  shadowWorkerService,
  feedbackJoinerService,
  banditUpdaterService,
  rolloutControllerService,
  modelServerService,
];

function cell(text: string): string {
  return text.replace(/\|/g, '\\|');
}

function table(variables: EnvVariable[]): string {
  const rows = variables.map(({ name, type, defaultValue, secret, description }) => {
    const shown = secret ? 'unset (secret: never printed)' : defaultValue === undefined ? 'unset' : defaultValue === '' ? 'empty' : `\`${defaultValue}\``;
    return `| \`${name}\` | ${cell(type)} | ${cell(shown)} | ${cell(description)} |`;
  });
  return ['| variable | type | default | meaning |', '|---|---|---|---|', ...rows].join('\n');
}

/** What a service reads beyond BaseEnv, or reads with another default or meaning (its PORT). */
function ownVariables(service: Service, base: Map<string, EnvVariable>): EnvVariable[] {
  return envVariables(service.envClass).filter((variable) => {
    const shared = base.get(variable.name);
    return !shared || shared.defaultValue !== variable.defaultValue || shared.description !== variable.description;
  });
}

/** docs/configuration.md, from the env classes: what `--help` of each service prints, as tables. */
export function configurationPage(services: Service[] = SERVICES): string {
  const baseVariables = envVariables(BaseEnv);
  const base = new Map(baseVariables.map((variable) => [variable.name, variable]));
  const sections = services.map((service) => `## ${service.name}\n\nThe ${service.name} ${service.summary}.\n\n${table(ownVariables(service, base))}\n`);
  return `# Configuration

<!-- Generated from the env classes (libs/runtime/src/env.ts, apps/*/src/*.env.ts) by
tools/config-docs.ts: do not edit by hand, run \`${REGENERATE}\`. -->

Every service reads only environment variables, validates them at boot (a bad one stops
it with \`Invalid environment variables: NAME=value (reason)\`), and prints them with their
defaults under \`--help\` (\`node dist/apps/<service>/src/main.js --help\`). A secret is
never printed: \`--help\` says only whether it is set, a boot error names it without its
value.

Related pages: [Redis Cluster URLs](operations.md#redis-cluster),
[Kafka TLS and SASL, admin and feedback keys](security.md),
[consumer retries, poison messages and the DLQ](failures.md#failures),
[the producer's linger, measured](benchmarks.md#settings-tried-measured-then-chosen),
[scaling each service](operations.md#scaling).

## Every service

${table(baseVariables)}

${sections.join('\n')}`;
}

if (require.main === module) {
  writeFileSync(join(__dirname, '..', '..', CONFIGURATION_PAGE), configurationPage());
  process.stdout.write(`wrote ${CONFIGURATION_PAGE}\n`);
}
