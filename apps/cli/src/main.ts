#!/usr/bin/env node
import { Argument, Command, CommanderError, Option } from 'commander';
import { DEFAULT_TOPIC_PREFIX, MAX_FEEDBACK_BATCH, topicNames } from '@switchyard/contracts';
import { stringify as toYaml } from 'yaml';
import { adminKey, DEFAULT_URL, RouterApi } from './api';
import { CliError, EXIT } from './errors';
import { DeploymentJson, describeStrategy, EvaluationJson, evaluationView, latestWeights, listView, statusView, tailLine } from './format';
import { batches, isoTime, parsePolicy, positiveInt, readJsonLines, readSpecFile } from './inputs';
import { dlqToReplay, replay, TAIL_TOPICS, tail, tailSource, withKafka } from './kafka';

const EXIT_CODES_HELP = `
Exit codes: 0 done; 1 the router refused (its message is printed); 2 bad arguments or
input file; 3 the router or Kafka could not be reached.

Environment: SWITCHYARD_URL (router, default ${DEFAULT_URL}), ADMIN_API_KEY (else the file
.switchyard/admin-key), KAFKA_BROKERS (tail, dlq; default 127.0.0.1:9092), TOPIC_PREFIX
(default ${DEFAULT_TOPIC_PREFIX}).`;

type Output = 'table' | 'json';

function print(text: string): void {
  process.stdout.write(text.endsWith('\n') ? text : `${text}\n`);
}

function printJson(value: unknown): void {
  print(JSON.stringify(value, null, 2));
}

