import { randomUUID } from 'node:crypto';
import type { SqlExecutor, SqlValue } from './sql.js';
import { isoTime, isoTimeOrNull, jsonColumn } from './sql.js';
import type {
  AccountRequestAction,
  AccountRequestRow,
  AccountRequestStatus,
  ApiClientRow,
  AuditEventRow,
  AuditOutcome,
  AuditQuery,
  BreakGlassGrantRow,
  BreakGlassReviewStatus,
  ClinicalResourceRow,
  ConsentRow,
  CredentialKind,
  CredentialRow,
  KeyMetadata,
  LivenessChallengeRow,
  NewPhoto,
  NewStaffTemplate,
  NewTemplate,
  PatientIndexTerms,
  PatientLinkRow,
  PatientNoticeRow,
  PatientLinkStatus,
  PatientQuery,
  ProtectedBlob,
  ProtectedRecordCount,
  Repository,
  ResourceRow,
  SessionRow,
  SignInThrottleRow,
  StoredPhoto,
  StoredStaffTemplate,
  StoredTemplate,
  TemplateModelCount,
  TemplateRef,
  TemplateSource,
  TotpRow,
  UserRow,
} from './types.js';

/** Any 64-bit constant works; it names the PostgreSQL advisory lock that orders audit appends. */
const AUDIT_LOCK_KEY = 4_823_117_560_231;

/**
 * The repository written once in the SQL both engines share. It runs on one connection that the caller
 * has put inside a transaction, so a multi-statement method (e.g. replaceOldestTemplate) is atomic.
 */
export class SqlRepository implements Repository {
  constructor(private readonly sql: SqlExecutor) {}

  // ---------------------------------------------------------------- patients

  async insertPatient(row: ResourceRow, terms: PatientIndexTerms): Promise<void> {
    await this.sql.run(
      'INSERT INTO patients (id, version_id, last_updated, sort_name, birth_date, gender, resource) VALUES (?, ?, ?, ?, ?, ?, ?)',
      [row.id, row.versionId, row.lastUpdated, terms.sortName, terms.birthDate, terms.gender, JSON.stringify(row.resource)],
    );
    await this.writeIndexTerms(row.id, terms);
  }

  async updatePatient(row: ResourceRow, terms: PatientIndexTerms, expectedVersionId: number): Promise<boolean> {
    const changed = await this.sql.run(
      'UPDATE patients SET version_id = ?, last_updated = ?, sort_name = ?, birth_date = ?, gender = ?, resource = ? WHERE id = ? AND version_id = ?',
      [
        row.versionId,
        row.lastUpdated,
        terms.sortName,
        terms.birthDate,
        terms.gender,
        JSON.stringify(row.resource),
        row.id,
        expectedVersionId,
      ],
    );
    if (changed === 0) return false;
    await this.sql.run('DELETE FROM patient_identifiers WHERE patient_id = ?', [row.id]);
    await this.sql.run('DELETE FROM patient_name_tokens WHERE patient_id = ?', [row.id]);
    await this.writeIndexTerms(row.id, terms);
    return true;
  }

  private async writeIndexTerms(patientId: string, terms: PatientIndexTerms): Promise<void> {
    for (const identifier of terms.identifiers) {
      await this.sql.run('INSERT INTO patient_identifiers (patient_id, system, value) VALUES (?, ?, ?)', [
        patientId,
        identifier.system,
        identifier.value,
      ]);
    }
    for (const token of new Set(terms.nameTokens)) {
      await this.sql.run('INSERT INTO patient_name_tokens (token, patient_id) VALUES (?, ?)', [token, patientId]);
    }
  }

  async getPatient(id: string): Promise<ResourceRow | null> {
    const rows = await this.sql.all<ResourceDbRow>('SELECT id, version_id, last_updated, resource FROM patients WHERE id = ?', [id]);
    return rows[0] ? resourceRow(rows[0]) : null;
  }

  async getPatients(ids: readonly string[]): Promise<ResourceRow[]> {
    if (ids.length === 0) return [];
    const rows = await this.sql.all<ResourceDbRow>(`SELECT id, version_id, last_updated, resource FROM patients WHERE id IN (${marks(ids)}) ORDER BY id`, [...ids]);
    return rows.map(resourceRow);
  }

  async searchPatients(q: PatientQuery): Promise<ResourceRow[]> {
    const where: string[] = [];
    const params: SqlValue[] = [];
    for (const prefix of q.namePrefixes ?? []) {
      where.push('EXISTS (SELECT 1 FROM patient_name_tokens t WHERE t.patient_id = p.id AND t.token >= ? AND t.token < ?)');
      params.push(prefix, prefixUpperBound(prefix));
    }
    if (q.birthDate !== undefined) {
      // A partial date (1980, 1980-05) matches every full date that starts with it.
      where.push('(p.birth_date = ? OR (p.birth_date >= ? AND p.birth_date < ?))');
      params.push(q.birthDate, q.birthDate + '-', prefixUpperBound(q.birthDate + '-'));
    }
    if (q.identifier !== undefined) {
      const { system, value } = q.identifier;
      if (system === undefined) {
        where.push('EXISTS (SELECT 1 FROM patient_identifiers i WHERE i.patient_id = p.id AND i.value = ?)');
        params.push(value);
      } else if (system === null) {
        where.push('EXISTS (SELECT 1 FROM patient_identifiers i WHERE i.patient_id = p.id AND i.system IS NULL AND i.value = ?)');
        params.push(value);
      } else {
        where.push('EXISTS (SELECT 1 FROM patient_identifiers i WHERE i.patient_id = p.id AND i.system = ? AND i.value = ?)');
        params.push(system, value);
      }
    }
    if (q.gender !== undefined) {
      where.push('p.gender = ?');
      params.push(q.gender);
    }
    params.push(q.limit);
    const rows = await this.sql.all<ResourceDbRow>(
      `SELECT p.id, p.version_id, p.last_updated, p.resource FROM patients p
       ${where.length > 0 ? 'WHERE ' + where.join(' AND ') : ''}
       ORDER BY p.sort_name, p.id LIMIT ?`,
      params,
    );
    return rows.map(resourceRow);
  }

  async lockPatient(id: string): Promise<boolean> {
    // SQLite has no row locks; its store already runs one transaction at a time.
    const lock = this.sql.engine === 'postgres' ? ' FOR UPDATE' : '';
    const rows = await this.sql.all<{ id: string }>(`SELECT id FROM patients WHERE id = ?${lock}`, [id]);
    return rows.length > 0;
  }

  // ---------------------------------------------------------------- consents

  async insertConsent(row: ConsentRow): Promise<void> {
    await this.sql.run(
      'INSERT INTO consents (id, patient_id, status, scope, category, version_id, last_updated, resource) VALUES (?, ?, ?, ?, ?, ?, ?, ?)',
      [row.id, row.patientId, row.status, row.scope, row.category, row.versionId, row.lastUpdated, JSON.stringify(row.resource)],
    );
  }

