import { beforeEach, describe, expect, it } from 'vitest';
import { readChart } from '../../src/records/chart.js';
import { MAX_NOTE_BYTES, validateClinicalResource } from '../../src/records/clinical-checks.js';
import { createCheckInEncounter, createClinicalResource, listClinicalResources, noteText, readClinicalResource, textNoteDocument, updateClinicalResource } from '../../src/records/clinical.js';
import type { AllergyIntolerance, ClinicalResource, Condition, DocumentReference, Encounter, MedicationStatement, Observation } from '../../src/records/fhir.js';
import { createPatient } from '../../src/records/patient.js';
import { describeEachFreshStore } from '../store/harness.js';
import { r4SchemaErrors } from './fhir-schema.js';
import { issuesOf } from './validation-issues.js';

const pathsOf = (input: unknown) => issuesOf(() => validateClinicalResource(input)).map((i) => i.path);

const subject = { reference: 'Patient/p-1' };
const SNOMED = 'http://snomed.info/sct';
const LOINC = 'http://loinc.org';
const UCUM = 'http://unitsofmeasure.org';
const TERMINOLOGY = 'http://terminology.hl7.org/CodeSystem';

const encounter: Encounter = {
  resourceType: 'Encounter',
  status: 'arrived',
  class: { system: `${TERMINOLOGY}/v3-ActCode`, code: 'AMB', display: 'ambulatory' },
  subject,
  period: { start: '2024-03-01T09:15:00Z' },
  reasonCode: [{ text: 'follow-up' }],
};

const condition: Condition = {
  resourceType: 'Condition',
  clinicalStatus: { coding: [{ system: `${TERMINOLOGY}/condition-clinical`, code: 'active' }] },
  verificationStatus: { coding: [{ system: `${TERMINOLOGY}/condition-ver-status`, code: 'confirmed' }] },
  category: [{ coding: [{ system: `${TERMINOLOGY}/condition-category`, code: 'problem-list-item' }] }],
  code: { coding: [{ system: SNOMED, code: '44054006', display: 'Diabetes mellitus type 2' }] },
  subject,
  onsetDateTime: '2019-06',
  recordedDate: '2019-06-12',
  note: [{ text: 'diet-controlled at first', time: '2019-06-12T10:00:00+02:00' }],
};

const allergy: AllergyIntolerance = {
  resourceType: 'AllergyIntolerance',
  clinicalStatus: { coding: [{ system: `${TERMINOLOGY}/allergyintolerance-clinical`, code: 'active' }] },
  verificationStatus: { coding: [{ system: `${TERMINOLOGY}/allergyintolerance-verification`, code: 'confirmed' }] },
  type: 'allergy',
  category: ['medication'],
  criticality: 'high',
  code: { coding: [{ system: SNOMED, code: '764146007', display: 'Penicillin' }] },
  patient: subject,
  reaction: [{ manifestation: [{ coding: [{ system: SNOMED, code: '39579001', display: 'Anaphylaxis' }] }], severity: 'severe' }],
};

const medication: MedicationStatement = {
  resourceType: 'MedicationStatement',
  status: 'active',
  medicationCodeableConcept: { coding: [{ system: 'http://www.nlm.nih.gov/research/umls/rxnorm', code: '860975' }], text: 'metformin 500 mg' },
  subject,
  effectivePeriod: { start: '2019-07-01' },
  dosage: [{ text: '500 mg twice daily with meals' }],
};

const observation: Observation = {
  resourceType: 'Observation',
  status: 'final',
  category: [{ coding: [{ system: `${TERMINOLOGY}/observation-category`, code: 'vital-signs' }] }],
  code: { coding: [{ system: LOINC, code: '85354-9', display: 'Blood pressure panel' }] },
  subject,
  effectiveDateTime: '2024-03-01T09:20:00Z',
  issued: '2024-03-01T09:21:07.123Z',
  component: [
    { code: { coding: [{ system: LOINC, code: '8480-6' }] }, valueQuantity: { value: 128, unit: 'mmHg', system: UCUM, code: 'mm[Hg]' } },
    { code: { coding: [{ system: LOINC, code: '8462-4' }] }, valueQuantity: { value: 82, unit: 'mmHg', system: UCUM, code: 'mm[Hg]' } },
  ],
};

const note: DocumentReference = textNoteDocument({
  patientId: 'p-1',
  text: 'Patient reports dizziness on standing. Plan: review medication — straße, 東京 ✓',
  author: { identifier: { system: 'urn:medface:user', value: 'dr-1' } },
  at: new Date('2024-03-01T09:30:00Z'),
});

