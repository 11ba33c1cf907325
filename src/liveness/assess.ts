/**
 * The active liveness check end to end: the frames' times, then every frame through the face pool (mesh, pose,
 * eyes, embedding), the faces the flatness test compares cropped, then sequence.ts's judgement.
 */
import os from 'node:os';
import type { Embedding, FacePool, FrameObservation } from '../face/index.js';
import { thresholdsFor } from '../identity/thresholds.js';
import { faceCrop } from './planarity.js';
import { ACTIVE_LIVENESS, frameStates, judgeSequence, signalsOf, timingReasons, type FrameSignals } from './sequence.js';
import { POSE_ACTIONS, type CapturedFrame, type LivenessChallenge, type LivenessReason, type LivenessVerdict } from './types.js';

export type LivenessAssessment = LivenessVerdict & {
  /** The match frame's embedding; null when the check failed. */
  embedding: Embedding | null;
  /** The embeddings of `probeFrames`, in their order (empty when the check failed). */
  views: Embedding[];
};

/** What the check needs of a face pool. */
export type FrameObserver = Pick<FacePool, 'observe'>;

function refused(reasons: LivenessReason[]): LivenessAssessment {
  return { passed: false, reasons, observed: [], matchFrame: null, probeFrames: [], embedding: null, views: [] };
}

/** `signals` with its face's pixels cropped for the flatness test (sharp's work, off the main thread). */
async function withCrop(signals: FrameSignals, image: Uint8Array, frame: { width: number; height: number }): Promise<FrameSignals> {
  const crop = await faceCrop(image, signals.mesh, frame);
  return crop ? { ...signals, crop } : signals;
}

/** One frame reduced to the check's signals, its face embedded (`embed`) and cropped; null when it shows no face. */
export async function frameSignals(faces: FrameObserver, image: Uint8Array, embed: boolean): Promise<FrameSignals | null> {
  const observation = await faces.observe(image, embed);
  const signals = signalsOf(observation);
  return signals && withCrop(signals, image, observation.image);
}

/**
 * Observes and embeds every frame through the pool, one per core at a time (its queue is bounded and shared).
 * The first frame refused (undecodable, too large) stops every lane: the rest would be work for nothing.
 */
async function observeAll(faces: FrameObserver, frames: readonly CapturedFrame[]): Promise<FrameObservation[]> {
  const results = new Array<FrameObservation>(frames.length);
  let next = 0;
  let failed = false;
  const lanes = Math.max(1, Math.min(os.availableParallelism(), frames.length));
  await Promise.all(
    Array.from({ length: lanes }, async () => {
      while (!failed && next < frames.length) {
        const i = next++;
        try {
          results[i] = await faces.observe(frames[i]!.image, true);
        } catch (e) {
          failed = true;
          throw e;
        }
      }
    }),
  );
  return results;
}

/**
 * Whether `frames` show one live face performing `challenge`'s actions in order, in time. The embedding of a
 * neutral frame from inside the verified sequence comes back for matching. Frames are the camera's own, in
 * capture order (not the mirrored preview). The same-face cut-offs (the operating match threshold and the
 * 'possible' grade) come from `thresholdsFile` (default: the shipped config/thresholds.json), as for every other
 * comparison of the deployment. Errors of the face pool
 * (ENGINE_BUSY, an undecodable image) throw.
 */
export async function assessSequence(
  faces: FrameObserver,
  challenge: LivenessChallenge,
  frames: CapturedFrame[],
  now: Date = new Date(),
  thresholdsFile?: string,
): Promise<LivenessAssessment> {
  if (frames.length < ACTIVE_LIVENESS.minFrames) return refused(['LIVENESS_TOO_FEW_FRAMES']);
  if (frames.length > ACTIVE_LIVENESS.maxFrames) return refused(['LIVENESS_TOO_MANY_FRAMES']);
  // Expired or mistimed frames are not worth the face engine's CPU.
  const timing = timingReasons(challenge, frames, now);
  if (timing.length > 0) return refused(timing);

  const observations = await observeAll(faces, frames);
  const signals = observations.map(signalsOf);
  const model = signals.find((s) => s?.embedding)?.embedding?.model;
  if (!model) return refused(['LIVENESS_NO_FACE']);
  // The flatness test pairs the first frame with turned or lifted ones only: just those are cropped.
  const states = frameStates(signals);
  await Promise.all(
    signals.map(async (s, i) => {
      if (s && (i === 0 || (POSE_ACTIONS as readonly string[]).includes(states[i]!))) signals[i] = await withCrop(s, frames[i]!.image, observations[i]!.image);
    }),
  );
  // Same person throughout, at the deployment's own thresholds (see SameFaceCutoffs).
  const thresholds = thresholdsFor(model, thresholdsFile);
  const verdict = await judgeSequence(challenge, signals, frames.map((f) => f.at), { same: thresholds.match, turned: thresholds.grades.possible.minScore });
  if (!verdict.passed || verdict.matchFrame === null) return { ...verdict, embedding: null, views: [] };
  return { ...verdict, embedding: signals[verdict.matchFrame]!.embedding!, views: verdict.probeFrames.map((i) => signals[i]!.embedding!) };
}
