import { listSuspectedDuplicates, reviewSuspectedDuplicate, type DuplicateDecision } from '../../records/links.js';
import type { PatientLinkRow, PatientLinkStatus } from '../../store/types.js';
import { auditedChange, type Actor } from '../auditing.js';
import type { Medface } from '../context.js';
import { lookUpPeople, NO_NAMES, type NameRights, type PatientLabel } from './people.js';

/** A suspected duplicate with the two patients' names and dates of birth, for those who may see them. */
export interface LabelledLink extends PatientLinkRow {
  patient?: PatientLabel;
  otherPatient?: PatientLabel;
}

/**
 * Suspected duplicate patients (raised by enrolment), oldest first, with the patients' names as `rights`
 * allow (a reviewer compares people, not UUIDs); the read is audited (it names patients).
 */
export async function listDuplicates(medface: Medface, filter: { patientId?: string; status?: PatientLinkStatus }, who: Actor, rights: NameRights = NO_NAMES): Promise<LabelledLink[]> {
  const links = await listSuspectedDuplicates(medface.store, filter);
  await medface.audit.record(medface.store, {
    ...who,
    action: 'duplicate.list',
    outcome: 'success',
    patientId: filter.patientId ?? null,
    details: { ...(filter.status !== undefined && { status: filter.status }), links: links.length },
  });
  const people = await lookUpPeople(medface, who, rights, { patients: links.flatMap((l) => [l.patientId, l.otherPatientId]) }, 'duplicate.list');
  return links.map((l) => {
    const patient = people.patients.get(l.patientId);
    const otherPatient = people.patients.get(l.otherPatientId);
    return { ...l, ...(patient && { patient }), ...(otherPatient && { otherPatient }) };
  });
}

/** A reviewer confirms or rejects a suspected duplicate (rejecting removes the Patient.link pair), audited. */
export function reviewDuplicate(medface: Medface, decision: Omit<DuplicateDecision, 'reviewedBy'>, who: Actor): Promise<PatientLinkRow> {
  return auditedChange(medface, who, 'duplicate.review', null, async (tx) => {
    const link = await reviewSuspectedDuplicate(tx, { ...decision, reviewedBy: who.actor });
    return { result: link, patientId: link.patientId, details: { linkId: link.id, decision: link.status, otherPatientRef: medface.audit.patientRef(link.otherPatientId) } };
  });
}
