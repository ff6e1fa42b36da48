import { GUARDRAIL_DEFAULTS } from '@switchyard/contracts';
import { ArmStats } from './arm-stats';
import { ArmEvidence, GuardrailSettings, judgeCandidate, operationalFailures } from './guardrails';
import { LATENCY_BUCKETS_MS, latencyBucket } from './report';
import { seededRng } from './rng';

const NAMES = { candidate: 'v2', primary: 'v1' };
/** The defaults, on a 0/1 reward (`match`). */
const DEFAULTS: GuardrailSettings = { ...GUARDRAIL_DEFAULTS, rewardKind: 'binary' };
const bernoulli = (count: number, rate: number): ArmStats => ({ count, sum: Math.round(count * rate), sumSq: Math.round(count * rate) });

/** An arm whose successful requests all took `latencyMs`, `errors` of them failed. */
function arm(rewards: ArmStats, { requests = rewards.count, errors = 0, latencyMs = 8 } = {}): ArmEvidence {
  const latencyBuckets = LATENCY_BUCKETS_MS.map(() => 0);
  latencyBuckets[latencyBucket(latencyMs)] = requests - errors;
  return { rewards, requests, errors, latencyBuckets };
}

describe(judgeCandidate.name, () => {
  it('waits until both arms have minSamples labelled pairs', () => {
    const judgement = judgeCandidate(NAMES, arm(bernoulli(199, 0.5)), arm(bernoulli(5000, 0.9)), DEFAULTS);
    expect(judgement.verdict).toBe('waiting');
    expect(judgement.reasons[0]).toMatch(/v2 has 199, v1 5000/);
  });

  it('does not pass before the error rate and latency have minSamples requests per arm, however many labels', () => {
    // Labels of requests counted before the step began: the rewards are in, the requests not.
    const fewRequests = judgeCandidate(NAMES, arm(bernoulli(400, 0.9), { requests: 150 }), arm(bernoulli(3600, 0.7)), DEFAULTS);
    expect(fewRequests.verdict).toBe('waiting');
    expect(fewRequests.reasons[0]).toMatch(/^waiting for minSamples 200 requests and successful requests per arm .*v2 has 150 and 150, v1 3600 and 3600$/);
    // Requests counted, but too few answered for a p99: latency has not reported.
    const fewSuccesses = judgeCandidate(NAMES, arm(bernoulli(400, 0.9)), arm(bernoulli(3600, 0.7), { requests: 3600, errors: 3450 }), {
      ...DEFAULTS,
      maxErrorRateIncrease: 1,
    });
    expect(fewSuccesses.verdict).toBe('waiting');
    // A candidate surely worse on rewards is still rolled back: waiting only holds a pass.
    expect(judgeCandidate(NAMES, arm(bernoulli(400, 0.5), { requests: 150 }), arm(bernoulli(3600, 0.9)), DEFAULTS).verdict).toBe('fail');
  });

  it('fails a candidate surely worse, with the interval in the reason and the evidence', () => {
    const judgement = judgeCandidate(NAMES, arm(bernoulli(400, 0.7)), arm(bernoulli(3600, 0.8)), DEFAULTS);
    expect(judgement.verdict).toBe('fail');
    expect(judgement.evidence.high!).toBeLessThan(0);
    expect(judgement.reasons).toEqual([
      expect.stringMatching(/^reward: v2 − v1 ≤ -0\.\d{3} \(95% always-valid bounds \[-0\.\d{3}, -0\.\d{3}\]\) after 400\/3600 labelled pairs$/),
    ]);
    expect(judgement.evidence).toMatchObject({
      metric: 'reward',
      n: { v2: 400, v1: 3600 },
      mean: { v2: 0.7, v1: 0.8 },
      alpha: 0.05,
      errorRate: { v2: 0, v1: 0 },
      p99Ms: { v2: 10, v1: 10 },
    });
    expect(judgement.evidence.delta).toBeCloseTo(-0.1, 12);
  });

  it('passes a candidate surely not worse than the margin', () => {
    const judgement = judgeCandidate(NAMES, arm(bernoulli(400, 0.9)), arm(bernoulli(3600, 0.7)), DEFAULTS);
    expect(judgement.verdict).toBe('pass');
    expect(judgement.evidence.low!).toBeGreaterThan(-GUARDRAIL_DEFAULTS.margin);
    expect(judgement.reasons[0]).toMatch(/^reward: v2 − v1 ≥ 0\.\d{3}, within margin −0\.01/);
  });

  it('continues while the interval holds 0 and −margin, and is inconclusive once both arms reach maxSamples', () => {
    expect(judgeCandidate(NAMES, arm(bernoulli(1000, 0.8)), arm(bernoulli(9000, 0.8)), DEFAULTS).verdict).toBe('continue');
    const atMax = judgeCandidate(NAMES, arm(bernoulli(20000, 0.795)), arm(bernoulli(20000, 0.8)), DEFAULTS);
    expect(atMax.evidence.low!).toBeLessThan(-0.01);
    expect(atMax.evidence.high!).toBeGreaterThan(0);
    expect(atMax.verdict).toBe('inconclusive');
    // Only one arm at maxSamples: a 10 % canary's primary gets there long before the canary.
    expect(judgeCandidate(NAMES, arm(bernoulli(2000, 0.795)), arm(bernoulli(20000, 0.8)), DEFAULTS).verdict).toBe('continue');
  });

  it('fails a candidate that only errs, before it has a single label', () => {
    const judgement = judgeCandidate(NAMES, arm(bernoulli(0, 0), { requests: 300, errors: 300 }), arm(bernoulli(2700, 0.8)), DEFAULTS);
    expect(judgement.verdict).toBe('fail');
    expect(judgement.reasons[0]).toMatch(/^errors: v2's error rate exceeds v1's by ≥ 0\.9\d{2} .*100\.0% of 300 vs 0\.0% of 2700 requests/);
    expect(judgement.evidence).toMatchObject({ delta: null, low: null, high: null, errorRate: { v2: 1, v1: 0 }, p99Ms: { v2: null, v1: 10 } });
  });

  it('gives every failure it finds', () => {
    const settings: GuardrailSettings = { ...DEFAULTS };
    const judgement = judgeCandidate(
      NAMES,
      arm(bernoulli(1000, 0.6), { requests: 2000, errors: 500, latencyMs: 900 }),
      arm(bernoulli(9000, 0.8), { requests: 18000, errors: 18, latencyMs: 30 }),
      settings,
    );
    expect(judgement.verdict).toBe('fail');
    expect(judgement.reasons.map((r) => r.split(':')[0])).toEqual(['errors', 'latency', 'reward']);
  });
});

