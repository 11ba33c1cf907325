import type { AccessContext } from '../../access/context.js';
import { guard, recordRead, type Caller } from '../../access/guard.js';
import { isMedfaceError, MedfaceError } from '../../errors.js';
import type { SubjectFace } from '../../face/index.js';
import type { StoredPhoto, StoredTemplate } from '../../store/types.js';
import { withFailureAudit, type Actor } from '../auditing.js';
import type { Medface } from '../context.js';
import { assertKeysLive } from './keys.js';
import { syncGallery, templateColumns, type StoredTemplates } from '../biometrics/templates.js';

/**
 * Moving the patients' templates to a new recogniser. A template is tied to the model that made it; when the
 * deployment's model changes (a release with a new default, or MEDFACE_EMBEDDER), nobody may be stranded:
 *  - `medface templates migrate` re-derives, with the current model, every older template whose capture was
 *    kept with consent (enrol's keepPhoto), in batches; each template is replaced in a transaction of its own
 *    (new template in, its photo moved over, old template out, audited), so a run can stop anywhere and the
 *    next one carries on with what is left;
 *  - a patient with no kept capture stays findable: identification also embeds the capture with each older
 *    model the gallery still holds (Medface.olderModelProbes, TemplateIndex.searchStranded) until the
 *    patient is enrolled again, which replaces the older model's templates (templates.ts);
 *  - `medface templates status` says per model how many patients and templates there are, and how many wait.
 */

/** Templates read per page of a migration run. */
export const DEFAULT_MIGRATION_BATCH = 100;
/** The face engine's refusals of a capture: the photo stays, with its old template, and is counted. */
const REFUSED: readonly string[] = ['NO_FACE', 'MULTIPLE_FACES', 'QUALITY_REJECTED'];

export interface TemplateMigrationResult {
  /** The model the templates were moved to. */
  model: string;
  /** Older templates re-derived from their kept photo and replaced. */
  migrated: number;
  /** Kept photos the current model's enrolment gate refused: their older templates stay. */
  refused: number;
  /** Older templates without a kept photo: searched with their own model until the patient is enrolled again. */
  withoutPhoto: number;
}

/** `medface templates migrate`: every older template with a kept photo re-derived with the current model. */
export function migrateTemplates(medface: Medface, who: Actor, options: { batchSize?: number } = {}): Promise<TemplateMigrationResult> {
  const batchSize = options.batchSize ?? DEFAULT_MIGRATION_BATCH;
  return withFailureAudit(medface, who, 'templates.migrate', null, async () => {
    if (!Number.isInteger(batchSize) || batchSize < 1) throw new MedfaceError('INVALID_ARGUMENT', 'the batch size must be a positive integer');
    const model = await medface.faces.currentModel();
    const result: TemplateMigrationResult = { model, migrated: 0, refused: 0, withoutPhoto: 0 };
    for (let after: string | null = null; ;) {
      const page = await medface.store.listTemplatesNotOfModelPage(model, after, batchSize);
      if (page.length === 0) break;
      after = page[page.length - 1]!.id;
      const photos = await photosOf(medface, page);
      for (const template of page) {
        const photo = photos.get(template.id);
        if (!photo) result.withoutPhoto++;
        else if (await migrateOne(medface, who, template, photo, model)) result.migrated++;
        else result.refused++;
      }
    }
    await medface.audit.record(medface.store, { ...who, action: 'templates.migrate', outcome: 'success', details: { ...result } });
    return result;
  });
}

/** The kept photos of a page's templates, by template id. */
async function photosOf(medface: Medface, page: readonly StoredTemplate[]): Promise<Map<string, StoredPhoto>> {
  const byTemplate = new Map<string, StoredPhoto>();
  for (const patientId of new Set(page.map((t) => t.patientId))) {
    for (const photo of await medface.store.listPhotos(patientId)) if (photo.templateId !== null) byTemplate.set(photo.templateId, photo);
  }
  return byTemplate;
}

/**
 * One template re-derived from its photo and replaced: false when the current model refuses the capture.
 * A template gone meanwhile (consent withdrawn, erased, enrolled again) is left gone: nothing is inserted.
 */
