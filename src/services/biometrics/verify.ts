import { MedfaceError } from '../../errors.js';
import type { Embedding, QualityReport } from '../../face/index.js';
import { cosine, decide, type MatchGrade } from '../../identity/match.js';
import { activeBiometricConsent } from '../../records/consent.js';
import { auditScore, withFailureAudit, type Actor } from '../auditing.js';
import type { Medface } from '../context.js';
import { assertKeysLive } from '../operations/keys.js';
import { checkLiveness, LIVENESS_REQUIRED, livenessFailed, type LivenessAttempt } from './liveness.js';
import { indexedTemplate } from './template-reader.js';
import { storeTemplates, syncGallery, type StoredTemplates } from './templates.js';

export type VerifyRequest = {
  patientId: string;
  /** The flow the liveness challenge was issued for (default `verify`; a telemedicine check's are `telemedicine`). */
  livenessPurpose?: 'verify' | 'telemedicine';
  /** Refuse a request without a liveness sequence (LIVENESS_REQUIRED), as an integrator may ask. */
  requireLiveness?: boolean;
} & (
  | { image: Uint8Array; liveness?: undefined }
  /** Frames filmed for a `verify` challenge: the check must pass, and the match frame is what is compared. */
  | { liveness: LivenessAttempt; image?: undefined }
);

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
  /** The active liveness check, when frames were sent (it passed: a failed one is LIVENESS_FAILED). */
  liveness?: { passed: true; observed: string[] };
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
    const purpose = request.livenessPurpose ?? 'verify';
    if ((request.requireLiveness || LIVENESS_REQUIRED[purpose]) && !request.liveness) throw new MedfaceError('LIVENESS_REQUIRED', 'this verification needs the frames of a liveness challenge');
    let face: { embedding: Embedding; quality: QualityReport | null };
    let live: VerifyResult['liveness'];
    let olderProbes: OlderProbes;
    if (request.liveness) {
      // the probe of a verified sequence: judged by the liveness check, not by the capture gates, so never a refresh
      const checked = await checkLiveness(medface, purpose, request.liveness, who, { subject: patientId, patientId });
      if (!checked.embedding) throw livenessFailed(checked.verdict);
      face = { embedding: checked.embedding, quality: null };
      live = { passed: true, observed: checked.verdict.observed };
      olderProbes = (models) => medface.faces.olderModelFrameProbes(checked.probeImages, models);
    } else {
      face = await medface.faces.embed(request.image, 'verify');
      olderProbes = (models) => medface.faces.olderModelProbes(request.image, 'verify', models);
    }
    // only now, after the capture was analysed, is the patient looked up: an unknown patient and one without a
    // face get one answer after the same work, so a verify key learns no more than whether the face it holds is
    // this patient's (issue 15 L7)
    const stored = (await medface.store.getPatient(patientId)) ? await medface.store.listTemplates(patientId) : [];
    if (stored.length === 0) throw notEnrolled(patientId);
    const comparable = await comparableProbe(face.embedding, stored, olderProbes);
    if (!comparable) throw await notComparable(medface, patientId, face.embedding.model, stored);
    // enrolled before the recogniser changed, not moved yet: compared in their templates' model, never refreshed
    if (comparable !== face.embedding) face = { embedding: comparable, quality: null };
    const model = face.embedding.model;
    const references = [];
    for (const t of stored) if (t.modelId === model) references.push(await medface.templates.open(indexedTemplate(t)));
    // after opening the templates: that may have re-read the key file, and the probe must use the same transform
    const probe = medface.templates.protection.transformProbe(face.embedding);
    const score = Math.max(...references.map((r) => cosine(probe.vector, r.vector)));
    const thresholds = medface.templates.thresholds(model);
    const decision = decide(score, thresholds);

    const newest = Math.max(...stored.map((t) => Date.parse(t.createdAt)));
    const quality = face.quality;
    const strong = decision.match && score >= thresholds.grades.certain.minScore;
    const refresh =
      strong && quality?.passed && Date.now() - newest >= medface.settings.refreshAfterMs && (await activeBiometricConsent(medface.store, patientId)) !== null
        ? { sealed: await medface.templates.seal(face.embedding, patientId), quality }
        : undefined;

    return medface.templates.exclusive(patientId, async () => {
      const change = await medface.store.transaction(async (tx) => {
        let change: StoredTemplates | undefined;
        if (refresh) {
          change = await storeTemplates(tx, patientId, [refresh], { source: 'refresh', limit: medface.settings.maxTemplatesPerPatient, replaceOldest: true });
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
            quality: quality?.reasons ?? [],
            ...(live && { liveness: request.liveness?.challengeId }),
            refreshed: change !== undefined,
          },
        });
        if (refresh) await assertKeysLive(tx, [refresh.sealed]);
        return change;
      });
      if (change) await syncGallery(medface, change);
      return {
        patientId,
        match: decision.match,
        score,
        grade: decision.grade,
        threshold: decision.threshold,
        model,
        refreshed: change !== undefined,
        ...(live && { liveness: live }),
      };
    });
  });
}

/** The capture embedded by the older models among `models` that this release can compare in (Medface.olderModelProbes). */
export type OlderProbes = (models: readonly string[]) => Promise<Embedding[]>;

/**
 * The probe a 1:1 comparison with `stored` templates uses: the current model's when some of them are of it,
 * otherwise the capture embedded by an older model they are of (someone enrolled before the recogniser changed
 * and not moved or enrolled again since), so a change of recogniser strands nobody; null when none of their
 * models can be compared here. Patient verification and staff face sign-in both decide this way.
 */
export async function comparableProbe(probe: Embedding, stored: readonly { modelId: string }[], olderProbes: OlderProbes): Promise<Embedding | null> {
  const models = [...new Set(stored.map((t) => t.modelId))];
  if (models.includes(probe.model)) return probe;
  return (await olderProbes(models)).find((p) => models.includes(p.model)) ?? null;
}

/**
 * The patient's templates are all of models the capture could not be compared in: said plainly, with the
 * reason each model cannot be searched (not run by this release, thresholds not calibrated), so the
 * operator knows to migrate (`medface templates migrate`) or enrol the patient again.
 */
async function notComparable(medface: Medface, patientId: string, current: string, stored: readonly { modelId: string }[]): Promise<MedfaceError> {
  const models = [...new Set(stored.map((t) => t.modelId))];
  const reasons = await Promise.all(models.map(async (model) => ({ model, reason: (await medface.faces.unsearchableModel(model)) ?? 'no-face-found' })));
  return new MedfaceError('NOT_FOUND', `the patient has no face enrolled with ${current}; their templates (${models.join(', ')}) cannot be compared here: migrate them or enrol the patient again`, {
    patientId,
    model: current,
    models: reasons,
  });
}

/**
 * The one answer for a patient nobody can be verified as: unknown or without an enrolled face (the caller
 * learns nothing it did not send).
 */
export function notEnrolled(patientId: string): MedfaceError {
  return new MedfaceError('NOT_FOUND', 'no face is enrolled for this patient', { patientId });
}
