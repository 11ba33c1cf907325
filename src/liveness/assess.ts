/**
 * The active liveness check end to end: the frames' times, then every frame through the face pool (mesh, pose,
 * eyes, embedding) and its face's pixels cropped for the flatness test, then sequence.ts's judgement.
 */
import os from 'node:os';
import type { Embedding, FacePool } from '../face/index.js';
import { thresholdsFor } from '../identity/thresholds.js';
import { faceCrop } from './planarity.js';
import { ACTIVE_LIVENESS, judgeSequence, signalsOf, timingReasons, type FrameSignals } from './sequence.js';
import type { CapturedFrame, LivenessChallenge, LivenessReason, LivenessVerdict } from './types.js';

export type LivenessAssessment = LivenessVerdict & {
  /** The match frame's embedding; null when the check failed. */
  embedding: Embedding | null;
};

/** What the check needs of a face pool. */
export type FrameObserver = Pick<FacePool, 'observe'>;

function refused(reasons: LivenessReason[]): LivenessAssessment {
  return { passed: false, reasons, observed: [], matchFrame: null, embedding: null };
}

/**
 * One frame reduced to the check's signals, its face embedded (`embed`) and cropped for the flatness test; null
 * when it shows no face. The crop is sharp's work, off the main thread.
 */
export async function frameSignals(faces: FrameObserver, image: Uint8Array, embed: boolean): Promise<FrameSignals | null> {
  const observation = await faces.observe(image, embed);
  const signals = signalsOf(observation);
  if (!signals) return null;
  const crop = await faceCrop(image, signals.mesh, observation.image);
  return crop ? { ...signals, crop } : signals;
}

/** Every frame's signals, one frame per core at a time through the pool (its queue is bounded and shared). */
async function observeAll(faces: FrameObserver, frames: readonly CapturedFrame[]): Promise<Array<FrameSignals | null>> {
  const results = new Array<FrameSignals | null>(frames.length);
  let next = 0;
  const lanes = Math.max(1, Math.min(os.availableParallelism(), frames.length));
  await Promise.all(
    Array.from({ length: lanes }, async () => {
      while (next < frames.length) {
        const i = next++;
        results[i] = await frameSignals(faces, frames[i]!.image, true);
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

  const signals = await observeAll(faces, frames);
  const model = signals.find((s) => s?.embedding)?.embedding?.model;
  if (!model) return refused(['LIVENESS_NO_FACE']);
  // Same person throughout, at the deployment's own thresholds (see SameFaceCutoffs).
  const thresholds = thresholdsFor(model, thresholdsFile);
  const verdict = judgeSequence(challenge, signals, frames.map((f) => f.at), { same: thresholds.match, turned: thresholds.grades.possible.minScore });
  if (!verdict.passed || verdict.matchFrame === null) return { ...verdict, embedding: null };
  return { ...verdict, embedding: signals[verdict.matchFrame]!.embedding! };
}
