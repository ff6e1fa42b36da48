import type { DeploymentSpec, DeploymentStatus, SpecChangeEvent, StrategySpec } from '@switchyard/contracts';

export type SpecBody = Omit<DeploymentSpec, 'version' | 'status'>;

/**
 * One deployment as its spec log folds to: what the registry holds in Redis, rebuilt
 * from the log alone. `offset` is the log position of the last change folded in.
 */
export interface DeploymentRecord {
  offset: number;
  /** Deleted: no spec, and a deployment created again under the name starts at version 1. */
  deleted: boolean;
  lastVersion: number;
  current?: number;
  /** The version in force before `current` (what a rollback restores). */
  previous?: number;
  history: Map<number, SpecBody>;
  /** The current version's rollout status (plan step, pause, vetoes): changed without a new version. */
  status: DeploymentStatus;
  /**
   * Per variant of the current spec, the first version of its current run: the oldest of
   * the unbroken run of versions that list it, ending at the current one. Rewards of
   * predictions made under an older version belong to an earlier life of the arm.
   */
  armsSince: Record<string, number>;
  /** The log offset of the change that wrote version 1: names this life of the deployment. */
  incarnation?: number;
  /** Event ids folded in: a change published twice (a producer retry) applies once. */
  eventIds: Map<string, SpecOutcome>;
}

export type SpecOutcome =
  /** Version 0 for a deletion; `restored` is the version a rollback copied; a status change keeps the version. */
  | { result: 'written'; version: number; restored?: number }
  /** A `put` of the spec in force (apart from when it was sent): no new version. */
  | { result: 'unchanged'; version: number }
  /** A `put` of the spec that was rolled back or aborted (`DeploymentStatus.held`), without `retry`: no new version. */
  | { result: 'held'; version: number; held: number }
  /** `expectedVersion` was not current (the spec changed since it was read), or there is no spec to change. */
  | { result: 'conflict'; current: number | null }
  /** Nothing to delete, or no earlier version to roll back to. */
  | { result: 'nothing'; current: number | null };

/** A producer's retry lands right after the original: the latest few ids are enough to recognise it. */
const REMEMBERED_EVENT_IDS = 64;

export function emptyRecord(): DeploymentRecord {
  return { offset: -1, deleted: false, lastVersion: 0, history: new Map(), status: {}, armsSince: Object.create(null), eventIds: new Map() };
}

/** Folds one change (at log `offset`) into `record`, in place, and says what became of it. */
export function applySpecChange(record: DeploymentRecord, change: SpecChangeEvent, offset: number): SpecOutcome {
  record.offset = offset;
  const seen = record.eventIds.get(change.eventId);
  if (seen) return seen;
  const outcome = decide(record, change);
  record.eventIds.set(change.eventId, outcome);
  if (record.eventIds.size > REMEMBERED_EVENT_IDS) record.eventIds.delete(record.eventIds.keys().next().value!);
  return outcome;
}

function decide(record: DeploymentRecord, change: SpecChangeEvent): SpecOutcome {
  const current = record.current ?? null;
  if (change.expectedVersion !== undefined && change.expectedVersion !== current) return { result: 'conflict', current };
  switch (change.change) {
    case 'put': {
      if (!change.body) return { result: 'conflict', current };
      const { body, status } = withoutLegacyStatus(change.body);
      const held = record.status.held;
      const put = putOutcome(
        current === null ? undefined : record.history.get(current),
        held === undefined ? undefined : record.history.get(held),
        body,
        change.retry,
      );
      if (put === 'unchanged') return { result: 'unchanged', version: current! };
      if (put === 'held') return { result: 'held', version: current!, held: held! };
      const replaced = current;
      const version = write(record, body);
      if (status) record.status = status;
      if (change.hold && replaced !== null) record.status = withStatus(record.status, { held: replaced });
      return { result: 'written', version };
    }
    case 'status':
      if (current === null || !change.status) return { result: 'conflict', current };
      record.status = withStatus(record.status, change.status);
      return { result: 'written', version: current };
    case 'rollback': {
      const restored = record.previous === undefined ? undefined : record.history.get(record.previous);
      if (!restored) return { result: 'nothing', current };
      const copied = record.previous!;
      const replaced = current!;
      const version = write(record, restored);
      record.status = withStatus(record.status, { held: replaced });
      return { result: 'written', version, restored: copied };
    }
    case 'delete':
      if (current === null) return { result: 'nothing', current };
      Object.assign(record, {
        deleted: true,
        lastVersion: 0,
        current: undefined,
        previous: undefined,
        history: new Map(),
        status: {},
        armsSince: Object.create(null),
        incarnation: undefined,
      });
      return { result: 'written', version: 0 };
  }
}

