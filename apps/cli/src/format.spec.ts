import { stringify } from 'yaml';
import {
  DeploymentJson,
  deployLine,
  describeDecision,
  dryRunView,
  evaluationView,
  historyView,
  jsonText,
  lineDiff,
  listView,
  printable,
  statusView,
  table,
  tailLine,
} from './format';

const canary: DeploymentJson = {
  name: 'churn',
  version: 4,
  variants: [{ name: 'v1' }, { name: 'v2' }],
  strategy: { type: 'canary', primary: 'v1', canary: 'v2', percent: 10 },
  split: { v1: 0.9, v2: 0.1 },
  served: { since: 'rev 4', shares: { v1: 0.88, v2: 0.12 }, requests: 1000, recent: { minutes: 5, shares: { v1: 0.75, v2: 0.25 }, requests: 200 } },
  report: {
    v1: { served: { requests: 880, errors: 1, latencyMs: { p50: 2, p95: 5 }, reward: { count: 400, mean: 0.7, low: 0.655, high: 0.745 } } },
    v2: {
      served: { requests: 120, errors: 0, latencyMs: { p50: 3, p95: 6 }, reward: { count: 50, mean: 0.9, low: 0.81, high: 0.99 } },
      shadow: { requests: 30, errors: 0, agreement: { rate: 0.8, compared: 30 } },
    },
  },
  guardrails: {
    state: 'running',
    since: '2026-11-24T17:00:00.000Z',
    reasons: [],
    evidence: { delta: 0.2, low: 0.05, high: 0.35, srmP: 0.0004 },
    labels: { judged: { v1: 400, v2: 50 }, waiting: { v1: 30, v2: 4 }, units: { v1: 180, v2: 21 } },
    lastDecision: { action: 'hold', fromVersion: 4, toVersion: 4, reason: 'surely not worse' },
  },
};

describe(table.name, () => {
  it('aligns columns and prints missing cells as "-"', () => {
    expect(
      table(
        ['A', 'BB'],
        [
          ['x', undefined],
          ['long', 2],
        ],
      ),
    ).toBe('A     BB\nx     -\nlong  2');
  });
});

describe(statusView.name, () => {
  it('shows set against served split, rewards with intervals, agreement, the judgement and the last decision', () => {
    const sut = statusView(canary, new Date('2026-11-24T17:05:00Z'));
    expect(sut).toContain('deployment churn  rev 4  canary v2 10% over v1');
    expect(sut).toContain('served = 1000 requests since rev 4; last 5 min: 200 requests (v1 75.0%, v2 25.0%)');
    expect(sut).toMatch(/^v1\s+served\s+90\.0%\s+88\.0%\s+880\s+1\s+2\s+0\.700\s+\[0\.655, 0\.745\]\s+400\s+-$/m);
    expect(sut).toMatch(/^v2\s+served\s+10\.0%\s+12\.0%\s+120\s+0\s+3\s+0\.900\s+\[0\.810, 0\.990\]\s+50/m);
    expect(sut).toMatch(/^v2\s+shadow\s+mirror\s+-\s+30\s+.*80\.0%$/m);
    expect(sut).toContain('guardrails: running since 2026-11-24T17:00:00.000Z  delta 0.200 in [0.050, 0.350]  srmP 0.000');
    expect(sut).toContain('labelled pairs: v1 400, v2 50 judged; v1 30, v2 4 inside the label horizon');
    expect(sut).toContain('distinct units: v1 180, v2 21');
    expect(sut).toContain('last decision: hold (rev 4): surely not worse');
    expect(sut).toContain('as of 2026-11-24T17:05:00.000Z');
  });

  it('shows feedback that never joined or gave no reward, and warns of labels that can never equal the output', () => {
    expect(statusView({ ...canary, feedback: { unmatched: 0, unjoinable: {} } })).not.toContain('feedback');
    const sut = statusView({
      ...canary,
      feedback: {
        unmatched: 7,
        unjoinable: { unscorable: 2 },
        labelMismatch: { count: 40, last: 'a label of text can never equal the output (…), a number (label "yes")' },
      },
    });
    expect(sut).toContain('feedback never joined: 7 (no prediction of this deployment with its request id within the join window)');
    expect(sut).toContain('feedback that met its prediction but gave no reward: unscorable 2');
    expect(sut).toContain('warning: 40 labels can never equal the output and scored 0: a label of text can never equal the output (…), a number (label "yes")');
  });

  it("shows a plan's step i/n and kind, and the split of the step it serves", () => {
    const sut = statusView({
      ...canary,
      guardrails: undefined,
      strategy: { type: 'plan', primary: 'v1', candidate: 'v2', steps: [{}, {}, {}] },
      status: { step: 1, paused: true },
      split: { v1: 0.75, v2: 0.25 },
      plan: {
        step: 2,
        of: 3,
        kind: 'canary',
        paused: true,
        state: 'paused',
        serving: { type: 'canary', primary: 'v1', canary: 'v2', percent: 25 },
        lastDecision: null,
      },
    });
    expect(sut).toContain('plan v2 over v1, step 2/3 (paused)');
    expect(sut).toContain('plan step 2/3 canary (paused)  serving canary v2 25% over v1');
    expect(sut).toMatch(/^v1\s+served\s+75\.0%/m);
    expect(sut).toContain('plan: paused');
    expect(sut).not.toContain('labelled pairs');
    expect(sut).toContain('last decision: none');
  });
});

