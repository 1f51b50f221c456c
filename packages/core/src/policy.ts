/**
 * @module
 * The audit `Policy` of kube-apiserver: parse a policy file, and decide per request which level and
 * stages to record, with exactly the matching rules of `k8s.io/apiserver/pkg/audit/policy/checker.go`.
 */
import type { z } from 'zod';
import { readGoNulls, readPolicyDocument } from './internal/policy-document';
import { requestNameOf } from './internal/request-name';
import { type GroupResources, type Level, Policy, type PolicyRule, type Stage } from './schema';

/** The request attributes a policy rule is matched against (authorizer.Attributes). */
export interface PolicyRequest {
  /** null/undefined = no authenticated user */
  user?: { username?: string; groups?: readonly string[] } | null;
  verb: string;
  /** true for resource requests (the event has an objectRef) */
  resourceRequest: boolean;
  namespace?: string;
  apiGroup?: string;
  resource?: string;
  subresource?: string;
  name?: string;
  /** for non-resource requests: the request path without query */
  path?: string;
}

/** What to record for one request. Checkers return shared, frozen decisions: do not mutate them. */
export interface PolicyDecision {
  level: Level;
  omitStages: ReadonlySet<Stage>;
  omitManagedFields: boolean;
}

/** Evaluates one request against a compiled policy. */
export type PolicyChecker = (request: PolicyRequest) => PolicyDecision;

/** One problem found in a policy document. */
export interface PolicyIssue {
  /** Field path such as `rules[2].level`; `''` for the document itself or a YAML syntax error. */
  path: string;
  message: string;
  /** 1-based line and column, for YAML syntax errors. */
  line?: number;
  column?: number;
}

/** A policy document that the API server would refuse to load. */
export class PolicyError extends Error {
  override readonly name = 'PolicyError';
  readonly source?: string;
  readonly issues: readonly PolicyIssue[];

  constructor(issues: readonly PolicyIssue[], source?: string) {
    super(formatIssues(issues, source));
    this.issues = issues;
    if (source !== undefined) this.source = source;
  }
}

/** More issues than this are summarised, so that an error never turns into a dump of the document. */
const MAX_REPORTED_ISSUES = 20;

function formatIssue(issue: PolicyIssue, source: string | undefined): string {
  const where =
    issue.line === undefined
      ? issue.path
      : `line ${issue.line}${issue.column === undefined ? '' : `, column ${issue.column}`}`;
  const prefix = [source, where].filter((part) => part !== undefined && part !== '').join(': ');
  return prefix === '' ? issue.message : `${prefix}: ${issue.message}`;
}

function formatIssues(issues: readonly PolicyIssue[], source: string | undefined): string {
  const lines = issues.slice(0, MAX_REPORTED_ISSUES).map((issue) => formatIssue(issue, source));
  if (issues.length > MAX_REPORTED_ISSUES) lines.push(`... and ${issues.length - MAX_REPORTED_ISSUES} more problems`);
  return lines.join('\n');
}

/** `['rules', 2, 'level']` → `rules[2].level` */
function formatPath(path: readonly PropertyKey[]): string {
  let out = '';
  for (const key of path) {
    if (typeof key === 'number') out += `[${key}]`;
    else out += out === '' ? String(key) : `.${String(key)}`;
  }
  return out;
}

function valueAt(root: unknown, path: readonly PropertyKey[]): unknown {
  let value = root;
  for (const key of path) {
    if (value === null || typeof value !== 'object') return undefined;
    value = (value as Record<PropertyKey, unknown>)[key];
  }
  return value;
}

/** A short rendering of the offending value: scalars only, truncated, never a whole sub-document. */
function describeValue(value: unknown): string {
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'a list';
  if (typeof value === 'object') return 'a mapping';
  const text = JSON.stringify(value) ?? String(value);
  return text.length > 60 ? `${text.slice(0, 57)}...` : text;
}

