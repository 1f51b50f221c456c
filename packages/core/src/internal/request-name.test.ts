import { describe, expect, it } from 'vitest';
import { requestNameOf } from './request-name';

// The tables of k8s.io/apiserver v0.37 pkg/endpoints/request/requestinfo_test.go: [url, verb the
// resolver gives (the verb the audit event carries), name].
describe('requestNameOf', () => {
  describe('agrees with TestGetAPIRequestInfo', () => {
    const rows: [string, string, string][] = [
      ['/api/v1/namespaces', 'list', ''],
      ['/api/v1/namespaces/other', 'get', 'other'],
      ['/api/v1/namespaces/other/pods', 'list', ''],
      ['/api/v1/namespaces/other/pods/foo', 'get', 'foo'],
      ['/api/v1/pods', 'list', ''],
      ['/api/v1/proxy/namespaces/other/pods/foo', 'proxy', 'foo'],
      ['/api/v1/proxy/namespaces/other/pods/foo/subpath/not/a/subresource', 'proxy', 'foo'],
      ['/api/v1/watch/pods', 'watch', ''],
      ['/api/v1/pods?watch=true', 'watch', ''],
      ['/api/v1/watch/namespaces/other/pods', 'watch', ''],
      ['/api/v1/namespaces/other/pods/foo/status', 'get', 'foo'],
      ['/api/v1/namespaces/other/pods/foo/proxy/subpath', 'get', 'foo'],
      ['/api/v1/namespaces/other/finalize', 'update', 'other'],
      ['/api/v1/namespaces/other/status', 'update', 'other'],
      ['/api/v1/namespaces/other/pods/foo', 'patch', 'foo'],
      ['/api/v1/namespaces/other/pods/foo', 'delete', 'foo'],
      ['/api/v1/namespaces/other/pods', 'create', ''],
      ['/api/v1/nodes', 'deletecollection', ''],
      ['/apis/extensions/v1/namespaces/other/pods', 'deletecollection', ''],
      ['/apis/extensions/v1/namespaces/other/pods', 'create', ''],
      // error cases: non-resource requests
      ['/', 'get', ''],
      ['/api/version/', 'get', ''],
      ['/apis/group/version/', 'get', ''],
      ['/badprefix/version/resource', 'get', ''],
      ['/apis/version/resource', 'get', ''],
    ];
    it.each(rows)('%s (%s) → %j', (url, verb, name) => {
      expect(requestNameOf(url, verb)).toBe(name);
    });
  });

  describe('agrees with TestSelectorParsing', () => {
    const rows: [string, string, string][] = [
      ['/apis/group/version/resource', 'list', ''],
      ['/apis/group/version/resource?fieldSelector=metadata.name=name1', 'list', 'name1'],
      ['/apis/group/version/resource?watch=true&fieldSelector=metadata.name=name1', 'watch', 'name1'],
      ['/apis/group/version/resource?fieldSelector=foo=bar&labelSelector=baz=qux', 'list', ''],
      ['/apis/group/version/resource?fieldSelector=metadata.name=name1,foo', 'list', ''],
      ['/apis/group/version/resource?fieldSelector=metadata.name=name1,foo&watch=true', 'watch', ''],
      ['/apis/group/version/resource?fieldSelector=foo=bar&labelSelector=baz=qux', 'deletecollection', ''],
      [
        '/apis/group/version/resource?fieldSelector=metadata.name=foo&fieldSelector=metadata.name=bar&labelSelector=foo=bar',
        'list',
        'foo',
      ],
      ['/apis/group/version/resource/name?fieldSelector=foo=bar&labelSelector=foo=bar', 'get', 'name'],
      ['/apis/group/version/watch/resource?fieldSelector=metadata.name=foo&labelSelector=foo=bar', 'watch', ''],
      [
        '/apis/group/version/watch/resource/name?fieldSelector=metadata.name=foo&labelSelector=foo=bar',
        'watch',
        'name',
      ],
    ];
    it.each(rows)('%s (%s) → %j', (url, verb, name) => {
      expect(requestNameOf(url, verb)).toBe(name);
    });
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
