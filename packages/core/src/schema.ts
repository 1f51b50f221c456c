/**
 * @module
 * zod schemas of the `audit.k8s.io` data model (v1, with the fields that v1beta1 and v1alpha1
 * events still carry). Objects are `looseObject`s: audit events grow fields every release, and a
 * receiver must keep what it does not know.
 */
import { z } from 'zod';

/** The audit API versions a receiver meets: v1 (1.12+) and the pre-1.24 betas. */
export const AUDIT_API_VERSIONS = ['audit.k8s.io/v1', 'audit.k8s.io/v1beta1', 'audit.k8s.io/v1alpha1'] as const;
/** One of {@link AUDIT_API_VERSIONS}. */
export const AuditApiVersion = z.enum(AUDIT_API_VERSIONS);
export type AuditApiVersion = z.infer<typeof AuditApiVersion>;

/** Ordered from least to most detail. */
export const LEVELS = ['None', 'Metadata', 'Request', 'RequestResponse'] as const;
/** How much of a request an event records: one of {@link LEVELS}. */
export const Level = z.enum(LEVELS);
export type Level = z.infer<typeof Level>;

/** The stages of a request at which the API server emits an event, in order. */
export const STAGES = ['RequestReceived', 'ResponseStarted', 'ResponseComplete', 'Panic'] as const;
/** One of {@link STAGES}. */
export const Stage = z.enum(STAGES);
export type Stage = z.infer<typeof Stage>;

/** authentication/v1 UserInfo; every field is optional and the object may be `{}`. */
export const UserInfo = z.looseObject({
  username: z.string().optional(),
  uid: z.string().optional(),
  groups: z.array(z.string()).optional(),
  extra: z.record(z.string(), z.array(z.string())).optional(),
});
export type UserInfo = z.infer<typeof UserInfo>;

/** v1alpha1 has no `apiGroup`; its `apiVersion` is `group/version` instead. */
export const ObjectReference = z.looseObject({
  resource: z.string().optional(),
  namespace: z.string().optional(),
  name: z.string().optional(),
  uid: z.string().optional(),
  apiGroup: z.string().optional(),
  apiVersion: z.string().optional(),
  resourceVersion: z.string().optional(),
  subresource: z.string().optional(),
});
export type ObjectReference = z.infer<typeof ObjectReference>;

/** meta/v1 Status as it appears in `responseStatus`. */
export const Status = z.looseObject({
  status: z.string().optional(),
  message: z.string().optional(),
  reason: z.string().optional(),
  code: z.number().int().optional(),
});
export type Status = z.infer<typeof Status>;

/** MicroTime or Time; Go writes a zero time as `null`. */
const Timestamp = z.string().nullable().optional();

/**
 * One audit event. Required: the fields without `omitempty` upstream that identify the event.
 * Timestamps are optional because events of old clusters carry `timestamp` instead.
 */
export const Event = z.looseObject({
  kind: z.literal('Event').optional(),
  apiVersion: z.string().optional(),
  level: Level,
  auditID: z.string(),
  stage: Stage,
  requestURI: z.string(),
  verb: z.string(),
  /** `null` decodes to an empty UserInfo in Go (encoding/json leaves a struct at its zero value). */
  user: UserInfo.nullable().optional(),
  impersonatedUser: UserInfo.nullable().optional(),
  authenticationMetadata: z.looseObject({ impersonationConstraint: z.string().optional() }).nullable().optional(),
  sourceIPs: z.array(z.string()).nullable().optional(),
  /** `null` decodes to "" in Go. */
  userAgent: z.string().nullable().optional(),
  objectRef: ObjectReference.nullable().optional(),
  responseStatus: Status.nullable().optional(),
  /** Raw JSON as the API server embedded it: an object, or an array (json-patch), or a string. */
  requestObject: z.unknown().optional(),
  responseObject: z.unknown().optional(),
  requestReceivedTimestamp: Timestamp,
  stageTimestamp: Timestamp,
  annotations: z.record(z.string(), z.string()).nullable().optional(),
  /** v1beta1/v1alpha1 only. */
  timestamp: Timestamp,
  metadata: z.looseObject({}).optional(),
});
export type Event = z.infer<typeof Event>;

