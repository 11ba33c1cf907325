import { readdirSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import ts from 'typescript';
import { beforeAll, describe, expect, it } from 'vitest';

/**
 * The permission rule of docs/architecture.md ("Where permissions are checked"), read from the source with the
 * TypeScript compiler: the policy is asked only through `guard` (src/access/guard.ts); a route either declares
 * its operation (server/access.ts guards it before the handler) or, declared `signed-in`, calls a use case that
 * guards; routes never import the store or the guard and never look at roles; a use case that takes a `Caller`
 * guards. The runtime half — every route but the public allow-list refuses a request without credentials — is
 * test/server/security.test.ts ("missing authentication").
 */

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const SRC = path.join(ROOT, 'src');
const rel = (file: string): string => path.relative(ROOT, file).split(path.sep).join('/');

/** Routes declared `signed-in` that concern only the caller's own session, so there is no operation to ask about. */
const OWN_SESSION_ROUTES = new Set(['src/server/routes/auth.ts GET /session', 'src/server/routes/auth.ts POST /sign-out-everywhere']);

/** Functions the interfaces call with a Caller that decide nothing themselves, each with why. */
const CALLER_WITHOUT_POLICY: Record<string, string> = {
  'src/services/patients/records.ts#actorOf': "turns the route's caller into the audit trail's actor",
};

function sourceFiles(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) => (e.isDirectory() ? sourceFiles(path.join(dir, e.name)) : e.name.endsWith('.ts') ? [path.join(dir, e.name)] : []));
}

type FunctionNode = ts.FunctionDeclaration | ts.MethodDeclaration | ts.ArrowFunction | ts.FunctionExpression;
const isFunctionNode = (n: ts.Node): n is FunctionNode => ts.isFunctionDeclaration(n) || ts.isMethodDeclaration(n) || ts.isArrowFunction(n) || ts.isFunctionExpression(n);

let program: ts.Program;
let checker: ts.TypeChecker;
let guardNode: ts.FunctionDeclaration;
let authorizeNode: ts.FunctionDeclaration;
const askThePolicy = (fn: ts.Node | undefined): boolean => fn === guardNode || fn === authorizeNode;

beforeAll(() => {
  const config = ts.getParsedCommandLineOfConfigFile(path.join(ROOT, 'tsconfig.json'), {}, { ...ts.sys, onUnRecoverableConfigFileDiagnostic: () => {} });
  program = ts.createProgram(sourceFiles(SRC), { ...config!.options, noEmit: true });
  checker = program.getTypeChecker();
  const exported = (file: string, name: string): ts.FunctionDeclaration => {
    const source = program.getSourceFile(path.join(SRC, file))!;
    const found = source.statements.find((s): s is ts.FunctionDeclaration => ts.isFunctionDeclaration(s) && s.name?.text === name);
    if (!found) throw new Error(`${file} no longer declares ${name}`);
    return found;
  };
  guardNode = exported('access/guard.ts', 'guard');
  authorizeNode = exported('access/policy.ts', 'authorize');
}, 120_000);

function srcFiles(under: string): ts.SourceFile[] {
  return program.getSourceFiles().filter((f) => f.fileName.startsWith(path.join(SRC, under) + path.sep) || f.fileName === path.join(SRC, under));
}

function walk(node: ts.Node, visit: (n: ts.Node) => void): void {
  visit(node);
  ts.forEachChild(node, (child) => walk(child, visit));
}

const where = (node: ts.Node): string => {
  const source = node.getSourceFile();
  return `${rel(source.fileName)}:${source.getLineAndCharacterOfPosition(node.getStart()).line + 1}`;
};

/** The function a call's callee names (through imports; a const bound to an arrow function counts), if any. */
function calleeOf(call: ts.CallExpression): FunctionNode | undefined {
  let symbol = checker.getSymbolAtLocation(ts.isPropertyAccessExpression(call.expression) ? call.expression.name : call.expression);
  if (symbol && symbol.flags & ts.SymbolFlags.Alias) symbol = checker.getAliasedSymbol(symbol);
  for (const declaration of symbol?.declarations ?? []) {
    if (isFunctionNode(declaration) && declaration.body) return declaration;
    if (ts.isVariableDeclaration(declaration) && declaration.initializer && isFunctionNode(declaration.initializer)) return declaration.initializer;
    if (ts.isPropertyAssignment(declaration) && isFunctionNode(declaration.initializer)) return declaration.initializer;
  }
  return undefined;
}

