import { describe, expect, it } from 'vitest';
import { MedfaceError } from '../../src/errors.js';
import type { Patient } from '../../src/records/fhir.js';
import { createPatient, nameWords, normaliseText, readPatient, searchPatients, updatePatient, validatePatient } from '../../src/records/patient.js';
import { describeEachFreshStore } from '../store/harness.js';
import { issuesOf } from './validation-issues.js';

const MRN = 'urn:oid:1.2.36.146.595.217.0.1';

const valid: Patient = {
  resourceType: 'Patient',
  identifier: [{ use: 'usual', system: MRN, value: '12345' }],
  name: [{ use: 'official', family: 'Müller-Lüdenscheidt', given: ['José', 'Ana'] }],
  gender: 'female',
  birthDate: '1974-12-25',
  telecom: [{ system: 'phone', value: '+41 44 000 00 00', use: 'mobile' }],
  address: [{ use: 'home', line: ['Bahnhofstrasse 1'], city: 'Zürich', postalCode: '8001', country: 'CH' }],
};

describe('validatePatient', () => {
  it('accepts a complete R4 Patient', () => {
    expect(validatePatient(valid)).toBe(valid);
  });

  it('names the path of every failing element without echoing values', () => {
    const bad = {
      ...valid,
      gender: 'f',
      birthDate: '1974-02-30',
      name: [{ family: 'X', given: ['ok', ''] }],
      telecom: [{ value: 'secret@example.org' }],
      photo: [{ data: 'AAAA' }],
    };
    const issues = issuesOf(() => validatePatient(bad));
    expect(issues.map((i) => i.path).sort()).toEqual(['Patient.birthDate', 'Patient.gender', 'Patient.name[0].given[1]', 'Patient.photo', 'Patient.telecom[0].system'].sort());
    expect(JSON.stringify(issues)).not.toContain('secret@example.org');
    try {
      validatePatient(bad);
    } catch (e) {
      expect((e as MedfaceError).message).toMatch(/^Patient\.\S+ .+ \(and 4 more\)$/);
      expect((e as MedfaceError).status).toBe(400);
    }
  });

  it('checks FHIR dates, arrays, references and the resource type', () => {
    expect(issuesOf(() => validatePatient({ ...valid, birthDate: '1974-13' }))[0]?.path).toBe('Patient.birthDate');
    expect(issuesOf(() => validatePatient({ ...valid, birthDate: '74-12-25' }))[0]?.path).toBe('Patient.birthDate');
    expect(validatePatient({ ...valid, birthDate: '2000-02-29' }).birthDate).toBe('2000-02-29');
    expect(issuesOf(() => validatePatient({ ...valid, birthDate: '1900-02-29' }))[0]?.path).toBe('Patient.birthDate');
    expect(issuesOf(() => validatePatient({ ...valid, birthDate: '2999' }))[0]?.message).toMatch(/future/);
    expect(issuesOf(() => validatePatient({ ...valid, identifier: [] }))[0]?.path).toBe('Patient.identifier');
    expect(issuesOf(() => validatePatient({ ...valid, identifier: [{ system: MRN }] }))[0]?.path).toBe('Patient.identifier[0].value');
    expect(issuesOf(() => validatePatient({ ...valid, link: [{ other: { reference: 'Observation/1' }, type: 'seealso' }] }))[0]?.path).toBe('Patient.link[0].other.reference');
    expect(issuesOf(() => validatePatient({ ...valid, name: [{ family: 'A', period: { start: '2020-01-02', end: '2020-01-01' } }] }))[0]?.path).toBe('Patient.name[0].period');
    expect(issuesOf(() => validatePatient({ ...valid, resourceType: 'Person' }))[0]?.path).toBe('Patient.resourceType');
    expect(issuesOf(() => validatePatient({ resourceType: 'Patient', gender: 'male' }))[0]?.message).toMatch(/name or an identifier/);
    expect(issuesOf(() => validatePatient(null))[0]?.path).toBe('Patient.resourceType');
  });
});

