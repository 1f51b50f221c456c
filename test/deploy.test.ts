import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { extname, join, posix, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Deployment, type IDeployment } from 'kubernetes-models/apps/v1/Deployment';
import { type INetworkPolicy, NetworkPolicy } from 'kubernetes-models/networking.k8s.io/v1/NetworkPolicy';
import { type IPodDisruptionBudget, PodDisruptionBudget } from 'kubernetes-models/policy/v1/PodDisruptionBudget';
import { type INamespace, Namespace } from 'kubernetes-models/v1/Namespace';
import { type IService, Service } from 'kubernetes-models/v1/Service';
import { type IServiceAccount, ServiceAccount } from 'kubernetes-models/v1/ServiceAccount';
import { describe, expect, it } from 'vitest';
import { parseAllDocuments } from 'yaml';

const root = fileURLToPath(new URL('..', import.meta.url));
const deployDir = join(root, 'deploy');
const apiserverDir = join(deployDir, 'apiserver');

// ---------------------------------------------------------------------------------------------
// Loading

type Manifest = { apiVersion?: unknown; kind?: unknown; metadata?: { name?: string; namespace?: string } } & Record<
  string,
  unknown
>;

/**
 * Parses YAML the way kubectl does: YAML 1.1, where `on`, `yes` and `y` are booleans and `0440`
 * is octal. Read as YAML 1.2 they would be strings and decimals, and the tests would check
 * something other than what the cluster gets.
 */
function loadYaml(text: string, source: string): Manifest[] {
  const objects: Manifest[] = [];
  for (const doc of parseAllDocuments(text, { version: '1.1' })) {
    const problems = [...doc.errors, ...doc.warnings];
    if (problems.length > 0) throw new Error(`${source}: ${problems.map((p) => p.message).join('; ')}`);
    const value: unknown = doc.toJS();
    if (value !== null && value !== undefined) objects.push(value as Manifest);
  }
  return objects;
}

function loadFile(path: string): Manifest[] {
  return loadYaml(readFileSync(path, 'utf8'), path);
}

/** The extensions kubectl's file visitor accepts when given a directory (kubectl apply -f DIR). */
const KUBECTL_FILE_EXTENSIONS = ['.json', '.yaml', '.yml'];

/** What `kubectl apply -f deploy` reads: matching files of the directory itself, in name order. */
const manifestFiles = readdirSync(deployDir)
  .filter((name) => statSync(join(deployDir, name)).isFile() && KUBECTL_FILE_EXTENSIONS.includes(extname(name)))
  .sort();
const manifests = manifestFiles.flatMap((name) => loadFile(join(deployDir, name)));

function only<T>(objects: Manifest[], kind: string): T {
  const found = objects.filter((o) => o.kind === kind);
  expect(found, `exactly one ${kind}`).toHaveLength(1);
  return found[0] as T;
}

const deployment = only<IDeployment>(manifests, 'Deployment');
const podSpec = deployment.spec?.template.spec;
const container = podSpec?.containers[0];
const podLabels = deployment.spec?.template.metadata?.labels ?? {};
const env = Object.fromEntries((container?.env ?? []).map((e) => [e.name, e.value]));

function containerPort(port: number | string | undefined): number | undefined {
  if (typeof port === 'number') return port;
  return container?.ports?.find((p) => p.name === port)?.containerPort;
}

// ---------------------------------------------------------------------------------------------
// Schema validation

type Model = { prototype: { validate(): void } };
const MODELS: Record<string, Model> = {
  'v1/Namespace': Namespace,
  'v1/ServiceAccount': ServiceAccount,
  'v1/Service': Service,
  'apps/v1/Deployment': Deployment,
  'networking.k8s.io/v1/NetworkPolicy': NetworkPolicy,
  'policy/v1/PodDisruptionBudget': PodDisruptionBudget,
};

/** Wraps value so that every own property the validator reads is recorded as a JSON pointer. */
function recordReads<T>(value: T, path: string, read: Set<string>): T {
  if (value === null || typeof value !== 'object') return value;
  return new Proxy(value, {
    get(target, key, receiver) {
      const child = Reflect.get(target, key, receiver);
      if (typeof key !== 'string' || !Object.hasOwn(target, key)) return child;
      read.add(`${path}/${key}`);
      return recordReads(child, `${path}/${key}`, read);
    },
  });
}

function fieldPaths(value: unknown, path = ''): string[] {
  if (value === null || typeof value !== 'object') return [];
  return Object.entries(value).flatMap(([key, child]) => [`${path}/${key}`, ...fieldPaths(child, `${path}/${key}`)]);
}

/**
 * Checks an object against the Kubernetes OpenAPI schema and returns what is wrong (nothing when
 * valid). kubernetes-models' validator checks types, required fields and enums but lets unknown
 * fields through, which `kubectl apply` (strict field validation) rejects: a misspelt
 * `readOnlyRootFileSystem` would pass it and silently not apply. The compiled validator reads
 * every property its schema declares (maps such as labels are iterated), so a property it never
 * reads is one the schema does not have.
 */
