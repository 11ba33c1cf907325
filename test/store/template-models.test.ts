import { randomBytes, randomUUID } from 'node:crypto';
import { expect, it } from 'vitest';
import type { NewTemplate } from '../../src/store/types.js';
import { describeEachFreshStore } from './harness.js';

/** A store holding templates of two recognisers, as after a change of the default model (opaque blobs). */

const OLD = 'old-model@1';
const NEW = 'new-model@1';

function template(patientId: string, modelId: string): NewTemplate {
  return {
    patientId,
    modelId,
    transformId: 't1',
    keyId: 'k1',
    wrappedKey: randomBytes(40),
    iv: randomBytes(12),
    ciphertext: randomBytes(256),
    tag: randomBytes(16),
    quality: { reasons: [] },
    source: 'enrol',
  };
}

const blob = () => ({ keyId: 'k1', wrappedKey: randomBytes(40), iv: randomBytes(12), ciphertext: randomBytes(64), tag: randomBytes(16) });

describeEachFreshStore('templates of two models', (fresh) => {
  async function patient(): Promise<string> {
    const id = randomUUID();
    await fresh.store.insertPatient(
      { id, versionId: 1, lastUpdated: new Date().toISOString(), resource: { resourceType: 'Patient', id } },
      { nameTokens: [], sortName: '', birthDate: null, gender: null, identifiers: [] },
    );
    return id;
  }

  it('counts patients, templates and kept photos per model', async () => {
    const [withPhotos, mixed, without, moved] = [await patient(), await patient(), await patient(), await patient()];
    for (const _ of [1, 2]) {
      const t = await fresh.store.insertTemplate(template(withPhotos, OLD));
      await fresh.store.insertPhoto({ ...blob(), patientId: withPhotos, templateId: t.id, mediaType: 'image/jpeg' });
    }
    const kept = await fresh.store.insertTemplate(template(mixed, OLD));
    await fresh.store.insertPhoto({ ...blob(), patientId: mixed, templateId: kept.id, mediaType: 'image/jpeg' });
    await fresh.store.insertTemplate(template(mixed, OLD));
    await fresh.store.insertTemplate(template(without, OLD));
    await fresh.store.insertTemplate(template(moved, NEW));
    // a photo kept without a template counts for nobody's template
    await fresh.store.insertPhoto({ ...blob(), patientId: without, templateId: null, mediaType: 'image/png' });

    expect(await fresh.store.countTemplatesByModel()).toEqual([
      { model: NEW, templates: 1, patients: 1, withPhoto: 0, patientsWithoutPhoto: 1 },
      { model: OLD, templates: 5, patients: 3, withPhoto: 3, patientsWithoutPhoto: 1 },
    ]);
  });

  it('pages through the templates of other models only, and moves a photo to its re-derived template', async () => {
    const p = await patient();
    const olds = [];
    for (let i = 0; i < 5; i++) olds.push(await fresh.store.insertTemplate(template(p, OLD)));
    await fresh.store.insertTemplate(template(p, NEW));
    const seen: string[] = [];
    for (let after: string | null = null; ;) {
      const page = await fresh.store.listTemplatesNotOfModelPage(NEW, after, 2);
      expect(page.length).toBeLessThanOrEqual(2);
      expect(page.every((t) => t.modelId === OLD)).toBe(true);
      seen.push(...page.map((t) => t.id));
      if (page.length < 2) break;
      after = page[page.length - 1]!.id;
    }
    expect(seen).toEqual(olds.map((t) => t.id).sort());

    const old = olds[0]!;
    const photo = await fresh.store.insertPhoto({ ...blob(), patientId: p, templateId: old.id, mediaType: 'image/jpeg' });
    const replacement = await fresh.store.transaction(async (tx) => {
      const inserted = await tx.insertTemplate(template(p, NEW));
      expect(await tx.moveTemplatePhotos(old.id, inserted.id)).toBe(1);
      expect(await tx.deleteTemplate(old.id)).toBe(true);
      return inserted;
    });
    expect(await fresh.store.deleteTemplate(old.id)).toBe(false);
    // the photo went over to the new template instead of going with the old one
    expect(await fresh.store.listPhotos(p)).toEqual([expect.objectContaining({ id: photo.id, templateId: replacement.id })]);
    expect((await fresh.store.listTemplatesNotOfModelPage(NEW, null, 10)).map((t) => t.id)).toEqual(
      olds
        .slice(1)
        .map((t) => t.id)
        .sort(),
    );
  });
});
