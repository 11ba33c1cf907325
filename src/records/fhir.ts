/**
 * The FHIR R4 resources medface reads and writes, as @medplum/fhirtypes defines them (the whole specification,
 * types only). Where medface's profile requires an element the specification leaves optional (every clinical
 * resource names its patient), the type says so; validate.ts enforces the same at the API.
 */
import type * as fhir from '@medplum/fhirtypes';

export type { Address, Annotation, Attachment, CodeableConcept, Coding, ContactPoint, Extension, HumanName, Identifier, Meta, Period, Quantity, Reference } from '@medplum/fhirtypes';

export type Patient = fhir.Patient;
export type PatientLink = fhir.PatientLink;
export type Consent = fhir.Consent;
export type ConsentProvision = fhir.ConsentProvision;
export type ConsentPolicy = fhir.ConsentPolicy;
export type Encounter = fhir.Encounter & { subject: fhir.Reference };
export type EncounterParticipant = fhir.EncounterParticipant;
export type EncounterStatus = fhir.Encounter['status'];
export type Condition = fhir.Condition & { subject: fhir.Reference };
export type AllergyIntolerance = fhir.AllergyIntolerance & { patient: fhir.Reference };
export type AllergyReaction = fhir.AllergyIntoleranceReaction;
export type MedicationStatement = fhir.MedicationStatement & { subject: fhir.Reference };
export type Dosage = fhir.Dosage;
export type Observation = fhir.Observation & { subject: fhir.Reference };
export type ObservationComponent = fhir.ObservationComponent;
/** Observation.value[x] as medface supports it; Observation.component[] carries the same choice. */
export type ObservationValue = Pick<fhir.Observation, 'valueQuantity' | 'valueCodeableConcept' | 'valueString' | 'valueBoolean' | 'valueInteger' | 'valueDateTime'>;
export type ObservationReferenceRange = fhir.ObservationReferenceRange;
export type DocumentReference = fhir.DocumentReference & { subject: fhir.Reference };
export type DocumentReferenceContent = fhir.DocumentReferenceContent;

export type ClinicalResource = Encounter | Condition | AllergyIntolerance | MedicationStatement | Observation | DocumentReference;
export type ClinicalResourceType = ClinicalResource['resourceType'];