function schemaProblems(object: Manifest): string[] {
  const key = `${String(object.apiVersion)}/${String(object.kind)}`;
  const model = MODELS[key];
  if (!model) return [`no schema for ${key}`];
  const read = new Set<string>();
  try {
    model.prototype.validate.call(recordReads(object, '', read));
  } catch (error) {
    return [(error as Error).message];
  }
  return fieldPaths(object)
    .filter((path) => !read.has(path))
    .map((path) => `unknown field ${path}`);
}

// ---------------------------------------------------------------------------------------------
// Label selectors, as the API server evaluates them

type Selector = {
  matchLabels?: Record<string, string>;
  matchExpressions?: { key: string; operator: string; values?: string[] }[];
};

function selects(selector: Selector | undefined, labels: Record<string, string>): boolean {
  if (!selector) return false;
  const byLabel = Object.entries(selector.matchLabels ?? {}).every(([k, v]) => labels[k] === v);
  const byExpression = (selector.matchExpressions ?? []).every(({ key, operator, values = [] }) => {
    const value = labels[key];
    switch (operator) {
      case 'In':
        return value !== undefined && values.includes(value);
      case 'NotIn':
        return value === undefined || !values.includes(value);
      case 'Exists':
        return value !== undefined;
      case 'DoesNotExist':
        return value === undefined;
      default:
        throw new Error(`unknown selector operator ${operator}`);
    }
  });
  return byLabel && byExpression;
}

// ---------------------------------------------------------------------------------------------
// kubectl

const kubectlVersion = spawnSync('kubectl', ['version', '--client', '-o', 'json'], { encoding: 'utf8' });
const hasKubectl = kubectlVersion.status === 0;
const needsKubectl = hasKubectl ? '' : ' [skipped: kubectl not found on PATH]';

function kubectl(...args: string[]): string {
  // No cluster is involved: an empty kubeconfig makes sure none is contacted by accident.
  const result = spawnSync('kubectl', args, {
    cwd: root,
    encoding: 'utf8',
    env: { ...process.env, KUBECONFIG: '/dev/null' },
  });
  if (result.status !== 0) throw new Error(`kubectl ${args.join(' ')} failed: ${result.stderr}`);
  return result.stdout;
}

const identity = (o: Manifest) => `${String(o.kind)}/${o.metadata?.namespace ?? ''}/${o.metadata?.name ?? ''}`;

// ---------------------------------------------------------------------------------------------

describe('deploy/*.yaml against the Kubernetes OpenAPI schema', () => {
  it.each(manifestFiles)('%s is valid', (name) => {
    const objects = loadFile(join(deployDir, name));
    expect(objects.length).toBeGreaterThan(0);
    for (const object of objects) expect(schemaProblems(object), identity(object)).toEqual([]);
  });

  it('rejects a deliberately broken Deployment (so the check above can fail)', () => {
    const broken = structuredClone(deployment) as unknown as Manifest & { spec: { replicas: unknown } };
    broken.spec.replicas = 'two';
    expect(schemaProblems(broken).join()).toMatch(/spec\/replicas must be integer/);

    const noContainers = structuredClone(deployment) as unknown as Manifest & {
      spec: { template: { spec: { containers?: unknown } } };
    };
    delete noContainers.spec.template.spec.containers;
    expect(schemaProblems(noContainers).join()).toMatch(/must have required property containers/);
  });

  it('rejects a misspelt field, which kubectl apply would refuse', () => {
    const misspelt = structuredClone(deployment) as unknown as Manifest & {
      spec: { template: { spec: { containers: { securityContext: Record<string, unknown> }[] } } };
    };
    const securityContext = misspelt.spec.template.spec.containers[0]?.securityContext ?? {};
    securityContext.readOnlyRootFileSystem = securityContext.readOnlyRootFilesystem;
    delete securityContext.readOnlyRootFilesystem;
    expect(schemaProblems(misspelt)).toEqual([
      'unknown field /spec/template/spec/containers/0/securityContext/readOnlyRootFileSystem',
    ]);
  });

  it('rejects an unquoted `on`, which kubectl reads as a boolean', () => {
    const [object] = loadYaml(
      'apiVersion: v1\nkind: Namespace\nmetadata:\n  name: x\n  labels:\n    redact: on\n',
      'inline snippet',
    );
    expect(object && schemaProblems(object).join()).toMatch(/metadata\/labels\/redact must be string/);
  });

  it('rejects a kind it has no schema for', () => {
    expect(schemaProblems({ apiVersion: 'v1', kind: 'Pdo', metadata: { name: 'x' } })).toEqual([
      'no schema for v1/Pdo',
    ]);
  });
});

