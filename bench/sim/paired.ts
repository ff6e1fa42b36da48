/**
 * The part `paired` (issue #24): where both arms answer the same request — a shadow step,
 * or a canary whose primary also shadows the canary's requests — the controller's rule on
 * the paired differences (`ArmEvidence.paired`, `pairedNullTest` through `judgeCandidate`)
 * against the unpaired two-arm rule (`nullTest` through the same `judgeCandidate`), on the
 * same runs at the same looks. What the arms share on a request cancels in d = r_c − r_p:
 * Var(d) = σ_c² + σ_p² − 2 Cov, so the more the arms agree, the fewer requests a verdict takes.
 */
import type { ArmStats, GuardrailSettings, GuardrailVerdict, Rng } from '@switchyard/strategies';
import { judgeCandidate, murmur3, sampleGamma, sampleNormal, seededRng } from '@switchyard/strategies';
import { BINARY, binomial, CONTINUOUS_SETTINGS, NAMES, nextLook, normalBatch, bernoulliBatch } from './decisions';
import { evidence } from './guardrails';
import type { SimOptions, SimPart } from './part';

const DEFAULT_RUNS = 2000;

/** A batch of k requests both arms answered: what it adds to the candidate's, the primary's and the differences' count, Σ, Σ². */
type PairedBatch = (rng: Rng, k: number, canary: ArmStats, primary: ArmStats, differences: ArmStats) => void;

interface Rewards {
  kind: 'binary' | 'continuous';
  settings: GuardrailSettings;
  /** How much the arms agree: "rewards agree on 90 % of requests", "ρ = 0.9". */
  label: string;
  /** Both arms on a request, the candidate's mean `shift` away from the primary's (in reward units). */
  paired(shift: number): PairedBatch;
  /** The primary alone (its own requests of a canary). */
  primaryOnly(rng: Rng, k: number, primary: ArmStats): void;
  /** The margin and the "worse" effect, in reward units; Var(d) / (σ_c² + σ_p²) at A/A. */
  margin: number;
  varianceRatio: number;
}

const add = (stats: ArmStats, count: number, sum: number, sumSq: number) => {
  stats.count += count;
  stats.sum += sum;
  stats.sumSq += sumSq;
};

/**
 * 0/1 rewards at `rate`, the arms agreeing on a share `agreement` of requests: the joint
 * law of (r_c, r_p) with P(1, 0) = x, P(0, 1) = y, x + y = 1 − agreement and x − y the
 * difference of the means; a batch's four cell counts drawn as a multinomial.
 */
function bernoulli(rate: number, agreement: number): Rewards {
  const disagree = 1 - agreement;
  return {
    kind: 'binary',
    settings: BINARY,
    label: `0/1 at ${rate}, agree on ${Math.round(100 * agreement)} %`,
    margin: BINARY.margin,
    varianceRatio: disagree / (2 * rate * (1 - rate)),
    paired(shift) {
      const x = (disagree + shift) / 2;
      const y = (disagree - shift) / 2;
      const both = rate + shift - x;
      if (!(x >= 0 && y >= 0 && both >= 0 && 1 - both - x - y >= 0))
        throw new RangeError(`no joint law for rate ${rate}, agreement ${agreement}, shift ${shift}`);
      return (rng, k, canary, primary, differences) => {
        // Multinomial (both, x, y, neither) as successive binomials on what is left.
        const n11 = binomial(rng, k, both);
        const n10 = binomial(rng, k - n11, x / (1 - both));
        const n01 = binomial(rng, k - n11 - n10, y / Math.max(1e-300, 1 - both - x));
        add(canary, k, n11 + n10, n11 + n10);
        add(primary, k, n11 + n01, n11 + n01);
        add(differences, k, n10 - n01, n10 + n01);
      };
    },
    primaryOnly: (rng, k, primary) => bernoulliBatch(rate, rate)(rng, primary, k, false),
  };
}

/**
 * Normal rewards N(mean, sd²), the arms' correlation ρ. A batch of k pairs drawn exactly
 * from its sufficient statistics: the mean vector ~ N(μ, Σ/k) and the scatter matrix
 * ~ Wishart(k − 1, Σ) by Bartlett's decomposition (W = L·B·Bᵀ·Lᵀ, L the Cholesky factor
 * of Σ, B lower triangular with B₁₁² ~ χ²(k − 1), B₂₂² ~ χ²(k − 2), B₂₁ ~ N(0, 1);
 * Bartlett 1933, Anderson, "An Introduction to Multivariate Statistical Analysis", §7.2).
 */