describe(`${judgeCandidate.name} on other scales`, () => {
  /** n rewards with mean m and sample standard deviation sd. */
  const continuous = (n: number, m: number, sd: number): ArmStats => ({ count: n, sum: n * m, sumSq: (n - 1) * sd * sd + n * m * m });
  const CONTINUOUS: GuardrailSettings = { ...DEFAULTS, rewardKind: 'continuous' };

  it('has no 0/1 floor for a continuous reward: 0.5 σ worse with σ = 0.001 fails at once, which the floor would hide', () => {
    const [candidate, primary] = [arm(continuous(400, -0.0105, 0.001)), arm(continuous(3600, -0.01, 0.001))];
    expect(judgeCandidate(NAMES, candidate, primary, CONTINUOUS).verdict).toBe('fail');
    expect(judgeCandidate(NAMES, candidate, primary, DEFAULTS).verdict).toBe('continue');
  });

  it('reads a margin in standard deviations on the pooled σ of one reward', () => {
    // σ = 2: 0.01 σ worse passes a 0.1 sd margin (0.2), and is inconclusive against a margin of 0.01 on the reward scale.
    const [candidate, primary] = [arm(continuous(20000, 9.98, 2)), arm(continuous(20000, 10, 2))];
    const inSd = judgeCandidate(NAMES, candidate, primary, { ...CONTINUOUS, margin: 0.1, marginUnit: 'sd' });
    expect(inSd.verdict).toBe('pass');
    expect(inSd.reasons[0]).toMatch(/within margin −0\.200 \(0\.1 sd\)/);
    expect(judgeCandidate(NAMES, candidate, primary, CONTINUOUS).verdict).toBe('inconclusive');
  });

  it('counts units, not requests, when per-unit sums are given: 400 rewards from 4 units are 4 observations', () => {
    const [candidate, primary] = [arm(bernoulli(400, 0.7)), arm(bernoulli(3600, 0.8))];
    expect(judgeCandidate(NAMES, candidate, primary, DEFAULTS).verdict).toBe('fail');
    // The candidate's 4 units: two all right, one 80 of 100, one 0 of 100 (280 of 400).
    const rewardUnits = { units: 4, countSq: 4 * 100 * 100, sumSq: 100 * 100 * 2 + 80 * 80, countSum: 100 * (100 + 100 + 80) };
    expect(judgeCandidate(NAMES, { ...candidate, rewardUnits }, primary, DEFAULTS).verdict).toBe('continue');
  });
});