function issueMessage(issue: z.core.$ZodIssue, data: unknown): string {
  const value = valueAt(data, issue.path);
  // validateLevel: an empty level is "Required value", as a missing one.
  const empty = value === '' && issue.path[issue.path.length - 1] === 'level';
  if ((value === undefined || empty) && (issue.code === 'invalid_type' || issue.code === 'invalid_value')) {
    return `required field is missing (${issue.message})`;
  }
  if (issue.code === 'invalid_value' || issue.code === 'invalid_type') {
    let message = `${issue.message}, got ${describeValue(value)}`;
    // kube-apiserver reads only audit.k8s.io/v1 policies since 1.24 (v1alpha1 and v1beta1 were removed).
    if (
      issue.path.length === 1 &&
      issue.path[0] === 'apiVersion' &&
      /^audit\.k8s\.io\/v1(alpha|beta)1$/.test(`${value}`)
    ) {
      message += ' (kube-apiserver rejects v1alpha1 and v1beta1 policies since Kubernetes 1.24)';
    }
    return message;
  }
  return issue.message;
}

function isPlainObject(value: unknown): value is Record<string, unknown> {
  return value !== null && typeof value === 'object' && !Array.isArray(value);
}

/** Deletes the unknown keys that zod reported, so that the lenient second pass sees only known fields. */
function stripUnknownKeys(data: unknown, issues: readonly z.core.$ZodIssue[]): void {
  for (const issue of issues) {
    if (issue.code !== 'unrecognized_keys') continue;
    const target = valueAt(data, issue.path);
    if (!isPlainObject(target)) continue;
    for (const key of issue.keys) delete target[key];
  }
}

/**
 * Parses and validates a Policy document (YAML or JSON) the way kube-apiserver loads `--audit-policy-file`.
 *
 * Unknown fields are warnings, as in the API server, which decodes strictly and then falls back to lenient
 * decoding with a logged warning. Wrong types or values, a missing level, zero rules and any apiVersion
 * other than `audit.k8s.io/v1` are errors.
 *
 * @throws {PolicyError} naming the source and the field path, e.g. `policy.yaml: rules[2].level: Invalid option: ...`
 * @example
 * const { policy, warnings } = parsePolicy(readFileSync('audit-policy.yaml', 'utf8'), { source: 'audit-policy.yaml' });
 * for (const warning of warnings) console.warn(warning);
 * const check = createPolicyChecker(policy);
 */
export function parsePolicy(text: string, options: { source?: string } = {}): { policy: Policy; warnings: string[] } {
  const { source } = options;
  const warnings: string[] = [];
  const read = readPolicyDocument(text, (issue) => warnings.push(formatIssue(issue, source)));
  if (read.issues) throw new PolicyError(read.issues, source);
  const data = read.data;
  if (!isPlainObject(data)) {
    throw new PolicyError(
      [{ path: '', message: `expected a Policy mapping with apiVersion, kind and rules, got ${describeValue(data)}` }],
      source,
    );
  }
  readGoNulls(data);
  // The decoder fills a missing kind from the type it decodes into (gvkWithDefaults in
  // apimachinery's json.Serializer.Decode); a missing apiVersion stays an error.
  if (data.kind === undefined || data.kind === '') data.kind = 'Policy';

  let result = Policy.safeParse(data);
  if (!result.success) {
    const unknown = result.error.issues.filter((issue) => issue.code === 'unrecognized_keys');
    const errors = result.error.issues.filter((issue) => issue.code !== 'unrecognized_keys');
    for (const issue of unknown) {
      for (const key of issue.keys) {
        warnings.push(
          formatIssue({ path: formatPath([...issue.path, key]), message: 'unknown field (ignored)' }, source),
        );
      }
    }
    if (errors.length > 0) {
      throw new PolicyError(
        errors.map((issue) => ({ path: formatPath(issue.path), message: issueMessage(issue, data) })),
        source,
      );
    }
    stripUnknownKeys(data, unknown);
    result = Policy.safeParse(data);
    if (!result.success) {
      throw new PolicyError(
        result.error.issues.map((issue) => ({ path: formatPath(issue.path), message: issueMessage(issue, data) })),
        source,
      );
    }
  }
  result.data.rules.forEach((rule, r) => {
    rule.resources?.forEach((gr, g) => {
      if (gr.group === '*') {
        warnings.push(
          formatIssue(
            {
              path: `rules[${r}].resources[${g}].group`,
              message:
                '"*" (every API group) is accepted by kube-apiserver only from Kubernetes 1.36; older API servers refuse this policy',
            },
            source,
          ),
        );
      }
    });
  });
  return { policy: result.data, warnings };
}