/** A batch of events as the webhook posts it; items are checked one by one by {@link parsePayload}. */
export const EventList = z.looseObject({
  kind: z.literal('EventList').optional(),
  apiVersion: AuditApiVersion.optional(),
  metadata: z.looseObject({}).nullable().optional(),
  /** `null` or absent is an empty batch, as encoding/json decodes it into a nil slice. */
  items: z.array(z.unknown()).nullable().optional(),
});
export type EventList = z.infer<typeof EventList>;

// Policy validation follows pkg/apis/audit/validation/validation.go.
const nonResourceUrl = z
  .string()
  .refine((url) => url === '*' || (url.startsWith('/') && !url.slice(0, -1).includes('*')), {
    message: 'must start with "/" (or be "*"), and "*" may only be the last character',
  });
const dnsSubdomain = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/;

/** The resources a Policy rule selects: an API group, resources (`pods`, `pods/log`, `*`), names. */
export const GroupResources = z
  .strictObject({
    group: z
      .string()
      .refine((group) => group === '' || group === '*' || (group.length <= 253 && dnsSubdomain.test(group)), {
        message: 'must be "", "*" or a DNS subdomain',
      })
      .optional(),
    resources: z.array(z.string()).optional(),
    resourceNames: z.array(z.string()).optional(),
  })
  .refine((gr) => !gr.resourceNames?.length || !!gr.resources?.length, {
    message: 'resourceNames requires at least one resource',
    path: ['resourceNames'],
  });
export type GroupResources = z.infer<typeof GroupResources>;

/** One rule of an audit Policy; the first rule that matches a request sets its level. */
export const PolicyRule = z
  .strictObject({
    level: Level,
    users: z.array(z.string()).optional(),
    userGroups: z.array(z.string()).optional(),
    verbs: z.array(z.string()).optional(),
    resources: z.array(GroupResources).optional(),
    namespaces: z.array(z.string()).optional(),
    nonResourceURLs: z.array(nonResourceUrl).optional(),
    omitStages: z.array(Stage).optional(),
    omitManagedFields: z.boolean().optional(),
  })
  .refine((rule) => !rule.nonResourceURLs?.length || (!rule.resources?.length && !rule.namespaces?.length), {
    message: 'rules cannot apply to both regular resources and non-resource URLs',
    path: ['nonResourceURLs'],
  });
export type PolicyRule = z.infer<typeof PolicyRule>;

/** meta/v1 ObjectMeta as a Policy's `metadata`: its fields are known, so others are unknown fields. */
export const ObjectMeta = z.strictObject({
  name: z.string().optional(),
  generateName: z.string().optional(),
  namespace: z.string().optional(),
  selfLink: z.string().optional(),
  uid: z.string().optional(),
  resourceVersion: z.string().optional(),
  generation: z.number().int().optional(),
  creationTimestamp: z.string().optional(),
  deletionTimestamp: z.string().optional(),
  deletionGracePeriodSeconds: z.number().int().optional(),
  labels: z.record(z.string(), z.string()).optional(),
  annotations: z.record(z.string(), z.string()).optional(),
  ownerReferences: z.array(z.looseObject({})).optional(),
  finalizers: z.array(z.string()).optional(),
  managedFields: z.array(z.looseObject({})).optional(),
});
export type ObjectMeta = z.infer<typeof ObjectMeta>;

/**
 * An `audit.k8s.io/v1` Policy, as kube-apiserver reads `--audit-policy-file` (see {@link parsePolicy}).
 * A GroupResources `group: "*"` (every group) is valid from Kubernetes 1.36 on; older API servers refuse it.
 */
export const Policy = z.strictObject({
  apiVersion: z.literal('audit.k8s.io/v1'),
  kind: z.literal('Policy'),
  metadata: ObjectMeta.optional(),
  rules: z.array(PolicyRule).min(1, 'a policy needs at least one rule'),
  omitStages: z.array(Stage).optional(),
  omitManagedFields: z.boolean().optional(),
});
export type Policy = z.infer<typeof Policy>;
