import { Injectable, Logger, OnModuleInit } from '@nestjs/common';
import { DeploymentSpec } from '@switchyard/contracts';
import { DeploymentRegistry } from './deployment.registry';
import { RegistryWatch } from './registry-watch';

/** Plenty for the handful of versions in flight; bounds memory if specs churn. */
const MAX_ENTRIES = 1000;

/**
 * Specs as they were at a version, cached: a version never changes, except that a
 * deleted and re-created deployment starts counting again at 1, so any change
 * announced for a deployment drops its cached versions.
 */
@Injectable()
export class SpecVersions implements OnModuleInit {
  private readonly logger = new Logger(SpecVersions.name);
  private readonly cache = new Map<string, Promise<DeploymentSpec | null>>();
  private readonly watch: RegistryWatch;

  constructor(private readonly registry: DeploymentRegistry) {
    this.watch = new RegistryWatch({ feed: registry, reload: (name) => this.forget(name), onError: () => undefined });
  }

  onModuleInit(): Promise<void> {
    return this.watch.start();
  }

  /** `null` when the deployment or that version does not exist (it is not cached then). */
  get(name: string, version: number): Promise<DeploymentSpec | null> {
    const key = `${name}@${version}`;
    const cached = this.cache.get(key);
    if (cached) return cached;
    const loading = this.registry.version(name, version).then(
      (spec) => {
        if (!spec) this.cache.delete(key);
        return spec;
      },
      (error: Error) => {
        this.cache.delete(key);
        throw error;
      },
    );
    if (this.cache.size >= MAX_ENTRIES) this.cache.delete(this.cache.keys().next().value!);
    this.cache.set(key, loading);
    return loading;
  }

  private forget(name: string): void {
    for (const key of this.cache.keys()) if (key.startsWith(`${name}@`)) this.cache.delete(key);
    this.logger.debug({ deployment: name }, 'dropped cached spec versions');
  }
}
