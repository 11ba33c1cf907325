import { describe, expect, it } from 'vitest';
import type { Embedding } from '../../src/face/types.js';
import { KeyRing, type KeyFile } from '../../src/identity/keys.js';
import { cosine } from '../../src/identity/match.js';
import { TemplateProtection, rotationFromSeed, type ProtectedTemplate } from '../../src/identity/protection.js';
import { clusteredTemplates } from '../../bench/clustered-templates.js';
import { codeOf } from './error-code.js';

const MODEL = 'dlib-resnet@1.0+flip';
const data = clusteredTemplates({ identities: 20, templatesPerIdentity: 2, queries: 0, seed: 7 });
const embeddings: Embedding[] = Array.from({ length: 40 }, (_, i) => ({
  model: MODEL,
  vector: data.templates.slice(i * data.dimension, (i + 1) * data.dimension),
}));

function float32Bytes(vector: Float32Array): Buffer {
  return Buffer.from(vector.buffer, vector.byteOffset, vector.byteLength);
}

/** Everything a store could persist of a record: its binary fields side by side and a JSON rendering. */
function serialised(t: ProtectedTemplate): Buffer {
  const binary = Buffer.concat([t.wrappedKey, t.iv, t.ciphertext, t.tag]);
  const json = JSON.stringify({
    ...t,
    wrappedKey: Buffer.from(t.wrappedKey).toString('base64'),
    iv: Buffer.from(t.iv).toString('base64'),
    ciphertext: Buffer.from(t.ciphertext).toString('base64'),
    tag: Buffer.from(t.tag).toString('base64'),
  });
  return Buffer.concat([binary, Buffer.from(json)]);
}

describe('secret rotation', () => {
  it('is orthogonal and preserves cosine similarity', () => {
    const d = 128;
    const r = rotationFromSeed(Buffer.alloc(32, 1), d);
    let worst = 0;
    for (let i = 0; i < d; i++) {
      for (let j = 0; j < d; j++) {
        let dot = 0;
        for (let k = 0; k < d; k++) dot += r[i * d + k]! * r[j * d + k]!;
        worst = Math.max(worst, Math.abs(dot - (i === j ? 1 : 0)));
      }
    }
    expect(worst).toBeLessThan(1e-12);

    const protection = new TemplateProtection(KeyRing.generate());
    for (let i = 0; i + 1 < embeddings.length; i++) {
      const [a, b] = [embeddings[i]!, embeddings[i + 1]!];
      const rotated = cosine(protection.transformProbe(a).vector, protection.transformProbe(b).vector);
      expect(rotated).toBeCloseTo(cosine(a.vector, b.vector), 5);
    }
  });

  it('is the same for the same seed and unrelated for another seed', () => {
    const same = [rotationFromSeed(Buffer.alloc(32, 3), 64), rotationFromSeed(Buffer.alloc(32, 3), 64)];
    expect(same[0]).toEqual(same[1]);
    expect(rotationFromSeed(Buffer.alloc(32, 4), 64)).not.toEqual(same[0]);
    expect(rotationFromSeed(Buffer.alloc(32, 3), 128).subarray(0, 64)).not.toEqual(same[0]!.subarray(0, 64));
  });

  it('makes two deployments unlinkable: one face scores ~0 against itself across them', () => {
    const within = new TemplateProtection(KeyRing.generate());
    expect(cosine(within.transformProbe(embeddings[0]!).vector, within.transformProbe(embeddings[0]!).vector)).toBeCloseTo(1, 6);
    // a random rotation maps a unit vector to a random direction: the cosine is ~N(0, 1/d), so |cos| < 0.4 is > 4.5 sigma
    const crossScores = Array.from({ length: 20 }, () => {
      const [a, b] = [new TemplateProtection(KeyRing.generate()), new TemplateProtection(KeyRing.generate())];
      return cosine(a.transformProbe(embeddings[0]!).vector, b.transformProbe(embeddings[0]!).vector);
    });
    for (const score of crossScores) expect(Math.abs(score)).toBeLessThan(0.4);
    expect(Math.abs(crossScores.reduce((s, x) => s + x, 0) / crossScores.length)).toBeLessThan(0.1);
    // nor does a face's record in one deployment pick out the same face among another deployment's records
    const [a, b] = [new TemplateProtection(KeyRing.generate()), new TemplateProtection(KeyRing.generate())];
    const theirs = embeddings.map((e) => b.transformProbe(e).vector);
    const linked = embeddings.filter((e, i) => {
      const mine = a.transformProbe(e).vector;
      const scores = theirs.map((t) => cosine(mine, t));
      return scores.indexOf(Math.max(...scores)) === i;
    }).length;
    expect(linked).toBeLessThanOrEqual(6); // chance is 1 of 40; within one deployment it is 40 of 40
  });
});

