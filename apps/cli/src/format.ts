/**
 * Pure formatting of what the router answers: no I/O, so every table can be unit tested.
 * Types are the JSON shapes of `GET /v1/deployments/{name}` (docs/api.md, "HTTP API (router)").
 */
import type { DeploymentStatus, StrategySpec } from '@switchyard/contracts';
import type { FeedbackOutcomes } from '@switchyard/strategies';

/** A strategy as the router answers it: the contract's, unvalidated here (the router validated it). */
export type StrategyJson = StrategySpec;

export interface RoleReport {
  requests: number;
  errors: number;
  latencyMs?: { p50: number | null; p95: number | null };
  agreement?: { rate: number; compared: number };
  reward?: { count: number; mean: number; low?: number; high?: number };
}

export interface DecisionJson {
  action: string;
  reason?: string;
  fromVersion?: number;
  toVersion?: number;
  occurredAt?: string;
  at?: string;
}

export interface JudgementJson {
  state?: string;
  since?: string;
  reasons?: string[];
  evidence?: { delta?: number | null; low?: number | null; high?: number | null; srmP?: number | null; n?: Record<string, number> } | null;
  /** Per arm, labelled pairs of what is judged (the step's cohort): judged, and still waiting inside the label horizon; distinct units the split check counted. */
  labels?: { judged: Record<string, number>; waiting: Record<string, number>; units?: Record<string, number> };
  lastDecision?: DecisionJson | null;
}

/** Healthy, Progressing, Paused or Degraded, and why (libs/strategies' `deploymentHealth`, computed by the router). */
export interface HealthJson {
  state: 'Healthy' | 'Progressing' | 'Paused' | 'Degraded';
  reason: string;
}

export interface DeploymentJson {
  name: string;
  version: number;
  health?: HealthJson;
  updatedAt?: string;
  variants: { name: string; url?: string; model?: string }[];
  strategy: StrategyJson;
  /** The rollout status (a plan's step and pause, a bandit's vetoes). */
  status?: DeploymentStatus;
  /** The share each variant is set to answer, as the router assigns it; `null` for a bandit with no weights stored yet. */
  split?: Record<string, number> | null;
  /** The share each variant answered since the current rev (and plan step), and over the last minutes: `null` before any request. */
  served?: {
    since: string;
    shares: Record<string, number>;
    requests: number;
    recent?: { minutes: number; shares: Record<string, number>; requests: number } | null;
  } | null;
  /** A bandit's: when the weights `split` holds were computed. */
  weightsAt?: string;
  /** A contextual bandit's shares per segment (`"<feature>=<level>"` → variant → share), as of `weightsAt`. */
  segments?: Record<string, Record<string, number>>;
  report?: Record<string, { served?: RoleReport; shadow?: RoleReport }>;
  guardrails?: JudgementJson & Record<string, unknown>;
  plan?: JudgementJson & { step: number; of: number; kind?: string; paused?: boolean; serving?: StrategyJson };
  /** Feedback that gave no reward, and labels that can never equal the output. */
  feedback?: FeedbackOutcomes;
}

/** Left-aligned columns separated by two spaces; `undefined` cells print as "-". */
export function table(headers: string[], rows: (string | number | undefined | null)[][]): string {
  const cells = [headers, ...rows.map((row) => row.map((cell) => (cell === undefined || cell === null || cell === '' ? '-' : String(cell))))];
  const widths = headers.map((_, i) => Math.max(...cells.map((row) => (row[i] ?? '').length)));
  return cells.map((row) => row.map((cell, i) => (i === row.length - 1 ? cell : cell.padEnd(widths[i]))).join('  ')).join('\n');
}

/** 0.1234 → "12.3%". */
export const percent = (share: number | undefined): string | undefined =>
  share === undefined || Number.isNaN(share) ? undefined : `${(share * 100).toFixed(1)}%`;

const num = (value: number | null | undefined, digits = 3): string | undefined => (value === undefined || value === null ? undefined : value.toFixed(digits));
/** `v1 210, v2 205`, or `none`. */
const perArm = (counts: Record<string, number>): string =>
  Object.entries(counts)
    .map(([arm, count]) => `${arm} ${count}`)
    .join(', ') || 'none';

