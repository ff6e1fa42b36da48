import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { topicNames } from '@switchyard/contracts';
import { groundTruth, randomFeatures, seededRng, toInferInputs } from '@switchyard/demo-models';
import { banditUpdaterService } from '../apps/bandit-updater/src/bandit-updater.service-definition';
import { feedbackJoinerService } from '../apps/feedback-joiner/src/feedback-joiner.service-definition';
import { modelServerService } from '../apps/model-server/src/model-server.service-definition';
import { rolloutControllerService } from '../apps/rollout-controller/src/rollout-controller.service-definition';
import { routerService } from '../apps/router/src/router.service-definition';
import { CLI, runCli, startCli } from './support/cli';
import { isolation, producerFor, testKafka } from './support/kafka';
import { freePort } from './support/processes';
import { http } from './support/services';
import { useStack } from './support/stack';
import { waitFor } from './support/wait';

const ADMIN_KEY = 'cli-test-admin-key-0123456789';

/**
 * The built `switchyard` binary as an operator runs it, against a real router, joiner,
 * updater, rollout controller and model-server over the shared Kafka and Redis.
 */
describe('switchyard CLI', () => {
  const ids = isolation('cli');
  const topics = topicNames(ids.topicPrefix);
  const dir = mkdtempSync(join(tmpdir(), 'switchyard-cli-'));
  const { modelServer, router } = useStack({
    ids,
    services: {
      modelServer: modelServerService,
      router: [routerService, { KAFKA_INGRESS: 'false', REFRESH_INTERVAL_MS: '200', ADMIN_API_KEY: ADMIN_KEY }],
      joiner: [feedbackJoinerService, { JOIN_GROUP: `joiner-${ids.groupSuffix}` }],
      updater: [banditUpdaterService, { UPDATE_GROUP: `updater-${ids.groupSuffix}`, SNAPSHOT_INTERVAL_MS: '500' }],
      controller: [rolloutControllerService, { ROLLOUT_INTERVAL_MS: '300' }],
    },
  });
  let cliEnv: Record<string, string>;

  beforeAll(() => {
    cliEnv = { SWITCHYARD_URL: router.url, ADMIN_API_KEY: ADMIN_KEY, TOPIC_PREFIX: ids.topicPrefix, KAFKA_BROKERS: process.env.KAFKA_BROKERS! };
  });

  const cli = (...args: string[]) => runCli(args, cliEnv);
  const json = async (...args: string[]) => {
    const result = await cli(...args, '--output', 'json');
    if (result.code !== 0) throw new Error(`switchyard ${args.join(' ')}: exit ${result.code}: ${result.stderr}`);
    return JSON.parse(result.stdout);
  };

  function file(name: string, text: string): string {
    const path = join(dir, name);
    writeFileSync(path, text);
    return path;
  }

  async function traffic(deployment: string, count: number, seed: number, label = true, stop: () => boolean = () => false): Promise<string[]> {
    const rng = seededRng(seed);
    const ids: string[] = [];
    for (let i = 0; i < count && !stop(); i++) {
      const features = randomFeatures(rng);
      const requestId = `${deployment}-${seed}-${i}`;
      const answer = await http('POST', `${router.url}/v1/deployments/${deployment}/predict`, { requestId, inputs: toInferInputs(features) });
      if (answer.status !== 200) throw new Error(`predict: ${answer.status} ${JSON.stringify(answer.body)}`);
      if (label) {
        const feedback = await http('POST', `${router.url}/v1/feedback`, { requestId, label: groundTruth(features) }, { authorization: `Bearer ${ADMIN_KEY}` });
        if (feedback.status !== 202) throw new Error(`feedback: ${feedback.status} ${JSON.stringify(feedback.body)}`);
      }
      ids.push(requestId);
    }
    return ids;
  }

  const canaryYaml = () => `# a canary, as an operator would write it
variants:
  - name: v1
    url: ${modelServer.url}
    model: churn-v1
    timeoutMs: 10000
  - name: v2
    url: ${modelServer.url}
    model: churn-v2
    timeoutMs: 10000
strategy:
  type: canary
  primary: v1
  canary: v2
  percent: 20
reward:
  type: match
`;

  it('deploys from YAML, lists and gets with --output json, shows the split in status, promotes and rolls back', async () => {
    const deployed = await cli('deploy', 'cli-canary', '-f', file('canary.yaml', canaryYaml()));
    expect(deployed).toMatchObject({ code: 0 });
    expect(deployed.stdout).toContain('deployed cli-canary rev 1');

    const listed = await json('list');
    expect(listed.map((d: { name: string }) => d.name)).toContain('cli-canary');
    const got = await json('get', 'cli-canary');
    expect(got).toMatchObject({ name: 'cli-canary', version: 1, strategy: { type: 'canary', primary: 'v1', canary: 'v2', percent: 20 } });

    await traffic('cli-canary', 60, 1);
    await waitFor(async () => (await json('get', 'cli-canary')).report?.v1?.served?.reward?.count > 0, { what: 'rewards in the report' });
    // The served counts are folded from the prediction topic, so they trail the answers: wait for all
    // 60 before comparing the status table with a later read, or the two see different counts.
    await waitFor(async () => (await json('get', 'cli-canary')).served?.requests === 60, { what: 'all 60 requests counted' });
    const status = await cli('status', 'cli-canary');
    expect(status.code).toBe(0);
    expect(status.stdout).toMatch(/VARIANT\s+ROLE\s+SET\s+SERVED/);
    expect(status.stdout).toMatch(/^v1\s+served\s+80\.0%\s+\d+\.\d%\s+\d+/m);
    expect(status.stdout).toMatch(/^v2\s+served\s+20\.0%/m);
    // The served split is over the current rev: requests per variant under rev 1 over all of them.
    const { served, report } = await json('get', 'cli-canary');
    expect(served.since).toBe('rev 1');
    expect(served.requests).toBe(report.v1.served.requests + (report.v2?.served?.requests ?? 0));
    expect(status.stdout).toContain(`${(served.shares.v1 * 100).toFixed(1)}%`);
    expect(status.stdout).toContain(`served = ${served.requests} requests since rev 1`);

    const promoted = await cli('promote', 'cli-canary', 'v2');
    expect(promoted.code).toBe(0);
    expect((await json('get', 'cli-canary')).strategy).toEqual({ type: 'single', variant: 'v2' });
    const rolledBack = await json('rollback', 'cli-canary');
    expect(rolledBack).toMatchObject({ version: 3, strategy: { type: 'canary', canary: 'v2', percent: 20 } });
    const history = await waitFor(
      async () => {
        const result = await cli('history', 'cli-canary');
        return /rev 3\s+rollback: canary v2 20% over v1/.test(result.stdout) && result.stdout;
      },
      { what: 'the rollback in the history' },
    );
    // The operator's promote and rollback are decisions on the timeline, each beside the change it made.
    expect(history).toMatch(
      /^TIME\s+REV\s+WHAT\n.*rev 1\s+put: canary v2 20% over v1\n.*decision promote \(rev 1 → rev 2\): v2 promoted by an operator\n.*rev 2\s+promote: single v2\n.*decision rollback \(rev 2 → rev 3\): the rev before restored by an operator\n.*rev 3\s+rollback: canary v2 20% over v1$/m,
    );
  });

  it('deletes a deployment', async () => {
    expect((await cli('deploy', 'cli-delete', '-f', file('delete.yaml', canaryYaml()))).code).toBe(0);
    expect((await cli('delete', 'cli-delete')).stdout).toContain('deleted cli-delete');
    expect((await cli('get', 'cli-delete')).code).toBe(1);
    const again = await cli('delete', 'cli-delete');
    expect(again.code).toBe(1);
    expect(again.stderr).toContain('deployment "cli-delete" does not exist');
  });

  it('applies a spec again without a new rev, dry-runs and diffs it, and takes back what get -o yaml prints', async () => {
    const spec = file('gitops.yaml', canaryYaml());
    expect((await cli('deploy', 'cli-gitops', '-f', spec)).stdout).toContain('deployed cli-gitops rev 1: canary v2 20% over v1');
    const again = await cli('deploy', 'cli-gitops', '-f', spec);
    expect(again).toMatchObject({ code: 0 });
    expect(again.stdout).toContain('cli-gitops unchanged at rev 1');
    expect(await json('deploy', 'cli-gitops', '-f', spec)).toMatchObject({ version: 1, result: 'unchanged' });

    // What get -o yaml prints is a spec deploy takes back as it is.
    const printed = await cli('get', 'cli-gitops', '-o', 'yaml');
    expect(printed.code).toBe(0);
    expect(printed.stdout).not.toMatch(/^(name|version|updatedAt|status|report):/m);
    expect((await cli('deploy', 'cli-gitops', '-f', file('printed.yaml', printed.stdout))).stdout).toContain('cli-gitops unchanged at rev 1');

    // A dry run and a diff are checked by the router and write nothing.
    const edited = file('edited.yaml', canaryYaml().replace('percent: 20', 'percent: 30'));
    const diff = await cli('diff', 'cli-gitops', '-f', edited);
    expect(diff).toMatchObject({ code: 0 });
    expect(diff.stdout).toContain('would update cli-gitops from rev 1');
    expect(diff.stdout).toMatch(/^- {3}percent: 20$/m);
    expect(diff.stdout).toMatch(/^\+ {3}percent: 30$/m);
    expect(diff.stdout).toMatch(/^ {2}reward:$/m);
    expect((await cli('deploy', 'cli-gitops', '-f', edited, '--dry-run')).stdout).toContain('would update cli-gitops from rev 1');
    expect(await json('deploy', 'cli-gitops', '-f', edited, '--dry-run')).toMatchObject({ dryRun: true, result: 'written', version: 1 });
    expect((await cli('diff', 'cli-gitops', '-f', spec)).stdout.trim()).toBe('cli-gitops unchanged at rev 1');
    expect((await cli('diff', 'cli-gitops-new', '-f', spec)).stdout).toMatch(/^would create cli-gitops-new at rev 1\n--- \(none\)\n\+\+\+ sent\n\+ variants:/);
    const invalid = await cli('deploy', 'cli-gitops', '-f', file('typo.yaml', canaryYaml().replace('percent: 20', 'percent: 200')), '--dry-run');
    expect(invalid.code).toBe(1);
    expect(invalid.stderr).toContain('percent');
    expect((await json('get', 'cli-gitops')).version).toBe(1);
    expect((await cli('get', 'cli-gitops-new')).code).toBe(1);
  });

  it('refuses a spec whose model its server does not have, naming the variant, unless --force', async () => {
    const spec = file('mistyped.yaml', canaryYaml().replace('model: churn-v2', 'model: churn-v9'));
    for (const dryRun of [[], ['--dry-run']]) {
      const refused = await cli('deploy', 'cli-mistyped', '-f', spec, ...dryRun);
      expect(refused.code).toBe(1);
      expect(refused.stderr).toContain('variant "v2" (model "churn-v9"): its model server has no model "churn-v9"');
    }
    expect((await cli('get', 'cli-mistyped')).code).toBe(1);
    // diff compares only; the models are asked when the spec is deployed.
    expect((await cli('diff', 'cli-mistyped', '-f', spec)).code).toBe(0);
    expect((await cli('deploy', 'cli-mistyped', '-f', spec, '--force')).stdout).toContain('deployed cli-mistyped rev 1');
  });

  it('holds an aborted plan: applying its spec again leaves it ended until retry', async () => {
    const plan = {
      variants: [
        { name: 'v1', url: modelServer.url, model: 'churn-v1' },
        { name: 'v3', url: modelServer.url, model: 'churn-v3' },
      ],
      strategy: { type: 'plan', primary: 'v1', candidate: 'v3', steps: [{ canary: 10 }, { promote: true }] },
    };
    const spec = file('held-plan.json', JSON.stringify(plan));
    expect((await cli('deploy', 'cli-held', '-f', spec)).code).toBe(0);
    expect(await json('plan', 'abort', 'cli-held')).toMatchObject({ version: 2, strategy: { type: 'single', variant: 'v1' } });
    const reapplied = await cli('deploy', 'cli-held', '-f', spec);
    expect(reapplied).toMatchObject({ code: 0 });
    expect(reapplied.stdout).toContain('cli-held held at rev 2 (single v1): this spec is rev 1, which a rollback or an abort ended');
    expect(reapplied.stdout).toContain('switchyard retry cli-held');
    expect(await json('deploy', 'cli-held', '-f', spec, '--dry-run')).toMatchObject({ result: 'held', version: 2 });
    expect(await json('get', 'cli-held')).toMatchObject({ version: 2, strategy: { type: 'single' }, status: { held: 1 } });

    expect((await cli('retry', 'cli-held')).stdout).toContain('retried: cli-held rev 3 is plan v3 over v1, step 1/2');
    expect(await json('get', 'cli-held')).toMatchObject({ version: 3, strategy: { type: 'plan' }, status: {} });
    // Nothing is held any more: a second retry is refused.
    const twice = await cli('retry', 'cli-held');
    expect(twice.code).toBe(1);
    expect(twice.stderr).toContain('no rolled-back or aborted spec to retry');
  });

  it('pauses and resumes a plan, and status shows its step', async () => {
    const plan = {
      variants: [
        { name: 'v1', url: modelServer.url, model: 'churn-v1' },
        { name: 'v3', url: modelServer.url, model: 'churn-v3' },
      ],
      strategy: { type: 'plan', primary: 'v1', candidate: 'v3', steps: [{ shadow: { minSamples: 5000 } }, { canary: 10 }, { promote: true }] },
    };
    expect((await cli('deploy', 'cli-plan', '-f', file('plan.json', JSON.stringify(plan)))).code).toBe(0);
    await waitFor(async () => (await json('get', 'cli-plan')).plan?.since, { what: "the controller's first pass" });
    // Paused and resumed in its rollout status: still rev 1; pausing a paused plan changes nothing.
    expect(await json('plan', 'pause', 'cli-plan')).toMatchObject({ version: 1, strategy: { type: 'plan' }, status: { paused: true } });
    expect(await json('plan', 'pause', 'cli-plan')).toMatchObject({ version: 1, status: { paused: true } });
    // The operator's pause is the last decision at once, and a decision on the timeline.
    expect((await cli('status', 'cli-plan')).stdout).toContain('last decision: pause (rev 1): step 1 of 3: paused by an operator');
    const status = await cli('status', 'cli-plan');
    expect(status.stdout).toContain('plan step 1/3 shadow (paused)');
    expect(status.stdout).toContain('plan v3 over v1, step 1/3 (paused)');
    expect(status.stdout).toContain('status: Paused: step 1 of 3 (shadow) is paused; resume to go on');
    const resumed = await json('plan', 'resume', 'cli-plan');
    expect(resumed).toMatchObject({ version: 1, status: {} });
    expect(resumed.status.paused).toBeUndefined();
    expect((await cli('plan', 'abort', 'cli-plan')).stdout).toContain('single v1');
    const aborted = await cli('status', 'cli-plan');
    expect(aborted.stdout).toContain('status: Degraded: rev 1 was rolled back or aborted');
    expect(aborted.stdout).toContain('last decision: abort (rev 1 → rev 2): step 1 of 3: aborted by an operator');
    const timeline = await waitFor(
      async () => {
        const tailed = await cli('tail', 'decisions', '--deployment', 'cli-plan', '--from-beginning', '-o', 'json');
        const decisions = tailed.stdout
          .trim()
          .split('\n')
          .filter(Boolean)
          .map((line) => JSON.parse(line).value);
        return decisions.length >= 3 && decisions;
      },
      { what: "the operator's decisions on deployment-events" },
    );
    expect(timeline.map((d: { action: string; operator?: boolean }) => [d.action, d.operator])).toEqual([
      ['pause', true],
      ['resume', true],
      ['abort', true],
    ]);
  });

  // Thousands of requests until the rollback: slow on a loaded machine.
  it("tails predictions with --limit and the controller's decisions", async () => {
    const spec = {
      variants: [
        { name: 'good', url: modelServer.url, model: 'churn-perfect' },
        { name: 'bad', url: modelServer.url, model: 'churn-v1' },
      ],
      strategy: { type: 'canary', primary: 'good', canary: 'bad', percent: 50 },
      guardrails: { minSamples: 30, onFail: 'rollback' },
    };
    expect((await cli('deploy', 'cli-guarded', '-f', file('guarded.json', JSON.stringify(spec)))).code).toBe(0);
    await waitFor(async () => (await http('GET', `${router.url}/v1/deployments/cli-guarded`)).body.guardrails?.since, { what: 'the first pass' });
    let decided = false;
    const watch = waitFor(async () => (decided = (await http('GET', `${router.url}/v1/deployments/cli-guarded`)).body.strategy.type === 'single'), {
      timeoutMs: 90000,
      intervalMs: 250,
      what: 'the rollback',
    });
    await Promise.all([watch, traffic('cli-guarded', 3000, 2, true, () => decided)]);

    const predictions = await cli('tail', 'predictions', '--deployment', 'cli-guarded', '--from-beginning', '--limit', '3', '--output', 'json');
    expect(predictions.code).toBe(0);
    const lines = predictions.stdout
      .trim()
      .split('\n')
      .map((line) => JSON.parse(line));
    expect(lines).toHaveLength(3);
    for (const line of lines) expect(line.value).toMatchObject({ type: 'prediction', deployment: 'cli-guarded' });
    const joined = await cli('tail', 'joined', '--deployment', 'cli-guarded', '--from-beginning', '--limit', '2', '--output', 'json');
    expect(joined.code).toBe(0);
    for (const line of joined.stdout.trim().split('\n'))
      expect(JSON.parse(line).value).toMatchObject({ type: 'joined', deployment: 'cli-guarded', reward: expect.any(Number) });

    const decisions = await cli('tail', 'decisions', '--deployment', 'cli-guarded', '--from-beginning', '--limit', '1');
    expect(decisions.code).toBe(0);
    // Fewer decisions than --limit: --from-beginning stops at the end of the topic.
    const all = await cli('tail', 'decisions', '--deployment', 'cli-guarded', '--from-beginning', '--limit', '10');
    expect(all.code).toBe(0);
    expect(all.stdout.trim().split('\n')).toHaveLength(1);
    expect(decisions.stdout).toMatch(/cli-guarded {2}decision rollback \(rev 1 → rev 2\): /);
    // The rolled-back canary's spec applied again is held: no new rev, the controller's rollback stands.
    const rolledBack = (await json('get', 'cli-guarded')).version;
    expect(await json('deploy', 'cli-guarded', '-f', join(dir, 'guarded.json'))).toMatchObject({
      result: 'held',
      version: rolledBack,
      strategy: { type: 'single' },
    });
    const status = await cli('status', 'cli-guarded');
    expect(status.stdout).toMatch(/guardrails: failed/);
    expect(status.stdout).toContain('status: Degraded: rev 1 was rolled back or aborted');
    const waited = await cli('status', 'cli-guarded', '--wait');
    expect(waited.code).toBe(1);
    expect(waited.stderr).toContain('cli-guarded rev 2: Degraded');
    expect(status.stdout).toMatch(/last decision: rollback \(rev 1 → rev 2\)/);

    // Off-policy, from the traffic just logged: `good` (churn-perfect) is right every time, so
    // `single good` would have earned exactly 1 (interval [x, 1]); a variant never served cannot be told (422, exit 1).
    const policy = (variant: string) => JSON.stringify({ type: 'single', variant });
    expect(await json('evaluate', 'cli-guarded', '--policy', policy('good'))).toMatchObject({ method: 'snips', estimate: 1, high: 1 });
    const table = await cli('evaluate', 'cli-guarded', '--policy', policy('good'));
    expect(table.code).toBe(0);
    expect(table.stdout).toMatch(
      /off-policy estimate for cli-guarded \(snips\)\nESTIMATE\s+95% INTERVAL\s+N\s+ESS\s+MEAN WEIGHT\n1\.000\s+\[0\.\d{3}, 1\.000\]/,
    );
    const refused = await cli('evaluate', 'cli-guarded', '--policy', policy('v9'));
    expect(refused.code).toBe(1);
    expect(refused.stderr).toContain('variant "v9" has target probability 1 but was never served');
  }, 300000);

  it('waits with status --wait: 2 on timeout while paused, 0 once the plan promoted', async () => {
    const plan = {
      variants: [
        { name: 'v1', url: modelServer.url, model: 'churn-v1' },
        { name: 'v3', url: modelServer.url, model: 'churn-v3' },
      ],
      strategy: { type: 'plan', primary: 'v1', candidate: 'v3', steps: [{ pause: { seconds: 1 } }, { pause: {} }, { promote: true }] },
    };
    expect((await cli('deploy', 'cli-wait', '-f', file('wait.json', JSON.stringify(plan)))).code).toBe(0);
    await waitFor(async () => (await json('get', 'cli-wait')).health.state === 'Paused', { what: 'the open pause step' });
    expect((await json('list')).find((d: { name: string }) => d.name === 'cli-wait').health).toEqual({
      state: 'Paused',
      reason: 'step 2 of 3 (pause) is paused; resume to go on',
    });
    expect((await cli('list')).stdout).toMatch(/^cli-wait\s+Paused\s+1\s+plan v3 over v1, step 2\/3 \(paused\)/m);
    const timedOut = await cli('status', 'cli-wait', '--wait', '--timeout', '1', '--interval', '200');
    expect(timedOut.code).toBe(2);
    expect(timedOut.stderr).toContain('timed out after 1 s waiting for a decision: cli-wait rev 1: Paused');

    const waiting = runCli(['status', 'cli-wait', '--wait', '--interval', '200'], cliEnv);
    expect((await cli('plan', 'resume', 'cli-wait')).code).toBe(0);
    const promoted = await waiting;
    expect(promoted.code).toBe(0);
    expect(promoted.stdout).toContain('status: Healthy: single on v3');
    expect((await json('get', 'cli-wait')).strategy).toEqual({ type: 'single', variant: 'v3' });
  });

  it('prints records and router text without their control characters', async () => {
    const producer = await producerFor(testKafka());
    const reason = 'evil \x1b[31mred\x1b[0m \x1b]0;title\x07 \u009b2J done';
    await producer.send({
      topic: topics.deploymentEvents,
      messages: [
        { key: 'cli-ansi', value: JSON.stringify({ type: 'decision', deployment: 'cli-ansi', action: 'hold', reason, fromVersion: 1, toVersion: 1 }) },
      ],
    });
    await producer.disconnect();
    const table = await cli('tail', 'decisions', '--deployment', 'cli-ansi', '--from-beginning');
    expect(table.code).toBe(0);
    expect(table.stdout).toContain('decision hold (rev 1): evil red   done');
    // eslint-disable-next-line no-control-regex -- no control character may reach the terminal
    expect(table.stdout).not.toMatch(/[\x1b\x07\x9b]/);
    const lines = await cli('tail', 'decisions', '--deployment', 'cli-ansi', '--from-beginning', '-o', 'json');
    // eslint-disable-next-line no-control-regex -- nor in JSON, where they are escaped
    expect(lines.stdout).not.toMatch(/[\x1b\x07\x9b]/);
    expect(JSON.parse(lines.stdout).value.reason).toBe(reason);
  });

  it('shows the weights a bandit is served by, as the router reports them, as its set split', async () => {
    const spec = {
      variants: [
        { name: 'v1', url: modelServer.url, model: 'churn-v1' },
        { name: 'v3', url: modelServer.url, model: 'churn-v3' },
      ],
      strategy: { type: 'bandit', algorithm: 'thompson' },
    };
    expect((await cli('deploy', 'cli-bandit', '-f', file('bandit.json', JSON.stringify(spec)))).code).toBe(0);
    await traffic('cli-bandit', 40, 4);
    // Weights keep coming while labels join: the status and the GET read just after it must agree.
    const { status, served } = await waitFor(
      async () => {
        const result = await cli('status', 'cli-bandit');
        const body = (await http('GET', `${router.url}/v1/deployments/cli-bandit`)).body;
        return body.weightsAt && result.stdout.includes(`set = the bandit's weights at ${body.weightsAt}`) && { status: result.stdout, served: body };
      },
      { what: 'stored weights in status', timeoutMs: 60000, intervalMs: 500 },
    );
    expect(status).toMatch(new RegExp(`^v1\\s+served\\s+${(served.split.v1 * 100).toFixed(1)}%`, 'm'));
  });

  it('redraws status --watch until interrupted, then exits 0', async () => {
    const child = startCli(['status', 'cli-canary', '--watch', '--interval', '200'], cliEnv);
    let out = '';
    child.stdout!.on('data', (chunk) => (out += chunk));
    const exited = new Promise<number | null>((resolve) => child.once('exit', resolve));
    await waitFor(() => (out.match(/deployment cli-canary/g) ?? []).length >= 3, { what: 'three frames' });
    child.kill('SIGINT');
    expect(await exited).toBe(0);
  });

  it('sends feedback from JSON lines in batches and replays the DLQ', async () => {
    const ids = await traffic('cli-canary', 5, 3, false);
    const labels = file('labels.jsonl', ids.map((requestId) => JSON.stringify({ requestId, label: 1 })).join('\n') + '\n\n');
    const sent = await cli('feedback', '-f', labels);
    expect(sent).toMatchObject({ code: 0 });
    expect(sent.stdout).toContain('accepted 5 feedback records');

    // A record no consumer can read lands in the DLQ; replay puts it back where it came from.
    const producer = await producerFor(testKafka());
    await producer.send({ topic: topics.feedback, messages: [{ key: 'poison', value: 'not json', headers: { origin: 'cli-test' } }] });
    await producer.disconnect();
    const dry = await waitFor(
      async () => {
        const plan = await json('dlq', 'replay', '--dry-run', '--topic-filter', 'feedback');
        return plan.matched >= 1 && plan;
      },
      { what: 'the DLQ record', timeoutMs: 60000, intervalMs: 1000 },
    );
    expect(dry).toMatchObject({ dryRun: true, replayed: 0, records: [{ topic: topics.feedback, key: 'poison' }] });
    const tailed = await cli('tail', 'dlq', '--from-beginning', '--limit', '1', '--output', 'json');
    expect(tailed.code).toBe(0);
    expect(JSON.parse(tailed.stdout).value).toMatchObject({ topic: topics.feedback, key: 'poison', error: expect.stringContaining('not valid JSON') });
    const replayed = await json('dlq', 'replay', '--topic-filter', 'feedback', '--limit', '1');
    expect(replayed).toMatchObject({ matched: 1, replayed: 1 });
    // Still poison: the joiner dead-letters the replayed copy again.
    await waitFor(async () => (await json('dlq', 'replay', '--dry-run')).matched >= 2, {
      what: 'the replayed record back in the DLQ',
      timeoutMs: 60000,
      intervalMs: 1000,
    });
  });

  it('loads neither Kafka, nor the contracts, nor NestJS to start: they come with the commands that need them', async () => {
    const loaded = execFileSync(process.execPath, [
      '-e',
      `require(${JSON.stringify(CLI)}); console.log(JSON.stringify(Object.keys(require.cache).filter((m) => /kafkajs|class-validator|@nestjs/.test(m))))`,
    ]);
    expect(JSON.parse(loaded.toString())).toEqual([]);
    expect((await cli('--help')).stdout).toContain('Exit codes');
  });

  it("exits 1 with the router's message, 2 on bad arguments, 3 when the router is unreachable", async () => {
    const unknown = await cli('get', 'no-such-deployment');
    expect(unknown.code).toBe(1);
    expect(unknown.stderr).toContain('deployment "no-such-deployment" does not exist');

    const noKey = await runCli(['rollback', 'cli-canary'], { ...cliEnv, ADMIN_API_KEY: undefined });
    expect(noKey.code).toBe(1);
    expect(noKey.stderr).toContain('ADMIN_API_KEY');
    // Without the variable, the key comes from .switchyard/admin-key in the working directory.
    const project = mkdtempSync(join(tmpdir(), 'switchyard-project-'));
    mkdirSync(join(project, '.switchyard'));
    writeFileSync(join(project, '.switchyard', 'admin-key'), `${ADMIN_KEY}\n`);
    const fromFile = await runCli(['rollback', 'cli-canary', '--output', 'json'], { ...cliEnv, ADMIN_API_KEY: undefined }, 60000, project);
    expect(fromFile.code).toBe(0);
    expect(JSON.parse(fromFile.stdout).strategy).toEqual({ type: 'single', variant: 'v2' });

    const invalid = await cli('deploy', 'cli-bad', '-f', file('bad.yaml', 'variants: []\nstrategy: {type: single, variant: v1}\n'));
    expect(invalid.code).toBe(1);
    expect(invalid.stderr).toContain('variants must contain at least 1 elements');

    for (const args of [
      ['status'],
      ['tail', 'everything'],
      ['deploy', 'x', '-f', join(dir, 'missing.yaml')],
      ['tail', 'dlq', '--limit', '0'],
      ['evaluate', 'cli-canary', '--policy', 'not json'],
      ['frobnicate'],
    ]) {
      const result = await cli(...args);
      expect({ args, code: result.code }).toEqual({ args, code: 2 });
    }
    expect((await cli('deploy', 'x', '-f', file('broken.yaml', 'variants: [\n'))).stderr).toContain('is not a valid deployment spec');

    const port = await freePort();
    const down = await runCli(['list'], { ...cliEnv, SWITCHYARD_URL: `http://127.0.0.1:${port}` });
    expect(down.code).toBe(3);
    expect(down.stderr).toContain(`router not reachable at http://127.0.0.1:${port}`);
    expect(down.stderr).toContain('npm run up');
  });
});