describe('protected templates', () => {
  const ring = KeyRing.generate();
  const protection = new TemplateProtection(ring);

  it('round-trip to the rotated vector, which matches a transformed probe', () => {
    const t = protection.protect(embeddings[0]!, 'patient-1');
    expect(t).toMatchObject({ model: MODEL, transformId: ring.currentTransformId, keyId: ring.currentKekId });
    const opened = protection.unprotect(t, 'patient-1');
    expect(opened.transformId).toBe(ring.currentTransformId);
    expect(opened.vector).toEqual(protection.transformProbe(embeddings[0]!).vector);
    const probe = protection.transformProbe(embeddings[1]!);
    expect(cosine(opened.vector, probe.vector)).toBeCloseTo(cosine(embeddings[0]!.vector, embeddings[1]!.vector), 5);
  });

  it('hold no plaintext: neither the embedding nor its rotation appear in the stored bytes', () => {
    for (const e of embeddings) {
      const t = protection.protect(e);
      const stored = serialised(t);
      for (const vector of [e.vector, protection.transformProbe(e).vector]) {
        const raw = float32Bytes(vector);
        expect(stored.includes(raw)).toBe(false);
        // nor any pair of consecutive components (8 bytes) anywhere
        for (let i = 0; i + 8 <= raw.length; i += 4) expect(stored.includes(raw.subarray(i, i + 8))).toBe(false);
        expect(stored.includes(Buffer.from(raw.toString('base64').slice(0, 16)))).toBe(false);
      }
      // every record has its own data key and nonce
      expect(Buffer.from(protection.protect(e).ciphertext).equals(Buffer.from(t.ciphertext))).toBe(false);
    }
  });

  it('refuse a wrong key with KEY_INVALID, never a vector', () => {
    const t = protection.protect(embeddings[0]!);
    expect(codeOf(() => new TemplateProtection(KeyRing.generate()).unprotect(t))).toBe('KEY_INVALID');
    // same ids, different key material: only GCM authentication can tell
    const file = JSON.parse(ring.serialize()) as KeyFile;
    const forged = KeyRing.parse(JSON.stringify({ ...file, keks: file.keks.map((k) => ({ ...k, key: Buffer.alloc(32, 9).toString('base64') })) }));
    expect(codeOf(() => new TemplateProtection(forged).unprotect(t))).toBe('KEY_INVALID');
  });

  it('refuse any tampering with KEY_INVALID: payload, tag, nonce, wrapped key, model, transform, binding', () => {
    const t = protection.protect(embeddings[0]!, 'patient-1');
    const flip = (bytes: Uint8Array, at: number): Uint8Array => {
      const copy = Uint8Array.from(bytes);
      copy[at] = copy[at]! ^ 1;
      return copy;
    };
    const variants: [ProtectedTemplate, string][] = [
      [{ ...t, ciphertext: flip(t.ciphertext, 100) }, 'patient-1'],
      [{ ...t, tag: flip(t.tag, 0) }, 'patient-1'],
      [{ ...t, iv: flip(t.iv, 3) }, 'patient-1'],
      [{ ...t, wrappedKey: flip(t.wrappedKey, 20) }, 'patient-1'],
      [{ ...t, ciphertext: t.ciphertext.subarray(0, 256) }, 'patient-1'],
      [{ ...t, model: 'faceres@3' }, 'patient-1'],
      [{ ...t, transformId: ring.withNewTransform().currentTransformId }, 'patient-1'],
      [t, 'patient-2'],
      [t, ''],
    ];
    for (const [variant, boundTo] of variants) expect(codeOf(() => protection.unprotect(variant, boundTo))).toBe('KEY_INVALID');
    // a record and its data key from two different records don't combine either
    const other = protection.protect(embeddings[1]!, 'patient-1');
    expect(codeOf(() => protection.unprotect({ ...t, wrappedKey: other.wrappedKey }, 'patient-1'))).toBe('KEY_INVALID');
  });

  it('stay usable after key rotation: only the data key is re-wrapped', () => {
    const rotatedRing = ring.withNewKek();
    const before = embeddings.map((e, i) => protection.protect(e, `p${i}`));
    const rotation = new TemplateProtection(rotatedRing);
    const after = before.map((t) => rotation.rewrap(t));
    const retired = new TemplateProtection(rotatedRing.withoutKek(ring.currentKekId));
    after.forEach((t, i) => {
      expect(t.keyId).toBe(rotatedRing.currentKekId);
      expect(Buffer.from(t.ciphertext).equals(Buffer.from(before[i]!.ciphertext))).toBe(true);
      expect(Buffer.from(t.wrappedKey).equals(Buffer.from(before[i]!.wrappedKey))).toBe(false);
      expect(retired.unprotect(t, `p${i}`).vector).toEqual(protection.unprotect(before[i]!, `p${i}`).vector);
      // the old key alone no longer opens it
      expect(codeOf(() => protection.unprotect(t, `p${i}`))).toBe('KEY_INVALID');
    });
  });

  it('renewed to a new transform keep every score, without the embedding', () => {
    const renewedRing = ring.withNewTransform();
    const renewal = new TemplateProtection(renewedRing);
    const stored = embeddings.map((e, i) => protection.protect(e, `p${i}`));
    const renewed = stored.map((t, i) => renewal.renew(t, `p${i}`));
    const afterRetirement = new TemplateProtection(renewedRing.withoutTransform(ring.currentTransformId));
    const probe = embeddings[0]!;
    const newProbe = afterRetirement.transformProbe(probe);
    const oldProbe = protection.transformProbe(probe);
    expect(newProbe.transformId).toBe(renewedRing.currentTransformId);
    renewed.forEach((t, i) => {
      expect(t.transformId).toBe(renewedRing.currentTransformId);
      const opened = afterRetirement.unprotect(t, `p${i}`);
      expect(cosine(opened.vector, newProbe.vector)).toBeCloseTo(cosine(embeddings[i]!.vector, probe.vector), 5);
      // the stored vector really changed: old probes no longer line up with it
      const old = protection.unprotect(stored[i]!, `p${i}`);
      expect(cosine(opened.vector, old.vector)).toBeLessThan(0.5);
      expect(cosine(old.vector, oldProbe.vector)).toBeCloseTo(cosine(embeddings[i]!.vector, probe.vector), 5);
    });
  });

  it('seal photo bytes in the same envelope', () => {
    const photo = Buffer.from(Array.from({ length: 5000 }, (_, i) => (i * 31) % 251));
    const sealed = protection.protectBytes(photo, 'patient-1');
    expect(Buffer.from(sealed.ciphertext).includes(photo.subarray(0, 32))).toBe(false);
    expect(protection.unprotectBytes(sealed, 'patient-1').equals(photo)).toBe(true);
    expect(codeOf(() => protection.unprotectBytes(sealed, 'patient-2'))).toBe('KEY_INVALID');
    expect(codeOf(() => new TemplateProtection(KeyRing.generate()).unprotectBytes(sealed, 'patient-1'))).toBe('KEY_INVALID');
    const rewrapped = new TemplateProtection(ring.withNewKek());
    expect(codeOf(() => protection.unprotectBytes({ ...sealed, keyId: ring.withNewKek().currentKekId }, 'patient-1'))).toBe('KEY_INVALID');
    expect(rewrapped.unprotectBytes(sealed, 'patient-1').equals(photo)).toBe(true);
  });

  it('refuse an embedding that is not a finite vector', () => {
    expect(codeOf(() => protection.protect({ model: MODEL, vector: new Float32Array(0) }))).toBe('INVALID_ARGUMENT');
    expect(codeOf(() => protection.protect({ model: MODEL, vector: Float32Array.of(1, Number.NaN) }))).toBe('INVALID_ARGUMENT');
  });
});