/** A Set that throws on mutation, because checkers hand the same decision to every caller. */
class FrozenSet<T> extends Set<T> {
  constructor(values: Iterable<T>) {
    super();
    for (const value of values) super.add(value);
    Object.freeze(this);
  }
  override add(): this {
    throw new TypeError('PolicyDecision.omitStages is shared and read-only');
  }
  override delete(): boolean {
    throw new TypeError('PolicyDecision.omitStages is shared and read-only');
  }
  override clear(): void {
    throw new TypeError('PolicyDecision.omitStages is shared and read-only');
  }
}

function decision(level: Level, omitStages: Iterable<Stage>, omitManagedFields: boolean): PolicyDecision {
  return Object.freeze({ level, omitStages: new FrozenSet(omitStages), omitManagedFields });
}

function setOrUndefined(values: readonly string[] | undefined): ReadonlySet<string> | undefined {
  return values !== undefined && values.length > 0 ? new Set(values) : undefined;
}

/** Go's strings.TrimRight takes a *cutset*, not a suffix: `TrimRight("/healthz**", "*")` is `/healthz`. */
function trimRightCutset(value: string, cutset: string): string {
  let end = value.length;
  while (end > 0 && cutset.includes(value.charAt(end - 1))) end--;
  return value.slice(0, end);
}

type Matcher = (request: PolicyRequest) => boolean;

const ALWAYS: Matcher = () => true;

/** One GroupResources entry compiled into a predicate on (apiGroup, resource, subresource, name). */
function compileGroupResources(gr: GroupResources): Matcher {
  // A missing group is Go's zero value "", the core group.
  const group = gr.group ?? '';
  const anyGroup = group === '*';
  const resources = gr.resources ?? [];
  const names = setOrUndefined(gr.resourceNames);

  // No resources: every resource and subresource of the group, whatever resourceNames says.
  if (resources.length === 0) {
    return anyGroup ? ALWAYS : (request) => (request.apiGroup ?? '') === group;
  }

  let all = false;
  /** entries compared with `resource` when the request has no subresource */
  const exact = new Set<string>();
  /** entries compared with `resource/subresource`, kept apart to avoid building that string per request */
  const exactWithSlash: string[] = [];
  /** `*\/sub` entries: any resource whose subresource is `sub` */
  const subresourceOfAny = new Set<string>();
  /** `res/*` entries: every subresource of `res`, and bare `res` too */
  const anySubresourceOf = new Set<string>();
  for (const res of resources) {
    if (res === '*') all = true;
    exact.add(res);
    if (res.includes('/')) exactWithSlash.push(res);
    // checker.go strips exactly one `*/` prefix or `/*` suffix (strings.TrimPrefix/TrimSuffix since
    // Kubernetes 1.18), so `*//exec` wants subresource `/exec` and `pods//*` resource `pods/`: neither
    // matches a real request.
    if (res.startsWith('*/')) subresourceOfAny.add(res.slice(2));
    // checker.go tests only `resource == TrimSuffix(res, "/*")`, never the subresource: so `pods/*` also
    // matches a request for `pods` itself.
    if (res.endsWith('/*')) anySubresourceOf.add(res.slice(0, -2));
  }

  return (request) => {
    if (!anyGroup && (request.apiGroup ?? '') !== group) return false;
    // resourceNames never matches list/create/deletecollection: their name is "" (unless "" is listed).
    if (names !== undefined && !names.has(request.name ?? '')) return false;
    if (all) return true;
    const resource = request.resource ?? '';
    const subresource = request.subresource ?? '';
    if (subresource === '') {
      if (exact.has(resource)) return true;
    } else {
      // `pods` does not match `pods/log`: with a subresource the entry must equal `resource/subresource`.
      for (let i = 0; i < exactWithSlash.length; i++) {
        const res = exactWithSlash[i] as string;
        if (
          res.length === resource.length + 1 + subresource.length &&
          res.charCodeAt(resource.length) === 47 &&
          res.startsWith(resource) &&
          res.endsWith(subresource)
        ) {
          return true;
        }
      }
      if (subresourceOfAny.has(subresource)) return true;
    }
    return anySubresourceOf.has(resource);
  };
}

