import { MedfaceError } from '../../errors.js';
import type { QualityReport } from '../../face/index.js';
import type { Envelope, ProtectedTemplate } from '../../identity/protection.js';
import { activeBiometricConsent } from '../../records/consent.js';
import type { NewTemplate, Repository, StoredTemplate, TemplateSource } from '../../store/types.js';
import type { Medface } from '../context.js';
import { indexedTemplate } from './template-reader.js';

/**
 * What a staff member's template is bound to (authenticated with it, like a patient template's patient id):
 * prefixed, so a staff template copied onto a patient's row, or the other way round, fails to open.
 */
export function staffTemplateBinding(userId: string): string {
  return `user:${userId}`;
}

export interface TemplateToStore {
  sealed: ProtectedTemplate;
  /** Quality of the face it came from (measures and reason codes only). */
  quality: QualityReport;
  /** The capture itself, sealed, when it is kept for human review. */
  photo?: { envelope: Envelope; mediaType: string };
}

export interface StoredTemplates {
  inserted: StoredTemplate[];
  /** Templates removed to stay within the limit (their photos go with them). */
  replaced: string[];
  /** The patient's templates after the change. */
  count: number;
}

/**
 * Stores a patient's new templates inside the caller's transaction, which must end with its audit entry.
 * The patient is locked first, so the consent check and the count hold until commit: no template without
 * an active biometric consent (CONSENT_REQUIRED), and never more than `limit` — beyond it TEMPLATE_LIMIT,
 * or, with `replaceOldest`, the oldest templates make room. Templates of another model than the new ones
 * (made before the recogniser changed) are replaced.
 */
export async function storeTemplates(
  tx: Repository,
  patientId: string,
  items: readonly TemplateToStore[],
  options: { source: TemplateSource; limit: number; replaceOldest: boolean },
): Promise<StoredTemplates> {
  const { source, limit, replaceOldest } = options;
  if (!(await tx.lockPatient(patientId))) throw new MedfaceError('NOT_FOUND', 'no such patient', { patientId });
  if (!(await activeBiometricConsent(tx, patientId))) {
    throw new MedfaceError('CONSENT_REQUIRED', 'the patient has no active consent to biometric identification', { patientId });
  }
  const replaced: string[] = [];
  // Enrolled again after the recogniser changed: the older model's templates give way to the new ones here,
  // in the same transaction, so the patient is never without templates in between.
  const models = new Set(items.map((item) => item.sealed.model));
  for (const t of await tx.listTemplates(patientId)) {
    if (!models.has(t.modelId) && (await tx.deleteTemplate(t.id))) replaced.push(t.id);
  }
  const stored = await tx.countTemplates(patientId);
  if (items.length > limit || (!replaceOldest && stored + items.length > limit)) {
    throw new MedfaceError('TEMPLATE_LIMIT', `a patient may have at most ${limit} face templates`, { limit, stored });
  }
  const inserted: StoredTemplate[] = [];
  let count = stored;
  for (const { sealed, quality, photo } of items) {
    const row: NewTemplate = { patientId, ...templateColumns(sealed, quality), source };
    let template: StoredTemplate;
    if (count < limit) {
      template = await tx.insertTemplate(row);
      count++;
    } else {
      const result = await tx.replaceOldestTemplate(row);
      template = result.inserted;
      if (result.replacedId !== null) replaced.push(result.replacedId);
    }
    inserted.push(template);
    if (photo) await tx.insertPhoto({ patientId, templateId: template.id, mediaType: photo.mediaType, ...photo.envelope });
  }
  return { inserted, replaced, count };
}

/** After commit: the gallery gets the new templates (opened from what was stored) and loses the replaced ones. */
export async function syncGallery(medface: Medface, change: StoredTemplates): Promise<void> {
  for (const id of change.replaced) medface.templates.gallery.remove(id);
  for (const t of change.inserted) {
    if (change.replaced.includes(t.id)) continue;
    medface.templates.gallery.add({ templateId: t.id, patientId: t.patientId, template: await medface.templates.open(indexedTemplate(t)) });
  }
}

/**
 * What a patient's or a staff member's template row stores of a sealed embedding and of its face's quality
 * (numbers and reason codes only, never the image).
 */
export function templateColumns(
  sealed: ProtectedTemplate,
  quality: QualityReport | null,
): Pick<NewTemplate, 'modelId' | 'transformId' | 'keyId' | 'wrappedKey' | 'iv' | 'ciphertext' | 'tag' | 'quality'> {
  const { model, transformId, keyId, wrappedKey, iv, ciphertext, tag } = sealed;
  return {
    modelId: model,
    transformId,
    keyId,
    wrappedKey,
    iv,
    ciphertext,
    tag,
    quality: quality ? { passed: quality.passed, reasons: quality.reasons, metrics: { ...quality.metrics } } : {},
  };
}
