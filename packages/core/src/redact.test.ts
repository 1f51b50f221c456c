import { describe, expect, it } from 'vitest';
import { parsePayload } from './parse';
import { createPipeline } from './pipeline';

type Json = Record<string, unknown>;

/** One event on a resource that holds no credentials, with `body` as its response, as the pipeline writes it. */
function redacted(body: string): Json {
  const event =
    '{"level":"RequestResponse","auditID":"a1","stage":"ResponseComplete","verb":"get",' +
    '"requestURI":"/apis/x.io/v1/things/t","objectRef":{"resource":"things","apiGroup":"x.io"},' +
    `"responseObject":${body}}`;
  const { lines } = createPipeline({ dedupeCacheSize: 0 }).process(parsePayload(`[${event}]`));
  return JSON.parse(lines) as Json;
}

describe('redaction by a body’s kind', () => {
  it.each([
    ['Secret', '{"kind":"Secret","data":{"k":"dmFs"}}', { kind: 'Secret', data: { k: '[REDACTED]' } }],
    ['SecretList', '{"kind":"SecretList","items":[{"data":{"k":"dmFs"}}]}', { items: [{ data: { k: '[REDACTED]' } }] }],
    ['TokenRequest', '{"kind":"TokenRequest","status":{"token":"eyJ"}}', { status: { token: '[REDACTED]' } }],
    ['TokenReview', '{"kind":"TokenReview","spec":{"token":"eyJ"}}', { spec: { token: '[REDACTED]' } }],
  ])('redacts a %s found by its kind alone', (_kind, body, expected) => {
    expect(redacted(body)).toMatchObject({ responseObject: expected, annotations: { 'kube-audit/redacted': 'true' } });
  });

  // JSON lets a kind be spelled with escapes (RFC 8259 §7); the kind is what the decoded string says.
  it.each([
    ['Secr\\u0065t', '{"kind":"Secr\\u0065t","data":{"k":"dmFs"}}', { data: { k: '[REDACTED]' } }],
    [
      '\\u0053ecretList',
      '{"kind":"\\u0053ecretList","items":[{"data":{"k":"dmFs"}}]}',
      { items: [{ data: { k: '[REDACTED]' } }] },
    ],
    ['Token\\u0052eview', '{"kind":"Token\\u0052eview","spec":{"token":"eyJ"}}', { spec: { token: '[REDACTED]' } }],
  ])('redacts a body whose kind is written with escapes: %s', (_kind, body, expected) => {
    expect(redacted(body)).toMatchObject({ responseObject: expected });
  });

  it.each([
    ['a kind that only starts like one', '{"kind":"SecretProviderClass","data":{"k":"v"}}'],
    ['the word in a value elsewhere', '{"kind":"ConfigMap","data":{"note":"Secret","k":"v"}}'],
    ['a kind that is not a string', '{"kind":["Secret"],"data":{"k":"v"}}'],
  ])('leaves other bodies alone: %s', (_case, body) => {
    const out = redacted(body);
    expect(out.responseObject).toEqual(JSON.parse(body));
    expect(out.annotations).toBeUndefined();
  });
});
