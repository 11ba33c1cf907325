import { randomUUID } from 'node:crypto';
import { MedfaceError } from '../errors.js';
import type { PatientLinkRow, PatientLinkStatus, Repository } from '../store/types.js';
import { setSeeAlso } from './patient.js';

/**
 * Suspected duplicate patients awaiting a human decision. While a suspicion stands (pending, overridden or
 * confirmed) both Patient resources carry a `seealso` link to each other; a rejection removes the links.
 */

export interface SuspectDuplicate {
  patientId: string;
  otherPatientId: string;
  /** The match grade and score from identity/ that raised the suspicion. */
  grade: string;
  score: number;
  /** The medface user (or 'system') whose action raised it. */
  createdBy: string;
  /** The operator continued anyway, saying why; the suspicion stays open for review. */
  overrideReason?: string;
}

/**
 * Records that two patients may be one person; call inside a store transaction. If the pair already has a
 * suspicion (in either direction) that one is returned, marked overridden if an override reason is given.
 */
export async function recordSuspectedDuplicate(tx: Repository, s: SuspectDuplicate): Promise<PatientLinkRow> {
  if (s.patientId === s.otherPatientId) {
    throw new MedfaceError('INVALID_ARGUMENT', 'a patient cannot be a duplicate of itself');
  }
  await lockPair(tx, s.patientId, s.otherPatientId);
  const existing = (await tx.listPatientLinks({ patientId: s.patientId })).find((l) => l.patientId === s.otherPatientId || l.otherPatientId === s.otherPatientId);
  if (existing) {
    if (s.overrideReason === undefined || existing.status !== 'pending') return existing;
    const overridden: PatientLinkRow = { ...existing, status: 'overridden', reason: requireReason(s.overrideReason) };
    await tx.updatePatientLink(overridden);
    return overridden;
  }
  const row: PatientLinkRow = {
    id: randomUUID(),
    patientId: s.patientId,
    otherPatientId: s.otherPatientId,
    grade: s.grade,
    score: s.score,
    status: s.overrideReason === undefined ? 'pending' : 'overridden',
    reason: s.overrideReason === undefined ? null : requireReason(s.overrideReason),
    createdBy: s.createdBy,
    createdAt: new Date().toISOString(),
    reviewedBy: null,
    reviewedAt: null,
  };
  await tx.insertPatientLink(row);
  await setSeeAlso(tx, s.patientId, s.otherPatientId, true);
  await setSeeAlso(tx, s.otherPatientId, s.patientId, true);
  return row;
}

export interface DuplicateDecision {
  linkId: string;
  decision: 'confirmed' | 'rejected';
  /** Required to reject: why these are two different people. */
  reason?: string;
  reviewedBy: string;
}

/** A reviewer's decision on a pending or overridden suspicion; call inside a store transaction. */
export async function reviewSuspectedDuplicate(tx: Repository, d: DuplicateDecision): Promise<PatientLinkRow> {
  const link = await tx.getPatientLink(d.linkId);
  if (!link) throw new MedfaceError('NOT_FOUND', 'no such duplicate suspicion', { linkId: d.linkId });
  if (link.status !== 'pending' && link.status !== 'overridden') {
    throw new MedfaceError('CONFLICT', `the suspicion was already ${link.status}`, { linkId: d.linkId });
  }
  await lockPair(tx, link.patientId, link.otherPatientId);
  const reason = d.decision === 'rejected' ? requireReason(d.reason) : (d.reason ?? link.reason);
  const reviewed: PatientLinkRow = {
    ...link,
    status: d.decision,
    reason,
    reviewedBy: d.reviewedBy,
    reviewedAt: new Date().toISOString(),
  };
  await tx.updatePatientLink(reviewed);
  if (d.decision === 'rejected') {
    await setSeeAlso(tx, link.patientId, link.otherPatientId, false);
    await setSeeAlso(tx, link.otherPatientId, link.patientId, false);
  }
  return reviewed;
}

export function listSuspectedDuplicates(repo: Repository, filter: { patientId?: string; status?: PatientLinkStatus } = {}): Promise<PatientLinkRow[]> {
  return repo.listPatientLinks(filter);
}

/** Locks both patients in id order, so two transactions on the same pair cannot deadlock. */
async function lockPair(tx: Repository, a: string, b: string): Promise<void> {
  for (const id of [a, b].sort()) {
    if (!(await tx.lockPatient(id))) throw new MedfaceError('NOT_FOUND', 'no such patient', { patientId: id });
  }
}

function requireReason(reason: string | undefined): string {
  if (reason === undefined || reason.trim() === '') {
    throw new MedfaceError('VALIDATION_FAILED', 'a reason is required', { issues: [{ path: 'reason', message: 'is required' }] });
  }
  return reason.trim();
}
