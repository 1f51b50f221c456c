/**
 * @module
 * A policy file read into plain data the way kube-apiserver reads `--audit-policy-file`
 * (k8s.io/apiserver pkg/audit/policy/reader.go, LoadPolicyFromBytes, through the apimachinery
 * universal decoder): a file whose first non-space character is `{` is JSON, read by the strict
 * JSON decoder (pkg/runtime/serializer/recognizer and json.Serializer.RecognizesData); anything
 * else is YAML, converted by sigs.k8s.io/yaml (go-yaml v2) to JSON, first document only. Then
 * `null`s are read as encoding/json reads them into the Policy types.
 */
import { LineCounter, parseAllDocuments, type ScalarTag, type Tags } from 'yaml';
import type { PolicyIssue } from '../policy';

/** What the reader found: the data, or the problems that make the file unreadable. */
export type PolicyDocument = { data: unknown; issues?: undefined } | { data?: undefined; issues: PolicyIssue[] };

/** Go's unicode.IsSpace (bytes.TrimLeftFunc in IsJSONBuffer); a byte order mark is not one. */
const GO_LEADING_SPACE = /^[\t\n\v\f\r \u0085\u00a0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000]*/;

/** Reads the file's text; duplicate keys are passed to `warn` (the API server's lenient retry keeps the last). */
export function readPolicyDocument(text: string, warn: (issue: PolicyIssue) => void): PolicyDocument {
  const lines = new LineCounter();
  const at = (offset: number, message: string): PolicyIssue => {
    const { line, col } = lines.linePos(offset);
    return { path: '', line, column: col, message };
  };
  if (text.charCodeAt(GO_LEADING_SPACE.exec(text)?.[0].length ?? 0) === 123) {
    lines.addNewLine(0);
    for (let i = text.indexOf('\n'); i !== -1; i = text.indexOf('\n', i + 1)) lines.addNewLine(i + 1);
    return readJson(text, at, warn);
  }
  return readYaml(text, lines, at, warn);
}

function readJson(
  text: string,
  at: (offset: number, message: string) => PolicyIssue,
  warn: (issue: PolicyIssue) => void,
): PolicyDocument {
  let data: unknown;
  try {
    data = JSON.parse(text);
  } catch (error) {
    // The engine's message may quote the text; only the position is taken from it.
    const position = /position (\d+)/.exec(String((error as Error).message))?.[1];
    const message =
      'not valid JSON: a policy file that starts with "{" is read as strict JSON, as kube-apiserver does ' +
      '(no comments, trailing commas, unquoted keys or other YAML)';
    return { issues: [position === undefined ? { path: '', message } : at(Number(position), message)] };
  }
  for (const offset of duplicateKeys(text)) warn(at(offset, 'duplicate key (the last value is used)'));
  return { data };
}

function readYaml(
  text: string,
  lines: LineCounter,
  at: (offset: number, message: string) => PolicyIssue,
  warn: (issue: PolicyIssue) => void,
): PolicyDocument {
  // sigs.k8s.io/yaml reads one document with go-yaml v2 (yaml.Unmarshal): the first; the rest of the
  // file is never parsed. prettyErrors off keeps messages to one line; the line is reported apart.
  const documents = parseAllDocuments(text, {
    version: '1.1',
    prettyErrors: false,
    lineCounter: lines,
    customTags: goYamlV2Tags,
  });
  const [doc, ...rest] = Array.isArray(documents) ? documents : [];
  if (doc === undefined) return { issues: [{ path: '', message: 'the document is empty; expected a Policy' }] };
  const fatal: PolicyIssue[] = [];
  for (const error of doc.errors) {
    // The API server decodes strictly, then leniently (last value wins) with a warning on duplicate fields.
    if (error.code === 'DUPLICATE_KEY') warn(at(error.pos[0], 'duplicate key (the last value is used)'));
    else fatal.push(at(error.pos[0], error.message));
  }
  if (fatal.length > 0) return { issues: fatal };
  const data = doc.toJS({ maxAliasCount: 100 });
  // An empty first document decodes to null, with no apiVersion: the API server refuses it, even when
  // a policy follows.
  if (data == null) {
    return { issues: [at(doc.range[0], 'the first document is empty; expected a Policy (only the first is read)')] };
  }
  const ignored = rest.filter((extra) => extra.contents !== null || extra.errors.length > 0);
  if (ignored.length > 0) {
    warn(
      at(ignored[0]?.range[0] ?? 0, 'only the first YAML document is read, as by kube-apiserver; the rest is ignored'),
    );
  }
  return { data };
}

/** Offsets of keys repeated within one object of a (valid) JSON text. */
function duplicateKeys(text: string): number[] {
  const found: number[] = [];
  /** one entry per open container: the keys of an object, or null for an array */
  const stack: ({ keys: Set<string>; expectKey: boolean } | null)[] = [];
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c === 123) stack.push({ keys: new Set(), expectKey: true });
    else if (c === 91) stack.push(null);
    else if (c === 125 || c === 93) stack.pop();
    else if (c === 44) {
      const top = stack[stack.length - 1];
      if (top) top.expectKey = true;
    } else if (c === 34) {
      let end = i + 1;
      while (text.charCodeAt(end) !== 34) end += text.charCodeAt(end) === 92 ? 2 : 1;
      const top = stack[stack.length - 1];
      if (top?.expectKey) {
        const key = JSON.parse(text.slice(i, end + 1)) as string;
        if (top.keys.has(key)) found.push(i);
        top.keys.add(key);
        top.expectKey = false;
      }
      i = end;
    }
  }
  return found;
}

