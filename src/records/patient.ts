import { randomUUID } from 'node:crypto';
import { canonicalJson } from '../audit/canonical.js';
import { MedfaceError } from '../errors.js';
import type { PatientIndexTerms, Repository, ResourceRow } from '../store/types.js';
import type { HumanName, Patient, PatientLink } from './fhir.js';
import { address, array, boolean, code, contactPoint, date, humanName, id, identifier, meta, object, patientLink, validateResource } from './validate.js';

const SEARCH_LIMIT_DEFAULT = 50;
const SEARCH_LIMIT_MAX = 200;
const MAX_NAME_WORDS = 6;

const patientCheck = object(
  {
    resourceType: code(['Patient']),
    id,
    meta,
    identifier: array(identifier),
    active: boolean,
    name: array(humanName),
    telecom: array(contactPoint),
    gender: code(['male', 'female', 'other', 'unknown']),
    birthDate: date,
    address: array(address),
    link: array(patientLink),
  },
  (o, path, issues) => {
    if (o.name === undefined && o.identifier === undefined) {
      issues.push({ path, message: 'needs a name or an identifier to be found again' });
    }
    if (typeof o.birthDate === 'string' && o.birthDate > new Date().toISOString().slice(0, o.birthDate.length)) {
      issues.push({ path: `${path}.birthDate`, message: 'must not be in the future' });
    }
  },
);

/** Checks a Patient resource; throws VALIDATION_FAILED naming every failing element's path. */
export function validatePatient(input: unknown): Patient {
  return validateResource<Patient>('Patient', patientCheck, input);
}

/** Lower case, accents and other marks removed, compatibility forms folded: "Ø'Brién" → "ø'brien". */
export function normaliseText(s: string): string {
  return s.normalize('NFKD').replace(/\p{M}/gu, '').toLowerCase();
}

/** Words of a name for prefix search: split at spaces and hyphens, punctuation dropped ("O'Brien" → "obrien"). */
export function nameWords(s: string): string[] {
  return normaliseText(s)
    .split(/[\s\-\u2010-\u2015]+/u)
    .map((w) => w.replace(/[^\p{L}\p{N}]/gu, ''))
    .filter((w) => w.length > 0);
}

/** The patient's name as people write it ("Alice Liddell"), from the official (else usual, else first) name; '' without one. */
export function patientDisplayName(p: Patient): string {
  const main = primaryName(p);
  if (!main) return '';
  return main.text ?? [...(main.given ?? []), main.family ?? ''].join(' ').trim();
}

function primaryName(p: Patient): HumanName | undefined {
  return p.name?.find((n) => n.use === 'official') ?? p.name?.find((n) => n.use === 'usual') ?? p.name?.[0];
}

export function patientIndexTerms(p: Patient): PatientIndexTerms {
  const nameTokens = new Set<string>();
  for (const n of p.name ?? []) {
    for (const part of [n.text, n.family, ...(n.given ?? []), ...(n.prefix ?? []), ...(n.suffix ?? [])]) {
      if (part !== undefined) for (const w of nameWords(part)) nameTokens.add(w);
    }
  }
  const main = primaryName(p);
  const sortParts = main?.family !== undefined || main?.given !== undefined ? [main.family ?? '', ...(main.given ?? [])] : [main?.text ?? ''];
  const sortName = nameWords(sortParts.join(' ')).join(' ');
  const identifiers = new Map<string, { system: string | null; value: string }>();
  for (const i of p.identifier ?? []) {
    if (i.value !== undefined) identifiers.set(JSON.stringify([i.system ?? null, i.value]), { system: i.system ?? null, value: i.value });
  }
  return {
    nameTokens: [...nameTokens],
    sortName,
    birthDate: p.birthDate ?? null,
    gender: p.gender ?? null,
    identifiers: [...identifiers.values()],
  };
}

function fromRow(row: ResourceRow): Patient {
  return row.resource as Patient;
}

function toRow(p: Patient, versionId: number, lastUpdated: string): ResourceRow {
  return { id: p.id as string, versionId, lastUpdated, resource: p };
}

function identifierConflict(e: unknown): unknown {
  return e instanceof MedfaceError && e.code === 'CONFLICT' ? new MedfaceError('CONFLICT', 'another patient already has one of these identifiers') : e;
}

/**
 * Creates a Patient with a new id. `Patient.link` is refused: links to other patients come only from
 * duplicate review (links.ts).
 */
export async function createPatient(repo: Repository, input: unknown): Promise<Patient> {
  const checked = validatePatient(input);
  if (checked.link !== undefined) {
    throw new MedfaceError('VALIDATION_FAILED', 'Patient.link is set by duplicate review, not on create', {
      issues: [{ path: 'Patient.link', message: 'is set by duplicate review' }],
    });
  }
  const now = new Date().toISOString();
  const patient: Patient = { ...checked, id: randomUUID(), meta: { versionId: '1', lastUpdated: now } };
  try {
    await repo.insertPatient(toRow(patient, 1, now), patientIndexTerms(patient));
  } catch (e) {
    throw identifierConflict(e);
  }
  return patient;
}

export async function readPatient(repo: Repository, patientId: string): Promise<Patient> {
  const row = await repo.getPatient(patientId);
  if (!row) throw new MedfaceError('NOT_FOUND', 'no such patient', { patientId });
  return fromRow(row);
}

/**
 * Replaces a Patient. With `meta.versionId` set, the update applies only to that version (else CONFLICT);
 * without it, to whatever version is current when read. `Patient.link` must be left as stored.
 */
