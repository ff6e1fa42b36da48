import { DecisionEvent, DeploymentEvent, type DeploymentStatus, EVENT_TYPES, parseJson, type StrategySpec, validatePlain } from '@switchyard/contracts';
import { ArmStats, configuredShares, meanConfidenceInterval } from '@switchyard/strategies';

/**
 * A deployment's time series, rebuilt from `deployment-events` alone (pure: unit tested
 * beside it), so they survive a router restart:
 * - `split`: the configured share of each variant, at every spec change (put, promote,
 *   rollback, plan actions, the controller's decisions) and every bandit weight snapshot;
 * - `rewards`: mean reward per variant with its 95% interval, from the updater's snapshots
 *   (count, sum, sum of squares) and from decisions' evidence (mean and count only);
 * - `decisions`: the controller's verdicts with their evidence (delta, interval, srmP).
 */

export interface HistoryEvent {
  type?: string;
  action?: string;
  occurredAt?: string;
  specVersion?: number;
  fromVersion?: number;
  toVersion?: number;
  reason?: string;
  candidate?: string;
  primary?: string;
  operator?: boolean;
  detail?: { strategy?: StrategySpec; status?: DeploymentStatus; weights?: Record<string, number>; stats?: Record<string, ArmStats> } & Record<string, unknown>;
  evidence?: {
    n?: Record<string, number>;
    mean?: Record<string, number>;
    delta?: number | null;
    low?: number | null;
    high?: number | null;
    srmP?: number | null;
  };
}

export interface SplitPoint {
  at: string;
  source: string;
  specVersion?: number;
  shares: Record<string, number>;
}

export interface RewardPoint {
  at: string;
  source: string;
  variants: Record<string, { mean: number; count: number; low?: number; high?: number }>;
}

export interface DecisionPoint {
  at: string;
  action: string;
  reason?: string;
  fromVersion?: number;
  toVersion?: number;
  candidate?: string;
  primary?: string;
  evidence?: HistoryEvent['evidence'];
  /** An operator's action (promote, rollback, pause, resume, abort, retry), not the controller's. */
  operator?: boolean;
}

export interface DeploymentHistory {
  deployment: string;
  split: SplitPoint[];
  rewards: RewardPoint[];
  decisions: DecisionPoint[];
  changes: { at: string; action: string; specVersion?: number; strategy?: StrategySpec }[];
}

/** What is served: the strategy and its rollout status (a plan's step). */
interface Serving {
  strategy: StrategySpec;
  status: DeploymentStatus;
}

function afterDecision({ strategy, status }: Serving, action: string, candidate?: string, primary?: string): Serving | undefined {
  const single = (variant: string | undefined): Serving | undefined =>
    variant === undefined ? undefined : { strategy: { type: 'single', variant }, status: {} };
  if (action === 'rollback') return single(primary ?? ('primary' in strategy ? strategy.primary : undefined));
  if (action === 'promote')
    return single(candidate ?? (strategy.type === 'plan' ? strategy.candidate : strategy.type === 'canary' ? strategy.canary : undefined));
  if (action === 'advance' && strategy.type === 'plan') return { strategy, status: { ...status, step: (status.step ?? 0) + 1 } };
  return undefined;
}

export function buildHistory(deployment: string, events: HistoryEvent[]): DeploymentHistory {
  const history: DeploymentHistory = { deployment, split: [], rewards: [], decisions: [], changes: [] };
  let current: Serving | undefined;
  const ordered = events.filter((e) => e.occurredAt).sort((a, b) => a.occurredAt!.localeCompare(b.occurredAt!));
  for (const event of ordered) {
    const at = event.occurredAt!;
    if (event.type === 'decision') {
      const { action = '?', reason, fromVersion, toVersion, candidate, primary, evidence, operator } = event;
      history.decisions.push({ at, action, reason, fromVersion, toVersion, candidate, primary, evidence, ...(operator && { operator }) });
      if (evidence?.mean && evidence.n) {
        const variants = Object.fromEntries(
          Object.entries(evidence.mean)
            .filter(([arm]) => !arm.includes(':'))
            .map(([arm, mean]) => [arm, { mean, count: evidence.n![arm] ?? 0 }]),
        );
        if (Object.keys(variants).length) history.rewards.push({ at, source: `decision:${action}`, variants });
      }
      // A decision announces no "put": its new split follows from the action. An operator's
      // follows the change the router announced for it.
      const next = current && !operator && afterDecision(current, action, candidate, primary);
      const shares = next && configuredShares(next.strategy, next.status);
      if (next) current = next;
      if (shares) history.split.push({ at, source: action, specVersion: toVersion, shares });
      continue;
    }
    const action = event.action ?? '?';
    // A deployment deleted and created again under the same name starts a new history.
    if (action === 'delete') {
      Object.assign(history, { split: [], rewards: [], decisions: [], changes: [] });
      current = undefined;
      continue;
    }
    if (action === 'weights') {
      if (event.detail?.weights) history.split.push({ at, source: 'weights', specVersion: event.specVersion, shares: event.detail.weights });
      const stats = event.detail?.stats ?? {};
      const variants = Object.fromEntries(
        Object.entries(stats)
          .filter(([, s]) => s && s.count > 0)
          .map(([arm, s]) => {
            const interval = meanConfidenceInterval(s);
            return [arm, { mean: s.sum / s.count, count: s.count, ...(interval && { low: interval.low, high: interval.high }) }];
          }),
      );
      if (Object.keys(variants).length) history.rewards.push({ at, source: 'weights', variants });
      continue;
    }
    const strategy = event.detail?.strategy;
    const status = event.detail?.status ?? {};
    if (strategy) current = { strategy, status };
    history.changes.push({ at, action, specVersion: event.specVersion, strategy });
    const shares = strategy && configuredShares(strategy, status);
    if (shares) history.split.push({ at, source: action, specVersion: event.specVersion, shares });
  }
  return history;
}

/**
 * A `deployment-events` record as the contract its `type` names (`DeploymentEvent`,
 * `DecisionEvent`), validated; undefined for anything else: a malformed event is left
 * out of the series, not ours to judge.
 */
export function decodeHistoryEvent(value: string | null): (HistoryEvent & { deployment: string }) | undefined {
  const parsed = parseJson(value ?? '');
  if (!parsed.ok) return undefined;
  const plain = parsed.value;
  const type = (plain as { type?: unknown } | null)?.type;
  const checked =
    type === EVENT_TYPES.decision ? validatePlain(DecisionEvent, plain) : type === EVENT_TYPES.deployment ? validatePlain(DeploymentEvent, plain) : undefined;
  // Validated as its contract; `detail` is free-form there: its weights, statistics and strategy are as their publisher wrote them.
  return checked?.ok ? (checked.value as HistoryEvent & { deployment: string }) : undefined;
}