describe(operationalFailures.name, () => {
  const primary = arm(bernoulli(0, 0), { requests: 10000, errors: 100, latencyMs: 15 });

  it('tolerates an error rate up by less than maxErrorRateIncrease', () => {
    expect(operationalFailures(NAMES, arm(bernoulli(0, 0), { requests: 10000, errors: 250 }), primary, DEFAULTS)).toEqual([]);
  });

  it('fails an error rate surely up by more than maxErrorRateIncrease, not one that merely looks it', () => {
    // 10 % vs 1 %: up by 9 points, surely > 2 with 2000 requests; with 200 requests, 8 % vs 1 % is not yet sure to be.
    expect(operationalFailures(NAMES, arm(bernoulli(0, 0), { requests: 2000, errors: 200 }), primary, DEFAULTS)).toEqual([expect.stringMatching(/^errors: /)]);
    expect(operationalFailures(NAMES, arm(bernoulli(0, 0), { requests: 200, errors: 8 }), primary, DEFAULTS)).toEqual([]);
  });

  it('says nothing before minSamples requests', () => {
    expect(operationalFailures(NAMES, arm(bernoulli(0, 0), { requests: 150, errors: 150 }), primary, DEFAULTS)).toEqual([]);
  });

  it("fails a p99 shown above maxLatencyRatio × the primary's bound, on the bucket edges, and only then", () => {
    // Primary's p99 at most 20 ms. Candidate all in (50, 100]: above 50 > 2 × 20, fails. In (20, 50]: maybe only 21 ms, does not.
    expect(operationalFailures(NAMES, arm(bernoulli(0, 0), { requests: 1000, latencyMs: 80 }), primary, DEFAULTS)).toEqual([
      "latency: v2's p99 is above 50 ms, v1's at most 20 ms (97.5% always-valid bounds): more than maxLatencyRatio 2× (1000/9900 successful requests)",
    ]);
    expect(operationalFailures(NAMES, arm(bernoulli(0, 0), { requests: 1000, latencyMs: 45 }), primary, DEFAULTS)).toEqual([]);
  });

  it('takes the 99th percentile, not the worst request', () => {
    const candidate = arm(bernoulli(0, 0), { requests: 1000, latencyMs: 15 });
    const slowTail = [...candidate.latencyBuckets];
    slowTail[latencyBucket(15)] -= 5;
    slowTail[latencyBucket(3000)] += 5; // 0.5 % slow: above p99.5, below p99's reach
    expect(operationalFailures(NAMES, { ...candidate, latencyBuckets: slowTail }, primary, DEFAULTS)).toEqual([]);
    slowTail[latencyBucket(15)] -= 25;
    slowTail[latencyBucket(3000)] += 25; // 3 % slow: p99 surely in the slow bucket
    expect(operationalFailures(NAMES, { ...candidate, latencyBuckets: slowTail }, primary, DEFAULTS)).toEqual([expect.stringMatching(/^latency: /)]);
  });

  it("fails no candidate on the few slow requests of a small sample (the README quick start's rollback)", () => {
    // 112 and 109 requests, the candidate's p99 estimate in (50, 100] ms from its 2 slowest:
    // the old point-estimate rule rolled this back; a p99 bound needs hundreds of requests.
    const fast = arm(bernoulli(0, 0), { requests: 112, latencyMs: 8 });
    const latencyBuckets = [...fast.latencyBuckets];
    latencyBuckets[latencyBucket(8)] -= 2;
    latencyBuckets[latencyBucket(80)] += 2;
    const candidate = { ...fast, latencyBuckets };
    const small = arm(bernoulli(0, 0), { requests: 109, latencyMs: 15 });
    expect(operationalFailures(NAMES, candidate, small, { ...DEFAULTS, minSamples: 100 })).toEqual([]);
    // The same shares (1.8 % slow against none), thirty times the requests: now shown.
    const times30 = (a: ArmEvidence) => ({ ...a, requests: 30 * a.requests, latencyBuckets: a.latencyBuckets.map((c) => 30 * c) });
    expect(operationalFailures(NAMES, times30(candidate), times30(small), DEFAULTS)).toEqual([expect.stringMatching(/^latency: /)]);
  });
});

