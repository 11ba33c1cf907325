import { randomBytes, randomUUID } from 'node:crypto';
import { isMedfaceError, MedfaceError } from '../../errors.js';
import { createHash } from 'node:crypto';
import type { Embedding, FacePool, FrameObservation } from '../../face/index.js';
import { IMAGE_LIMITS } from '../../face/limits.js';
import { fuseViews, PROBE_VIEWS } from '../../identity/fusion.js';
import { assessSequence, type FrameObserver } from '../../liveness/assess.js';
import { progressOf, type LivenessProgress } from '../../liveness/progress.js';
import { ACTIVE_LIVENESS, signalsOf } from '../../liveness/sequence.js';
import { randomChallengeActions, type CapturedFrame, type LivenessAction, type LivenessChallenge, type LivenessVerdict } from '../../liveness/types.js';
import type { LivenessChallengeRow } from '../../store/types.js';
import { audited, type Actor } from '../auditing.js';
import type { Medface } from '../context.js';

/**
 * The active liveness check as a use case: the server issues a single-use challenge (2–3 actions in random
 * order, a nonce, a deadline), the client films the person doing them, and the frames come back with the
 * challenge id to the flow that needs a live face. The challenge is consumed before anything is assessed
 * (an atomic UPDATE … WHERE consumed_at IS NULL: two submissions of one challenge cannot both be assessed),
 * then src/liveness/ judges the sequence and hands back the embedding of a frame inside the verified sequence,
 * which is the one the caller matches. Every attempt is audited (`liveness.check`), failures with their
 * reason codes; never a frame or an embedding.
 */

/** The flows that ask for a live face. */
export const LIVENESS_PURPOSES = ['check-in', 'portal-sign-in', 'staff-sign-in', 'verify', 'telemedicine'] as const;
export type LivenessPurpose = (typeof LIVENESS_PURPOSES)[number];

/**
 * The policy, in one place: which flows refuse a face without a passed active check. A photo held up to the
 * kiosk, the portal, a telemedicine check or a staff member's "password + face" sign-in must not open a record,
 * a visit or an account; `verify` is an integrator's
 * API, where the check is reported when frames are sent and required when the integrator asks for it
 * (`requireLiveness`). There is deliberately no switch to turn the requirement off for cameras that cannot
 * see motion: such a deployment must not do these flows by face.
 */
export const LIVENESS_REQUIRED: Readonly<Record<LivenessPurpose, boolean>> = {
  'check-in': true,
  'portal-sign-in': true,
  'staff-sign-in': true,
  telemedicine: true,
  verify: false,
};

/**
 * Seconds from issue to deadline by flow: the filming takes under 10 s; the portal asks for the date of birth
 * or PIN after it, before the request is sent (the kiosk asks first); a staff sign-in checks the password
 * (argon2, slow under load) before the challenge is consumed.
 */
export const DEFAULT_DEADLINE_SECONDS: Readonly<Record<LivenessPurpose, number>> = { 'check-in': 20, 'portal-sign-in': 90, 'staff-sign-in': 30, verify: 20, telemedicine: 20 };
const MAX_DEADLINE_SECONDS = 120;
/** The most frames one attempt may carry: the check's own limit, enforced before anything is decoded. */
export const MAX_LIVENESS_FRAMES = ACTIVE_LIVENESS.maxFrames;
/** One frame's largest encoded size (the face engine's frame limit): a 640×480 JPEG from the browser is a tenth of it. */
export const MAX_FRAME_BYTES = IMAGE_LIMITS.frame.maxBytes;
/** Used and expired challenges are kept this long after their deadline, so a late replay is "used", not "unknown". */
const KEEP_AFTER_DEADLINE_MS = 60 * 60 * 1000;

export interface IssueChallengeRequest {
  purpose: LivenessPurpose;
  /** What the challenge is for within the flow (the patient an integrator verifies), when it names one. */
  subject?: string | null;
}

