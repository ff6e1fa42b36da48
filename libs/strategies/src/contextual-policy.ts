import {
  type BanditAlgorithm,
  type BanditStrategySpec,
  contextDimension,
  type ContextSpec,
  type ContextualBanditAlgorithm,
  isContextual,
} from '@switchyard/contracts';
import { type ArmModel, contextualWeights, fitArmModels } from './contextual-bandit';
import { extractContext, type ContextSource } from './context-features';
import { packedLength } from './linalg';
import type { RewardKind } from './reward';
import { addRidge, emptyRidgeStats, rebaseRidge, ridgeObservation, type RidgeStats } from './ridge';
import type { Rng } from './rng';
import type { Weights } from './weights';

/**
 * How a contextual bandit is served through the real loop, in one place: what the router
 * logs with a prediction, what the updater adds to the store for a joined one, how the
 * stored sums become the arms' fitted models (once per snapshot, for every router), and
 * how the router draws with them.
 *
 * Forgetting needs stored weights relative to an epoch (`ridge.ts`), which grow by 2 per
 * half-life: observations are kept by era instead, ERA_HALF_LIVES half-lives each, each
 * era's sums relative to its own start (weights at most 2^ERA_HALF_LIVES), and eras are
 * combined when read. An era is a function of the observation's own time, so a rebuild
 * from the joined topic puts each observation where it was. Eras more than two behind the
 * newest weigh below 2^-ERA_HALF_LIVES against it and are dropped (`RidgeRead.stale`).
 */
export const ERA_HALF_LIVES = 32;
const KEPT_ERAS = 3;

/** The context spec a strategy draws by, when its algorithm is contextual. */
export function contextualStrategy(strategy: {
  type: string;
}): (BanditStrategySpec & { algorithm: ContextualBanditAlgorithm; context: ContextSpec }) | undefined {
  const bandit = strategy as BanditStrategySpec;
  return strategy.type === 'bandit' && isContextual(bandit.algorithm) && bandit.context ? (bandit as ReturnType<typeof contextualStrategy>) : undefined;
}

/**
 * The algorithm of a bandit's stored (context-free) weights: its own, or for a contextual
 * bandit Thompson sampling on the arms' totals, which serves the requests whose context
 * cannot be read.
 */
export function contextFreeAlgorithm(algorithm: BanditStrategySpec['algorithm']): BanditAlgorithm {
  return isContextual(algorithm) ? 'thompson' : algorithm;
}

const fingerprints = new WeakMap<object, string>();

/**
 * A short name of what the stored sums mean (the features, their encoding and the
 * half-life their weights assume; FNV-1a, 32 bits): sums kept under another spec's
 * features are not mixed with the current ones, and a policy fitted for other features is
 * not drawn with. Memoised per strategy object (the router asks per request).
 */
export function contextFingerprint(strategy: Pick<BanditStrategySpec, 'context' | 'halfLifeSeconds'>): string {
  const cached = fingerprints.get(strategy);
  if (cached !== undefined) return cached;
  const text = JSON.stringify([strategy.context?.features ?? [], strategy.halfLifeSeconds ?? 0]);
  let hash = 0x811c9dc5;
  for (let i = 0; i < text.length; i++) hash = Math.imul(hash ^ text.charCodeAt(i), 0x01000193);
  const fingerprint = (hash >>> 0).toString(16).padStart(8, '0');
  fingerprints.set(strategy, fingerprint);
  return fingerprint;
}

/** The era of an observation at `atSeconds` (0 without forgetting) and the Unix second its weights are relative to. */
export function ridgeEra(atSeconds: number, halfLifeSeconds?: number): { era: number; epoch: number } {
  const era = halfLifeSeconds === undefined ? 0 : Math.floor(atSeconds / (ERA_HALF_LIVES * halfLifeSeconds));
  return { era, epoch: eraStart(era, halfLifeSeconds) };
}

