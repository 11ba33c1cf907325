import { listSuspectedDuplicates, reviewSuspectedDuplicate, type DuplicateDecision } from '../records/links.js';
import type { PatientLinkRow, PatientLinkStatus } from '../store/types.js';
import { withFailureAudit, type Actor } from './auditing.js';
import type { Medface } from './context.js';

/** Suspected duplicate patients (raised by enrolment), oldest first; the read is audited (it names patients). */
export async function listDuplicates(medface: Medface, filter: { patientId?: string; status?: PatientLinkStatus }, who: Actor): Promise<PatientLinkRow[]> {
  const links = await listSuspectedDuplicates(medface.store, filter);
  await medface.store.transaction((tx) =>
    medface.audit.append(tx, {
      ...who,
      action: 'duplicate.list',
      outcome: 'success',
      patientId: filter.patientId ?? null,
      details: { ...(filter.status !== undefined && { status: filter.status }), links: links.length },
    }),
  );
  return links;
}

/** A reviewer confirms or rejects a suspected duplicate (rejecting removes the Patient.link pair), audited. */
export function reviewDuplicate(medface: Medface, decision: Omit<DuplicateDecision, 'reviewedBy'>, who: Actor): Promise<PatientLinkRow> {
  return withFailureAudit(medface, who, 'duplicate.review', null, () =>
    medface.store.transaction(async (tx) => {
      const link = await reviewSuspectedDuplicate(tx, { ...decision, reviewedBy: who.actor });
      await medface.audit.append(tx, {
        ...who,
        action: 'duplicate.review',
        outcome: 'success',
        patientId: link.patientId,
        details: { linkId: link.id, decision: link.status, otherPatientRef: medface.audit.patientRef(link.otherPatientId) },
      });
      return link;
    }),
  );
}