function normal(mean: number, sd: number, rho: number): Rewards {
  const chi2 = (rng: Rng, df: number) => (df > 0 ? 2 * sampleGamma(rng, df / 2) : 0);
  const [l11, l21, l22] = [sd, rho * sd, sd * Math.sqrt(1 - rho * rho)];
  return {
    kind: 'continuous',
    settings: CONTINUOUS_SETTINGS,
    label: `normal, σ = ${sd}, ρ = ${rho}`,
    margin: CONTINUOUS_SETTINGS.margin * sd,
    varianceRatio: 1 - rho,
    paired(shift) {
      return (rng, k, canary, primary, differences) => {
        if (k <= 0) return;
        const [z1, z2] = [sampleNormal(rng), sampleNormal(rng)];
        const mc = mean + shift + (l11 * z1) / Math.sqrt(k);
        const mp = mean + (l21 * z1 + l22 * z2) / Math.sqrt(k);
        const [b11, b21, b22] = [Math.sqrt(chi2(rng, k - 1)), k > 1 ? sampleNormal(rng) : 0, Math.sqrt(chi2(rng, k - 2))];
        // L·B = [[l11·b11, 0], [l21·b11 + l22·b21, l22·b22]]; scatter = (L·B)(L·B)ᵀ.
        const [a11, a21, a22] = [l11 * b11, l21 * b11 + l22 * b21, l22 * b22];
        const [scc, scp, spp] = [a11 * a11, a11 * a21, a21 * a21 + a22 * a22];
        add(canary, k, k * mc, scc + k * mc * mc);
        add(primary, k, k * mp, spp + k * mp * mp);
        add(differences, k, k * (mc - mp), scc - 2 * scp + spp + k * (mc - mp) ** 2);
      };
    },
    primaryOnly: (rng, k, primary) => normalBatch(mean, mean, sd)(rng, primary, k, false),
  };
}

const REWARDS: readonly Rewards[] = [
  bernoulli(0.8, 0.95),
  bernoulli(0.8, 0.9),
  bernoulli(0.8, 0.8),
  normal(0.6, 0.05, 0.9),
  normal(0.6, 0.05, 0.7),
  normal(0.6, 0.05, 0.5),
];
/** Where both arms answer: a shadow step (every request), or a canary at this share whose primary shadows its requests. */
const PLACEMENTS = [
  { id: 'shadow', label: 'shadow step', share: 1 },
  { id: 'canary10', label: '10 % canary, primary shadows it', share: 0.1 },
] as const;
const EFFECTS = [
  { id: 'aa', times: 0 },
  { id: 'margin', times: -1 },
  { id: 'worse', times: -2 },
] as const;

type Outcome = 'fail' | 'pass' | 'inconclusive';
interface Decided {
  outcome: Outcome;
  requests: number;
  /** The candidate's labelled pairs when the rule decided (for a shadow, the requests). */
  pairs: number;
}
interface Both {
  unpaired: Decided;
  paired: Decided;
}
const terminal = (verdict: GuardrailVerdict): verdict is Outcome => verdict === 'fail' || verdict === 'pass' || verdict === 'inconclusive';

/**
 * One run: requests in batches up to each look (`nextLook`, as the part `decisions`); a
 * share `share` of them answered by both arms (all of a shadow step's), the rest by the
 * primary alone; after each batch `judgeCandidate` with and without the paired
 * differences, until both have decided. Every request labelled at once.
 */
function pairedRun(rng: Rng, rewards: Rewards, share: number, shift: number): Both {
  const draw = rewards.paired(shift);
  const canary = { count: 0, sum: 0, sumSq: 0 };
  const primary = { count: 0, sum: 0, sumSq: 0 };
  const differences = { count: 0, sum: 0, sumSq: 0 };
  const state: Partial<Both> = {};
  for (let total = 0; !state.unpaired || !state.paired;) {
    const next = nextLook(total);
    const k = next - total;
    total = next;
    const both = share === 1 ? k : binomial(rng, k, share);
    // A shadow step's primary answers every request in its own right; a canary's primary answers its own
    // requests, and shadows the canary's (those rewards only enter the differences: a shadow's statistics are an arm apart).
    const ownPrimary = share === 1 ? primary : { count: 0, sum: 0, sumSq: 0 };
    draw(rng, both, canary, ownPrimary, differences);
    if (share < 1) rewards.primaryOnly(rng, k - both, primary);
    const at = (outcome: Outcome): Decided => ({ outcome, requests: total, pairs: canary.count });
    if (!state.unpaired) {
      const { verdict } = judgeCandidate(NAMES, evidence(canary), evidence(primary), rewards.settings);
      if (terminal(verdict)) state.unpaired = at(verdict);
    }
    if (!state.paired) {
      const { verdict } = judgeCandidate(NAMES, { ...evidence(canary), paired: { ...differences } }, evidence(primary), rewards.settings);
      if (terminal(verdict)) state.paired = at(verdict);
    }
  }
  return state as Both;
}

// ---- report ----

const pct = (n: number, runs: number) => `${((100 * n) / runs).toFixed(1)} %`;
const ALLOWED = 0.025;
const mark = (n: number, runs: number) => `${pct(n, runs)}${n > ALLOWED * runs ? ' ✗' : ''}`;
function medianOf(values: number[]): number {
  if (!values.length) return NaN;
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor((sorted.length - 1) / 2)];
}
const shown = (x: number) => (Number.isFinite(x) ? String(x) : '–');
const ratio = (a: number, b: number) => (a > 0 && b > 0 ? `${(a / b).toFixed(1)}×` : '–');

