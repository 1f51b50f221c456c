import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { requestNameOf } from './request-name';

// fixtures/request-name-vectors.json: the tables of k8s.io/apiserver v0.37
// pkg/endpoints/request/requestinfo_test.go as (requestURI, the event's verb, the name resolved).
const vectors = JSON.parse(
  readFileSync(new URL('../../../../fixtures/request-name-vectors.json', import.meta.url), 'utf8'),
) as { cases: { goTest: string; requestURI: string; verb: string; name: string }[] };

describe('requestNameOf', () => {
  it.each(vectors.cases)('$goTest: $requestURI ($verb) → "$name"', ({ requestURI, verb, name }) => {
    expect(requestNameOf(requestURI, verb)).toBe(name);
  });

  it('reads the unescaped path, as req.URL.Path is', () => {
    expect(requestNameOf('/api/v1/namespaces/default/configmaps/a%3Ab', 'get')).toBe('a:b');
    // %2F is a separator once unescaped: the name is `a`, `b` becomes the subresource.
    expect(requestNameOf('/api/v1/namespaces/default/configmaps/a%2Fb', 'get')).toBe('a');
    expect(requestNameOf('/api/v1/namespaces/default/configmaps/%zz', 'get')).toBe('');
    expect(requestNameOf('/api/v1/namespaces/default/configmaps/%E0%A4%A', 'get')).toBe('');
  });

  it('reads field selectors as fields.ParseSelector and RequiresExactMatch do', () => {
    const list = (selector: string) =>
      requestNameOf(`/api/v1/namespaces/default/pods?fieldSelector=${selector}`, 'list');
    expect(list('metadata.name%3D%3Dweb')).toBe('web');
    expect(list('metadata.name!=web')).toBe('');
    // terms are sorted before the first exact match is taken
    expect(list('status.phase=Running,metadata.name=web')).toBe('web');
    expect(list('metadata.name=a\\,b')).toBe('a,b');
    expect(list('metadata.name=a\\x')).toBe('');
    expect(list('metadata.name=a\\')).toBe('');
    expect(list('metadata.name=a=b')).toBe('');
    expect(list('metadata.name=web+app')).toBe('web app');
    // content.IsPathSegmentName: `.`, `..` and names with `/` or `%` are not taken
    expect(list('metadata.name=..')).toBe('');
    expect(list('metadata.name=a%2Fb')).toBe('');
    expect(list('metadata.name=a%25b')).toBe('');
    // url.ParseQuery skips a pair with `;` and one with a bad escape
    expect(requestNameOf('/api/v1/pods?fieldSelector=metadata.name=a;b&fieldSelector=metadata.name=c', 'list')).toBe(
      'c',
    );
    expect(requestNameOf('/api/v1/pods?fieldSelector=metadata.name=%zz&fieldSelector=metadata.name=c', 'list')).toBe(
      'c',
    );
  });

  it('takes no name from hostile or empty input', () => {
    for (const uri of ['', '?', '/api', '/api/v1/watch', '////', '/apis/a/b/proxy', '/api/v1/namespaces?']) {
      expect(requestNameOf(uri, 'get')).toBe('');
    }
    expect(requestNameOf('/api/v1//pods', 'get')).toBe('pods');
    expect(requestNameOf(`/api/v1/pods/${'x'.repeat(100_000)}`, 'get')).toHaveLength(100_000);
  });
});
