import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { expect, it } from 'vitest';

/**
 * identity/ never sees an image (docs/architecture.md): it may name the face layer's data shapes (an
 * `Embedding`) in types, but loads nothing of it, nor of services/ (services/faces.ts holds the face pools
 * and the older models' probes beside the template index, not inside it).
 */

const IDENTITY = fileURLToPath(new URL('../../src/identity/', import.meta.url));

/** Imports of `text` (static, re-exports and dynamic) that load code at run time, with their specifiers. */
function valueImports(text: string): string[] {
  const statics = [...text.matchAll(/^(import|export)\s+(type\s+)?[^;]*?from\s+'([^']+)';/gms)].filter((m) => !m[2]).map((m) => m[3]!);
  const dynamics = [...text.matchAll(/\bimport\(\s*'([^']+)'\s*\)/g)].map((m) => m[1]!);
  return [...statics, ...dynamics];
}

it('identity/ loads nothing from face/ or services/', () => {
  const refused = readdirSync(IDENTITY)
    .filter((f) => f.endsWith('.ts'))
    .flatMap((f) => valueImports(readFileSync(path.join(IDENTITY, f), 'utf8')).flatMap((s) => (/^\.\.\/(face|services)\//.test(s) ? [`${f} imports ${s}`] : [])));
  expect(refused).toEqual([]);
});

it('tells a type-only import from one that loads code', () => {
  const text =
    "import type { Embedding } from '../face/types.js';\nimport { FacePool } from '../face/index.js';\nexport { x } from '../services/faces.js';\nconst f = () => import('../face/index.js');";
  expect(valueImports(text)).toEqual(['../face/index.js', '../services/faces.js', '../face/index.js']);
});
