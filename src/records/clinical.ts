import { randomUUID } from 'node:crypto';
import { MedfaceError } from '../errors.js';
import type { ClinicalResourceRow, Repository } from '../store/types.js';
import { CLINICAL_RESOURCE_TYPES, isClinicalResourceType, patientElement, validateClinicalResource } from './clinical-checks.js';
import type { ClinicalResource, ClinicalResourceType, DocumentReference, Encounter, Reference } from './fhir.js';
import type { Issue } from './validate.js';

/** A clinical resource type's own TypeScript shape: `ResourceOf<'Observation'>` is `Observation`. */
export type ResourceOf<T extends ClinicalResourceType> = Extract<ClinicalResource, { resourceType: T }>;

const ACT_CODE = 'http://terminology.hl7.org/CodeSystem/v3-ActCode';

function invalid(issues: Issue[]): MedfaceError {
  const [first] = issues as [Issue];
  return new MedfaceError('VALIDATION_FAILED', `${first.path} ${first.message}`, { issues });
}

/** The patient a resource belongs to: the id in its `subject` (or `patient`) reference. */
export function patientIdOf(resource: ClinicalResource): string {
  const element = patientElement(resource.resourceType);
  const reference = (resource as unknown as Record<string, Reference>)[element]?.reference as string;
  return reference.slice('Patient/'.length);
}

/** Every Encounter a resource refers to, with the path it is referred from. */
function encounterReferences(r: ClinicalResource): { path: string; id: string }[] {
  const refs: { path: string; reference: string | undefined }[] = [];
  const type = r.resourceType;
  if (r.resourceType === 'MedicationStatement') refs.push({ path: `${type}.context.reference`, reference: r.context?.reference });
  else if (r.resourceType === 'DocumentReference') {
    r.context?.encounter?.forEach((e, i) => refs.push({ path: `${type}.context.encounter[${i}].reference`, reference: e.reference }));
  } else if (r.resourceType !== 'Encounter') refs.push({ path: `${type}.encounter.reference`, reference: r.encounter?.reference });
  return refs.filter((x) => x.reference !== undefined).map((x) => ({ path: x.path, id: (x.reference as string).slice('Encounter/'.length) }));
}

/**
 * Checks what validation alone cannot: the patient exists, and every Encounter referred to exists and is an
 * encounter of that same patient (a note must not point into another patient's visit).
 */
async function checkLinks(repo: Repository, resource: ClinicalResource, patientId: string): Promise<void> {
  if (!(await repo.getPatient(patientId))) throw new MedfaceError('NOT_FOUND', 'no such patient', { patientId });
  const issues: Issue[] = [];
  for (const { path, id } of encounterReferences(resource)) {
    const encounter = await repo.getClinicalResource('Encounter', id);
    if (!encounter || encounter.patientId !== patientId) issues.push({ path, message: "must refer to an encounter of the resource's patient" });
  }
  if (issues.length > 0) throw invalid(issues);
}

function toRow(r: ClinicalResource, patientId: string, versionId: number, lastUpdated: string): ClinicalResourceRow {
  return { id: r.id as string, resourceType: r.resourceType, patientId, versionId, lastUpdated, resource: r };
}

/**
 * Creates a clinical resource (any supported type, chosen by `resourceType`) with a new id, linked to the
 * patient its subject (AllergyIntolerance: patient) names. Throws VALIDATION_FAILED naming the failing
 * paths, NOT_FOUND for an unknown patient.
 */
export async function createClinicalResource(repo: Repository, input: unknown): Promise<ClinicalResource> {
  const checked = validateClinicalResource(input);
  const patientId = patientIdOf(checked);
  await checkLinks(repo, checked, patientId);
  const now = new Date().toISOString();
  const resource = { ...checked, id: randomUUID(), meta: { versionId: '1', lastUpdated: now } } as ClinicalResource;
  await repo.insertClinicalResource(toRow(resource, patientId, 1, now));
  return resource;
}

export async function readClinicalResource<T extends ClinicalResourceType>(repo: Repository, resourceType: T, id: string): Promise<ResourceOf<T>> {
  if (!isClinicalResourceType(resourceType)) {
    throw invalid([{ path: 'resourceType', message: `must be one of ${CLINICAL_RESOURCE_TYPES.join(', ')}` }]);
  }
  const row = await repo.getClinicalResource(resourceType, id);
  if (!row) throw new MedfaceError('NOT_FOUND', `no such ${resourceType}`, { resourceType, id });
  return row.resource as ResourceOf<T>;
}

