import { Injectable, Logger, OnModuleDestroy, OnModuleInit } from '@nestjs/common';
import { DeploymentSpec } from '@switchyard/contracts';
import { PeriodicTask } from '@switchyard/runtime';
import { DeploymentRegistry } from '@switchyard/store';
import { servingSpec } from '@switchyard/strategies';
import { RouterEnv } from '../router.env';

/**
 * Specs in memory as they are served (a plan as its current step: `servingSpec`), so a
 * prediction costs no Redis round trip. A change is seen at
 * once through pub/sub, and within REFRESH_INTERVAL_MS through the epoch check even if
 * a message was missed while the subscriber reconnected.
 */
@Injectable()
export class DeploymentCache implements OnModuleInit, OnModuleDestroy {
  private readonly logger = new Logger(DeploymentCache.name);
  private specs = new Map<string, DeploymentSpec>();
  private epoch = -1;
  /** Counts changes applied one by one (set, delete, reload), so a refresh listed before one of them does not undo it. */
  private changes = 0;
  private readonly periodic: PeriodicTask;

  constructor(
    private readonly registry: DeploymentRegistry,
    env: RouterEnv,
  ) {
    this.periodic = new PeriodicTask(() => this.refresh(), env.REFRESH_INTERVAL_MS);
  }

  async onModuleInit(): Promise<void> {
    await this.registry.onChange((name) => void this.reload(name));
    await this.refresh();
    this.periodic.start();
  }

  onModuleDestroy(): Promise<void> {
    return this.periodic.stop();
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
    this.changes++;
  }

  delete(name: string): void {
    this.specs.delete(name);
    this.changes++;
  }

  private async refresh(): Promise<void> {
    try {
      const changes = this.changes;
      const epoch = await this.registry.epoch();
      if (epoch === this.epoch) return;
      const specs = await this.registry.list();
      // A change applied while the list was read may be newer than the list (a PUT answered
      // in between lost its deployment for a refresh interval: 404s): read again next time.
      if (this.changes !== changes) return;
      this.specs = new Map(specs.map((spec) => [spec.name, servingSpec(spec)]));
      this.epoch = epoch;
    } catch (error) {
      this.logger.warn({ error: (error as Error).message }, 'could not refresh deployments; serving cached specs');
    }
  }

  private async reload(name: string): Promise<void> {
    try {
      const spec = await this.registry.get(name);
      if (spec) this.specs.set(name, servingSpec(spec));
      else this.specs.delete(name);
      this.changes++;
    } catch (error) {
      this.logger.warn({ deployment: name, error: (error as Error).message }, 'could not reload deployment');
    }
  }
}
