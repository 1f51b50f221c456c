/**
 * The public API as TypeScript sees it from src/index.ts: each exported name, what it is, and its
 * JSDoc; and the options of an exported interface with their `@default`s.
 */
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';
import type * as TS from 'typescript';

const ts = createRequire(import.meta.url)('typescript') as typeof TS;
export const INDEX = fileURLToPath(new URL('../../src/index.ts', import.meta.url));

export interface ExportedName {
  readonly name: string;
  /** `function`, `class`, `const`, `type`, or `const + type` (a zod schema and its type). */
  readonly kind: string;
  /** The first line of its JSDoc, '' when it has none. */
  readonly summary: string;
  /** Its JSDoc tag names, e.g. `example`, `default`, `throws`. */
  readonly tags: readonly string[];
  readonly symbol: TS.Symbol;
}

export interface PublicApi {
  readonly names: readonly ExportedName[];
  /** Members of an exported interface, with the text of their `@default` tag ('' when none). */
  options(interfaceName: string): { name: string; default: string }[];
}

let cached: PublicApi | undefined;

export function publicApi(): PublicApi {
  if (cached) return cached;
  const program = ts.createProgram([INDEX], {
    target: ts.ScriptTarget.ES2022,
    module: ts.ModuleKind.ESNext,
    moduleResolution: ts.ModuleResolutionKind.Bundler,
    strict: true,
    noEmit: true,
    skipLibCheck: true,
    types: [],
  });
  const checker = program.getTypeChecker();
  const file = program.getSourceFile(INDEX);
  const moduleSymbol = file && checker.getSymbolAtLocation(file);
  if (!moduleSymbol) throw new Error(`cannot read the exports of ${INDEX}`);

  const text = (parts: TS.SymbolDisplayPart[] | string | undefined) =>
    (typeof parts === 'string' ? parts : ts.displayPartsToString(parts)).trim();

  const names = checker.getExportsOfModule(moduleSymbol).map((exported): ExportedName => {
    const symbol = exported.flags & ts.SymbolFlags.Alias ? checker.getAliasedSymbol(exported) : exported;
    const f = symbol.flags;
    const value =
      f & ts.SymbolFlags.Function
        ? 'function'
        : f & ts.SymbolFlags.Class
          ? 'class'
          : f & ts.SymbolFlags.Variable
            ? 'const'
            : undefined;
    const type = f & (ts.SymbolFlags.Interface | ts.SymbolFlags.TypeAlias) ? 'type' : undefined;
    // A schema and its type share a name; either declaration may carry the comment.
    const docs = (symbol.declarations ?? []).flatMap((declaration) => ts.getJSDocCommentsAndTags(declaration));
    const summary =
      docs
        .filter(ts.isJSDoc)
        .map((doc) => text(ts.getTextOfJSDocComment(doc.comment)))
        .find((comment) => comment !== '') ?? '';
    const tags = docs.flatMap((doc) => (ts.isJSDoc(doc) ? (doc.tags ?? []) : [doc])).map((tag) => tag.tagName.text);
    return {
      name: exported.name,
      kind: [value, type].filter(Boolean).join(' + '),
      summary: summary.split('\n')[0] ?? '',
      tags,
      symbol,
    };
  });

  cached = {
    names,
    options(interfaceName) {
      const exported = names.find((n) => n.name === interfaceName);
      if (!exported) throw new Error(`${interfaceName} is not exported`);
      const type = checker.getDeclaredTypeOfSymbol(exported.symbol);
      return checker.getPropertiesOfType(type).map((property) => ({
        name: property.name,
        default: text(property.getJsDocTags(checker).find((tag) => tag.name === 'default')?.text),
      }));
    },
  };
  return cached;
}
