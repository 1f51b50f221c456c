import { readFileSync } from 'node:fs';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { createPolicyChecker, PolicyError, type PolicyRequest, parsePolicy, policyRequestOf } from './policy';
import { type Level, Policy, type PolicyRule, STAGES, type Stage } from './schema';

const fixture = (path: string) => readFileSync(new URL(`../../../fixtures/${path}`, import.meta.url), 'utf8');

/** authorizer.AttributesRecord as the vectors file spells it (`user.name`, as user.Info.GetName()). */
interface VectorRequest {
  user: { name: string; groups: string[] } | null;
  verb: string;
  namespace: string;
  apiGroup: string;
  resource: string;
  subresource: string;
  name: string;
  resourceRequest: boolean;
  path: string;
}
interface VectorPolicy {
  omitStages: Stage[] | null;
  rules: PolicyRule[];
  ruleNames?: string[];
}
interface Vectors {
  requests: Record<string, VectorRequest>;
  cases: { id: string; request: string; policy: VectorPolicy; expected: { level: Level; omitStages: Stage[] } }[];
  omitManagedFieldsCases: {
    name: string;
    policyOmitManagedFields: boolean;
    request: VectorRequest;
    rule: PolicyRule;
    expected: boolean;
  }[];
  unionStagesCases: { a: Stage[] | null; b: Stage[] | null; expectedSet: Stage[] }[];
  derivedCases: { description: string; request: VectorRequest; policy: VectorPolicy; expected: { level: Level } }[];
}

const vectors = JSON.parse(fixture('policy-vectors.json')) as Vectors;

function requestOf(vector: VectorRequest): PolicyRequest {
  const { user, ...rest } = vector;
  return { ...rest, user: user === null ? null : { username: user.name, groups: user.groups } };
}

/** The vectors carry only rules and omitStages; the schema check also proves they are valid policies. */
function policyOf(vector: VectorPolicy, extra: Partial<Policy> = {}): Policy {
  return Policy.parse({
    apiVersion: 'audit.k8s.io/v1',
    kind: 'Policy',
    rules: vector.rules,
    ...(vector.omitStages === null ? {} : { omitStages: vector.omitStages }),
    ...extra,
  });
}

const sorted = (stages: Iterable<Stage>) => [...stages].sort();

const BASE = 'apiVersion: audit.k8s.io/v1\nkind: Policy\n';

