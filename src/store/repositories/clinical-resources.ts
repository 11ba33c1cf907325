import type { SqlExecutor } from '../sql.js';
import type { DbRow } from './columns.js';
import { table, text } from './columns.js';
import type { ResourceRow } from './rows.js';
import { RESOURCE_COLUMNS } from './rows.js';

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
      await sql.run(CLINICAL_RESOURCES.insert, CLINICAL_RESOURCES.values(row));
    },
    async updateClinicalResource(row: ClinicalResourceRow, expectedVersionId: number): Promise<boolean> {
      const changed = await sql.run(
        'UPDATE clinical_resources SET version_id = ?, last_updated = ?, resource = ? WHERE id = ? AND resource_type = ? AND patient_id = ? AND version_id = ?',
        [row.versionId, row.lastUpdated, JSON.stringify(row.resource), row.id, row.resourceType, row.patientId, expectedVersionId],
      );
      return changed > 0;
    },
    async getClinicalResource(resourceType: string, id: string): Promise<ClinicalResourceRow | null> {
      const rows = await sql.all<DbRow>(
        `${CLINICAL_RESOURCES.select} WHERE id = ? AND resource_type = ?`,
        [id, resourceType],
      );
      return rows[0] ? CLINICAL_RESOURCES.row(rows[0]) : null;
    },
    async listClinicalResources(patientId: string, resourceTypes?: readonly string[]): Promise<ClinicalResourceRow[]> {
      if (resourceTypes !== undefined && resourceTypes.length === 0) return [];
      const typeFilter = resourceTypes === undefined ? '' : ` AND resource_type IN (${resourceTypes.map(() => '?').join(', ')})`;
      const rows = await sql.all<DbRow>(
        `${CLINICAL_RESOURCES.select} WHERE patient_id = ?${typeFilter} ORDER BY resource_type, last_updated, id`,
        [patientId, ...(resourceTypes ?? [])],
      );
      return rows.map(CLINICAL_RESOURCES.row);
    },
  };
}

const CLINICAL_RESOURCES = table<ClinicalResourceRow>('clinical_resources', {
  ...RESOURCE_COLUMNS,
  resourceType: text('resource_type'),
  patientId: text('patient_id'),
});