/** Issues a challenge for one attempt. Not audited: issuing grants nothing (and the route is open to anyone). */
export async function issueChallenge(medface: Medface, request: IssueChallengeRequest, now: Date = new Date()): Promise<LivenessChallenge> {
  const seconds = medface.settings.liveness.deadlineSeconds ?? DEFAULT_DEADLINE_SECONDS[request.purpose];
  if (!Number.isFinite(seconds) || seconds < 1 || seconds > MAX_DEADLINE_SECONDS) {
    throw new MedfaceError('INVALID_ARGUMENT', `the liveness deadline must be from 1 to ${MAX_DEADLINE_SECONDS} seconds`);
  }
  const row: LivenessChallengeRow = {
    id: randomUUID(),
    nonce: randomBytes(16).toString('base64url'),
    actions: randomChallengeActions(medface.settings.liveness.random),
    purpose: request.purpose,
    subject: request.subject ?? null,
    issuedAt: now.toISOString(),
    deadline: new Date(now.getTime() + seconds * 1000).toISOString(),
    consumedAt: null,
  };
  await medface.store.transaction(async (tx) => {
    await tx.deleteLivenessChallengesBefore(new Date(now.getTime() - KEEP_AFTER_DEADLINE_MS).toISOString());
    await tx.insertLivenessChallenge(row);
  });
  return challengeOf(row);
}

export interface LivenessAttempt {
  challengeId: string;
  frames: CapturedFrame[];
}

export interface LivenessResult {
  challengeId: string;
  verdict: LivenessVerdict;
  /**
   * The probe from inside the verified sequence: the embeddings of its best views fused (identity/fusion.ts,
   * the match frame first); null unless the check passed.
   */
  embedding: Embedding | null;
  /** The frames that probe was made from, for embedding them with older models too (Medface.olderModelFrameProbes). */
  probeImages: Uint8Array[];
}

/**
 * Consumes the challenge and assesses the frames. A challenge that is unknown, issued for another flow or
 * subject (CHALLENGE_UNKNOWN), used already (CHALLENGE_USED) or past its deadline (CHALLENGE_EXPIRED) is
 * refused before any frame is looked at; a sequence that does not show the actions is a failed verdict.
 * Both are audited as failures of `liveness.check`.
 */
export async function checkLiveness(
  medface: Medface,
  purpose: LivenessPurpose,
  attempt: LivenessAttempt,
  who: Actor,
  options: { subject?: string | null; patientId?: string | null; now?: Date } = {},
): Promise<LivenessResult> {
  const now = options.now ?? new Date();
  const patientId = options.patientId ?? null;
  const base = { challengeId: attempt.challengeId, purpose, frames: attempt.frames.length };
  const refused = async (error: MedfaceError): Promise<MedfaceError> => {
    await record(medface, who, patientId, 'failure', { ...base, code: error.code });
    return audited(error);
  };

  if (attempt.frames.length > MAX_LIVENESS_FRAMES) {
    throw await refused(new MedfaceError('VALIDATION_FAILED', `at most ${MAX_LIVENESS_FRAMES} frames`, { limit: MAX_LIVENESS_FRAMES }));
  }
  if (attempt.frames.some((f) => f.image.length > MAX_FRAME_BYTES)) {
    throw await refused(new MedfaceError('IMAGE_TOO_LARGE', `a frame is larger than ${MAX_FRAME_BYTES} bytes`, { limit: MAX_FRAME_BYTES }));
  }
  const row = await medface.store.getLivenessChallenge(attempt.challengeId);
  // a challenge issued for one subject (the patient an integrator verifies) serves no other
  if (!row || row.purpose !== purpose || (row.subject !== null && row.subject !== (options.subject ?? null))) {
    throw await refused(new MedfaceError('CHALLENGE_UNKNOWN', 'no such liveness challenge for this check'));
  }
  const challenge = row;
  // consumed first, whatever follows: a challenge is one attempt, even an expired or failed one
  if (!(await medface.store.consumeLivenessChallenge(challenge.id, now.toISOString()))) {
    throw await refused(new MedfaceError('CHALLENGE_USED', 'the liveness challenge has been used already'));
  }
  if (now.getTime() > Date.parse(challenge.deadline)) {
    throw await refused(new MedfaceError('CHALLENGE_EXPIRED', 'the liveness challenge is past its deadline'));
  }

  const filmed = filmedFrames(medface);
  let assessed;
  try {
    assessed = await assessSequence(filmed.observer(challenge.id, await framePool(medface)), challengeOf(challenge), attempt.frames, now, medface.templates.thresholdsFile);
  } finally {
    filmed.release(challenge.id);
  }
  const { embedding: _matchFrame, views, ...verdict } = assessed;
  const probeFrames = verdict.passed ? verdict.probeFrames.slice(0, PROBE_VIEWS) : [];
  await record(medface, who, patientId, verdict.passed ? 'success' : 'failure', {
    ...base,
    actions: challenge.actions,
    passed: verdict.passed,
    reasons: verdict.reasons,
    observed: verdict.observed,
    matchFrame: verdict.matchFrame,
    probeViews: probeFrames.length,
  });
  return {
    challengeId: challenge.id,
    verdict,
    embedding: verdict.passed ? fuseViews(views, PROBE_VIEWS) : null,
    probeImages: probeFrames.map((i) => attempt.frames[i]!.image),
  };
}

