import { randomUUID } from 'node:crypto';
import { MedfaceError } from '../errors.js';
import type { BreakGlassGrantRow, BreakGlassReviewStatus, Repository } from '../store/types.js';

/**
 * Break-glass grants: emergency access by one user to one patient's record, for a limited time, with a
 * stated reason, each one queued for a privacy officer's review. This module keeps the grants; whether a
 * user may break the glass, and what a grant then allows, is src/access/policy.ts's to decide (it consults
 * `activeBreakGlassGrant`).
 */
export type BreakGlassGrant = BreakGlassGrantRow;

export const DEFAULT_BREAK_GLASS_MINUTES = 60;
export const MAX_BREAK_GLASS_MINUTES = 12 * 60;
/** A reason has to say something: "emergency" alone tells a reviewer nothing. */
export const MIN_REASON_CHARS = 10;
const MAX_REASON_CHARS = 1000;
const MAX_REVIEW_NOTE_CHARS = 2000;
const MINUTE_MS = 60_000;

export interface OpenGrant {
  userId: string;
  patientId: string;
  /** Why the record is opened without the usual permission; mandatory. May be PHI: kept only in the grant. */
  reason: string;
  client?: string | null;
  /** How long the grant lasts (default DEFAULT_BREAK_GLASS_MINUTES). */
  minutes?: number;
  now?: Date;
}

function refuse(path: string, message: string): never {
  throw new MedfaceError('VALIDATION_FAILED', `${path} ${message}`, { issues: [{ path, message }] });
}

function trimmed(text: unknown): string {
  return typeof text === 'string' ? text.trim() : '';
}

/** Length with runs of white space counted once, so padding never makes a reason long enough. */
function meaningfulLength(text: string): number {
  return text.replace(/\s+/gu, ' ').length;
}

/**
 * Records a grant, pending review, from `now` for `minutes`. A missing, blank or too short reason is
 * VALIDATION_FAILED; an unknown patient NOT_FOUND. Call inside the transaction that audits it.
 */
export async function openBreakGlassGrant(repo: Repository, request: OpenGrant): Promise<BreakGlassGrant> {
  const reason = trimmed(request.reason);
  if (meaningfulLength(reason) < MIN_REASON_CHARS) refuse('reason', `is required: at least ${MIN_REASON_CHARS} characters saying why`);
  if (reason.length > MAX_REASON_CHARS) refuse('reason', `must be at most ${MAX_REASON_CHARS} characters`);
  const minutes = request.minutes ?? DEFAULT_BREAK_GLASS_MINUTES;
  if (!Number.isInteger(minutes) || minutes < 1 || minutes > MAX_BREAK_GLASS_MINUTES) {
    refuse('minutes', `must be a whole number from 1 to ${MAX_BREAK_GLASS_MINUTES}`);
  }
  if (!(await repo.getPatient(request.patientId))) throw new MedfaceError('NOT_FOUND', 'no such patient', { patientId: request.patientId });
  const now = request.now ?? new Date();
  const grant: BreakGlassGrant = {
    id: randomUUID(),
    userId: request.userId,
    patientId: request.patientId,
    reason,
    client: request.client ?? null,
    grantedAt: now.toISOString(),
    expiresAt: new Date(now.getTime() + minutes * MINUTE_MS).toISOString(),
    reviewStatus: 'pending',
    reviewedBy: null,
    reviewedAt: null,
    reviewNote: null,
  };
  await repo.insertBreakGlassGrant(grant);
  return grant;
}

/** The user's grant on the patient in force at `now` (the one lasting longest), or null: what the policy asks. */
export function activeBreakGlassGrant(repo: Repository, userId: string, patientId: string, now: Date = new Date()): Promise<BreakGlassGrant | null> {
  return repo.findActiveBreakGlassGrant(userId, patientId, now.toISOString());
}

export async function readBreakGlassGrant(repo: Repository, grantId: string): Promise<BreakGlassGrant> {
  const grant = await repo.getBreakGlassGrant(grantId);
  if (!grant) throw new MedfaceError('NOT_FOUND', 'no such break-glass grant', { grantId });
  return grant;
}

/** The privacy officer's queue: grants awaiting review (or of another status, or all), oldest first. */
export function breakGlassReviewQueue(repo: Repository, status: BreakGlassReviewStatus | 'all' = 'pending'): Promise<BreakGlassGrant[]> {
  return repo.listBreakGlassGrants(status === 'all' ? {} : { reviewStatus: status });
}

export interface GrantReview {
  grantId: string;
  reviewerId: string;
  /** The reviewer's finding; mandatory. */
  note: string;
  now?: Date;
}

/**
 * Closes a grant's review with the reviewer and their note. Nobody reviews their own emergency access
 * (FORBIDDEN); a grant reviewed already is CONFLICT.
 */
export async function reviewBreakGlassGrant(repo: Repository, review: GrantReview): Promise<BreakGlassGrant> {
  const note = trimmed(review.note);
  if (note === '') refuse('note', 'is required: the review finding');
  if (note.length > MAX_REVIEW_NOTE_CHARS) refuse('note', `must be at most ${MAX_REVIEW_NOTE_CHARS} characters`);
  const grant = await readBreakGlassGrant(repo, review.grantId);
  if (grant.userId === review.reviewerId) {
    throw new MedfaceError('FORBIDDEN', 'a break-glass access is reviewed by someone other than the user who opened it', { grantId: grant.id });
  }
  const reviewedAt = (review.now ?? new Date()).toISOString();
  if (!(await repo.reviewBreakGlassGrant(grant.id, { reviewedBy: review.reviewerId, reviewedAt, note }))) {
    throw new MedfaceError('CONFLICT', 'the break-glass grant was reviewed already', { grantId: grant.id });
  }
  return { ...grant, reviewStatus: 'reviewed', reviewedBy: review.reviewerId, reviewedAt, reviewNote: note };
}
