import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import ts from 'typescript';
import { beforeAll, expect, it } from 'vitest';

/**
 * The HTTP contract is typed once (docs/architecture.md, "The HTTP contract"): a route reads its request as its
 * schemas type it (server/context.ts `SchemaTypes`), never through a cast, and the web app takes the response
 * types from src/server/contract.ts, which derives them from the routes' response schemas, instead of writing
 * its own copy. A copy is recognised by its shape: an interface or object type in web/src whose fields (two or
 * more) are all fields of one object in a contract type, or one that takes a contract type's name.
 */

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const CONTRACT = path.join(ROOT, 'src/server/contract.ts');
const rel = (file: string): string => path.relative(ROOT, file).split(path.sep).join('/');

function sourceFiles(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) => (e.isDirectory() ? sourceFiles(path.join(dir, e.name)) : e.name.endsWith('.ts') ? [path.join(dir, e.name)] : []));
}

let contractNames: Set<string>;
/** The field names of every object type the contract's types hold (nested objects, array items and union members included). */
let contractShapes: { type: string; fields: Set<string> }[];

beforeAll(() => {
  const program = ts.createProgram([CONTRACT], { strict: true, module: ts.ModuleKind.NodeNext, moduleResolution: ts.ModuleResolutionKind.NodeNext, skipLibCheck: true, noEmit: true });
  const checker = program.getTypeChecker();
  const contract = program.getSourceFile(CONTRACT)!;
  const exports = checker.getExportsOfModule(checker.getSymbolAtLocation(contract)!);
  contractNames = new Set(exports.map((s) => s.name));
  contractShapes = [];
  const seen = new Set<ts.Type>();
  const collect = (type: ts.Type, name: string, depth: number): void => {
    if (seen.has(type) || depth > 8) return;
    seen.add(type);
    if (type.isUnionOrIntersection()) {
      for (const t of type.types) collect(t, name, depth + 1);
      return;
    }
    const element = checker.isArrayType(type) ? checker.getTypeArguments(type as ts.TypeReference)[0] : undefined;
    if (element) {
      collect(element, name, depth + 1);
      return;
    }
    if (!(type.flags & ts.TypeFlags.Object)) return;
    const properties = checker.getPropertiesOfType(type);
    if (properties.length === 0) return;
    contractShapes.push({ type: name, fields: new Set(properties.map((p) => p.name)) });
    for (const p of properties) collect(checker.getTypeOfSymbol(p), `${name}.${p.name}`, depth + 1);
  };
  for (const symbol of exports) {
    const target = symbol.flags & ts.SymbolFlags.Alias ? checker.getAliasedSymbol(symbol) : symbol;
    if (target.flags & ts.SymbolFlags.Module) {
      // a namespace of types (the FHIR resources): each of its types
      for (const member of checker.getExportsOfModule(target)) {
        if (member.flags & (ts.SymbolFlags.Interface | ts.SymbolFlags.TypeAlias)) collect(checker.getDeclaredTypeOfSymbol(member), `${symbol.name}.${member.name}`, 0);
      }
    } else if (target.flags & (ts.SymbolFlags.Interface | ts.SymbolFlags.TypeAlias)) collect(checker.getDeclaredTypeOfSymbol(target), symbol.name, 0);
  }
});

it('reads the contract: every response type the web app uses is in it', () => {
  expect(contractNames).toContain('SignedIn');
  expect(contractNames).toContain('ThresholdsStatus');
  expect(contractShapes.find((s) => s.type === 'ThresholdsStatus.models')?.fields).toContain('grades');
});

it('routes read request bodies, params and queries as their schemas type them, never through a cast', () => {
  const casts = sourceFiles(path.join(ROOT, 'src/server')).flatMap((file) =>
    readFileSync(file, 'utf8')
      .split('\n')
      .flatMap((line, i) =>
        /\b(?:request|req)\.(?:body|params|query)\)?\s+as\s/.test(line) || /<[^<>]+>\s*\(?\s*(?:request|req)\.(?:body|params|query)\b/.test(line) ? [`${rel(file)}:${i + 1}: ${line.trim()}`] : [],
      ),
  );
  expect(casts).toEqual([]);
});

it('the web app declares no copy of a contract type', () => {
  const copies: string[] = [];
  for (const file of sourceFiles(path.join(ROOT, 'web/src'))) {
    const source = ts.createSourceFile(file, readFileSync(file, 'utf8'), ts.ScriptTarget.Latest, true);
    const visit = (node: ts.Node): void => {
      const named = ts.isInterfaceDeclaration(node) || ts.isTypeAliasDeclaration(node) ? node.name.text : undefined;
      if (named !== undefined && contractNames.has(named)) copies.push(`${rel(file)}: ${named} redeclares the contract's ${named}`);
      const members = ts.isInterfaceDeclaration(node) || ts.isTypeLiteralNode(node) ? node.members : undefined;
      const fields = members?.flatMap((m) => (ts.isPropertySignature(m) && (ts.isIdentifier(m.name) || ts.isStringLiteral(m.name)) ? [m.name.text] : [])) ?? [];
      if (fields.length >= 2) {
        const label = named ?? `{ ${fields.join(', ')} }`;
        const copied = contractShapes.find((shape) => fields.every((f) => shape.fields.has(f)));
        const line = source.getLineAndCharacterOfPosition(node.getStart()).line + 1;
        if (copied) copies.push(`${rel(file)}:${line}: ${label} copies fields of the contract's ${copied.type}`);
      }
      ts.forEachChild(node, visit);
    };
    visit(source);
  }
  expect(copies).toEqual([]);
});
