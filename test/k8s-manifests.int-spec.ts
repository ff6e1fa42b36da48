import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { ClassConstructor } from 'class-transformer';
import { getMetadataStorage } from 'class-validator';
import { parse as parseYaml, parseAllDocuments } from 'yaml';
import { TopicKey, topicNames, VariantSpec } from '@switchyard/contracts';
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
      expect(container.ports).toEqual([{ name: 'http', containerPort: Number(effectiveValue(objects, container, service.envClass, 'PORT')) }]);
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
    expect(openToAll[0].spec.ingress).toEqual([{ ports: [{ port: 'http' }] }]);
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
      expect(service.spec.ports).toEqual([expect.objectContaining({ name: 'http', targetPort: 'http' })]);
    }
    // The rules' `up{job=~"switchyard-.*"}`: the operator names a target's job after its Service.
    const rules = parseYaml(readFileSync(join(ROOT, 'deploy', 'prometheus', 'rules', 'switchyard.rules.yml'), 'utf8'));
    expect(find(objects, 'PrometheusRule', 'switchyard').spec.groups).toEqual(rules.groups);
  });
});
