import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { ClassConstructor } from 'class-transformer';
import { getMetadataStorage } from 'class-validator';
import Ajv, { AnySchema } from 'ajv';
import { parse as parseYaml, parseAllDocuments } from 'yaml';
import { FLAGGER_HOOKS, TopicKey, topicNames, VariantSpec } from '@switchyard/contracts';
import { VERDICT_DECISIONS } from '@switchyard/strategies';
import { envHelp } from '@switchyard/runtime';
import * as kedaV1alpha1 from '@kubernetes-models/keda/keda.sh/v1alpha1';
import * as monitoringV1 from '@kubernetes-models/prometheus-operator/monitoring.coreos.com/v1';
import * as appsV1 from 'kubernetes-models/apps/v1';
import * as autoscalingV2 from 'kubernetes-models/autoscaling/v2';
import * as networkingV1 from 'kubernetes-models/networking.k8s.io/v1';
import * as policyV1 from 'kubernetes-models/policy/v1';
import * as coreV1 from 'kubernetes-models/v1';
import { SERVICES } from '../tools/config-docs';
import { ensureDebianPackage } from './support/debian';

const ROOT = join(__dirname, '..');
const K8S = join(ROOT, 'deploy', 'k8s');
const KUBECTL = '/usr/bin/kubectl';

// Kubernetes objects are open-ended JSON; the checks below read them by path.
type K8sObject = { apiVersion: string; kind: string; metadata: { name: string; namespace?: string; labels?: Record<string, string> }; [field: string]: any };

/** The schema models (the `@kubernetes-models/*` packages) of every apiVersion the manifests use. */
const MODELS: Record<string, Record<string, unknown>> = {
  v1: coreV1,
  'apps/v1': appsV1,
  'autoscaling/v2': autoscalingV2,
  'policy/v1': policyV1,
  'networking.k8s.io/v1': networkingV1,
  'keda.sh/v1alpha1': kedaV1alpha1,
  'monitoring.coreos.com/v1': monitoringV1,
};

/** The consumers KEDA scales: the variable naming their group, and the topic they are scaled on (none: all the group's). */
const LAG_SCALED: { service: string; groupVariable: string; topic?: TopicKey }[] = [
  { service: 'shadow-worker', groupVariable: 'SHADOW_GROUP', topic: 'shadowRequests' },
  { service: 'feedback-joiner', groupVariable: 'JOIN_GROUP' },
  { service: 'bandit-updater', groupVariable: 'UPDATE_GROUP', topic: 'joined' },
];