describe('kubectl apply -f deploy', () => {
  it('reads the six YAML files, the Namespace first, and neither Kustomization nor apiserver/', () => {
    expect(manifestFiles).toEqual([
      '00-namespace.yaml',
      '10-serviceaccount.yaml',
      '20-deployment.yaml',
      '30-service.yaml',
      '40-networkpolicy.yaml',
      '50-poddisruptionbudget.yaml',
    ]);
    // kubectl picks files by extension: the kustomization is named so that it has none.
    expect(existsSync(join(deployDir, 'Kustomization'))).toBe(true);
    expect(KUBECTL_FILE_EXTENSIONS).not.toContain(extname('Kustomization'));
    // and it does not descend into subdirectories without -R.
    expect(statSync(apiserverDir).isDirectory()).toBe(true);
    expect(manifests.map((o) => o.kind)).toEqual([
      'Namespace',
      'ServiceAccount',
      'Deployment',
      'Service',
      'NetworkPolicy',
      'PodDisruptionBudget',
    ]);
  });

  it.skipIf(!hasKubectl)(
    `sees exactly those objects, in that order, when kubectl reads the directory${needsKubectl}`,
    () => {
      // `--local` makes kubectl run its -f file visitor without a cluster; -o name lists what it read.
      const names = kubectl('annotate', '--local', '-f', 'deploy', '-o', 'name', 'kube-audit.test/probe=1')
        .trim()
        .split('\n');
      expect(names).toEqual([
        'namespace/kube-audit',
        'serviceaccount/kube-audit',
        'deployment.apps/kube-audit',
        'service/kube-audit',
        'networkpolicy.networking.k8s.io/kube-audit',
        'poddisruptionbudget.policy/kube-audit',
      ]);
    },
  );

  it('puts everything else into the kube-audit namespace', () => {
    for (const object of manifests.filter((o) => o.kind !== 'Namespace')) {
      expect(object.metadata?.namespace, identity(object)).toBe('kube-audit');
    }
  });
});

describe('kubectl kustomize deploy', () => {
  const kustomization = loadFile(join(deployDir, 'Kustomization'))[0] as {
    resources?: string[];
    labels?: { pairs: Record<string, string>; includeSelectors?: boolean }[];
    commonLabels?: unknown;
    images?: { name: string; newName?: string; newTag?: string }[];
  };

  it('lists the same files that -f applies, with labels: rather than commonLabels', () => {
    expect(kustomization.resources).toEqual(manifestFiles);
    expect(kustomization.commonLabels).toBeUndefined();
    expect(kustomization.labels?.length).toBeGreaterThan(0);
    // Selectors are immutable: -f and -k must produce the same ones.
    for (const entry of kustomization.labels ?? []) expect(entry.includeSelectors ?? false).toBe(false);
  });

  it('has an images: entry that matches the Deployment image, for kustomize edit set image', () => {
    const [repository] = (container?.image ?? '').split(':');
    expect(kustomization.images?.map((i) => i.name)).toContain(repository);
  });

  it.skipIf(!hasKubectl)(`renders objects that are valid against the schema${needsKubectl}`, () => {
    const rendered = loadYaml(kubectl('kustomize', 'deploy'), 'kubectl kustomize deploy');
    expect(rendered.map(identity).sort()).toEqual(manifests.map(identity).sort());
    for (const object of rendered) expect(schemaProblems(object), identity(object)).toEqual([]);

    const renderedDeployment = only<IDeployment>(rendered, 'Deployment');
    expect(renderedDeployment.spec?.selector).toEqual(deployment.spec?.selector);
    expect(renderedDeployment.metadata?.labels).toMatchObject(kustomization.labels?.[0]?.pairs ?? {});
  });

  it.skipIf(!hasKubectl)(`lets an overlay point the image at a registry${needsKubectl}`, () => {
    const overlay = mkdtempSync(join(tmpdir(), 'kube-audit-overlay-'));
    try {
      writeFileSync(
        join(overlay, 'kustomization.yaml'),
        [
          'apiVersion: kustomize.config.k8s.io/v1beta1',
          'kind: Kustomization',
          'resources:',
          `  - ${relative(overlay, deployDir)}`, // kustomize refuses absolute paths
          'images:',
          '  - name: kube-audit-receiver',
          '    newName: us.icr.io/example/kube-audit-receiver',
          '    newTag: "1.2.3"',
          '',
        ].join('\n'),
      );
      const rendered = loadYaml(kubectl('kustomize', overlay), 'overlay');
      const image = only<IDeployment>(rendered, 'Deployment').spec?.template.spec?.containers[0]?.image;
      expect(image).toBe('us.icr.io/example/kube-audit-receiver:1.2.3');
    } finally {
      rmSync(overlay, { recursive: true, force: true });
    }
  });
});

describe('Namespace', () => {
  it('sorts first and enforces, audits and warns at Pod Security "restricted"', () => {
    const [first] = loadFile(join(deployDir, manifestFiles[0] ?? ''));
    expect(first?.kind).toBe('Namespace');
    const namespace = first as INamespace;
    expect(namespace.metadata?.name).toBe('kube-audit');
    expect(namespace.metadata?.labels).toMatchObject({
      'pod-security.kubernetes.io/enforce': 'restricted',
      'pod-security.kubernetes.io/audit': 'restricted',
      'pod-security.kubernetes.io/warn': 'restricted',
    });
  });
});