function eraStart(era: number, halfLifeSeconds?: number): number {
  return halfLifeSeconds === undefined ? 0 : era * ERA_HALF_LIVES * halfLifeSeconds;
}

/** Ridge statistics as the store adds them up: [count, weight, Σwr², Σwrx (d), Σwxxᵀ packed]. */
export function ridgeValues(stats: RidgeStats): number[] {
  return [stats.count, stats.weight, stats.rr, ...stats.xr, ...stats.xx];
}

/** The statistics of `ridgeValues`, or undefined when they are not of dimension `dimension`. */
export function ridgeFromValues(values: readonly number[], dimension: number, epoch: number): RidgeStats | undefined {
  if (values.length !== 3 + dimension + packedLength(dimension) || !values.every(Number.isFinite)) return undefined;
  return {
    dimension,
    count: values[0],
    weight: values[1],
    rr: values[2],
    xr: values.slice(3, 3 + dimension),
    xx: values.slice(3 + dimension),
    epoch,
  };
}

/** What one joined reward adds to its arm's ridge statistics: the field prefix it adds under (`<variant>:<model>`) and the increments. */
export interface RidgeIncrement {
  /** `<fingerprint>.<era>`: which sums of the arm it adds to. */
  model: string;
  values: number[];
}

/**
 * The increment of a joined contextual prediction (its `context`, its reward, when it was
 * joined), for the deployment's current strategy; undefined when there is nothing to learn
 * from it: not a contextual strategy, no context, or a context of other features.
 */
export function ridgeIncrement(
  strategy: { type: string },
  event: { context?: readonly number[]; reward: number; occurredAt: string },
): RidgeIncrement | undefined {
  const contextual = contextualStrategy(strategy);
  const x = event.context;
  if (!contextual || !x || x.length !== contextDimension(contextual.context)) return undefined;
  const halfLifeSeconds = contextual.halfLifeSeconds;
  const atSeconds = Date.parse(event.occurredAt) / 1000;
  if (!Number.isFinite(atSeconds)) return undefined;
  const { era, epoch } = ridgeEra(atSeconds, halfLifeSeconds);
  const stats = ridgeObservation(x, event.reward, { halfLifeSeconds, atSeconds, epoch });
  return { model: `${contextFingerprint(contextual)}.${era}`, values: ridgeValues(stats) };
}

/** The stored ridge sums of a deployment, read: per arm, its eras combined; and fields to drop. */
export interface RidgeRead {
  stats: Record<string, RidgeStats>;
  /** Fields of other features, of a vector of the wrong length, or of eras too old to weigh. */
  stale: string[];
}

/**
 * Reads the store's hash (`<variant>:<fingerprint>.<era>:<i>` → Σ, i from 0 in
 * `ridgeValues` order) for the strategy's current features: each arm's eras rebased to its
 * newest and summed.
 */
export function readRidgeHash(hash: Record<string, string>, strategy: Pick<BanditStrategySpec, 'context' | 'halfLifeSeconds'>): RidgeRead {
  const fingerprint = contextFingerprint(strategy);
  const dimension = strategy.context ? contextDimension(strategy.context) : 0;
  const byArm = new Map<string, Map<number, number[]>>();
  const fieldsOf = new Map<string, string[]>();
  const stale: string[] = [];
  for (const [field, value] of Object.entries(hash)) {
    const match = /^(.+):([0-9a-f]{8})\.(\d+):(\d+)$/.exec(field);
    if (!match || match[2] !== fingerprint) {
      stale.push(field);
      continue;
    }
    const [, variant, , era, index] = match;
    const eras = byArm.get(variant) ?? byArm.set(variant, new Map()).get(variant)!;
    const values = eras.get(Number(era)) ?? eras.set(Number(era), []).get(Number(era))!;
    values[Number(index)] = Number(value);
    const key = `${variant}:${era}`;
    (fieldsOf.get(key) ?? fieldsOf.set(key, []).get(key)!).push(field);
  }
  const stats: Record<string, RidgeStats> = Object.create(null);
  const forgetting = { halfLifeSeconds: strategy.halfLifeSeconds };
  for (const [variant, eras] of byArm) {
    const newest = Math.max(...eras.keys());
    const epoch = eraStart(newest, strategy.halfLifeSeconds);
    let total = emptyRidgeStats(dimension, epoch);
    for (const [era, values] of eras) {
      const own =
        era > newest - KEPT_ERAS &&
        ridgeFromValues(
          Array.from(values, (v) => v ?? NaN),
          dimension,
          eraStart(era, strategy.halfLifeSeconds),
        );
      if (!own) {
        stale.push(...fieldsOf.get(`${variant}:${era}`)!);
        continue;
      }
      total = addRidge(total, rebaseRidge(own, epoch, forgetting));
    }
    stats[variant] = total;
  }
  return { stats, stale };
}

