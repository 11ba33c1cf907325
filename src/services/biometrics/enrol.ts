import { isMedfaceError, MedfaceError } from '../../errors.js';
import type { SubjectFace } from '../../face/index.js';
import { randomUUID } from 'node:crypto';
import { cosine, decide, type MatchGrade } from '../../identity/match.js';
import { activeBiometricConsent } from '../../records/consent.js';
import { recordSuspectedDuplicate } from '../../records/links.js';
import type { PatientLinkStatus, Repository } from '../../store/types.js';
import { audited, auditScore, withFailureAudit, type Actor } from '../auditing.js';
import type { Medface } from '../context.js';
import { gradedCandidates } from './identify.js';
import { assertKeysLive } from '../operations/keys.js';
import { indexedTemplate } from './template-reader.js';
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

/**
 * Enrols face templates for a patient. Every capture must pass the `enrol` quality gate. A patient who has a
 * face enrolled already is its owner: each new capture must match their templates 1:1 at the calibrated
 * operating threshold, or nothing is stored (FACE_MISMATCH, audited as denied) — otherwise whoever may enrol
 * could put their own face on any patient and sign in to that patient's portal. A patient whose face really
 * changed is re-enrolled by two people: a privacy officer erases the enrolled face (`biometric.erase`,
 * audited), then the patient is enrolled afresh.
 *
 * Before anything is stored the gallery is searched: when another patient's face matches at grade `probable`
 * or better, nothing is stored, a suspected duplicate (Patient.link `seealso`) is recorded for review and
 * DUPLICATE_SUSPECTED names the candidates — unless `overrideDuplicate` gives a reason. Templates, photos,
 * links, a notice to the patient that a face was added (shown in the portal and at the next check-in) and
 * the audit entry are one transaction; the gallery follows after commit.
 */
export function enrol(medface: Medface, request: EnrolRequest, who: Actor): Promise<EnrolResult> {
  const { patientId, images } = request;
  return withFailureAudit(medface, who, 'biometric.enrol', patientId, async () => {
    if (images.length === 0 || images.length > medface.settings.maxTemplatesPerPatient) {
      throw new MedfaceError('INVALID_ARGUMENT', `enrol takes 1 to ${medface.settings.maxTemplatesPerPatient} images`);
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

    const owner = await compareWithEnrolledFace(medface, patientId, faces, images);
    if (owner && !owner.match) {
      await medface.audit.record(medface.store, {
        ...who,
        action: 'biometric.enrol',
        outcome: 'denied',
        patientId,
        details: { code: 'FACE_MISMATCH', score: auditScore(owner.score), grade: owner.grade, image: owner.image },
      });
      throw audited(
        new MedfaceError(
          'FACE_MISMATCH',
          `image ${owner.image + 1}: the face does not match the face already enrolled for this patient; if the patient's face has changed, a privacy officer erases the enrolled face first, then enrol again`,
          { image: owner.image },
        ),
      );
    }

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
        sealed: await medface.templates.seal(face.embedding, patientId),
        quality: face.quality,
        ...(request.keepPhoto && { photo: { envelope: medface.templates.protection.protectBytes(bytes, patientId), mediaType: mediaTypeOf(bytes) } }),
      });
    }

    return medface.templates.exclusive(patientId, async () => {
      const { change, duplicates } = await medface.store.transaction(async (tx) => {
        const change = await storeTemplates(tx, patientId, items, {
          source: 'enrol',
          limit: medface.settings.maxTemplatesPerPatient,
          replaceOldest: request.replaceOldest === true,
        });
        const duplicates = await recordSuspects(tx, who, patientId, suspects, request.overrideDuplicate);
        const notice = { id: randomUUID(), patientId, kind: 'face-added' as const, createdAt: new Date().toISOString(), portalShownAt: null, visitShownAt: null };
        await tx.insertPatientNotice(notice);
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
            ...(owner && { matchedEnrolled: { score: auditScore(owner.score), grade: owner.grade } }),
            noticeId: notice.id,
          },
        });
        await assertKeysLive(
          tx,
          items.map((i) => i.sealed),
        );
        return { change, duplicates };
      });
      await syncGallery(medface, change);
      return {
        patientId,
        templates: change.inserted.map((t, i) => ({ id: t.id, quality: { reasons: faces[i]!.quality.reasons } })),
        replaced: change.replaced,
        templateCount: change.count,
        limit: medface.settings.maxTemplatesPerPatient,
        photosKept: request.keepPhoto ? items.length : 0,
        duplicates,
      };
    });
  });
}

