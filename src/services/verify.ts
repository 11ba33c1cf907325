import { MedfaceError } from '../errors.js';
import { cosine, decide, type MatchGrade } from '../identity/match.js';
import { activeBiometricConsent } from '../records/consent.js';
import { auditScore, withFailureAudit, type Actor } from './auditing.js';
import type { Medface } from './context.js';
import { assertKeysLive } from './keys.js';
import { storeTemplates, syncGallery, type StoredTemplates } from './templates.js';

export interface VerifyRequest {
  patientId: string;
  image: Uint8Array;
}

export interface VerifyResult {
  patientId: string;
  /** The score reaches the calibrated operating threshold. */
  match: boolean;
  /** Best cosine similarity of the capture with the patient's templates. */
  score: number;
  grade: MatchGrade;
  threshold: number;
  model: string;
  /** The capture was strong enough to be added to the patient's templates (ageing). */
  refreshed: boolean;
}

/**
 * 1:1 verification: is the face in the capture this patient? The capture is embedded for `verify`, moved
 * into the deployment's transform and compared with the patient's stored templates of the same model.
 *
 * Ageing: a faces changes over the years, so a verification graded `certain` (never a borderline match) of
 * a patient who still consents refreshes the template set with the capture, when the newest template is
 * older than the refresh interval. The set stays bounded: at the limit the oldest template is replaced.
 */
export function verify(medface: Medface, request: VerifyRequest, who: Actor): Promise<VerifyResult> {
  const { patientId } = request;
  return withFailureAudit(medface, who, 'biometric.verify', patientId, async () => {
    if (!(await medface.store.getPatient(patientId))) throw new MedfaceError('NOT_FOUND', 'no such patient', { patientId });
    const stored = await medface.store.listTemplates(patientId);
    if (stored.length === 0) throw new MedfaceError('NOT_FOUND', 'the patient has no enrolled face', { patientId });

    const face = await medface.embed(request.image, 'verify');
    const model = face.embedding.model;
    const references = [];
    for (const t of stored) if (t.modelId === model) references.push(await medface.openTemplate(t));
    if (references.length === 0) throw new MedfaceError('NOT_FOUND', `the patient has no face enrolled with ${model}`, { patientId, model });
    // after opening the templates: that may have re-read the key file, and the probe must use the same transform
    const probe = medface.protection.transformProbe(face.embedding);
    const score = Math.max(...references.map((r) => cosine(probe.vector, r.vector)));
    const thresholds = medface.thresholds(model);
    const decision = decide(score, thresholds);

    const newest = Math.max(...stored.map((t) => Date.parse(t.createdAt)));
    const strong = decision.match && score >= thresholds.grades.certain.minScore && face.quality.passed;
    const refresh =
      strong && Date.now() - newest >= medface.refreshAfterMs && (await activeBiometricConsent(medface.store, patientId)) !== null
        ? { sealed: await medface.seal(face.embedding, patientId), quality: face.quality }
        : undefined;

    return medface.exclusive(patientId, async () => {
      const change = await medface.store.transaction(async (tx) => {
        let change: StoredTemplates | undefined;
        if (refresh) {
          change = await storeTemplates(tx, patientId, [refresh], { source: 'refresh', limit: medface.maxTemplatesPerPatient, replaceOldest: true });
          await medface.audit.append(tx, {
            ...who,
            action: 'biometric.template-refresh',
            outcome: 'success',
            patientId,
            details: { score: auditScore(score), grade: decision.grade, replaced: change.replaced.length, templates: change.count },
          });
        }
        await medface.audit.append(tx, {
          ...who,
          action: 'biometric.verify',
          outcome: decision.match ? 'success' : 'failure',
          patientId,
          details: {
            match: decision.match,
            score: auditScore(score),
            grade: decision.grade,
            threshold: decision.threshold,
            model,
            quality: face.quality.reasons,
            refreshed: change !== undefined,
          },
        });
        if (refresh) await assertKeysLive(tx, [refresh.sealed]);
        return change;
      });
      if (change) await syncGallery(medface, change);
      return { patientId, match: decision.match, score, grade: decision.grade, threshold: decision.threshold, model, refreshed: change !== undefined };
    });
  });
}