  async updateConsent(row: ConsentRow, expectedVersionId: number): Promise<boolean> {
    const changed = await this.sql.run(
      'UPDATE consents SET status = ?, scope = ?, category = ?, version_id = ?, last_updated = ?, resource = ? WHERE id = ? AND patient_id = ? AND version_id = ?',
      [
        row.status,
        row.scope,
        row.category,
        row.versionId,
        row.lastUpdated,
        JSON.stringify(row.resource),
        row.id,
        row.patientId,
        expectedVersionId,
      ],
    );
    return changed > 0;
  }

  async getConsent(id: string): Promise<ConsentRow | null> {
    const rows = await this.sql.all<ConsentDbRow>(`SELECT ${CONSENT_COLUMNS} FROM consents WHERE id = ?`, [id]);
    return rows[0] ? consentRow(rows[0]) : null;
  }

  async getActiveConsent(patientId: string, category: string): Promise<ConsentRow | null> {
    const rows = await this.sql.all<ConsentDbRow>(
      `SELECT ${CONSENT_COLUMNS} FROM consents WHERE patient_id = ? AND category = ? AND status = 'active'`,
      [patientId, category],
    );
    return rows[0] ? consentRow(rows[0]) : null;
  }

  async listConsents(patientId: string): Promise<ConsentRow[]> {
    const rows = await this.sql.all<ConsentDbRow>(
      `SELECT ${CONSENT_COLUMNS} FROM consents WHERE patient_id = ? ORDER BY last_updated, id`,
      [patientId],
    );
    return rows.map(consentRow);
  }

  // ---------------------------------------------------------------- clinical resources

  async insertClinicalResource(row: ClinicalResourceRow): Promise<void> {
    await this.sql.run(
      'INSERT INTO clinical_resources (id, resource_type, patient_id, version_id, last_updated, resource) VALUES (?, ?, ?, ?, ?, ?)',
      [row.id, row.resourceType, row.patientId, row.versionId, row.lastUpdated, JSON.stringify(row.resource)],
    );
  }

  async updateClinicalResource(row: ClinicalResourceRow, expectedVersionId: number): Promise<boolean> {
    const changed = await this.sql.run(
      'UPDATE clinical_resources SET version_id = ?, last_updated = ?, resource = ? WHERE id = ? AND resource_type = ? AND patient_id = ? AND version_id = ?',
      [row.versionId, row.lastUpdated, JSON.stringify(row.resource), row.id, row.resourceType, row.patientId, expectedVersionId],
    );
    return changed > 0;
  }

  async getClinicalResource(resourceType: string, id: string): Promise<ClinicalResourceRow | null> {
    const rows = await this.sql.all<ClinicalDbRow>(
      `SELECT ${CLINICAL_COLUMNS} FROM clinical_resources WHERE id = ? AND resource_type = ?`,
      [id, resourceType],
    );
    return rows[0] ? clinicalRow(rows[0]) : null;
  }

  async listClinicalResources(patientId: string, resourceTypes?: readonly string[]): Promise<ClinicalResourceRow[]> {
    if (resourceTypes !== undefined && resourceTypes.length === 0) return [];
    const typeFilter = resourceTypes === undefined ? '' : ` AND resource_type IN (${resourceTypes.map(() => '?').join(', ')})`;
    const rows = await this.sql.all<ClinicalDbRow>(
      `SELECT ${CLINICAL_COLUMNS} FROM clinical_resources WHERE patient_id = ?${typeFilter} ORDER BY resource_type, last_updated, id`,
      [patientId, ...(resourceTypes ?? [])],
    );
    return rows.map(clinicalRow);
  }

  // ---------------------------------------------------------------- break-glass grants

  async insertBreakGlassGrant(row: BreakGlassGrantRow): Promise<void> {
    await this.sql.run(
      `INSERT INTO break_glass_grants (${GRANT_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
      [
        row.id,
        row.userId,
        row.patientId,
        row.reason,
        row.client,
        row.grantedAt,
        row.expiresAt,
        row.reviewStatus,
        row.reviewedBy,
        row.reviewedAt,
        row.reviewNote,
      ],
    );
  }

  async getBreakGlassGrant(id: string): Promise<BreakGlassGrantRow | null> {
    const rows = await this.sql.all<GrantDbRow>(`SELECT ${GRANT_COLUMNS} FROM break_glass_grants WHERE id = ?`, [id]);
    return rows[0] ? grantRow(rows[0]) : null;
  }

  async findActiveBreakGlassGrant(userId: string, patientId: string, at: string): Promise<BreakGlassGrantRow | null> {
    const rows = await this.sql.all<GrantDbRow>(
      `SELECT ${GRANT_COLUMNS} FROM break_glass_grants
       WHERE user_id = ? AND patient_id = ? AND granted_at <= ? AND expires_at > ? ORDER BY expires_at DESC, id LIMIT 1`,
      [userId, patientId, at, at],
    );
    return rows[0] ? grantRow(rows[0]) : null;
  }

  async listBreakGlassGrants(filter: { reviewStatus?: BreakGlassReviewStatus; userId?: string; patientId?: string }): Promise<BreakGlassGrantRow[]> {
    const where: string[] = [];
    const params: SqlValue[] = [];
    const filters: [string, SqlValue | undefined][] = [
      ['review_status = ?', filter.reviewStatus],
      ['user_id = ?', filter.userId],
      ['patient_id = ?', filter.patientId],
    ];
    for (const [clause, value] of filters) {
      if (value === undefined) continue;
      where.push(clause);
      params.push(value);
    }
    const rows = await this.sql.all<GrantDbRow>(
      `SELECT ${GRANT_COLUMNS} FROM break_glass_grants ${where.length > 0 ? 'WHERE ' + where.join(' AND ') : ''} ORDER BY granted_at, id`,
      params,
    );
    return rows.map(grantRow);
  }

  async reviewBreakGlassGrant(id: string, review: { reviewedBy: string; reviewedAt: string; note: string }): Promise<boolean> {
    const changed = await this.sql.run(
      "UPDATE break_glass_grants SET review_status = 'reviewed', reviewed_by = ?, reviewed_at = ?, review_note = ? WHERE id = ? AND review_status = 'pending'",
      [review.reviewedBy, review.reviewedAt, review.note, id],
    );
    return changed > 0;
  }

  // ---------------------------------------------------------------- templates

  async insertTemplate(t: NewTemplate): Promise<StoredTemplate> {
    const stored: StoredTemplate = { ...t, id: randomUUID(), createdAt: new Date().toISOString() };
    await this.sql.run(
      `INSERT INTO templates (id, patient_id, model_id, transform_id, key_id, wrapped_key, iv, ciphertext, tag, quality, source, created_at)
       VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
      [
        stored.id,
        t.patientId,
        t.modelId,
        t.transformId,
        t.keyId,
        t.wrappedKey,
        t.iv,
        t.ciphertext,
        t.tag,
        JSON.stringify(t.quality),
        t.source,
        stored.createdAt,
      ],
    );
    return stored;
  }

  async listTemplates(patientId: string): Promise<StoredTemplate[]> {
    const rows = await this.sql.all<TemplateDbRow>(
      `SELECT ${TEMPLATE_COLUMNS} FROM templates WHERE patient_id = ? ORDER BY created_at, id`,
      [patientId],
    );
    return rows.map(templateRow);
  }