/** ruleMatchesResource: namespaces and resources; a non-resource request never matches. */
function compileResourceMatcher(rule: PolicyRule): Matcher {
  const namespaces = setOrUndefined(rule.namespaces);
  const groupResources = (rule.resources ?? []).map(compileGroupResources);
  const count = groupResources.length;
  return (request) => {
    if (!request.resourceRequest) return false;
    // Cluster-scoped requests have namespace "", so `namespaces: [""]` selects them.
    if (namespaces !== undefined && !namespaces.has(request.namespace ?? '')) return false;
    if (count === 0) return true;
    for (let i = 0; i < count; i++) if ((groupResources[i] as Matcher)(request)) return true;
    return false;
  };
}

/** ruleMatchesNonResource: `*`, an exact path, or `prefix*` as a plain string prefix (not segment-aware). */
function compileNonResourceMatcher(urls: readonly string[]): Matcher {
  const exact = new Set<string>();
  const prefixes: string[] = [];
  let all = false;
  for (const url of urls) {
    if (url === '*') all = true;
    exact.add(url);
    // pathMatches strips *all* trailing '*' (strings.TrimRight(spec, "*")): `/healthz*` matches `/healthzfoo`.
    if (url.endsWith('*')) prefixes.push(trimRightCutset(url, '*'));
  }
  return (request) => {
    if (request.resourceRequest) return false;
    if (all) return true;
    const path = request.path ?? '';
    if (exact.has(path)) return true;
    for (let i = 0; i < prefixes.length; i++) if (path.startsWith(prefixes[i] as string)) return true;
    return false;
  };
}

/** ruleMatches: every non-empty selector must match; empty or missing selectors match anything. */
function compileRule(rule: PolicyRule): Matcher {
  const users = setOrUndefined(rule.users);
  const userGroups = setOrUndefined(rule.userGroups);
  const verbs = setOrUndefined(rule.verbs);
  // A rule with namespaces or resources is a resource rule; otherwise one with nonResourceURLs is a
  // non-resource rule; a rule with neither matches resource and non-resource requests alike.
  const target: Matcher | undefined =
    (rule.namespaces?.length ?? 0) > 0 || (rule.resources?.length ?? 0) > 0
      ? compileResourceMatcher(rule)
      : (rule.nonResourceURLs?.length ?? 0) > 0
        ? compileNonResourceMatcher(rule.nonResourceURLs ?? [])
        : undefined;

  return (request) => {
    // Selectors are a conjunction, so their order changes only the cost: the verb and the target
    // first, the user last, since a caller may decode the user only when it is asked for.
    if (verbs !== undefined && !verbs.has(request.verb)) return false;
    if (target !== undefined && !target(request)) return false;
    // users and userGroups test the authenticated user (the impersonator, as the audit filter runs
    // before impersonation), and fail when there is none.
    if (users !== undefined) {
      const user = request.user;
      if (user == null || !users.has(user.username ?? '')) return false;
    }
    if (userGroups !== undefined) {
      const groups = request.user?.groups;
      if (groups == null) return false;
      let found = false;
      for (let i = 0; i < groups.length; i++) {
        if (userGroups.has(groups[i] as string)) {
          found = true;
          break;
        }
      }
      if (!found) return false;
    }
    return true;
  };
}

/**
 * Compiles a validated Policy once into a checker. The checker returns the first matching rule's level,
 * `union(policy.omitStages, rule.omitStages)` and the rule's `omitManagedFields` (else the policy's); with no
 * matching rule it returns level `None` with the policy's stages. Decisions are precomputed, frozen and shared.
 *
 * @example
 * const check = createPolicyChecker(policy);
 * const { level, omitStages } = check(policyRequestOf(event));
 * if (level === 'None' || omitStages.has(event.stage)) return; // the API server would not have sent it
 */
