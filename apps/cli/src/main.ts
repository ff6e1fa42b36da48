#!/usr/bin/env node
import { Argument, Command, CommanderError, Option } from 'commander';
import { stringify as toYaml } from 'yaml';
import { adminKey, DEFAULT_URL, RouterApi } from './api';
import { CliError, EXIT, usageError } from './errors';
import {
  DeploymentJson,
  deployLine,
  describeStrategy,
  DryRunJson,
  dryRunView,
  EvaluationJson,
  evaluationView,
  HistoryJson,
  historyView,
  jsonText,
  listView,
  printable,
  PutJson,
  statusView,
  tailLine,
} from './format';
import { batches, isoTime, parsePolicy, positiveInt, readJsonLines, readSpecFile, TAIL_TOPICS } from './inputs';

// Kafka (kafkajs) and the contracts (class-validator) are loaded by the commands that use
// them, so that --help and the HTTP commands start without them (docs/benchmarks/cli-startup.md).
const kafkaModule = () => import('./kafka');
const contracts = () => import('@switchyard/contracts');

const EXIT_CODES_HELP = `
Exit codes: 0 done; 1 the router refused (its message is printed); 2 bad arguments or
input file; 3 the router or Kafka could not be reached. status --wait: 0 Healthy,
1 Degraded, 2 timed out.

Environment: SWITCHYARD_URL (router, default ${DEFAULT_URL}), ADMIN_API_KEY (else the file
.switchyard/admin-key), KAFKA_BROKERS (tail, dlq; default 127.0.0.1:9092), TOPIC_PREFIX
(tail, dlq; default the services' own).

Everything printed that came from the router or a Kafka record has its control
characters (terminal escapes) removed, or escaped in JSON.`;

type Output = 'table' | 'json' | 'yaml';

function print(text: string): void {
  const clean = printable(text);
  process.stdout.write(clean.endsWith('\n') ? clean : `${clean}\n`);
}

function printJson(value: unknown, indent = 2): void {
  process.stdout.write(`${jsonText(value, indent)}\n`);
}

const examples = (...lines: string[]) => `\nExample${lines.length > 1 ? 's' : ''}:\n${lines.map((line) => `  ${line}`).join('\n')}`;
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

