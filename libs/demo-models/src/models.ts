import { assertFeatures, CHURN_THRESHOLD, churnScore, Label } from './churn';
import { stableUnitHash } from './random';

/** A built-in model of the churn problem whose accuracy is known in advance. */
export interface DemoModel {
  readonly name: string;
  readonly description: string;
  /**
   * Share of right answers over uniformly random features: the model answers the
   * ground truth, flipped when `stableUnitHash(seed, features) < 1 - accuracy`.
   */
  readonly accuracy: number;
  /** Whose mistakes this model makes: models with the same seed err on the same inputs. @default name */
  readonly seed: string;
  /** Delay (ms) a server waits before answering, on top of its own `MODEL_LATENCY_MS`. @default 0 */
  readonly latencyMs: number;
  /** When set, a server never answers this model: it fails with this message (HTTP 500). */
  readonly failure?: string;
}

export interface Prediction {
  label: Label;
  /** The model's probability that the label is 1: at least 0.5 when `label` is 1, at most 0.5 when it is 0. */
  score: number;
}

function model(spec: Pick<DemoModel, 'name' | 'description' | 'accuracy'> & Partial<DemoModel>): DemoModel {
  return Object.freeze({ seed: spec.name, latencyMs: 0, ...spec });
}

/**
 * The models a demo model-server serves. `churn-slow` and `churn-broken` exist for
 * timeout and failure tests: a router calling a fixed URL cannot ask for a delay.
 */
export const DEMO_MODELS: readonly DemoModel[] = Object.freeze([
  model({ name: 'churn-v1', accuracy: 0.7, description: 'baseline churn model, right 70% of the time' }),
  model({ name: 'churn-v2', accuracy: 0.8, description: 'improved churn model, right 80% of the time' }),
  model({ name: 'churn-v3', accuracy: 0.9, description: 'best churn model, right 90% of the time' }),
  model({ name: 'churn-perfect', accuracy: 1, description: 'always right: answers the ground truth' }),
  model({
    name: 'churn-slow',
    accuracy: 0.8,
    seed: 'churn-v2',
    latencyMs: 2000,
    description: 'answers exactly as churn-v2, but only after 2000 ms (timeout tests)',
  }),
  model({
    name: 'churn-broken',
    accuracy: 0.7,
    seed: 'churn-v1',
    failure: 'churn-broken always fails (a test model)',
    description: 'never answers: every inference fails with HTTP 500 (failure tests)',
  }),
]);

const BY_NAME = new Map(DEMO_MODELS.map((m) => [m.name, m]));

export function findDemoModel(name: string): DemoModel | undefined {
  return BY_NAME.get(name);
}

/** How sharply the score moves from 0 to 1 across the decision boundary. */
const SCORE_STEEPNESS = 10;

/**
 * The model's answer for one feature vector: deterministic, pure, and right with
 * probability `model.accuracy` over random inputs. Ignores `latencyMs` and `failure`
 * (they are the server's business). Throws on an unknown model name or bad features.
 */
export function predict(model: DemoModel | string, features: readonly number[]): Prediction {
  const spec = typeof model === 'string' ? findDemoModel(model) : model;
  if (!spec) throw new Error(`unknown demo model "${String(model)}"`);
  assertFeatures(features);
  const margin = churnScore(features) - CHURN_THRESHOLD;
  const truthful = 1 / (1 + Math.exp(-SCORE_STEEPNESS * margin));
  const wrong = stableUnitHash(spec.seed, features) < 1 - spec.accuracy;
  const truth: Label = margin > 0 ? 1 : 0;
  const p = wrong ? 1 - truthful : truthful;
  return { label: wrong ? ((1 - truth) as Label) : truth, score: Math.round(p * 1e6) / 1e6 };
}
