import { mkdtempSync, readdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { EmbeddingCache } from '../../src/evaluation/cache.js';

describe('EmbeddingCache', () => {
  const root = mkdtempSync(path.join(tmpdir(), 'medface-cache-'));
  const key = EmbeddingCache.key(Buffer.from('image bytes'));

  it('keys by the SHA-256 of the bytes', () => {
    expect(key).toMatch(/^[0-9a-f]{64}$/);
    expect(EmbeddingCache.key(Buffer.from('other bytes'))).not.toBe(key);
  });

  it('returns exactly the stored vector, and failures too', () => {
    const cache = new EmbeddingCache(root, 'net@1+flip');
    const vector = Float32Array.from([0.1, -0.25, Math.PI, 1e-7]);
    expect(cache.get(key)).toBeUndefined();
    cache.put(key, { embedding: { model: 'net@1+flip', vector } });
    expect(cache.get(key)).toEqual({ embedding: { model: 'net@1+flip', vector } });
    const other = EmbeddingCache.key(Buffer.from('no face here'));
    cache.put(other, { failure: 'NO_FACE' });
    expect(cache.get(other)).toEqual({ failure: 'NO_FACE' });
    expect(readdirSync(path.join(root, 'embeddings', 'net@1+flip')).sort()).toEqual([key, other].sort());
  });

  it('keeps models apart', () => {
    expect(new EmbeddingCache(root, 'net@2').get(key)).toBeUndefined();
  });
});
