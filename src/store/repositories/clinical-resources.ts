import type { SqlExecutor } from '../sql.js';
import type { ResourceDbRow, ResourceRow } from './rows.js';
import { resourceRow } from './rows.js';

/**
 * The clinical record: Encounter, Condition, AllergyIntolerance, MedicationStatement, Observation, DocumentReference.
 */

/** A clinical FHIR resource (Encounter, Observation, …) of one patient; records/clinical.ts gives it meaning. */
export interface ClinicalResourceRow extends ResourceRow {
  resourceType: string;
  patientId: string;
}

export interface ClinicalResourceRepository {
  insertClinicalResource(row: ClinicalResourceRow): Promise<void>;
  /** Writes `row` if the stored resource of that type and patient is at `expectedVersionId`; false otherwise. */
  updateClinicalResource(row: ClinicalResourceRow, expectedVersionId: number): Promise<boolean>;
  getClinicalResource(resourceType: string, id: string): Promise<ClinicalResourceRow | null>;
  /** A patient's resources, of the given types when `resourceTypes` is set, by type then oldest first. */
  listClinicalResources(patientId: string, resourceTypes?: readonly string[]): Promise<ClinicalResourceRow[]>;
}

export function clinicalResourceRepository(sql: SqlExecutor): ClinicalResourceRepository {
  return {
    async insertClinicalResource(row: ClinicalResourceRow): Promise<void> {
      await sql.run(
        'INSERT INTO clinical_resources (id, resource_type, patient_id, version_id, last_updated, resource) VALUES (?, ?, ?, ?, ?, ?)',
        [row.id, row.resourceType, row.patientId, row.versionId, row.lastUpdated, JSON.stringify(row.resource)],
      );
    },
    async updateClinicalResource(row: ClinicalResourceRow, expectedVersionId: number): Promise<boolean> {
      const changed = await sql.run(
        'UPDATE clinical_resources SET version_id = ?, last_updated = ?, resource = ? WHERE id = ? AND resource_type = ? AND patient_id = ? AND version_id = ?',
        [row.versionId, row.lastUpdated, JSON.stringify(row.resource), row.id, row.resourceType, row.patientId, expectedVersionId],
      );
      return changed > 0;
    },
    async getClinicalResource(resourceType: string, id: string): Promise<ClinicalResourceRow | null> {
      const rows = await sql.all<ClinicalDbRow>(
        `SELECT ${CLINICAL_COLUMNS} FROM clinical_resources WHERE id = ? AND resource_type = ?`,
        [id, resourceType],
      );
      return rows[0] ? clinicalRow(rows[0]) : null;
    },
    async listClinicalResources(patientId: string, resourceTypes?: readonly string[]): Promise<ClinicalResourceRow[]> {
      if (resourceTypes !== undefined && resourceTypes.length === 0) return [];
      const typeFilter = resourceTypes === undefined ? '' : ` AND resource_type IN (${resourceTypes.map(() => '?').join(', ')})`;
      const rows = await sql.all<ClinicalDbRow>(
        `SELECT ${CLINICAL_COLUMNS} FROM clinical_resources WHERE patient_id = ?${typeFilter} ORDER BY resource_type, last_updated, id`,
        [patientId, ...(resourceTypes ?? [])],
      );
      return rows.map(clinicalRow);
    },
  };
}

const CLINICAL_COLUMNS = 'id, resource_type, patient_id, version_id, last_updated, resource';

interface ClinicalDbRow extends ResourceDbRow {
  resource_type: string;
  patient_id: string;
}

function clinicalRow(r: ClinicalDbRow): ClinicalResourceRow {
  return { ...resourceRow(r), resourceType: r.resource_type, patientId: r.patient_id };
}
