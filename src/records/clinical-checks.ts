import { MedfaceError } from '../errors.js';
import type { ClinicalResource, ClinicalResourceType, Coding } from './fhir.js';
import {
  annotation,
  array,
  boolean,
  code,
  codeableConcept,
  coding,
  dateTime,
  id,
  identifier,
  instant,
  integer,
  localReference,
  meta,
  object,
  pattern,
  period,
  quantity,
  reference,
  required,
  string,
  validateResource,
  type Check,
  type Issue,
} from './validate.js';

/**
 * Checks for the clinical resources medface keeps (FHIR R4 Encounter, Condition, AllergyIntolerance,
 * MedicationStatement, Observation, DocumentReference), with the specification's required elements,
 * required terminology bindings and invariants. medface also requires what links a resource to its
 * patient (subject or patient), which FHIR leaves optional on some of them.
 */

/** The largest free-text note kept, in bytes of UTF-8 text. */
export const MAX_NOTE_BYTES = 64 * 1024;

const patientReference = localReference(['Patient']);
const encounterReference = localReference(['Encounter']);

const TERMINOLOGY = 'http://terminology.hl7.org/CodeSystem';
export const CONDITION_CLINICAL = `${TERMINOLOGY}/condition-clinical`;
export const CONDITION_VERIFICATION = `${TERMINOLOGY}/condition-ver-status`;
export const ALLERGY_CLINICAL = `${TERMINOLOGY}/allergyintolerance-clinical`;
export const ALLERGY_VERIFICATION = `${TERMINOLOGY}/allergyintolerance-verification`;

type Fields = Record<string, unknown>;

/** The codes a CodeableConcept carries from one code system. */
function codesFrom(concept: unknown, system: string): string[] {
  const codings = (concept as { coding?: Coding[] } | undefined)?.coding;
  return Array.isArray(codings) ? codings.filter((c) => c?.system === system && typeof c.code === 'string').map((c) => c.code as string) : [];
}

/** A required binding: the concept must carry a coding from `system` with one of `codes`. */
function boundConcept(system: string, codes: readonly string[]): Check {
  return (v, path, issues) => {
    const before = issues.length;
    codeableConcept(v, path, issues);
    if (issues.length > before) return;
    const found = codesFrom(v, system);
    if (found.length === 0 || !found.every((c) => codes.includes(c))) {
      issues.push({ path: `${path}.coding`, message: `needs a coding from ${system} (one of ${codes.join(', ')})` });
    }
  };
}

/** A Coding that states its code (Encounter.class, DocumentReference.content.format). */
const codedCoding: Check = (v, path, issues) => {
  const before = issues.length;
  coding(v, path, issues);
  if (issues.length === before && (v as Coding).code === undefined) issues.push({ path: `${path}.code`, message: 'is required' });
};

/** A choice element (`medication[x]`, `value[x]`): at most one of `keys`, or exactly one when `needed`. */
function choice(o: Fields, path: string, name: string, keys: readonly string[], issues: Issue[], needed = false): string | undefined {
  const present = keys.filter((k) => o[k] !== undefined);
  if (present.length > 1) issues.push({ path, message: `must have at most one ${name}[x]` });
  else if (needed && present.length === 0) issues.push({ path: `${path}.${name}[x]`, message: 'is required' });
  return present[0];
}

const ENCOUNTER_STATUS = ['planned', 'arrived', 'triaged', 'in-progress', 'onleave', 'finished', 'cancelled', 'entered-in-error', 'unknown'] as const;

const encounterCheck = object({
  resourceType: code(['Encounter']),
  id,
  meta,
  identifier: array(identifier),
  status: required(code(ENCOUNTER_STATUS)),
  class: required(codedCoding),
  type: array(codeableConcept),
  serviceType: codeableConcept,
  priority: codeableConcept,
  subject: required(patientReference),
  participant: array(object({ type: array(codeableConcept), period, individual: reference })),
  period,
  reasonCode: array(codeableConcept),
});

const CONDITION_CLINICAL_CODES = ['active', 'recurrence', 'relapse', 'inactive', 'remission', 'resolved'] as const;
const CONDITION_VERIFICATION_CODES = ['unconfirmed', 'provisional', 'differential', 'confirmed', 'refuted', 'entered-in-error'] as const;