const reaches = new Map<ts.Node, boolean>();

/** Whether `fn` (or a callback inside it) asks the policy (`guard`, `authorize`), directly or through the functions it calls in src/. */
function reachesPolicy(fn: ts.Node): boolean {
  const known = reaches.get(fn);
  if (known !== undefined) return known;
  const seen = new Set<ts.Node>();
  const search = (node: ts.Node): boolean => {
    if (reaches.get(node) === true) return true;
    if (seen.has(node)) return false;
    seen.add(node);
    let found = false;
    walk(node, (n) => {
      if (found || !ts.isCallExpression(n)) return;
      const callee = calleeOf(n);
      found = askThePolicy(callee) || (callee !== undefined && callee.getSourceFile().fileName.startsWith(SRC) && search(callee));
    });
    if (found) reaches.set(node, true);
    return found;
  };
  const found = search(fn);
  reaches.set(fn, found);
  return found;
}

interface RouteRegistration {
  at: string;
  /** `src/server/routes/auth.ts GET /session`: the file, the method and the path within the plugin's prefix. */
  key: string;
  access: 'public' | 'signed-in' | 'operation' | 'unknown';
  handler: ts.Node | undefined;
}

const ROUTE_METHODS = new Set(['get', 'post', 'put', 'patch', 'delete', 'head', 'options', 'all']);

/** Every `app.get(url, options, handler)` (and post, put, …) in src/server/, with the access its options declare. */
function routeRegistrations(): RouteRegistration[] {
  const routes: RouteRegistration[] = [];
  for (const source of srcFiles('server')) {
    walk(source, (n) => {
      if (!ts.isCallExpression(n) || !ts.isPropertyAccessExpression(n.expression) || !ROUTE_METHODS.has(n.expression.name.text)) return;
      const receiver = checker.getTypeAtLocation(n.expression.expression);
      if (!checker.getPropertyOfType(receiver, 'addHook') || n.arguments.length < 3) return; // a Fastify instance's route shorthand
      const [url, options, handler] = n.arguments as unknown as [ts.Expression, ts.Expression, ts.Expression];
      const key = `${rel(source.fileName)} ${n.expression.name.text.toUpperCase()} ${ts.isStringLiteralLike(url) ? url.text : url.getText()}`;
      const config = checker.getTypeAtLocation(options).getProperty('config');
      const access = config && checker.getTypeOfSymbolAtLocation(config, options).getProperty('access');
      const declared = access && checker.getTypeOfSymbolAtLocation(access, options);
      const kind =
        declared === undefined
          ? 'unknown'
          : declared.isStringLiteral() && (declared.value === 'public' || declared.value === 'signed-in')
            ? declared.value
            : declared.getProperty('operation')
              ? 'operation'
              : 'unknown';
      routes.push({ at: where(n), key, access: kind, handler });
    });
  }
  return routes;
}

