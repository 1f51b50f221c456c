// Realistic audit events for the benchmark: varied users, verbs, resources and bodies, shaped
// like what a kube-apiserver sends (items without kind/apiVersion, MicroTime timestamps).

const users = [
  {
    username: 'system:serviceaccount:kube-system:replicaset-controller',
    uid: 'b1c2',
    groups: ['system:serviceaccounts', 'system:serviceaccounts:kube-system', 'system:authenticated'],
  },
  { username: 'system:kube-scheduler', groups: ['system:authenticated'] },
  { username: 'system:node:10.240.0.12', groups: ['system:nodes', 'system:authenticated'] },
  {
    username: 'IAM#alice@example.com',
    groups: ['system:authenticated', 'ibm-cloud-admins'],
    extra: { 'iam.ibm.com/sub': ['IBMid-1'] },
  },
  { username: 'bob@example.com', groups: ['developers', 'system:authenticated'] },
  {
    username: 'system:serviceaccount:argocd:argocd-application-controller',
    groups: ['system:serviceaccounts', 'system:authenticated'],
  },
];
const resources = [
  { resource: 'pods', apiVersion: 'v1' },
  { resource: 'configmaps', apiVersion: 'v1' },
  { resource: 'leases', apiGroup: 'coordination.k8s.io', apiVersion: 'v1' },
  { resource: 'deployments', apiGroup: 'apps', apiVersion: 'v1' },
  { resource: 'endpointslices', apiGroup: 'discovery.k8s.io', apiVersion: 'v1' },
  { resource: 'events', apiVersion: 'v1' },
  { resource: 'nodes', apiVersion: 'v1', cluster: true },
  { resource: 'secrets', apiVersion: 'v1' },
];
const verbs = ['get', 'list', 'watch', 'update', 'patch', 'create', 'delete'];
const namespaces = ['default', 'kube-system', 'ibm-system', 'payments', 'argocd', 'monitoring'];
const agents = [
  'kube-controller-manager/v1.33.2 (linux/amd64) kubernetes/abc1234/system:serviceaccount:kube-system:replicaset-controller',
  'kubectl/v1.33.1 (darwin/arm64) kubernetes/8adc0f0',
  'argocd-application-controller/v0.0.0 (linux/amd64) kubernetes/$Format',
  'kubelet/v1.33.2 (linux/amd64) kubernetes/abc1234',
];

/** Objects in the simulated cluster. */
const OBJECTS = 2000;

function pick(list, i) {
  return list[i % list.length];
}

function uuid(run, i) {
  const hex = (n, w) => n.toString(16).padStart(w, '0').slice(-w);
  return `${hex(run, 8)}-${hex(i >>> 16, 4)}-4${hex(i & 0xfff, 3)}-8${hex(run >>> 8, 3)}-${hex(i * 2654435761, 12)}`;
}

function time(ms) {
  return `${new Date(1_795_000_000_000 + ms).toISOString().slice(0, -1)}000Z`;
}

/** A pod-like object of about `bytes` bytes with managedFields, as a RequestResponse body carries. */
function podBody(name, namespace, bytes) {
  const containers = [];
  const env = [];
  for (let i = 0; JSON.stringify(env).length < bytes * 0.6; i++)
    env.push({ name: `SETTING_${i}`, value: `value-${i}-${'x'.repeat(i % 40)}` });
  containers.push({
    name: 'app',
    image: 'icr.io/payments/api:1.42.0',
    env,
    resources: { requests: { cpu: '100m', memory: '128Mi' } },
    ports: [{ containerPort: 8080, protocol: 'TCP' }],
  });
  return {
    kind: 'Pod',
    apiVersion: 'v1',
    metadata: {
      name,
      namespace,
      uid: '2f1c1d7e-8a55-4a62-9d3e-3bd1c1b0e8aa',
      resourceVersion: '918273645',
      labels: { app: 'api', 'pod-template-hash': '7998647bdf' },
      annotations: { 'kubectl.kubernetes.io/restartedAt': '2026-11-20T10:00:00Z' },
      managedFields: [
        {
          manager: 'kube-controller-manager',
          operation: 'Update',
          apiVersion: 'v1',
          time: '2026-11-20T10:00:00Z',
          fieldsType: 'FieldsV1',
          fieldsV1: {
            'f:metadata': { 'f:labels': { '.': {}, 'f:app': {} } },
            'f:spec': { 'f:containers': { 'k:{"name":"app"}': { '.': {}, 'f:image': {} } } },
          },
        },
      ],
    },
    spec: { containers, restartPolicy: 'Always', serviceAccountName: 'api', nodeName: '10.240.0.12', priority: 0 },
    status: { phase: 'Running', podIP: '172.30.12.7', startTime: '2026-11-20T10:00:01Z' },
  };
}