describe(`${statusView.name} of a bandit`, () => {
  const bandit: DeploymentJson = { ...canary, guardrails: undefined, strategy: { type: 'bandit', algorithm: 'thompson' } };

  it('shows the weights the router serves as the set split, with when they were computed', () => {
    const sut = statusView({ ...bandit, split: { v1: 0.25, v2: 0.75 }, weightsAt: 't2' }, new Date(0));
    expect(sut).toContain("set = the bandit's weights at t2");
    expect(sut).toMatch(/^v1\s+served\s+25\.0%\s+88\.0%/m);
    expect(sut).toMatch(/^v2\s+served\s+75\.0%\s+12\.0%/m);
  });

  it("shows a contextual bandit's shares per segment under the table", () => {
    const segments = { 'segment=retail': { v1: 0.9, v2: 0.1 }, 'segment=business': { v1: 0.1, v2: 0.9 } };
    const sut = statusView({ ...bandit, split: { v1: 0.5, v2: 0.5 }, weightsAt: 't2', segments }, new Date(0));
    expect(sut).toMatch(/^SEGMENT\s+v1\s+v2$/m);
    expect(sut).toMatch(/^segment=retail\s+90\.0%\s+10\.0%$/m);
    expect(sut).toMatch(/^segment=business\s+10\.0%\s+90\.0%$/m);
    expect(statusView({ ...bandit, split: { v1: 0.5, v2: 0.5 } }, new Date(0))).not.toContain('SEGMENT');
  });

  it('says "bandit" when no weights are stored yet', () => {
    const sut = statusView({ ...bandit, split: null }, new Date(0));
    expect(sut).toContain('set = bandit (no weights stored yet)');
    expect(sut).toMatch(/^v1\s+served\s+bandit\s+88\.0%/m);
  });
});

describe(listView.name, () => {
  it('lists name, status, rev, strategy and variants', () => {
    expect(listView([{ ...canary, health: { state: 'Progressing', reason: 'running' } }])).toMatch(
      /^NAME\s+STATUS\s+REV\s+STRATEGY\s+VARIANTS\s+UPDATED\nchurn\s+Progressing\s+4\s+canary v2 10% over v1\s+v1,v2/m,
    );
    expect(listView([])).toBe('no deployments');
  });
});

describe(describeDecision.name, () => {
  it('names the versions a decision moved between', () => {
    expect(describeDecision({ action: 'rollback', fromVersion: 1, toVersion: 2, reason: 'worse' })).toBe('rollback (rev 1 → rev 2): worse');
    expect(describeDecision(null)).toBeUndefined();
  });
});

describe(evaluationView.name, () => {
  it('prints the estimate with its interval, n, ESS and mean weight', () => {
    const sut = evaluationView('churn', { estimate: 0.81, low: 0.78, high: 0.84, n: 1200, ess: 950.4, meanWeight: 1.01, method: 'snips' });
    expect(sut).toContain('off-policy estimate for churn (snips)');
    expect(sut).toMatch(/0\.810\s+\[0\.780, 0\.840\]\s+1200\s+950\.4\s+1\.010/);
  });
});