const valid: ClinicalResource[] = [encounter, condition, allergy, medication, observation, note];

describe('validateClinicalResource', () => {
  it('accepts a well-formed example of every supported type', () => {
    for (const r of valid) expect(validateClinicalResource(r)).toBe(r);
    expect(validateClinicalResource({ ...observation, component: undefined, valueQuantity: { value: 7.1, unit: '%' } })).toBeTruthy();
    expect(validateClinicalResource({ ...medication, medicationCodeableConcept: undefined, medicationReference: { display: 'metformin' } })).toBeTruthy();
  });

  it('refuses unknown resource types and unsupported elements', () => {
    expect(pathsOf({ resourceType: 'Procedure', subject })).toEqual(['resourceType']);
    expect(pathsOf(null)).toEqual(['resourceType']);
    expect(pathsOf({ ...condition, evidence: [{}] })).toEqual(['Condition.evidence']);
  });

  it('Encounter: status, class and subject are required; status is a code of the value set', () => {
    expect(pathsOf({ ...encounter, status: undefined, class: undefined, subject: undefined }).sort()).toEqual(['Encounter.class', 'Encounter.status', 'Encounter.subject'].sort());
    expect(pathsOf({ ...encounter, status: 'checked-in' })).toEqual(['Encounter.status']);
    expect(pathsOf({ ...encounter, class: { system: `${TERMINOLOGY}/v3-ActCode` } })).toEqual(['Encounter.class.code']);
    expect(pathsOf({ ...encounter, subject: { reference: 'Group/1' } })).toEqual(['Encounter.subject.reference']);
    expect(pathsOf({ ...encounter, period: { start: '2024-03-02', end: '2024-03-01' } })).toEqual(['Encounter.period']);
  });

  it('Condition: subject required, status bindings and the con-4 and con-5 invariants', () => {
    expect(pathsOf({ ...condition, subject: undefined })).toEqual(['Condition.subject']);
    expect(pathsOf({ ...condition, clinicalStatus: { coding: [{ system: `${TERMINOLOGY}/condition-clinical`, code: 'cured' }] } })).toEqual(['Condition.clinicalStatus.coding']);
    expect(pathsOf({ ...condition, clinicalStatus: { text: 'active' } })).toEqual(['Condition.clinicalStatus.coding']);
    expect(pathsOf({ ...condition, abatementDateTime: '2020-01-01' })).toEqual(['Condition.clinicalStatus']);
    const resolved = { coding: [{ system: `${TERMINOLOGY}/condition-clinical`, code: 'resolved' }] };
    expect(validateClinicalResource({ ...condition, clinicalStatus: resolved, abatementDateTime: '2020-01-01' })).toBeTruthy();
    const inError = { coding: [{ system: `${TERMINOLOGY}/condition-ver-status`, code: 'entered-in-error' }] };
    expect(pathsOf({ ...condition, verificationStatus: inError })).toEqual(['Condition.clinicalStatus']);
    expect(validateClinicalResource({ ...condition, verificationStatus: inError, clinicalStatus: undefined })).toBeTruthy();
    expect(pathsOf({ ...condition, note: [{ time: '2020-01-01' }] })).toEqual(['Condition.note[0].text']);
    expect(pathsOf({ ...condition, onsetDateTime: '2019-06-31' })).toEqual(['Condition.onsetDateTime']);
  });

  it('AllergyIntolerance: patient required, clinicalStatus unless entered in error (ait-1, ait-2)', () => {
    expect(pathsOf({ ...allergy, patient: undefined })).toEqual(['AllergyIntolerance.patient']);
    expect(pathsOf({ ...allergy, subject })).toEqual(['AllergyIntolerance.subject']);
    expect(pathsOf({ ...allergy, clinicalStatus: undefined })).toEqual(['AllergyIntolerance.clinicalStatus']);
    const inError = { coding: [{ system: `${TERMINOLOGY}/allergyintolerance-verification`, code: 'entered-in-error' }] };
    expect(pathsOf({ ...allergy, verificationStatus: inError })).toEqual(['AllergyIntolerance.clinicalStatus']);
    expect(pathsOf({ ...allergy, category: ['pollen'] })).toEqual(['AllergyIntolerance.category[0]']);
    expect(pathsOf({ ...allergy, reaction: [{ severity: 'severe' }] })).toEqual(['AllergyIntolerance.reaction[0].manifestation']);
  });

  it('MedicationStatement: status, exactly one medication[x], at most one effective[x], subject', () => {
    expect(pathsOf({ ...medication, status: undefined })).toEqual(['MedicationStatement.status']);
    expect(pathsOf({ ...medication, medicationCodeableConcept: undefined })).toEqual(['MedicationStatement.medication[x]']);
    expect(pathsOf({ ...medication, medicationReference: { display: 'x' } })).toEqual(['MedicationStatement']);
    expect(pathsOf({ ...medication, effectiveDateTime: '2020-01-01' })).toEqual(['MedicationStatement']);
    expect(pathsOf({ ...medication, subject: undefined })).toEqual(['MedicationStatement.subject']);
    expect(pathsOf({ ...medication, dosage: [{ doseQuantity: { value: 1 } }] })).toEqual(['MedicationStatement.dosage[0].doseQuantity']);
  });

  it('Observation: status, code and subject; one value[x]; obs-6, obs-7, obs-3; quantities', () => {
    expect(pathsOf({ ...observation, status: undefined, code: undefined }).sort()).toEqual(['Observation.code', 'Observation.status']);
    expect(pathsOf({ ...observation, subject: undefined })).toEqual(['Observation.subject']);
    expect(pathsOf({ ...observation, valueString: 'a', valueBoolean: true })).toEqual(['Observation']);
    expect(pathsOf({ ...observation, valueString: 'normal', dataAbsentReason: { text: 'not done' } })).toEqual(['Observation.dataAbsentReason']);
    expect(pathsOf({ ...observation, valueString: 'high', component: [{ ...observation.component![0]!, code: observation.code }] })).toEqual(['Observation.component[0].code']);
    expect(pathsOf({ ...observation, referenceRange: [{}] })).toEqual(['Observation.referenceRange[0]']);
    expect(pathsOf({ ...observation, component: [{ code: { text: 'x' }, valueQuantity: { value: 1, code: 'mm[Hg]' } }] })).toEqual(['Observation.component[0].valueQuantity.system']);
    expect(pathsOf({ ...observation, component: undefined, valueQuantity: { value: Number.NaN } })).toEqual(['Observation.valueQuantity.value']);
    expect(pathsOf({ ...observation, component: undefined, valueInteger: 2 ** 31 })).toEqual(['Observation.valueInteger']);
    expect(pathsOf({ ...observation, issued: '2024-03-01' })).toEqual(['Observation.issued']);
    expect(pathsOf({ ...observation, issued: '2024-03-01T25:00:00Z' })).toEqual(['Observation.issued']);
  });

  it('DocumentReference: status, content and subject; the note is UTF-8 text/plain in base64 within the size limit', () => {
    const attachment = note.content[0]!.attachment;
    const withAttachment = (a: object) => ({ ...note, content: [{ attachment: { ...attachment, ...a } }] });
    expect(pathsOf({ ...note, status: undefined, content: undefined }).sort()).toEqual(['DocumentReference.content', 'DocumentReference.status']);
    expect(pathsOf({ ...note, subject: undefined })).toEqual(['DocumentReference.subject']);
    expect(pathsOf({ ...note, content: [] })).toEqual(['DocumentReference.content']);
    expect(pathsOf(withAttachment({ contentType: 'text/html' }))).toEqual(['DocumentReference.content[0].attachment.contentType']);
    expect(pathsOf(withAttachment({ data: 'not base64!' }))).toEqual(['DocumentReference.content[0].attachment.data']);
    expect(pathsOf(withAttachment({ data: Buffer.from([0xff, 0xfe, 0x00]).toString('base64'), size: 3 }))).toEqual(['DocumentReference.content[0].attachment.data']);
    expect(pathsOf(withAttachment({ size: 3 }))).toEqual(['DocumentReference.content[0].attachment.size']);
    expect(pathsOf(withAttachment({ url: 'https://example.org/n.txt' }))).toEqual(['DocumentReference.content[0].attachment.url']);
    const atLimit = textNoteDocument({ patientId: 'p-1', text: 'x'.repeat(MAX_NOTE_BYTES) });
    expect(validateClinicalResource(atLimit)).toBe(atLimit);
    expect(pathsOf(textNoteDocument({ patientId: 'p-1', text: 'x'.repeat(MAX_NOTE_BYTES + 1) }))).toEqual(['DocumentReference.content[0].attachment.data']);
    // multi-byte characters count as the bytes they take
    expect(pathsOf(textNoteDocument({ patientId: 'p-1', text: 'é'.repeat(MAX_NOTE_BYTES / 2 + 1) }))).toEqual(['DocumentReference.content[0].attachment.data']);
    expect(noteText(note)).toBe('Patient reports dizziness on standing. Plan: review medication — straße, 東京 ✓');
  });

  it('reports paths and rules, never the values', () => {
    const issues = issuesOf(() => validateClinicalResource({ ...condition, code: { coding: [{ system: 'has space secret' }] }, onsetDateTime: 'SECRET-DATE' }));
    expect(issues.map((i) => i.path).sort()).toEqual(['Condition.code.coding[0].system', 'Condition.onsetDateTime']);
    expect(JSON.stringify(issues)).not.toMatch(/secret/i);
  });
});