function write(record: DeploymentRecord, body: SpecBody): number {
  const version = record.lastVersion + 1;
  // The status is about the strategy: another one starts it afresh, an edit of anything else keeps it.
  const strategy = record.current === undefined ? undefined : record.history.get(record.current)?.strategy;
  if (!strategy || canonicalJson(strategy) !== canonicalJson(body.strategy)) record.status = {};
  const armsSince: Record<string, number> = Object.create(null);
  for (const { name } of body.variants) armsSince[name] = record.armsSince[name] ?? version;
  if (version === 1) record.incarnation = record.offset;
  Object.assign(record, { deleted: false, lastVersion: version, previous: record.current, current: version, armsSince });
  record.history.set(version, body);
  return version;
}

/** A spec as a PUT body takes it: without what the store adds (name, version, updatedAt, rollout status). */
export type AppliedSpec = Omit<SpecBody, 'name' | 'updatedAt'>;

/** What `GET /v1/deployments/{name}/spec` answers and `switchyard get -o yaml` prints: a PUT of it changes nothing. */
export function appliedSpec(spec: SpecBody | DeploymentSpec): AppliedSpec {
  const { name: _name, updatedAt: _updatedAt, version: _version, status: _status, ...applied } = spec as DeploymentSpec;
  return applied;
}

/** `status` with the fields of `change` set; a pause cleared (`paused: false`) leaves no field behind. */
export function withStatus(status: DeploymentStatus, change: DeploymentStatus): DeploymentStatus {
  const { paused, ...next } = { ...status, ...change };
  return paused ? { ...next, paused } : next;
}

/**
 * What a `put` of `body` does: nothing when it is the spec in force (`unchanged`), nothing
 * when it is the spec a rollback or abort ended (`held`, unless `retry`), else a new version.
 * The fold and the router's dry run both ask this.
 */
export function putOutcome(
  current: SpecBody | DeploymentSpec | undefined,
  held: SpecBody | DeploymentSpec | undefined,
  body: SpecBody,
  retry = false,
): 'unchanged' | 'held' | 'written' {
  if (current && sameSpec(current, body)) return 'unchanged';
  if (held && !retry && sameSpec(held, body)) return 'held';
  return 'written';
}

/** Two spec bodies the same but for when they were sent: a re-applied spec. */
function sameSpec(a: SpecBody | DeploymentSpec, b: SpecBody | DeploymentSpec): boolean {
  return canonicalJson(appliedSpec(a)) === canonicalJson(appliedSpec(b));
}

/** JSON with object keys sorted, so that equal values written in another key order compare equal. */
export function canonicalJson(value: unknown): string {
  return JSON.stringify(value, (_key, field: unknown) =>
    field && typeof field === 'object' && !Array.isArray(field)
      ? Object.fromEntries(Object.entries(field).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)))
      : field,
  );
}

/**
 * A body the log recorded before the rollout status left the spec (a plan's `step` and
 * `paused`, a bandit's `vetoed` in its strategy): the spec without them, and the status
 * they said. The log is kept forever, so a rebuild still reads such records.
 */
export function withoutLegacyStatus(body: SpecBody): { body: SpecBody; status?: DeploymentStatus } {
  const { step, paused, vetoed, ...strategy } = body.strategy as StrategySpec & DeploymentStatus;
  if (step === undefined && paused === undefined && vetoed === undefined) return { body };
  const status = withStatus({}, { ...(step !== undefined && { step }), ...(paused !== undefined && { paused }), ...(vetoed !== undefined && { vetoed }) });
  return { body: { ...body, strategy: strategy as StrategySpec }, status };
}
