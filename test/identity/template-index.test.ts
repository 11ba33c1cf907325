import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { MedfaceError } from '../../src/errors.js';
import { KeyRing, saveKeyRing } from '../../src/identity/keys.js';
import { TemplateProtection } from '../../src/identity/protection.js';
import { TemplateIndex, type IndexedTemplate, type TemplateReader } from '../../src/identity/template-index.js';

/**
 * The template index over an in-memory reader (the narrow interface it reaches storage through), with real
 * keys and template protection: what another process commits or deletes is all the reader shows.
 */

const MODEL = 'index-test@1';

function unitVector(): Float32Array {
  const v = Float32Array.from({ length: 64 }, () => randomBytes(2).readInt16LE() / 32768);
  const norm = Math.hypot(...v);
  return v.map((x) => x / norm);
}

/** The store as the index sees it; `refused` makes the key check fail the way a foreign key file does. */
class MemoryReader implements TemplateReader {
  readonly rows = new Map<string, IndexedTemplate>();
  refused = false;
  #next = 0;

  constructor(private readonly ring: KeyRing) {}

  put(patientId: string, vector: Float32Array): string {
    const id = `t${String(this.#next++).padStart(4, '0')}`;
    this.rows.set(id, { ...new TemplateProtection(this.ring).protect({ model: MODEL, vector }, patientId), id, patientId });
    return id;
  }

  templatesOf(patientId: string): Promise<IndexedTemplate[]> {
    return Promise.resolve([...this.rows.values()].filter((t) => t.patientId === patientId));
  }

  async *allTemplates(): AsyncIterable<IndexedTemplate> {
    yield* [...this.rows.values()];
  }

  templateRefsPage(afterId: string | null, limit: number): Promise<{ id: string; patientId: string }[]> {
    const ids = [...this.rows.keys()].sort().filter((id) => afterId === null || id > afterId);
    return Promise.resolve(ids.slice(0, limit).map((id) => ({ id, patientId: this.rows.get(id)!.patientId })));
  }

  registerKeys(): Promise<void> {
    return this.refused ? Promise.reject(new MedfaceError('KEY_INVALID', 'not this database’s key file')) : Promise.resolve();
  }
}

describe('TemplateIndex', () => {
  let dir: string;
  let keyFile: string;
  let ring: KeyRing;
  let reader: MemoryReader;

  beforeEach(async () => {
    dir = mkdtempSync(path.join(tmpdir(), 'medface-index-'));
    keyFile = path.join(dir, 'medface.key');
    ring = KeyRing.generate();
    await saveKeyRing(keyFile, ring);
    reader = new MemoryReader(ring);
  });

  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  it('opens every stored template and finds the patient a probe belongs to', async () => {
    const alice = unitVector();
    reader.put('alice', alice);
    reader.put('bob', unitVector());
    const index = await TemplateIndex.open(reader, ring, { keyFile });
    expect(index.gallery.size).toBe(2);
    const [best] = await index.search(index.probe({ model: MODEL, vector: alice }), 1, 0.9);
    expect(best).toMatchObject({ patientId: 'alice' });
    expect(best!.score).toBeCloseTo(1, 5);
  });

  it('never reports a template another process deleted, and drops it from the gallery', async () => {
    const alice = unitVector();
    const id = reader.put('alice', alice);
    const index = await TemplateIndex.open(reader, ring, { keyFile });
    reader.rows.delete(id);
    expect(await index.search(index.probe({ model: MODEL, vector: alice }), 1, 0.9)).toEqual([]);
    expect(index.gallery.size).toBe(0);
  });

  it('resync adds what another process stored and removes what it deleted', async () => {
    const gone = reader.put('alice', unitVector());
    const index = await TemplateIndex.open(reader, ring, { keyFile });
    reader.rows.delete(gone);
    const added = reader.put('bob', unitVector());
    await index.resync();
    expect(index.gallery.templatesOf('alice')).toEqual([]);
    expect(index.gallery.templatesOf('bob')).toEqual([added]);
  });

  it('keeps its keys when the store refuses a new ring', async () => {
    const index = await TemplateIndex.open(reader, ring, { keyFile });
    reader.refused = true;
    await expect(index.useKeys(KeyRing.generate())).rejects.toMatchObject({ code: 'KEY_INVALID' });
    expect(index.keys).toBe(ring);
  });
});
