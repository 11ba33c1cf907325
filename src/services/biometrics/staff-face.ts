import { ownAccount } from '../../access/account.js';
import type { FaceMatch, FaceVerifier } from '../../access/authenticate.js';
import type { AccessContext } from '../../access/context.js';
import type { Caller } from '../../access/guard.js';
import type { UserAccount } from '../../access/users.js';
import { MedfaceError } from '../../errors.js';
import { cosine, decide } from '../../identity/match.js';
import type { StoredStaffTemplate } from '../../store/types.js';
import { auditScore, withFailureAudit } from '../auditing.js';
import type { Medface } from '../context.js';
import { scrubDeletedFaces } from '../patients/erase.js';
import { assertKeysLive } from '../operations/keys.js';
import { checkLiveness, livenessFailed, type LivenessAttempt } from './liveness.js';
import { indexedTemplate } from './template-reader.js';
import { staffTemplateBinding, templateColumns } from './templates.js';
import { comparableProbe } from './verify.js';

/**
 * A staff member's own face as the second factor of "password + face" sign-in. Staff faces are biometric
 * data like patients': enrolled only by their owner, signed in with password and TOTP, with explicit
 * consent (the notice is kept with each template), protected by the same transform and envelope as patient
 * templates (bound to the account, so no row can be moved onto a patient), removable by their owner at any
 * time, deleted when the account is disabled or deleted, and re-protected by key rotation.
 *
 * They live in their own table: the gallery, 1:N identification and the duplicate check never see them.
 * Sign-in compares the capture 1:1 with the account's own templates at the calibrated operating threshold.
 */

/** Templates kept per staff member; a new enrolment beyond it replaces the oldest. */
export const MAX_STAFF_TEMPLATES = 3;

/** What a staff member consents to, recorded with their templates and in the audit trail. */
export const STAFF_FACE_NOTICE = 'urn:medface:notice:staff-face-sign-in:v1';

export interface StaffFaceStatus {
  templates: { id: string; createdAt: string; consentNotice: string }[];
  limit: number;
}

function statusOf(rows: readonly StoredStaffTemplate[]): StaffFaceStatus {
  return { templates: rows.map((t) => ({ id: t.id, createdAt: t.createdAt, consentNotice: t.consentNotice })), limit: MAX_STAFF_TEMPLATES };
}

function actorOf(caller: Caller) {
  return { actor: caller.principal.id, client: caller.client ?? null };
}

export async function ownFaceStatus(access: AccessContext, caller: Caller): Promise<StaffFaceStatus> {
  const user = await ownAccount(access, caller);
  return statusOf(await access.store.listStaffTemplates(user.id));
}

/**
 * Enrols the caller's own face from one capture (quality-gated for enrolment), after explicit consent to
 * the staff notice; a capture without consent is refused (CONSENT_REQUIRED) before the face is looked at.
 */
export async function enrolOwnFace(medface: Medface, access: AccessContext, caller: Caller, request: { image: Uint8Array; consent: boolean }): Promise<StaffFaceStatus> {
  const user = await ownAccount(access, caller);
  const who = actorOf(caller);
  return withFailureAudit(medface, who, 'user.face-enrol', null, async () => {
    if (!request.consent) throw new MedfaceError('CONSENT_REQUIRED', 'enrolling a face for sign-in needs your consent to the staff face notice');
    const face = await medface.faces.embed(request.image, 'enrol');
    const sealed = await medface.templates.seal(face.embedding, staffTemplateBinding(user.id));
    const rows = await medface.store.transaction(async (tx) => {
      const existing = await tx.listStaffTemplates(user.id);
      // enrolled again after the recogniser changed: the older model's templates give way, as a patient's do (templates.ts)
      const sameModel = existing.filter((t) => t.modelId === sealed.model);
      const replaced = [...existing.filter((t) => t.modelId !== sealed.model), ...sameModel.slice(0, Math.max(0, sameModel.length - MAX_STAFF_TEMPLATES + 1))];
      for (const old of replaced) await tx.deleteStaffTemplate(old.id);
      await tx.insertStaffTemplate({ userId: user.id, ...templateColumns(sealed, face.quality), consentNotice: STAFF_FACE_NOTICE });
      const after = await tx.listStaffTemplates(user.id);
      await medface.audit.append(tx, {
        ...who,
        action: 'user.face-enrol',
        outcome: 'success',
        details: { userId: user.id, consent: STAFF_FACE_NOTICE, templates: after.length, replaced: replaced.length, quality: face.quality.reasons },
      });
      await assertKeysLive(tx, [sealed]);
      return after;
    });
    return statusOf(rows);
  });
}

