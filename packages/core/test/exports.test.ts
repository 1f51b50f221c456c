/**
 * The public API of @kube-audit/core, pinned: a name added to or dropped from src/index.ts shows
 * up here, in review, as a change to what users can import. Each name is documented for the
 * editor's hover, and each function with an example.
 */
import { describe, expect, it } from 'vitest';
import * as core from '../src/index';
import { publicApi } from './support/api';

describe('the public API', () => {
  it('exports these values', () => {
    expect(Object.keys(core).sort()).toMatchInlineSnapshot(`
      [
        "AKS_SKIPPED",
        "AUDIT_API_VERSIONS",
        "AuditApiVersion",
        "AuditEvent",
        "CLUSTER_ANNOTATION",
        "CUT_ANNOTATION",
        "DEFAULT_API_VERSION",
        "DEFAULT_DEDUPE_CACHE_SIZE",
        "DEFAULT_MAX_EVENT_BYTES",
        "Event",
        "EventList",
        "GroupResources",
        "LEVELS",
        "LOG_FORMATS",
        "Level",
        "MIN_MAX_EVENT_BYTES",
        "ObjectReference",
        "PIPELINE_SETTINGS",
        "PayloadError",
        "Policy",
        "PolicyError",
        "PolicyRule",
        "REDACTED_ANNOTATION",
        "SOURCE_ANNOTATION",
        "STAGES",
        "SettingError",
        "Stage",
        "Status",
        "TRUNCATED_ANNOTATION",
        "UserInfo",
        "createDedupe",
        "createPipeline",
        "createPolicyChecker",
        "gkeRequestOf",
        "maskExecCommands",
        "parseLines",
        "parsePayload",
        "parsePolicy",
        "policyRequestOf",
        "serializeEvent",
        "settingParsers",
        "unwrapRecords",
      ]
    `);
  });

  it('exports these names, types included', () => {
    const names = publicApi().names.map(({ name, kind }) => `${name}: ${kind}`);
    expect(names.sort()).toMatchInlineSnapshot(`
      [
        "AKS_SKIPPED: const",
        "AUDIT_API_VERSIONS: const",
        "AuditApiVersion: const + type",
        "AuditEvent: class",
        "BatchContext: type",
        "BatchResult: type",
        "CLUSTER_ANNOTATION: const",
        "CUT_ANNOTATION: const",
        "DEFAULT_API_VERSION: const",
        "DEFAULT_DEDUPE_CACHE_SIZE: const",
        "DEFAULT_MAX_EVENT_BYTES: const",
        "Dedupe: type",
        "Event: const + type",
        "EventList: const + type",
        "GroupResources: const + type",
        "InvalidItem: type",
        "LEVELS: const",
        "LOG_FORMATS: const",
        "Level: const + type",
        "LogFormat: type",
        "MIN_MAX_EVENT_BYTES: const",
        "ObjectReference: const + type",
        "OtherLine: type",
        "PIPELINE_SETTINGS: const",
        "ParseOptions: type",
        "ParsedLines: type",
        "ParsedPayload: type",
        "PayloadError: class",
        "Pipeline: type",
        "PipelineOptions: type",
        "Policy: const + type",
        "PolicyChecker: type",
        "PolicyDecision: type",
        "PolicyError: class",
        "PolicyIssue: type",
        "PolicyRequest: type",
        "PolicyRule: const + type",
        "REDACTED_ANNOTATION: const",
        "SOURCE_ANNOTATION: const",
        "STAGES: const",
        "Setting: type",
        "SettingContext: type",
        "SettingError: class",
        "SettingFlag: type",
        "SettingValues: type",
        "Stage: const + type",
        "Status: const + type",
        "TRUNCATED_ANNOTATION: const",
        "UnwrapFailure: type",
        "UnwrapOptions: type",
        "UnwrappedEvent: type",
        "UnwrappedRecord: type",
        "UserInfo: const + type",
        "createDedupe: function",
        "createPipeline: function",
        "createPolicyChecker: function",
        "gkeRequestOf: function",
        "maskExecCommands: function",
        "parseLines: function",
        "parsePayload: function",
        "parsePolicy: function",
        "policyRequestOf: function",
        "serializeEvent: function",
        "settingParsers: const",
        "unwrapRecords: function",
      ]
    `);
  });

  it('documents every name in a line, and every function with an @example', () => {
    const { names } = publicApi();
    expect(names.filter((n) => n.summary === '').map((n) => n.name)).toEqual([]);
    expect(names.filter((n) => n.kind === 'function' && !n.tags.includes('example')).map((n) => n.name)).toEqual([]);
  });
});
