/**
 * The demo "churn" problem: will a customer leave? Four features, each meant to lie in
 * [0, 1) (normalised monthly charge, support calls, tenure, usage drop), and one
 * documented deterministic rule that says what the true label is. Demos and tests send
 * that label back as feedback, so every number the system reports can be checked.
 */

export type Label = 0 | 1;

/** Length of a feature vector. */
export const FEATURE_COUNT = 4;

/** Weights of the ground-truth score, in feature order x0..x3. */
export const CHURN_WEIGHTS: readonly number[] = Object.freeze([0.6, 0.4, -0.5, 0.2]);

/**
 * The label is 1 when the score is strictly above this. 0.35 is the score's mean over
 * uniform features in [0, 1), so random inputs give about as many 1s as 0s.
 */
export const CHURN_THRESHOLD = 0.35;

/** Throws unless `features` is exactly {@link FEATURE_COUNT} finite numbers. */
export function assertFeatures(features: readonly unknown[]): asserts features is number[] {
  if (!Array.isArray(features)) throw new Error(`features must be an array of ${FEATURE_COUNT} numbers`);
  if (features.length !== FEATURE_COUNT) {
    throw new Error(`features must be ${FEATURE_COUNT} numbers; got ${features.length}`);
  }
  const bad = features.findIndex((value) => typeof value !== 'number' || !Number.isFinite(value));
  if (bad >= 0) throw new Error(`features[${bad}] must be a finite number; got ${JSON.stringify(features[bad]) ?? String(features[bad])}`);
}

/** `0.6*x0 + 0.4*x1 - 0.5*x2 + 0.2*x3`: the ground truth's linear score. */
export function churnScore(features: readonly number[]): number {
  assertFeatures(features);
  let score = 0;
  for (let i = 0; i < FEATURE_COUNT; i++) score += CHURN_WEIGHTS[i] * features[i];
  return score;
}

/**
 * The true label: 1 (churns) when `0.6*x0 + 0.4*x1 - 0.5*x2 + 0.2*x3 > 0.35`, else 0.
 * Deterministic; throws on anything but 4 finite numbers.
 */
export function groundTruth(features: readonly number[]): Label {
  return churnScore(features) > CHURN_THRESHOLD ? 1 : 0;
}