/** The arms' fitted models, as the updater stores them for every router (plain JSON). */
export interface FittedPolicy {
  fingerprint: string;
  dimension: number;
  arms: { name: string; theta: number[]; cholesky: number[]; rss: number; weight: number; noiseSd: number }[];
}

/**
 * The policy of a contextual strategy at `atSeconds`: every arm of `variants` fitted
 * (`fitArmModels`: ridge posterior and noise), an arm with no statistics on its prior.
 * The one place the models are derived; the router only draws with them.
 */
export function fitContextualPolicy(
  strategy: BanditStrategySpec & { context: ContextSpec },
  variants: readonly string[],
  stats: Record<string, RidgeStats | undefined>,
  rewardKind: RewardKind,
  atSeconds: number,
): FittedPolicy {
  const dimension = contextDimension(strategy.context);
  const models = fitArmModels(
    variants.map((name) => ({ name, stats: stats[name] })),
    { rewardKind, dimension, ridge: strategy.ridge, halfLifeSeconds: strategy.halfLifeSeconds, atSeconds },
  );
  return {
    fingerprint: contextFingerprint(strategy),
    dimension,
    arms: models.map(({ name, model, noiseSd }) => ({
      name,
      theta: Array.from(model.theta),
      cholesky: Array.from(model.cholesky),
      rss: model.rss,
      weight: model.weight,
      noiseSd,
    })),
  };
}

/** A stored policy's models, ready to draw with; undefined when it is not what `fitContextualPolicy` writes. */
export function policyModels(policy: unknown): { fingerprint: string; dimension: number; models: ArmModel[] } | undefined {
  const p = policy as FittedPolicy;
  if (!p || typeof p.fingerprint !== 'string' || !Number.isInteger(p.dimension) || !Array.isArray(p.arms)) return undefined;
  const d = p.dimension;
  const numbers = (v: unknown, n: number) => Array.isArray(v) && v.length === n && v.every((x) => typeof x === 'number' && Number.isFinite(x));
  const models: ArmModel[] = [];
  for (const arm of p.arms) {
    if (typeof arm?.name !== 'string' || !numbers(arm.theta, d) || !numbers(arm.cholesky, d * d) || !(arm.noiseSd >= 0)) return undefined;
    const model = { dimension: d, theta: Float64Array.from(arm.theta), cholesky: Float64Array.from(arm.cholesky), rss: arm.rss, weight: arm.weight };
    models.push({ name: arm.name, model, noiseSd: arm.noiseSd });
  }
  return { fingerprint: p.fingerprint, dimension: d, models };
}

export interface ContextualDrawOptions {
  rng: Rng;
  /** Arms held at the floor (vetoed by a guardrail). */
  vetoed?: readonly string[];
  /** Linear Thompson's Monte Carlo draws. @default 1000 */
  samples?: number;
}