const conditionCheck = object(
  {
    resourceType: code(['Condition']),
    id,
    meta,
    identifier: array(identifier),
    clinicalStatus: boundConcept(CONDITION_CLINICAL, CONDITION_CLINICAL_CODES),
    verificationStatus: boundConcept(CONDITION_VERIFICATION, CONDITION_VERIFICATION_CODES),
    category: array(codeableConcept),
    severity: codeableConcept,
    code: codeableConcept,
    bodySite: array(codeableConcept),
    subject: required(patientReference),
    encounter: encounterReference,
    onsetDateTime: dateTime,
    abatementDateTime: dateTime,
    recordedDate: dateTime,
    recorder: reference,
    note: array(annotation),
  },
  (o, path, issues) => {
    const clinical = codesFrom(o.clinicalStatus, CONDITION_CLINICAL);
    // con-4: an abated condition is inactive, resolved or in remission
    if (o.abatementDateTime !== undefined && clinical.some((c) => !['inactive', 'resolved', 'remission'].includes(c))) {
      issues.push({ path: `${path}.clinicalStatus`, message: 'must be inactive, resolved or remission when the condition has abated' });
    }
    // con-5: no clinical status on an entry made in error
    if (o.clinicalStatus !== undefined && codesFrom(o.verificationStatus, CONDITION_VERIFICATION).includes('entered-in-error')) {
      issues.push({ path: `${path}.clinicalStatus`, message: 'must be absent when verificationStatus is entered-in-error' });
    }
  },
);

const allergyCheck = object(
  {
    resourceType: code(['AllergyIntolerance']),
    id,
    meta,
    identifier: array(identifier),
    clinicalStatus: boundConcept(ALLERGY_CLINICAL, ['active', 'inactive', 'resolved']),
    verificationStatus: boundConcept(ALLERGY_VERIFICATION, ['unconfirmed', 'confirmed', 'refuted', 'entered-in-error']),
    type: code(['allergy', 'intolerance']),
    category: array(code(['food', 'medication', 'environment', 'biologic']), 4),
    criticality: code(['low', 'high', 'unable-to-assess']),
    code: codeableConcept,
    patient: required(patientReference),
    encounter: encounterReference,
    onsetDateTime: dateTime,
    recordedDate: dateTime,
    recorder: reference,
    lastOccurrence: dateTime,
    note: array(annotation),
    reaction: array(
      object({
        substance: codeableConcept,
        manifestation: required(array(codeableConcept)),
        description: string(),
        onset: dateTime,
        severity: code(['mild', 'moderate', 'severe']),
        note: array(annotation),
      }),
    ),
  },
  (o, path, issues) => {
    const inError = codesFrom(o.verificationStatus, ALLERGY_VERIFICATION).includes('entered-in-error');
    // ait-1 and ait-2: a clinical status exactly when the entry is not one made in error
    if (!inError && o.clinicalStatus === undefined) {
      issues.push({ path: `${path}.clinicalStatus`, message: 'is required unless verificationStatus is entered-in-error' });
    }
    if (inError && o.clinicalStatus !== undefined) {
      issues.push({ path: `${path}.clinicalStatus`, message: 'must be absent when verificationStatus is entered-in-error' });
    }
  },
);

const medicationStatementCheck = object(
  {
    resourceType: code(['MedicationStatement']),
    id,
    meta,
    identifier: array(identifier),
    status: required(code(['active', 'completed', 'entered-in-error', 'intended', 'stopped', 'on-hold', 'unknown', 'not-taken'])),
    statusReason: array(codeableConcept),
    category: codeableConcept,
    medicationCodeableConcept: codeableConcept,
    // medface keeps no Medication resources: a reference names one elsewhere (identifier or display)
    medicationReference: reference,
    subject: required(patientReference),
    context: encounterReference,
    effectiveDateTime: dateTime,
    effectivePeriod: period,
    dateAsserted: dateTime,
    informationSource: reference,
    reasonCode: array(codeableConcept),
    note: array(annotation),
    dosage: array(object({ text: string(), patientInstruction: string(), asNeededBoolean: boolean, route: codeableConcept }), 20),
  },
  (o, path, issues) => {
    choice(o, path, 'medication', ['medicationCodeableConcept', 'medicationReference'], issues, true);
    choice(o, path, 'effective', ['effectiveDateTime', 'effectivePeriod'], issues);
  },
);