/** "canary v2 10% over v1" and the like; a plan's step and pause are its `status`'s. */
export function describeStrategy(strategy: StrategyJson, status: DeploymentStatus = {}): string {
  switch (strategy.type) {
    case 'single':
      return `single ${strategy.variant}`;
    case 'shadow':
      return `shadow: ${strategy.primary} serves, ${strategy.shadows.join(', ')} mirrored`;
    case 'canary':
      return `canary ${strategy.canary} ${strategy.percent}% over ${strategy.primary}${strategy.pairWithPrimary ? ', paired' : ''}`;
    case 'bandit':
      return `bandit ${strategy.algorithm}`;
    case 'plan':
      return `plan ${strategy.candidate} over ${strategy.primary}, step ${(status.step ?? 0) + 1}/${strategy.steps.length}${status.paused ? ' (paused)' : ''}`;
  }
}

export function describeDecision(decision: DecisionJson | null | undefined): string | undefined {
  if (!decision) return undefined;
  const versions =
    decision.fromVersion === undefined
      ? ''
      : decision.toVersion !== decision.fromVersion
        ? ` (rev ${decision.fromVersion} → rev ${decision.toVersion})`
        : ` (rev ${decision.fromVersion})`;
  return `${decision.action}${versions}${decision.reason ? `: ${decision.reason}` : ''}`;
}

export function listView(deployments: DeploymentJson[]): string {
  if (!deployments.length) return 'no deployments';
  return table(
    ['NAME', 'STATUS', 'REV', 'STRATEGY', 'VARIANTS', 'UPDATED'],
    deployments.map((d) => [d.name, d.health?.state, d.version, describeStrategy(d.strategy, d.status), d.variants.map((v) => v.name).join(','), d.updatedAt]),
  );
}

/** The `status` screen: header, per-variant table (set split as the router serves it vs served split, rewards), judgement. */
export function statusView(d: DeploymentJson, now: Date = new Date()): string {
  const lines: string[] = [];
  const serving = d.plan?.serving ?? d.strategy;
  lines.push(`deployment ${d.name}  rev ${d.version}  ${describeStrategy(d.strategy, d.status)}`);
  if (d.health) lines.push(`status: ${d.health.state}: ${d.health.reason}`);
  if (d.plan) {
    lines.push(`plan step ${d.plan.step}/${d.plan.of} ${d.plan.kind ?? '?'}${d.plan.paused ? ' (paused)' : ''}  serving ${describeStrategy(serving)}`);
  }
  const names = d.variants.map((v) => v.name);
  const set: Record<string, number | undefined> = d.split ?? {};
  const served = d.served?.shares ?? {};
  const rows: (string | number | undefined)[][] = [];
  for (const name of names) {
    const roles = d.report?.[name] ?? {};
    const row = (role: 'served' | 'shadow', r: RoleReport | undefined) => {
      const reward = r?.reward;
      const interval = reward && reward.low !== undefined ? `[${num(reward.low)}, ${num(reward.high)}]` : undefined;
      rows.push([
        name,
        role,
        role === 'served' ? (set[name] === undefined ? 'bandit' : percent(set[name])) : 'mirror',
        role === 'served' ? percent(served[name]) : undefined,
        r?.requests ?? 0,
        r?.errors ?? 0,
        r?.latencyMs?.p50 ?? undefined,
        reward ? num(reward.mean) : undefined,
        interval,
        reward?.count,
        r?.agreement ? percent(r.agreement.rate) : undefined,
      ]);
    };
    row('served', roles.served);
    if (roles.shadow) row('shadow', roles.shadow);
  }
  lines.push('');
  const recent = d.served?.recent;
  const lately = recent
    ? `; last ${recent.minutes} min: ${recent.requests} requests (${names.map((name) => `${name} ${percent(recent.shares[name] ?? 0)}`).join(', ')})`
    : '';
  lines.push(
    `${d.served?.requests ? `served = ${d.served.requests} requests since ${d.served.since}` : `served = no requests since rev ${d.version}`}${lately}`,
  );
  if (serving.type === 'bandit') lines.push(d.weightsAt ? `set = the bandit's weights at ${d.weightsAt}` : 'set = bandit (no weights stored yet)');
  lines.push(table(['VARIANT', 'ROLE', 'SET', 'SERVED', 'REQUESTS', 'ERRORS', 'P50MS', 'REWARD', '95% INTERVAL', 'LABELLED', 'AGREEMENT'], rows));
  if (d.segments && Object.keys(d.segments).length) {
    lines.push('', 'set per segment (contextual bandit; SET above: requests whose context cannot be read):');
    lines.push(
      table(
        ['SEGMENT', ...names],
        Object.entries(d.segments).map(([segment, shares]) => [segment, ...names.map((name) => percent(shares[name]))]),
      ),
    );
  }
  const judged = d.plan ?? d.guardrails;
  if (judged) {
    lines.push('');
    const e = judged.evidence;
    const evidence = e && e.delta !== undefined && e.delta !== null ? `  delta ${num(e.delta)} in [${num(e.low)}, ${num(e.high)}]` : '';
    const srm = e && e.srmP !== undefined && e.srmP !== null ? `  srmP ${num(e.srmP)}` : '';
    lines.push(`${d.plan ? 'plan' : 'guardrails'}: ${judged.state ?? 'waiting'}${judged.since ? ` since ${judged.since}` : ''}${evidence}${srm}`);
    for (const reason of judged.reasons ?? []) lines.push(`  ${reason}`);
    if (judged.labels) lines.push(`labelled pairs: ${perArm(judged.labels.judged)} judged; ${perArm(judged.labels.waiting)} inside the label horizon`);
    if (judged.labels?.units) lines.push(`distinct units: ${perArm(judged.labels.units)}`);
    lines.push(`last decision: ${describeDecision(judged.lastDecision) ?? 'none'}`);
  }
  const feedback = feedbackLines(d.feedback);
  if (feedback.length) lines.push('', ...feedback);
  lines.push('');
  lines.push(`as of ${now.toISOString()}`);
  return lines.join('\n');
}

