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
  prediction: string;
  feedback: string;
}

/**
 * One request's join state as the joiner's Redis scripts keep it
 * (`libs/store/src/lua/join-predictions.lua`, `join-feedback.lua`, `restore-claim.lua`):
 * the reference those scripts are tested against. The first copy of each prediction pair
 * and the first feedback of each scope are kept; a pair is claimed by the message that
 * completes it (`feedbackFor`, `feedbackApplies`), once: a later message never claims it
 * again, while a redelivery of the claiming message (same token) does, so an aborted
 * Kafka transaction is written again. Replaying (a rebuild) only stores.
 */
export class JoinLedger {
  /** Pair → its first copy. */
  readonly predictions = new Map<string, { token: string; json: string }>();
  /** Scope → its first feedback (JSON). */
  readonly feedback = new Map<string | undefined, string>();
  /** Pair → the token of the message that claimed it (`rebuilt`: restored from the joined topic). */
  readonly claims = new Map<string, string>();

  /** Stores a prediction; `first`: the stored copy is this message's. Live, claims its pair when its feedback is there. */
  recordPrediction(p: LedgerPrediction, replay: boolean): { first: boolean; joined?: LedgerJoin } {
    if (!this.predictions.has(p.pair)) this.predictions.set(p.pair, { token: p.token, json: p.json });
    const stored = this.predictions.get(p.pair)!;
    const first = stored.token === p.token;
    const feedback = replay ? undefined : feedbackFor(this.feedback, p.deployment);
    if (feedback === undefined || !this.claim(p.pair, p.token)) return { first };
    return { first, joined: { prediction: stored.json, feedback } };
  }

  /** Stores feedback (the first of its scope wins). Live, claims every stored pair it applies to whose feedback is there. */
  recordFeedback(f: LedgerFeedback, replay: boolean): LedgerJoin[] {
    if (!this.feedback.has(f.scope)) this.feedback.set(f.scope, f.json);
    if (replay) return [];
    const joins: LedgerJoin[] = [];
    for (const [pair, stored] of this.predictions) {
      const deployment = pair.slice(0, pair.indexOf(':'));
      const feedback = feedbackFor(this.feedback, deployment);
      if (feedbackApplies(f.scope, deployment) && feedback !== undefined && this.claim(pair, f.token)) joins.push({ prediction: stored.json, feedback });
    }
    return joins;
  }

  /** A claim read back from the joined topic: the pair is never joined again (unless already claimed). */
  restoreClaim(pair: string): void {
    if (!this.claims.has(pair)) this.claims.set(pair, 'rebuilt');
  }

  /** Claims `pair` for `token` when unclaimed or already claimed by it. */
  private claim(pair: string, token: string): boolean {
    const claim = this.claims.get(pair);
    if (claim !== undefined && claim !== token) return false;
    this.claims.set(pair, token);
    return true;
  }
}
