import { MedfaceError } from '../../errors.js';
import { grantBiometricConsent, withdrawBiometricConsent } from '../../records/consent.js';
import type { Consent } from '../../records/fhir.js';
import { auditedChange, inAuditedTransaction, withFailureAudit, type Actor } from '../auditing.js';
import type { Medface } from '../context.js';
import { deleteFaceData, removingFaces, type FacesRemoved } from './erase.js';

export interface ConsentGrant {
  patientId: string;
  /**
   * The privacy notice the patient was shown: a URI, or a version label such as `v3`, recorded as
   * `urn:medface:notice:v3`.
   */
  notice: string;
  /** The user who recorded the consent (default: the actor). */
  recordedBy?: string;
}

const NOTICE_LABEL = /^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/;

/** The notice as the URI Consent.policy holds. */
export function noticeUri(notice: string): string {
  if (NOTICE_LABEL.test(notice)) return `urn:medface:notice:${notice}`;
  if (/^[a-z][a-z0-9+.-]*:\S+$/i.test(notice) && notice.length <= 256) return notice;
  throw new MedfaceError('VALIDATION_FAILED', 'the notice must be a version label (letters, digits, . _ -) or a URI', {
    issues: [{ path: 'notice', message: 'must be a version label or a URI' }],
  });
}

/** Records the patient's consent to biometric identification (superseding an earlier one), audited. */
export function grantConsent(medface: Medface, grant: ConsentGrant, who: Actor): Promise<Consent> {
  return auditedChange(medface, who, 'consent.grant', grant.patientId, async (tx) => {
    const policy = noticeUri(grant.notice);
    const consent = await grantBiometricConsent(tx, { patientId: grant.patientId, recordedBy: grant.recordedBy ?? who.actor, noticeUri: policy });
    return { result: consent, patientId: grant.patientId, details: { consentId: consent.id, notice: policy } };
  });
}

export interface ConsentWithdrawal extends FacesRemoved {
  consent: Consent;
}

/**
 * Withdraws the patient's biometric consent and, in the same transaction, deletes every template and photo
 * of the patient; the gallery forgets them right after commit. `reason`, when staff give one (the front desk
 * acting on the patient's word), is kept in the audit entry.
 */
export function withdrawConsent(medface: Medface, patientId: string, who: Actor, reason?: string): Promise<ConsentWithdrawal> {
  return withFailureAudit(medface, who, 'consent.withdraw', patientId, () =>
    removingFaces(medface, patientId, () =>
      inAuditedTransaction(medface, who, 'consent.withdraw', async (tx) => {
        const consent = await withdrawBiometricConsent(tx, patientId);
        const { templatesRemoved, photosRemoved } = await deleteFaceData(tx, patientId);
        const details = { consentId: consent.id, templatesRemoved, photosRemoved, ...(reason !== undefined && { reason }) };
        return { result: { consent, templatesRemoved, photosRemoved }, patientId, details };
      }),
    ),
  );
}
