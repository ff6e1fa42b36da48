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
import { runCli, startCli } from './support/cli';
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
    expect(deployed.stdout).toContain('deployed cli-canary version 1');

    const listed = await json('list');
    expect(listed.map((d: { name: string }) => d.name)).toContain('cli-canary');
    const got = await json('get', 'cli-canary');
    expect(got).toMatchObject({ name: 'cli-canary', version: 1, strategy: { type: 'canary', primary: 'v1', canary: 'v2', percent: 20 } });

    await traffic('cli-canary', 60, 1);
    await waitFor(async () => (await json('get', 'cli-canary')).report?.v1?.served?.reward?.count > 0, { what: 'rewards in the report' });
    const status = await cli('status', 'cli-canary');
    expect(status.code).toBe(0);
    expect(status.stdout).toMatch(/VARIANT\s+ROLE\s+SET\s+SERVED/);
    expect(status.stdout).toMatch(/^v1\s+served\s+80\.0%\s+\d+\.\d%\s+\d+/m);
    expect(status.stdout).toMatch(/^v2\s+served\s+20\.0%/m);
    // The served split is the report's: requests per variant over all served requests.
    const report = (await json('get', 'cli-canary')).report;
    const share = report.v1.served.requests / (report.v1.served.requests + (report.v2?.served?.requests ?? 0));
    expect(status.stdout).toContain(`${(share * 100).toFixed(1)}%`);

    const promoted = await cli('promote', 'cli-canary', 'v2');
    expect(promoted.code).toBe(0);
    expect((await json('get', 'cli-canary')).strategy).toEqual({ type: 'single', variant: 'v2' });
    const rolledBack = await json('rollback', 'cli-canary');
    expect(rolledBack).toMatchObject({ version: 3, strategy: { type: 'canary', canary: 'v2', percent: 20 } });
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
    // Paused and resumed in its rollout status: still version 1.
    expect(await json('plan', 'pause', 'cli-plan')).toMatchObject({ version: 1, strategy: { type: 'plan' }, status: { paused: true } });
    const status = await cli('status', 'cli-plan');
    expect(status.stdout).toContain('plan step 1/3 shadow (paused)');
    expect(status.stdout).toContain('plan v3 over v1, step 1/3 (paused)');
    const resumed = await json('plan', 'resume', 'cli-plan');
    expect(resumed).toMatchObject({ version: 1, status: {} });
    expect(resumed.status.paused).toBeUndefined();
    expect((await cli('plan', 'abort', 'cli-plan')).stdout).toContain('single v1');
  });

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
    expect(decisions.stdout).toMatch(/cli-guarded {2}decision rollback \(v1 → v2\): /);
    const status = await cli('status', 'cli-guarded');
    expect(status.stdout).toMatch(/guardrails: failed/);
    expect(status.stdout).toMatch(/last decision: rollback \(v1 → v2\)/);

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
