import { activeBiometricConsent } from '../../records/consent.js';
import { verifyAuditLog, type AuditVerification } from './audit.js';
import type { Medface } from '../context.js';
import { indexedTemplate } from '../biometrics/template-reader.js';

/** What can be wrong with one template, in the store or in this process's gallery. */
export type IntegrityProblemKind =
  /** It does not decrypt and authenticate with the deployment's keys (a partial write, tampering, or another key file). */
  | 'template-unreadable'
  /** It opens, but its vector is not finite or its length differs from the other templates of its model. */
  | 'template-shape'
  /** Its patient has no active biometric consent. */
  | 'template-without-consent'
  /** Stored, but not in the gallery (a search would miss the patient). */
  | 'template-not-indexed'
  /** In the gallery, but no longer stored (a search could report an erased template). */
  | 'index-not-stored'
  /** In the gallery under another patient than in the store. */
  | 'index-wrong-patient';

export interface IntegrityProblem {
  kind: IntegrityProblemKind;
  templateId: string;
}

export interface IntegrityReport {
  ok: boolean;
  /** Templates in the store, and in this process's gallery. */
  stored: number;
  indexed: number;
  /** The first problems found (at most MAX_PROBLEMS): template ids only, never a patient or a vector. */
  problems: IntegrityProblem[];
  audit: AuditVerification;
}

const MAX_PROBLEMS = 100;

/**
 * Checks what a crash, a bug or tampering could leave inconsistent: every stored template opens with the
 * deployment's keys into a well-formed vector, belongs to a patient with an active biometric consent, and is
 * in this process's gallery under the same patient; the gallery holds nothing else; the audit chain verifies
 * (against the keyed checkpoints too).
 * Read-only. Writes that commit while it runs can show up as passing differences, so run it on a quiet
 * node for a verdict (after a restart, or between bursts).
 */
export async function checkIntegrity(medface: Medface): Promise<IntegrityReport> {
  const problems: IntegrityProblem[] = [];
  let problemCount = 0;
  const found = (kind: IntegrityProblemKind, templateId: string) => {
    problemCount++;
    if (problems.length < MAX_PROBLEMS) problems.push({ kind, templateId });
  };
  const indexed = new Map<string, string>();
  for (const { templateId, patientId } of medface.templates.gallery.entries()) indexed.set(templateId, patientId);

  const dimensions = new Map<string, number>();
  const consented = new Map<string, boolean>();
  let stored = 0;
  for await (const t of medface.store.iterateTemplates()) {
    stored++;
    try {
      const { vector } = await medface.templates.open(indexedTemplate(t));
      const expected = dimensions.get(t.modelId) ?? vector.length;
      dimensions.set(t.modelId, expected);
      if (vector.length !== expected || !vector.every(Number.isFinite)) found('template-shape', t.id);
    } catch {
      found('template-unreadable', t.id);
    }
    let hasConsent = consented.get(t.patientId);
    if (hasConsent === undefined) {
      hasConsent = (await activeBiometricConsent(medface.store, t.patientId)) !== null;
      consented.set(t.patientId, hasConsent);
    }
    if (!hasConsent) found('template-without-consent', t.id);
    const indexedPatient = indexed.get(t.id);
    if (indexedPatient === undefined) found('template-not-indexed', t.id);
    else if (indexedPatient !== t.patientId) found('index-wrong-patient', t.id);
    indexed.delete(t.id);
  }
  for (const templateId of indexed.keys()) found('index-not-stored', templateId);

  const audit = await verifyAuditLog(medface);
  return { ok: problemCount === 0 && audit.ok, stored, indexed: medface.templates.gallery.size, problems, audit };
}
