import { Module } from '@nestjs/common';
import { DeploymentSpec, DeploymentSpecInput, normalizeSpec } from '@switchyard/contracts';
import { MessagingModule } from '@switchyard/messaging';
import { BaseEnv, createService, ServiceDefinition } from '@switchyard/runtime';
import { DeploymentRegistry, StoreModule } from '@switchyard/store';
import { SpecLog } from './spec-log';
import { SpecLogModule } from './spec-log.module';

@Module({ imports: [MessagingModule, StoreModule, SpecLogModule] })
class SpecWriterModule {}

const specWriter: ServiceDefinition<BaseEnv> = {
  name: 'spec-writer',
  summary: 'writes deployment specs through the spec log',
  envClass: BaseEnv,
  module: () => SpecWriterModule,
};

export interface OpenSpecLog {
  specLog: SpecLog;
  registry: DeploymentRegistry;
  /** Stores a spec as the router's PUT does (without its URL allowlist) and answers the current spec; throws unless it was written or already in force. */
  put(name: string, input: DeploymentSpecInput): Promise<DeploymentSpec>;
  remove(name: string): Promise<void>;
  close(): Promise<void>;
}

/**
 * The spec log outside a service (the bench, tests, tools), on connections of its own:
 * a process that changes specs without running a router.
 */
export async function openSpecLog(env: BaseEnv): Promise<OpenSpecLog> {
  const app = await createService(specWriter, env);
  const specLog = app.get(SpecLog);
  const registry = app.get(DeploymentRegistry);
  return {
    specLog,
    registry,
    put: async (name, input) => {
      const body = normalizeSpec(name, input);
      const outcome = await specLog.submit({ deployment: name, change: 'put', body });
      const stored = outcome.result === 'written' || outcome.result === 'unchanged' ? await registry.get(name) : null;
      if (!stored) throw new Error(`spec of ${name} not written: ${outcome.result}`);
      return stored;
    },
    remove: async (name) => {
      const outcome = await specLog.submit({ deployment: name, change: 'delete' });
      if (outcome.result !== 'written') throw new Error(`${name} not deleted: ${outcome.result}`);
    },
    close: () => app.close(),
  };
}
