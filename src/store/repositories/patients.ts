import type { SqlExecutor, SqlValue } from '../sql.js';
import type { DbRow } from './columns.js';
import { marks, table, text, time, timeOrNull } from './columns.js';
import type { ResourceRow } from './rows.js';
import { RESOURCE_COLUMNS } from './rows.js';

/**
 * Patients: the Patient resource with the index terms it is searched by, its row lock, and the notices the patient is
 * told of (a face added to their record).
 */

/** Search terms records derives from a Patient so the store can find it without reading JSON. */
export interface PatientIndexTerms {
  /** Normalised (lower-case, accent-free) name words, searched by prefix. */
  nameTokens: string[];
  /** Normalised "family given" used to order search results. */
  sortName: string;
  birthDate: string | null;
  gender: string | null;
  /** `system` null for identifiers without a system; (system, value) is unique across patients. */
  identifiers: { system: string | null; value: string }[];
}

export interface PatientQuery {
  /** Every token must be a prefix of one of the patient's name tokens. */
  namePrefixes?: string[];
  /** A full or partial FHIR date (YYYY, YYYY-MM, YYYY-MM-DD); partial dates match every date inside them. */
  birthDate?: string;
  /** `system` undefined: any system; null: identifiers without a system. */
  identifier?: { system?: string | null; value: string };
  gender?: string;
  limit: number;
}

/** Something the clinic did to a patient's biometric data that the patient is told of, in the portal and at a visit. */
export interface PatientNoticeRow {
  id: string;
  patientId: string;
  kind: 'face-added';
  createdAt: string;
  /** When the portal showed it to the patient; null until then. */
  portalShownAt: string | null;
  /** When a check-in told the patient; null until then. */
  visitShownAt: string | null;
}

export interface PatientRepository {
  insertPatient(row: ResourceRow, terms: PatientIndexTerms): Promise<void>;
  /** Writes `row` if the stored version is `expectedVersionId`; false when another write came first. */
  updatePatient(row: ResourceRow, terms: PatientIndexTerms, expectedVersionId: number): Promise<boolean>;
  getPatient(id: string): Promise<ResourceRow | null>;
  /** The patients of these ids that exist (any order). */
  getPatients(ids: readonly string[]): Promise<ResourceRow[]>;
  searchPatients(query: PatientQuery): Promise<ResourceRow[]>;
  /** Serialises concurrent changes to one patient until the transaction ends; false if no such patient. */
  lockPatient(id: string): Promise<boolean>;
  insertPatientNotice(row: PatientNoticeRow): Promise<void>;
  /** The patient's notices, oldest first. */
  listPatientNotices(patientId: string): Promise<PatientNoticeRow[]>;
  /** Marks the patient's notices not yet shown on `channel` as shown at `at`; returns those it marked. */
  markPatientNoticesShown(patientId: string, channel: 'portal' | 'visit', at: string): Promise<PatientNoticeRow[]>;
}

/** What a version of a patient writes, in the column order version_id, last_updated, sort_name, birth_date, gender, resource. */
function versionValues(row: ResourceRow, terms: PatientIndexTerms): SqlValue[] {
  return [row.versionId, row.lastUpdated, terms.sortName, terms.birthDate, terms.gender, JSON.stringify(row.resource)];
}

export function patientRepository(sql: SqlExecutor): PatientRepository {
  return {
    async insertPatient(row: ResourceRow, terms: PatientIndexTerms): Promise<void> {
      await sql.run('INSERT INTO patients (id, version_id, last_updated, sort_name, birth_date, gender, resource) VALUES (?, ?, ?, ?, ?, ?, ?)', [row.id, ...versionValues(row, terms)]);
      await writeIndexTerms(sql, row.id, terms);
    },
    async updatePatient(row: ResourceRow, terms: PatientIndexTerms, expectedVersionId: number): Promise<boolean> {
      const changed = await sql.run('UPDATE patients SET version_id = ?, last_updated = ?, sort_name = ?, birth_date = ?, gender = ?, resource = ? WHERE id = ? AND version_id = ?', [
        ...versionValues(row, terms),
        row.id,
        expectedVersionId,
      ]);
      if (changed === 0) return false;
      await sql.run('DELETE FROM patient_identifiers WHERE patient_id = ?', [row.id]);
      await sql.run('DELETE FROM patient_name_tokens WHERE patient_id = ?', [row.id]);
      await writeIndexTerms(sql, row.id, terms);
      return true;
    },
    getPatient: (id) => PATIENTS.byId(sql, id),
    async getPatients(ids: readonly string[]): Promise<ResourceRow[]> {
      if (ids.length === 0) return [];
      return PATIENTS.all(sql, `WHERE id IN (${marks(ids)}) ORDER BY id`, ids);
    },
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
      const rows = await sql.all<DbRow>(
        `SELECT p.id, p.version_id, p.last_updated, p.resource FROM patients p
         ${where.length > 0 ? 'WHERE ' + where.join(' AND ') : ''}
         ORDER BY p.sort_name, p.id LIMIT ?`,
        params,
      );
      return rows.map(PATIENTS.row);
    },
    async lockPatient(id: string): Promise<boolean> {
      // SQLite has no row locks; its store already runs one transaction at a time.
      const lock = sql.engine === 'postgres' ? ' FOR UPDATE' : '';
      const rows = await sql.all<{ id: string }>(`SELECT id FROM patients WHERE id = ?${lock}`, [id]);
      return rows.length > 0;
    },
    insertPatientNotice: (row) => PATIENT_NOTICES.insertRow(sql, row),
    async listPatientNotices(patientId: string): Promise<PatientNoticeRow[]> {
      return PATIENT_NOTICES.all(sql, 'WHERE patient_id = ? ORDER BY created_at, id', [patientId]);
    },
    async markPatientNoticesShown(patientId: string, channel: 'portal' | 'visit', at: string): Promise<PatientNoticeRow[]> {
      const column = channel === 'portal' ? 'portal_shown_at' : 'visit_shown_at';
      const notices = await PATIENT_NOTICES.all(sql, `WHERE patient_id = ? AND ${column} IS NULL ORDER BY created_at, id`, [patientId]);
      for (const n of notices) await sql.run(`UPDATE patient_notices SET ${column} = ? WHERE id = ? AND ${column} IS NULL`, [at, n.id]);
      return notices;
    },
  };
}

async function writeIndexTerms(sql: SqlExecutor, patientId: string, terms: PatientIndexTerms): Promise<void> {
  for (const identifier of terms.identifiers) {
    await sql.run('INSERT INTO patient_identifiers (patient_id, system, value) VALUES (?, ?, ?)', [patientId, identifier.system, identifier.value]);
  }
  for (const token of new Set(terms.nameTokens)) {
    await sql.run('INSERT INTO patient_name_tokens (token, patient_id) VALUES (?, ?)', [token, patientId]);
  }
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

/** The Patient resource; the index columns beside it are written from its terms and never read back. */
const PATIENTS = table<ResourceRow>('patients', RESOURCE_COLUMNS);

const PATIENT_NOTICES = table<PatientNoticeRow>('patient_notices', {
  id: text('id'),
  patientId: text('patient_id'),
  kind: text<PatientNoticeRow['kind']>('kind'),
  createdAt: time('created_at'),
  portalShownAt: timeOrNull('portal_shown_at'),
  visitShownAt: timeOrNull('visit_shown_at'),
});
