import { spawn } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { banditUpdaterService } from '../apps/bandit-updater/src/bandit-updater.service-definition';
import { feedbackJoinerService } from '../apps/feedback-joiner/src/feedback-joiner.service-definition';
import { modelServerService } from '../apps/model-server/src/model-server.service-definition';
import { rolloutControllerService } from '../apps/rollout-controller/src/rollout-controller.service-definition';
import { routerService } from '../apps/router/src/router.service-definition';
import { CLI } from './support/cli';
import { isolation } from './support/kafka';
import { useStack } from './support/stack';

const README = join(__dirname, '..', 'README.md');
const FEEDBACK_KEY = 'readme-feedback-key';

interface Block {
  lang: string;
  text: string;
  /** The prose before the block: a yaml block is written to the file it names. */
  before: string;
}

/** The fenced blocks of the README's quick start section, in order. */
function quickStart(): Block[] {
  const readme = readFileSync(README, 'utf8');
  const start = readme.indexOf('## Quick start');
  const section = readme.slice(start, readme.indexOf('\n## ', start + 1));
  const blocks: Block[] = [];
  let last = 0;
  for (const match of section.matchAll(/^```(\w*)\n([\s\S]*?)^```$/gm)) {
    blocks.push({ lang: match[1], text: match[2], before: section.slice(last, match.index) });
    last = match.index! + match[0].length;
  }
  return blocks;
}

/** Runs a README shell block with bash in `cwd`; its output and exit code. */
function runBlock(script: string, cwd: string, env: NodeJS.ProcessEnv, timeoutMs: number): Promise<{ code: number | null; output: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn('bash', ['-eo', 'pipefail', '-c', script], { cwd, env, stdio: ['ignore', 'pipe', 'pipe'] });
    let output = '';
    child.stdout.on('data', (chunk) => (output += chunk));
    child.stderr.on('data', (chunk) => (output += chunk));
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`README block did not finish in ${timeoutMs} ms:\n${script}\n${output}`));
    }, timeoutMs);
    child.once('exit', (code) => {
      clearTimeout(timer);
      resolve({ code, output });
    });
  });
}

/**
 * The README's quick start, run block by block as a newcomer would paste it, against a
 * stack of every service (what `npm run up` starts). Only the addresses differ: the
 * router's and model server's ports are the test's own, and `npx switchyard` is the built
 * CLI. A README edit that breaks a step fails here.
 */
describe("README quick start: a newcomer's canary reaches a decision", () => {
  const ids = isolation('readme');
  const { router, modelServer } = useStack({
    ids,
    services: {
      modelServer: modelServerService,
      router: [routerService, { KAFKA_INGRESS: 'false', FEEDBACK_API_KEY: FEEDBACK_KEY, REFRESH_INTERVAL_MS: '200' }],
      joiner: [feedbackJoinerService, { JOIN_GROUP: `joiner-${ids.groupSuffix}` }],
      updater: [banditUpdaterService, { UPDATE_GROUP: `updater-${ids.groupSuffix}` }],
      controller: [rolloutControllerService, { ROLLOUT_INTERVAL_MS: '500' }],
    },
  });
  let cwd: string;

  beforeAll(() => {
    cwd = mkdtempSync(join(tmpdir(), 'switchyard-readme-'));
    // What `npm run up` writes on its first run.
    mkdirSync(join(cwd, '.switchyard'));
    writeFileSync(join(cwd, '.switchyard', 'admin-key'), `${process.env.ADMIN_API_KEY!.split(',')[0]}\n`);
    writeFileSync(join(cwd, '.switchyard', 'feedback-key'), `${FEEDBACK_KEY}\n`);
  });
  afterAll(() => rmSync(cwd, { recursive: true, force: true }));

  it(
    'deploys churn.yaml, predicts, labels, and the controller promotes the candidate',
    async () => {
      const blocks = quickStart();
      const { host: routerHost } = new URL(router.url);
      const { host: modelHost } = new URL(modelServer.url);
      /** The README's addresses, each of which must still be there: else the test would run something else. */
      const local = (text: string) => {
        let out = text;
        for (const [from, to] of [
          ['localhost:3000', routerHost],
          ['127.0.0.1:9000', modelHost],
          ['npx switchyard', `node ${CLI}`],
        ]) {
          out = out.replaceAll(from, to);
        }
        return out;
      };
      const all = blocks.map((b) => b.text).join('\n');
      for (const needle of ['localhost:3000', '127.0.0.1:9000', 'npx switchyard']) expect(all).toContain(needle);

      // The CLI finds the admin key in .switchyard/admin-key of the working directory, as after `npm run up`.
      const env: NodeJS.ProcessEnv = { ...process.env, SWITCHYARD_URL: router.url, TOPIC_PREFIX: ids.topicPrefix };
      delete env.ADMIN_API_KEY;
      const outputs: string[] = [];
      for (const block of blocks) {
        if (block.lang === 'yaml') {
          const file = [...block.before.matchAll(/`([\w.-]+\.ya?ml)`/g)].at(-1)?.[1];
          expect(file).toBeDefined();
          writeFileSync(join(cwd, file!), local(block.text));
          continue;
        }
        expect(block.lang).toBe('bash');
        const { code, output } = await runBlock(local(block.text), cwd, env, 10 * 60 * 1000);
        process.stdout.write(`README block exited ${code}:\n${block.text}\n${output.slice(-600)}\n`);
        expect({ block: block.text, code, output: output.slice(-2000) }).toEqual({ block: block.text, code: 0, output: expect.any(String) });
        outputs.push(output);
      }
      // deploy, one prediction, its label, the 1000 and their labels, then the decision.
      expect(outputs).toHaveLength(5);
      expect(outputs[0]).toMatch(/churn/);
      expect(JSON.parse(outputs[1])).toMatchObject({ model_name: 'churn', id: 'req-1', model_version: expect.stringMatching(/^(current|candidate)$/) });
      expect(JSON.parse(outputs[2])).toEqual({ accepted: 1 });
      expect(outputs[3]).toMatch(/^accepted \d+ feedback records$/m);
      expect(outputs[4]).toMatch(/last decision: promote/);
    },
    20 * 60 * 1000,
  );
});