const VALUE_KEYS = ['valueQuantity', 'valueCodeableConcept', 'valueString', 'valueBoolean', 'valueInteger', 'valueDateTime'] as const;
const valueFields = {
  valueQuantity: quantity,
  valueCodeableConcept: codeableConcept,
  valueString: string(),
  valueBoolean: boolean,
  valueInteger: integer,
  valueDateTime: dateTime,
};

/** obs-6: a reason for a missing value only when the value is missing. */
function valueOrAbsentReason(o: Fields, path: string, issues: Issue[]): boolean {
  const hasValue = choice(o, path, 'value', VALUE_KEYS, issues) !== undefined;
  if (hasValue && o.dataAbsentReason !== undefined) {
    issues.push({ path: `${path}.dataAbsentReason`, message: 'must be absent when a value is given' });
  }
  return hasValue;
}

function codingKeys(concept: unknown): string[] {
  const codings = (concept as { coding?: Coding[] } | undefined)?.coding;
  return Array.isArray(codings) ? codings.filter((c) => c?.code !== undefined).map((c) => `${c.system ?? ''}|${c.code}`) : [];
}

const observationCheck = object(
  {
    resourceType: code(['Observation']),
    id,
    meta,
    identifier: array(identifier),
    status: required(code(['registered', 'preliminary', 'final', 'amended', 'corrected', 'cancelled', 'entered-in-error', 'unknown'])),
    category: array(codeableConcept),
    code: required(codeableConcept),
    subject: required(patientReference),
    encounter: encounterReference,
    effectiveDateTime: dateTime,
    effectivePeriod: period,
    issued: instant,
    performer: array(reference),
    ...valueFields,
    dataAbsentReason: codeableConcept,
    interpretation: array(codeableConcept),
    note: array(annotation),
    bodySite: codeableConcept,
    method: codeableConcept,
    referenceRange: array(
      object({ low: quantity, high: quantity, text: string() }, (o, path, issues) => {
        // obs-3: a range says something
        if (o.low === undefined && o.high === undefined && o.text === undefined) issues.push({ path, message: 'needs a low, a high or a text' });
      }),
    ),
    component: array(object({ code: required(codeableConcept), ...valueFields, dataAbsentReason: codeableConcept, interpretation: array(codeableConcept) }, valueOrAbsentReason), 50),
  },
  (o, path, issues) => {
    choice(o, path, 'effective', ['effectiveDateTime', 'effectivePeriod'], issues);
    const hasValue = valueOrAbsentReason(o, path, issues);
    // obs-7: a value belongs either to the observation or to a component with the same code, not both
    if (hasValue && Array.isArray(o.component)) {
      const own = new Set(codingKeys(o.code));
      (o.component as Fields[]).forEach((c, i) => {
        if (codingKeys(c?.code).some((k) => own.has(k))) {
          issues.push({ path: `${path}.component[${i}].code`, message: 'must differ from Observation.code when the observation has a value' });
        }
      });
    }
  },
);

/** Plain text, UTF-8, optionally saying so: `text/plain`, `text/plain; charset=utf-8`. */
const PLAIN_TEXT = /^text\/plain(\s*;\s*charset="?utf-8"?)?$/i;
const BASE64 = /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/;
const MAX_NOTE_BASE64 = Math.ceil(MAX_NOTE_BYTES / 3) * 4;