describe('ServiceAccount', () => {
  it('mounts no API token, on the account and on the pod', () => {
    const account = only<IServiceAccount>(manifests, 'ServiceAccount');
    expect(account.automountServiceAccountToken).toBe(false);
    expect(podSpec?.serviceAccountName).toBe(account.metadata?.name);
    expect(podSpec?.automountServiceAccountToken).toBe(false);
  });
});

describe('Deployment', () => {
  it('runs 2 replicas whose selector matches the pod labels', () => {
    expect(deployment.spec?.replicas).toBe(2);
    expect(selects(deployment.spec?.selector, podLabels)).toBe(true);
  });

  it('runs as a numeric non-root user, seccomp RuntimeDefault', () => {
    const pod = podSpec?.securityContext;
    expect(pod?.runAsNonRoot).toBe(true);
    expect(pod?.runAsUser).toBeGreaterThan(0);
    expect(pod?.runAsGroup).toBeGreaterThan(0);
    expect(pod?.seccompProfile?.type).toBe('RuntimeDefault');
  });

  it('has a read-only root filesystem, no privilege escalation and drops ALL capabilities', () => {
    expect(podSpec?.containers).toHaveLength(1);
    expect(podSpec?.initContainers ?? []).toEqual([]);
    const securityContext = container?.securityContext;
    expect(securityContext?.readOnlyRootFilesystem).toBe(true);
    expect(securityContext?.allowPrivilegeEscalation).toBe(false);
    expect(securityContext?.privileged ?? false).toBe(false);
    expect(securityContext?.capabilities?.drop).toEqual(['ALL']);
    expect(securityContext?.capabilities?.add ?? []).toEqual([]);
    expect(podSpec?.hostNetwork ?? false).toBe(false);
  });

  it('probes liveness on /healthz and readiness on /readyz, on the HTTP port', () => {
    expect(container?.livenessProbe?.httpGet?.path).toBe('/healthz');
    expect(container?.readinessProbe?.httpGet?.path).toBe('/readyz');
    expect(containerPort(container?.livenessProbe?.httpGet?.port)).toBe(Number(env.PORT));
    expect(containerPort(container?.readinessProbe?.httpGet?.port)).toBe(Number(env.PORT));
  });

  it('gives the receiver longer to stop than its drain (and the preStop pause) take', () => {
    const drainSeconds = Number(env.SHUTDOWN_TIMEOUT_MS) / 1000;
    const preStopSeconds = container?.lifecycle?.preStop?.sleep?.seconds ?? 0;
    expect(drainSeconds).toBe(25);
    expect(podSpec?.terminationGracePeriodSeconds).toBeGreaterThan(drainSeconds + preStopSeconds);
  });

  // The env's variables and values are checked against the settings in settings.test.ts.
  it('has container ports to match PORT, TLS_PORT and METRICS_PORT, and points annotation scrapers at the last', () => {
    expect(containerPort('http')).toBe(Number(env.PORT));
    expect(containerPort('https')).toBe(Number(env.TLS_PORT));
    expect(containerPort('metrics')).toBe(Number(env.METRICS_PORT));
    expect(deployment.spec?.template.metadata?.annotations?.['prometheus.io/port']).toBe(env.METRICS_PORT);
  });

  it('requests CPU and memory, and limits memory with room for maximum-size batches', () => {
    const { requests = {}, limits = {} } = container?.resources ?? {};
    expect(requests.cpu).toBeDefined();
    expect(requests.memory).toBeDefined();
    const mebibytes = /^(\d+)Mi$/.exec(String(limits.memory));
    expect(mebibytes, 'memory limit in Mi').not.toBeNull();
    // docs/deploy.md, "Memory": V8 gets 75 % of the limit (the image's NODE_OPTIONS), and must hold
    // the idle receiver plus 8 bytes per body byte in flight (MAX_INFLIGHT_BYTES follows MAX_BODY_BYTES).
    const inflight = Number(env.MAX_INFLIGHT_BYTES ?? env.MAX_BODY_BYTES);
    expect(Number(mebibytes?.[1]) * 2 ** 20 * 0.75).toBeGreaterThanOrEqual(100 * 2 ** 20 + 8 * inflight);
    expect(readFileSync(join(root, 'Dockerfile'), 'utf8')).toMatch(
      /^ENV NODE_OPTIONS=--max-old-space-size-percentage=75$/m,
    );
  });

  it('writes only to an emptyDir at /tmp and reads TLS files from the optional kube-audit-tls Secret', () => {
    const mounts = Object.fromEntries((container?.volumeMounts ?? []).map((m) => [m.mountPath, m]));
    const volumes = Object.fromEntries((podSpec?.volumes ?? []).map((v) => [v.name, v]));
    expect(volumes[mounts['/tmp']?.name ?? '']?.emptyDir).toBeDefined();

    const certificates = mounts['/certificates'];
    expect(certificates?.readOnly).toBe(true);
    const secret = volumes[certificates?.name ?? '']?.secret;
    expect(secret?.secretName).toBe('kube-audit-tls');
    expect(secret?.optional).toBe(true);
    expect(posix.dirname(env.TLS_CERT_FILE ?? '')).toBe('/certificates');
    expect(posix.dirname(env.TLS_KEY_FILE ?? '')).toBe('/certificates');
  });

  it('spreads its pods across nodes', () => {
    const byHostname = podSpec?.topologySpreadConstraints?.find((c) => c.topologyKey === 'kubernetes.io/hostname');
    expect(byHostname?.maxSkew).toBe(1);
    expect(selects(byHostname?.labelSelector, podLabels)).toBe(true);
  });
});