/** One event; `detail` is 'Metadata' or 'RequestResponse' (with bodies of about `bodyBytes` each). */
export function makeEvent(run, i, detail = 'Metadata', bodyBytes = 8000) {
  // Like a real cluster, events come from a population of objects, each handled by the user that
  // owns it (a controller, a node, a person) with a few verbs; every batch draws a different
  // sample of them.
  const o = (i * 7919 + run * 104_729) % OBJECTS;
  const user = pick(users, o * 5 + 1);
  const ref = pick(resources, o * 7 + 3);
  const verb = pick(verbs, o * 3 + ((i + run) % 3));
  const namespace = ref.cluster ? undefined : pick(namespaces, o * 11);
  const name =
    verb === 'list' || verb === 'create' || verb === 'watch' ? undefined : `${ref.resource.slice(0, -1)}-${o}`;
  const path = `/api${ref.apiGroup ? `s/${ref.apiGroup}` : ''}/${ref.apiVersion}${namespace ? `/namespaces/${namespace}` : ''}/${ref.resource}${name ? `/${name}` : ''}`;
  const objectRef = {
    resource: ref.resource,
    ...(namespace ? { namespace } : {}),
    ...(name ? { name } : {}),
    ...(ref.apiGroup ? { apiGroup: ref.apiGroup } : {}),
    apiVersion: ref.apiVersion,
  };
  const event = {
    level: detail,
    auditID: uuid(run, i),
    stage: 'ResponseComplete',
    requestURI:
      verb === 'watch'
        ? `${path}?allowWatchBookmarks=true&resourceVersion=918273645&timeout=8m31s&watch=true`
        : verb === 'list'
          ? `${path}?limit=500`
          : path,
    verb,
    user,
    sourceIPs: [`10.240.0.${(i % 200) + 2}`],
    userAgent: pick(agents, i),
    objectRef,
    responseStatus: { metadata: {}, code: verb === 'create' ? 201 : i % 53 === 0 ? 403 : 200 },
    requestReceivedTimestamp: time(i * 3),
    stageTimestamp: time(i * 3 + 2),
    annotations: {
      'authorization.k8s.io/decision': 'allow',
      'authorization.k8s.io/reason': 'RBAC: allowed by ClusterRoleBinding "system:controller:replicaset-controller"',
    },
  };
  if (detail === 'RequestResponse') {
    const body =
      ref.resource === 'secrets'
        ? {
            kind: 'Secret',
            apiVersion: 'v1',
            metadata: { name: name ?? 's', namespace },
            data: { password: 'c2VjcmV0', token: 'dG9rZW4=' },
            type: 'Opaque',
          }
        : podBody(name ?? 'api-7998647bdf-phvq7', namespace ?? 'default', bodyBytes);
    if (verb !== 'get' && verb !== 'list' && verb !== 'watch' && verb !== 'delete') event.requestObject = body;
    event.responseObject = body;
  }
  return event;
}

/** A webhook body: an EventList of `size` events of one run (auditIDs unique per run and index). */
export function makeBatch(run, size, detail, bodyBytes) {
  const items = [];
  for (let i = 0; i < size; i++) items.push(makeEvent(run, i, detail, bodyBytes));
  return JSON.stringify({ kind: 'EventList', apiVersion: 'audit.k8s.io/v1', metadata: {}, items });
}

/**
 * How many distinct batches to rotate through so that no auditID repeats within the receiver's
 * dedupe window (10000 events): the window plus a margin of 4 batches per concurrent client,
 * because a server may handle concurrent requests out of order.
 */
export function poolSize(batchSize, clients) {
  return Math.ceil(10_000 / batchSize) + 4 * clients;
}