export function buildProgram(): Command {
  const program = new Command('switchyard')
    .description("Operate Switchyard deployments through the router's HTTP API (and Kafka, for tail and dlq).")
    .version('0.1.0')
    .addOption(new Option('--url <url>', 'router URL').env('SWITCHYARD_URL').default(DEFAULT_URL))
    .addOption(
      new Option('-o, --output <format>', 'table for people, json or yaml for scripts (get -o yaml: the spec alone, for deploy -f)')
        .choices(['table', 'json', 'yaml'])
        .default('table'),
    )
    .showHelpAfterError('(add --help for usage)')
    .addHelpText('after', EXIT_CODES_HELP)
    .exitOverride()
    .configureOutput({ outputError: (message, write) => write(message) });

  const globals = (command: Command) => command.optsWithGlobals() as { url: string; output: Output };
  const api = (command: Command) => new RouterApi(globals(command).url, adminKey());
  const path = (name: string, rest = '') => `/v1/deployments/${encodeURIComponent(name)}${rest}`;
  /** `-o json` and `-o yaml`: the router's answer as it is; false for a table, which the command prints. */
  const printedData = (command: Command, value: unknown): boolean => {
    const output = globals(command).output;
    if (output === 'json') printJson(value);
    else if (output === 'yaml') print(toYaml(value));
    return output !== 'table';
  };
  const kafkaOptions = (command: Command) =>
    command
      .addOption(new Option('--brokers <list>', 'Kafka bootstrap servers').env('KAFKA_BROKERS').default('127.0.0.1:9092'))
      .addOption(new Option('--topic-prefix <prefix>', "topic name prefix (default: the services' own)").env('TOPIC_PREFIX'));
  const topics = async (prefix?: string) => {
    const { DEFAULT_TOPIC_PREFIX, topicNames } = await contracts();
    return topicNames(prefix ?? DEFAULT_TOPIC_PREFIX);
  };

  program
    .command('deploy')
    .description(
      'create or update a deployment from a JSON or YAML spec: a new rev, unless the spec equals the one in force (unchanged) or one a rollback or abort ended (held until `retry`)',
    )
    .argument('<name>', 'deployment name')
    .requiredOption('-f, --file <spec>', 'spec file (.json, .yaml or .yml)')
    .option('--dry-run', 'have the router check the spec and show what would change, writing nothing')
    .option('--force', "apply it without the router asking each variant's model whether it is ready")
    .addHelpText('after', examples('switchyard deploy churn -f churn.yaml', 'switchyard deploy churn -f churn.yaml --dry-run'))
    .action(async (name: string, options: { file: string; dryRun?: boolean; force?: boolean }, command: Command) => {
      const spec = readSpecFile(options.file);
      if (options.dryRun) return dryRun(command, name, spec, options.force);
      const stored = await api(command).request<PutJson>('PUT', path(name, options.force ? '?force=true' : ''), spec);
      if (!printedData(command, stored)) print(deployLine(stored));
    });

  const dryRun = async (command: Command, name: string, spec: unknown, force = false) => {
    const answer = await api(command).request<DryRunJson>('PUT', path(name, `?dryRun=true${force ? '&force=true' : ''}`), spec);
    if (!printedData(command, answer)) print(dryRunView(name, answer, toYaml));
  };

  program
    .command('diff')
    .description('the spec in force against a spec file, as the router would store it (a dry-run deploy: nothing written)')
    .argument('<name>', 'deployment name')
    .requiredOption('-f, --file <spec>', 'spec file (.json, .yaml or .yml)')
    .addHelpText('after', examples('switchyard diff churn -f churn.yaml'))
    // A comparison: the models are asked when the spec is deployed.
    .action((name: string, options: { file: string }, command: Command) => dryRun(command, name, readSpecFile(options.file), true));

  program
    .command('list')
    .description('every deployment: its STATUS (Healthy, Progressing, Paused, Degraded), rev and strategy')
    .addHelpText('after', examples('switchyard list', 'switchyard list -o json | jq -r \'.[] | select(.health.state == "Degraded") | .name\''))
    .action(async (_options, command: Command) => {
      const { deployments } = await api(command).request<{ deployments: DeploymentJson[] }>('GET', '/v1/deployments');
      if (!printedData(command, deployments)) print(listView(deployments));
    });

  program
    .command('get')
    .description('a deployment: spec, report, guardrails or plan block; with -o yaml only its spec, which `deploy -f` takes back unchanged')
    .argument('<name>')
    .addHelpText('after', examples('switchyard get churn', 'switchyard get churn -o yaml > churn.yaml   # then: switchyard deploy churn -f churn.yaml'))
    .action(async (name: string, _options, command: Command) => {
      const output = globals(command).output;
      if (output === 'yaml') return print(toYaml(await api(command).request('GET', path(name, '/spec'))));
      const deployment = await api(command).request('GET', path(name));
      if (output === 'json') return printJson(deployment);
      print(toYaml(deployment));
    });

  program
    .command('status')
    .description('STATUS, set vs served split, reward per variant with its interval, guardrail or plan state, last decision')
    .argument('<name>')
    .option('-w, --watch', 'redraw every second until Ctrl-C')
    .option('--wait', 'poll until the rollout is decided: exit 0 once Healthy (promoted, passed), 1 once Degraded (rolled back, failed), 2 on --timeout')
    .option('--timeout <seconds>', 'give up --wait after this long', positiveInt('--timeout'), 600)
    .option('--interval <ms>', 'redraw (--watch) or poll (--wait) interval', positiveInt('--interval'), 1000)
    .addHelpText(
      'after',
      examples(
        'switchyard status churn',
        'switchyard status churn --watch',
        'switchyard deploy churn -f churn.yaml && switchyard status churn --wait --timeout 1800',
      ),
    )
    .action(async (name: string, options: { watch?: boolean; wait?: boolean; timeout: number; interval: number }, command: Command) => {
      if (options.watch && options.wait) throw usageError('--watch and --wait do not go together');
      const router = api(command);
      const read = () => router.request<DeploymentJson>('GET', path(name));
      if (options.wait) return waitForDecision(command, name, read, options.timeout, options.interval);
      const json = globals(command).output !== 'table';
      const draw = async () => {
        const deployment = await read();
        if (json) return printJson(deployment, 0);
        const screen = printable(statusView(deployment));
        // Home and clear below, rather than clearing first: no flicker between frames.
        if (options.watch && process.stdout.isTTY) process.stdout.write(`\x1b[H${screen.replace(/\n/g, '\x1b[K\n')}\x1b[J\n`);
        else print(screen);
      };
      if (!options.watch) return draw();
      if (!json && process.stdout.isTTY) process.stdout.write('\x1b[2J');
      let stopped = false;
      const stop = () => (stopped = true);
      process.once('SIGINT', stop);
      process.once('SIGTERM', stop);
      while (!stopped) {
        await draw();
        if (!json && !process.stdout.isTTY) print('');
        const until = Date.now() + options.interval;
        while (!stopped && Date.now() < until) await sleep(50);
      }
    });

  /** `status --wait`: each change of state on stderr (a CI log), the final screen on stdout, the verdict as the exit code. */
  const waitForDecision = async (command: Command, name: string, read: () => Promise<DeploymentJson>, timeoutS: number, intervalMs: number) => {
    const deadline = Date.now() + timeoutS * 1000;
    let shown = '';
    for (;;) {
      const deployment = await read();
      const health = deployment.health ?? { state: 'Progressing', reason: 'the router reports no health' };
      const line = `${name} rev ${deployment.version}: ${health.state}: ${health.reason}`;
      if (line !== shown) process.stderr.write(`${printable(line)}\n`);
      shown = line;
      if (health.state === 'Healthy' || health.state === 'Degraded') {
        if (!printedData(command, deployment)) print(statusView(deployment));
        if (health.state === 'Degraded') throw new CliError(line, EXIT.api);
        return;
      }
      if (Date.now() >= deadline) throw new CliError(`timed out after ${timeoutS} s waiting for a decision: ${line}`, EXIT.usage);
      await sleep(Math.min(intervalMs, Math.max(0, deadline - Date.now())));
    }
  };

  program
    .command('history')
    .description("the spec changes and the decisions taken (the controller's and operators'), oldest first, from deployment-events")
    .argument('<name>')
    .addHelpText('after', examples('switchyard history churn'))
    .action(async (name: string, _options, command: Command) => {
      const history = await api(command).request<HistoryJson>('GET', path(name, '/history'));
      if (!printedData(command, history)) print(historyView(name, history));
    });

  program
    .command('promote')
    .description('make the deployment single on VARIANT')
    .argument('<name>')
    .argument('<variant>')
    .addHelpText('after', examples('switchyard promote churn v2'))
    .action(async (name: string, variant: string, _options, command: Command) => {
      const spec = await api(command).request<DeploymentJson>('POST', path(name, '/promote'), { variant });
      if (!printedData(command, spec)) print(`promoted ${variant}: ${spec.name} rev ${spec.version} is ${describeStrategy(spec.strategy, spec.status)}`);
    });

  program
    .command('rollback')
    .description('restore the spec in force before the current one, as a new rev (the one replaced is held: see retry)')
    .argument('<name>')
    .addHelpText('after', examples('switchyard rollback churn'))
    .action(async (name: string, _options, command: Command) => {
      const spec = await api(command).request<DeploymentJson>('POST', path(name, '/rollback'));
      if (!printedData(command, spec)) print(`rolled back: ${spec.name} rev ${spec.version} is ${describeStrategy(spec.strategy, spec.status)}`);
    });

  program
    .command('retry')
    .description('start again the spec a rollback or abort ended (re-applying it with deploy leaves it held), as a new rev')
    .argument('<name>')
    .addHelpText('after', examples('switchyard retry churn'))
    .action(async (name: string, _options, command: Command) => {
      const spec = await api(command).request<DeploymentJson>('POST', path(name, '/retry'));
      if (!printedData(command, spec)) print(`retried: ${spec.name} rev ${spec.version} is ${describeStrategy(spec.strategy, spec.status)}`);
    });

  program
    .command('delete')
    .description('delete a deployment with its report, statistics and rollout state (its history stays on Kafka)')
    .argument('<name>')
    .addHelpText('after', examples('switchyard delete churn'))
    .action(async (name: string, _options, command: Command) => {
      await api(command).request('DELETE', path(name));
      if (!printedData(command, { deleted: name })) print(`deleted ${name}`);
    });

  const plan = program.command('plan').description("an operator's hand on a plan").addHelpText('after', examples('switchyard plan pause churn'));
  for (const [action, what] of [
    ['pause', 'stop judging; the current step keeps serving (pausing a paused plan changes nothing)'],
    ['resume', 'go on from the current step'],
    ['abort', 'end the plan: single on the primary (the plan is held: see retry)'],
  ] as const) {
    plan
      .command(action)
      .description(what)
      .argument('<name>')
      .addHelpText('after', examples(`switchyard plan ${action} churn`))
      .action(async (name: string, _options, command: Command) => {
        const spec = await api(command).request<DeploymentJson>('POST', path(name, `/plan/${action}`));
        if (!printedData(command, spec)) print(`plan ${action}: ${spec.name} rev ${spec.version} is ${describeStrategy(spec.strategy, spec.status)}`);
      });
  }

  program
    .command('feedback')
    .description('send ground truth from a JSON-lines file ({requestId, deployment?, label?, reward?} per line), in batches the router takes')
    .requiredOption('-f, --file <labels.jsonl>', 'JSON lines')
    .addHelpText('after', examples('switchyard feedback -f labels.jsonl'))
    .action(async (options: { file: string }, command: Command) => {
      const records = readJsonLines(options.file);
      const router = api(command);
      const { MAX_FEEDBACK_BATCH } = await contracts();
      let accepted = 0;
      for (const batch of batches(records, MAX_FEEDBACK_BATCH)) {
        try {
          accepted += (await router.request<{ accepted: number }>('POST', '/v1/feedback', batch)).accepted;
        } catch (error) {
          if (error instanceof CliError && accepted) error.message += ` (the first ${accepted} records were accepted; resend from record ${accepted + 1})`;
          throw error;
        }
      }
      if (!printedData(command, { accepted })) print(`accepted ${accepted} feedback records`);
    });

  kafkaOptions(
    program
      .command('tail')
      .description('print a topic\'s records: predictions, joined, dlq or decisions (deployment-events of type "decision")')
      .addArgument(new Argument('<topic>', 'what to print').choices([...TAIL_TOPICS]))
      .option('--deployment <name>', "only this deployment's records")
      .option('--from-beginning', 'from the oldest record to the end of the topic as it is now, then stop (add --follow to go on)')
      .option('-f, --follow', 'with --from-beginning: keep printing new records after the end (without it, tail always follows)')
      .option('--limit <n>', 'stop after n records', positiveInt('--limit'))
      .addHelpText('after', examples('switchyard tail decisions --deployment churn --from-beginning', 'switchyard tail predictions --limit 10 -o json')),
  ).action(
    async (
      what: string,
      options: { deployment?: string; fromBeginning?: boolean; follow?: boolean; limit?: number; brokers: string; topicPrefix?: string },
      command: Command,
    ) => {
      const { tail, tailSource, withKafka } = await kafkaModule();
      const { topic, keep } = tailSource(what, await topics(options.topicPrefix), options.deployment);
      const json = globals(command).output !== 'table';
      await withKafka(options.brokers, (kafka) =>
        tail(kafka, topic, keep, {
          fromBeginning: !!options.fromBeginning,
          untilEnd: !!options.fromBeginning && !options.follow,
          limit: options.limit,
          onMessage: (m) =>
            json
              ? printJson({ topic: m.topic, partition: m.partition, offset: m.offset, key: m.key, timestamp: m.timestamp, value: m.value }, 0)
              : print(tailLine(m.topic, m.key, m.value, m.timestamp)),
        }),
      );
    },
  );

  program
    .command('evaluate')
    .description('off-policy estimate of the mean reward POLICY would have earned on the logged traffic')
    .argument('<name>')
    .requiredOption('--policy <json|@file>', 'a strategy, e.g. \'{"type":"single","variant":"v2"}\', or @policy.json')
    .option('--since <time>', 'only traffic from this ISO-8601 time', isoTime('--since'))
    .option('--until <time>', 'only traffic before this ISO-8601 time', isoTime('--until'))
    .addHelpText('after', examples('switchyard evaluate churn --policy \'{"type":"single","variant":"v2"}\' --since 2026-11-24T00:00:00Z'))
    .action(async (name: string, options: { policy: string; since?: string; until?: string }, command: Command) => {
      const body = { policy: parsePolicy(options.policy), ...(options.since && { since: options.since }), ...(options.until && { until: options.until }) };
      const estimate = await api(command).request<EvaluationJson>('POST', path(name, '/evaluate'), body);
      if (!printedData(command, estimate)) print(evaluationView(name, estimate));
    });

  const dlq = program.command('dlq').description('the dead-letter topic').addHelpText('after', examples('switchyard dlq replay --dry-run'));
  kafkaOptions(
    dlq
      .command('replay')
      .description("re-publish DLQ records' original key, value and headers to the topic they came from")
      .option('--topic-filter <text>', 'only records whose source topic contains this')
      .option('--dry-run', 'list what would be replayed, publish nothing')
      .option('--limit <n>', 'replay at most n records (oldest first)', positiveInt('--limit'))
      .addHelpText('after', examples('switchyard dlq replay --topic-filter feedback --dry-run', 'switchyard dlq replay --topic-filter feedback --limit 100')),
  ).action(async (options: { topicFilter?: string; dryRun?: boolean; limit?: number; brokers: string; topicPrefix?: string }, command: Command) => {
    const { dlqToReplay, replay, withKafka } = await kafkaModule();
    const dlqTopic = (await topics(options.topicPrefix)).dlq;
    const { todo, skipped, replayed } = await withKafka(options.brokers, async (kafka) => {
      const { plan, skipped } = await dlqToReplay(kafka, dlqTopic, options.topicFilter, options.limit);
      return { todo: plan, skipped, replayed: options.dryRun ? 0 : await replay(kafka, plan) };
    });
    const summary = {
      matched: todo.length,
      replayed,
      dryRun: !!options.dryRun,
      skipped,
      records: todo.map(({ record, offset }) => ({ dlqOffset: offset, topic: record.topic, key: record.key, error: record.error })),
    };
    if (printedData(command, summary)) return;
    for (const r of summary.records)
      print(`${options.dryRun ? 'would replay' : 'replayed'} ${r.dlqOffset} → ${r.topic} key ${r.key ?? '(none)'}  (${r.error})`);
    print(
      `${options.dryRun ? 'dry run: ' : ''}${todo.length} matched, ${replayed} replayed${skipped ? `, ${skipped} DLQ records skipped (unreadable, or their value cut)` : ''}`,
    );
  });

  return program;
}

export async function run(argv: string[]): Promise<number> {
  const program = buildProgram();
  try {
    await program.parseAsync(argv);
    return EXIT.ok;
  } catch (error) {
    if (error instanceof CommanderError) {
      // --help and --version end here too, with exit code 0.
      return error.exitCode === 0 ? EXIT.ok : EXIT.usage;
    }
    if (error instanceof CliError) {
      process.stderr.write(`switchyard: ${printable(error.message)}\n`);
      return error.exitCode;
    }
    process.stderr.write(`switchyard: unexpected error: ${printable((error as Error).stack ?? String(error))}\n`);
    return EXIT.api;
  }
}

if (require.main === module) {
  // `switchyard list | head`: a closed pipe ends the command quietly.
  process.stdout.on('error', (error: NodeJS.ErrnoException) => {
    if (error.code === 'EPIPE') process.exit(EXIT.ok);
    throw error;
  });
  void run(process.argv).then((code) => {
    process.exitCode = code;
  });
}