async function migrateOne(medface: Medface, who: Actor, old: StoredTemplate, photo: StoredPhoto, model: string): Promise<boolean> {
  const { patientId } = old;
  let face: SubjectFace;
  try {
    face = await medface.faces.embed(medface.templates.protection.unprotectBytes(photo, patientId), 'enrol');
  } catch (e) {
    if (isMedfaceError(e) && REFUSED.includes(e.code)) return false;
    throw e;
  }
  if (face.embedding.model !== model) {
    throw new MedfaceError('MODEL_MISMATCH', `the face pool runs ${face.embedding.model}, not the configured ${model}`, { model });
  }
  const sealed = await medface.templates.seal(face.embedding, patientId);
  await medface.templates.exclusive(patientId, async () => {
    const change = await medface.store.transaction(async (tx): Promise<StoredTemplates | null> => {
      if (!(await tx.lockPatient(patientId))) return null;
      const held = await tx.listTemplates(patientId);
      if (!held.some((t) => t.id === old.id)) return null;
      const inserted = await tx.insertTemplate({ patientId, ...templateColumns(sealed, face.quality), source: old.source });
      // the new template is in before the old one goes, and both happen at commit or not at all
      await tx.moveTemplatePhotos(old.id, inserted.id);
      await tx.deleteTemplate(old.id);
      await medface.audit.append(tx, {
        ...who,
        action: 'biometric.migrate',
        outcome: 'success',
        patientId,
        details: { from: old.modelId, to: sealed.model, quality: face.quality.reasons },
      });
      await assertKeysLive(tx, [sealed]);
      return { inserted: [inserted], replaced: [old.id], count: held.length };
    });
    if (change) await syncGallery(medface, change);
  });
  return true;
}

export interface TemplateModelStatus {
  model: string;
  /** The model new templates are made with and probes embedded by. */
  current: boolean;
  patients: number;
  templates: number;
  /** Older model only: templates `medface templates migrate` can re-derive (a photo was kept). */
  migratable: number;
  /** Older model only: patients with no kept photo among this model's templates, to be enrolled again. */
  awaitingEnrolment: number;
  /** Older model only: some of its templates can be re-derived now (`medface templates migrate`). */
  migrationPending: boolean;
  /**
   * Why its patients cannot be found by face (identification embeds each capture with every older model the
   * gallery holds): this release does not run the model, or its thresholds are not calibrated; null when searched.
   */
  unsearchable: 'not-in-release' | 'not-calibrated' | null;
}

export interface TemplateStatus {
  model: string;
  models: TemplateModelStatus[];
}

/** `medface templates status`: per model, how many patients and templates, and how many wait to be moved. */
export async function templateStatus(medface: Medface): Promise<TemplateStatus> {
  const model = await medface.faces.currentModel();
  const counts = await medface.store.countTemplatesByModel();
  const models: TemplateModelStatus[] = [];
  for (const c of counts) {
    const current = c.model === model;
    const migratable = current ? 0 : c.withPhoto;
    models.push({
      model: c.model,
      current,
      patients: c.patients,
      templates: c.templates,
      migratable,
      awaitingEnrolment: current ? 0 : c.patientsWithoutPhoto,
      migrationPending: migratable > 0,
      unsearchable: await medface.faces.unsearchableModel(c.model),
    });
  }
  return { model, models };
}

/** The same for an administrator (`templates.read`: counts per model only, no patient), the read audited. */
export async function readTemplateStatus(medface: Medface, access: AccessContext, caller: Caller): Promise<TemplateStatus> {
  await guard(access, caller, 'templates.read');
  const status = await templateStatus(medface);
  await recordRead(access, caller, 'templates.read', { models: status.models.length });
  return status;
}

/**
 * What an operator must hear when the deployment starts on a gallery holding templates of another model than the
 * one it runs (a release changed the default recogniser, or MEDFACE_EMBEDDER did): nothing is refused, but those
 * patients are found only while their model can still run, and only migration or a new enrolment moves them.
 * Undefined when every template is of the current model.
 */
export async function olderTemplatesNotice(medface: Medface): Promise<string | undefined> {
  const { model, models } = await templateStatus(medface);
  const older = models.filter((m) => !m.current);
  if (older.length === 0) return undefined;
  const counts = older.map((m) => `${m.model}: ${m.patients} patients, ${m.migratable} templates with a kept photo, ${m.awaitingEnrolment} patients to enrol again`);
  return (
    `the gallery holds templates of another recogniser than the one this deployment runs (${model}): ${counts.join('; ')}. ` +
    'Their patients are still searched with their own model. Run `medface templates migrate` to re-derive the templates whose photo was kept; ' +
    'the others move when their patient is enrolled again (`medface templates status` shows what is left).'
  );
}