describe('createPolicyChecker', () => {
  describe('agrees with the checker_test.go table', () => {
    const rows = vectors.cases.map((c) => ({
      ...c,
      title: `${c.id}: ${c.request} request, rules [${c.policy.ruleNames?.join(', ')}] → ${c.expected.level}`,
    }));
    it.each(rows)('$title', ({ request, policy, expected }) => {
      const decision = createPolicyChecker(policyOf(policy))(requestOf(vectors.requests[request] as VectorRequest));
      expect(decision.level).toBe(expected.level);
      expect(sorted(decision.omitStages)).toEqual(sorted(expected.omitStages));
      expect(decision.omitManagedFields).toBe(false);
    });
  });

  describe('takes omitManagedFields from the rule when set, else from the policy (TestOmitManagedFields)', () => {
    it.each(vectors.omitManagedFieldsCases)('$name', ({ policyOmitManagedFields, rule, request, expected }) => {
      const policy = policyOf({ omitStages: null, rules: [rule] }, { omitManagedFields: policyOmitManagedFields });
      const decision = createPolicyChecker(policy)(requestOf(request));
      expect(decision.level).toBe(rule.level);
      expect(decision.omitManagedFields).toBe(expected);
    });
  });

  describe('omits the union of the policy and rule stages (TestUnionStages)', () => {
    const rows = vectors.unionStagesCases.map((c) => ({
      ...c,
      title: `${JSON.stringify(c.a)} ∪ ${JSON.stringify(c.b)} = ${JSON.stringify(c.expectedSet)}`,
    }));
    it.each(rows)('$title', ({ a, b, expectedSet }) => {
      const rule: PolicyRule = { level: 'Metadata', ...(b === null ? {} : { omitStages: b }) };
      const decision = createPolicyChecker(policyOf({ omitStages: a, rules: [rule] }))(
        requestOf(vectors.requests.namespaced as VectorRequest),
      );
      expect(decision.omitStages.size).toBe(expectedSet.length);
      expect(sorted(decision.omitStages)).toEqual(sorted(expectedSet));
    });
  });

  describe('follows checker.go on the derived cases', () => {
    it.each(vectors.derivedCases)('$description', ({ request, policy, expected }) => {
      expect(createPolicyChecker(policyOf(policy))(requestOf(request)).level).toBe(expected.level);
    });
  });

  const pod: PolicyRequest = {
    user: { username: 'tim', groups: ['humans'] },
    verb: 'get',
    resourceRequest: true,
    namespace: 'default',
    apiGroup: '',
    resource: 'pods',
    name: 'busybox',
  };
  const check = (rules: PolicyRule[], request: PolicyRequest, extra: Partial<Policy> = {}) =>
    createPolicyChecker(policyOf({ omitStages: null, rules }, extra))(request).level;

  it('matches pods/* against bare pods', () => {
    expect(check([{ level: 'Request', resources: [{ resources: ['pods/*'] }] }], pod)).toBe('Request');
  });

  it('lets the first matching rule win', () => {
    const rules: PolicyRule[] = [{ level: 'None', verbs: ['list'] }, { level: 'Metadata' }, { level: 'Request' }];
    expect(check(rules, pod)).toBe('Metadata');
    expect(check(rules, { ...pod, verb: 'list' })).toBe('None');
  });

  it('returns None with the policy stages and omitManagedFields when no rule matches', () => {
    const checker = createPolicyChecker(
      policyOf(
        { omitStages: ['RequestReceived'], rules: [{ level: 'Metadata', verbs: ['delete'], omitStages: ['Panic'] }] },
        { omitManagedFields: true },
      ),
    );
    const decision = checker(pod);
    expect(decision.level).toBe('None');
    expect(sorted(decision.omitStages)).toEqual(['RequestReceived']);
    expect(decision.omitManagedFields).toBe(true);
  });

  it('treats a missing group as the core group', () => {
    const rules: PolicyRule[] = [{ level: 'Request', resources: [{ resources: ['pods'] }] }];
    expect(check(rules, pod)).toBe('Request');
    expect(check(rules, { ...pod, apiGroup: 'apps' })).toBe('None');
  });

  it('matches resourceNames only together with the named resources', () => {
    const rules: PolicyRule[] = [
      { level: 'Request', resources: [{ resources: ['pods'], resourceNames: ['busybox'] }] },
    ];
    expect(check(rules, pod)).toBe('Request');
    expect(check(rules, { ...pod, name: 'other' })).toBe('None');
    expect(check(rules, { ...pod, name: undefined })).toBe('None');
  });

  // checker.go (k8s.io/apiserver v0.37, pkg/audit/policy/checker.go lines 205 and 209) strips one
  // prefix or suffix: strings.TrimPrefix(res, "*/"), strings.TrimSuffix(res, "/*") since 1.18.
  it('strips exactly one */ prefix or /* suffix, so pods//* and *//exec match no request', () => {
    const exec: PolicyRequest = { ...pod, subresource: 'exec' };
    expect(check([{ level: 'Request', resources: [{ resources: ['pods//*'] }] }], pod)).toBe('None');
    expect(check([{ level: 'Request', resources: [{ resources: ['pods//*'] }] }], exec)).toBe('None');
    expect(check([{ level: 'Request', resources: [{ resources: ['*//exec'] }] }], exec)).toBe('None');
    expect(check([{ level: 'Request', resources: [{ resources: ['*/*/log'] }] }], { ...pod, subresource: 'log' })).toBe(
      'None',
    );
    expect(check([{ level: 'Request', resources: [{ resources: ['*/exec'] }] }], exec)).toBe('Request');
  });

  it('strips every trailing * of a nonResourceURL prefix, even in a policy that skipped validation', () => {
    const healthz: PolicyRequest = { verb: 'get', resourceRequest: false, path: '/healthz/etcd' };
    const unvalidated = {
      apiVersion: 'audit.k8s.io/v1',
      kind: 'Policy',
      rules: [{ level: 'Metadata', nonResourceURLs: ['/healthz**'] }],
    };
    expect(createPolicyChecker(unvalidated as Policy)(healthz).level).toBe('Metadata');
    expect(check([{ level: 'Metadata', nonResourceURLs: ['/healthz'] }], healthz)).toBe('None');
  });

  it('treats an undefined user like a missing one for users and userGroups', () => {
    const anonymous: PolicyRequest = { ...pod, user: undefined };
    expect(check([{ level: 'Metadata', users: [''] }], anonymous)).toBe('None');
    expect(check([{ level: 'Metadata', userGroups: ['humans'] }], { ...pod, user: { username: 'tim' } })).toBe('None');
  });

  it('returns the same frozen decision object for every request of a rule', () => {
    const checker = createPolicyChecker(policyOf({ omitStages: ['RequestReceived'], rules: [{ level: 'Metadata' }] }));
    const first = checker(pod);
    expect(checker({ ...pod, verb: 'list' })).toBe(first);
    expect(Object.isFrozen(first)).toBe(true);
    expect(() => (first.omitStages as Set<Stage>).add('Panic')).toThrow(TypeError);
    expect(() => (first.omitStages as Set<Stage>).clear()).toThrow(TypeError);
    expect(sorted(first.omitStages)).toEqual(['RequestReceived']);
  });

  it('agrees with a literal port of checker.go on random rules and requests', () => {
    const word = fc.constantFrom('', 'pods', 'pods/', 'log', 'exec', '/exec', 'apps', 'a', 'default', '*', '/', 'x/y');
    const resourceEntry = fc.constantFrom(
      '*',
      'pods',
      'pods/log',
      'pods/*',
      '*/log',
      '*/*',
      'pods//*',
      '*//exec',
      '*/*/log',
      'secrets',
      'a/x/y',
    );
    const url = fc.constantFrom('*', '/api', '/api*', '/api**', '/apis/a', '/', '/*', '/logs/x');
    const list = <T>(arb: fc.Arbitrary<T>) => fc.option(fc.array(arb, { maxLength: 3 }), { nil: undefined });
    const groupResources = fc.record(
      {
        group: fc.constantFrom('', 'apps', '*'),
        resources: list(resourceEntry),
        resourceNames: list(fc.constantFrom('', 'busybox', 'a')),
      },
      { requiredKeys: [] },
    );
    const rule = fc.record(
      {
        level: fc.constantFrom(...(['None', 'Metadata', 'Request', 'RequestResponse'] as const)),
        users: list(fc.constantFrom('', 'tim', 'bob')),
        userGroups: list(fc.constantFrom('humans', 'devs')),
        verbs: list(fc.constantFrom('get', 'list')),
        namespaces: list(fc.constantFrom('', 'default')),
        resources: list(groupResources),
        nonResourceURLs: list(url),
        omitStages: list(fc.constantFrom(...STAGES)),
        omitManagedFields: fc.option(fc.boolean(), { nil: undefined }),
      },
      { requiredKeys: ['level'] },
    );
    const request = fc.record({
      user: fc.option(
        fc.record(
          { username: fc.constantFrom('', 'tim', 'bob'), groups: fc.array(fc.constantFrom('humans', 'devs')) },
          { requiredKeys: [] },
        ),
        { nil: null },
      ),
      verb: fc.constantFrom('get', 'list', 'post'),
      resourceRequest: fc.boolean(),
      namespace: word,
      apiGroup: word,
      resource: word,
      subresource: word,
      name: fc.constantFrom('', 'busybox', 'a'),
      path: fc.constantFrom('', '/api', '/api/v1', '/apis/a', '/apiz', '/logs/x', '/'),
    });
    fc.assert(
      fc.property(
        fc.array(rule, { minLength: 1, maxLength: 4 }),
        fc.option(fc.array(fc.constantFrom(...STAGES)), { nil: undefined }),
        fc.boolean(),
        fc.array(request, { minLength: 1, maxLength: 8 }),
        (rules, omitStages, omitManagedFields, requests) => {
          const policy = {
            apiVersion: 'audit.k8s.io/v1',
            kind: 'Policy',
            rules,
            omitStages,
            omitManagedFields,
          } as Policy;
          const checker = createPolicyChecker(policy);
          for (const req of requests) {
            const got = checker(req);
            const want = referenceCheck(policy, req);
            expect({ ...got, omitStages: sorted(got.omitStages) }).toEqual({
              ...want,
              omitStages: sorted(new Set(want.omitStages)),
            });
          }
        },
      ),
      { numRuns: 2000 },
    );
  });
});