describe('where permissions are checked', () => {
  it('every route in src/server/ declares its access in a form this test can read', () => {
    const routes = routeRegistrations();
    expect(routes.length).toBeGreaterThan(60);
    expect(routes.filter((r) => r.access === 'unknown').map((r) => r.at)).toEqual([]);
    expect(routes.filter((r) => r.access === 'signed-in').length).toBeGreaterThan(10);
  });

  it('a route declared signed-in calls a use case that asks the policy', () => {
    const routes = routeRegistrations();
    const unguarded = routes.filter((r) => r.access === 'signed-in' && !OWN_SESSION_ROUTES.has(r.key) && !reachesPolicy(r.handler!)).map((r) => `${r.at} ${r.key}`);
    expect(unguarded).toEqual([]);
    // the exceptions are still routes, still signed-in, and really decide nothing
    for (const key of OWN_SESSION_ROUTES) expect(routes.find((r) => r.key === key)?.access, key).toBe('signed-in');
  });

  it("the policy is asked only by use cases in services/ and access/, and by server/access.ts for the routes' declarations", () => {
    const misplaced: string[] = [];
    for (const source of program.getSourceFiles().filter((f) => f.fileName.startsWith(SRC + path.sep))) {
      const file = rel(source.fileName);
      walk(source, (n) => {
        if (!ts.isCallExpression(n)) return;
        const callee = calleeOf(n);
        if (askThePolicy(callee) && !(file === 'src/server/access.ts' || file.startsWith('src/services/') || file.startsWith('src/access/'))) misplaced.push(where(n));
      });
    }
    expect(misplaced).toEqual([]);
  });

  it('routes import neither the store nor the guard, and take from the policy only its types and the names of roles and scopes', () => {
    const refused: string[] = [];
    for (const source of srcFiles('server/routes')) {
      for (const statement of source.statements) {
        if (!ts.isImportDeclaration(statement) && !ts.isExportDeclaration(statement)) continue;
        const specifier = statement.moduleSpecifier && ts.isStringLiteral(statement.moduleSpecifier) ? statement.moduleSpecifier.text : '';
        const target = path.resolve(path.dirname(source.fileName), specifier);
        const module = rel(target);
        if (module.startsWith('src/store/') || module === 'src/store') refused.push(`${where(statement)} imports ${module}`);
        if (module === 'src/access/guard.js') refused.push(`${where(statement)} imports the guard`);
        if (module === 'src/access/policy.js' && ts.isImportDeclaration(statement) && !statement.importClause?.isTypeOnly) {
          const named = statement.importClause?.namedBindings;
          const values = named && ts.isNamedImports(named) ? named.elements.filter((e) => !e.isTypeOnly).map((e) => e.name.text) : ['*'];
          const extra = values.filter((v) => v !== 'ROLES' && v !== 'SCOPES');
          if (extra.length > 0) refused.push(`${where(statement)} imports ${extra.join(', ')} from the policy`);
        }
      }
    }
    expect(refused).toEqual([]);
  });

  it('no route looks at a caller’s roles or scopes (a role check belongs to the policy)', () => {
    const checks: string[] = [];
    for (const source of srcFiles('server')) {
      if (rel(source.fileName) === 'src/server/access.ts') continue;
      walk(source, (n) => {
        if (!ts.isPropertyAccessExpression(n) || (n.name.text !== 'roles' && n.name.text !== 'scopes')) return;
        const owner = checker.getTypeAtLocation(n.expression);
        if (owner.getProperty('kind') && owner.getProperty('id')) checks.push(`${where(n)} .${n.name.text}`);
      });
    }
    expect(checks).toEqual([]);
  });

  it('every use case that the server or the command line calls with a Caller asks the policy', () => {
    const callerType = (program.getSourceFile(path.join(SRC, 'access/guard.ts'))!.statements.find((s) => ts.isInterfaceDeclaration(s) && s.name.text === 'Caller') as ts.InterfaceDeclaration).name;
    const caller = checker.getTypeAtLocation(callerType);
    const unguarded = new Set<string>();
    const checked = new Set<string>();
    for (const source of [...srcFiles('server'), ...srcFiles('cli')]) {
      walk(source, (n) => {
        if (!ts.isCallExpression(n)) return;
        const callee = calleeOf(n);
        if (!callee || !ts.isFunctionDeclaration(callee) || !callee.name) return;
        const file = rel(callee.getSourceFile().fileName);
        if (!file.startsWith('src/services/') && !file.startsWith('src/access/')) return;
        const key = `${file}#${callee.name.text}`;
        const takesCaller = callee.parameters.some((p) => checker.getTypeAtLocation(p) === caller);
        if (!takesCaller || key in CALLER_WITHOUT_POLICY) return;
        checked.add(key);
        if (!askThePolicy(callee) && !reachesPolicy(callee)) unguarded.add(key);
      });
    }
    expect([...unguarded]).toEqual([]);
    expect(checked.size).toBeGreaterThan(20);
  });
});