export async function updatePatient(repo: Repository, input: unknown): Promise<Patient> {
  const checked = validatePatient(input);
  if (checked.id === undefined) {
    throw new MedfaceError('VALIDATION_FAILED', 'Patient.id is required to update', {
      issues: [{ path: 'Patient.id', message: 'is required to update' }],
    });
  }
  const current = await repo.getPatient(checked.id);
  if (!current) throw new MedfaceError('NOT_FOUND', 'no such patient', { patientId: checked.id });
  const expected = checked.meta?.versionId !== undefined ? Number(checked.meta.versionId) : current.versionId;
  const storedLinks = fromRow(current).link;
  // Compared canonically: PostgreSQL's jsonb hands keys back in its own order.
  if (canonicalJson(checked.link ?? null) !== canonicalJson(storedLinks ?? null)) {
    throw new MedfaceError('VALIDATION_FAILED', 'Patient.link is set by duplicate review and cannot be changed here', {
      issues: [{ path: 'Patient.link', message: 'is set by duplicate review' }],
    });
  }
  return writeVersion(repo, checked, expected);
}

async function writeVersion(repo: Repository, p: Patient, expectedVersionId: number): Promise<Patient> {
  const now = new Date().toISOString();
  const versionId = expectedVersionId + 1;
  const patient: Patient = { ...p, meta: { versionId: String(versionId), lastUpdated: now } };
  let written: boolean;
  try {
    written = await repo.updatePatient(toRow(patient, versionId, now), patientIndexTerms(patient), expectedVersionId);
  } catch (e) {
    throw identifierConflict(e);
  }
  if (!written) {
    throw new MedfaceError('CONFLICT', 'the patient was changed by someone else; read it again', { patientId: p.id });
  }
  return patient;
}

/**
 * Adds or removes a `seealso` link from one patient to another (duplicate review only). Call inside a
 * transaction that has locked the patient.
 */
export async function setSeeAlso(tx: Repository, patientId: string, otherPatientId: string, present: boolean): Promise<void> {
  const row = await tx.getPatient(patientId);
  if (!row) throw new MedfaceError('NOT_FOUND', 'no such patient', { patientId });
  const patient = fromRow(row);
  const reference = `Patient/${otherPatientId}`;
  const others = (patient.link ?? []).filter((l) => !(l.type === 'seealso' && l.other.reference === reference));
  const link: PatientLink[] = present ? [...others, { other: { reference }, type: 'seealso' }] : others;
  if (canonicalJson(link) === canonicalJson(patient.link ?? [])) return;
  const { link: _old, ...rest } = patient;
  await writeVersion(tx, link.length > 0 ? { ...rest, link } : rest, row.versionId);
}

export interface PatientSearch {
  /** Words, each matching the start of any part of any name, ignoring case and accents. */
  name?: string;
  /** YYYY, YYYY-MM or YYYY-MM-DD; a partial date matches every birth date inside it. */
  birthDate?: string;
  /** FHIR token: `system|value`, `|value` (no system) or `value` (any system). */
  identifier?: string;
  gender?: string;
  limit?: number;
}

/** Patients matching every given criterion, ordered by name. At least a name, birth date or identifier is needed. */
export async function searchPatients(repo: Repository, search: PatientSearch): Promise<Patient[]> {
  const issues: { path: string; message: string }[] = [];
  const namePrefixes = search.name === undefined ? undefined : nameWords(search.name);
  if (namePrefixes !== undefined && (namePrefixes.length === 0 || namePrefixes.length > MAX_NAME_WORDS)) {
    issues.push({ path: 'search.name', message: `must have 1 to ${MAX_NAME_WORDS} words` });
  }
  if (search.birthDate !== undefined) date(search.birthDate, 'search.birthDate', issues);
  if (search.gender !== undefined) code(['male', 'female', 'other', 'unknown'])(search.gender, 'search.gender', issues);
  const limit = search.limit ?? SEARCH_LIMIT_DEFAULT;
  if (!Number.isInteger(limit) || limit < 1 || limit > SEARCH_LIMIT_MAX) {
    issues.push({ path: 'search.limit', message: `must be an integer from 1 to ${SEARCH_LIMIT_MAX}` });
  }
  let identifierQuery: { system?: string | null; value: string } | undefined;
  if (search.identifier !== undefined) {
    const bar = search.identifier.indexOf('|');
    const value = bar < 0 ? search.identifier : search.identifier.slice(bar + 1);
    identifierQuery = bar < 0 ? { value } : { system: bar === 0 ? null : search.identifier.slice(0, bar), value };
    if (value === '') issues.push({ path: 'search.identifier', message: 'needs a value' });
  }
  if (search.name === undefined && search.birthDate === undefined && search.identifier === undefined) {
    issues.push({ path: 'search', message: 'needs a name, a birth date or an identifier' });
  }
  const [first] = issues;
  if (first) {
    throw new MedfaceError('VALIDATION_FAILED', `${first.path} ${first.message}`, { issues });
  }
  const rows = await repo.searchPatients({
    ...(namePrefixes !== undefined && { namePrefixes }),
    ...(search.birthDate !== undefined && { birthDate: search.birthDate }),
    ...(identifierQuery !== undefined && { identifier: identifierQuery }),
    ...(search.gender !== undefined && { gender: search.gender }),
    limit,
  });
  return rows.map(fromRow);
}
