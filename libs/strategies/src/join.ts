import { createHash } from 'node:crypto';
import { envelope, JoinedEvent, PredictionEvent, RewardSpec } from '@switchyard/contracts';
import { computeReward } from './reward';

/** Ground truth as the joiner keeps it: what the feedback said, and when. */
export interface StoredFeedback {
  label?: unknown;
  reward?: number;
  feedbackAt: string;
}

/** Why a (prediction, feedback) pair produced no joined event. */
export type UnjoinableCause = 'spec-missing' | 'prediction-error' | 'unscorable' | 'reward-out-of-range';

/** `labelMismatch`: the pair joined, but its label can never equal the output (`cannotEqual`): it scored 0. */
export type JoinResult = { ok: true; event: JoinedEvent; labelMismatch?: string } | { ok: false; cause: UnjoinableCause; reason: string };

/**
 * One joined event per request and (deployment, variant, role): the served answer and
 * each shadow, per deployment, so two deployments that use the same request id never
 * take each other's prediction for a duplicate. Names hold no `:`, so the deployment is
 * the part before the first one.
 */
export function pairField(prediction: Pick<PredictionEvent, 'deployment' | 'variant' | 'role'>): string {
  return `${prediction.deployment}:${prediction.variant}:${prediction.role}`;
}

/**
 * Join state is split into this many buckets of request ids, each under its own Redis
 * Cluster hash tag, so every join script touches one slot whatever deployments share a
 * request id. Fixed: changing it moves every request to another bucket.
 */
export const JOIN_BUCKETS = 16;

/** The bucket of a request id: FNV-1a (32 bit) of its characters, which are ASCII by REQUEST_ID_PATTERN. */
export function joinBucket(requestId: string): number {
  let hash = 0x811c9dc5;
  for (let i = 0; i < requestId.length; i++) hash = Math.imul(hash ^ requestId.charCodeAt(i), 0x01000193);
  return (hash >>> 0) % JOIN_BUCKETS;
}

/** Namespace of joined event ids (a random v4, fixed forever: changing it changes every joined eventId). */
export const JOINED_EVENT_NAMESPACE = '6f1c2d4e-8a3b-4c5d-9e7f-0a1b2c3d4e5f';

/**
 * The same pair always gets the same eventId, so a joined event written twice is
 * recognised downstream as one event: a real name-based UUID version 5 (RFC 9562 §5.5:
 * SHA-1 over the namespace's 16 bytes and the name), so any UUID library recomputes it.
 */
export function joinedEventId(prediction: Pick<PredictionEvent, 'requestId' | 'deployment' | 'variant' | 'role'>): string {
  return uuidV5(JOINED_EVENT_NAMESPACE, ['joined', prediction.requestId, prediction.deployment, prediction.variant, prediction.role].join('\n'));
}

