import { randomUUID } from 'node:crypto';
import type { SqlExecutor } from '../sql.js';
import { isoTime, jsonColumn } from '../sql.js';
import type { BlobDbRow, ProtectedBlob } from './rows.js';
import { blob } from './rows.js';

/**
 * Staff members' own sign-in faces (opaque protected blobs, deleted with their account; never part of patient
 * identification).
 */

/** A staff member's own face for signing in (password + face): never part of patient identification. */
export interface NewStaffTemplate extends ProtectedBlob {
  userId: string;
  modelId: string;
  transformId: string;
  quality: Record<string, unknown>;
  /** The notice the staff member consented to when enrolling (biometric data needs consent, staff too). */
  consentNotice: string;
}

export interface StoredStaffTemplate extends NewStaffTemplate {
  id: string;
  createdAt: string;
}

export interface StaffTemplateRepository {
  insertStaffTemplate(t: NewStaffTemplate): Promise<StoredStaffTemplate>;
  listStaffTemplates(userId: string): Promise<StoredStaffTemplate[]>;
  deleteStaffTemplate(id: string): Promise<boolean>;
  deleteStaffTemplatesOfUser(userId: string): Promise<number>;
  listStaffTemplatesPage(afterId: string | null, limit: number): Promise<StoredStaffTemplate[]>;
  updateStaffTemplateProtection(id: string, blob: ProtectedBlob & { transformId: string }): Promise<boolean>;
}

export function staffTemplateRepository(sql: SqlExecutor): StaffTemplateRepository {
  return {
    async insertStaffTemplate(t: NewStaffTemplate): Promise<StoredStaffTemplate> {
      const stored: StoredStaffTemplate = { ...t, id: randomUUID(), createdAt: new Date().toISOString() };
      await sql.run(
        `INSERT INTO staff_templates (id, user_id, model_id, transform_id, key_id, wrapped_key, iv, ciphertext, tag, quality, consent_notice, created_at)
         VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
        [stored.id, t.userId, t.modelId, t.transformId, t.keyId, t.wrappedKey, t.iv, t.ciphertext, t.tag, JSON.stringify(t.quality), t.consentNotice, stored.createdAt],
      );
      return stored;
    },
    async listStaffTemplates(userId: string): Promise<StoredStaffTemplate[]> {
      const rows = await sql.all<StaffTemplateDbRow>(
        `SELECT ${STAFF_TEMPLATE_COLUMNS} FROM staff_templates WHERE user_id = ? ORDER BY created_at, id`,
        [userId],
      );
      return rows.map(staffTemplateRow);
    },
    async deleteStaffTemplate(id: string): Promise<boolean> {
      return (await sql.run('DELETE FROM staff_templates WHERE id = ?', [id])) > 0;
    },
    async deleteStaffTemplatesOfUser(userId: string): Promise<number> {
      return sql.run('DELETE FROM staff_templates WHERE user_id = ?', [userId]);
    },
    async listStaffTemplatesPage(afterId: string | null, limit: number): Promise<StoredStaffTemplate[]> {
      const rows = await sql.all<StaffTemplateDbRow>(
        `SELECT ${STAFF_TEMPLATE_COLUMNS} FROM staff_templates WHERE id > ? ORDER BY id LIMIT ?`,
        [afterId ?? '', limit],
      );
      return rows.map(staffTemplateRow);
    },
    async updateStaffTemplateProtection(id: string, blob: ProtectedBlob & { transformId: string }): Promise<boolean> {
      const changed = await sql.run(
        'UPDATE staff_templates SET transform_id = ?, key_id = ?, wrapped_key = ?, iv = ?, ciphertext = ?, tag = ? WHERE id = ?',
        [blob.transformId, blob.keyId, blob.wrappedKey, blob.iv, blob.ciphertext, blob.tag, id],
      );
      return changed > 0;
    },
  };
}

const STAFF_TEMPLATE_COLUMNS = 'id, user_id, model_id, transform_id, key_id, wrapped_key, iv, ciphertext, tag, quality, consent_notice, created_at';

interface StaffTemplateDbRow extends BlobDbRow {
  id: string;
  user_id: string;
  model_id: string;
  transform_id: string;
  quality: unknown;
  consent_notice: string;
  created_at: unknown;
}

function staffTemplateRow(r: StaffTemplateDbRow): StoredStaffTemplate {
  return {
    id: r.id,
    userId: r.user_id,
    modelId: r.model_id,
    transformId: r.transform_id,
    ...blob(r),
    quality: jsonColumn<Record<string, unknown>>(r.quality),
    consentNotice: r.consent_notice,
    createdAt: isoTime(r.created_at),
  };
}
