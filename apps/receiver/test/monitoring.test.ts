/**
 * deploy/monitoring: the optional ServiceMonitor, PrometheusRule and NetworkPolicy. The
 * Prometheus Operator's kinds are custom resources that kubernetes-models has no schema for, so
 * their structure is checked with strict zod schemas (an unknown or misspelt field fails, as the
 * CRD's structural schema would drop it), and the alerts are checked against the metrics the
 * receiver really exports.
 */
import { spawnSync } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { NetworkPolicy } from 'kubernetes-models/networking.k8s.io/v1/NetworkPolicy';
import { describe, expect, it } from 'vitest';
import { parseAllDocuments } from 'yaml';
import { z } from 'zod';
import { createPrometheusMetrics } from '../src/prometheus';
import { createQueueSink } from '../src/sink';
import { parsePrometheusText } from './support/prometheus-text';

const root = fileURLToPath(new URL('../../../', import.meta.url));
const deployDir = join(root, 'deploy');
const monitoringDir = join(deployDir, 'monitoring');

/** YAML 1.1, as kubectl reads it. */
function load(path: string): Record<string, unknown>[] {
  return parseAllDocuments(readFileSync(path, 'utf8'), { version: '1.1' }).map((doc) => {
    expect(doc.errors, path).toEqual([]);
    return doc.toJS() as Record<string, unknown>;
  });
}

const Duration = z.string().regex(/^(\d+(ms|s|m|h|d|w|y))+$/, 'a Prometheus duration such as 30s or 5m');
const Labels = z.record(z.string(), z.string());
const Metadata = z.strictObject({ name: z.string(), namespace: z.literal('kube-audit'), labels: Labels.optional() });
const LabelSelector = z.strictObject({ matchLabels: Labels });

const ServiceMonitor = z.strictObject({
  apiVersion: z.literal('monitoring.coreos.com/v1'),
  kind: z.literal('ServiceMonitor'),
  metadata: Metadata,
  spec: z.strictObject({
    selector: LabelSelector,
    endpoints: z
      .array(
        z.strictObject({
          port: z.string(),
          path: z.string().startsWith('/'),
          interval: Duration,
          scrapeTimeout: Duration.optional(),
          scheme: z.enum(['http', 'https']).optional(),
        }),
      )
      .min(1),
  }),
});

const Rule = z.strictObject({
  alert: z.string().regex(/^KubeAudit[A-Z][A-Za-z]+$/),
  expr: z.string().min(1),
  for: Duration.optional(),
  labels: z.strictObject({ severity: z.enum(['critical', 'warning', 'info']) }),
  annotations: z.strictObject({ summary: z.string().min(10), description: z.string().min(10) }),
});
const PrometheusRule = z.strictObject({
  apiVersion: z.literal('monitoring.coreos.com/v1'),
  kind: z.literal('PrometheusRule'),
  metadata: Metadata,
  spec: z.strictObject({ groups: z.array(z.strictObject({ name: z.string(), rules: z.array(Rule).min(1) })).min(1) }),
});

const Kustomization = z.strictObject({
  apiVersion: z.literal('kustomize.config.k8s.io/v1beta1'),
  kind: z.literal('Kustomization'),
  resources: z.array(z.string()),
  labels: z.array(z.strictObject({ pairs: Labels, includeSelectors: z.boolean() })).optional(),
});

const yamlFiles = readdirSync(monitoringDir)
  .filter((name) => /\.ya?ml$/.test(name))
  .sort();
const objects = yamlFiles.flatMap((name) => load(join(monitoringDir, name)));
const byKind = (kind: string) => objects.filter((object) => object.kind === kind);

const service = load(join(deployDir, '30-service.yaml'))[0] as {
  metadata: { labels: Record<string, string> };
  spec: { ports: { name: string; targetPort: number }[] };
};
const deployment = load(join(deployDir, '20-deployment.yaml'))[0] as {
  spec: {
    template: {
      metadata: { labels: Record<string, string> };
      spec: { containers: { env: { name: string; value: string }[] }[] };
    };
  };
};
/** The port the Deployment serves /metrics on: the NetworkPolicy and the ServiceMonitor must use it, never PORT. */
const METRICS_PORT = deployment.spec.template.spec.containers[0]?.env.find((e) => e.name === 'METRICS_PORT')?.value;

