import { Injectable, Logger, OnModuleDestroy, OnModuleInit } from '@nestjs/common';
import { DeploymentSpec } from '@switchyard/contracts';
import { UrlAllowlist } from '@switchyard/model-client';
import { DeploymentRegistry, RegistryWatch } from '@switchyard/store';
import { servingSpec } from '@switchyard/strategies';
import { RouterEnv } from '../router.env';
import { routerMetrics } from '../router.metrics';

/**
 * Specs in memory as they are served (a plan as its current step: `servingSpec`), so a
 * prediction costs no Redis round trip. A change is seen at once through pub/sub, and
 * within REFRESH_INTERVAL_MS through the epoch check even if a message was missed while
 * the subscriber reconnected (`RegistryWatch`).
 */
@Injectable()
export class DeploymentCache implements OnModuleInit, OnModuleDestroy {
  private readonly logger = new Logger(DeploymentCache.name);
  private specs = new Map<string, DeploymentSpec>();
  /** `name@version` of the specs not served, each logged and counted once. */
  private readonly skipped = new Set<string>();
  private readonly watch: RegistryWatch<DeploymentSpec[]>;

  constructor(
    private readonly registry: DeploymentRegistry,
    private readonly allowlist: UrlAllowlist,
    env: RouterEnv,
  ) {
    this.watch = new RegistryWatch({
      feed: registry,
      reload: (name) => this.reload(name),
      refresh: {
        everyMs: env.REFRESH_INTERVAL_MS,
        list: () => registry.list(),
        apply: (specs) => void (this.specs = new Map(specs.filter((spec) => this.admitted(spec)).map((spec) => [spec.name, servingSpec(spec)]))),
      },
      onError: (error, name) =>
        name === undefined
          ? this.logger.warn({ error: error.message }, 'could not refresh deployments; serving cached specs')
          : this.logger.warn({ deployment: name, error: error.message }, 'could not reload deployment'),
    });
  }

  onModuleInit(): Promise<void> {
    return this.watch.start();
  }

  onModuleDestroy(): Promise<void> {
    return this.watch.stop();
  }

  get(name: string): DeploymentSpec | undefined {
    return this.specs.get(name);
  }

  all(): DeploymentSpec[] {
    return [...this.specs.values()];
  }

  /** Read-your-writes on the instance that made the change. */
  set(spec: DeploymentSpec): void {
    const known = this.specs.get(spec.name);
    // The same version again: its rollout status (a plan step or pause) may have changed.
    if (!known || known.version <= spec.version) this.specs.set(spec.name, servingSpec(spec));
    this.watch.changed();
  }

  delete(name: string): void {
    this.specs.delete(name);
    this.watch.changed();
  }

  private async reload(name: string): Promise<void> {
    const spec = await this.registry.get(name);
    if (spec && this.admitted(spec)) this.specs.set(name, servingSpec(spec));
    else this.specs.delete(name);
  }

  /**
   * A PUT checks variant URLs against the allowlist, but a record written straight to the
   * spec log reaches the registry unchecked: such a spec is not served (its deployment
   * answers 404), with the reason logged and counted. The predict path checks each call
   * again (`PredictService`).
   */
  private admitted(spec: DeploymentSpec): boolean {
    const problems = spec.variants.flatMap((variant) => {
      const problem = this.allowlist.problem(variant.url);
      return problem ? [`variants.${variant.name}.url: ${problem}`] : [];
    });
    if (!problems.length) return true;
    // Once per version: every refresh reads it again.
    const key = `${spec.name}@${spec.version}`;
    if (this.skipped.has(key)) return false;
    this.skipped.add(key);
    routerMetrics.specsSkipped.inc({ deployment: spec.name });
    this.logger.warn({ deployment: spec.name, version: spec.version, problems }, 'not serving a spec whose variant URLs the allowlist refuses');
    return false;
  }
}
