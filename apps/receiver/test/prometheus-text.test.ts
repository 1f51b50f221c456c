/**
 * The test parser for the Prometheus text format: it must accept what a Prometheus server
 * ingests and reject what it would refuse or mis-read, or the metrics tests prove little.
 */
import { describe, expect, it } from 'vitest';
import { parsePrometheusText, sampleValue } from './support/prometheus-text';

const VALID = `# HELP requests_total Requests, by "code".
# TYPE requests_total counter
requests_total{code="200"} 3
requests_total{code="503",path="a\\\\b\\"c\\nd"} 1 1700000000000
# TYPE batch histogram
batch_bucket{le="1"} 0
batch_bucket{le="10"} 2
batch_bucket{le="+Inf"} 2
batch_sum 18
batch_count 2
lag Nan
# a comment
`;

describe('parsePrometheusText', () => {
  it('reads families, labels with escapes, histograms and special values', () => {
    const families = parsePrometheusText(VALID);
    expect(families.get('requests_total')?.type).toBe('counter');
    expect(families.get('requests_total')?.help).toBe('Requests, by "code".');
    expect(sampleValue(families, 'requests_total', { code: '503' })).toBe(1);
    expect(families.get('requests_total')?.samples[1]?.labels.path).toBe('a\\b"c\nd');
    expect(sampleValue(families, 'batch_bucket', { le: '+Inf' })).toBe(2);
    expect(sampleValue(families, 'batch_count')).toBe(2);
    expect(families.get('lag')?.type).toBe('untyped');
    expect(sampleValue(families, 'lag')).toBeNaN();
  });

  it.each([
    ['a family split in two', 'a 1\nb 1\na{x="1"} 2\n', /not together/],
    ['a duplicate series', 'a{x="1"} 1\na{x="1"} 2\n', /duplicate series/],
    ['a TYPE after its samples', 'a 1\n# TYPE a gauge\n', /after its samples/],
    ['a second TYPE', '# TYPE a gauge\n# TYPE a gauge\na 1\n', /second TYPE/],
    ['an unknown type', '# TYPE a meter\na 1\n', /bad type/],
    ['a bad metric name', '1a 1\n', /bad metric name/],
    ['a bad label name', 'a{1x="1"} 1\n', /bad label name/],
    ['a bad escape', 'a{x="\\t"} 1\n', /bad escape/],
    ['an unterminated label value', 'a{x="1} 1\n', /unterminated/],
    ['a bad value', 'a 1,5\n', /bad value/],
    ['a negative counter', '# TYPE a counter\na -1\n', /counter a is -1/],
    ['a plain sample in a histogram', '# TYPE h histogram\nh 1\n', /does not belong/],
    ['no final line feed', 'a 1', /line feed/],
  ])('rejects %s', (_case, text, message) => {
    expect(() => parsePrometheusText(text)).toThrow(message);
  });

  it.each([
    ['buckets that are not cumulative', 'le="1"} 3\nh_bucket{le="+Inf"} 2\nh_sum 1\nh_count 2\n', /not cumulative/],
    ['no +Inf bucket', 'le="1"} 1\nh_sum 1\nh_count 1\n', /\+Inf/],
    ['a count that differs from +Inf', 'le="+Inf"} 2\nh_sum 1\nh_count 3\n', /differs/],
  ])('rejects a histogram with %s', (_case, tail, message) => {
    expect(() => parsePrometheusText(`# TYPE h histogram\nh_bucket{${tail}`)).toThrow(message);
  });
});