describe('Service', () => {
  const service = only<IService>(manifests, 'Service');

  it('is a ClusterIP Service with 80 -> 3000 (http), 443 -> 4443 (https) and 9090 -> 9090 (metrics)', () => {
    expect(service.spec?.type ?? 'ClusterIP').toBe('ClusterIP');
    const ports = (service.spec?.ports ?? []).map((p) => [p.name, p.port, containerPort(p.targetPort)]);
    expect(ports).toEqual([
      ['http', 80, 3000],
      ['https', 443, 4443],
      ['metrics', 9090, 9090],
    ]);
  });

  it('selects the receiver pods', () => {
    expect(selects({ matchLabels: service.spec?.selector }, podLabels)).toBe(true);
  });
});

describe('NetworkPolicy', () => {
  const policy = only<INetworkPolicy>(manifests, 'NetworkPolicy');
  const kubeSystem = { 'kubernetes.io/metadata.name': 'kube-system' };

  /** Whether a pod with these labels, in a namespace with these labels, may connect to port. */
  function admits(namespaceLabels: Record<string, string>, labels: Record<string, string>, port: number): boolean {
    return (policy.spec?.ingress ?? []).some((rule) => {
      const portAllowed = !rule.ports || rule.ports.some((p) => p.port === port);
      const peerAllowed = (rule.from ?? []).some((peer) => {
        if (peer.ipBlock) return false;
        const namespaceMatches = peer.namespaceSelector
          ? selects(peer.namespaceSelector, namespaceLabels)
          : namespaceLabels['kubernetes.io/metadata.name'] === policy.metadata?.namespace;
        return namespaceMatches && (peer.podSelector ? selects(peer.podSelector, labels) : true);
      });
      return portAllowed && peerAllowed;
    });
  }

  it('applies to the receiver pods and restricts ingress', () => {
    expect(selects(policy.spec?.podSelector, podLabels)).toBe(true);
    expect(policy.spec?.policyTypes).toContain('Ingress');
  });

  it('has no rule open to everyone, and opens only the receiver ports', () => {
    for (const rule of policy.spec?.ingress ?? []) {
      expect(rule.from?.length).toBeGreaterThan(0);
      expect(rule.ports?.map((p) => p.port).sort()).toEqual([3000, 4443]);
    }
  });

  it.each<Record<string, string>>([{ 'k8s-app': 'konnectivity-agent' }, { app: 'konnectivity-agent' }, { app: 'vpn' }])(
    'admits the IKS tunnel pods in kube-system labelled %o',
    (labels) => {
      expect(admits(kubeSystem, labels, 3000)).toBe(true);
      expect(admits(kubeSystem, labels, 4443)).toBe(true);
    },
  );

  it('turns away other kube-system pods, look-alikes elsewhere and other ports', () => {
    expect(admits(kubeSystem, { 'k8s-app': 'kube-dns' }, 3000)).toBe(false);
    expect(admits({ 'kubernetes.io/metadata.name': 'default' }, { app: 'vpn' }, 3000)).toBe(false);
    expect(admits({ 'kubernetes.io/metadata.name': 'kube-audit' }, { app: 'vpn' }, 3000)).toBe(false);
    expect(admits({ 'kubernetes.io/metadata.name': 'kube-audit' }, podLabels, 3000)).toBe(false);
    expect(admits(kubeSystem, { app: 'vpn' }, 22)).toBe(false);
  });
});

describe('PodDisruptionBudget', () => {
  it('keeps at least one receiver through voluntary disruptions', () => {
    const budget = only<IPodDisruptionBudget>(manifests, 'PodDisruptionBudget');
    expect(budget.spec?.minAvailable).toBe(1);
    expect(selects(budget.spec?.selector, podLabels)).toBe(true);
  });
});

// ---------------------------------------------------------------------------------------------

