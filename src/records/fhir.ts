/**
 * The FHIR R4 resources medface reads and writes, as @medplum/fhirtypes defines them (the whole specification,
 * types only). Where medface's profile requires an element the specification leaves optional (every clinical
 * resource names its patient), the type says so; validate.ts enforces the same at the API.
 */
import type * as fhir from '@medplum/fhirtypes';

export type { Address, Annotation, CodeableConcept, Coding, Consent, HumanName, Identifier, ObservationComponent, Patient, PatientLink, Reference } from '@medplum/fhirtypes';

export type Encounter = fhir.Encounter & { subject: fhir.Reference };
export type Condition = fhir.Condition & { subject: fhir.Reference };
export type AllergyIntolerance = fhir.AllergyIntolerance & { patient: fhir.Reference };
export type MedicationStatement = fhir.MedicationStatement & { subject: fhir.Reference };
export type Observation = fhir.Observation & { subject: fhir.Reference };
export type DocumentReference = fhir.DocumentReference & { subject: fhir.Reference };
/** Observation.value[x] as medface supports it; Observation.component[] carries the same choice. */
export type ObservationValue = Pick<fhir.Observation, 'valueQuantity' | 'valueCodeableConcept' | 'valueString' | 'valueBoolean' | 'valueInteger' | 'valueDateTime'>;

export type ClinicalResource = Encounter | Condition | AllergyIntolerance | MedicationStatement | Observation | DocumentReference;
export type ClinicalResourceType = ClinicalResource['resourceType'];