/** What the receiver exports, with every optional series present: sample name -> label names. */
async function exportedSeries(): Promise<Map<string, Set<string>>> {
  const metrics = createPrometheusMetrics(
    createQueueSink(async () => {}),
    { maxPendingBytes: 1 },
  );
  metrics.request(200, 0.01);
  metrics.certificateLoaded(new Date());
  metrics.fileReloaded('tls', false);
  const families = parsePrometheusText((await metrics.render()).text);
  const series = new Map<string, Set<string>>();
  for (const family of families.values()) {
    for (const sample of family.samples) {
      const labels = series.get(sample.name) ?? new Set<string>();
      for (const label of Object.keys(sample.labels)) labels.add(label);
      series.set(sample.name, labels);
    }
  }
  return series;
}

/** Labels Prometheus adds to every series it scrapes through a ServiceMonitor. */
const TARGET_LABELS = ['namespace', 'pod', 'job', 'instance', 'service', 'endpoint', 'container'];
/** Values a receiver label can take, where that is a closed set. */
const LABEL_VALUES: Record<string, RegExp> = {
  reason: /^(policy|duplicate)$/,
  file: /^(tls|token)$/,
  result: /^(success|failure)$/,
  code: /^[1-5]\d\d$/,
};

describe('deploy/monitoring', () => {
  it('is applied on its own: deploy/Kustomization and `kubectl apply -f deploy` leave it out', () => {
    const main = load(join(deployDir, 'Kustomization'))[0] as { resources: string[] };
    expect(main.resources.some((resource) => resource.startsWith('monitoring'))).toBe(false);
    const own = Kustomization.parse(load(join(monitoringDir, 'Kustomization'))[0]);
    expect([...own.resources].sort()).toEqual(yamlFiles);
    expect(yamlFiles).toEqual(['networkpolicy.yaml', 'prometheusrule.yaml', 'servicemonitor.yaml']);
  });

  it('has a ServiceMonitor that selects the kube-audit Service and scrapes /metrics on its metrics port only', () => {
    const [monitor, ...others] = byKind('ServiceMonitor').map((object) => ServiceMonitor.parse(object));
    expect(others).toEqual([]);
    const selector = monitor?.spec.selector.matchLabels ?? {};
    for (const [key, value] of Object.entries(selector)) expect(service.metadata.labels[key]).toBe(value);
    expect(monitor?.spec.endpoints.map((endpoint) => [endpoint.port, endpoint.path])).toEqual([
      ['metrics', '/metrics'],
    ]);
    expect(service.spec.ports.find((port) => port.name === 'metrics')?.targetPort).toBe(Number(METRICS_PORT));
  });

  it('has a NetworkPolicy, valid for Kubernetes, that opens only the metrics port of the receiver pods', () => {
    const [policy] = byKind('NetworkPolicy');
    expect(() => new NetworkPolicy(policy as never).validate()).not.toThrow();
    const spec = (policy as { spec: { podSelector: { matchLabels: Record<string, string> }; ingress: unknown[] } })
      .spec;
    for (const [key, value] of Object.entries(spec.podSelector.matchLabels)) {
      expect(deployment.spec.template.metadata.labels[key]).toBe(value);
    }
    expect(spec.ingress).toEqual([
      expect.objectContaining({
        ports: [{ protocol: 'TCP', port: Number(METRICS_PORT) }],
      }),
    ]);
  });

  describe('PrometheusRule', () => {
    const [rule, ...others] = byKind('PrometheusRule');
    const parsed = PrometheusRule.parse(rule);
    const rules = parsed.spec.groups.flatMap((group) => group.rules);

    it('is one well-formed rule object with uniquely named alerts', () => {
      expect(others).toEqual([]);
      expect(new Set(rules.map((r) => r.alert)).size).toBe(rules.length);
    });

    it('alerts on no events written, batches not written, rejects and 5xx, invalid items, duplicates and a backed-up stdout', () => {
      const on = (metric: string) => rules.filter((r) => r.expr.includes(metric)).map((r) => r.alert);
      expect(on('kube_audit_events_written_total')).toEqual(['KubeAuditNoEventsWritten', 'KubeAuditBatchesNotWritten']);
      expect(rules.find((r) => r.alert === 'KubeAuditServerErrors')?.expr).toContain('code=~"5.."');
      expect(on('kube_audit_events_invalid_total')).toEqual(['KubeAuditInvalidEvents']);
      expect(on('reason="duplicate"')).toEqual(['KubeAuditManyDuplicates']);
      expect(on('kube_audit_sink_pending_bytes')).toEqual(['KubeAuditStdoutBackedUp']);
      expect(on('kube_audit_tls_certificate_expiration_timestamp_seconds')).toEqual([
        'KubeAuditCertificateExpiresSoon',
      ]);
    });

    it('uses only metrics and label values the receiver exports', async () => {
      const series = await exportedSeries();
      for (const { alert, expr } of rules) {
        for (const match of expr.matchAll(/\b(kube_audit_\w+)(?:\{([^}]*)\})?/g)) {
          const [, name = '', matchers = ''] = match;
          const labels = series.get(name);
          expect(labels, `${alert}: ${name} is not exported`).toBeDefined();
          for (const [, label = '', op, value = ''] of matchers.matchAll(/(\w+)\s*(=~|!~|!=|=)\s*"([^"]*)"/g)) {
            expect([...(labels ?? []), ...TARGET_LABELS], `${alert}: ${name} has no label ${label}`).toContain(label);
            if (op === '=' && LABEL_VALUES[label]) expect(value, `${alert}: ${label}`).toMatch(LABEL_VALUES[label]);
          }
        }
        for (const other of expr.matchAll(/\b([a-z_]+_total|up)\b(?=\s*[{[(])/g)) {
          const name = other[1] ?? '';
          if (!name.startsWith('kube_audit_')) expect(['up', 'apiserver_audit_error_total'], alert).toContain(name);
        }
      }
    });

    it('writes expressions with balanced brackets, valid range durations, and templates that use kept labels', () => {
      for (const { alert, expr, annotations } of rules) {
        const stack: string[] = [];
        for (const ch of expr.replace(/"[^"]*"/g, '""')) {
          if ('([{'.includes(ch)) stack.push(ch);
          else if (')]}'.includes(ch))
            expect(stack.pop(), `${alert}: ${expr}`).toBe({ ')': '(', ']': '[', '}': '{' }[ch]);
        }
        expect(stack, alert).toEqual([]);
        for (const range of expr.matchAll(/\[([^\]]+)\]/g))
          expect(Duration.safeParse(range[1]).success, alert).toBe(true);
        const kept = [...expr.matchAll(/\bby\s*\(([^)]*)\)/g)].flatMap((m) =>
          (m[1] ?? '').split(',').map((s) => s.trim()),
        );
        const text = `${annotations.summary} ${annotations.description}`;
        for (const used of text.matchAll(/\$labels\.(\w+)/g))
          expect(kept, `${alert} uses $labels.${used[1]}`).toContain(used[1]);
      }
    });
  });

  const kubectl = spawnSync('kubectl', ['version', '--client'], { encoding: 'utf8' });
  it.skipIf(kubectl.status !== 0)('builds with kubectl kustomize', () => {
    const result = spawnSync('kubectl', ['kustomize', monitoringDir], {
      encoding: 'utf8',
      env: { ...process.env, KUBECONFIG: '/dev/null' },
    });
    expect(result.stderr).toBe('');
    const built = parseAllDocuments(result.stdout).map((doc) => doc.toJS() as { kind: string });
    expect(built.map((object) => object.kind).sort()).toEqual(['NetworkPolicy', 'PrometheusRule', 'ServiceMonitor']);
  });
});