export function buildProgram(): Command {
  const program = new Command('switchyard')
    .description("Operate Switchyard deployments through the router's HTTP API (and Kafka, for tail and dlq).")
    .version('0.1.0')
    .addOption(new Option('--url <url>', 'router URL').env('SWITCHYARD_URL').default(DEFAULT_URL))
    .addOption(new Option('-o, --output <format>', 'table for people, json for scripts').choices(['table', 'json']).default('table'))
    .showHelpAfterError('(add --help for usage)')
    .addHelpText('after', EXIT_CODES_HELP)
    .exitOverride()
    .configureOutput({ outputError: (message, write) => write(message) });

  const globals = (command: Command) => command.optsWithGlobals() as { url: string; output: Output; brokers: string; topicPrefix: string };
  const api = (command: Command) => new RouterApi(globals(command).url, adminKey());
  const kafkaOptions = (command: Command) =>
    command
      .addOption(new Option('--brokers <list>', 'Kafka bootstrap servers').env('KAFKA_BROKERS').default('127.0.0.1:9092'))
      .addOption(new Option('--topic-prefix <prefix>', 'topic name prefix').env('TOPIC_PREFIX').default(DEFAULT_TOPIC_PREFIX));

  program
    .command('deploy')
    .description('create or update a deployment from a JSON or YAML spec')
    .argument('<name>', 'deployment name')
    .requiredOption('-f, --file <spec>', 'spec file (.json, .yaml or .yml)')
    .action(async (name: string, options: { file: string }, command: Command) => {
      const spec = readSpecFile(options.file);
      const stored = await api(command).request<DeploymentJson>('PUT', `/v1/deployments/${encodeURIComponent(name)}`, spec);
      if (globals(command).output === 'json') return printJson(stored);
      print(`deployed ${stored.name} version ${stored.version}: ${describeStrategy(stored.strategy)}`);
    });

  program
    .command('list')
    .description('every deployment, with its version and strategy')
    .action(async (_options, command: Command) => {
      const { deployments } = await api(command).request<{ deployments: DeploymentJson[] }>('GET', '/v1/deployments');
      if (globals(command).output === 'json') return printJson(deployments);
      print(listView(deployments));
    });

  program
    .command('get')
    .description('a deployment: spec, report, guardrails or plan block')
    .argument('<name>')
    .action(async (name: string, _options, command: Command) => {
      const deployment = await api(command).request('GET', `/v1/deployments/${encodeURIComponent(name)}`);
      if (globals(command).output === 'json') return printJson(deployment);
      print(toYaml(deployment));
    });

  program
    .command('status')
    .description('set vs served split, reward per variant with its interval, guardrail or plan state, last decision')
    .argument('<name>')
    .option('-w, --watch', 'redraw every second until Ctrl-C')
    .option('--interval <ms>', 'redraw interval with --watch', positiveInt('--interval'), 1000)
    .action(async (name: string, options: { watch?: boolean; interval: number }, command: Command) => {
      const router = api(command);
      const json = globals(command).output === 'json';
      const draw = async () => {
        const deployment = await router.request<DeploymentJson>('GET', `/v1/deployments/${encodeURIComponent(name)}`);
        if (json) return print(JSON.stringify(deployment));
        // A bandit's set split moves: its latest weight snapshot, from the history (best effort).
        const bandit = (deployment.plan?.serving ?? deployment.strategy).type === 'bandit';
        const history = bandit
          ? await router.request<Parameters<typeof latestWeights>[0]>('GET', `/v1/deployments/${encodeURIComponent(name)}/history`).catch(() => undefined)
          : undefined;
        const screen = statusView(deployment, new Date(), latestWeights(history, deployment.version));
        // Home and clear below, rather than clearing first: no flicker between frames.
        print(options.watch && process.stdout.isTTY ? `\x1b[H${screen.replace(/\n/g, '\x1b[K\n')}\x1b[J` : screen);
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
        while (!stopped && Date.now() < until) await new Promise((resolve) => setTimeout(resolve, 50));
      }
    });

  program
    .command('promote')
    .description('make the deployment single on VARIANT')
    .argument('<name>')
    .argument('<variant>')
    .action(async (name: string, variant: string, _options, command: Command) => {
      const spec = await api(command).request<DeploymentJson>('POST', `/v1/deployments/${encodeURIComponent(name)}/promote`, { variant });
      if (globals(command).output === 'json') return printJson(spec);
      print(`promoted ${variant}: ${spec.name} version ${spec.version} is ${describeStrategy(spec.strategy)}`);
    });

  program
    .command('rollback')
    .description('restore the spec in force before the current one, as a new version')
    .argument('<name>')
    .action(async (name: string, _options, command: Command) => {
      const spec = await api(command).request<DeploymentJson>('POST', `/v1/deployments/${encodeURIComponent(name)}/rollback`);
      if (globals(command).output === 'json') return printJson(spec);
      print(`rolled back: ${spec.name} version ${spec.version} is ${describeStrategy(spec.strategy)}`);
    });

  const plan = program.command('plan').description("an operator's hand on a plan");
  for (const [action, what] of [
    ['pause', 'stop judging; the current step keeps serving'],
    ['resume', 'go on from the current step'],
    ['abort', 'end the plan: single on the primary'],
  ] as const) {
    plan
      .command(action)
      .description(what)
      .argument('<name>')
      .action(async (name: string, _options, command: Command) => {
        const spec = await api(command).request<DeploymentJson>('POST', `/v1/deployments/${encodeURIComponent(name)}/plan/${action}`);
        if (globals(command).output === 'json') return printJson(spec);
        print(`plan ${action}: ${spec.name} version ${spec.version} is ${describeStrategy(spec.strategy)}`);
      });
  }

  program
    .command('feedback')
    .description(`send ground truth from a JSON-lines file ({requestId, deployment?, label?, reward?} per line), in batches of ${MAX_FEEDBACK_BATCH}`)
    .requiredOption('-f, --file <labels.jsonl>', 'JSON lines')
    .action(async (options: { file: string }, command: Command) => {
      const records = readJsonLines(options.file);
      const router = api(command);
      let accepted = 0;
      for (const batch of batches(records, MAX_FEEDBACK_BATCH)) {
        try {
          accepted += (await router.request<{ accepted: number }>('POST', '/v1/feedback', batch)).accepted;
        } catch (error) {
          if (error instanceof CliError && accepted) error.message += ` (the first ${accepted} records were accepted; resend from record ${accepted + 1})`;
          throw error;
        }
      }
      if (globals(command).output === 'json') return printJson({ accepted });
      print(`accepted ${accepted} feedback records`);
    });

  kafkaOptions(
    program
      .command('tail')
      .description('follow a topic: predictions, joined, dlq or decisions (deployment-events of type "decision")')
      .addArgument(new Argument('<topic>', 'what to follow').choices([...TAIL_TOPICS]))
      .option('--deployment <name>', "only this deployment's records")
      .option('--from-beginning', 'start at the oldest record instead of now')
      .option('--limit <n>', 'stop after n records', positiveInt('--limit')),
  ).action(
    async (what: string, options: { deployment?: string; fromBeginning?: boolean; limit?: number; brokers: string; topicPrefix: string }, command: Command) => {
      const { topic, keep } = tailSource(what, topicNames(options.topicPrefix), options.deployment);
      const json = globals(command).output === 'json';
      await withKafka(options.brokers, (kafka) =>
        tail(kafka, topic, keep, {
          fromBeginning: !!options.fromBeginning,
          limit: options.limit,
          onMessage: (m) =>
            print(
              json
                ? JSON.stringify({ topic: m.topic, partition: m.partition, offset: m.offset, key: m.key, timestamp: m.timestamp, value: m.value })
                : tailLine(m.topic, m.key, m.value, m.timestamp),
            ),
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
    .action(async (name: string, options: { policy: string; since?: string; until?: string }, command: Command) => {
      const body = { policy: parsePolicy(options.policy), ...(options.since && { since: options.since }), ...(options.until && { until: options.until }) };
      const estimate = await api(command).request<EvaluationJson>('POST', `/v1/deployments/${encodeURIComponent(name)}/evaluate`, body);
      if (globals(command).output === 'json') return printJson(estimate);
      print(evaluationView(name, estimate));
    });

  const dlq = program.command('dlq').description('the dead-letter topic');
  kafkaOptions(
    dlq
      .command('replay')
      .description("re-publish DLQ records' original key, value and headers to the topic they came from")
      .option('--topic-filter <text>', 'only records whose source topic contains this')
      .option('--dry-run', 'list what would be replayed, publish nothing')
      .option('--limit <n>', 'replay at most n records (oldest first)', positiveInt('--limit')),
  ).action(async (options: { topicFilter?: string; dryRun?: boolean; limit?: number; brokers: string; topicPrefix: string }, command: Command) => {
    const { todo, skipped, replayed } = await withKafka(options.brokers, async (kafka) => {
      const { plan, skipped } = await dlqToReplay(kafka, topicNames(options.topicPrefix).dlq, options.topicFilter, options.limit);
      return { todo: plan, skipped, replayed: options.dryRun ? 0 : await replay(kafka, plan) };
    });
    const summary = {
      matched: todo.length,
      replayed,
      dryRun: !!options.dryRun,
      skipped,
      records: todo.map(({ record, offset }) => ({ dlqOffset: offset, topic: record.topic, key: record.key, error: record.error })),
    };
    if (globals(command).output === 'json') return printJson(summary);
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
      process.stderr.write(`switchyard: ${error.message}\n`);
      return error.exitCode;
    }
    process.stderr.write(`switchyard: unexpected error: ${(error as Error).stack ?? String(error)}\n`);
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
