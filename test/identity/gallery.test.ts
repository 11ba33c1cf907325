import { describe, expect, it } from 'vitest';
import { Gallery, type GalleryEntry, type GalleryMatch } from '../../src/identity/gallery.js';
import type { TransformedEmbedding } from '../../src/identity/protection.js';
import { clusteredTemplates } from '../../bench/clustered-templates.js';
import { codeOf } from './error-code.js';

const MODEL = 'dlib-resnet@1.0+flip';
const TRANSFORM = 'tf_test';
const PER_PATIENT = 3;
const data = clusteredTemplates({ identities: 400, templatesPerIdentity: PER_PATIENT, queries: 300, seed: 11 });
const d = data.dimension;

function template(vector: Float32Array, model = MODEL, transformId = TRANSFORM): TransformedEmbedding {
  return { model, transformId, vector };
}

const entries: GalleryEntry[] = Array.from({ length: data.templates.length / d }, (_, t) => ({
  templateId: `t${t}`,
  patientId: `p${Math.floor(t / PER_PATIENT)}`,
  template: template(data.templates.slice(t * d, (t + 1) * d)),
}));
const probes = Array.from({ length: data.queryIdentities.length }, (_, q) => template(data.queries.slice(q * d, (q + 1) * d)));

/** The obvious answer, written independently: score every template, keep each patient's best, sort. */
function reference(from: GalleryEntry[], probe: TransformedEmbedding, k: number): GalleryMatch[] {
  const best = new Map<string, GalleryMatch>();
  for (const e of from) {
    if (e.template.model !== probe.model || e.template.transformId !== probe.transformId) continue;
    let dot = 0;
    for (let i = 0; i < d; i++) dot += e.template.vector[i]! * probe.vector[i]!;
    const seen = best.get(e.patientId);
    if (!seen || dot > seen.score) best.set(e.patientId, { patientId: e.patientId, templateId: e.templateId, score: dot });
  }
  return [...best.values()].sort((a, b) => b.score - a.score).slice(0, k);
}