  async countTemplates(patientId?: string): Promise<number> {
    const rows =
      patientId === undefined
        ? await this.sql.all<{ n: number | string }>('SELECT COUNT(*) AS n FROM templates')
        : await this.sql.all<{ n: number | string }>('SELECT COUNT(*) AS n FROM templates WHERE patient_id = ?', [patientId]);
    return Number(rows[0]?.n ?? 0);
  }

  async deleteTemplatesOfPatient(patientId: string): Promise<string[]> {
    const rows = await this.sql.all<{ id: string }>('DELETE FROM templates WHERE patient_id = ? RETURNING id', [patientId]);
    return rows.map((r) => r.id);
  }

  async replaceOldestTemplate(t: NewTemplate): Promise<{ inserted: StoredTemplate; replacedId: string | null }> {
    const oldest = await this.sql.all<{ id: string }>(
      'SELECT id FROM templates WHERE patient_id = ? ORDER BY created_at, id LIMIT 1',
      [t.patientId],
    );
    const replacedId = oldest[0]?.id ?? null;
    if (replacedId !== null) await this.sql.run('DELETE FROM templates WHERE id = ?', [replacedId]);
    return { inserted: await this.insertTemplate(t), replacedId };
  }

  async listTemplatesPage(afterId: string | null, limit: number): Promise<StoredTemplate[]> {
    const rows = await this.sql.all<TemplateDbRow>(
      `SELECT ${TEMPLATE_COLUMNS} FROM templates WHERE id > ? ORDER BY id LIMIT ?`,
      [afterId ?? '', limit],
    );
    return rows.map(templateRow);
  }

  async listTemplateRefsPage(afterId: string | null, limit: number): Promise<TemplateRef[]> {
    const rows = await this.sql.all<{ id: string; patient_id: string }>('SELECT id, patient_id FROM templates WHERE id > ? ORDER BY id LIMIT ?', [
      afterId ?? '',
      limit,
    ]);
    return rows.map((r) => ({ id: r.id, patientId: r.patient_id }));
  }

  async updateTemplateProtection(id: string, blob: ProtectedBlob & { transformId: string }): Promise<boolean> {
    const changed = await this.sql.run(
      'UPDATE templates SET transform_id = ?, key_id = ?, wrapped_key = ?, iv = ?, ciphertext = ?, tag = ? WHERE id = ?',
      [blob.transformId, blob.keyId, blob.wrappedKey, blob.iv, blob.ciphertext, blob.tag, id],
    );
    return changed > 0;
  }

  async deleteTemplate(id: string): Promise<boolean> {
    return (await this.sql.run('DELETE FROM templates WHERE id = ?', [id])) > 0;
  }

  async listTemplatesNotOfModelPage(model: string, afterId: string | null, limit: number): Promise<StoredTemplate[]> {
    const rows = await this.sql.all<TemplateDbRow>(
      `SELECT ${TEMPLATE_COLUMNS} FROM templates WHERE model_id <> ? AND id > ? ORDER BY id LIMIT ?`,
      [model, afterId ?? '', limit],
    );
    return rows.map(templateRow);
  }