/** Removes every template of the caller's own face (withdrawing the consent); sign-in falls back to TOTP. */
export async function removeOwnFace(medface: Medface, access: AccessContext, caller: Caller): Promise<{ removed: number }> {
  const user = await ownAccount(access, caller);
  const result = await medface.store.transaction(async (tx) => {
    const removed = await tx.deleteStaffTemplatesOfUser(user.id);
    await medface.audit.append(tx, { ...actorOf(caller), action: 'user.face-remove', outcome: 'success', details: { userId: user.id, removed } });
    return { removed };
  });
  await scrubDeletedFaces(medface);
  return result;
}

/**
 * The face step of staff sign-in (access/authenticate.ts `signInWithFace`): the active liveness check on the
 * frames filmed for a `staff-sign-in` challenge (the same check as the patients' portal: a still photo of a
 * staff member must not stand in for their TOTP), then the verified sequence's probe compared 1:1 with the
 * account's own templates in their model: a face enrolled before the recogniser changed is compared with the
 * frames embedded by that model (`comparableProbe`, as patient verification does) until its owner enrols it
 * again, which replaces the older model's templates. An account without an enrolled face fails
 * like a wrong face (NOT_FOUND), and a refused challenge or a failed check like a face error: the sign-in
 * reports them as "sign-in failed" and counts them. The check runs only after the password was right, with
 * the account as the actor of its `liveness.check` entry.
 */
export function staffFaceVerifier(medface: Medface, attempt: LivenessAttempt, client: string | null): FaceVerifier {
  return async (user: UserAccount): Promise<FaceMatch> => {
    const stored = await medface.store.listStaffTemplates(user.id);
    if (stored.length === 0) throw new MedfaceError('NOT_FOUND', 'no face enrolled for sign-in');
    const checked = await checkLiveness(medface, 'staff-sign-in', attempt, { actor: user.id, client });
    if (!checked.embedding) throw livenessFailed(checked.verdict);
    // enrolled before the recogniser changed: the verified frames embedded by their templates' model, as verify does
    const probeEmbedding = await comparableProbe(checked.embedding, stored, (models) => medface.faces.olderModelFrameProbes(checked.probeImages, models));
    if (!probeEmbedding) {
      const models = [...new Set(stored.map((t) => t.modelId))].join(', ');
      throw new MedfaceError('NOT_FOUND', `the face enrolled for sign-in (${models}) cannot be compared with ${checked.embedding.model}: enrol it again`);
    }
    const model = probeEmbedding.model;
    const binding = staffTemplateBinding(user.id);
    const references = [];
    for (const t of stored) {
      if (t.modelId !== model) continue;
      // the index re-reads a rotated key file; the row shape it reads is the patient template's
      references.push(await medface.templates.open(indexedTemplate({ ...t, patientId: binding, source: 'enrol' })));
    }
    const probe = medface.templates.protection.transformProbe(probeEmbedding);
    const score = Math.max(...references.map((r) => cosine(probe.vector, r.vector)));
    const decision = decide(score, medface.templates.thresholds(model));
    return { match: decision.match, grade: decision.grade, score: auditScore(score) };
  };
}
