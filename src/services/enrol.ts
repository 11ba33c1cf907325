import { isMedfaceError, MedfaceError } from '../errors.js';
import type { SubjectFace } from '../face/index.js';
import { decide, type MatchGrade } from '../identity/match.js';
import type { TransformedEmbedding } from '../identity/protection.js';
import { activeBiometricConsent } from '../records/consent.js';
import { recordSuspectedDuplicate } from '../records/links.js';
import type { PatientLinkStatus, Repository } from '../store/types.js';
import { audited, auditScore, withFailureAudit, type Actor } from './auditing.js';
import type { Medface } from './context.js';
import { assertKeysLive } from './keys.js';
import { storeTemplates, syncGallery, type TemplateToStore } from './templates.js';

export interface EnrolRequest {
  patientId: string;
  /** One or more captures of the patient, each with one face good enough to enrol. */
  images: readonly Uint8Array[];
  /**
   * Store even though another patient's face matches, saying why (e.g. "twins, checked ID"). The suspicion
   * stays recorded for review, marked overridden.
   */
  overrideDuplicate?: string;
  /** Keep each capture, encrypted like the templates, for human review (off by default). */
  keepPhoto?: boolean;
  /** At the template limit, replace the patient's oldest templates instead of refusing (TEMPLATE_LIMIT). */
  replaceOldest?: boolean;
}

export interface DuplicateCandidate {
  /** The other patient whose face matched. */
  patientId: string;
  score: number;
  grade: MatchGrade;
  /** The duplicate suspicion recorded for review (Patient.link seealso on both patients). */
  linkId: string;
  status: PatientLinkStatus;
}

export interface EnrolResult {
  patientId: string;
  templates: { id: string; quality: { reasons: string[] } }[];
  /** Templates replaced to stay within the limit (with `replaceOldest`). */
  replaced: string[];
  /** The patient's templates now, and the most allowed. */
  templateCount: number;
  limit: number;
  photosKept: number;
  /** Other patients whose face matched, stored anyway under an override. */
  duplicates: DuplicateCandidate[];
}

/** Other patients a duplicate search looks at per capture; a match is graded, the rest is never reported. */
const DUPLICATE_SEARCH_K = 5;
const DUPLICATE_GRADES: readonly MatchGrade[] = ['certain', 'probable'];

/**
 * Enrols face templates for a patient. Every capture must pass the `enrol` quality gate. Before anything is
 * stored the gallery is searched: when another patient's face matches at grade `probable` or better, nothing
 * is stored, a suspected duplicate (Patient.link `seealso`) is recorded for review and DUPLICATE_SUSPECTED
 * names the candidates — unless `overrideDuplicate` gives a reason. Templates, photos, links and the audit
 * entry are one transaction; the gallery follows after commit.
 */
export function enrol(medface: Medface, request: EnrolRequest, who: Actor): Promise<EnrolResult> {
  const { patientId, images } = request;
  return withFailureAudit(medface, who, 'biometric.enrol', patientId, async () => {
    if (images.length === 0 || images.length > medface.maxTemplatesPerPatient) {
      throw new MedfaceError('INVALID_ARGUMENT', `enrol takes 1 to ${medface.maxTemplatesPerPatient} images`);
    }
    if (request.overrideDuplicate !== undefined && request.overrideDuplicate.trim() === '') {
      throw new MedfaceError('VALIDATION_FAILED', 'an override needs a reason', { issues: [{ path: 'overrideDuplicate', message: 'is required' }] });
    }
    // Checked again inside the transaction; here it spares the face engine work that could never be stored.
    if (!(await medface.store.getPatient(patientId))) throw new MedfaceError('NOT_FOUND', 'no such patient', { patientId });
    if (!(await activeBiometricConsent(medface.store, patientId))) {
      throw new MedfaceError('CONSENT_REQUIRED', 'the patient has no active consent to biometric identification', { patientId });
    }
    const faces: SubjectFace[] = [];
    for (const [i, bytes] of images.entries()) faces.push(await embedCapture(medface, bytes, i));

    const suspects = await findOtherPatients(medface, faces, images, patientId);
    if (suspects.length > 0 && request.overrideDuplicate === undefined) {
      const duplicates = await medface.store.transaction(async (tx) => {
        const recorded = await recordSuspects(tx, who, patientId, suspects, undefined);
        await medface.audit.append(tx, {
          ...who,
          action: 'biometric.enrol',
          outcome: 'denied',
          patientId,
          details: { code: 'DUPLICATE_SUSPECTED', candidates: recorded.map((d) => candidateForAudit(medface, d)) },
        });
        return recorded;
      });
      throw audited(
        new MedfaceError('DUPLICATE_SUSPECTED', `the face matches ${duplicates.length} other patient(s); review the suspected duplicate or override with a reason`, {
          candidates: duplicates,
        }),
      );
    }

    const items: TemplateToStore[] = [];
    for (const [i, face] of faces.entries()) {
      const bytes = images[i]!;
      items.push({
        sealed: await medface.seal(face.embedding, patientId),
        quality: face.quality,
        ...(request.keepPhoto && { photo: { envelope: medface.protection.protectBytes(bytes, patientId), mediaType: mediaTypeOf(bytes) } }),
      });
    }

    return medface.exclusive(patientId, async () => {
      const { change, duplicates } = await medface.store.transaction(async (tx) => {
        const change = await storeTemplates(tx, patientId, items, {
          source: 'enrol',
          limit: medface.maxTemplatesPerPatient,
          replaceOldest: request.replaceOldest === true,
        });
        const duplicates = await recordSuspects(tx, who, patientId, suspects, request.overrideDuplicate);
        await medface.audit.append(tx, {
          ...who,
          action: 'biometric.enrol',
          outcome: 'success',
          patientId,
          details: {
            templates: change.inserted.length,
            replaced: change.replaced.length,
            photos: request.keepPhoto ? items.length : 0,
            quality: faces.map((f) => f.quality.reasons),
            override: duplicates.length > 0,
            candidates: duplicates.map((d) => candidateForAudit(medface, d)),
          },
        });
        await assertKeysLive(tx, items.map((i) => i.sealed));
        return { change, duplicates };
      });
      await syncGallery(medface, change);
      return {
        patientId,
        templates: change.inserted.map((t, i) => ({ id: t.id, quality: { reasons: faces[i]!.quality.reasons } })),
        replaced: change.replaced,
        templateCount: change.count,
        limit: medface.maxTemplatesPerPatient,
        photosKept: request.keepPhoto ? items.length : 0,
        duplicates,
      };
    });
  });
}

