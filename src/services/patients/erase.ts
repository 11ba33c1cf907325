import { MedfaceError } from '../../errors.js';
import { activeBiometricConsent, withdrawBiometricConsent } from '../../records/consent.js';
import { inAuditedTransaction, withFailureAudit, type Actor } from '../auditing.js';
import type { Repository } from '../../store/types.js';
import type { Medface } from '../context.js';

/** What deleting a patient's face data removed. */
export interface FacesRemoved {
  templatesRemoved: number;
  photosRemoved: number;
}

export interface ErasureResult extends FacesRemoved {
  patientId: string;
  /** An active biometric consent was ended by the erasure. */
  consentWithdrawn: boolean;
}

/**
 * An erasure request for a patient's biometric data: every template and photo is deleted and an active
 * biometric consent ends, in one transaction. The medical record stays (it is not biometric data), and the
 * audit trail keeps the erasure under the patient's pseudonym only, with the reason staff gave.
 */
export function erase(medface: Medface, patientId: string, who: Actor, reason?: string): Promise<ErasureResult> {
  return withFailureAudit(medface, who, 'biometric.erase', patientId, () =>
    removingFaces(medface, patientId, () =>
      inAuditedTransaction(medface, who, 'biometric.erase', async (tx) => {
        if (!(await tx.lockPatient(patientId))) throw new MedfaceError('NOT_FOUND', 'no such patient', { patientId });
        const consentWithdrawn = (await activeBiometricConsent(tx, patientId)) !== null;
        if (consentWithdrawn) await withdrawBiometricConsent(tx, patientId);
        const { templatesRemoved, photosRemoved } = await deleteFaceData(tx, patientId);
        const details = { templatesRemoved, photosRemoved, consentWithdrawn, ...(reason !== undefined && { reason }) };
        return { result: { patientId, templatesRemoved, photosRemoved, consentWithdrawn }, patientId, details };
      }),
    ),
  );
}

/** Deletes every template and photo of the patient in `tx`; photos first: deleting a template would take its photo with it, uncounted. */
export async function deleteFaceData(tx: Repository, patientId: string): Promise<FacesRemoved> {
  const photosRemoved = await tx.deletePhotosOfPatient(patientId);
  const templatesRemoved = (await tx.deleteTemplatesOfPatient(patientId)).length;
  return { templatesRemoved, photosRemoved };
}

/**
 * Runs `change`, which deletes the patient's face data, under the patient's lock; after its commit the gallery
 * forgets the patient and the deleted bytes are scrubbed.
 */
export function removingFaces<T>(medface: Medface, patientId: string, change: () => Promise<T>): Promise<T> {
  return medface.templates.exclusive(patientId, async () => {
    const result = await change();
    medface.templates.gallery.removePatient(patientId);
    await scrubDeletedFaces(medface);
    return result;
  });
}

/**
 * After a commit that deleted templates or photos (erasure, consent withdrawal, a staff member's own face):
 * deleted is not yet gone, the rows' bytes stay in the database's files until the store scrubs them. A
 * scrub another process held up fails the request, which is safe to repeat (nothing left to delete, the
 * scrub runs again).
 */
export async function scrubDeletedFaces(medface: Medface): Promise<void> {
  if (!(await medface.store.scrubDeleted())) {
    throw new MedfaceError('STORE_UNAVAILABLE', 'the faces were deleted, but another process kept the database from clearing its log; try again');
  }
}