/** Feedback that gave no reward, and labels of a kind the output can never equal: what would otherwise pass silently. */
function feedbackLines(f: FeedbackOutcomes | undefined): string[] {
  if (!f) return [];
  const lines: string[] = [];
  const unjoinable = Object.entries(f.unjoinable).filter(([, n]) => n > 0);
  if (f.unmatched > 0) lines.push(`feedback never joined: ${f.unmatched} (no prediction of this deployment with its request id within the join window)`);
  if (unjoinable.length) lines.push(`feedback that met its prediction but gave no reward: ${unjoinable.map(([cause, n]) => `${cause} ${n}`).join(', ')}`);
  if (f.labelMismatch) lines.push(`warning: ${f.labelMismatch.count} labels can never equal the output and scored 0: ${f.labelMismatch.last}`);
  return lines;
}

export interface EvaluationJson {
  estimate: number;
  low: number;
  high: number;
  n: number;
  ess: number;
  meanWeight?: number;
  method: string;
}

export function evaluationView(name: string, e: EvaluationJson): string {
  return [
    `off-policy estimate for ${name} (${e.method})`,
    table(
      ['ESTIMATE', '95% INTERVAL', 'N', 'ESS', 'MEAN WEIGHT'],
      [[num(e.estimate), `[${num(e.low)}, ${num(e.high)}]`, e.n, num(e.ess, 1), num(e.meanWeight)]],
    ),
  ].join('\n');
}

/** One line of `tail` in table output: time, topic, key, the interesting fields. */
// eslint-disable-next-line @typescript-eslint/no-explicit-any -- a record of any of four topics, read field by field
export function tailLine(topic: string, key: string | null, value: any, timestamp?: string): string {
  const at = timestamp ? new Date(Number(timestamp)).toISOString() : '';
  if (value && typeof value === 'object') {
    if (value.type === 'decision') return `${at}  ${value.deployment}  decision ${describeDecision(value)}`;
    if (value.type === 'prediction' || value.type === 'joined') {
      const reward = value.type === 'joined' ? `  reward ${value.reward}` : '';
      return `${at}  ${value.deployment}  ${value.type} ${value.requestId} → ${value.variant} (${value.role})${value.error ? ` error ${value.error}` : ''}${reward}`;
    }
    if (value.error !== undefined && value.topic !== undefined) return `${at}  dlq from ${value.topic}[${value.partition}]@${value.offset}: ${value.error}`;
  }
  return `${at}  ${topic}  ${key ?? ''}  ${typeof value === 'string' ? value : JSON.stringify(value)}`;
}

/**
 * The lines of `after` against `before`, each prefixed "  " (kept), "- " or "+ ", by their
 * longest common subsequence (the dynamic-programming table; a spec is a few dozen lines), removals first.
 */
export function lineDiff(before: string, after: string): string[] {
  const a = before.split('\n');
  const b = after.split('\n');
  // common[i][j]: the longest common subsequence of a[i..] and b[j..].
  const common = Array.from({ length: a.length + 1 }, () => new Array<number>(b.length + 1).fill(0));
  for (let i = a.length - 1; i >= 0; i--)
    for (let j = b.length - 1; j >= 0; j--) common[i][j] = a[i] === b[j] ? common[i + 1][j + 1] + 1 : Math.max(common[i + 1][j], common[i][j + 1]);
  const lines: string[] = [];
  let [i, j] = [0, 0];
  while (i < a.length || j < b.length) {
    if (i < a.length && j < b.length && a[i] === b[j]) {
      lines.push(`  ${a[i]}`);
      i++;
      j++;
    } else if (j < b.length && (i === a.length || common[i][j + 1] > common[i + 1][j])) lines.push(`+ ${b[j++]}`);
    else lines.push(`- ${a[i++]}`);
  }
  return lines;
}

