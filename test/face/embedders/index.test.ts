import { describe, expect, it } from 'vitest';
import { isMedfaceError } from '../../../src/errors.js';
import { createEmbedder, DEFAULT_EMBEDDER_ID, EMBEDDER_IDS } from '../../../src/face/embedders/index.js';
import { MOBILEFACENET_FACEPLUGIN_EMBEDDER_ID } from '../../../src/face/embedders/fused.js';

describe('embedder registry', () => {
  it('creates the default embedder, MobileFaceNet fused with Faceplugin (docs/accuracy.md, "A second network: fusion"), unloaded, under the id it reports', () => {
    const embedder = createEmbedder();
    expect(embedder.id).toBe(MOBILEFACENET_FACEPLUGIN_EMBEDDER_ID);
    expect(embedder.id).toBe(DEFAULT_EMBEDDER_ID);
    expect(embedder.dimensions).toBe(192 + 512);
    expect(EMBEDDER_IDS).toContain(DEFAULT_EMBEDDER_ID);
  });

  it('gives every listed id an embedder reporting that id', () => {
    for (const id of EMBEDDER_IDS) expect(createEmbedder(id).id).toBe(id);
  });

  it('refuses an unknown id with INVALID_ARGUMENT', () => {
    let error: unknown;
    try {
      createEmbedder('no-such-model@0');
    } catch (e) {
      error = e;
    }
    expect(isMedfaceError(error) && error.code).toBe('INVALID_ARGUMENT');
  });
});
