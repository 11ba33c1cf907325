import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import ts from 'typescript';
import { expect, it } from 'vitest';

/**
 * `Medface` (services/context.ts) is what every use case is handed, so whatever it grows is reachable from
 * everywhere. It holds the store, the audit trail, the template index, the face engine and the settings, and
 * closes them: gallery, key and threshold work belongs to the index (identity/template-index.ts), face work to
 * services/faces.ts. A member added to the context instead is refused here.
 */

const CONTEXT = fileURLToPath(new URL('../../src/services/context.ts', import.meta.url));
/** The handful: store, audit, templates, faces, settings and close(). */
const MOST_MEMBERS = 6;

/** The public members of a class declared in `text`: fields, parameter properties, methods and accessors, static or not. */
function publicMembers(text: string, className: string): string[] {
  const source = ts.createSourceFile('module.ts', text, ts.ScriptTarget.Latest, true);
  const declaration = source.statements.find((s): s is ts.ClassDeclaration => ts.isClassDeclaration(s) && s.name?.text === className);
  if (!declaration) throw new Error(`no class ${className}`);
  const hidden = (node: ts.Node) => ts.canHaveModifiers(node) && (ts.getModifiers(node) ?? []).some((m) => m.kind === ts.SyntaxKind.PrivateKeyword || m.kind === ts.SyntaxKind.ProtectedKeyword);
  const names = new Set<string>();
  for (const member of declaration.members) {
    if (ts.isConstructorDeclaration(member)) {
      for (const p of member.parameters) if (ts.isParameterPropertyDeclaration(p, member) && !hidden(p)) names.add(p.name.getText(source));
    } else if (member.name && !ts.isPrivateIdentifier(member.name) && !hidden(member)) {
      names.add(member.name.getText(source));
    }
  }
  return [...names];
}

it(`Medface has at most ${MOST_MEMBERS} public members`, () => {
  const members = publicMembers(readFileSync(CONTEXT, 'utf8'), 'Medface');
  expect(members).toContain('close');
  expect(members.length, `Medface's public members: ${members.join(', ')}`).toBeLessThanOrEqual(MOST_MEMBERS);
});

it('counts every kind of public member, and no private one', () => {
  const text = `
    export class Counted {
      readonly a: number;
      static b = 1;
      #hidden = 2;
      private alsoHidden = 3;
      protected notPublic = 4;
      constructor(readonly c: number, private d2: number, plain: number) { this.a = plain; }
      get d(): number { return this.#hidden; }
      set d(value: number) { this.#hidden = value; }
      e(): void {}
      #private(): void {}
      async f(): Promise<void> {}
      static { Counted.b = 2; }
    }`;
  expect(publicMembers(text, 'Counted').sort()).toEqual(['a', 'b', 'c', 'd', 'e', 'f']);
});
