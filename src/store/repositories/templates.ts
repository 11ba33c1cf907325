import { randomUUID } from 'node:crypto';
import type { SqlExecutor } from '../sql.js';
import { json, table, text, textOrNull, time } from './columns.js';
import type { ProtectedBlob } from './rows.js';
import { BLOB_COLUMNS, updateProtection } from './rows.js';

/**
 * Patients' face templates and the captures kept with them (opaque protected blobs; a photo goes with its template).
 */

export type TemplateSource = 'enrol' | 'refresh';

export interface NewTemplate extends ProtectedBlob {
  patientId: string;
  /** The embedder that produced the embedding; templates of different models never compare. */
  modelId: string;
  /** The secret feature transform applied before encryption (renewable independently of keys). */
  transformId: string;
  /** Quality measures of the source face (numbers and reason codes only). */
  quality: Record<string, unknown>;
  source: TemplateSource;
}

export interface StoredTemplate extends NewTemplate {
  id: string;
  createdAt: string;
}

export interface TemplateRef {
  id: string;
  patientId: string;
}

/** One embedder model's share of the templates. */
export interface TemplateModelCount {
  model: string;
  templates: number;
  /** Patients with at least one template of this model. */
  patients: number;
  /** Templates of this model with their capture kept (re-derivable with another model). */
  withPhoto: number;
  /** Patients of whom no template of this model has a kept capture. */
  patientsWithoutPhoto: number;
}

export interface NewPhoto extends ProtectedBlob {
  patientId: string;
  /** The template enrolled from this photo; the photo goes when its template goes. */
  templateId: string | null;
  mediaType: string;
}

export interface StoredPhoto extends NewPhoto {
  id: string;
  createdAt: string;
}

export interface TemplateRepository {
  insertTemplate(t: NewTemplate): Promise<StoredTemplate>;
  listTemplates(patientId: string): Promise<StoredTemplate[]>;
  countTemplates(patientId?: string): Promise<number>;
  /** Returns the ids removed, so the caller can drop them from the in-memory index. */
  deleteTemplatesOfPatient(patientId: string): Promise<string[]>;
  /** Removes the patient's oldest template (if any) and inserts `t`. */
  replaceOldestTemplate(t: NewTemplate): Promise<{ inserted: StoredTemplate; replacedId: string | null }>;
  /** Templates in id order after `afterId`; the page primitive behind `Store.iterateTemplates`. */
  listTemplatesPage(afterId: string | null, limit: number): Promise<StoredTemplate[]>;
  /** Template ids and their patients in id order after `afterId`, without the blobs (gallery resync). */
  listTemplateRefsPage(afterId: string | null, limit: number): Promise<TemplateRef[]>;
  updateTemplateProtection(id: string, blob: ProtectedBlob & { transformId: string }): Promise<boolean>;
  /** Deletes one template (its photo goes with it unless moved first); false when it was gone already. */
  deleteTemplate(id: string): Promise<boolean>;
  /** Templates of any model but `model`, in id order after `afterId` (what a model migration has left to do). */
  listTemplatesNotOfModelPage(model: string, afterId: string | null, limit: number): Promise<StoredTemplate[]>;
  /** Templates, their patients and the photos kept with them, per model. */
  countTemplatesByModel(): Promise<TemplateModelCount[]>;
  insertPhoto(p: NewPhoto): Promise<StoredPhoto>;
  listPhotos(patientId: string): Promise<StoredPhoto[]>;
  deletePhotosOfPatient(patientId: string): Promise<number>;
  listPhotosPage(afterId: string | null, limit: number): Promise<StoredPhoto[]>;
  updatePhotoProtection(id: string, blob: ProtectedBlob): Promise<boolean>;
  /** Moves the photos of one template to another (a template re-derived from its photo); returns how many. */
  moveTemplatePhotos(fromTemplateId: string, toTemplateId: string): Promise<number>;
}