  async countTemplatesByModel(): Promise<TemplateModelCount[]> {
    const rows = await this.sql.all<{ model_id: string; templates: number | string; patients: number | string; with_photo: number | string; without: number | string }>(
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
  }

  // ---------------------------------------------------------------- photos

  async insertPhoto(p: NewPhoto): Promise<StoredPhoto> {
    const stored: StoredPhoto = { ...p, id: randomUUID(), createdAt: new Date().toISOString() };
    await this.sql.run(
      `INSERT INTO photos (id, patient_id, template_id, media_type, key_id, wrapped_key, iv, ciphertext, tag, created_at)
       VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
      [stored.id, p.patientId, p.templateId, p.mediaType, p.keyId, p.wrappedKey, p.iv, p.ciphertext, p.tag, stored.createdAt],
    );
    return stored;
  }

  async listPhotos(patientId: string): Promise<StoredPhoto[]> {
    const rows = await this.sql.all<PhotoDbRow>(
      `SELECT ${PHOTO_COLUMNS} FROM photos WHERE patient_id = ? ORDER BY created_at, id`,
      [patientId],
    );
    return rows.map(photoRow);
  }

  async deletePhotosOfPatient(patientId: string): Promise<number> {
    return this.sql.run('DELETE FROM photos WHERE patient_id = ?', [patientId]);
  }

  async listPhotosPage(afterId: string | null, limit: number): Promise<StoredPhoto[]> {
    const rows = await this.sql.all<PhotoDbRow>(`SELECT ${PHOTO_COLUMNS} FROM photos WHERE id > ? ORDER BY id LIMIT ?`, [
      afterId ?? '',
      limit,
    ]);
    return rows.map(photoRow);
  }

  async updatePhotoProtection(id: string, blob: ProtectedBlob): Promise<boolean> {
    const changed = await this.sql.run(
      'UPDATE photos SET key_id = ?, wrapped_key = ?, iv = ?, ciphertext = ?, tag = ? WHERE id = ?',
      [blob.keyId, blob.wrappedKey, blob.iv, blob.ciphertext, blob.tag, id],
    );
    return changed > 0;
  }

  async moveTemplatePhotos(fromTemplateId: string, toTemplateId: string): Promise<number> {
    return this.sql.run('UPDATE photos SET template_id = ? WHERE template_id = ?', [toTemplateId, fromTemplateId]);
  }

  // ---------------------------------------------------------------- staff face templates

  async insertStaffTemplate(t: NewStaffTemplate): Promise<StoredStaffTemplate> {
    const stored: StoredStaffTemplate = { ...t, id: randomUUID(), createdAt: new Date().toISOString() };
    await this.sql.run(
      `INSERT INTO staff_templates (id, user_id, model_id, transform_id, key_id, wrapped_key, iv, ciphertext, tag, quality, consent_notice, created_at)
       VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
      [stored.id, t.userId, t.modelId, t.transformId, t.keyId, t.wrappedKey, t.iv, t.ciphertext, t.tag, JSON.stringify(t.quality), t.consentNotice, stored.createdAt],
    );
    return stored;
  }

  async listStaffTemplates(userId: string): Promise<StoredStaffTemplate[]> {
    const rows = await this.sql.all<StaffTemplateDbRow>(
      `SELECT ${STAFF_TEMPLATE_COLUMNS} FROM staff_templates WHERE user_id = ? ORDER BY created_at, id`,
      [userId],
    );
    return rows.map(staffTemplateRow);
  }

  async deleteStaffTemplate(id: string): Promise<boolean> {
    return (await this.sql.run('DELETE FROM staff_templates WHERE id = ?', [id])) > 0;
  }

  async deleteStaffTemplatesOfUser(userId: string): Promise<number> {
    return this.sql.run('DELETE FROM staff_templates WHERE user_id = ?', [userId]);
  }

  async listStaffTemplatesPage(afterId: string | null, limit: number): Promise<StoredStaffTemplate[]> {
    const rows = await this.sql.all<StaffTemplateDbRow>(
      `SELECT ${STAFF_TEMPLATE_COLUMNS} FROM staff_templates WHERE id > ? ORDER BY id LIMIT ?`,
      [afterId ?? '', limit],
    );
    return rows.map(staffTemplateRow);
  }

  async updateStaffTemplateProtection(id: string, blob: ProtectedBlob & { transformId: string }): Promise<boolean> {
    const changed = await this.sql.run(
      'UPDATE staff_templates SET transform_id = ?, key_id = ?, wrapped_key = ?, iv = ?, ciphertext = ?, tag = ? WHERE id = ?',
      [blob.transformId, blob.keyId, blob.wrappedKey, blob.iv, blob.ciphertext, blob.tag, id],
    );
    return changed > 0;
  }

  // ---------------------------------------------------------------- notices to patients

  async insertPatientNotice(row: PatientNoticeRow): Promise<void> {
    await this.sql.run(
      'INSERT INTO patient_notices (id, patient_id, kind, created_at, portal_shown_at, visit_shown_at) VALUES (?, ?, ?, ?, ?, ?)',
      [row.id, row.patientId, row.kind, row.createdAt, row.portalShownAt, row.visitShownAt],
    );
  }

  async listPatientNotices(patientId: string): Promise<PatientNoticeRow[]> {
    const rows = await this.sql.all<PatientNoticeDbRow>(`SELECT ${PATIENT_NOTICE_COLUMNS} FROM patient_notices WHERE patient_id = ? ORDER BY created_at, id`, [patientId]);
    return rows.map(patientNoticeRow);
  }

  async markPatientNoticesShown(patientId: string, channel: 'portal' | 'visit', at: string): Promise<PatientNoticeRow[]> {
    const column = channel === 'portal' ? 'portal_shown_at' : 'visit_shown_at';
    const rows = await this.sql.all<PatientNoticeDbRow>(
      `SELECT ${PATIENT_NOTICE_COLUMNS} FROM patient_notices WHERE patient_id = ? AND ${column} IS NULL ORDER BY created_at, id`,
      [patientId],
    );
    for (const r of rows) await this.sql.run(`UPDATE patient_notices SET ${column} = ? WHERE id = ? AND ${column} IS NULL`, [at, r.id]);
    return rows.map(patientNoticeRow);
  }

  async countProtectedRecordsByKey(): Promise<ProtectedRecordCount[]> {
    const rows = await this.sql.all<{ kind: string; key_id: string; transform_id: string | null; n: number | string }>(
      `SELECT 'template' AS kind, key_id, transform_id, COUNT(*) AS n FROM templates GROUP BY key_id, transform_id
       UNION ALL SELECT 'staff-template' AS kind, key_id, transform_id, COUNT(*) AS n FROM staff_templates GROUP BY key_id, transform_id
       UNION ALL SELECT 'photo' AS kind, key_id, NULL AS transform_id, COUNT(*) AS n FROM photos GROUP BY key_id
       ORDER BY kind, key_id`,
    );
    return rows.map((r) => ({ kind: r.kind as ProtectedRecordCount['kind'], keyId: r.key_id, transformId: r.transform_id, count: Number(r.n) }));
  }

  // ---------------------------------------------------------------- duplicate links

  async insertPatientLink(row: PatientLinkRow): Promise<void> {
    await this.sql.run(
      `INSERT INTO patient_links (id, patient_id, other_patient_id, grade, score, status, reason, created_by, created_at, reviewed_by, reviewed_at)
       VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
      [
        row.id,
        row.patientId,
        row.otherPatientId,
        row.grade,
        row.score,
        row.status,
        row.reason,
        row.createdBy,
        row.createdAt,
        row.reviewedBy,
        row.reviewedAt,
      ],
    );
  }

  async getPatientLink(id: string): Promise<PatientLinkRow | null> {
    const rows = await this.sql.all<LinkDbRow>(`SELECT ${LINK_COLUMNS} FROM patient_links WHERE id = ?`, [id]);
    return rows[0] ? linkRow(rows[0]) : null;
  }

  async listPatientLinks(filter: { patientId?: string; status?: PatientLinkStatus }): Promise<PatientLinkRow[]> {
    const where: string[] = [];
    const params: SqlValue[] = [];
    if (filter.patientId !== undefined) {
      where.push('(patient_id = ? OR other_patient_id = ?)');
      params.push(filter.patientId, filter.patientId);
    }
    if (filter.status !== undefined) {
      where.push('status = ?');
      params.push(filter.status);
    }
    const rows = await this.sql.all<LinkDbRow>(
      `SELECT ${LINK_COLUMNS} FROM patient_links ${where.length > 0 ? 'WHERE ' + where.join(' AND ') : ''} ORDER BY created_at, id`,
      params,
    );
    return rows.map(linkRow);
  }

  async updatePatientLink(row: PatientLinkRow): Promise<void> {
    await this.sql.run(
      'UPDATE patient_links SET grade = ?, score = ?, status = ?, reason = ?, reviewed_by = ?, reviewed_at = ? WHERE id = ?',
      [row.grade, row.score, row.status, row.reason, row.reviewedBy, row.reviewedAt, row.id],
    );
  }

  // ---------------------------------------------------------------- key metadata

  async insertKey(k: KeyMetadata): Promise<void> {
    await this.sql.run(
      'INSERT INTO key_metadata (id, purpose, algorithm, check_value, created_at, retired_at) VALUES (?, ?, ?, ?, ?, ?)',
      [k.id, k.purpose, k.algorithm, k.checkValue, k.createdAt, k.retiredAt],
    );
  }

  async getKey(id: string): Promise<KeyMetadata | null> {
    const rows = await this.sql.all<KeyDbRow>(`SELECT ${KEY_COLUMNS} FROM key_metadata WHERE id = ?`, [id]);
    return rows[0] ? keyRow(rows[0]) : null;
  }

  async listKeys(purpose?: string): Promise<KeyMetadata[]> {
    const rows =
      purpose === undefined
        ? await this.sql.all<KeyDbRow>(`SELECT ${KEY_COLUMNS} FROM key_metadata ORDER BY created_at, id`)
        : await this.sql.all<KeyDbRow>(`SELECT ${KEY_COLUMNS} FROM key_metadata WHERE purpose = ? ORDER BY created_at, id`, [
            purpose,
          ]);
    return rows.map(keyRow);
  }

  async retireKey(id: string, at: string): Promise<void> {
    await this.sql.run('UPDATE key_metadata SET retired_at = ? WHERE id = ? AND retired_at IS NULL', [at, id]);
  }

  // ---------------------------------------------------------------- people, sessions, API clients

  async insertUser(row: UserRow): Promise<void> {
    await this.sql.run(
      'INSERT INTO users (id, username, display_name, roles, patient_id, created_at, updated_at, disabled_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)',
      [row.id, row.username, row.displayName, JSON.stringify(row.roles), row.patientId, row.createdAt, row.updatedAt, row.disabledAt],
    );
  }

  async updateUser(row: UserRow): Promise<boolean> {
    const changed = await this.sql.run('UPDATE users SET display_name = ?, roles = ?, updated_at = ?, disabled_at = ? WHERE id = ?', [
      row.displayName,
      JSON.stringify(row.roles),
      row.updatedAt,
      row.disabledAt,
      row.id,
    ]);
    return changed > 0;
  }

  async getUser(id: string): Promise<UserRow | null> {
    const rows = await this.sql.all<UserDbRow>(`SELECT ${USER_COLUMNS} FROM users WHERE id = ?`, [id]);
    return rows[0] ? userRow(rows[0]) : null;
  }

  async getUsers(ids: readonly string[]): Promise<UserRow[]> {
    if (ids.length === 0) return [];
    const rows = await this.sql.all<UserDbRow>(`SELECT ${USER_COLUMNS} FROM users WHERE id IN (${marks(ids)}) ORDER BY username`, [...ids]);
    return rows.map(userRow);
  }

  async searchUsersByUsername(prefix: string, limit: number): Promise<UserRow[]> {
    const rows = await this.sql.all<UserDbRow>(`SELECT ${USER_COLUMNS} FROM users WHERE username >= ? AND username < ? ORDER BY username LIMIT ?`, [
      prefix,
      prefixUpperBound(prefix),
      limit,
    ]);
    return rows.map(userRow);
  }

  async getUserByUsername(username: string): Promise<UserRow | null> {
    const rows = await this.sql.all<UserDbRow>(`SELECT ${USER_COLUMNS} FROM users WHERE username = ?`, [username]);
    return rows[0] ? userRow(rows[0]) : null;
  }

  async getUserByPatientId(patientId: string): Promise<UserRow | null> {
    const rows = await this.sql.all<UserDbRow>(`SELECT ${USER_COLUMNS} FROM users WHERE patient_id = ?`, [patientId]);
    return rows[0] ? userRow(rows[0]) : null;
  }

  async listUsers(): Promise<UserRow[]> {
    const rows = await this.sql.all<UserDbRow>(`SELECT ${USER_COLUMNS} FROM users ORDER BY username`);
    return rows.map(userRow);
  }

  async setCredential(row: CredentialRow): Promise<void> {
    await this.sql.run(
      `INSERT INTO credentials (user_id, kind, hash, must_change, updated_at) VALUES (?, ?, ?, ?, ?)
       ON CONFLICT (user_id, kind) DO UPDATE SET hash = excluded.hash, must_change = excluded.must_change, updated_at = excluded.updated_at`,
      [row.userId, row.kind, row.hash, row.mustChange ? 1 : 0, row.updatedAt],
    );
  }

  async getCredential(userId: string, kind: CredentialKind): Promise<CredentialRow | null> {
    const rows = await this.sql.all<{ user_id: string; kind: string; hash: string; must_change: number; updated_at: unknown }>(
      'SELECT user_id, kind, hash, must_change, updated_at FROM credentials WHERE user_id = ? AND kind = ?',
      [userId, kind],
    );
    const r = rows[0];
    return r
      ? { userId: r.user_id, kind: r.kind as CredentialKind, hash: r.hash, mustChange: Number(r.must_change) === 1, updatedAt: isoTime(r.updated_at) }
      : null;
  }

  async setTotp(row: TotpRow): Promise<void> {
    await this.sql.run(
      `INSERT INTO totp_secrets (user_id, sealed_secret, algorithm, digits, period, last_step, created_at) VALUES (?, ?, ?, ?, ?, ?, ?)
       ON CONFLICT (user_id) DO UPDATE SET sealed_secret = excluded.sealed_secret, algorithm = excluded.algorithm,
         digits = excluded.digits, period = excluded.period, last_step = excluded.last_step, created_at = excluded.created_at`,
      [row.userId, row.sealedSecret, row.algorithm, row.digits, row.period, row.lastStep, row.createdAt],
    );
  }

  async deleteTotp(userId: string): Promise<boolean> {
    return (await this.sql.run('DELETE FROM totp_secrets WHERE user_id = ?', [userId])) > 0;
  }

  // ---------------------------------------------------------------- account requests

  async insertAccountRequest(row: AccountRequestRow): Promise<void> {
    await this.sql.run(
      `INSERT INTO account_requests (id, action, username, details, requested_by, requested_at, status, decided_by, decided_at)
       VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)`,
      [row.id, row.action, row.username, JSON.stringify(row.details), row.requestedBy, row.requestedAt, row.status, row.decidedBy, row.decidedAt],
    );
  }

  async getAccountRequest(id: string): Promise<AccountRequestRow | null> {
    const rows = await this.sql.all<AccountRequestDbRow>(`SELECT ${ACCOUNT_REQUEST_COLUMNS} FROM account_requests WHERE id = ?`, [id]);
    return rows[0] ? accountRequestRow(rows[0]) : null;
  }

  async listAccountRequests(status: AccountRequestStatus): Promise<AccountRequestRow[]> {
    const rows = await this.sql.all<AccountRequestDbRow>(`SELECT ${ACCOUNT_REQUEST_COLUMNS} FROM account_requests WHERE status = ? ORDER BY requested_at, id`, [status]);
    return rows.map(accountRequestRow);
  }

  async decideAccountRequest(id: string, status: Exclude<AccountRequestStatus, 'pending'>, decidedBy: string, decidedAt: string): Promise<boolean> {
    return (await this.sql.run("UPDATE account_requests SET status = ?, decided_by = ?, decided_at = ? WHERE id = ? AND status = 'pending'", [status, decidedBy, decidedAt, id])) > 0;
  }

  async getTotp(userId: string): Promise<TotpRow | null> {
    const rows = await this.sql.all<TotpDbRow>(
      'SELECT user_id, sealed_secret, algorithm, digits, period, last_step, created_at FROM totp_secrets WHERE user_id = ?',
      [userId],
    );
    return rows[0] ? totpRow(rows[0]) : null;
  }

  async useTotpStep(userId: string, step: number): Promise<boolean> {
    // One conditional UPDATE: of two nodes accepting the same code at once, only one changes the row.
    const changed = await this.sql.run('UPDATE totp_secrets SET last_step = ? WHERE user_id = ? AND (last_step IS NULL OR last_step < ?)', [
      step,
      userId,
      step,
    ]);
    return changed > 0;
  }

  async insertSession(row: SessionRow): Promise<void> {
    await this.sql.run(
      `INSERT INTO sessions (id, token_hash, user_id, created_at, last_seen_at, idle_timeout_seconds, idle_expires_at, expires_at,
         client, auth_method, match_grade, match_score)
       VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
      [
        row.id,
        row.tokenHash,
        row.userId,
        row.createdAt,
        row.lastSeenAt,
        row.idleTimeoutSeconds,
        row.idleExpiresAt,
        row.expiresAt,
        row.client,
        row.authMethod,
        row.matchGrade,
        row.matchScore,
      ],
    );
  }

