import { authorize, type Principal } from '../../access/policy.js';
import { patientDisplayName } from '../../records/patient.js';
import type { Patient } from '../../records/fhir.js';
import type { Actor } from '../auditing.js';
import type { Medface } from '../context.js';

/**
 * The people behind the ids of work lists (the duplicate queue, the break-glass review queue, audit search,
 * `medface identify`): a patient's name and date of birth, a user's username — shown only to those the policy
 * lets see them (`patient.read-names`, `user.read`), and every lookup that showed any is itself audited.
 */

export interface PatientLabel {
  id: string;
  name: string;
  birthDate: string | null;
}

export interface UserLabel {
  id: string;
  username: string;
  displayName: string | null;
}

/** Which names a caller may see. */
export interface NameRights {
  patients: boolean;
  users: boolean;
}

export const NO_NAMES: NameRights = { patients: false, users: false };

/** The policy's answer for this principal (no patient is named, so no break-glass condition applies). */
export async function nameRightsOf(principal: Principal): Promise<NameRights> {
  const [patients, users] = await Promise.all([authorize(principal, 'patient.read-names'), authorize(principal, 'user.read')]);
  return { patients: patients.allowed, users: users.allowed };
}

/** The console's rights (`cli:<os user>`), which the policy grants the operator. */
export function consoleNameRights(actor: string): Promise<NameRights> {
  return nameRightsOf({ kind: 'operator', id: actor });
}

export interface People {
  patients: Map<string, PatientLabel>;
  users: Map<string, UserLabel>;
}

/**
 * Labels for the given patient and user ids (ids that are not a stored patient or user — an API client,
 * `system`, `cli:…` — get none), as far as `rights` allow; recorded as `people.read-names` with the list
 * they were shown in and how many of each, when any was shown.
 */
export async function lookUpPeople(
  medface: Pick<Medface, 'store' | 'audit'>,
  who: Actor,
  rights: NameRights,
  ids: { patients?: Iterable<string | null | undefined>; users?: Iterable<string | null | undefined> },
  list: string,
): Promise<People> {
  const distinct = (values: Iterable<string | null | undefined> | undefined): string[] => [...new Set([...(values ?? [])].filter((v): v is string => typeof v === 'string'))];
  const patientIds = rights.patients ? distinct(ids.patients) : [];
  const userIds = rights.users ? distinct(ids.users) : [];
  const [patientRows, userRows] = await Promise.all([medface.store.getPatients(patientIds), medface.store.getUsers(userIds)]);
  const people: People = {
    patients: new Map(
      patientRows.map((row) => {
        const patient = row.resource as Patient;
        return [row.id, { id: row.id, name: patientDisplayName(patient), birthDate: patient.birthDate ?? null }];
      }),
    ),
    users: new Map(userRows.map((u) => [u.id, { id: u.id, username: u.username, displayName: u.displayName }])),
  };
  if (people.patients.size + people.users.size > 0) {
    await medface.audit.record(medface.store, { ...who, action: 'people.read-names', outcome: 'success', details: { list, patients: people.patients.size, users: people.users.size } });
  }
  return people;
}