describe('Gallery', () => {
  it('exact search returns each patient once with their best template, best first', async () => {
    const gallery = await Gallery.build(entries, { exactBelow: Infinity });
    expect(gallery.size).toBe(entries.length);
    expect(gallery.isApproximate(MODEL, TRANSFORM)).toBe(false);
    for (const probe of probes.slice(0, 50)) {
      const found = gallery.search(probe, 5);
      const expected = reference(entries, probe, 5);
      expect(found.map((m) => [m.patientId, m.templateId])).toEqual(expected.map((m) => [m.patientId, m.templateId]));
      found.forEach((m, i) => expect(m.score).toBeCloseTo(expected[i]!.score, 5));
    }
  });

  it('HNSW search agrees with exact search on a clustered set', async () => {
    const exact = await Gallery.build(entries, { exactBelow: Infinity });
    const approximate = await Gallery.build(entries, { exactBelow: 1, buildThreads: 1 });
    expect(approximate.isApproximate(MODEL, TRANSFORM)).toBe(true);
    let agree = 0;
    let correct = 0;
    probes.forEach((probe, q) => {
      const [e] = exact.search(probe, 1);
      const [a] = approximate.search(probe, 1);
      if (a?.patientId === e?.patientId) agree++;
      if (e?.patientId === `p${data.queryIdentities[q]}`) correct++;
      if (a) expect(a.score).toBeCloseTo(reference(entries, probe, 10).find((m) => m.patientId === a.patientId)!.score, 5);
    });
    expect(agree / probes.length).toBeGreaterThanOrEqual(0.99);
    // the synthetic set is meant to look like faces: fresh samples mostly find their own identity
    expect(correct / probes.length).toBeGreaterThan(0.9);
  });

  it('builds from an async iterator, as from the store at start', async () => {
    async function* fromStore(): AsyncGenerator<GalleryEntry> {
      for (const e of entries) yield e;
    }
    const gallery = await Gallery.build(fromStore(), { exactBelow: 100, buildThreads: 1 });
    expect(gallery.size).toBe(entries.length);
    expect(gallery.isApproximate(MODEL, TRANSFORM)).toBe(true);
    expect(gallery.search(probes[0]!, 1)[0]?.patientId).toBe(reference(entries, probes[0]!, 1)[0]!.patientId);
  });

  for (const mode of ['exact', 'HNSW'] as const) {
    it(`really removes patients and templates (${mode})`, async () => {
      const gallery = await Gallery.build(entries, { exactBelow: mode === 'exact' ? Infinity : 1, buildThreads: 1 });
      const patients = new Set(entries.map((e) => e.patientId)).size;
      const removed = new Set(Array.from({ length: 40 }, (_, i) => `p${i * 7}`));
      for (const patientId of removed) expect(gallery.removePatient(patientId)).toBe(PER_PATIENT);
      expect(gallery.removePatient('p0')).toBe(0);
      // drop one template of p1: its other templates stay findable
      expect(gallery.remove('t3')).toBe(true);
      expect(gallery.remove('t3')).toBe(false);
      expect(gallery.size).toBe(entries.length - removed.size * PER_PATIENT - 1);

      for (const e of entries.filter((x) => removed.has(x.patientId) || x.templateId === 't3')) {
        // even its own template as the probe, and asking for every patient, must not bring it back; and a
        // tombstone left in the graph would crowd a live patient out of this full list
        const everyone = gallery.search(e.template, patients);
        expect(everyone.some((m) => removed.has(m.patientId) || m.templateId === 't3')).toBe(false);
        expect(everyone).toHaveLength(patients - removed.size);
      }
      expect(gallery.search(entries[4]!.template, 1)[0]).toMatchObject({ patientId: 'p1', templateId: 't4' });
      const remaining = entries.filter((e) => !removed.has(e.patientId) && e.templateId !== 't3');
      let agree = 0;
      for (const probe of probes) if (gallery.search(probe, 1)[0]?.templateId === reference(remaining, probe, 1)[0]?.templateId) agree++;
      expect(agree / probes.length).toBeGreaterThanOrEqual(0.98);

      // removed keys are reused for new templates: re-enrolled, a patient is found again under the new ids
      const reEnrolled = entries.filter((e) => e.patientId === 'p7').map((e) => ({ ...e, templateId: `${e.templateId}-again` }));
      reEnrolled.forEach((e) => gallery.add(e));
      for (const e of reEnrolled) expect(gallery.search(e.template, 1)[0]).toMatchObject({ patientId: 'p7', templateId: e.templateId });
      expect(gallery.search(entries[0]!.template, patients)).toHaveLength(patients - removed.size + 1);

      gallery.clear();
      expect(gallery.size).toBe(0);
      expect(gallery.search(probes[0]!, 3)).toEqual([]);
    });
  }

  it('switches to HNSW at the threshold and back to exact well below it, staying correct', async () => {
    const gallery = new Gallery({ exactBelow: 300, buildThreads: 1 });
    entries.slice(0, 299).forEach((e) => gallery.add(e));
    await gallery.whenIndexed();
    expect(gallery.isApproximate(MODEL, TRANSFORM)).toBe(false);
    gallery.add(entries[299]!);
    await gallery.whenIndexed();
    expect(gallery.isApproximate(MODEL, TRANSFORM)).toBe(true);
    entries.slice(300, 600).forEach((e) => gallery.add(e));
    for (const e of entries.slice(0, 451)) gallery.remove(e.templateId);
    expect(gallery.size).toBe(149);
    expect(gallery.isApproximate(MODEL, TRANSFORM)).toBe(false);
    const remaining = entries.slice(451, 600);
    for (const probe of probes.slice(0, 50)) {
      expect(gallery.search(probe, 3).map((m) => m.templateId)).toEqual(reference(remaining, probe, 3).map((m) => m.templateId));
    }
  });

  it('keeps writes made while the graph is being built, and searches exactly until it is done', async () => {
    const gallery = new Gallery({ exactBelow: 1000, buildThreads: 1 });
    entries.slice(0, 999).forEach((e) => gallery.add(e));
    gallery.add(entries[999]!); // crosses the threshold: construction starts in the background
    expect(gallery.isApproximate(MODEL, TRANSFORM)).toBe(false);
    // writes during construction: removals (their keys then reused) and additions
    const removed = new Set(['p1', 'p50', 'p300']);
    for (const patientId of removed) gallery.removePatient(patientId);
    const added = entries.slice(1000, 1200);
    added.forEach((e) => gallery.add(e));
    const current = [...entries.slice(0, 1000), ...added].filter((e) => !removed.has(e.patientId));
    expect(gallery.search(probes[0]!, 3)).toEqual(reference(current, probes[0]!, 3).map((m) => ({ ...m, score: expect.closeTo(m.score, 5) })));

    await gallery.whenIndexed();
    expect(gallery.isApproximate(MODEL, TRANSFORM)).toBe(true);
    const patients = new Set(current.map((e) => e.patientId)).size;
    expect(gallery.search(probes[0]!, patients + 10)).toHaveLength(patients);
    for (const e of current) expect(gallery.search(e.template, 1)[0]!.templateId).toBe(e.templateId);
  });

  it('re-adding a template id replaces its vector (as after transform renewal)', () => {
    const gallery = new Gallery();
    gallery.add(entries[0]!);
    gallery.add({ ...entries[0]!, template: entries[30]!.template });
    expect(gallery.size).toBe(1);
    expect(gallery.search(entries[30]!.template, 1)[0]!.score).toBeCloseTo(1, 5);
  });

  it('never mixes models or transforms', () => {
    const gallery = new Gallery();
    const vector = entries[0]!.template.vector;
    gallery.add({ templateId: 'a', patientId: 'pa', template: template(vector, 'model-a') });
    gallery.add({ templateId: 'b', patientId: 'pb', template: template(vector, 'model-b') });
    gallery.add({ templateId: 'c', patientId: 'pc', template: template(vector, 'model-a', 'tf_other') });
    expect(gallery.search(template(vector, 'model-a'), 10).map((m) => m.patientId)).toEqual(['pa']);
    expect(gallery.search(template(vector, 'model-b'), 10).map((m) => m.patientId)).toEqual(['pb']);
    expect(gallery.search(template(vector, 'model-a', 'tf_other'), 10).map((m) => m.patientId)).toEqual(['pc']);
    expect(gallery.search(template(vector, 'model-c'), 10)).toEqual([]);
    // same model and transform, other dimension: a mislabelled vector, refused rather than compared
    expect(codeOf(() => gallery.add({ templateId: 'd', patientId: 'pd', template: template(new Float32Array(64).fill(1), 'model-a') }))).toBe('MODEL_MISMATCH');
    expect(codeOf(() => gallery.search(template(new Float32Array(64).fill(1), 'model-a'), 1))).toBe('MODEL_MISMATCH');
    expect(gallery.size).toBe(3);
  });

  it('refuses vectors without a direction and a k that is not a positive integer', () => {
    const gallery = new Gallery();
    expect(codeOf(() => gallery.add({ templateId: 'z', patientId: 'pz', template: template(new Float32Array(d)) }))).toBe('INVALID_ARGUMENT');
    expect(codeOf(() => gallery.search(probes[0]!, 0))).toBe('INVALID_ARGUMENT');
  });
});