/** A PUT's answer, or a dry run's: what it did (or would do) to the deployment. */
export interface PutJson extends DeploymentJson {
  result: 'written' | 'unchanged' | 'held';
  message?: string;
}

export interface DryRunJson {
  dryRun: true;
  result: PutJson['result'];
  version: number | null;
  current: Record<string, unknown> | null;
  spec: Record<string, unknown>;
  message?: string;
}

/** `deploy`'s one line: written, unchanged (the spec in force) or held (a spec a rollback or abort ended). */
export function deployLine(d: PutJson): string {
  switch (d.result) {
    case 'written':
      return `deployed ${d.name} rev ${d.version}: ${describeStrategy(d.strategy, d.status)}`;
    case 'unchanged':
      return `${d.name} unchanged at rev ${d.version}: ${describeStrategy(d.strategy, d.status)}`;
    case 'held':
      return `${d.name} held at rev ${d.version} (${describeStrategy(d.strategy, d.status)}): ${d.message ?? 'the spec was rolled back or aborted'}`;
  }
}

/** `deploy --dry-run`'s and `diff`'s answer: what would happen, then the spec in force against the one sent, as YAML lines. */
export function dryRunView(name: string, d: DryRunJson, yaml: (value: unknown) => string): string {
  const head =
    d.result === 'unchanged'
      ? `${name} unchanged at rev ${d.version}`
      : d.result === 'held'
        ? `${name} held at rev ${d.version}: ${d.message ?? 'the spec was rolled back or aborted'}`
        : d.version === null
          ? `would create ${name} at rev 1`
          : `would update ${name} from rev ${d.version}`;
  if (d.result === 'unchanged') return head;
  const sent = yaml(d.spec).trimEnd();
  const diff = d.current ? lineDiff(yaml(d.current).trimEnd(), sent) : sent.split('\n').map((line) => `+ ${line}`);
  return [head, `--- ${d.current ? `rev ${d.version}` : '(none)'}`, '+++ sent', ...diff].join('\n');
}

/**
 * Escape sequences (CSI in its 7- and 8-bit forms, OSC, any other ESC pair), C0 and C1 controls but newline and tab,
 * and the bidirectional overrides that reorder what a terminal shows ("Trojan Source").
 */
// eslint-disable-next-line no-control-regex -- matching control characters is the point
const CONTROLS = /(?:\x1b\[|\x9b)[0-?]*[ -/]*[@-~]|\x1b\][^\x07\x1b]*(?:\x07|\x1b\\)?|\x1b[ -~]?|[\x00-\x08\x0b-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]/g;

/** Text that came from a Kafka record or the router, with its control characters removed: a terminal shows it, never obeys it. */
export const printable = (text: string): string => text.replace(CONTROLS, '');

/** JSON whose strings cannot drive a terminal either: JSON.stringify escapes C0 controls, this the C1 ones and bidirectional overrides. */
export const jsonText = (value: unknown, indent?: number): string =>
  JSON.stringify(value, null, indent).replace(/[\x7f-\x9f\u202a-\u202e\u2066-\u2069]/g, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`);

export interface HistoryJson {
  decisions: DecisionJson[];
  changes: { at: string; action: string; specVersion?: number; strategy?: StrategyJson }[];
}

/** `history`: the spec changes and the decisions taken, oldest first, as one timeline. */
export function historyView(name: string, h: HistoryJson): string {
  const rows: { at: string; rev: string; what: string }[] = [
    ...h.changes.map((c) => ({
      at: c.at,
      rev: c.specVersion ? `rev ${c.specVersion}` : '',
      what: `${c.action}${c.strategy ? `: ${describeStrategy(c.strategy)}` : ''}`,
    })),
    ...h.decisions.map((d) => ({ at: d.at ?? d.occurredAt ?? '', rev: '', what: `decision ${describeDecision(d)}` })),
  ].sort((a, b) => (a.at < b.at ? -1 : a.at > b.at ? 1 : 0));
  if (!rows.length) return `no history for ${name} on deployment-events`;
  return table(
    ['TIME', 'REV', 'WHAT'],
    rows.map((r) => [r.at, r.rev, r.what]),
  );
}
