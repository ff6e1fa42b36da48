import { feedbackApplies, feedbackFor } from './join';

/** A prediction message as the join state takes it. `pair`: `pairField` of the prediction. */
export interface LedgerPrediction {
  pair: string;
  deployment: string;
  json: string;
  /** The Kafka coordinates of the message: a redelivery carries the same. */
  token: string;
}

/** A feedback message as the join state takes it. `scope`: the deployment it names, `undefined`: none. */
export interface LedgerFeedback {
  scope?: string;
  json: string;
  token: string;
}

/** A pair claimed for joining: the stored (first) prediction and the feedback it joins, as JSON. */
export interface LedgerJoin {
  pair: string;
  prediction: string;
  feedback: string;
}

/** The claim of a pair whose joined event is committed: never claimed again, and its prediction no longer kept. */
export const COMMITTED_CLAIM = 'c';

/**
 * One request's join state as the joiner's Redis scripts keep it
 * (`libs/store/src/lua/join-predictions.lua`, `join-feedback.lua`, `restore-claim.lua`,
 * `compact-pairs.lua`):
 * the reference those scripts are tested against. The first copy of each prediction pair
 * and the first feedback of each scope are kept; a pair is claimed by the message that
 * completes it (`feedbackFor`, `feedbackApplies`), once: a later message never claims it
 * again, while a redelivery of the claiming message (same token) does, so an aborted
 * Kafka transaction is written again. Replaying (a rebuild) only stores. Once the
 * claiming message's transaction committed, the pair is compacted: its prediction goes,
 * its claim becomes COMMITTED_CLAIM, and no later copy is stored again.
 */
export class JoinLedger {
  /** Pair → its first copy. */
  readonly predictions = new Map<string, { token: string; json: string }>();
  /** Scope → its first feedback (JSON). */
  readonly feedback = new Map<string | undefined, string>();
  /** Pair → the token of the message that claimed it (COMMITTED_CLAIM once its joined event is committed). */
  readonly claims = new Map<string, string>();

  /** Stores a prediction; `first`: the stored copy is this message's. Live, claims its pair when its feedback is there. */
  recordPrediction(p: LedgerPrediction, replay: boolean): { first: boolean; joined?: LedgerJoin } {
    if (this.compacted(p.pair)) return { first: false };
    if (!this.predictions.has(p.pair)) this.predictions.set(p.pair, { token: p.token, json: p.json });
    const stored = this.predictions.get(p.pair)!;
    const first = stored.token === p.token;
    const feedback = replay ? undefined : feedbackFor(this.feedback, p.deployment);
    if (feedback === undefined || !this.claim(p.pair, p.token)) return { first };
    return { first, joined: { pair: p.pair, prediction: stored.json, feedback } };
  }

  /** Stores feedback (the first of its scope wins). Live, claims every stored pair it applies to whose feedback is there. */
  recordFeedback(f: LedgerFeedback, replay: boolean): LedgerJoin[] {
    if (!this.feedback.has(f.scope)) this.feedback.set(f.scope, f.json);
    if (replay) return [];
    const joins: LedgerJoin[] = [];
    for (const [pair, stored] of this.predictions) {
      const deployment = pair.slice(0, pair.indexOf(':'));
      const feedback = feedbackFor(this.feedback, deployment);
      if (feedbackApplies(f.scope, deployment) && feedback !== undefined && this.claim(pair, f.token)) joins.push({ pair, prediction: stored.json, feedback });
    }
    return joins;
  }

  /** A claim read back from the joined topic: the pair is joined for good, compacted. */
  restoreClaim(pair: string): void {
    this.claims.set(pair, COMMITTED_CLAIM);
    this.predictions.delete(pair);
  }

  /** The claiming message's transaction committed: the pair, if that message still holds it, keeps only that it joined. */
  compact(pair: string, token: string): void {
    if (this.claims.get(pair) !== token) return;
    this.claims.set(pair, COMMITTED_CLAIM);
    this.predictions.delete(pair);
  }

  private compacted(pair: string): boolean {
    return !this.predictions.has(pair) && this.claims.get(pair) === COMMITTED_CLAIM;
  }

  /** Claims `pair` for `token` when unclaimed or already claimed by it. */
  private claim(pair: string, token: string): boolean {
    const claim = this.claims.get(pair);
    if (claim !== undefined && claim !== token) return false;
    this.claims.set(pair, token);
    return true;
  }
}