export function templateRepository(sql: SqlExecutor): TemplateRepository {
  const repository: TemplateRepository = {
    async insertTemplate(t: NewTemplate): Promise<StoredTemplate> {
      const stored: StoredTemplate = { ...t, id: randomUUID(), createdAt: new Date().toISOString() };
      await sql.run(TEMPLATES.insert, TEMPLATES.values(stored));
      return stored;
    },
    async listTemplates(patientId: string): Promise<StoredTemplate[]> {
      return TEMPLATES.all(sql, 'WHERE patient_id = ? ORDER BY created_at, id', [patientId]);
    },
    async countTemplates(patientId?: string): Promise<number> {
      const rows =
        patientId === undefined
          ? await sql.all<{ n: number | string }>('SELECT COUNT(*) AS n FROM templates')
          : await sql.all<{ n: number | string }>('SELECT COUNT(*) AS n FROM templates WHERE patient_id = ?', [patientId]);
      return Number(rows[0]?.n ?? 0);
    },
    async deleteTemplatesOfPatient(patientId: string): Promise<string[]> {
      const rows = await sql.all<{ id: string }>('DELETE FROM templates WHERE patient_id = ? RETURNING id', [patientId]);
      return rows.map((r) => r.id);
    },
    async replaceOldestTemplate(t: NewTemplate): Promise<{ inserted: StoredTemplate; replacedId: string | null }> {
      const oldest = await sql.all<{ id: string }>('SELECT id FROM templates WHERE patient_id = ? ORDER BY created_at, id LIMIT 1', [t.patientId]);
      const replacedId = oldest[0]?.id ?? null;
      if (replacedId !== null) await sql.run('DELETE FROM templates WHERE id = ?', [replacedId]);
      return { inserted: await repository.insertTemplate(t), replacedId };
    },
    async listTemplatesPage(afterId: string | null, limit: number): Promise<StoredTemplate[]> {
      return TEMPLATES.all(sql, 'WHERE id > ? ORDER BY id LIMIT ?', [afterId ?? '', limit]);
    },
    async listTemplateRefsPage(afterId: string | null, limit: number): Promise<TemplateRef[]> {
      const rows = await sql.all<{ id: string; patient_id: string }>('SELECT id, patient_id FROM templates WHERE id > ? ORDER BY id LIMIT ?', [afterId ?? '', limit]);
      return rows.map((r) => ({ id: r.id, patientId: r.patient_id }));
    },
    updateTemplateProtection: (id, blob) => updateProtection(sql, 'templates', id, blob, blob.transformId),
    async deleteTemplate(id: string): Promise<boolean> {
      return (await sql.run('DELETE FROM templates WHERE id = ?', [id])) > 0;
    },
    async listTemplatesNotOfModelPage(model: string, afterId: string | null, limit: number): Promise<StoredTemplate[]> {
      return TEMPLATES.all(sql, 'WHERE model_id <> ? AND id > ? ORDER BY id LIMIT ?', [model, afterId ?? '', limit]);
    },
    async countTemplatesByModel(): Promise<TemplateModelCount[]> {
      const rows = await sql.all<{ model_id: string; templates: number | string; patients: number | string; with_photo: number | string; without: number | string }>(
        `SELECT model_id, COUNT(*) AS templates, COUNT(DISTINCT patient_id) AS patients, SUM(has_photo) AS with_photo,
                COUNT(DISTINCT CASE WHEN patient_photos = 0 THEN patient_id END) AS without
         FROM (SELECT t.model_id, t.patient_id,
                      CASE WHEN EXISTS (SELECT 1 FROM photos p WHERE p.template_id = t.id) THEN 1 ELSE 0 END AS has_photo,
                      (SELECT COUNT(*) FROM photos p JOIN templates o ON o.id = p.template_id
                        WHERE o.patient_id = t.patient_id AND o.model_id = t.model_id) AS patient_photos
               FROM templates t) AS per_template
         GROUP BY model_id ORDER BY model_id`,
      );
      return rows.map((r) => ({
        model: r.model_id,
        templates: Number(r.templates),
        patients: Number(r.patients),
        withPhoto: Number(r.with_photo),
        patientsWithoutPhoto: Number(r.without),
      }));
    },
    async insertPhoto(p: NewPhoto): Promise<StoredPhoto> {
      const stored: StoredPhoto = { ...p, id: randomUUID(), createdAt: new Date().toISOString() };
      await sql.run(PHOTOS.insert, PHOTOS.values(stored));
      return stored;
    },
    async listPhotos(patientId: string): Promise<StoredPhoto[]> {
      return PHOTOS.all(sql, 'WHERE patient_id = ? ORDER BY created_at, id', [patientId]);
    },
    async deletePhotosOfPatient(patientId: string): Promise<number> {
      return sql.run('DELETE FROM photos WHERE patient_id = ?', [patientId]);
    },
    async listPhotosPage(afterId: string | null, limit: number): Promise<StoredPhoto[]> {
      return PHOTOS.all(sql, 'WHERE id > ? ORDER BY id LIMIT ?', [afterId ?? '', limit]);
    },
    updatePhotoProtection: (id, blob) => updateProtection(sql, 'photos', id, blob),
    async moveTemplatePhotos(fromTemplateId: string, toTemplateId: string): Promise<number> {
      return sql.run('UPDATE photos SET template_id = ? WHERE template_id = ?', [toTemplateId, fromTemplateId]);
    },
  };
  return repository;
}

const TEMPLATES = table<StoredTemplate>('templates', {
  id: text('id'),
  patientId: text('patient_id'),
  modelId: text('model_id'),
  transformId: text('transform_id'),
  ...BLOB_COLUMNS,
  quality: json<Record<string, unknown>>('quality'),
  source: text<TemplateSource>('source'),
  createdAt: time('created_at'),
});

const PHOTOS = table<StoredPhoto>('photos', {
  id: text('id'),
  patientId: text('patient_id'),
  templateId: textOrNull('template_id'),
  mediaType: text('media_type'),
  ...BLOB_COLUMNS,
  createdAt: time('created_at'),
});