describe('deploy/apiserver', () => {
  const kubeconfigs = readdirSync(apiserverDir).filter((name) => name.endsWith('.kubeconfig.yaml'));
  const RECEIVER_PATHS = /^\/(post|audit(\/[^/]+)?)?$/;

  type Kubeconfig = {
    apiVersion?: string;
    kind?: string;
    'current-context'?: string;
    contexts?: { name: string; context: { cluster: string; user: string } }[];
    clusters?: { name: string; cluster: Record<string, string> }[];
    users?: { name: string; user: Record<string, string> }[];
  };

  function current(name: string) {
    const config = loadFile(join(apiserverDir, name))[0] as Kubeconfig;
    const context = config.contexts?.find((c) => c.name === config['current-context'])?.context;
    const cluster = config.clusters?.find((c) => c.name === context?.cluster)?.cluster;
    const user = config.users?.find((u) => u.name === context?.user)?.user;
    return { config, cluster, user };
  }

  it('has the four webhook kubeconfig templates', () => {
    expect(kubeconfigs.sort()).toEqual([
      'webhook-http.kubeconfig.yaml',
      'webhook-https-ca.kubeconfig.yaml',
      'webhook-mtls.kubeconfig.yaml',
      'webhook-token.kubeconfig.yaml',
    ]);
  });

  it.each(kubeconfigs)('%s is a kubeconfig for a receiver route on the ClusterIP', (name) => {
    const text = readFileSync(join(apiserverDir, name), 'utf8');
    expect(text.startsWith('#')).toBe(true);
    expect(text).toMatch(/--audit-webhook-config-file/);
    const { config, cluster, user } = current(name);
    expect(config.apiVersion).toBe('v1');
    expect(config.kind).toBe('Config');
    expect(user).toBeDefined();
    const server = new URL(cluster?.server ?? '');
    expect(server.hostname).toBe('cluster_ip'); // the CLUSTER_IP placeholder, as URL parsing lowercases it
    expect(server.pathname).toMatch(RECEIVER_PATHS);
    expect(server.protocol).toBe(name === 'webhook-http.kubeconfig.yaml' ? 'http:' : 'https:');
    if (server.protocol === 'https:') {
      expect(cluster?.['certificate-authority'] ?? cluster?.['certificate-authority-data']).toBeDefined();
      expect(cluster?.['insecure-skip-tls-verify']).toBeUndefined();
    }
  });

  it('authenticates the API server with a client certificate or a token where the name says so', () => {
    expect(current('webhook-mtls.kubeconfig.yaml').user).toMatchObject({
      'client-certificate': expect.any(String),
      'client-key': expect.any(String),
    });
    const { user } = current('webhook-token.kubeconfig.yaml');
    expect(user?.tokenFile ?? user?.token).toBeDefined();
  });

  it.skipIf(!hasKubectl)(`has kubeconfigs that kubectl loads${needsKubectl}`, () => {
    for (const name of kubeconfigs) {
      const view = JSON.parse(
        kubectl('config', 'view', '--kubeconfig', join(apiserverDir, name), '--raw', '-o', 'json'),
      ) as Kubeconfig;
      expect(view['current-context'], name).toBe('kube-audit');
    }
  });

  describe('audit-policy.yaml', () => {
    type Rule = {
      level?: string;
      users?: string[];
      userGroups?: string[];
      verbs?: string[];
      namespaces?: string[];
      resources?: { group?: string; resources?: string[]; resourceNames?: string[] }[];
      nonResourceURLs?: string[];
      omitStages?: string[];
    };
    const policy = loadFile(join(apiserverDir, 'audit-policy.yaml'))[0] as {
      apiVersion?: string;
      kind?: string;
      omitStages?: string[];
      rules?: Rule[];
    };
    const rules = policy.rules ?? [];
    const LEVELS = ['None', 'Metadata', 'Request', 'RequestResponse'];
    const STAGES = ['RequestReceived', 'ResponseStarted', 'ResponseComplete', 'Panic'];

    it('is an audit.k8s.io/v1 Policy that omits RequestReceived', () => {
      expect(policy.apiVersion).toBe('audit.k8s.io/v1');
      expect(policy.kind).toBe('Policy');
      expect(policy.omitStages).toContain('RequestReceived');
    });

    it('passes the API server validation rules', () => {
      expect(rules.length).toBeGreaterThan(0);
      for (const stage of policy.omitStages ?? []) expect(STAGES).toContain(stage);
      for (const rule of rules) {
        expect(LEVELS).toContain(rule.level);
        for (const stage of rule.omitStages ?? []) expect(STAGES).toContain(stage);
        if (rule.nonResourceURLs) {
          expect(rule.resources ?? rule.namespaces).toBeUndefined();
          for (const url of rule.nonResourceURLs) expect(url).toMatch(/^(\*|\/[^*]*\*?)$/);
        }
        for (const resource of rule.resources ?? []) {
          if (resource.resourceNames?.length) expect(resource.resources?.length).toBeGreaterThan(0);
        }
      }
    });

    type Request = {
      user: string;
      verb: string;
      group?: string;
      resource?: string;
      namespace?: string;
      path?: string;
    };

    /** The level of the first matching rule (kube-apiserver's policy checker, for the selectors used here). */
    function levelOf(request: Request): string {
      const rule = rules.find((r) => {
        if (r.users && !r.users.includes(request.user)) return false;
        if (r.userGroups) throw new Error('userGroups: not modelled by this test');
        if (r.verbs && !r.verbs.includes(request.verb)) return false;
        if (r.namespaces || r.resources) {
          if (request.resource === undefined) return false;
          if (r.namespaces && !r.namespaces.includes(request.namespace ?? '')) return false;
          if (!r.resources?.length) return true;
          return r.resources.some(
            (gr) =>
              (gr.group ?? '') === (request.group ?? '') &&
              (!gr.resources?.length || gr.resources.includes('*') || gr.resources.includes(request.resource ?? '')),
          );
        }
        if (r.nonResourceURLs) {
          if (request.path === undefined) return false;
          return r.nonResourceURLs.some((url) =>
            url.endsWith('*') ? (request.path ?? '').startsWith(url.replace(/\*+$/, '')) : url === request.path,
          );
        }
        return true;
      });
      return rule?.level ?? 'None';
    }

    it.each<[string, Request, string]>([
      [
        'node heartbeats',
        { user: 'system:node:n1', verb: 'update', group: 'coordination.k8s.io', resource: 'leases' },
        'None',
      ],
      ['health checks', { user: 'system:anonymous', verb: 'get', path: '/readyz' }, 'None'],
      ['discovery', { user: 'alice', verb: 'get', path: '/apis/apps/v1' }, 'None'],
      ['events', { user: 'system:kube-scheduler', verb: 'create', resource: 'events' }, 'None'],
      [
        "kube-proxy's watches",
        { user: 'system:kube-proxy', verb: 'watch', group: 'discovery.k8s.io', resource: 'endpointslices' },
        'None',
      ],
      ['a Secret write, without its values', { user: 'alice', verb: 'create', resource: 'secrets' }, 'Metadata'],
      ['a Secret read', { user: 'alice', verb: 'get', resource: 'secrets' }, 'Metadata'],
      ['a ConfigMap write', { user: 'alice', verb: 'update', resource: 'configmaps' }, 'Metadata'],
      ['a token request', { user: 'system:kubelet', verb: 'create', resource: 'serviceaccounts/token' }, 'Metadata'],
      [
        'a token review',
        { user: 'system:kube-apiserver', verb: 'create', group: 'authentication.k8s.io', resource: 'tokenreviews' },
        'Metadata',
      ],
      [
        'a Deployment write, with bodies',
        { user: 'alice', verb: 'patch', group: 'apps', resource: 'deployments' },
        'RequestResponse',
      ],
      ['a Pod deletion, with bodies', { user: 'alice', verb: 'delete', resource: 'pods' }, 'RequestResponse'],
      ['a read, by the catch-all', { user: 'alice', verb: 'list', resource: 'pods' }, 'Metadata'],
      ["someone else's endpoint watch", { user: 'alice', verb: 'watch', resource: 'endpoints' }, 'Metadata'],
      ['other non-resource requests', { user: 'prometheus', verb: 'get', path: '/metrics' }, 'Metadata'],
    ])('logs %s at the level its comment promises', (_, request, level) => {
      expect(levelOf(request)).toBe(level);
    });
  });
});