interface Cell {
  results: Both[];
  seed: number;
}

function runCell(name: string, seedBase: number, runs: number, run: (rng: Rng) => Both): Cell {
  const seed = murmur3(`paired/${name}`, seedBase);
  const rng = seededRng(seed);
  const started = process.hrtime.bigint();
  const results = Array.from({ length: runs }, () => run(rng));
  process.stderr.write(`[sim] paired/${name}: ${runs} runs in ${(Number(process.hrtime.bigint() - started) / 1e9).toFixed(1)} s\n`);
  return { results, seed };
}

async function run(options: SimOptions): Promise<string> {
  const runs = options.runs ?? DEFAULT_RUNS;
  const rows: string[] = [];
  for (const rewards of REWARDS) {
    for (const placement of PLACEMENTS) {
      const cells = Object.fromEntries(
        EFFECTS.map((effect) => {
          const name = `${rewards.label}/${placement.id}/${effect.id}`;
          return [effect.id, runCell(name, options.seed, runs, (rng) => pairedRun(rng, rewards, placement.share, effect.times * rewards.margin))];
        }),
      ) as Record<(typeof EFFECTS)[number]['id'], Cell>;
      // Yield between cells so progress output and signals get through.
      await new Promise((resolve) => setImmediate(resolve));
      const medians = (rule: keyof Both, effect: keyof typeof cells, outcome?: Outcome) => {
        const decided = cells[effect].results.map((r) => r[rule]).filter((d) => !outcome || d.outcome === outcome);
        return { requests: medianOf(decided.map((d) => d.requests)), pairs: medianOf(decided.map((d) => d.pairs)) };
      };
      for (const rule of ['unpaired', 'paired'] as const) {
        const count = (effect: keyof typeof cells, outcome: Outcome) => cells[effect].results.filter((r) => r[rule].outcome === outcome).length;
        const [aa, worse] = [medians(rule, 'aa'), medians(rule, 'worse', 'fail')];
        const speedup =
          rule === 'paired'
            ? `${ratio(medians('unpaired', 'aa').requests, aa.requests)} / ${ratio(medians('unpaired', 'worse', 'fail').requests, worse.requests)}`
            : '';
        rows.push(
          `| ${rewards.label} | ${placement.label} | ${rule} | ${mark(count('aa', 'fail'), runs)} | ${mark(count('margin', 'pass'), runs)} | ` +
            `${pct(count('worse', 'fail'), runs)} | ${pct(count('aa', 'inconclusive'), runs)} | ${shown(aa.requests)} (${shown(aa.pairs)}) | ` +
            `${shown(worse.requests)} (${shown(worse.pairs)}) | ${speedup} | ${rule === 'paired' ? rewards.varianceRatio.toFixed(2) : ''} | ` +
            `${EFFECTS.map((e) => cells[e.id].seed).join(' / ')} |`,
        );
      }
    }
  }
  return [
    '### Paired against unpaired: requests to a verdict where both arms answered the same request',
    '',
    `Both rules are \`judgeCandidate\` on the same runs at the same looks (every 10 requests up to 2 000, then 3 % apart), every request ` +
      `labelled at once: **unpaired** compares the arms' own rewards (\`nullTest\`), **paired** is given the differences d = r_c − r_p ` +
      `of the requests both answered (\`ArmEvidence.paired\`: \`pairedNullTest\` from minSamples pairs on), as the controller does. ` +
      `Shadow step: both arms answer every request. 10 % canary: the canary serves 10 % of requests and the primary shadows them ` +
      `(those answers enter only the differences); the primary's own 90 % are its arm. 0/1 rewards: ${BINARY.margin} margin, ` +
      `GUARDRAIL_DEFAULTS; normal rewards: margin ${CONTINUOUS_SETTINGS.margin} sd. ` +
      `False rollback: A/A; false pass: the candidate exactly at −margin; power: rolled back when 2 margins worse. ` +
      `Requests (candidate's labelled pairs) to a verdict: median, A/A over all runs (pass or inconclusive at maxSamples), ` +
      `worse over the runs rolled back. Fewer requests: unpaired ÷ paired medians, A/A / worse. Var(d) / (σ_c² + σ_p²): ` +
      `what pairing leaves of the variance at A/A. ✗: above α/2 = ${100 * ALLOWED} %. ${runs} runs a cell; seeds A/A / at −margin / worse.`,
    '',
    '| rewards | both answer | rule | false rollback (A/A) | false pass (at −margin) | power (2 margins worse) | inconclusive (A/A) | requests (pairs) to verdict, A/A | requests (pairs) to rollback, worse | fewer requests (A/A / worse) | Var(d) / (σ_c² + σ_p²) | seeds |',
    '|---|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---|',
    ...rows,
  ].join('\n');
}

export const paired: SimPart = {
  name: 'paired',
  summary: 'issue #24: the paired rule (shadow steps, a canary the primary shadows) against the unpaired one: error rates, power, requests to a verdict',
  run,
};