  async getSessionByTokenHash(tokenHash: string): Promise<SessionRow | null> {
    const rows = await this.sql.all<SessionDbRow>(`SELECT ${SESSION_COLUMNS} FROM sessions WHERE token_hash = ?`, [tokenHash]);
    return rows[0] ? sessionRow(rows[0]) : null;
  }

  async touchSession(id: string, lastSeenAt: string, idleExpiresAt: string): Promise<boolean> {
    const changed = await this.sql.run('UPDATE sessions SET last_seen_at = ?, idle_expires_at = ? WHERE id = ?', [lastSeenAt, idleExpiresAt, id]);
    return changed > 0;
  }

  async deleteSession(id: string): Promise<boolean> {
    return (await this.sql.run('DELETE FROM sessions WHERE id = ?', [id])) > 0;
  }

  async deleteSessionsOfUser(userId: string): Promise<number> {
    return this.sql.run('DELETE FROM sessions WHERE user_id = ?', [userId]);
  }

  async deleteExpiredSessions(now: string): Promise<number> {
    return this.sql.run('DELETE FROM sessions WHERE idle_expires_at <= ? OR expires_at <= ?', [now, now]);
  }

  async recordSignInFailure(subject: string, at: string, forgetBefore: string): Promise<number> {
    const rows = await this.sql.all<{ failures: number | string }>(
      `INSERT INTO sign_in_throttle (subject, failures, last_failure_at, blocked_until) VALUES (?, 1, ?, NULL)
       ON CONFLICT (subject) DO UPDATE SET
         failures = CASE WHEN sign_in_throttle.last_failure_at < ? THEN 1 ELSE sign_in_throttle.failures + 1 END,
         last_failure_at = excluded.last_failure_at
       RETURNING failures`,
      [subject, at, forgetBefore],
    );
    return Number(rows[0]?.failures ?? 0);
  }

