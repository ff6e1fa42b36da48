import { Injectable, Logger, OnModuleDestroy, OnModuleInit } from '@nestjs/common';
import { Gauge } from 'prom-client';
import { DeploymentSpec } from '@switchyard/contracts';
import { BanditWeightsStore, RegistryWatch, StoredWeights } from '@switchyard/store';
import { policyModels } from '@switchyard/strategies';
import { DeploymentCache } from '../deployments/deployment.cache';
import { RouterEnv } from '../router.env';

/** Stored weights with a contextual bandit's models decoded once, not per request. */
export interface ServedWeights extends StoredWeights {
  models?: ReturnType<typeof policyModels>;
}

function decoded(stored: Map<string, StoredWeights>): Map<string, ServedWeights> {
  return new Map([...stored].map(([name, weights]) => [name, { ...weights, models: weights.policy === undefined ? undefined : policyModels(weights.policy) }]));
}

/** The weights this process's routers serve: read at each scrape. */
const serving = new Set<ArmWeights>();

/** Registered on creation; read at each scrape from the routers of this process. */
export const banditWeightMetrics = {
  weight: new Gauge({
    name: 'switchyard_router_bandit_weight',
    help: "Share of a bandit deployment's requests each variant is sampled with now: the weights the bandit updater stored, as this router serves them (absent until the first are stored: arms are then uniform)",
    labelNames: ['deployment', 'variant'] as const,
    collect() {
      this.reset();
      for (const arms of serving)
        for (const [deployment, stored] of arms.served())
          for (const [variant, share] of Object.entries(stored.weights)) this.set({ deployment, variant }, share);
    },
  }),
  version: new Gauge({
    name: 'switchyard_router_bandit_weights_version',
    help: 'Version of the weights this router serves for each bandit deployment (grows by one with every snapshot the updater stores)',
    labelNames: ['deployment'] as const,
    collect() {
      this.reset();
      for (const arms of serving) for (const [deployment, stored] of arms.served()) this.set({ deployment }, stored.version);
    },
  }),
};

/**
 * Bandit weights as the bandit updater computed and stored them (`BanditWeightsStore`),
 * kept in memory so a prediction only samples from memory and every router serves the
 * same policy. New weights are read as soon as the store announces them: a bandit learns
 * only as fast as its weights reach the routers, and a refresh timer would serve them up
 * to REFRESH_INTERVAL_MS late (the regret bench measured 0.3–0.6 s at 1000 ms). Every
 * REFRESH_INTERVAL_MS all bandits are re-read in one round trip anyway, for announcements
 * missed while the subscriber reconnected (`RegistryWatch`: reads one at a time, so a
 * slow full refresh cannot overwrite what a later announcement read). The router computes
 * no weights from statistics itself (a contextual bandit's shares per context come from
 * the models the updater stored, `contextualDraw`): until the updater has stored some for
 * a bandit, its arms get the same share.
 */
@Injectable()
export class ArmWeights implements OnModuleInit, OnModuleDestroy {
  private readonly logger = new Logger(ArmWeights.name);
  private weights = new Map<string, ServedWeights>();
  private readonly watch: RegistryWatch<Map<string, ServedWeights>>;

  constructor(
    private readonly cache: DeploymentCache,
    private readonly store: BanditWeightsStore,
    env: RouterEnv,
  ) {
    this.watch = new RegistryWatch({
      feed: store,
      reload: (name) => this.reload(name),
      refresh: {
        everyMs: env.REFRESH_INTERVAL_MS,
        list: async () => decoded(await store.readMany(cache.all().flatMap((spec) => (spec.strategy.type === 'bandit' ? [spec.name] : [])))),
        apply: (weights) => void (this.weights = weights),
      },
      onError: (error) => this.logger.warn({ error: error.message }, 'could not read bandit weights; keeping the last ones'),
    });
  }

  onModuleInit(): Promise<void> {
    serving.add(this);
    return this.watch.start();
  }

  onModuleDestroy(): Promise<void> {
    serving.delete(this);
    return this.watch.stop();
  }

  /** The weights served now, by bandit deployment. */
  served(): [string, StoredWeights][] {
    return this.cache.all().flatMap((spec) => {
      const stored = this.get(spec);
      return stored ? [[spec.name, stored] as [string, StoredWeights]] : [];
    });
  }

  /** Undefined for other strategies, and for a bandit whose weights were never stored: arms are then uniform. */
  get(spec: DeploymentSpec): ServedWeights | undefined {
    return spec.strategy.type === 'bandit' ? this.weights.get(spec.name) : undefined;
  }

  /**
   * The announced deployment's weights, whether or not its spec has reached this router's
   * cache yet (the announcement may come first); `get` serves them to bandits only, and the
   * next refresh drops those of deployments that are not bandits.
   */
  private async reload(name: string): Promise<void> {
    const stored = decoded(await this.store.readMany([name])).get(name);
    if (stored) this.weights.set(name, stored);
  }
}
