import { readFile } from 'node:fs/promises';
import { Option, type Command } from 'commander';
import { MedfaceError } from '../errors.js';
import type { Patient } from '../records/fhir.js';
import { action, print } from './output.js';
import { withMedface, withSessionOptions, type SessionOptions } from './session.js';

/** Where an MRN given with --mrn is issued, unless --mrn-system says otherwise. */
const DEFAULT_MRN_SYSTEM = 'urn:medface:mrn';
/** HL7 v2 table 0203 "Medical record number". */
const MRN_TYPE = { coding: [{ system: 'http://terminology.hl7.org/CodeSystem/v2-0203', code: 'MR' }] };

interface CreateOptions extends SessionOptions {
  file?: string;
  mrn?: string;
  mrnSystem: string;
  family?: string;
  given: string[];
  birthDate?: string;
  gender?: string;
}

export function registerPatient(program: Command): void {
  const patient = program.command('patient').description('Patient records (FHIR R4 Patient)');

  withSessionOptions(
    patient
      .command('create')
      .description('Create a patient from options or from a FHIR Patient JSON file; prints the new record')
      .option('--file <patient.json>', 'a FHIR R4 Patient resource (instead of the options below)')
      .option('--mrn <value>', 'medical record number')
      .option('--mrn-system <uri>', 'the system that issues the MRN', DEFAULT_MRN_SYSTEM)
      .option('--family <name>', 'family name')
      .option('--given <name>', 'given name (repeat for several)', (v: string, all: string[]) => [...all, v], [] as string[])
      .option('--birth-date <YYYY-MM-DD>', 'date of birth')
      .addOption(new Option('--gender <gender>', 'administrative gender').choices(['male', 'female', 'other', 'unknown'])),
  ).action(
    action(async (opts: CreateOptions) => {
      const input = opts.file ? await readPatientFile(opts.file) : patientFromOptions(opts);
      const { createPatientRecord } = await import('../services/patients/patients.js');
      print(await withMedface(opts, (medface, who) => createPatientRecord(medface, input, who)), opts, renderPatient);
    }),
  );

  withSessionOptions(patient.command('get').description('Show a patient record').argument('<patient>', 'patient id')).action(
    action(async (patientId: string, opts: SessionOptions) => {
      const { readPatientRecord } = await import('../services/patients/patients.js');
      print(await withMedface(opts, (medface, who) => readPatientRecord(medface, patientId, who)), opts, renderPatient);
    }),
  );

  withSessionOptions(
    patient
      .command('search')
      .description('Find patients by name (word prefixes, accents and case ignored), birth date or identifier')
      .option('--name <words>', 'words that start any part of the name')
      .option('--birth-date <date>', 'YYYY, YYYY-MM or YYYY-MM-DD')
      .option('--identifier <token>', 'value, system|value, or |value (no system)')
      .option('--limit <n>', 'most results', (v) => Number(v)),
  ).action(
    action(async (opts: SessionOptions & { name?: string; birthDate?: string; identifier?: string; limit?: number }) => {
      const { searchPatientRecords } = await import('../services/patients/patients.js');
      const search = {
        ...(opts.name !== undefined && { name: opts.name }),
        ...(opts.birthDate !== undefined && { birthDate: opts.birthDate }),
        ...(opts.identifier !== undefined && { identifier: opts.identifier }),
        ...(opts.limit !== undefined && { limit: opts.limit }),
      };
      const found = await withMedface(opts, (medface, who) => searchPatientRecords(medface, search, who));
      print(found, opts, (patients) => (patients.length === 0 ? 'no patient found' : patients.map(renderPatient).join('\n')));
    }),
  );
}

function patientFromOptions(opts: CreateOptions): Patient {
  return {
    resourceType: 'Patient',
    ...(opts.mrn !== undefined && { identifier: [{ use: 'usual', type: MRN_TYPE, system: opts.mrnSystem, value: opts.mrn }] }),
    ...((opts.family !== undefined || opts.given.length > 0) && {
      name: [{ use: 'official', ...(opts.family !== undefined && { family: opts.family }), ...(opts.given.length > 0 && { given: opts.given }) }],
    }),
    ...(opts.birthDate !== undefined && { birthDate: opts.birthDate }),
    ...(opts.gender !== undefined && { gender: opts.gender as Patient['gender'] }),
  };
}

async function readPatientFile(file: string): Promise<unknown> {
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (e) {
    throw new MedfaceError('INVALID_ARGUMENT', `cannot read ${file}: ${(e as NodeJS.ErrnoException).code ?? 'error'}`);
  }
  try {
    return JSON.parse(text);
  } catch {
    throw new MedfaceError('VALIDATION_FAILED', `${file} is not JSON`);
  }
}

function renderPatient(p: Patient): string {
  const name = p.name?.[0];
  const shown = name ? (name.text ?? [name.family, name.given?.join(' ')].filter((x) => x !== undefined).join(', ')) : '(no name)';
  const ids = (p.identifier ?? []).map((i) => `${i.system ? `${i.system}|` : ''}${i.value}`).join(' ');
  return [p.id, shown, p.birthDate ? `born ${p.birthDate}` : '', p.gender ?? '', ids].filter((x) => x !== '').join('  ');
}