  async blockSignIn(subject: string, until: string): Promise<void> {
    await this.sql.run('UPDATE sign_in_throttle SET blocked_until = ? WHERE subject = ? AND (blocked_until IS NULL OR blocked_until < ?)', [
      until,
      subject,
      until,
    ]);
  }

  async getSignInThrottle(subjects: readonly string[]): Promise<SignInThrottleRow[]> {
    if (subjects.length === 0) return [];
    const rows = await this.sql.all<{ subject: string; failures: number | string; last_failure_at: unknown; blocked_until: unknown }>(
      `SELECT subject, failures, last_failure_at, blocked_until FROM sign_in_throttle WHERE subject IN (${subjects.map(() => '?').join(', ')})
       ORDER BY subject`,
      subjects,
    );
    return rows.map((r) => ({
      subject: r.subject,
      failures: Number(r.failures),
      lastFailureAt: isoTime(r.last_failure_at),
      blockedUntil: isoTimeOrNull(r.blocked_until),
    }));
  }

  async clearSignInFailures(subject: string): Promise<void> {
    await this.sql.run('DELETE FROM sign_in_throttle WHERE subject = ?', [subject]);
  }

  async insertApiClient(row: ApiClientRow): Promise<void> {
    await this.sql.run(
      'INSERT INTO api_clients (id, name, kind, key_hash, scopes, created_at, created_by, revoked_at, paired_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)',
      [row.id, row.name, row.kind, row.keyHash, JSON.stringify(row.scopes), row.createdAt, row.createdBy, row.revokedAt, row.pairedAt],
    );
  }

  async getApiClient(id: string): Promise<ApiClientRow | null> {
    const rows = await this.sql.all<ApiClientDbRow>(`SELECT ${API_CLIENT_COLUMNS} FROM api_clients WHERE id = ?`, [id]);
    return rows[0] ? apiClientRow(rows[0]) : null;
  }

  async getApiClientByKeyHash(keyHash: string): Promise<ApiClientRow | null> {
    const rows = await this.sql.all<ApiClientDbRow>(`SELECT ${API_CLIENT_COLUMNS} FROM api_clients WHERE key_hash = ?`, [keyHash]);
    return rows[0] ? apiClientRow(rows[0]) : null;
  }

  async listApiClients(): Promise<ApiClientRow[]> {
    const rows = await this.sql.all<ApiClientDbRow>(`SELECT ${API_CLIENT_COLUMNS} FROM api_clients ORDER BY name`);
    return rows.map(apiClientRow);
  }

  async revokeApiClient(id: string, at: string): Promise<boolean> {
    return (await this.sql.run('UPDATE api_clients SET revoked_at = ? WHERE id = ? AND revoked_at IS NULL', [at, id])) > 0;
  }

  async pairApiClient(id: string, pairingHash: string, deviceHash: string, at: string): Promise<boolean> {
    const sql = 'UPDATE api_clients SET key_hash = ?, paired_at = ? WHERE id = ? AND key_hash = ? AND paired_at IS NULL AND revoked_at IS NULL';
    return (await this.sql.run(sql, [deviceHash, at, id, pairingHash])) > 0;
  }

  // ---------------------------------------------------------------- rate limits

  async countRateLimitHit(key: string, now: string, windowEndsAt: string): Promise<{ hits: number; windowEndsAt: string }> {
    const rows = await this.sql.all<{ hits: number | string; window_ends_at: unknown }>(
      `INSERT INTO rate_limit_counters (key, hits, window_ends_at) VALUES (?, 1, ?)
       ON CONFLICT (key) DO UPDATE SET
         hits = CASE WHEN rate_limit_counters.window_ends_at <= ? THEN 1 ELSE rate_limit_counters.hits + 1 END,
         window_ends_at = CASE WHEN rate_limit_counters.window_ends_at <= ? THEN excluded.window_ends_at ELSE rate_limit_counters.window_ends_at END
       RETURNING hits, window_ends_at`,
      [key, windowEndsAt, now, now],
    );
    const row = rows[0]!;
    return { hits: Number(row.hits), windowEndsAt: isoTime(row.window_ends_at) };
  }

  async deleteRateLimitCountersBefore(before: string): Promise<number> {
    return this.sql.run('DELETE FROM rate_limit_counters WHERE window_ends_at < ?', [before]);
  }

  // ---------------------------------------------------------------- liveness challenges

  async insertLivenessChallenge(row: LivenessChallengeRow): Promise<void> {
    await this.sql.run(`INSERT INTO liveness_challenges (${CHALLENGE_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?)`, [
      row.id,
      row.nonce,
      JSON.stringify(row.actions),
      row.purpose,
      row.subject,
      row.issuedAt,
      row.deadline,
      row.consumedAt,
    ]);
  }

  async getLivenessChallenge(id: string): Promise<LivenessChallengeRow | null> {
    const rows = await this.sql.all<ChallengeDbRow>(`SELECT ${CHALLENGE_COLUMNS} FROM liveness_challenges WHERE id = ?`, [id]);
    return rows[0] ? challengeRow(rows[0]) : null;
  }

  async consumeLivenessChallenge(id: string, at: string): Promise<boolean> {
    return (await this.sql.run('UPDATE liveness_challenges SET consumed_at = ? WHERE id = ? AND consumed_at IS NULL', [at, id])) > 0;
  }

  async deleteLivenessChallengesBefore(before: string): Promise<number> {
    return this.sql.run('DELETE FROM liveness_challenges WHERE deadline < ?', [before]);
  }

  // ---------------------------------------------------------------- audit

  async lockAuditHead(): Promise<{ seq: number; hash: string } | null> {
    // SQLite needs no lock here: its store runs one transaction at a time.
    if (this.sql.engine === 'postgres') await this.sql.all('SELECT pg_advisory_xact_lock(?)', [AUDIT_LOCK_KEY]);
    const rows = await this.sql.all<{ seq: number | string; hash: string }>(
      'SELECT seq, hash FROM audit_events ORDER BY seq DESC LIMIT 1',
    );
    return rows[0] ? { seq: Number(rows[0].seq), hash: rows[0].hash } : null;
  }

