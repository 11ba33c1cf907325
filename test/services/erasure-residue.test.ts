import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { afterEach, beforeEach, expect, it } from 'vitest';
import type { Actor } from '../../src/services/auditing.js';
import { withdrawConsent } from '../../src/services/patients/consent.js';
import { startMedface, type Medface } from '../../src/services/context.js';
import { erase } from '../../src/services/patients/erase.js';
import { describeEachStore, type TestDatabase } from '../store/harness.js';
import { registerPatient, faceTestKit, PATIENTS } from './fixtures.js';

/**
 * Issue 15, finding 5: an erased template, carved from SQLite's free pages and opened with the key file beside
 * the database, matched a fresh photo of the erased patient. After an erasure (or a consent withdrawal, which
 * erases too) no byte run of an erased ciphertext may remain in the database file or its write-ahead log.
 */
const who: Actor = { actor: 'dpo-1', client: 'desk-1' };

const kit = faceTestKit('residue');
const { images } = kit;

/** 32-byte runs from the start, middle and end of each ciphertext: any one of them found is a recoverable trace. */
function fingerprints(ciphertexts: Buffer[]): Buffer[] {
  return ciphertexts.flatMap((c) => [0, Math.floor(c.length / 2) - 16, c.length - 32].map((at) => c.subarray(at, at + 32)));
}

describeEachStore('erased biometric data leaves no residue', (h) => {
  let db: TestDatabase;
  let medface: Medface;

  beforeEach(async () => {
    db = await h.create();
    medface = await startMedface(await db.open(), { keyFile: kit.newKeyFile(), thresholdsFile: kit.thresholdsFile, faces: kit.faces });
  });

  afterEach(async () => {
    await medface.close();
    await db.drop();
  });

  /** Alice (kept photo and all) and Bob enrolled; returns Alice's id and her template and photo ciphertexts as stored. */
  const enrolAliceAndBob = async (): Promise<{ alice: string; ciphertexts: Buffer[] }> => {
    const ids: string[] = [];
    for (const [input, image] of [
      [PATIENTS.alice, images.alice],
      [PATIENTS.bob, images.bob],
    ] as const) {
      ids.push(await registerPatient(medface, input, { images: [image], keepPhoto: true }, who, 'v2'));
    }
    const alice = ids[0]!;
    const rows = [
      ...(await db.raw<{ ciphertext: Uint8Array }>('SELECT ciphertext FROM templates WHERE patient_id = ?', [alice])),
      ...(await db.raw<{ ciphertext: Uint8Array }>('SELECT ciphertext FROM photos WHERE patient_id = ?', [alice])),
    ];
    expect(rows).toHaveLength(2);
    return { alice, ciphertexts: rows.map((r) => Buffer.from(r.ciphertext)) };
  };

  /** Every fingerprint found in the raw bytes of the SQLite file and its write-ahead log, while the server runs. */
  const carve = (ciphertexts: Buffer[]): string[] => {
    const dataDir = db.config.dataDir!;
    const found: string[] = [];
    for (const name of ['medface.db', 'medface.db-wal']) {
      const file = path.join(dataDir, name);
      if (!existsSync(file)) continue;
      const bytes = readFileSync(file);
      for (const [i, print] of fingerprints(ciphertexts).entries()) if (bytes.includes(print)) found.push(`${name}: fingerprint ${i}`);
    }
    return found;
  };

  if (h.name === 'sqlite') {
    it('erasure: the erased template and photo cannot be carved from the database file or its log', async () => {
      const { alice, ciphertexts } = await enrolAliceAndBob();
      // the carving finds what is there: before the erasure every fingerprint is in the files
      expect(carve(ciphertexts)).toHaveLength(fingerprints(ciphertexts).length);

      await erase(medface, alice, who);
      expect(carve(ciphertexts)).toEqual([]);
      // Bob's data is untouched
      expect(await medface.store.countTemplates()).toBe(1);
    });

    it('consent withdrawal: the deleted template and photo cannot be carved either', async () => {
      const { alice, ciphertexts } = await enrolAliceAndBob();
      await withdrawConsent(medface, alice, who);
      expect(carve(ciphertexts)).toEqual([]);
    });
  } else {
    it('erasure vacuums the biometric tables (dead rows leave the indexes and their space is reused)', async () => {
      const { alice } = await enrolAliceAndBob();
      const lastVacuum = () =>
        db.raw<{ relname: string; last_vacuum: Date | null }>(
          `SELECT relname, last_vacuum FROM pg_stat_user_tables WHERE schemaname = current_schema() AND relname IN ('templates', 'photos') ORDER BY relname`,
        );
      expect((await lastVacuum()).map((r) => r.last_vacuum)).toEqual([null, null]);
      await erase(medface, alice, who);
      const after = await lastVacuum();
      expect(after.map((r) => r.relname)).toEqual(['photos', 'templates']);
      expect(after.every((r) => r.last_vacuum !== null)).toBe(true);
    });
  }
});