describe(tailLine.name, () => {
  it('summarises decisions, predictions and DLQ records', () => {
    expect(tailLine('t', 'churn', { type: 'decision', deployment: 'churn', action: 'advance', fromVersion: 2, toVersion: 3 }, '0')).toBe(
      '1970-01-01T00:00:00.000Z  churn  decision advance (rev 2 → rev 3)',
    );
    expect(tailLine('t', 'r1', { type: 'prediction', deployment: 'churn', requestId: 'r1', variant: 'v2', role: 'served' })).toBe(
      '  churn  prediction r1 → v2 (served)',
    );
    expect(tailLine('dlq', null, { topic: 'sy.feedback', partition: 1, offset: '7', error: 'not JSON' })).toBe('  dlq from sy.feedback[1]@7: not JSON');
  });
});

describe(lineDiff.name, () => {
  it('keeps common lines and marks what was removed and added, in order', () => {
    expect(lineDiff('a\nb\nc\nd', 'a\nc\nx\nd')).toEqual(['  a', '- b', '  c', '+ x', '  d']);
    expect(lineDiff('a', 'a')).toEqual(['  a']);
    expect(lineDiff('a\nb', 'b\na')).toEqual(['- a', '  b', '+ a']);
  });
});

describe(deployLine.name, () => {
  it('says whether the spec was written, unchanged or held', () => {
    const d = { ...canary, guardrails: undefined };
    expect(deployLine({ ...d, result: 'written' })).toBe('deployed churn rev 4: canary v2 10% over v1');
    expect(deployLine({ ...d, result: 'unchanged' })).toBe('churn unchanged at rev 4: canary v2 10% over v1');
    expect(deployLine({ ...d, result: 'held', message: 'retry it' })).toBe('churn held at rev 4 (canary v2 10% over v1): retry it');
  });
});

describe(dryRunView.name, () => {
  const spec = { strategy: { type: 'single', variant: 'v1' } };
  it('shows what a PUT would do and the spec in force against the one sent', () => {
    const sent = { strategy: { type: 'single', variant: 'v2' } };
    expect(dryRunView('churn', { dryRun: true, result: 'written', version: 3, current: spec, spec: sent }, stringify)).toBe(
      'would update churn from rev 3\n--- rev 3\n+++ sent\n  strategy:\n    type: single\n-   variant: v1\n+   variant: v2',
    );
    expect(dryRunView('churn', { dryRun: true, result: 'written', version: null, current: null, spec }, stringify)).toBe(
      'would create churn at rev 1\n--- (none)\n+++ sent\n+ strategy:\n+   type: single\n+   variant: v1',
    );
    expect(dryRunView('churn', { dryRun: true, result: 'unchanged', version: 3, current: spec, spec }, stringify)).toBe('churn unchanged at rev 3');
  });
});

describe(printable.name, () => {
  it('removes escape sequences, control characters and bidirectional overrides, keeping newlines and tabs', () => {
    expect(printable('a\x1b[31mred\x1b[0m\tb\nc\x1b]0;title\x07d\x1b]8;;http://x\x1b\\e\x07\r\x9b2Jf\u202eg\x1bch')).toBe('ared\tb\ncdefgh');
  });
});

describe(jsonText.name, () => {
  it('escapes what JSON.stringify leaves raw and a terminal would obey', () => {
    const text = jsonText({ reason: '\x1b[31m \x9b2J \u202e' });
    expect(text).toBe('{"reason":"\\u001b[31m \\u009b2J \\u202e"}');
    expect(JSON.parse(text)).toEqual({ reason: '\x1b[31m \x9b2J \u202e' });
  });
});

describe(historyView.name, () => {
  it('puts spec changes and decisions on one timeline, oldest first', () => {
    const sut = historyView('churn', {
      changes: [
        { at: '2026-12-07T00:00:00.000Z', action: 'put', specVersion: 1, strategy: { type: 'canary', primary: 'v1', canary: 'v2', percent: 10 } },
        { at: '2026-12-07T00:02:00.000Z', action: 'put', specVersion: 2, strategy: { type: 'single', variant: 'v1' } },
      ],
      decisions: [{ at: '2026-12-07T00:01:00.000Z', action: 'rollback', fromVersion: 1, toVersion: 2, reason: 'worse' }],
    });
    expect(sut.split('\n')).toEqual([
      'TIME                      REV    WHAT',
      '2026-12-07T00:00:00.000Z  rev 1  put: canary v2 10% over v1',
      '2026-12-07T00:01:00.000Z  -      decision rollback (rev 1 → rev 2): worse',
      '2026-12-07T00:02:00.000Z  rev 2  put: single v1',
    ]);
    expect(historyView('churn', { changes: [], decisions: [] })).toBe('no history for churn on deployment-events');
  });
});