/** Line by line port of checker.go (EvaluatePolicyRule, ruleMatches, ruleMatchesResource, pathMatches). */
function referenceCheck(policy: Policy, req: PolicyRequest) {
  const trimRight = (s: string, cut: string) => {
    let i = s.length;
    while (i > 0 && cut.includes(s[i - 1] as string)) i--;
    return s.slice(0, i);
  };
  const has = (list: readonly string[] | undefined, v: string) => (list ?? []).includes(v);
  const len = (list: readonly unknown[] | undefined) => list?.length ?? 0;
  const matchesResource = (r: PolicyRule) => {
    if (!req.resourceRequest) return false;
    if (len(r.namespaces) > 0 && !has(r.namespaces, req.namespace ?? '')) return false;
    if (len(r.resources) === 0) return true;
    const resource = req.resource ?? '';
    const subresource = req.subresource ?? '';
    const combined = subresource !== '' ? `${resource}/${subresource}` : resource;
    for (const gr of r.resources ?? []) {
      if ((gr.group ?? '') === (req.apiGroup ?? '') || gr.group === '*') {
        if (len(gr.resources) === 0) return true;
        for (const res of gr.resources ?? []) {
          if (len(gr.resourceNames) === 0 || has(gr.resourceNames, req.name ?? '')) {
            if (res === combined || res === '*') return true;
            if (subresource.length > 0 && res.startsWith('*/') && subresource === res.slice(2)) return true;
            if (res.endsWith('/*') && resource === res.slice(0, -2)) return true;
          }
        }
      }
    }
    return false;
  };
  const pathMatches = (path: string, spec: string) =>
    spec === '*' || spec === path || (spec.endsWith('*') && path.startsWith(trimRight(spec, '*')));
  const ruleMatches = (r: PolicyRule) => {
    const user = req.user;
    if (len(r.users) > 0 && (user == null || !has(r.users, user.username ?? ''))) return false;
    if (len(r.userGroups) > 0) {
      if (user == null) return false;
      if (!(user.groups ?? []).some((g) => has(r.userGroups, g))) return false;
    }
    if (len(r.verbs) > 0 && !has(r.verbs, req.verb)) return false;
    if (len(r.namespaces) > 0 || len(r.resources) > 0) return matchesResource(r);
    if (len(r.nonResourceURLs) > 0) {
      if (req.resourceRequest) return false;
      return (r.nonResourceURLs ?? []).some((spec) => pathMatches(req.path ?? '', spec));
    }
    return true;
  };
  for (const r of policy.rules) {
    if (ruleMatches(r)) {
      return {
        level: r.level,
        omitStages: [...(policy.omitStages ?? []), ...(r.omitStages ?? [])],
        omitManagedFields: r.omitManagedFields ?? policy.omitManagedFields ?? false,
      };
    }
  }
  return { level: 'None', omitStages: policy.omitStages ?? [], omitManagedFields: policy.omitManagedFields ?? false };
}