/**
 * Replaces a clinical resource. With `meta.versionId` set, the update applies only to that version (else
 * CONFLICT); without it, to whatever version is current when read. A resource stays with its patient:
 * pointing it at another patient is refused (that is a correction: mark it entered-in-error, create anew).
 */
export async function updateClinicalResource(repo: Repository, input: unknown): Promise<ClinicalResource> {
  const checked = validateClinicalResource(input);
  const type = checked.resourceType;
  if (checked.id === undefined) throw invalid([{ path: `${type}.id`, message: 'is required to update' }]);
  const current = await repo.getClinicalResource(type, checked.id);
  if (!current) throw new MedfaceError('NOT_FOUND', `no such ${type}`, { resourceType: type, id: checked.id });
  const patientId = patientIdOf(checked);
  if (patientId !== current.patientId) {
    throw invalid([{ path: `${type}.${patientElement(type)}.reference`, message: 'cannot move the resource to another patient' }]);
  }
  await checkLinks(repo, checked, patientId);
  const stated = checked.meta?.versionId;
  if (stated !== undefined && !/^[1-9]\d{0,9}$/.test(stated)) throw invalid([{ path: `${type}.meta.versionId`, message: 'must be a version this server gave' }]);
  const expected = stated !== undefined ? Number(stated) : current.versionId;
  const now = new Date().toISOString();
  const versionId = expected + 1;
  const resource = { ...checked, meta: { versionId: String(versionId), lastUpdated: now } } as ClinicalResource;
  if (!(await repo.updateClinicalResource(toRow(resource, patientId, versionId, now), expected))) {
    throw new MedfaceError('CONFLICT', `the ${type} was changed by someone else; read it again`, { resourceType: type, id: checked.id });
  }
  return resource;
}

/** A patient's clinical resources, of `types` only when given; grouped by type, oldest update first. */
export async function listClinicalResources(repo: Repository, patientId: string, types?: readonly ClinicalResourceType[]): Promise<ClinicalResource[]> {
  return (await repo.listClinicalResources(patientId, types)).map((row) => row.resource as ClinicalResource);
}

/**
 * The Encounter a check-in opens: status `arrived`, class ambulatory (v3 ActCode AMB), the patient as
 * subject, starting at `at`. Call inside the check-in's transaction.
 */
export async function createCheckInEncounter(repo: Repository, patientId: string, at: Date = new Date()): Promise<Encounter> {
  return (await createClinicalResource(repo, {
    resourceType: 'Encounter',
    status: 'arrived',
    class: { system: ACT_CODE, code: 'AMB', display: 'ambulatory' },
    subject: { reference: `Patient/${patientId}` },
    period: { start: at.toISOString() },
  } satisfies Encounter)) as Encounter;
}

const LOINC_NOTE = { system: 'http://loinc.org', code: '34109-9', display: 'Note' };

export interface TextNote {
  patientId: string;
  text: string;
  /** Who wrote it, e.g. `{ identifier: { system: 'urn:medface:user', value: userId } }`. */
  author?: NonNullable<DocumentReference['author']>[number];
  /** The visit it belongs to. */
  encounterId?: string;
  title?: string;
  at?: Date;
}

/** A free-text note as a DocumentReference (LOINC 34109-9 "Note"), ready for createClinicalResource. */
export function textNoteDocument(note: TextNote): DocumentReference {
  const at = (note.at ?? new Date()).toISOString();
  const data = Buffer.from(note.text, 'utf8');
  return {
    resourceType: 'DocumentReference',
    status: 'current',
    docStatus: 'final',
    type: { coding: [LOINC_NOTE] },
    subject: { reference: `Patient/${note.patientId}` },
    date: at,
    ...(note.author !== undefined && { author: [note.author] }),
    content: [
      {
        attachment: {
          contentType: 'text/plain; charset=utf-8',
          data: data.toString('base64'),
          size: data.length,
          ...(note.title !== undefined && { title: note.title }),
          creation: at,
        },
      },
    ],
    ...(note.encounterId !== undefined && { context: { encounter: [{ reference: `Encounter/${note.encounterId}` }] } }),
  };
}

/** The text of a note written by textNoteDocument (or any validated DocumentReference). */
export function noteText(doc: DocumentReference): string {
  return Buffer.from(doc.content[0]?.attachment.data ?? '', 'base64').toString('utf8');
}