/** RFC 9562 UUID version 5 of `name` (UTF-8) in `namespace` (a UUID string). */
export function uuidV5(namespace: string, name: string): string {
  const hash = createHash('sha1')
    .update(Buffer.from(namespace.replace(/-/g, ''), 'hex'))
    .update(name, 'utf8')
    .digest();
  hash[6] = (hash[6] & 0x0f) | 0x50;
  hash[8] = (hash[8] & 0x3f) | 0x80;
  const hex = hash.subarray(0, 16).toString('hex');
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20, 32)}`;
}

/**
 * Joins one prediction with its feedback under the reward spec in force when the
 * prediction was made (`undefined` when that spec no longer exists). A prediction that
 * failed answered nothing, so it earns no reward, whatever the reward type.
 */
export function joinPair(prediction: PredictionEvent, feedback: StoredFeedback, reward: RewardSpec | undefined, now: Date = new Date()): JoinResult {
  if (!reward) return { ok: false, cause: 'spec-missing', reason: `deployment ${prediction.deployment} has no spec version ${prediction.specVersion}` };
  if (prediction.error !== undefined) return { ok: false, cause: 'prediction-error', reason: `the prediction failed: ${prediction.error}` };
  const scored = computeReward(reward, prediction.outputs, feedback);
  if (!scored.ok) return { ok: false, cause: scored.outOfRange ? 'reward-out-of-range' : 'unscorable', reason: scored.reason };
  // Assigned rather than spread: rest and conditional spreads cost the joiner ~5 % of its CPU.
  const event: JoinedEvent = Object.assign({}, prediction, envelope('joined', now), {
    eventId: joinedEventId(prediction),
    reward: scored.reward,
    predictedAt: prediction.occurredAt,
    feedbackAt: feedback.feedbackAt,
  });
  if (feedback.label !== undefined) event.label = feedback.label;
  return scored.mismatch ? { ok: true, event, labelMismatch: scored.mismatch } : { ok: true, event };
}

/**
 * The join-scope rule, one half: feedback naming deployment `scope` (`undefined`: naming
 * none) applies to the predictions of `deployment`.
 */
export function feedbackApplies(scope: string | undefined, deployment: string): boolean {
  return scope === undefined || scope === deployment;
}

/**
 * The join-scope rule, other half: of a request's stored feedback (by the deployment each
 * names, `undefined`: none), a prediction of `deployment` joins the one naming its
 * deployment, else the one naming none.
 */
export function feedbackFor<F>(feedback: ReadonlyMap<string | undefined, F>, deployment: string): F | undefined {
  return feedback.get(deployment) ?? feedback.get(undefined);
}

/** What a request's join state says once its window is over. */
export interface ExpiredOutcome {
  /** Feedback records that met no prediction they apply to, by the deployment each named (`undefined`: none). */
  feedbackUnmatched: (string | undefined)[];
  /** Predictions never joined: no feedback came (or the window closed before they could join). */
  unlabelled: ExpiredPair[];
}

/** What the sweep knows of a request's pair from its field name, which is all the count needs. */
export type ExpiredPair = Pick<PredictionEvent, 'deployment' | 'variant' | 'role'>;

/**
 * `feedbackScopes`: the deployment each stored feedback names, `undefined` for feedback
 * that names none (it applies to every deployment's prediction of the request).
 */
export function expiredOutcome(state: { feedbackScopes: (string | undefined)[]; predictions: { prediction: ExpiredPair; joined: boolean }[] }): ExpiredOutcome {
  const deployments = new Set(state.predictions.map((p) => p.prediction.deployment));
  return {
    feedbackUnmatched: state.feedbackScopes.filter((scope) => ![...deployments].some((deployment) => feedbackApplies(scope, deployment))),
    unlabelled: state.predictions.filter((p) => !p.joined).map((p) => p.prediction),
  };
}

/**
 * Remembers the pairs seen within the last `windowMs` of one ordered stream, to tell a
 * prediction's first copy from a later duplicate the way the join state does: a copy is a
 * duplicate while the first is still held (within the window). Memory holds one window.
 */
export class RecentPairs {
  private readonly seenAt = new Map<string, number>();

  constructor(private readonly windowMs: number) {}

  /** True for the first copy of `pair` within the window ending at `atMs`. */
  first(pair: string, atMs: number): boolean {
    // Insertion order is time order for an ordered stream, so the oldest come first.
    for (const [old, at] of this.seenAt) {
      if (at > atMs - this.windowMs) break;
      this.seenAt.delete(old);
    }
    if (this.seenAt.has(pair)) return false;
    this.seenAt.set(pair, atMs);
    return true;
  }
}

/**
 * Feedback of a deployment that gave no reward, as the joiner counts it per deployment
 * (`ReportStore.addFeedbackOutcomes`): `unmatched`, feedback naming it that met no
 * prediction within the join window; `unjoinable:<cause>`, pairs that met but could not be
 * scored; `label-mismatch`, pairs scored 0 because the label can never equal the output,
 * with the last such reason in `label-mismatch:last`.
 */
export const FEEDBACK_OUTCOME_FIELDS = {
  unmatched: 'unmatched',
  unjoinable: 'unjoinable:',
  labelMismatch: 'label-mismatch',
  lastMismatch: 'label-mismatch:last',
};

export interface FeedbackOutcomes {
  /** Feedback naming the deployment whose request had no prediction of it within the join window. */
  unmatched: number;
  /** Pairs that met but gave no reward, by cause (`UnjoinableCause`). */
  unjoinable: Record<string, number>;
  /** Pairs scored 0 because their label can never equal the output: a label of the wrong kind, not a bad model. */
  labelMismatch?: { count: number; last: string };
}

/** The per-deployment counts of feedback that gave no reward, from their hash. */
export function feedbackOutcomes(fields: Record<string, string>): FeedbackOutcomes {
  const F = FEEDBACK_OUTCOME_FIELDS;
  const unjoinable: Record<string, number> = {};
  for (const [field, value] of Object.entries(fields)) if (field.startsWith(F.unjoinable)) unjoinable[field.slice(F.unjoinable.length)] = Number(value);
  const mismatches = Number(fields[F.labelMismatch] ?? 0);
  return {
    unmatched: Number(fields[F.unmatched] ?? 0),
    unjoinable,
    ...(mismatches > 0 && { labelMismatch: { count: mismatches, last: fields[F.lastMismatch] ?? '' } }),
  };
}