describe(`${judgeCandidate.name}, looked at after every batch (A/A)`, () => {
  /**
   * Two arms with the same reward, a 10 % canary, judged after every 100 labelled requests
   * until a verdict (maxSamples lowered to 2000 to stay fast). Counts how many runs end in a
   * false rollback, and how many a naive two-sided z-test at 0.05 peeked at the same moments
   * would have rolled back (z < −1.96 at any look).
   */
  function simulate(runs: number, seed: number) {
    const settings: GuardrailSettings = { ...DEFAULTS, maxSamples: 2000 };
    const rng = seededRng(seed);
    let [falseRollbacks, naiveRollbacks] = [0, 0];
    for (let run = 0; run < runs; run++) {
      const [canary, primary] = [
        { count: 0, sum: 0, sumSq: 0 },
        { count: 0, sum: 0, sumSq: 0 },
      ];
      let [judged, naiveDone] = [false, false];
      while (!judged || !naiveDone) {
        for (let i = 0; i < 100; i++) {
          const stats = rng() < 0.1 ? canary : primary;
          const reward = rng() < 0.8 ? 1 : 0;
          stats.count++;
          stats.sum += reward;
          stats.sumSq += reward;
        }
        const verdict = judgeCandidate(NAMES, arm({ ...canary }), arm({ ...primary }), settings).verdict;
        if (!judged && verdict !== 'waiting' && verdict !== 'continue') {
          judged = true;
          falseRollbacks += +(verdict === 'fail');
        }
        if (!naiveDone && canary.count >= settings.minSamples) {
          const [pc, pp] = [canary.sum / canary.count, primary.sum / primary.count];
          const z = (pc - pp) / Math.sqrt((pc * (1 - pc)) / canary.count + (pp * (1 - pp)) / primary.count);
          if (z < -1.96) naiveRollbacks++;
          if (Math.abs(z) > 1.96 || canary.count >= settings.maxSamples) naiveDone = true;
        }
      }
    }
    return { falseRollbacks, naiveRollbacks };
  }

  it('rolls back at most alpha of 100 A/A runs; the naive z-test peeked at as often does not', () => {
    const { falseRollbacks, naiveRollbacks } = simulate(100, 2024);
    expect(falseRollbacks).toBeLessThanOrEqual(5);
    expect(naiveRollbacks).toBeGreaterThan(5);
  });
});
