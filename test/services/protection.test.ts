import { randomBytes } from 'node:crypto';
import { copyFileSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { KeyRing, saveKeyRing, type KeyFile } from '../../src/identity/keys.js';
import type { Actor } from '../../src/services/auditing.js';
import { startMedface, type Medface } from '../../src/services/context.js';
import { identify } from '../../src/services/biometrics/identify.js';
import { rotateKeyEncryptionKey, renewTemplateTransform } from '../../src/services/operations/keys.js';
import { pseudonymKeyPath } from '../../src/services/operations/pseudonym-key.js';
import { verify } from '../../src/services/biometrics/verify.js';
import { openStore } from '../../src/store/index.js';
import { describeEachStore, type TestDatabase } from '../store/harness.js';
import { registerPatient, faceTestKit, PATIENTS } from './fixtures.js';

const who: Actor = { actor: 'admin-1', client: 'test' };

const kit = faceTestKit('protection');
const { images } = kit;

function enrolPatient(medface: Medface, input: object, image: Buffer, keepPhoto = false): Promise<string> {
  return registerPatient(medface, input, { images: [image], keepPhoto }, who);
}

/** Every 16-byte run (four float32 values) of a vector, as little-endian bytes: any of them in a file is a leak. */
function windowsOf(vector: Float32Array): Buffer[] {
  const bytes = Buffer.from(vector.buffer, vector.byteOffset, vector.byteLength);
  const windows: Buffer[] = [];
  for (let i = 0; i + 16 <= bytes.length; i += 4) windows.push(bytes.subarray(i, i + 16));
  return windows;
}

const leaks = (haystack: Buffer, needles: readonly Buffer[]): number => needles.filter((n) => haystack.includes(n)).length;

describe('what the SQLite database file holds', () => {
  it('has no plaintext embedding, rotated embedding, photo or key bytes', async () => {
    const dataDir = path.join(mkdtempSync(path.join(kit.dir, 'scan-')), 'data');
    const keyFile = path.join(dataDir, 'medface.key');
    const medface = await startMedface(await openStore({ dataDir }), { keyFile, thresholdsFile: kit.thresholdsFile, faces: kit.faces });
    const files = () =>
      Buffer.concat(
        readdirSync(dataDir)
          .filter((f) => f.startsWith('medface.db'))
          .map((f) => readFileSync(path.join(dataDir, f))),
      );
    let closed = false;
    try {
      const alice = await enrolPatient(medface, PATIENTS.alice, images.alice, true);
      await verify(medface, { patientId: alice, image: images.aliceAgain }, who);
      const raw = (await kit.faces.embeddingOf(images.alice, 'enrol')).embedding;
      const probe = (await kit.faces.embeddingOf(images.aliceAgain, 'verify')).embedding;
      const needles = [
        ...windowsOf(raw.vector),
        ...windowsOf(medface.templates.protection.transformProbe(raw).vector),
        ...windowsOf(probe.vector),
        ...windowsOf(medface.templates.protection.transformProbe(probe).vector),
      ];
      const photoSlices = [0.25, 0.5, 0.75].map((at) => images.alice.subarray(Math.floor(at * images.alice.length), Math.floor(at * images.alice.length) + 32));
      const ring = JSON.parse(readFileSync(keyFile, 'utf8')) as KeyFile;
      const auditKey = (JSON.parse(readFileSync(pseudonymKeyPath(keyFile), 'utf8')) as { key: string }).key;
      const secrets = [...ring.keks.map((k) => k.key), ...ring.transforms.map((t) => t.seed), auditKey].map((b64) => Buffer.from(b64, 'base64'));

      // the search itself finds a leak when there is one
      expect(leaks(Buffer.concat([randomBytes(100), needles[7]!, randomBytes(100)]), needles)).toBeGreaterThan(0);
      expect(await medface.store.countTemplates()).toBe(1);
      expect(await medface.store.listPhotos(alice)).toHaveLength(1);

      for (const scan of [files(), await medface.close().then(() => ((closed = true), files()))]) {
        expect(scan.length).toBeGreaterThan(0);
        expect(leaks(scan, needles)).toBe(0);
        expect(leaks(scan, photoSlices)).toBe(0);
        expect(leaks(scan, secrets)).toBe(0);
      }
    } finally {
      if (!closed) await medface.close();
    }
  });
});

describeEachStore('keys', (h) => {
  let db: TestDatabase;
  let keyFile: string;
  const opened: Medface[] = [];
  const start = async (file = keyFile): Promise<Medface> => {
    const medface = await startMedface(await db.open(), { keyFile: file, thresholdsFile: kit.thresholdsFile, faces: kit.faces });
    opened.push(medface);
    return medface;
  };
  const closeAll = async () => {
    for (const m of opened.splice(0)) await m.close();
  };

  beforeEach(async () => {
    db = await h.create();
    keyFile = kit.newKeyFile();
  });

  afterEach(async () => {
    await closeAll();
    await db.drop();
  });

  it("refuses to open with another deployment's key file, a tampered one or none at all", async () => {
    const medface = await start();
    await enrolPatient(medface, PATIENTS.alice, images.alice);
    await closeAll();
    const genuine = readFileSync(keyFile, 'utf8');

    await saveKeyRing(keyFile, KeyRing.generate());
    await expect(start()).rejects.toMatchObject({ code: 'KEY_INVALID' });

    // the same key ids with other key bytes
    const tampered = JSON.parse(genuine) as KeyFile;
    tampered.keks[0]!.key = randomBytes(32).toString('base64');
    writeFileSync(keyFile, JSON.stringify(tampered));
    await expect(start()).rejects.toMatchObject({ code: 'KEY_INVALID' });

    rmSync(keyFile);
    await expect(start()).rejects.toMatchObject({ code: 'KEY_MISSING' });

    writeFileSync(keyFile, genuine);
    const auditKey = readFileSync(pseudonymKeyPath(keyFile));
    rmSync(pseudonymKeyPath(keyFile));
    await expect(start()).rejects.toMatchObject({ code: 'KEY_MISSING' });
    writeFileSync(pseudonymKeyPath(keyFile), auditKey);

    const again = await start();
    expect((await identify(again, { image: images.aliceAgain }, who)).match).toBe(true);
  });

  it('refuses a tampered key file even before any template is stored (check values in the key metadata)', async () => {
    await start();
    await closeAll();
    const file = JSON.parse(readFileSync(keyFile, 'utf8')) as KeyFile;
    file.transforms[0]!.seed = randomBytes(32).toString('base64');
    writeFileSync(keyFile, JSON.stringify(file));
    await expect(start()).rejects.toMatchObject({ code: 'KEY_INVALID' });
  });

  it('rotates the key-encryption key: every record re-wrapped, the old key retired and no longer needed', async () => {
    const medface = await start();
    const alice = await enrolPatient(medface, PATIENTS.alice, images.alice, true);
    const before = await verify(medface, { patientId: alice, image: images.aliceAgain }, who);
    const oldKek = medface.templates.keys.currentKekId;
    const oldKeyFile = path.join(mkdtempSync(path.join(kit.dir, 'old-keys-')), 'medface.key');
    copyFileSync(keyFile, oldKeyFile);
    copyFileSync(pseudonymKeyPath(keyFile), pseudonymKeyPath(oldKeyFile));
    // a second process that loaded the key file before the rotation
    const reader = h.name === 'postgres' ? await start() : undefined;

    const rotated = await rotateKeyEncryptionKey(medface, who);
    expect(rotated).toEqual({ current: medface.templates.keys.currentKekId, retired: [oldKek], templates: 1, staffTemplates: 0, photos: 1 });
    expect(rotated.current).not.toBe(oldKek);
    expect(KeyRing.parse(readFileSync(keyFile, 'utf8')).kekIds).toEqual([rotated.current]);
    expect((await medface.store.listTemplates(alice)).map((t) => t.keyId)).toEqual([rotated.current]);
    const [photo] = await medface.store.listPhotos(alice);
    expect(photo!.keyId).toBe(rotated.current);
    expect(medface.templates.protection.unprotectBytes(photo!, alice).equals(images.alice)).toBe(true);
    expect((await medface.store.getKey(oldKek))?.retiredAt).not.toBeNull();
    expect((await medface.audit.search(medface.store, { action: 'keys.rotate' })).map((e) => e.details)).toMatchObject([
      { current: rotated.current, retired: [oldKek], templates: 1, staffTemplates: 0, photos: 1 },
    ]);

    expect(await verify(medface, { patientId: alice, image: images.aliceAgain }, who)).toMatchObject({ match: true, score: before.score });
    if (reader) {
      // it meets a record under a key it lacks, reads the key file again, and carries on
      expect(reader.templates.keys.currentKekId).toBe(oldKek);
      expect((await verify(reader, { patientId: alice, image: images.aliceAgain }, who)).match).toBe(true);
      expect(reader.templates.keys.currentKekId).toBe(rotated.current);
    }
    await closeAll();

    const reopened = await start();
    expect((await identify(reopened, { image: images.aliceAgain }, who)).candidates.map((c) => c.patientId)).toEqual([alice]);
    // new records are sealed under the new key, and the old key file opens nothing any more
    const bob = await enrolPatient(reopened, PATIENTS.bob, images.bob);
    expect((await reopened.store.listTemplates(bob)).map((t) => t.keyId)).toEqual([rotated.current]);
    await closeAll();
    await expect(start(oldKeyFile)).rejects.toMatchObject({ code: 'KEY_INVALID' });
  });

  it('renews the transform without any image: same scores, new protected templates, old seed retired', async () => {
    const medface = await start();
    const alice = await enrolPatient(medface, PATIENTS.alice, images.alice);
    const bob = await enrolPatient(medface, PATIENTS.bob, images.bob);
    const before = await identify(medface, { image: images.aliceAgain }, who);
    const oldTransform = medface.templates.keys.currentTransformId;
    const oldCiphertexts = (await medface.store.listTemplates(alice)).map((t) => Buffer.from(t.ciphertext).toString('hex'));
    const reader = h.name === 'postgres' ? await start() : undefined;

    const renewed = await renewTemplateTransform(medface, who);
    expect(renewed).toEqual({ current: medface.templates.keys.currentTransformId, retired: [oldTransform], templates: 2, staffTemplates: 0, photos: 0 });
    expect(KeyRing.parse(readFileSync(keyFile, 'utf8')).transformIds).toEqual([renewed.current]);
    const templates = [...(await medface.store.listTemplates(alice)), ...(await medface.store.listTemplates(bob))];
    expect(templates.map((t) => t.transformId)).toEqual([renewed.current, renewed.current]);
    expect(Buffer.from(templates[0]!.ciphertext).toString('hex')).not.toBe(oldCiphertexts[0]);
    expect((await medface.store.getKey(oldTransform))?.retiredAt).not.toBeNull();

    const after = await identify(medface, { image: images.aliceAgain }, who);
    expect(after.candidates.map((c) => c.patientId)).toEqual([alice]);
    expect(after.candidates[0]!.score).toBeCloseTo(before.candidates[0]!.score, 4);
    if (reader) {
      expect(reader.templates.keys.currentTransformId).toBe(oldTransform);
      expect((await verify(reader, { patientId: alice, image: images.aliceAgain }, who)).match).toBe(true);
      expect((await identify(reader, { image: images.aliceAgain }, who)).candidates.map((c) => c.patientId)).toEqual([alice]);
    }
    await closeAll();
    expect((await identify(await start(), { image: images.bob }, who)).candidates.map((c) => c.patientId)).toEqual([bob]);
  });

  it('runs one key change at a time', async () => {
    const medface = await start();
    writeFileSync(`${keyFile}.lock`, '');
    await expect(rotateKeyEncryptionKey(medface, who)).rejects.toMatchObject({ code: 'CONFLICT' });
    rmSync(`${keyFile}.lock`);
    await expect(rotateKeyEncryptionKey(medface, who)).resolves.toMatchObject({ templates: 0 });
  });
});
