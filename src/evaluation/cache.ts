import { createHash } from 'node:crypto';
import { mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import type { Embedding } from '../face/index.js';

/**
 * Embeddings of evaluation images on disk, so that rerunning an evaluation or a calibration only pays
 * for images it has not seen. Keyed by the embedder model id and the SHA-256 of the image bytes, so a
 * changed image or a new model version never reuses a stale vector. A change to detection or to which face
 * is the subject keeps the model id, so it needs the cache folder deleted. A failure to acquire is cached
 * too: re-running the detector on an image that had no usable face would give the same answer, slowly.
 */

/** What acquiring one image gave: its embedding, or the code of why there is none. */
export type Acquired = { embedding: Embedding } | { failure: string };

interface Stored {
  model: string;
  /** Little-endian float32 bytes, base64: exact, and a quarter the size of a JSON number list. */
  vector?: string;
  failure?: string;
}

export class EmbeddingCache {
  private readonly dir: string;

  /** Entries live under `<root>/embeddings/<model>/`. */
  constructor(
    root: string,
    readonly model: string,
  ) {
    this.dir = path.join(root, 'embeddings', model.replace(/[^A-Za-z0-9@+._-]/g, '_'));
  }

  static key(bytes: Uint8Array): string {
    return createHash('sha256').update(bytes).digest('hex');
  }

  get(key: string): Acquired | undefined {
    let stored: Stored;
    try {
      stored = JSON.parse(readFileSync(path.join(this.dir, key), 'utf8')) as Stored;
    } catch {
      // absent or unreadable (e.g. a run killed mid-write before the rename): compute it again
      return undefined;
    }
    if (stored.model !== this.model) return undefined;
    if (typeof stored.failure === 'string') return { failure: stored.failure };
    if (typeof stored.vector !== 'string') return undefined;
    const buf = Buffer.from(stored.vector, 'base64');
    const vector = new Float32Array(buf.byteLength / 4);
    for (let i = 0; i < vector.length; i++) vector[i] = buf.readFloatLE(i * 4);
    return { embedding: { model: this.model, vector } };
  }

  put(key: string, acquired: Acquired): void {
    mkdirSync(this.dir, { recursive: true });
    let stored: Stored;
    if ('failure' in acquired) stored = { model: this.model, failure: acquired.failure };
    else {
      const v = acquired.embedding.vector;
      const buf = Buffer.alloc(v.length * 4);
      for (let i = 0; i < v.length; i++) buf.writeFloatLE(v[i]!, i * 4);
      stored = { model: this.model, vector: buf.toString('base64') };
    }
    const file = path.join(this.dir, key);
    const tmp = `${file}.${process.pid}.tmp`;
    writeFileSync(tmp, JSON.stringify(stored));
    renameSync(tmp, file);
  }
}