describe('name normalisation', () => {
  it('folds case and accents and splits at spaces and hyphens', () => {
    expect(normaliseText('ÉLODIE Ångström')).toBe('elodie angstrom');
    expect(nameWords("Müller-Lüdenscheidt  O'Brien")).toEqual(['muller', 'ludenscheidt', 'obrien']);
    expect(nameWords('  - ')).toEqual([]);
  });
});

describeEachFreshStore('patient records', (fresh) => {
  it('creates, reads and updates with versions', async () => {
    const created = await createPatient(fresh.store, valid);
    expect(created.id).toMatch(/^[0-9a-f-]{36}$/);
    expect(created.meta?.versionId).toBe('1');
    expect(await readPatient(fresh.store, created.id as string)).toEqual(created);

    const updated = await updatePatient(fresh.store, { ...created, gender: 'other' });
    expect(updated.meta?.versionId).toBe('2');
    expect((await readPatient(fresh.store, created.id as string)).gender).toBe('other');
    // A write based on version 1 lost the race.
    await expect(updatePatient(fresh.store, { ...created, birthDate: '1975' })).rejects.toMatchObject({ code: 'CONFLICT' });
    await expect(readPatient(fresh.store, 'nope')).rejects.toMatchObject({ code: 'NOT_FOUND', status: 404 });
    await expect(createPatient(fresh.store, { ...valid, gender: 'x' })).rejects.toMatchObject({ code: 'VALIDATION_FAILED' });
    await expect(createPatient(fresh.store, valid)).rejects.toMatchObject({ code: 'CONFLICT' }); // same MRN
    await expect(createPatient(fresh.store, { ...valid, identifier: undefined, link: [{ other: { reference: `Patient/${created.id}` }, type: 'seealso' }] })).rejects.toMatchObject({
      code: 'VALIDATION_FAILED',
    });
  });

  it('searches by name prefix ignoring case and accents, birth date and identifier', async () => {
    const jose = await createPatient(fresh.store, valid);
    const jo = await createPatient(fresh.store, {
      resourceType: 'Patient',
      identifier: [{ system: 'urn:other', value: '12345' }],
      name: [{ family: 'Joseph', given: ['Ann'] }],
      birthDate: '1974-03',
    });
    const ids = async (s: Parameters<typeof searchPatients>[1]) => (await searchPatients(fresh.store, s)).map((p) => p.id);
    expect(await ids({ name: 'jose' })).toEqual([jo.id, jose.id]); // "joseph", "José"; ordered by family name
    expect(await ids({ name: 'JOSÉ MUL' })).toEqual([jose.id]);
    expect(await ids({ name: 'lüden' })).toEqual([jose.id]);
    expect(await ids({ name: 'ana' })).toEqual([jose.id]);
    expect(await ids({ name: 'an' })).toEqual([jo.id, jose.id]);
    expect(await ids({ name: 'zzz' })).toEqual([]);
    expect(await ids({ birthDate: '1974' })).toEqual([jo.id, jose.id]);
    expect(await ids({ birthDate: '1974-12-25' })).toEqual([jose.id]);
    expect(await ids({ name: 'an', birthDate: '1974-03' })).toEqual([jo.id]);
    expect(await ids({ identifier: `${MRN}|12345` })).toEqual([jose.id]);
    expect(await ids({ identifier: '12345' })).toEqual([jo.id, jose.id]);
    expect(await ids({ identifier: '|12345' })).toEqual([]);
    expect(await ids({ name: 'an', gender: 'female' })).toEqual([jose.id]);
    expect(await ids({ name: 'an', limit: 1 })).toEqual([jo.id]);
    await expect(searchPatients(fresh.store, { gender: 'female' })).rejects.toMatchObject({ code: 'VALIDATION_FAILED' });
    await expect(searchPatients(fresh.store, { birthDate: '1974-02-30' })).rejects.toMatchObject({
      code: 'VALIDATION_FAILED',
      message: expect.stringMatching(/^search\.birthDate /),
    });
  });
});