/** Every arm's share for context `x` under the strategy's algorithm, floors and vetoes applied (`contextualWeights`). */
export function policyWeights(
  strategy: BanditStrategySpec & { algorithm: ContextualBanditAlgorithm },
  models: readonly ArmModel[],
  x: readonly number[],
  opts: ContextualDrawOptions,
): Weights {
  return contextualWeights(strategy.algorithm, models, x, { ...opts, minShare: strategy.minShare, exploration: strategy.exploration, gamma: strategy.gamma });
}

/**
 * What the router draws a contextual bandit's request with: the request's encoded context
 * (logged with the prediction, so the arm learns from it whatever drew it) and, when a
 * policy for these features is stored, the shares for that context. Undefined `x` when the
 * request's context could not be read: the context-free weights serve it, and it teaches
 * the models nothing.
 */
export function contextualDraw(
  strategy: { type: string },
  source: ContextSource,
  stored: ReturnType<typeof policyModels>,
  opts: ContextualDrawOptions,
): { x?: number[]; weights?: Weights } {
  const contextual = contextualStrategy(strategy);
  if (!contextual) return {};
  const extracted = extractContext(contextual.context, source);
  if (!extracted.ok) return {};
  if (!stored || stored.fingerprint !== contextFingerprint(contextual)) return { x: extracted.x };
  return { x: extracted.x, weights: cachedWeights(contextual, stored, extracted.x, opts) };
}

/** Distinct contexts whose shares are kept per stored policy and strategy; past it, the cache starts over. */
const MAX_CACHED_CONTEXTS = 1024;
const shareCache = new WeakMap<object, WeakMap<object, Map<string, Weights>>>();

/**
 * The shares of context `x`, computed once per stored policy (a snapshot), strategy and
 * vetoes: linear Thompson's 1000 joint draws cost the router milliseconds on a loaded
 * machine (2.8 ms measured), and a context of categorical features takes few values. The
 * router then samples the arm from the same estimate for each request of that context, as
 * the context-free bandits sample from one set of weights per snapshot, and the propensity
 * it logs is still that of the draw made. Numeric features make most contexts distinct:
 * each then costs its draws, and the cache stays bounded.
 */
function cachedWeights(
  strategy: BanditStrategySpec & { algorithm: ContextualBanditAlgorithm },
  stored: NonNullable<ReturnType<typeof policyModels>>,
  x: readonly number[],
  opts: ContextualDrawOptions,
): Weights {
  const byStrategy = shareCache.get(stored) ?? shareCache.set(stored, new WeakMap()).get(stored)!;
  const cache = byStrategy.get(strategy) ?? byStrategy.set(strategy, new Map()).get(strategy)!;
  const key = `${x.join(',')}|${opts.vetoed?.join(',') ?? ''}`;
  const cached = cache.get(key);
  if (cached) return cached;
  if (cache.size >= MAX_CACHED_CONTEXTS) cache.clear();
  const weights = policyWeights(strategy, stored.models, x, opts);
  cache.set(key, weights);
  return weights;
}

/**
 * The policy's shares per segment, one per level of each categorical feature (the other
 * categorical features at none of their levels, numeric ones at their default or 0):
 * `"<feature>=<level>"` → weights. What status shows of a contextual bandit.
 */
export function segmentWeights(
  strategy: BanditStrategySpec & { algorithm: ContextualBanditAlgorithm; context: ContextSpec },
  models: readonly ArmModel[],
  opts: ContextualDrawOptions,
): Record<string, Weights> {
  const base: number[] = [1];
  const levelsAt: { name: string; level: string; at: number }[] = [];
  for (const feature of strategy.context.features) {
    if (feature.type === 'categorical') {
      for (const level of feature.levels ?? []) {
        levelsAt.push({ name: feature.name, level, at: base.length });
        base.push(0);
      }
    } else base.push((feature.default ?? 0) * (feature.scale ?? 1));
  }
  return Object.fromEntries(
    levelsAt.map(({ name, level, at }) => {
      const x = [...base];
      x[at] = 1;
      return [`${name}=${level}`, policyWeights(strategy, models, x, opts)];
    }),
  );
}
