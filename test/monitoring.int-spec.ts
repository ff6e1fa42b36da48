import { execFileSync } from 'node:child_process';
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { parse as parseYaml } from 'yaml';
import { ensureDebianPackage } from './support/debian';

const ROOT = join(__dirname, '..');
const DEPLOY = join(ROOT, 'deploy');
const RULES = join(DEPLOY, 'prometheus', 'rules');
const PROMTOOL = '/usr/bin/promtool';

function promtool(args: string[], cwd = ROOT): string {
  try {
    return execFileSync(PROMTOOL, args, { cwd, encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
  } catch (error) {
    const e = error as { stdout?: string; stderr?: string };
    throw new Error(`promtool ${args.join(' ')} failed:\n${e.stdout ?? ''}${e.stderr ?? ''}`);
  }
}

/** Every `switchyard_*` metric the services define (prom-client `name: '…'`), read from the sources. */
function definedMetrics(): Set<string> {
  const names = new Set<string>();
  const walk = (dir: string) => {
    for (const entry of readdirSync(dir)) {
      const path = join(dir, entry);
      if (statSync(path).isDirectory()) walk(path);
      else if (path.endsWith('.ts') && !path.endsWith('.spec.ts'))
        for (const match of readFileSync(path, 'utf8').matchAll(/name: '(switchyard_[a-z0-9_]+)'/g)) names.add(match[1]);
    }
  };
  walk(join(ROOT, 'apps'));
  walk(join(ROOT, 'libs'));
  return names;
}

/**
 * deploy/: Prometheus rules and config checked and unit-tested with promtool (Debian's
 * `prometheus` package, installed here when missing), the Grafana dashboard's queries
 * checked against the metrics the services export, the compose profile wired to them.
 */
describe('monitoring (deploy/)', () => {
  beforeAll(() => ensureDebianPackage(PROMTOOL, 'prometheus'), 15 * 60 * 1000);

  it('has alert rules promtool accepts, and whose unit tests pass', () => {
    expect(promtool(['check', 'rules', 'deploy/prometheus/rules/switchyard.rules.yml'])).toMatch(/SUCCESS: \d+ rules found/);
    const tests = readdirSync(RULES).filter((file) => file.endsWith('.test.yml'));
    expect(tests).toContain('switchyard.checkpoints.test.yml');
    expect(promtool(['test', 'rules', ...tests], RULES)).toContain('SUCCESS');
    expect(promtool(['check', 'config', '--syntax-only', 'deploy/prometheus/prometheus.yml'])).toContain('SUCCESS');
  });

  it('alerts on a failed guardrail, decisions, consumer lag, DLQ growth, pauses (SRM) and checkpoint restores that missed the newest', () => {
    const rules = parseYaml(readFileSync(join(DEPLOY, 'prometheus', 'rules', 'switchyard.rules.yml'), 'utf8'));
    const alerts = Object.fromEntries(
      rules.groups.flatMap((g: { rules: { alert?: string; expr: string }[] }) => g.rules.filter((r) => r.alert).map((r) => [r.alert, r.expr])),
    );
    expect(alerts.SwitchyardGuardrailFailed).toContain('switchyard_rollout_status{status="failed"}) == 1');
    expect(alerts.SwitchyardRolloutRolledBack).toContain('switchyard_rollout_decisions_total{action="rollback"}');
    expect(alerts.SwitchyardDecisionsFlapping).toContain('switchyard:rollout_decisions:rate15m');
    expect(alerts.SwitchyardRolloutPaused).toContain('switchyard_rollout_decisions_total{action="pause"}');
    expect(alerts.SwitchyardConsumerLagHigh).toContain('switchyard:consumer_lag:sum');
    expect(alerts.SwitchyardDlqGrowing).toContain('switchyard:dlq_writes:rate5m');
    expect(alerts.SwitchyardCheckpointRestoreDegraded).toContain('switchyard:checkpoint_restores:increase15m{outcome=~"previous|incomplete"}');
  });

  const ruleGroups = () => parseYaml(readFileSync(join(RULES, 'switchyard.rules.yml'), 'utf8')).groups as { rules: Record<string, any>[] }[];

  it('counts every DLQ write (invalid and poison, every consumer) and uses the usual severities', () => {
    const rules = ruleGroups().flatMap((g) => g.rules);
    expect(rules.find((r) => r.record === 'switchyard:dlq_writes:rate5m')!.expr).toContain('switchyard_consumer_dlq_total[5m]');
    expect(new Set(rules.filter((r) => r.alert).map((r) => r.labels.severity))).toEqual(new Set(['critical', 'warning']));
  });

  it('has a promtool test of each alert firing, then clearing once its condition is fixed', () => {
    const alerts = ruleGroups().flatMap((g) => g.rules.filter((r) => r.alert).map((r) => r.alert as string));
    const evals = readdirSync(RULES)
      .filter((file) => file.endsWith('.test.yml'))
      .flatMap(
        (file) =>
          parseYaml(readFileSync(join(RULES, file), 'utf8')).tests as { alert_rule_test?: { eval_time: string; alertname: string; exp_alerts: unknown[] }[] }[],
      )
      .flatMap((test) => (test.alert_rule_test ?? []).map((check) => ({ ...check, test })));
    const seconds = (time: string) => [...time.matchAll(/(\d+)([hms])/g)].reduce((sum, [, n, unit]) => sum + Number(n) * { h: 3600, m: 60, s: 1 }[unit]!, 0);
    const untested = alerts.filter(
      (alert) =>
        !evals.some(
          (fired) =>
            fired.alertname === alert &&
            fired.exp_alerts.length > 0 &&
            evals.some(
              (cleared) =>
                cleared.test === fired.test &&
                cleared.alertname === alert &&
                !cleared.exp_alerts.length &&
                seconds(cleared.eval_time) > seconds(fired.eval_time),
            ),
        ),
    );
    expect(untested).toEqual([]);
  });

  it('lets Grafana users choose the Prometheus datasource: no panel names a datasource uid', () => {
    const dashboard = JSON.parse(readFileSync(join(DEPLOY, 'grafana', 'dashboards', 'switchyard.json'), 'utf8'));
    expect(dashboard.templating.list[0]).toMatchObject({ name: 'datasource', type: 'datasource', query: 'prometheus' });
    const uids = [...JSON.stringify(dashboard).matchAll(/"uid":\s*"([^"]*)"/g)].map((m) => m[1]).filter((uid) => uid !== dashboard.uid);
    expect(new Set(uids)).toEqual(new Set(['${datasource}']));
    // The gauges of what the product decides on are drawn.
    const exprs = JSON.stringify(dashboard.panels);
    for (const name of ['switchyard_rollout_reward', 'switchyard_rollout_guardrail_low', 'switchyard_router_bandit_weight', 'switchyard_rollout_plan_step'])
      expect(exprs).toContain(name);
  });

  it('has a Grafana dashboard whose queries name only metrics the services export or the rules record', () => {
    const dashboard = JSON.parse(readFileSync(join(DEPLOY, 'grafana', 'dashboards', 'switchyard.json'), 'utf8'));
    const known = definedMetrics();
    const recorded = new Set(
      parseYaml(readFileSync(join(DEPLOY, 'prometheus', 'rules', 'switchyard.rules.yml'), 'utf8')).groups.flatMap((g: { rules: { record?: string }[] }) =>
        g.rules.filter((r) => r.record).map((r) => r.record),
      ),
    );
    const exprs: string[] = dashboard.panels.flatMap((p: { targets: { expr: string }[] }) => p.targets.map((t) => t.expr));
    expect(exprs.length).toBeGreaterThan(10);
    const unknown = exprs.flatMap((expr) =>
      [...expr.matchAll(/\b(switchyard[:_][a-z0-9_:]+)/g)]
        .map((m) => m[1].replace(/_(bucket|sum|count)$/, ''))
        .filter((name) => !known.has(name) && !recorded.has(name)),
    );
    expect(unknown).toEqual([]);
    expect(new Set(dashboard.panels.map((p: { id: number }) => p.id)).size).toBe(dashboard.panels.length);
  });

  it('runs Prometheus and Grafana under the compose profile "monitoring", from the files under deploy/', () => {
    const compose = parseYaml(readFileSync(join(ROOT, 'docker-compose.yml'), 'utf8'));
    for (const name of ['prometheus', 'grafana']) {
      expect(compose.services[name].profiles).toEqual(['monitoring']);
      for (const volume of compose.services[name].volumes as string[]) expect(existsSync(join(ROOT, volume.split(':')[0]))).toBe(true);
    }
    // The other services stay out of the profile: `docker compose up` is unchanged.
    expect(compose.services.router.profiles).toBeUndefined();
  });
});
