import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { expect, it } from 'vitest';

/**
 * docs/architecture.md is where a newcomer learns what each module is for, so a module it does not name is one
 * nobody was told about. Every module of src/ must be named there: by its file name (`gallery.ts`) or, where a
 * row lists a folder's modules together, by its name in backticks (`consents`).
 */

const SRC = fileURLToPath(new URL('../../src', import.meta.url));
const DOC = fileURLToPath(new URL('../../docs/architecture.md', import.meta.url));

function modules(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((entry) => {
    const full = path.join(dir, entry.name);
    if (entry.isDirectory()) return modules(full);
    return entry.name.endsWith('.ts') && !entry.name.endsWith('.d.ts') ? [full] : [];
  });
}

/** The modules of `files` that `doc` names neither by file name nor by name in backticks. */
function unnamed(files: readonly string[], doc: string): string[] {
  return files.filter((file) => {
    const name = path.basename(file);
    return !doc.includes(name) && !doc.includes(`\`${name.slice(0, -'.ts'.length)}\``);
  });
}

it('names every module of src/ in docs/architecture.md', () => {
  const files = modules(SRC);
  expect(files.length).toBeGreaterThan(100);
  expect(unnamed(files, readFileSync(DOC, 'utf8')).map((f) => path.relative(SRC, f))).toEqual([]);
});

it('notices a module the document does not name', () => {
  const doc = '| `identity/gallery.ts` | the gallery |\nrepositories: `consents`, `sessions`';
  expect(unnamed(['/src/identity/gallery.ts', '/src/store/repositories/consents.ts', '/src/store/repositories/users.ts'], doc)).toEqual(['/src/store/repositories/users.ts']);
});
