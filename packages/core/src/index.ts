/**
 * @module
 * `@kube-audit/core`: parse Kubernetes audit webhook bodies and audit logs, run the event
 * pipeline (policy, redaction, dedupe, enrichment, truncation) and serialise one line per event.
 */

export { createDedupe, type Dedupe } from './dedupe';
// Errors
export { PayloadError } from './errors';
export { AuditEvent } from './event';
// Cloud exports: EKS, AKS, GKE, OpenShift
export {
  AKS_SKIPPED,
  gkeRequestOf,
  LOG_FORMATS,
  type LogFormat,
  SOURCE_ANNOTATION,
  type UnwrapFailure,
  type UnwrapOptions,
  type UnwrappedEvent,
  type UnwrappedRecord,
  unwrapRecords,
} from './formats';
// Parsing and serialisation
export { type OtherLine, type ParsedLines, parseLines } from './lines';
export { DEFAULT_API_VERSION, type InvalidItem, type ParsedPayload, type ParseOptions, parsePayload } from './parse';
// Pipeline
export {
  type BatchContext,
  type BatchResult,
  CLUSTER_ANNOTATION,
  createPipeline,
  DEFAULT_DEDUPE_CACHE_SIZE,
  DEFAULT_MAX_EVENT_BYTES,
  type Pipeline,
  type PipelineOptions,
} from './pipeline';
export {
  createPolicyChecker,
  type PolicyChecker,
  type PolicyDecision,
  PolicyError,
  type PolicyIssue,
  type PolicyRequest,
  parsePolicy,
  policyRequestOf,
} from './policy';
export { maskExecCommands, REDACTED_ANNOTATION } from './redact';
// Schemas and types of the audit.k8s.io data model
export {
  AUDIT_API_VERSIONS,
  AuditApiVersion,
  Event,
  EventList,
  GroupResources,
  LEVELS,
  Level,
  ObjectReference,
  Policy,
  PolicyRule,
  STAGES,
  Stage,
  Status,
  UserInfo,
} from './schema';
export { serializeEvent } from './serialize';
// Settings: the pipeline's options as environment variables and flags
export {
  PIPELINE_SETTINGS,
  type Setting,
  type SettingContext,
  SettingError,
  type SettingFlag,
  type SettingValues,
  settingParsers,
} from './settings';
export { CUT_ANNOTATION, MIN_MAX_EVENT_BYTES, TRUNCATED_ANNOTATION } from './truncate';
