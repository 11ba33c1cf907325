import { randomUUID } from 'node:crypto';
import type { SqlExecutor } from '../sql.js';
import { json, table, text, time } from './columns.js';
import type { ProtectedBlob } from './rows.js';
import { BLOB_COLUMNS, updateProtection } from './rows.js';

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
      await sql.run(STAFF_TEMPLATES.insert, STAFF_TEMPLATES.values(stored));
      return stored;
    },
    async listStaffTemplates(userId: string): Promise<StoredStaffTemplate[]> {
      return STAFF_TEMPLATES.all(sql, 'WHERE user_id = ? ORDER BY created_at, id', [userId]);
    },
    async deleteStaffTemplate(id: string): Promise<boolean> {
      return (await sql.run('DELETE FROM staff_templates WHERE id = ?', [id])) > 0;
    },
    async deleteStaffTemplatesOfUser(userId: string): Promise<number> {
      return sql.run('DELETE FROM staff_templates WHERE user_id = ?', [userId]);
    },
    async listStaffTemplatesPage(afterId: string | null, limit: number): Promise<StoredStaffTemplate[]> {
      return STAFF_TEMPLATES.all(sql, 'WHERE id > ? ORDER BY id LIMIT ?', [afterId ?? '', limit]);
    },
    updateStaffTemplateProtection: (id, blob) => updateProtection(sql, 'staff_templates', id, blob, blob.transformId),
  };
}

const STAFF_TEMPLATES = table<StoredStaffTemplate>('staff_templates', {
  id: text('id'),
  userId: text('user_id'),
  modelId: text('model_id'),
  transformId: text('transform_id'),
  ...BLOB_COLUMNS,
  quality: json<Record<string, unknown>>('quality'),
  consentNotice: text('consent_notice'),
  createdAt: time('created_at'),
});