/**
 * Plain scalars resolved as go-yaml v2 resolves them (resolve.go), replacing the YAML 1.1 schema's
 * scalar tags: base 60 numbers (`10:20`) are "purposefully unsupported" there and stay strings;
 * timestamps (`2001-12-14`) are decoded into interface{} as strings "for backward compatibility";
 * integers are strconv.ParseInt(s, 0, 64) after removing `_` (so `0o17` and `0b101` are numbers).
 */
function goYamlV2Tags(tags: Tags): Tags {
  const kept = tags.filter(
    (tag) =>
      typeof tag === 'object' &&
      ('collection' in tag || tag.test === undefined || tag.tag === 'tag:yaml.org,2002:merge'),
  );
  const scalar = (tag: string, test: RegExp, resolve: (source: string) => unknown): ScalarTag => ({
    tag: `tag:yaml.org,2002:${tag}`,
    default: true,
    test,
    resolve,
    identify: () => false,
  });
  return [
    ...kept,
    scalar('null', /^(?:~|null|Null|NULL)?$/, () => null),
    scalar('bool', /^(?:y|Y|yes|Yes|YES|true|True|TRUE|on|On|ON)$/, () => true),
    scalar('bool', /^(?:n|N|no|No|NO|false|False|FALSE|off|Off|OFF)$/, () => false),
    scalar('float', /^(?:[-+]?\.(?:inf|Inf|INF)|\.(?:nan|NaN|NAN))$/, (source) =>
      /nan/i.test(source) ? Number.NaN : source.startsWith('-') ? -Infinity : Infinity,
    ),
    // Anything else that starts like a number: a number if Go parses it as one, else the string.
    scalar('int', /^[-+0-9.]/, (source) => goNumber(source) ?? source),
  ];
}

const GO_INT = /^[-+]?(?:0[xX][0-9a-fA-F]+|0[oO][0-7]+|0[bB][01]+|0[0-7]*|[1-9][0-9]*)$/;
const GO_UINT = /^(?:0[xX][0-9a-fA-F]+|0[oO][0-7]+|0[bB][01]+|0[0-7]*|[1-9][0-9]*)$/;
const YAML_STYLE_FLOAT = /^[-+]?(?:\.[0-9]+|[0-9]+(?:\.[0-9]*)?)(?:[eE][-+]?[0-9]+)?$/;

function goNumber(source: string): number | undefined {
  if (source.startsWith('.')) {
    // strconv.ParseFloat(in, 64) without removing underscores
    return /^\.[0-9]+(?:[eE][-+]?[0-9]+)?$/.test(source) ? Number(source) : undefined;
  }
  const plain = source.replaceAll('_', '');
  if (GO_INT.test(plain) || GO_UINT.test(plain)) {
    const negative = plain.startsWith('-');
    const digits = plain.replace(/^[-+]/, '');
    const prefix = digits.slice(0, 2).toLowerCase();
    // strconv base 0: 0x, 0o, 0b, and a leading 0 for octal
    const body =
      prefix === '0x' || prefix === '0o' || prefix === '0b' || !digits.startsWith('0') || digits.length === 1
        ? digits
        : `0o${digits.slice(1)}`;
    const value = BigInt(body) * (negative ? -1n : 1n);
    // int64 for ParseInt, uint64 for ParseUint (no sign); beyond, it is no integer
    if (value >= -(1n << 63n) && value < (plain.startsWith('+') || negative ? 1n << 63n : 1n << 64n))
      return Number(value);
  }
  return YAML_STYLE_FLOAT.test(plain) ? Number(plain) : undefined;
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return value !== null && typeof value === 'object' && !Array.isArray(value);
}

/** Fields of a type that are slices, pointers or maps: `null` makes them nil, the same as absent. */
type Shape = { [field: string]: 'nil' | 'string' | 'strings' | { list: Shape } | { object: Shape } };

const GROUP_RESOURCES: Shape = { group: 'string', resources: 'strings', resourceNames: 'strings' };
const RULE: Shape = {
  level: 'string',
  users: 'strings',
  userGroups: 'strings',
  verbs: 'strings',
  resources: { list: GROUP_RESOURCES },
  namespaces: 'strings',
  nonResourceURLs: 'strings',
  omitStages: 'strings',
  omitManagedFields: 'nil',
};
const POLICY: Shape = {
  apiVersion: 'string',
  kind: 'string',
  metadata: 'nil',
  rules: { list: RULE },
  omitStages: 'strings',
  omitManagedFields: 'nil',
};

/**
 * `null` read as encoding/json reads it into the Policy types ("The JSON null value unmarshals into an
 * interface, map, pointer, or slice by setting that Go value to nil. Otherwise, unmarshaling a JSON
 * null into any other Go type has no effect on the value"): a null list, pointer or object is absent,
 * a null string is `""` (an absent field too), and a null element of a list is its zero value (`""`,
 * or `{}` for a rule or a GroupResources).
 */
export function readGoNulls(data: Record<string, unknown>): void {
  applyShape(data, POLICY);
  if (isRecord(data.metadata)) {
    for (const [key, value] of Object.entries(data.metadata)) {
      if (value === null) delete data.metadata[key];
      else if ((key === 'labels' || key === 'annotations') && isRecord(value)) {
        for (const [name, text] of Object.entries(value)) if (text === null) value[name] = '';
      }
    }
  }
}

function applyShape(object: Record<string, unknown>, shape: Shape): void {
  for (const [field, kind] of Object.entries(shape)) {
    const value = object[field];
    if (value === null) delete object[field];
    else if (!Array.isArray(value)) continue;
    else if (kind === 'strings') object[field] = value.map((item) => item ?? '');
    else if (typeof kind === 'object' && 'list' in kind) {
      object[field] = value.map((item) => {
        const element = item ?? {};
        if (isRecord(element)) applyShape(element, kind.list);
        return element;
      });
    }
  }
}
