import { expect, it } from 'vitest';
import type { Actor } from '../../src/services/auditing.js';
import { grantConsent } from '../../src/services/patients/consent.js';
import { startMedface } from '../../src/services/context.js';
import { enrol } from '../../src/services/biometrics/enrol.js';
import { checkIntegrity } from '../../src/services/operations/integrity.js';
import { createPatientRecord } from '../../src/services/patients/patients.js';
import { indexedTemplate } from '../../src/services/biometrics/template-reader.js';
import { describeEachStore } from '../store/harness.js';
import { faceTestKit, PATIENTS } from './fixtures.js';

const who: Actor = { actor: 'nurse-1', client: 'desk-3' };
const kit = faceTestKit('integrity');
const { images } = kit;

describeEachStore('integrity check', (h) => {
  it('passes on a consistent node, and names each template that is unreadable, without consent, missing from the gallery or only in it', async () => {
    const db = await h.create();
    const medface = await startMedface(await db.open(), { keyFile: kit.newKeyFile(), thresholdsFile: kit.thresholdsFile, faces: kit.faces });
    try {
      const ids: Record<'alice' | 'bob' | 'carol', string> = { alice: '', bob: '', carol: '' };
      const templateOf: Record<string, string> = {};
      for (const name of ['alice', 'bob', 'carol'] as const) {
        ids[name] = (await createPatientRecord(medface, PATIENTS[name], who)).id!;
        await grantConsent(medface, { patientId: ids[name], notice: 'v1' }, who);
        templateOf[name] = (await enrol(medface, { patientId: ids[name], images: [images[name]] }, who)).templates[0]!.id;
      }
      expect(await checkIntegrity(medface)).toMatchObject({ ok: true, stored: 3, indexed: 3, problems: [], audit: { ok: true } });

      // behind the server's back: a damaged ciphertext, a consent ended without its erasure, a gallery that missed a change
      await db.raw('UPDATE templates SET ciphertext = ? WHERE id = ?', [Buffer.alloc(512, 7), templateOf.alice]);
      await db.raw("UPDATE consents SET status = 'inactive' WHERE patient_id = ?", [ids.bob]);
      medface.templates.gallery.remove(templateOf.carol!);
      const ghost = { templateId: 'not-stored', patientId: ids.carol, template: await medface.templates.open(indexedTemplate((await medface.store.listTemplates(ids.bob))[0]!)) };
      medface.templates.gallery.add(ghost);

      const report = await checkIntegrity(medface);
      expect(report.ok).toBe(false);
      expect(report.problems).toEqual(
        expect.arrayContaining([
          { kind: 'template-unreadable', templateId: templateOf.alice },
          { kind: 'template-without-consent', templateId: templateOf.bob },
          { kind: 'template-not-indexed', templateId: templateOf.carol },
          { kind: 'index-not-stored', templateId: 'not-stored' },
        ]),
      );
      expect(report.problems).toHaveLength(4);
      expect(report.audit.ok).toBe(true);
    } finally {
      await medface.close();
      await db.drop();
    }
  });
});