function render(overlay: string): K8sObject[] {
  const text = execFileSync(KUBECTL, ['kustomize', join(K8S, 'overlays', overlay)], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
  return yamlObjects(text);
}

function yamlObjects(text: string): K8sObject[] {
  return parseAllDocuments(text)
    .map((doc) => doc.toJS() as K8sObject | null)
    .filter((o): o is K8sObject => !!o);
}

/** Validates `object` against its schema; the error names the object and the failing fields. */
function validate(object: K8sObject): void {
  const model = MODELS[object.apiVersion]?.[object.kind] as (new (data: K8sObject) => { validate(): void }) | undefined;
  if (!model) throw new Error(`${object.apiVersion} ${object.kind} ${object.metadata.name}: no schema to validate it against`);
  try {
    new model(object).validate();
  } catch (error) {
    throw new Error(`${object.kind} ${object.metadata.name}: ${(error as Error).message}`);
  }
}

/** The variables an env class accepts, as its `--help` lists them. */
function acceptedVariables(envClass: ClassConstructor<object>): Set<string> {
  return new Set([...envHelp(envClass, {}).matchAll(/^ {2}([A-Z0-9_]+) /gm)].map((m) => m[1]));
}

function find(objects: K8sObject[], kind: string, name: string): K8sObject {
  const found = objects.find((o) => o.kind === kind && o.metadata.name === name);
  if (!found) throw new Error(`no ${kind} ${name}`);
  return found;
}

/** The value a container gets for `variable`: set literally, from its envFrom ConfigMaps, else the env class's default. */
function effectiveValue(objects: K8sObject[], container: K8sObject, envClass: ClassConstructor<object>, variable: string): string {
  const literal = container.env?.find((e: { name: string; value?: string }) => e.name === variable && e.value !== undefined)?.value;
  if (literal !== undefined) return literal;
  for (const from of container.envFrom ?? []) {
    const value = from.configMapRef && find(objects, 'ConfigMap', from.configMapRef.name).data?.[variable];
    if (value !== undefined) return value;
  }
  return String((new envClass() as Record<string, unknown>)[variable]);
}

/** The `@Max` of a validated property: the bound the contract puts on it. */
function maxOf(cls: ClassConstructor<object>, property: string): number {
  const rule = getMetadataStorage()
    .getTargetValidationMetadatas(cls, '', true, false)
    .find((m) => m.propertyName === property && m.name === 'max');
  if (!rule) throw new Error(`${cls.name}.${property} has no @Max`);
  return rule.constraints[0] as number;
}

function isSubset(selector: Record<string, string>, labels: Record<string, string> = {}): boolean {
  return Object.entries(selector).every(([key, value]) => labels[key] === value);
}

/**
 * deploy/k8s rendered by `kubectl kustomize` (Debian's kubernetes-client, kubectl 1.20 with
 * kustomize v2.0.3, installed when missing; a newer kubectl renders the same) and checked
 * without a cluster: every object against the Kubernetes, KEDA and prometheus-operator
 * schemas, the wiring against the services' own env classes and the rules promtool tests.
 */
describe('Kubernetes manifests (deploy/k8s)', () => {
  const overlays: Record<string, K8sObject[]> = {};

  beforeAll(
    () => {
      ensureDebianPackage(KUBECTL, 'kubernetes-client');
      for (const overlay of ['dev', 'production']) overlays[overlay] = render(overlay);
    },
    15 * 60 * 1000,
  );

  it.each(['dev', 'production'])('renders the %s overlay into objects that pass their schemas', (overlay) => {
    const objects = overlays[overlay];
    expect(objects.length).toBeGreaterThan(20);
    const failures = objects.flatMap((o) => {
      try {
        validate(o);
        return [];
      } catch (error) {
        return [(error as Error).message];
      }
    });
    expect(failures).toEqual([]);
    expect(objects.filter((o) => o.kind !== 'Namespace').every((o) => o.metadata.namespace === 'switchyard')).toBe(true);
  });

  it('has example production Secrets that pass their schema and hold the keys the manifests read', () => {
    const secrets = yamlObjects(readFileSync(join(K8S, 'overlays', 'production', 'secrets.example.yaml'), 'utf8'));
    secrets.forEach(validate);
    const refs = overlays.production.flatMap((o) => [
      ...(o.spec?.template?.spec?.containers ?? []).flatMap((c: K8sObject) =>
        (c.env ?? []).flatMap((e: K8sObject) => (e.valueFrom?.secretKeyRef ? [e.valueFrom.secretKeyRef] : [])),
      ),
      ...(o.kind === 'TriggerAuthentication' ? o.spec.secretTargetRef : []),
    ]);
    const missing = refs.filter((ref: { name: string; key: string }) => secrets.find((s) => s.metadata.name === ref.name)?.stringData?.[ref.key] === undefined);
    expect(missing).toEqual([]);
  });

  it.each(['dev', 'production'])('%s: sets each service only variables its env class accepts', (overlay) => {
    const objects = overlays[overlay];
    const deployments = objects.filter((o) => o.kind === 'Deployment' && o.metadata.name.startsWith('switchyard-'));
    expect(deployments.map((d) => d.metadata.name).sort()).toEqual(
      SERVICES.filter((s) => overlay === 'dev' || s.name !== 'model-server')
        .map((s) => `switchyard-${s.name}`)
        .sort(),
    );
    const unknown = deployments.flatMap((deployment) => {
      const service = SERVICES.find((s) => deployment.metadata.name === `switchyard-${s.name}`)!;
      const accepted = acceptedVariables(service.envClass);
      return deployment.spec.template.spec.containers.flatMap((container: K8sObject) => {
        const set = [
          ...(container.env ?? []).map((e: { name: string }) => e.name),
          ...(container.envFrom ?? []).flatMap((from: K8sObject) => Object.keys(find(objects, 'ConfigMap', from.configMapRef.name).data ?? {})),
        ];
        return set.filter((name) => !accepted.has(name)).map((name) => `${service.name}: ${name}`);
      });
    });
    expect(unknown).toEqual([]);
  });

  it.each(['dev', 'production'])('%s: runs each service non-root, read-only, probed on its own port, with resources and a disruption budget', (overlay) => {
    const objects = overlays[overlay];
    for (const service of SERVICES.filter((s) => overlay === 'dev' || s.name !== 'model-server')) {
      const deployment = find(objects, 'Deployment', `switchyard-${service.name}`);
      const pod = deployment.spec.template.spec;
      const [container] = pod.containers;
      expect(container.command).toEqual(['node', `dist/apps/${service.name}/src/main.js`]);
      // GRPC_PORT (the router's and the model-server's OIP gRPC service): a port named grpc when it is set.
      const grpcPort = effectiveValue(objects, container, service.envClass, 'GRPC_PORT');
      expect(container.ports).toEqual([
        { name: 'http', containerPort: Number(effectiveValue(objects, container, service.envClass, 'PORT')) },
        ...(grpcPort === 'undefined' ? [] : [{ name: 'grpc', containerPort: Number(grpcPort) }]),
      ]);
      expect(effectiveValue(objects, container, service.envClass, 'HOST')).toBe('0.0.0.0');
      expect(container.livenessProbe.httpGet).toEqual({ path: '/healthz', port: 'http' });
      expect(container.readinessProbe.httpGet).toEqual({ path: '/readyz', port: 'http' });
      expect(pod.securityContext).toMatchObject({ runAsNonRoot: true, runAsUser: expect.any(Number) });
      expect(container.securityContext).toMatchObject({ readOnlyRootFilesystem: true, allowPrivilegeEscalation: false });
      expect(container.resources.requests).toEqual({ cpu: expect.any(String), memory: expect.any(String) });
      expect(container.resources.limits.memory).toEqual(expect.any(String));
      expect(pod.terminationGracePeriodSeconds).toBeGreaterThanOrEqual(30);
      const budgets = objects.filter(
        (o) => o.kind === 'PodDisruptionBudget' && isSubset(o.spec.selector.matchLabels, deployment.spec.template.metadata.labels),
      );
      expect(budgets).toHaveLength(1);
    }
    const grpcServers = objects.filter(
      (o) => o.kind === 'Deployment' && o.spec.template.spec.containers[0].ports.some((port: { name: string }) => port.name === 'grpc'),
    );
    expect(grpcServers.map((o) => o.metadata.name).sort()).toEqual(
      overlay === 'dev' ? ['switchyard-model-server', 'switchyard-router'] : ['switchyard-router'],
    );
  });

  it.each(['dev', 'production'])('%s: gives the services that call models time for the slowest call a spec allows before they are killed', (overlay) => {
    const longestCallSeconds = maxOf(VariantSpec, 'timeoutMs') / 1000;
    for (const name of ['switchyard-router', 'switchyard-shadow-worker']) {
      const pod = find(overlays[overlay], 'Deployment', name).spec.template.spec;
      const preStopSeconds = Number(pod.containers[0].lifecycle?.preStop?.exec?.command?.[1] ?? 0);
      expect(pod.terminationGracePeriodSeconds).toBeGreaterThan(preStopSeconds + longestCallSeconds);
    }
  });

  it.each(['dev', 'production'])('%s: scales the router on CPU and each consumer on its group lag, never past its partitions', (overlay) => {
    const objects = overlays[overlay];
    const hpa = find(objects, 'HorizontalPodAutoscaler', 'switchyard-router');
    expect(hpa.spec.scaleTargetRef).toEqual({ apiVersion: 'apps/v1', kind: 'Deployment', name: 'switchyard-router' });
    expect(hpa.spec.metrics[0].resource.name).toBe('cpu');
    for (const { service, groupVariable, topic } of LAG_SCALED) {
      const envClass = SERVICES.find((s) => s.name === service)!.envClass;
      const container = find(objects, 'Deployment', `switchyard-${service}`).spec.template.spec.containers[0];
      const value = (variable: string) => effectiveValue(objects, container, envClass, variable);
      const scaled = find(objects, 'ScaledObject', `switchyard-${service}`);
      expect(scaled.spec.scaleTargetRef.name).toBe(`switchyard-${service}`);
      expect(scaled.spec.maxReplicaCount).toBeLessThanOrEqual(Number(value('TOPIC_PARTITIONS')));
      const [trigger] = scaled.spec.triggers;
      expect(trigger.type).toBe('kafka');
      expect(trigger.metadata.bootstrapServers).toBe(value('KAFKA_BROKERS'));
      expect(trigger.metadata.consumerGroup).toBe(value(groupVariable));
      expect(trigger.metadata.topic).toBe(topic && topicNames(value('TOPIC_PREFIX'))[topic]);
      find(objects, 'TriggerAuthentication', trigger.authenticationRef.name);
    }
  });

  it.each(['dev', 'production'])('%s: lets only the router API in from anywhere, and /metrics from the monitoring namespace', (overlay) => {
    const policies = overlays[overlay].filter((o) => o.kind === 'NetworkPolicy');
    const denyAll = policies.find((p) => Object.keys(p.spec.podSelector).length === 0 && !p.spec.ingress);
    expect(denyAll?.spec.policyTypes).toEqual(['Ingress']);
    const openToAll = policies.filter((p) => p.spec.ingress?.some((rule: K8sObject) => !rule.from));
    const workloads = overlays[overlay].filter((o) => o.spec?.template?.metadata?.labels);
    expect(openToAll).toHaveLength(1);
    expect(workloads.filter((w) => isSubset(openToAll[0].spec.podSelector.matchLabels, w.spec.template.metadata.labels)).map((w) => w.metadata.name)).toEqual([
      'switchyard-router',
    ]);
    expect(openToAll[0].spec.ingress).toEqual([{ ports: [{ port: 'http' }, { port: 'grpc' }] }]);
    const metrics = policies.find((p) => Object.keys(p.spec.podSelector).length === 0 && p.spec.ingress);
    expect(metrics?.spec.ingress).toEqual([
      { from: [{ namespaceSelector: { matchLabels: { 'kubernetes.io/metadata.name': 'monitoring' } } }], ports: [{ port: 'http' }] },
    ]);
  });

  it.each(['dev', 'production'])('%s: scrapes every service and carries the rules deploy/prometheus has', (overlay) => {
    const objects = overlays[overlay];
    const monitor = find(objects, 'ServiceMonitor', 'switchyard');
    expect(monitor.spec.endpoints).toEqual([expect.objectContaining({ port: 'http', path: '/metrics' })]);
    for (const deployment of objects.filter((o) => o.kind === 'Deployment' && o.metadata.name.startsWith('switchyard-'))) {
      const service = find(objects, 'Service', deployment.metadata.name);
      expect(isSubset(monitor.spec.selector.matchLabels, service.metadata.labels)).toBe(true);
      expect(isSubset(service.spec.selector, deployment.spec.template.metadata.labels)).toBe(true);
      // Every port the pod serves, by name (http; grpc where GRPC_PORT is set).
      const served = deployment.spec.template.spec.containers[0].ports.map((port: { name: string }) => port.name);
      expect(service.spec.ports).toEqual(served.map((name: string) => expect.objectContaining({ name, targetPort: name })));
    }
    // The rules' `up{job=~"switchyard-.*"}`: the operator names a target's job after its Service.
    const rules = parseYaml(readFileSync(join(ROOT, 'deploy', 'prometheus', 'rules', 'switchyard.rules.yml'), 'utf8'));
    expect(find(objects, 'PrometheusRule', 'switchyard').spec.groups).toEqual(rules.groups);
  });
});

/**
 * `@kubernetes-models/argo-rollouts` is an ES module only, which this CommonJS Jest cannot
 * require: its models validate `objects` in a node child process. Failures, one a line.
 */
function argoFailures(objects: K8sObject[]): string[] {
  const script = `
    import * as models from '@kubernetes-models/argo-rollouts/argoproj.io/v1alpha1';
    let text = '';
    for await (const chunk of process.stdin) text += chunk;
    const failures = JSON.parse(text).flatMap((o) => {
      if (o.apiVersion !== 'argoproj.io/v1alpha1' || !models[o.kind]) return [o.apiVersion + ' ' + o.kind + ' ' + o.metadata.name + ': no schema'];
      try {
        new models[o.kind](o).validate();
        return [];
      } catch (error) {
        return [o.kind + ' ' + o.metadata.name + ': ' + error.message];
      }
    });
    process.stdout.write(JSON.stringify(failures));
  `;
  return JSON.parse(execFileSync(process.execPath, ['--input-type=module', '-e', script], { cwd: ROOT, input: JSON.stringify(objects), encoding: 'utf8' }));
}

/**
 * A CRD's schema with every object that lists its fields closed to others (unless it says
 * `x-kubernetes-preserve-unknown-fields`), as the API server's strict field validation
 * refuses an unknown field, so that a misspelt one fails here too.
 */
function strictSchema(schema: any): any {
  if (Array.isArray(schema)) return schema.map(strictSchema);
  if (!schema || typeof schema !== 'object') return schema;
  const strict = Object.fromEntries(Object.entries(schema).map(([key, value]) => [key, strictSchema(value)]));
  if (strict.properties && strict.additionalProperties === undefined && !strict['x-kubernetes-preserve-unknown-fields']) strict.additionalProperties = false;
  return strict;
}

/** Validates against `crd`'s openAPIV3Schema (its served version) with ajv; failures, one a line. */
function crdFailures(crd: K8sObject, objects: K8sObject[]): string[] {
  const ajv = new Ajv({ allErrors: true, strict: false, validateFormats: false });
  const failures: string[] = [];
  for (const object of objects) {
    const [group, version] = object.apiVersion.split('/');
    const served = crd.spec.group === group && crd.spec.names.kind === object.kind && crd.spec.versions.find((v: K8sObject) => v.name === version && v.served);
    if (!served) {
      failures.push(`${object.apiVersion} ${object.kind} ${object.metadata.name}: not a kind ${crd.metadata.name} serves`);
      continue;
    }
    // The metadata is the API server's ObjectMeta, which the CRD leaves open.
    const validate = ajv.compile(strictSchema(served.schema.openAPIV3Schema) as AnySchema);
    if (!validate(object))
      failures.push(...validate.errors!.map((e) => `${object.kind} ${object.metadata.name}: ${e.instancePath} ${e.message} ${JSON.stringify(e.params)}`));
  }
  return failures;
}

/** The progressive-delivery examples: they live in the application's namespace, not in the overlays. */
describe('Argo Rollouts and Flagger manifests (deploy/k8s/argo-rollouts, deploy/k8s/flagger)', () => {
  const read = (...path: string[]) => yamlObjects(readFileSync(join(K8S, ...path), 'utf8'));
  const argo = [...read('argo-rollouts', 'analysis-template.yaml'), ...read('argo-rollouts', 'rollout-example.yaml')];
  const canary = find(read('flagger', 'canary.yaml'), 'Canary', 'churn-model');
  const [flaggerCrd] = read('flagger', 'vendor', 'canary-crd.yaml');

  it('pass the Argo Rollouts and Kubernetes schemas, and a broken one does not', () => {
    expect(argoFailures(argo.filter((o) => o.apiVersion === 'argoproj.io/v1alpha1'))).toEqual([]);
    argo.filter((o) => o.apiVersion !== 'argoproj.io/v1alpha1').forEach(validate);
    const template = find(argo, 'AnalysisTemplate', 'switchyard-verdict');
    const broken = structuredClone(template);
    delete broken.spec.metrics[0].provider.web.url;
    expect(argoFailures([broken])).toEqual([expect.stringContaining('must have required property url')]);
  });

  it('asks the verdict endpoint with a read key: promote succeeds, rollback fails, nothing else ends the run before its count', () => {
    const template = find(argo, 'AnalysisTemplate', 'switchyard-verdict');
    const [metric] = template.spec.metrics;
    expect(metric.provider.web.url).toBe('{{args.router}}/v1/deployments/{{args.deployment}}/verdict');
    expect(metric.provider.web.jsonPath).toBeUndefined();
    expect(metric.provider.web.headers).toEqual([{ key: 'Authorization', value: 'Bearer {{args.read-key}}' }]);
    expect(template.spec.args.find((a: K8sObject) => a.name === 'read-key').valueFrom.secretKeyRef).toEqual({ name: 'switchyard-verdict-key', key: 'token' });
    const decisionsIn = (condition: string) => [...condition.matchAll(/^result\.decision == "(\w+)"$/g)].map((m) => m[1]);
    expect(decisionsIn(metric.successCondition)).toEqual(['promote']);
    expect(decisionsIn(metric.failureCondition)).toEqual(['rollback']);
    // The words the conditions compare are the verdict's own.
    for (const decision of ['promote', 'rollback']) expect(VERDICT_DECISIONS).toContain(decision);
    expect({ consecutiveSuccessLimit: metric.consecutiveSuccessLimit, failureLimit: metric.failureLimit }).toEqual({
      consecutiveSuccessLimit: 1,
      failureLimit: 0,
    });
    expect(metric.inconclusiveLimit).toBeGreaterThanOrEqual(metric.count);

    const rollout = find(argo, 'Rollout', 'churn-model');
    const steps = rollout.spec.strategy.canary.steps;
    expect(steps.at(-1).analysis.templates).toEqual([{ templateName: 'switchyard-verdict' }]);
    for (const name of [rollout.spec.strategy.canary.canaryService, rollout.spec.strategy.canary.stableService]) find(argo, 'Service', name);
    expect(find(argo, 'Secret', 'switchyard-verdict-key').stringData.token).toEqual(expect.any(String));
  });

  it("passes Flagger's own Canary schema (its CRD, vendored), and a misspelt field does not", () => {
    expect(crdFailures(flaggerCrd, [canary])).toEqual([]);
    const misspelt = structuredClone(canary);
    misspelt.spec.analysis.webhooks[0].metdata = misspelt.spec.analysis.webhooks[0].metadata;
    expect(crdFailures(flaggerCrd, [misspelt])).toEqual([expect.stringMatching(/webhooks\/0 must NOT have additional properties .*metdata/)]);
    const wrongType = structuredClone(canary);
    wrongType.spec.analysis.webhooks[0].type = 'confirm-everything';
    expect(crdFailures(flaggerCrd, [wrongType]).join('\n')).toContain('/spec/analysis/webhooks/0/type must be equal to one of the allowed values');
  });

  it("calls each of the router's Flagger hooks with a token, at the hook Flagger gives that type", () => {
    const webhooks = canary.spec.analysis.webhooks;
    expect(webhooks.map((w: K8sObject) => w.type)).toEqual([...FLAGGER_HOOKS]);
    for (const webhook of webhooks) {
      expect(new URL(webhook.url).pathname).toBe(`/v1/flagger/churn/${webhook.type}`);
      expect(webhook.metadata.token).toEqual(expect.any(String));
    }
  });
});