// ---------------------------------------------------------------------------------------------

describe('Dockerfile', () => {
  type Instruction = { keyword: string; args: string };

  /** Instructions with line continuations joined and comments dropped. */
  function parseDockerfile(text: string): Instruction[] {
    const instructions: Instruction[] = [];
    let pending = '';
    for (const line of text.split('\n')) {
      if (/^\s*#/.test(line) && pending === '') continue;
      const continued = /\\\s*$/.test(line);
      pending += `${line.replace(/\\\s*$/, '')} `;
      if (continued) continue;
      const [, keyword = '', args = ''] = /^\s*(\S+)\s*(.*?)\s*$/.exec(pending) ?? [];
      if (keyword) instructions.push({ keyword: keyword.toUpperCase(), args });
      pending = '';
    }
    return instructions;
  }

  const instructions = parseDockerfile(readFileSync(join(root, 'Dockerfile'), 'utf8'));
  const firstFrom = instructions.findIndex((i) => i.keyword === 'FROM');
  const globalArgs = Object.fromEntries(
    instructions
      .slice(0, firstFrom)
      .filter((i) => i.keyword === 'ARG')
      .map((i) => i.args.split('=') as [string, string]),
  );
  const expand = (s: string) => s.replace(/\$\{?(\w+)\}?/g, (_, name: string) => globalArgs[name] ?? `<unset ${name}>`);

  const stages: { image: string; name?: string; body: Instruction[] }[] = [];
  for (const instruction of instructions.slice(firstFrom)) {
    if (instruction.keyword === 'FROM') {
      const [image = '', , name] = expand(instruction.args).split(/\s+/);
      stages.push({ image, name, body: [] });
    } else stages.at(-1)?.body.push(instruction);
  }
  const build = stages.find((s) => s.name === 'build');
  const runtime = stages.at(-1);
  const runs = (build?.body ?? []).filter((i) => i.keyword === 'RUN').map((i) => i.args);
  const last = (stage: typeof runtime, keyword: string) => stage?.body.filter((i) => i.keyword === keyword).at(-1);

  it('builds in a pinned Node 24 stage and runs on a pinned Node 24 image', () => {
    expect(stages.length).toBeGreaterThanOrEqual(2);
    expect(build).toBeDefined();
    expect(build).not.toBe(runtime);
    for (const stage of [build, runtime]) {
      // node:<24.x.y>-<variant>: the full release and the OS, never a moving "latest".
      expect(stage?.image).toMatch(/^node:24\.\d+\.\d+-(bookworm-slim|trixie-slim|alpine3\.\d+)$/);
    }
  });

  it('installs pnpm with npm, at the version package.json names', () => {
    const packageManager = (JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')) as { packageManager?: string })
      .packageManager;
    expect(packageManager).toMatch(/^pnpm@/);
    expect(runs).toContainEqual(expect.stringMatching(new RegExp(`^npm (install|i) (--global|-g) ${packageManager}$`)));
  });

  it('copies the lockfile before the sources and installs from it, frozen', () => {
    const body = build?.body ?? [];
    const lockfileCopy = body.findIndex((i) => i.keyword === 'COPY' && i.args.split(/\s+/).includes('pnpm-lock.yaml'));
    const sourcesCopy = body.findIndex((i) => i.keyword === 'COPY' && i.args === '. .');
    const install = body.findIndex((i) => i.keyword === 'RUN' && /^pnpm install\b/.test(i.args));
    expect(lockfileCopy).toBeGreaterThanOrEqual(0);
    expect(lockfileCopy).toBeLessThan(sourcesCopy);
    expect(install).toBeGreaterThan(sourcesCopy);
    expect(body[install]?.args).toMatch(/--frozen-lockfile/);
  });

  it('builds with the same package script the tests use', () => {
    expect(runs).toContain('pnpm --filter @kube-audit/receiver run build');
    const receiver = JSON.parse(readFileSync(join(root, 'apps/receiver/package.json'), 'utf8')) as {
      name?: string;
      scripts?: Record<string, string>;
    };
    expect(receiver.name).toBe('@kube-audit/receiver');
    expect(receiver.scripts?.build).toBeDefined();
  });

  it('copies only apps/receiver/dist into the runtime image, and runs dist/node.js from it', () => {
    const body = runtime?.body ?? [];
    expect(body.filter((i) => i.keyword === 'ADD')).toEqual([]);
    const copies = body.filter((i) => i.keyword === 'COPY');
    expect(copies).toHaveLength(1);
    const [from, source = '', destination = ''] = copies[0]?.args.split(/\s+/) ?? [];
    expect(from).toBe(`--from=${build?.name}`);
    expect(source).toMatch(/\/apps\/receiver\/dist\/?$/);

    const workdir = last(runtime, 'WORKDIR')?.args ?? '/';
    const command = JSON.parse(last(runtime, 'CMD')?.args ?? 'null') as string[] | null;
    expect(Array.isArray(command), 'CMD in exec form').toBe(true);
    expect(command?.[0]).toBe('node');
    const entry = posix.resolve(workdir, command?.[1] ?? '');
    expect(entry).toBe(posix.join(posix.resolve(workdir, destination), 'node.js'));
    expect(body.some((i) => i.keyword === 'ENV' && /\bNODE_ENV=production\b/.test(i.args))).toBe(true);
  });

  it('runs as the same numeric non-root user as the Deployment', () => {
    const [uid, gid] = (last(runtime, 'USER')?.args ?? '').split(':').map(Number);
    expect(uid).toBeGreaterThan(0);
    expect(uid).toBe(podSpec?.securityContext?.runAsUser);
    expect(gid).toBe(podSpec?.securityContext?.runAsGroup);
  });

  it('exposes 3000, 4443 and 9090, the Deployment container ports', () => {
    const exposed = (runtime?.body ?? [])
      .filter((i) => i.keyword === 'EXPOSE')
      .flatMap((i) => i.args.split(/\s+/))
      .map((p) => Number(p.replace(/\/tcp$/, '')));
    expect(exposed.sort()).toEqual([3000, 4443, 9090]);
    expect(container?.ports?.map((p) => p.containerPort).sort()).toEqual([3000, 4443, 9090]);
  });

  it('declares every variable a stage uses in that stage (global ARGs reach only FROM lines)', () => {
    for (const stage of stages) {
      const declared = new Set<string>();
      for (const { keyword, args } of stage.body) {
        if (keyword !== 'RUN') {
          for (const [, name = ''] of args.matchAll(/\$\{?(\w+)\}?/g))
            expect(declared, `${keyword} ${args}`).toContain(name);
        }
        if (keyword === 'ARG' || keyword === 'ENV') declared.add(args.split(/[=\s]/)[0] ?? '');
      }
    }
  });

  it('carries OCI labels', () => {
    const labels = (runtime?.body ?? []).filter((i) => i.keyword === 'LABEL').map((i) => i.args);
    expect(labels.join(' ')).toMatch(/org\.opencontainers\.image\.title=/);
    expect(labels.join(' ')).toMatch(/org\.opencontainers\.image\.licenses=/);
  });

  it('keeps host installs, build output and git history out of the build context', () => {
    const ignored = readFileSync(join(root, '.dockerignore'), 'utf8')
      .split('\n')
      .map((line) => line.trim())
      .filter((line) => line && !line.startsWith('#'));
    expect(ignored).toEqual(expect.arrayContaining(['**/node_modules', '**/dist', '.git']));
  });
});