describe('parsePolicy', () => {
  const loading = JSON.parse(fixture('policy-loading-vectors.json')) as {
    cases: { name: string; file: string; accepted: boolean; strictDecodingError: boolean; policy?: unknown }[];
  };
  /** The warnings that stand for the API server's strict decoding error (its lenient retry). */
  const strict = (warnings: string[]) => warnings.filter((w) => /unknown field|duplicate key/.test(w));

  describe('loads what kube-apiserver loads, and refuses what it refuses (policy-loading-vectors.json)', () => {
    it.each(loading.cases)('$name', ({ file, accepted, strictDecodingError, policy }) => {
      if (!accepted) {
        expect(() => parsePolicy(file, { source: 'p.yaml' })).toThrow(PolicyError);
        return;
      }
      const result = parsePolicy(file, { source: 'p.yaml' });
      expect(result.policy).toEqual(policy);
      expect(strict(result.warnings).length > 0).toBe(strictDecodingError);
    });
  });

  it('says where group "*" is accepted: Kubernetes 1.36 and later', () => {
    const { warnings } = parsePolicy(`${BASE}rules:\n- level: None\n  resources: [{group: apps}, {group: "*"}]\n`, {
      source: 'p.yaml',
    });
    expect(warnings).toEqual([
      'p.yaml: rules[0].resources[1].group: "*" (every API group) is accepted by kube-apiserver only from Kubernetes 1.36; older API servers refuse this policy',
    ]);
  });

  it('warns that documents after the first are ignored', () => {
    const { warnings } = parsePolicy(`${BASE}rules: [{level: None}]\n---\nkind: ConfigMap\n`, { source: 'p.yaml' });
    expect(warnings).toEqual([
      'p.yaml: line 4, column 1: only the first YAML document is read, as by kube-apiserver; the rest is ignored',
    ]);
  });

  it('never echoes the file in a JSON syntax error', () => {
    const secret = 'a-long-value-that-must-not-be-echoed';
    expect(() => parsePolicy(`{"apiVersion": "${secret}",}`)).toThrow(PolicyError);
    try {
      parsePolicy(`{"apiVersion": "${secret}",}`);
    } catch (error) {
      expect((error as PolicyError).message).not.toContain(secret);
    }
  });

  it('reads hostile scalars and nesting without throwing anything but PolicyError', () => {
    for (const text of [
      `${BASE}rules: [{level: None, users: [.inf, -.inf, .nan, 0x, 0b2, 08, 9223372036854775808, 18446744073709551616, -0b1, +12, 1_000, ._5]}]\n`,
      `${BASE}rules: [{level: None, verbs: [${'['.repeat(500)}${']'.repeat(500)}]}]\n`,
      `${'{"a":'.repeat(2000)}1${'}'.repeat(2000)}`,
      '\ufeff{"apiVersion": "audit.k8s.io/v1", "kind": "Policy", "rules": [{"level": "None"}]}',
    ]) {
      try {
        parsePolicy(text);
      } catch (error) {
        expect(error).toBeInstanceOf(PolicyError);
      }
    }
  });

  it("parses Falco's recommended policy", () => {
    const { policy, warnings } = parsePolicy(fixture('real/policies/falco-k8saudit-audit-policy.yaml'), {
      source: 'falco.yaml',
    });
    expect(warnings).toEqual([]);
    expect(policy.omitStages).toEqual(['RequestReceived']);
    expect(policy.rules).toHaveLength(11);
    expect(policy.rules[3]).toEqual({
      level: 'None',
      resources: [{ group: '', resources: ['configmaps'], resourceNames: ['controller-leader'] }],
    });
    expect(policy.rules[5]?.nonResourceURLs).toEqual(['/api*', '/version']);
  });

  it("parses audit2rbac's demo policy", () => {
    const { policy, warnings } = parsePolicy(fixture('real/audit2rbac/demo-policy.yaml'));
    expect(warnings).toEqual([]);
    expect(policy.rules).toEqual([
      {
        level: 'Metadata',
        users: ['system:admin', 'alice', 'bob', 'system:serviceaccount:ns1:sa1'],
        omitStages: ['RequestReceived', 'ResponseStarted', 'Panic'],
      },
    ]);
  });

  it('parses JSON, including tab-indented JSON', () => {
    const json = '{\n\t"apiVersion": "audit.k8s.io/v1",\n\t"kind": "Policy",\n\t"rules": [{"level": "Metadata"}]\n}';
    expect(parsePolicy(json).policy.rules).toEqual([{ level: 'Metadata' }]);
  });

  it('accepts a leading and a trailing document separator', () => {
    expect(parsePolicy(`---\n${BASE}rules: [{level: None}]\n---\n`).policy.rules).toEqual([{ level: 'None' }]);
  });

  it('reads YAML 1.1 booleans as the API server does', () => {
    expect(parsePolicy(`${BASE}omitManagedFields: yes\nrules: [{level: None}]\n`).policy.omitManagedFields).toBe(true);
  });

  it('warns about unknown fields and drops them', () => {
    const { policy, warnings } = parsePolicy(
      `${BASE}extra: 1\nrules:\n- level: Metadata\n  stages: [Panic]\n  resources: [{group: apps, resource: [x]}]\n`,
      { source: 'p.yaml' },
    );
    expect(policy.rules).toEqual([{ level: 'Metadata', resources: [{ group: 'apps' }] }]);
    expect(warnings.sort()).toEqual([
      'p.yaml: extra: unknown field (ignored)',
      'p.yaml: rules[0].resources[0].resource: unknown field (ignored)',
      'p.yaml: rules[0].stages: unknown field (ignored)',
    ]);
  });

  it('warns about duplicate keys and keeps the last value', () => {
    const { policy, warnings } = parsePolicy(`${BASE}rules:\n- level: None\n  level: Request\n`, { source: 'p.yaml' });
    expect(policy.rules).toEqual([{ level: 'Request' }]);
    expect(warnings).toEqual(['p.yaml: line 5, column 3: duplicate key (the last value is used)']);
  });

  describe('rejects invalid policies, naming the file and the field', () => {
    const cases: { title: string; yaml: string; message: string | RegExp }[] = [
      {
        title: 'a rule without level',
        yaml: `${BASE}rules:\n- level: None\n- verbs: [get]\n`,
        message: /^policy\.yaml: rules\[1\]\.level: required field is missing/,
      },
      {
        title: 'an unknown level',
        yaml: `${BASE}rules:\n- level: None\n- level: None\n- level: Everything\n`,
        message:
          /^policy\.yaml: rules\[2\]\.level: Invalid option: expected one of .*"RequestResponse", got "Everything"$/,
      },
      {
        title: 'an unknown stage',
        yaml: `${BASE}omitStages: [RequestRecieved]\nrules: [{level: None}]\n`,
        message: /^policy\.yaml: omitStages\[0\]: Invalid option: .*, got "RequestRecieved"$/,
      },
      {
        title: 'zero rules',
        yaml: `${BASE}rules: []\n`,
        message: 'policy.yaml: rules: a policy needs at least one rule',
      },
      { title: 'no rules at all', yaml: BASE, message: /^policy\.yaml: rules: required field is missing/ },
      {
        title: 'apiVersion audit.k8s.io/v1beta1',
        yaml: 'apiVersion: audit.k8s.io/v1beta1\nkind: Policy\nrules: [{level: None}]\n',
        message:
          /^policy\.yaml: apiVersion: Invalid input: expected "audit\.k8s\.io\/v1", got "audit\.k8s\.io\/v1beta1" \(.*1\.24/,
      },
      {
        title: 'a wrong kind',
        yaml: 'apiVersion: audit.k8s.io/v1\nkind: PolicyList\nrules: [{level: None}]\n',
        message: /^policy\.yaml: kind: Invalid input: expected "Policy", got "PolicyList"$/,
      },
      {
        title: 'nonResourceURLs together with resources',
        yaml: `${BASE}rules:\n- level: None\n  nonResourceURLs: [/healthz]\n  resources: [{group: ""}]\n`,
        message:
          'policy.yaml: rules[0].nonResourceURLs: rules cannot apply to both regular resources and non-resource URLs',
      },
      {
        title: 'nonResourceURLs together with namespaces',
        yaml: `${BASE}rules:\n- level: None\n  nonResourceURLs: [/healthz]\n  namespaces: [default]\n`,
        message: /^policy\.yaml: rules\[0\]\.nonResourceURLs: rules cannot apply to both/,
      },
      {
        title: 'a * in the middle of a URL',
        yaml: `${BASE}rules:\n- level: None\n  nonResourceURLs: [/healthz, /api/*/foo]\n`,
        message:
          /^policy\.yaml: rules\[0\]\.nonResourceURLs\[1\]: must start with "\/" \(or be "\*"\), and "\*" may only/,
      },
      {
        title: 'a URL without leading slash',
        yaml: `${BASE}rules:\n- level: None\n  nonResourceURLs: [healthz]\n`,
        message: /^policy\.yaml: rules\[0\]\.nonResourceURLs\[0\]: must start with "\/"/,
      },
      {
        title: 'a group with a version',
        yaml: `${BASE}rules:\n- level: None\n  resources: [{group: rbac.authorization.k8s.io/v1}]\n`,
        message: 'policy.yaml: rules[0].resources[0].group: must be "", "*" or a DNS subdomain',
      },
      {
        title: 'resourceNames without resources',
        yaml: `${BASE}rules:\n- level: None\n  resources: [{group: "", resourceNames: [kube-proxy]}]\n`,
        message: 'policy.yaml: rules[0].resources[0].resourceNames: resourceNames requires at least one resource',
      },
      {
        title: 'a string where a list belongs',
        yaml: `${BASE}rules:\n- level: None\n  users: system:admin\n`,
        message: 'policy.yaml: rules[0].users: Invalid input: expected array, received string, got "system:admin"',
      },
      {
        title: 'a YAML syntax error',
        yaml: `${BASE}rules:\n- level: None\n  verbs: [get\n`,
        message: /^policy\.yaml: line 6, column 1: /,
      },
      {
        title: 'a scalar document',
        yaml: 'just text\n',
        message: 'policy.yaml: expected a Policy mapping with apiVersion, kind and rules, got "just text"',
      },
      {
        title: 'an empty document',
        yaml: '# nothing\n',
        message: 'policy.yaml: the document is empty; expected a Policy',
      },
      {
        title: 'an empty first document before a policy',
        yaml: `---\n---\n${BASE}rules: [{level: None}]\n`,
        message:
          'policy.yaml: line 1, column 1: the first document is empty; expected a Policy (only the first is read)',
      },
      {
        title: 'JSON with a comment, naming the line',
        yaml: '{\n  // c\n  "apiVersion": "audit.k8s.io/v1", "kind": "Policy", "rules": [{"level": "None"}]\n}',
        message:
          /^policy\.yaml: (line 2, column 3: )?not valid JSON: a policy file that starts with "\{" is read as strict JSON/,
      },
    ];
    it.each(cases)('rejects $title', ({ yaml, message }) => {
      let error: unknown;
      try {
        parsePolicy(yaml, { source: 'policy.yaml' });
      } catch (caught) {
        error = caught;
      }
      expect(error).toBeInstanceOf(PolicyError);
      expect((error as PolicyError).source).toBe('policy.yaml');
      expect((error as PolicyError).issues.length).toBeGreaterThan(0);
      if (typeof message === 'string') expect((error as PolicyError).message).toBe(message);
      else expect((error as PolicyError).message).toMatch(message);
    });
  });

  it('reports every problem on its own line, and never the document', () => {
    const secret = 'a-long-value-that-must-not-be-echoed';
    const yaml = `${BASE}metadata: {annotations: {note: ${secret}}}\nrules:\n- level: Loud\n  omitStages: [Never]\n`;
    expect(() => parsePolicy(yaml, { source: 'p.yaml' })).toThrow(PolicyError);
    const message = (() => {
      try {
        parsePolicy(yaml, { source: 'p.yaml' });
      } catch (error) {
        return (error as PolicyError).message;
      }
    })();
    expect(message?.split('\n')).toEqual([
      expect.stringMatching(/^p\.yaml: rules\[0\]\.level: .*got "Loud"$/),
      expect.stringMatching(/^p\.yaml: rules\[0\]\.omitStages\[0\]: .*got "Never"$/),
    ]);
    expect(message).not.toContain(secret);
  });

  it('omits the source prefix when none is given', () => {
    expect(() => parsePolicy(`${BASE}rules: []\n`)).toThrow(/^rules: a policy needs at least one rule$/);
  });
});

describe('policyRequestOf', () => {
  it('maps a v1 event of the core group (apiGroup omitted)', () => {
    const event = JSON.parse(fixture('real/falco/exec_pod.json'));
    expect(policyRequestOf(event)).toEqual({
      user: { username: 'minikube-user', groups: ['system:masters', 'system:authenticated'] },
      verb: 'create',
      resourceRequest: true,
      namespace: 'default',
      apiGroup: '',
      resource: 'pods',
      subresource: 'exec',
      name: 'nginx-deployment-7998647bdf-phvq7',
      path: '/api/v1/namespaces/default/pods/nginx-deployment-7998647bdf-phvq7/exec',
    });
  });

  it('takes apiGroup from a v1 objectRef', () => {
    const request = policyRequestOf({
      verb: 'update',
      user: { username: 'system:kube-controller-manager' },
      objectRef: { resource: 'deployments', subresource: 'status', apiGroup: 'apps', apiVersion: 'v1', name: 'web' },
      requestURI: '/apis/apps/v1/namespaces/prod/deployments/web/status',
    });
    expect(request).toMatchObject({ resourceRequest: true, apiGroup: 'apps', namespace: '', subresource: 'status' });
  });

  it('derives apiGroup from a v1alpha1 apiVersion "group/version"', () => {
    const ref = (apiVersion: string) => policyRequestOf({ verb: 'get', objectRef: { resource: 'x', apiVersion } });
    expect(ref('rbac.authorization.k8s.io/v1beta1').apiGroup).toBe('rbac.authorization.k8s.io');
    expect(ref('v1').apiGroup).toBe('');
    expect(policyRequestOf({ verb: 'get', objectRef: {} }).apiGroup).toBe('');
  });

  it('maps an event without objectRef to a non-resource request with the path before ?', () => {
    const request = policyRequestOf({
      verb: 'get',
      user: { username: 'system:admin', groups: ['system:masters'] },
      requestURI: '/apis/metrics.k8s.io/v1beta1?timeout=32s',
      objectRef: null,
    });
    expect(request).toEqual({
      user: { username: 'system:admin', groups: ['system:masters'] },
      verb: 'get',
      resourceRequest: false,
      path: '/apis/metrics.k8s.io/v1beta1',
    });
  });

  it('uses the authenticated user, not the impersonated one', () => {
    const event = JSON.parse(fixture('real/audit2rbac/demo.log').split('\n')[0] as string);
    expect(event.impersonatedUser.username).toBe('bob');
    expect(policyRequestOf(event).user?.username).toBe('system:admin');
  });

  it('maps user {} (no authenticated user) and a missing user to null', () => {
    expect(policyRequestOf({ verb: 'get', user: {} }).user).toBeNull();
    expect(policyRequestOf({ verb: 'get' }).user).toBeNull();
  });

  it('feeds real events through a real policy', () => {
    const check = createPolicyChecker(parsePolicy(fixture('real/policies/falco-k8saudit-audit-policy.yaml')).policy);
    const decide = (file: string) =>
      check(policyRequestOf(JSON.parse(fixture(`real/falco/${file}`).split('\n')[0] as string)));
    // pods/exec is not pods (rule 1) nor pods/log (rule 3): the core-group rule 10 takes it.
    expect(decide('exec_pod.json').level).toBe('Request');
    expect(decide('create_secret.json').level).toBe('Metadata');
    expect(decide('create_configmap_no_sensitive_values.json').level).toBe('RequestResponse');
    expect(decide('create_clusterrolebinding.json').level).toBe('RequestResponse');
    expect(sorted(decide('create_secret.json').omitStages)).toEqual(['RequestReceived']);
  });
});