  async insertAuditEvent(e: AuditEventRow): Promise<void> {
    await this.sql.run(
      `INSERT INTO audit_events (seq, time, actor, client, action, outcome, patient_ref, details, prev_hash, hash)
       VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
      [e.seq, e.time, e.actor, e.client, e.action, e.outcome, e.patientRef, e.details, e.prevHash, e.hash],
    );
  }

  async listAuditEvents(q: AuditQuery): Promise<AuditEventRow[]> {
    const where: string[] = [];
    const params: SqlValue[] = [];
    const filters: [string, SqlValue | undefined][] = [
      ['seq > ?', q.afterSeq],
      ['time >= ?', q.from],
      ['time < ?', q.to],
      ['actor = ?', q.actor],
      ['action = ?', q.action],
      ['outcome = ?', q.outcome],
      ['patient_ref = ?', q.patientRef],
    ];
    for (const [clause, value] of filters) {
      if (value === undefined) continue;
      where.push(clause);
      params.push(value);
    }
    // any of several actors or patients (the users a name search found, the patients a name search found); an empty list matches nothing
    for (const [column, values] of [['actor', q.actors], ['patient_ref', q.patientRefs]] as const) {
      if (values === undefined) continue;
      where.push(values.length === 0 ? '1 = 0' : `${column} IN (${marks(values)})`);
      params.push(...values);
    }
    params.push(q.limit);
    const rows = await this.sql.all<AuditDbRow>(
      `SELECT seq, time, actor, client, action, outcome, patient_ref, details, prev_hash, hash FROM audit_events
       ${where.length > 0 ? 'WHERE ' + where.join(' AND ') : ''} ORDER BY seq LIMIT ?`,
      params,
    );
    return rows.map(auditRow);
  }
}

/** The placeholders of an IN list, one per value. */
function marks(values: readonly unknown[]): string {
  return values.map(() => '?').join(', ');
}

/**
 * The smallest string greater than every string starting with `prefix` (in code-point order, which is
 * SQLite's BINARY and PostgreSQL's "C" collation), so a prefix search is an index range scan.
 */
export function prefixUpperBound(prefix: string): string {
  const points = Array.from(prefix, (c) => c.codePointAt(0) as number);
  while (points.length > 0) {
    const last = (points.pop() as number) + 1;
    if (last > 0x10ffff) continue;
    points.push(last >= 0xd800 && last <= 0xdfff ? 0xe000 : last);
    return String.fromCodePoint(...points);
  }
  return String.fromCodePoint(0x10ffff);
}

interface ResourceDbRow {
  id: string;
  version_id: number;
  last_updated: unknown;
  resource: unknown;
}

function resourceRow(r: ResourceDbRow): ResourceRow {
  return {
    id: r.id,
    versionId: Number(r.version_id),
    lastUpdated: isoTime(r.last_updated),
    resource: jsonColumn<object>(r.resource),
  };
}

const CONSENT_COLUMNS = 'id, patient_id, status, scope, category, version_id, last_updated, resource';

interface ConsentDbRow extends ResourceDbRow {
  patient_id: string;
  status: string;
  scope: string;
  category: string;
}

function consentRow(r: ConsentDbRow): ConsentRow {
  return { ...resourceRow(r), patientId: r.patient_id, status: r.status, scope: r.scope, category: r.category };
}

const CLINICAL_COLUMNS = 'id, resource_type, patient_id, version_id, last_updated, resource';

interface ClinicalDbRow extends ResourceDbRow {
  resource_type: string;
  patient_id: string;
}

function clinicalRow(r: ClinicalDbRow): ClinicalResourceRow {
  return { ...resourceRow(r), resourceType: r.resource_type, patientId: r.patient_id };
}

const GRANT_COLUMNS =
  'id, user_id, patient_id, reason, client, granted_at, expires_at, review_status, reviewed_by, reviewed_at, review_note';

interface GrantDbRow {
  id: string;
  user_id: string;
  patient_id: string;
  reason: string;
  client: string | null;
  granted_at: unknown;
  expires_at: unknown;
  review_status: string;
  reviewed_by: string | null;
  reviewed_at: unknown;
  review_note: string | null;
}

function grantRow(r: GrantDbRow): BreakGlassGrantRow {
  return {
    id: r.id,
    userId: r.user_id,
    patientId: r.patient_id,
    reason: r.reason,
    client: r.client,
    grantedAt: isoTime(r.granted_at),
    expiresAt: isoTime(r.expires_at),
    reviewStatus: r.review_status as BreakGlassReviewStatus,
    reviewedBy: r.reviewed_by,
    reviewedAt: isoTimeOrNull(r.reviewed_at),
    reviewNote: r.review_note,
  };
}

const TEMPLATE_COLUMNS =
  'id, patient_id, model_id, transform_id, key_id, wrapped_key, iv, ciphertext, tag, quality, source, created_at';

interface BlobDbRow {
  key_id: string;
  wrapped_key: Buffer;
  iv: Buffer;
  ciphertext: Buffer;
  tag: Buffer;
}

interface TemplateDbRow extends BlobDbRow {
  id: string;
  patient_id: string;
  model_id: string;
  transform_id: string;
  quality: unknown;
  source: string;
  created_at: unknown;
}

function blob(r: BlobDbRow): ProtectedBlob {
  return { keyId: r.key_id, wrappedKey: r.wrapped_key, iv: r.iv, ciphertext: r.ciphertext, tag: r.tag };
}

function templateRow(r: TemplateDbRow): StoredTemplate {
  return {
    id: r.id,
    patientId: r.patient_id,
    modelId: r.model_id,
    transformId: r.transform_id,
    ...blob(r),
    quality: jsonColumn<Record<string, unknown>>(r.quality),
    source: r.source as TemplateSource,
    createdAt: isoTime(r.created_at),
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

const PATIENT_NOTICE_COLUMNS = 'id, patient_id, kind, created_at, portal_shown_at, visit_shown_at';

interface PatientNoticeDbRow {
  id: string;
  patient_id: string;
  kind: string;
  created_at: unknown;
  portal_shown_at: unknown;
  visit_shown_at: unknown;
}

function patientNoticeRow(r: PatientNoticeDbRow): PatientNoticeRow {
  return {
    id: r.id,
    patientId: r.patient_id,
    kind: r.kind as PatientNoticeRow['kind'],
    createdAt: isoTime(r.created_at),
    portalShownAt: isoTimeOrNull(r.portal_shown_at),
    visitShownAt: isoTimeOrNull(r.visit_shown_at),
  };
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

const PHOTO_COLUMNS = 'id, patient_id, template_id, media_type, key_id, wrapped_key, iv, ciphertext, tag, created_at';

interface PhotoDbRow extends BlobDbRow {
  id: string;
  patient_id: string;
  template_id: string | null;
  media_type: string;
  created_at: unknown;
}

function photoRow(r: PhotoDbRow): StoredPhoto {
  return {
    id: r.id,
    patientId: r.patient_id,
    templateId: r.template_id,
    mediaType: r.media_type,
    ...blob(r),
    createdAt: isoTime(r.created_at),
  };
}

const LINK_COLUMNS =
  'id, patient_id, other_patient_id, grade, score, status, reason, created_by, created_at, reviewed_by, reviewed_at';

interface LinkDbRow {
  id: string;
  patient_id: string;
  other_patient_id: string;
  grade: string;
  score: number;
  status: string;
  reason: string | null;
  created_by: string;
  created_at: unknown;
  reviewed_by: string | null;
  reviewed_at: unknown;
}

function linkRow(r: LinkDbRow): PatientLinkRow {
  return {
    id: r.id,
    patientId: r.patient_id,
    otherPatientId: r.other_patient_id,
    grade: r.grade,
    score: Number(r.score),
    status: r.status as PatientLinkStatus,
    reason: r.reason,
    createdBy: r.created_by,
    createdAt: isoTime(r.created_at),
    reviewedBy: r.reviewed_by,
    reviewedAt: isoTimeOrNull(r.reviewed_at),
  };
}

const KEY_COLUMNS = 'id, purpose, algorithm, check_value, created_at, retired_at';

interface KeyDbRow {
  id: string;
  purpose: string;
  algorithm: string;
  check_value: string;
  created_at: unknown;
  retired_at: unknown;
}

function keyRow(r: KeyDbRow): KeyMetadata {
  return {
    id: r.id,
    purpose: r.purpose,
    algorithm: r.algorithm,
    checkValue: r.check_value,
    createdAt: isoTime(r.created_at),
    retiredAt: isoTimeOrNull(r.retired_at),
  };
}

const USER_COLUMNS = 'id, username, display_name, roles, patient_id, created_at, updated_at, disabled_at';

interface UserDbRow {
  id: string;
  username: string;
  display_name: string | null;
  roles: unknown;
  patient_id: string | null;
  created_at: unknown;
  updated_at: unknown;
  disabled_at: unknown;
}

function userRow(r: UserDbRow): UserRow {
  return {
    id: r.id,
    username: r.username,
    displayName: r.display_name,
    roles: jsonColumn<string[]>(r.roles),
    patientId: r.patient_id,
    createdAt: isoTime(r.created_at),
    updatedAt: isoTime(r.updated_at),
    disabledAt: isoTimeOrNull(r.disabled_at),
  };
}

interface TotpDbRow {
  user_id: string;
  sealed_secret: Buffer;
  algorithm: string;
  digits: number;
  period: number;
  last_step: number | string | null;
  created_at: unknown;
}

function totpRow(r: TotpDbRow): TotpRow {
  return {
    userId: r.user_id,
    sealedSecret: r.sealed_secret,
    algorithm: r.algorithm,
    digits: Number(r.digits),
    period: Number(r.period),
    lastStep: r.last_step === null ? null : Number(r.last_step),
    createdAt: isoTime(r.created_at),
  };
}

const SESSION_COLUMNS =
  'id, token_hash, user_id, created_at, last_seen_at, idle_timeout_seconds, idle_expires_at, expires_at, client, auth_method, match_grade, match_score';

interface SessionDbRow {
  id: string;
  token_hash: string;
  user_id: string;
  created_at: unknown;
  last_seen_at: unknown;
  idle_timeout_seconds: number;
  idle_expires_at: unknown;
  expires_at: unknown;
  client: string | null;
  auth_method: string;
  match_grade: string | null;
  match_score: number | null;
}

function sessionRow(r: SessionDbRow): SessionRow {
  return {
    id: r.id,
    tokenHash: r.token_hash,
    userId: r.user_id,
    createdAt: isoTime(r.created_at),
    lastSeenAt: isoTime(r.last_seen_at),
    idleTimeoutSeconds: Number(r.idle_timeout_seconds),
    idleExpiresAt: isoTime(r.idle_expires_at),
    expiresAt: isoTime(r.expires_at),
    client: r.client,
    authMethod: r.auth_method,
    matchGrade: r.match_grade,
    matchScore: r.match_score === null ? null : Number(r.match_score),
  };
}

const ACCOUNT_REQUEST_COLUMNS = 'id, action, username, details, requested_by, requested_at, status, decided_by, decided_at';

interface AccountRequestDbRow {
  id: string;
  action: string;
  username: string;
  details: unknown;
  requested_by: string;
  requested_at: unknown;
  status: string;
  decided_by: string | null;
  decided_at: unknown;
}

function accountRequestRow(r: AccountRequestDbRow): AccountRequestRow {
  return {
    id: r.id,
    action: r.action as AccountRequestAction,
    username: r.username,
    details: jsonColumn<Record<string, unknown>>(r.details),
    requestedBy: r.requested_by,
    requestedAt: isoTime(r.requested_at),
    status: r.status as AccountRequestStatus,
    decidedBy: r.decided_by,
    decidedAt: isoTimeOrNull(r.decided_at),
  };
}

const API_CLIENT_COLUMNS = 'id, name, kind, key_hash, scopes, created_at, created_by, revoked_at, paired_at';

interface ApiClientDbRow {
  id: string;
  name: string;
  kind: string;
  key_hash: string;
  scopes: unknown;
  created_at: unknown;
  created_by: string;
  revoked_at: unknown;
  paired_at: unknown;
}

const CHALLENGE_COLUMNS = 'id, nonce, actions, purpose, subject, issued_at, deadline, consumed_at';

interface ChallengeDbRow {
  id: string;
  nonce: string;
  actions: unknown;
  purpose: string;
  subject: string | null;
  issued_at: unknown;
  deadline: unknown;
  consumed_at: unknown;
}

function challengeRow(r: ChallengeDbRow): LivenessChallengeRow {
  return {
    id: r.id,
    nonce: r.nonce,
    actions: jsonColumn<string[]>(r.actions),
    purpose: r.purpose,
    subject: r.subject,
    issuedAt: isoTime(r.issued_at),
    deadline: isoTime(r.deadline),
    consumedAt: isoTimeOrNull(r.consumed_at),
  };
}

function apiClientRow(r: ApiClientDbRow): ApiClientRow {
  return {
    id: r.id,
    name: r.name,
    kind: r.kind === 'kiosk' ? 'kiosk' : 'integration',
    keyHash: r.key_hash,
    scopes: jsonColumn<string[]>(r.scopes),
    createdAt: isoTime(r.created_at),
    createdBy: r.created_by,
    revokedAt: isoTimeOrNull(r.revoked_at),
    pairedAt: isoTimeOrNull(r.paired_at),
  };
}

interface AuditDbRow {
  seq: number | string;
  time: unknown;
  actor: string;
  client: string | null;
  action: string;
  outcome: string;
  patient_ref: string | null;
  details: string;
  prev_hash: string;
  hash: string;
}

function auditRow(r: AuditDbRow): AuditEventRow {
  return {
    seq: Number(r.seq),
    time: isoTime(r.time),
    actor: r.actor,
    client: r.client,
    action: r.action,
    outcome: r.outcome as AuditOutcome,
    patientRef: r.patient_ref,
    details: r.details,
    prevHash: r.prev_hash,
    hash: r.hash,
  };
}