/** A note's attachment: UTF-8 plain text carried inline as base64, at most MAX_NOTE_BYTES. */
const noteAttachment = object(
  {
    contentType: required(pattern(PLAIN_TEXT, 'text/plain (UTF-8)')),
    language: pattern(/^[A-Za-z]{2,3}(-[A-Za-z0-9]{1,8})*$/, 'a BCP-47 language tag'),
    data: required((v, path, issues) => {
      if (typeof v !== 'string' || v.length === 0 || v.length > MAX_NOTE_BASE64 || !BASE64.test(v)) {
        issues.push({ path, message: `must be base64 of at most ${MAX_NOTE_BYTES} bytes` });
        return;
      }
      const bytes = Buffer.from(v, 'base64');
      if (bytes.length > MAX_NOTE_BYTES) issues.push({ path, message: `must be base64 of at most ${MAX_NOTE_BYTES} bytes` });
      try {
        new TextDecoder('utf-8', { fatal: true }).decode(bytes);
      } catch {
        issues.push({ path, message: 'must encode UTF-8 text' });
      }
    }),
    size: (v, path, issues) => {
      if (typeof v !== 'number' || !Number.isInteger(v) || v < 0) issues.push({ path, message: 'must be a non-negative integer' });
    },
    title: string(256),
    creation: dateTime,
  },
  (o, path, issues) => {
    const data = typeof o.data === 'string' && o.data.length <= MAX_NOTE_BASE64 && BASE64.test(o.data) ? Buffer.from(o.data, 'base64') : null;
    if (typeof o.size === 'number' && data !== null && o.size !== data.length) {
      issues.push({ path: `${path}.size`, message: 'must be the number of bytes in data' });
    }
  },
);

const documentReferenceCheck = object({
  resourceType: code(['DocumentReference']),
  id,
  meta,
  identifier: array(identifier),
  status: required(code(['current', 'superseded', 'entered-in-error'])),
  docStatus: code(['preliminary', 'final', 'amended', 'entered-in-error']),
  type: codeableConcept,
  category: array(codeableConcept),
  subject: required(patientReference),
  date: instant,
  author: array(reference, 10),
  description: string(),
  // one note per DocumentReference: content[] is for the same document in several formats
  content: required(array(object({ attachment: required(noteAttachment), format: codedCoding }), 1)),
  context: object({ encounter: array(encounterReference, 10), period }),
});

const MAX_RESOURCE_JSON = 256 * 1024;

interface ClinicalCheck {
  check: Check;
  /** The element that names the patient. */
  patientElement: 'subject' | 'patient';
}

const CHECKS: Record<ClinicalResourceType, ClinicalCheck> = {
  Encounter: { check: encounterCheck, patientElement: 'subject' },
  Condition: { check: conditionCheck, patientElement: 'subject' },
  AllergyIntolerance: { check: allergyCheck, patientElement: 'patient' },
  MedicationStatement: { check: medicationStatementCheck, patientElement: 'subject' },
  Observation: { check: observationCheck, patientElement: 'subject' },
  DocumentReference: { check: documentReferenceCheck, patientElement: 'subject' },
};

export const CLINICAL_RESOURCE_TYPES = Object.keys(CHECKS) as ClinicalResourceType[];

export function isClinicalResourceType(t: unknown): t is ClinicalResourceType {
  return typeof t === 'string' && Object.hasOwn(CHECKS, t);
}

/** The element of a resource type that names its patient (`subject`, or `patient` on AllergyIntolerance). */
export function patientElement(type: ClinicalResourceType): 'subject' | 'patient' {
  return CHECKS[type].patientElement;
}

/**
 * Checks a clinical resource of any supported type (chosen by its resourceType); throws VALIDATION_FAILED
 * naming every failing element's path.
 */
export function validateClinicalResource(input: unknown): ClinicalResource {
  const type = (input as { resourceType?: unknown } | null)?.resourceType;
  if (!isClinicalResourceType(type)) {
    const issues = [{ path: 'resourceType', message: `must be one of ${CLINICAL_RESOURCE_TYPES.join(', ')}` }];
    throw new MedfaceError('VALIDATION_FAILED', `${issues[0]!.path} ${issues[0]!.message}`, { issues });
  }
  const size = JSON.stringify(input).length;
  const check: Check = (v, path, issues) => {
    if (size > MAX_RESOURCE_JSON) issues.push({ path, message: `must encode to at most ${MAX_RESOURCE_JSON} characters of JSON` });
    else CHECKS[type].check(v, path, issues);
  };
  return validateResource<ClinicalResource>(type, check, input);
}