/** A capture's face, its refusal naming which image (0-based) it was. */
async function embedCapture(medface: Medface, bytes: Uint8Array, image: number): Promise<SubjectFace> {
  try {
    return await medface.embed(bytes, 'enrol');
  } catch (e) {
    if (!isMedfaceError(e)) throw e;
    throw new MedfaceError(e.code, `image ${image + 1}: ${e.message}`, { ...e.details, image });
  }
}

type Suspect = Pick<DuplicateCandidate, 'patientId' | 'score' | 'grade'>;

/**
 * Other patients whose face matches any capture at `probable` or better: each once, at its best score. Patients
 * enrolled under an older recogniser and not moved yet are searched with that model (the capture embedded by it).
 */
async function findOtherPatients(medface: Medface, faces: readonly SubjectFace[], images: readonly Uint8Array[], patientId: string): Promise<Suspect[]> {
  const best = new Map<string, Suspect>();
  const consider = (hit: Suspect) => {
    if (hit.patientId === patientId || !DUPLICATE_GRADES.includes(hit.grade)) return;
    const seen = best.get(hit.patientId);
    if (!seen || seen.score < hit.score) best.set(hit.patientId, hit);
  };
  for (const [i, face] of faces.entries()) {
    const probe: TransformedEmbedding = medface.protection.transformProbe(face.embedding);
    const thresholds = medface.thresholds(face.embedding.model);
    for (const hit of await medface.search(probe, DUPLICATE_SEARCH_K + 1, thresholds.grades.probable.minScore)) {
      consider({ patientId: hit.patientId, score: hit.score, grade: decide(hit.score, thresholds).grade });
    }
    const older = await medface.olderModelProbes(images[i]!, 'enrol');
    for (const { patientId: other, score, grade } of await medface.templates.searchStranded(older, face.embedding.model, DUPLICATE_SEARCH_K + 1, 'probable')) {
      consider({ patientId: other, score, grade });
    }
  }
  return [...best.values()].sort((a, b) => b.score - a.score);
}

/** Records each suspected duplicate for review (overridden when a reason is given); inside the enrolment's transaction. */
async function recordSuspects(
  tx: Repository,
  who: Actor,
  patientId: string,
  suspects: readonly Suspect[],
  overrideReason: string | undefined,
): Promise<DuplicateCandidate[]> {
  const duplicates: DuplicateCandidate[] = [];
  for (const s of suspects) {
    const link = await recordSuspectedDuplicate(tx, {
      patientId,
      otherPatientId: s.patientId,
      grade: s.grade,
      score: s.score,
      createdBy: who.actor,
      ...(overrideReason !== undefined && { overrideReason }),
    });
    duplicates.push({ ...s, linkId: link.id, status: link.status });
  }
  return duplicates;
}

/** Another patient in an audit entry: pseudonymous like every patient there. */
function candidateForAudit(medface: Medface, d: DuplicateCandidate): Record<string, unknown> {
  return { patientRef: medface.audit.patientRef(d.patientId), score: auditScore(d.score), grade: d.grade, linkId: d.linkId };
}

/** The media type of a kept photo, from its leading bytes (the formats the face engine accepts). */
function mediaTypeOf(bytes: Uint8Array): string {
  const ascii = (from: number, to: number) => String.fromCharCode(...bytes.subarray(from, to));
  if (bytes[0] === 0xff && bytes[1] === 0xd8) return 'image/jpeg';
  if (ascii(1, 4) === 'PNG') return 'image/png';
  if (ascii(0, 4) === 'RIFF' && ascii(8, 12) === 'WEBP') return 'image/webp';
  if (ascii(0, 3) === 'GIF') return 'image/gif';
  if (ascii(0, 2) === 'II' || ascii(0, 2) === 'MM') return 'image/tiff';
  if (ascii(4, 8) === 'ftyp') return 'image/avif';
  return 'application/octet-stream';
}