export function createPolicyChecker(policy: Policy): PolicyChecker {
  const policyStages = policy.omitStages ?? [];
  const policyOmitManagedFields = policy.omitManagedFields ?? false;
  const rules = policy.rules ?? [];
  const matchers = rules.map(compileRule);
  const decisions = rules.map((rule) =>
    decision(
      rule.level,
      [...policyStages, ...(rule.omitStages ?? [])],
      rule.omitManagedFields ?? policyOmitManagedFields,
    ),
  );
  // DefaultAuditLevel: a request no rule matches is not audited.
  const noMatch = decision('None', policyStages, policyOmitManagedFields);
  const count = matchers.length;

  return (request) => {
    for (let i = 0; i < count; i++) {
      if ((matchers[i] as Matcher)(request)) return decisions[i] as PolicyDecision;
    }
    return noMatch;
  };
}

function stringOr(value: unknown, fallback: string): string {
  return typeof value === 'string' ? value : fallback;
}

function stringList(value: unknown): readonly string[] | undefined {
  if (!Array.isArray(value)) return undefined;
  return value.every((item) => typeof item === 'string')
    ? (value as string[])
    : value.filter((item) => typeof item === 'string');
}

/**
 * Builds the PolicyRequest that the API server evaluated for an audit event (any of v1, v1beta1, v1alpha1).
 *
 * The event's `user` is the authenticated user (never `impersonatedUser`); `user: {}` means there was none.
 * The name is the one the request URL carried (`requestURI`, read as the API server's RequestInfo reads it,
 * with `list`/`watch` taking a `metadata.name` field selector), not `objectRef.name`: the API server fills
 * that from the body of a create after it has decided the policy.
 * An event without `objectRef` is a non-resource request. v1alpha1 objectRefs have no `apiGroup` but
 * `apiVersion: "group/version"` (`"v1"` alone is the core group).
 *
 * @example
 * policyRequestOf({ verb: 'get', user: { username: 'alice' }, requestURI: '/healthz?verbose' });
 * // → { user: { username: 'alice' }, verb: 'get', resourceRequest: false, path: '/healthz' }
 */
export function policyRequestOf(event: {
  user?: unknown;
  verb?: unknown;
  objectRef?: unknown;
  requestURI?: unknown;
}): PolicyRequest {
  const request: PolicyRequest = { user: userOf(event.user), verb: stringOr(event.verb, ''), resourceRequest: false };
  if (typeof event.requestURI === 'string') {
    const query = event.requestURI.indexOf('?');
    request.path = query === -1 ? event.requestURI : event.requestURI.slice(0, query);
  }
  const ref = event.objectRef;
  if (isPlainObject(ref)) {
    request.resourceRequest = true;
    request.namespace = stringOr(ref.namespace, '');
    request.apiGroup = typeof ref.apiGroup === 'string' ? ref.apiGroup : groupOfApiVersion(ref.apiVersion);
    request.resource = stringOr(ref.resource, '');
    request.subresource = stringOr(ref.subresource, '');
    // The name in the URL, as RequestInfo resolves it: objectRef.name of a create is filled from the
    // body only after the policy decision (LogRequestObject), so it must not decide resourceNames.
    request.name = typeof event.requestURI === 'string' ? requestNameOf(event.requestURI, request.verb) : '';
  }
  return request;
}

/** `apps/v1` → `apps`; `v1` (or nothing) → `""`, the core group. */
function groupOfApiVersion(apiVersion: unknown): string {
  if (typeof apiVersion !== 'string') return '';
  const slash = apiVersion.indexOf('/');
  return slash === -1 ? '' : apiVersion.slice(0, slash);
}

function userOf(user: unknown): PolicyRequest['user'] {
  if (!isPlainObject(user)) return null;
  const username = typeof user.username === 'string' ? user.username : undefined;
  const groups = stringList(user.groups);
  // NewEventFromRequest fills `user` only from a non-nil authenticated user, so `{}` is the nil user that
  // the checker saw (e.g. a request that failed authentication).
  if (username === undefined && groups === undefined) return null;
  const out: { username?: string; groups?: readonly string[] } = {};
  if (username !== undefined) out.username = username;
  if (groups !== undefined) out.groups = groups;
  return out;
}
