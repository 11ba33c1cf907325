import type { SqlExecutor } from '../sql.js';
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
    insertClinicalResource: (row) => CLINICAL_RESOURCES.insertRow(sql, row),
    updateClinicalResource: (row, expectedVersionId) => CLINICAL_RESOURCES.updateVersion(sql, row, ['versionId', 'lastUpdated', 'resource'], ['id', 'resourceType', 'patientId'], expectedVersionId),
    async getClinicalResource(resourceType: string, id: string): Promise<ClinicalResourceRow | null> {
      return CLINICAL_RESOURCES.one(sql, 'WHERE id = ? AND resource_type = ?', [id, resourceType]);
    },
    async listClinicalResources(patientId: string, resourceTypes?: readonly string[]): Promise<ClinicalResourceRow[]> {
      if (resourceTypes !== undefined && resourceTypes.length === 0) return [];
      const typeFilter = resourceTypes === undefined ? '' : ` AND resource_type IN (${resourceTypes.map(() => '?').join(', ')})`;
      return CLINICAL_RESOURCES.all(sql, `WHERE patient_id = ?${typeFilter} ORDER BY resource_type, last_updated, id`, [patientId, ...(resourceTypes ?? [])]);
    },
  };
}

const CLINICAL_RESOURCES = table<ClinicalResourceRow>('clinical_resources', {
  ...RESOURCE_COLUMNS,
  resourceType: text('resource_type'),
  patientId: text('patient_id'),
});