describeEachFreshStore('clinical resources', (fresh) => {
  let patientId: string;
  let otherPatientId: string;
  const forPatient = <T extends ClinicalResource>(r: T, id = patientId): T => {
    const key = r.resourceType === 'AllergyIntolerance' ? 'patient' : 'subject';
    return { ...r, [key]: { reference: `Patient/${id}` } };
  };

  beforeEach(async () => {
    patientId = (await createPatient(fresh.store, { resourceType: 'Patient', name: [{ family: 'Chart', given: ['Cora'] }] })).id as string;
    otherPatientId = (await createPatient(fresh.store, { resourceType: 'Patient', name: [{ family: 'Other' }] })).id as string;
  });

  it('creates, reads and updates each type with versions, refusing a stale version', async () => {
    for (const example of valid) {
      const created = await createClinicalResource(fresh.store, { ...forPatient(example), id: 'ignored' });
      expect(created.id).toMatch(/^[0-9a-f-]{36}$/);
      expect(created.meta?.versionId).toBe('1');
      const read = await readClinicalResource(fresh.store, created.resourceType, created.id!);
      expect(read).toEqual(created);

      const v2 = await updateClinicalResource(fresh.store, { ...read, meta: { versionId: '1' } });
      expect(v2.meta?.versionId).toBe('2');
      await expect(updateClinicalResource(fresh.store, { ...read, meta: { versionId: '1' } })).rejects.toMatchObject({ code: 'CONFLICT' });
      expect((await readClinicalResource(fresh.store, created.resourceType, created.id!)).meta?.versionId).toBe('2');
      // without a version, the update applies to the current one
      expect((await updateClinicalResource(fresh.store, { ...read, meta: undefined })).meta?.versionId).toBe('3');
    }
  });

  it('keeps changes, and refuses invalid updates, unknown ids and moves to another patient', async () => {
    const created = (await createClinicalResource(fresh.store, forPatient(observation))) as Observation;
    const amended = await updateClinicalResource(fresh.store, { ...created, status: 'amended', note: [{ text: 'cuff too small' }] });
    expect(await readClinicalResource(fresh.store, 'Observation', created.id!)).toMatchObject({ status: 'amended', note: [{ text: 'cuff too small' }] });
    expect(amended.meta?.versionId).toBe('2');

    await expect(updateClinicalResource(fresh.store, { ...created, status: 'done' })).rejects.toMatchObject({ code: 'VALIDATION_FAILED' });
    await expect(updateClinicalResource(fresh.store, { ...created, id: undefined })).rejects.toMatchObject({ code: 'VALIDATION_FAILED' });
    await expect(updateClinicalResource(fresh.store, { ...created, id: 'nope' })).rejects.toMatchObject({ code: 'NOT_FOUND' });
    await expect(updateClinicalResource(fresh.store, { ...created, meta: { versionId: 'abc' } })).rejects.toMatchObject({
      code: 'VALIDATION_FAILED',
      details: { issues: [{ path: 'Observation.meta.versionId' }] },
    });
    await expect(updateClinicalResource(fresh.store, forPatient(created, otherPatientId))).rejects.toMatchObject({
      code: 'VALIDATION_FAILED',
      details: { issues: [{ path: 'Observation.subject.reference' }] },
    });
    // read by the wrong type is not found: ids are per type
    await expect(readClinicalResource(fresh.store, 'Condition', created.id!)).rejects.toMatchObject({ code: 'NOT_FOUND' });
    await expect(readClinicalResource(fresh.store, 'Patient' as 'Condition', created.id!)).rejects.toMatchObject({ code: 'VALIDATION_FAILED' });
  });

  it('refuses an unknown patient and an encounter of another patient', async () => {
    await expect(createClinicalResource(fresh.store, forPatient(condition, 'no-such-patient'))).rejects.toMatchObject({ code: 'NOT_FOUND' });
    const theirs = await createCheckInEncounter(fresh.store, otherPatientId);
    const mine = await createCheckInEncounter(fresh.store, patientId);
    await expect(createClinicalResource(fresh.store, { ...forPatient(condition), encounter: { reference: `Encounter/${theirs.id}` } })).rejects.toMatchObject({
      code: 'VALIDATION_FAILED',
      details: { issues: [{ path: 'Condition.encounter.reference' }] },
    });
    await expect(createClinicalResource(fresh.store, textNoteDocument({ patientId, text: 'seen', encounterId: theirs.id! }))).rejects.toMatchObject({
      details: { issues: [{ path: 'DocumentReference.context.encounter[0].reference' }] },
    });
    await expect(createClinicalResource(fresh.store, { ...forPatient(medication), context: { reference: 'Encounter/missing' } })).rejects.toMatchObject({
      details: { issues: [{ path: 'MedicationStatement.context.reference' }] },
    });
    const linked = await createClinicalResource(fresh.store, textNoteDocument({ patientId, text: 'seen today', encounterId: mine.id! }));
    expect((linked as DocumentReference).context?.encounter?.[0]?.reference).toBe(`Encounter/${mine.id}`);
  });

  it('opens an arrived ambulatory encounter at check-in', async () => {
    const at = new Date('2024-05-06T07:08:09.000Z');
    const e = await createCheckInEncounter(fresh.store, patientId, at);
    expect(await readClinicalResource(fresh.store, 'Encounter', e.id!)).toMatchObject({
      status: 'arrived',
      class: { code: 'AMB', system: 'http://terminology.hl7.org/CodeSystem/v3-ActCode' },
      subject: { reference: `Patient/${patientId}` },
      period: { start: '2024-05-06T07:08:09.000Z' },
    });
    await expect(createCheckInEncounter(fresh.store, 'no-such-patient')).rejects.toMatchObject({ code: 'NOT_FOUND' });
  });

  it('lists a patient’s resources, optionally of some types, and reads the chart grouped by type', async () => {
    const encounterOne = await createCheckInEncounter(fresh.store, patientId, new Date('2024-01-01T08:00:00Z'));
    for (const r of [condition, allergy, medication, observation, observation]) await createClinicalResource(fresh.store, forPatient(r));
    await createClinicalResource(fresh.store, textNoteDocument({ patientId, text: 'first note', encounterId: encounterOne.id! }));
    await createClinicalResource(fresh.store, forPatient(condition, otherPatientId));

    const all = await listClinicalResources(fresh.store, patientId);
    expect(all).toHaveLength(7);
    expect(all.every((r) => JSON.stringify(r).includes(patientId))).toBe(true);
    expect((await listClinicalResources(fresh.store, patientId, ['Observation'])).map((r) => r.resourceType)).toEqual(['Observation', 'Observation']);
    expect(await listClinicalResources(fresh.store, patientId, [])).toEqual([]);

    const chart = await readChart(fresh.store, patientId);
    expect(chart.patient.id).toBe(patientId);
    expect(Object.fromEntries(Object.entries(chart.resources).map(([k, v]) => [k, v.length]))).toEqual({
      Encounter: 1,
      Condition: 1,
      AllergyIntolerance: 1,
      MedicationStatement: 1,
      Observation: 2,
      DocumentReference: 1,
    });
    expect(noteText(chart.resources.DocumentReference![0]!)).toBe('first note');
    expect(chart.resources.Encounter![0]!.id).toBe(encounterOne.id);

    // front desk: demographics and encounters only — the rest is not read at all
    const frontDesk = await readChart(fresh.store, patientId, ['Encounter']);
    expect(Object.keys(frontDesk.resources)).toEqual(['Encounter']);
    expect((await readChart(fresh.store, otherPatientId)).resources.Condition).toHaveLength(1);
    expect((await readChart(fresh.store, otherPatientId)).resources.Observation).toEqual([]);
    await expect(readChart(fresh.store, 'no-such-patient')).rejects.toMatchObject({ code: 'NOT_FOUND' });
  });

  it('keeps PostgreSQL and SQLite answers identical for stored JSON (numbers, unicode)', async () => {
    const created = await createClinicalResource(fresh.store, forPatient({ ...observation, component: undefined, valueQuantity: { value: 0.1, unit: 'µg/L' } }));
    expect(await readClinicalResource(fresh.store, 'Observation', created.id!)).toEqual(created);
  });
});

describe('R4 JSON Schema', () => {
  it('accepts every example as stored (with id and meta), and would notice a broken one', () => {
    for (const r of valid) {
      const stored = { ...r, id: '6f1c2a9e-0b7d-4c1e-9a53-2d8e4f7a1b00', meta: { versionId: '2', lastUpdated: '2024-03-01T09:30:00.000Z' } };
      expect(r4SchemaErrors(stored)).toEqual([]);
    }
    expect(r4SchemaErrors({ ...observation, status: 'done' })).not.toEqual([]);
  }, 60_000);
});
