/**
 * @module
 * The name a request carried, read from its `requestURI` the way kube-apiserver's RequestInfo
 * resolver does (k8s.io/apiserver pkg/endpoints/request/requestinfo.go, NewRequestInfo). The
 * policy checker matches `resourceNames` against that name (`attrs.GetName()`), never against
 * `objectRef.name`, which the API server fills from the body after the policy decision
 * (pkg/audit/request.go, LogRequestObject): a `create` has no name when its policy is decided.
 */

/** requestinfo.go `specialVerbs`: `/api/v1/watch/...` and `/api/v1/proxy/...`. */
const SPECIAL_VERBS = new Set(['proxy', 'watch']);
/** requestinfo.go `namespaceSubresources`: `/namespaces/x/status` is a subresource of namespace x. */
export const NAMESPACE_SUBRESOURCES: ReadonlySet<string> = new Set(['status', 'finalize']);

/**
 * The name RequestInfo resolves for a request: the path segment after the resource, or for a
 * `list`/`watch` without one the value of a `metadata.name=` field selector; `''` for a create,
 * a list, a collection and a non-resource request.
 */
export function requestNameOf(requestURI: string, verb: string): string {
  const query = requestURI.indexOf('?');
  const escaped = query === -1 ? requestURI : requestURI.slice(0, query);
  // req.URL.Path is the unescaped path: an escaped `/` (%2F) separates segments there too.
  const path = escaped.includes('%') ? unescapeUrl(escaped, false) : escaped;
  if (path === undefined) return '';
  // splitPath: strings.Trim(path, "/") then strings.Split(path, "/"), so inner empty segments count.
  let start = 0;
  let end = path.length;
  while (start < end && path.charCodeAt(start) === 47) start++;
  while (end > start && path.charCodeAt(end - 1) === 47) end--;
  if (start === end) return '';
  let parts = path.slice(start, end).split('/');
  if (parts.length < 3) return '';
  // APIPrefixes {api, apis}; GrouplessAPIPrefixes {api}: /api/{version}/..., /apis/{group}/{version}/...
  if (parts[0] === 'api') parts = parts.slice(2);
  else if (parts[0] === 'apis' && parts.length >= 4) parts = parts.slice(3);
  else return '';
  let verbViaPathPrefix = false;
  if (SPECIAL_VERBS.has(parts[0] as string)) {
    if (parts.length < 2) return '';
    parts = parts.slice(1);
    verbViaPathPrefix = true;
  }
  if (parts[0] === 'namespaces' && parts.length > 2 && !NAMESPACE_SUBRESOURCES.has(parts[2] as string)) {
    parts = parts.slice(2);
  }
  if (parts.length >= 2) return parts[1] as string;
  // A GET without a name became list or watch; then an exact `metadata.name` field selector names
  // the object (`kubectl get pod x --watch`). Not for the deprecated /watch/ path prefix.
  if (verbViaPathPrefix || (verb !== 'list' && verb !== 'watch') || query === -1) return '';
  const selector = firstQueryValue(requestURI.slice(query + 1), 'fieldSelector');
  if (selector === undefined) return '';
  const name = exactMatch(selector, 'metadata.name');
  // content.IsPathSegmentName: a name that cannot be a path segment is not taken.
  if (name === undefined || name === '.' || name === '..' || name.includes('/') || name.includes('%')) return '';
  return name;
}

/** url.PathUnescape, or url.QueryUnescape (`+` is a space) with `query`; undefined on a bad escape. */
export function unescapeUrl(text: string, query: boolean): string | undefined {
  const plain = query ? text.replaceAll('+', ' ') : text;
  if (!plain.includes('%')) return plain;
  // Go unescapes byte by byte and keeps invalid UTF-8; decodeURIComponent refuses it, and such a
  // name matches no resourceNames entry of a policy file anyway.
  if (/%(?![0-9A-Fa-f]{2})/.test(plain)) return undefined;
  try {
    return decodeURIComponent(plain);
  } catch {
    return undefined;
  }
}

/** url.Values.Get after url.ParseQuery: the first value of `key`; pairs that fail to parse are skipped. */
function firstQueryValue(rawQuery: string, key: string): string | undefined {
  for (const pair of rawQuery.split('&')) {
    if (pair === '' || pair.includes(';')) continue;
    const eq = pair.indexOf('=');
    const name = unescapeUrl(eq === -1 ? pair : pair.slice(0, eq), true);
    if (name !== key) continue;
    const value = unescapeUrl(eq === -1 ? '' : pair.slice(eq + 1), true);
    if (value !== undefined) return value;
  }
  return undefined;
}

/**
 * fields.ParseSelector then RequiresExactMatch (k8s.io/apimachinery pkg/fields/selector.go): terms
 * split at unescaped commas and sorted; the first `field=value` or `field==value` term of `field`
 * gives the value, unescaped. A selector that does not parse gives nothing (the API server then
 * decodes no ListOptions, and takes no name).
 */
function exactMatch(selector: string, field: string): string | undefined {
  const terms: string[] = [];
  let from = 0;
  let inSlash = false;
  for (let i = 0; i < selector.length; i++) {
    const c = selector.charAt(i);
    if (inSlash) inSlash = false;
    else if (c === '\\') inSlash = true;
    else if (c === ',') {
      terms.push(selector.slice(from, i));
      from = i + 1;
    }
  }
  if (selector !== '') terms.push(selector.slice(from));
  // Go's sort.Strings compares bytes; JavaScript's default sort compares UTF-16 code units, which
  // orders the same for the ASCII that selector fields are made of.
  terms.sort();
  let found: string | undefined;
  for (const term of terms) {
    if (term === '') continue;
    const split = splitTerm(term);
    if (split === undefined) return undefined;
    const value = unescapeSelectorValue(split.rhs);
    if (value === undefined) return undefined;
    if (found === undefined && split.lhs === field && split.op !== '!=') found = value;
  }
  return found;
}

/** splitTerm: the first position where `!=`, `==` or `=` starts (checked in that order) splits the term. */
function splitTerm(term: string): { lhs: string; op: string; rhs: string } | undefined {
  for (let i = 0; i < term.length; i++) {
    for (const op of ['!=', '==', '=']) {
      if (term.startsWith(op, i)) return { lhs: term.slice(0, i), op, rhs: term.slice(i + op.length) };
    }
  }
  return undefined;
}

/** fields.UnescapeValue: `\\`, `\,` and `\=` are escapes; any other escape, or a bare `,` or `=`, is an error. */
function unescapeSelectorValue(value: string): string | undefined {
  let out = '';
  let inSlash = false;
  for (const c of value) {
    if (inSlash) {
      if (c !== '\\' && c !== ',' && c !== '=') return undefined;
      out += c;
      inSlash = false;
    } else if (c === '\\') inSlash = true;
    else if (c === ',' || c === '=') return undefined;
    else out += c;
  }
  return inSlash ? undefined : out;
}