/** A capture's face, its refusal naming which image (0-based) it was. */
async function embedCapture(medface: Medface, bytes: Uint8Array, image: number): Promise<SubjectFace> {
  try {
    return await medface.faces.embed(bytes, 'enrol');
  } catch (e) {
    if (!isMedfaceError(e)) throw e;
    throw new MedfaceError(e.code, `image ${image + 1}: ${e.message}`, { ...e.details, image });
  }
}

/**
 * The captures compared 1:1 with the patient's enrolled templates: the weakest capture's best score and its
 * decision at the operating threshold of the templates' model; null when the patient has no face enrolled.
 * Templates of an older recogniser (a patient not moved yet, re-enrolled at their visit) are compared with the
 * capture embedded by that model.
 */
async function compareWithEnrolledFace(
  medface: Medface,
  patientId: string,
  faces: readonly SubjectFace[],
  images: readonly Uint8Array[],
): Promise<{ match: boolean; score: number; grade: MatchGrade; image: number } | null> {
  const stored = await medface.store.listTemplates(patientId);
  if (stored.length === 0) return null;
  let weakest: { match: boolean; score: number; grade: MatchGrade; image: number } | null = null;
  for (const [image, face] of faces.entries()) {
    const current = face.embedding.model;
    const probes = stored.some((t) => t.modelId !== current) ? [face.embedding, ...(await medface.faces.olderModelProbes(images[image]!, 'enrol'))] : [face.embedding];
    let best: { score: number; model: string; margin: number } | null = null;
    for (const embedding of probes) {
      const references = [];
      for (const t of stored) if (t.modelId === embedding.model) references.push(await medface.templates.open(indexedTemplate(t)));
      if (references.length === 0) continue;
      // after opening the templates: that may have re-read the key file, and the probe must use the same transform
      const probe = medface.templates.protection.transformProbe(embedding);
      const score = Math.max(...references.map((r) => cosine(probe.vector, r.vector)));
      // models score on their own scales: the best is the one furthest above its own threshold
      const margin = score - medface.templates.thresholds(embedding.model).match;
      if (!best || margin > best.margin) best = { score, model: embedding.model, margin };
    }
    const score = best?.score ?? 0;
    const decision = decide(score, medface.templates.thresholds(best?.model ?? current));
    if (!weakest || score < weakest.score) weakest = { match: best !== null && decision.match, score, grade: decision.grade, image };
  }
  return weakest;
}

type Suspect = Pick<DuplicateCandidate, 'patientId' | 'score' | 'grade'>;

/**
 * Other patients whose face matches any capture at `probable` or better, by the same 1:N rule as `identify`
 * (the identification grades at the gallery's current size): each once, at its best score. Patients enrolled
 * under an older recogniser and not moved yet are searched with that model (the capture embedded by it).
 */
async function findOtherPatients(medface: Medface, faces: readonly SubjectFace[], images: readonly Uint8Array[], patientId: string): Promise<Suspect[]> {
  const best = new Map<string, Suspect>();
  for (const [i, face] of faces.entries()) {
    const thresholds = medface.templates.identificationThresholds(face.embedding.model);
    const older = await medface.faces.olderModelProbes(images[i]!, 'enrol');
    for (const hit of await gradedCandidates(medface, face.embedding, DUPLICATE_SEARCH_K + 1, thresholds, thresholds.grades.probable.minScore, older)) {
      if (hit.patientId === patientId) continue;
      const seen = best.get(hit.patientId);
      if (!seen || seen.score < hit.score) best.set(hit.patientId, hit);
    }
  }
  return [...best.values()].sort((a, b) => b.score - a.score);
}

/** Records each suspected duplicate for review (overridden when a reason is given); inside the enrolment's transaction. */
async function recordSuspects(tx: Repository, who: Actor, patientId: string, suspects: readonly Suspect[], overrideReason: string | undefined): Promise<DuplicateCandidate[]> {
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