/** The most frames one progress request carries: the page sends those filmed since its previous request. */
export const MAX_PROGRESS_FRAMES = 5;
/** How many challenges' frames filmed for progress are kept at once; the oldest is dropped first. */
const FILMED_CHALLENGES = 32;

/**
 * The observations of each challenge's frames made for its progress feedback while it is filmed (mesh, pose,
 * eyes; no embedding), by the SHA-256 of the frame's bytes: the check on the submitted frames then observes
 * again only the frames it has not seen, since an observation depends on the bytes alone. So most of a check's
 * work is done while the person is filmed. Kept in this process until the frames are judged or the deadline
 * passes, for at most FILMED_CHALLENGES challenges; nothing of it is stored or logged.
 */
class FilmedFrames {
  readonly #challenges = new Map<string, { deadline: number; byHash: Map<string, Promise<FrameObservation>>; byTime: Map<number, string> }>();

  /** The frames of `challenge` filmed so far, each frame's observation taken once, in capture order, with their capture times. */
  async observe(challenge: { id: string; deadline: string }, faces: FrameObserver, frames: readonly CapturedFrame[], now: Date): Promise<{ times: number[]; observations: FrameObservation[] }> {
    for (const [id, entry] of this.#challenges) if (entry.deadline < now.getTime()) this.#challenges.delete(id);
    let entry = this.#challenges.get(challenge.id);
    if (!entry) {
      if (this.#challenges.size >= FILMED_CHALLENGES) this.#challenges.delete(this.#challenges.keys().next().value!);
      entry = { deadline: Date.parse(challenge.deadline), byHash: new Map(), byTime: new Map() };
      this.#challenges.set(challenge.id, entry);
    }
    for (const frame of frames) {
      if (!entry.byTime.has(frame.at) && entry.byTime.size >= MAX_LIVENESS_FRAMES) {
        throw new MedfaceError('VALIDATION_FAILED', `at most ${MAX_LIVENESS_FRAMES} frames per challenge`, { limit: MAX_LIVENESS_FRAMES });
      }
      const hash = createHash('sha256').update(frame.image).digest('hex');
      entry.byTime.set(frame.at, hash);
      if (!entry.byHash.has(hash)) {
        const observed = faces.observe(frame.image, false);
        entry.byHash.set(hash, observed);
        // a frame that could not be observed is observed again by the check, which reports its error
        observed.catch(() => entry.byHash.delete(hash));
      }
    }
    const times = [...entry.byTime.keys()].sort((a, b) => a - b);
    return { times, observations: await Promise.all(times.map((t) => entry.byHash.get(entry.byTime.get(t)!)!)) };
  }

  /** `faces` for the check of `challengeId`'s frames: observations made while filming are taken as they are. */
  observer(challengeId: string, faces: FrameObserver): FrameObserver {
    return {
      observe: (bytes: Uint8Array, embed: boolean) => {
        const known = embed ? undefined : this.#challenges.get(challengeId)?.byHash.get(createHash('sha256').update(bytes).digest('hex'));
        return known ?? faces.observe(bytes, embed);
      },
      embedObserved: (bytes, face) => faces.embedObserved(bytes, face),
    };
  }

  release(challengeId: string): void {
    this.#challenges.delete(challengeId);
  }
}

const filmed = new WeakMap<Medface, FilmedFrames>();
function filmedFrames(medface: Medface): FilmedFrames {
  let frames = filmed.get(medface);
  if (!frames) filmed.set(medface, (frames = new FilmedFrames()));
  return frames;
}

/**
 * Live feedback while a challenge is filmed: the frames filmed since the previous request go in (at most
 * MAX_PROGRESS_FRAMES), and which of the challenge's actions the frames so far show comes back
 * (liveness/progress.ts), for the page to tell the person. It grants nothing and consumes nothing: the check on
 * the submitted frames decides, and reuses these observations. A challenge unknown, used or past its deadline
 * is refused like the check refuses it. Not audited, like the capture feedback: no face is compared.
 */
export async function livenessProgress(medface: Medface, challengeId: string, frames: readonly CapturedFrame[], now: Date = new Date()): Promise<LivenessProgress> {
  if (frames.length > MAX_PROGRESS_FRAMES) throw new MedfaceError('VALIDATION_FAILED', `at most ${MAX_PROGRESS_FRAMES} frames`, { limit: MAX_PROGRESS_FRAMES });
  if (frames.some((f) => f.image.length > MAX_FRAME_BYTES)) throw new MedfaceError('IMAGE_TOO_LARGE', `a frame is larger than ${MAX_FRAME_BYTES} bytes`, { limit: MAX_FRAME_BYTES });
  const row = await medface.store.getLivenessChallenge(challengeId);
  if (!row) throw new MedfaceError('CHALLENGE_UNKNOWN', 'no such liveness challenge');
  if (row.consumedAt !== null) throw new MedfaceError('CHALLENGE_USED', 'the liveness challenge has been used already');
  if (now.getTime() > Date.parse(row.deadline)) throw new MedfaceError('CHALLENGE_EXPIRED', 'the liveness challenge is past its deadline');
  const { times, observations } = await filmedFrames(medface).observe(row, await framePool(medface), frames, now);
  return progressOf(row.actions as LivenessAction[], observations.map(signalsOf), times);
}

/** A challenge refused before its frames were looked at (unknown, used, expired): an attempt that failed. */
export function isChallengeRefusal(e: unknown): e is MedfaceError {
  return isMedfaceError(e) && (e.code === 'CHALLENGE_UNKNOWN' || e.code === 'CHALLENGE_USED' || e.code === 'CHALLENGE_EXPIRED');
}

/** The check as an error, for the flows that require it: LIVENESS_FAILED with the reason codes. */
export function livenessFailed(verdict: LivenessVerdict): MedfaceError {
  return new MedfaceError('LIVENESS_FAILED', 'the liveness check failed', { reasons: verdict.reasons });
}

async function record(medface: Medface, who: Actor, patientId: string | null, outcome: 'success' | 'failure', details: Record<string, unknown>): Promise<void> {
  await medface.store.transaction((tx) => medface.audit.append(tx, { ...who, action: 'liveness.check', outcome, patientId, details }));
}

/** The face pool as the sequence check uses it: observing frames, with as many at once as it has workers. */
async function framePool(medface: Medface): Promise<FacePool> {
  const faces = await medface.faces.engine();
  if (!faces.observe || !faces.embedObserved || !faces.stats) throw new MedfaceError('ENGINE_FAILED', 'this face engine cannot follow a face over frames');
  // assessSequence uses observe(), embedObserved() and stats() alone, which are there
  return faces as FacePool;
}

function challengeOf(row: LivenessChallengeRow): LivenessChallenge {
  return { id: row.id, nonce: row.nonce, actions: row.actions as LivenessAction[], issuedAt: row.issuedAt, deadline: row.deadline };
}
