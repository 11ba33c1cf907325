/**
 * The active liveness check end to end: the frames' times, then every frame through the face pool (mesh, pose,
 * eyes), the key frames' embeddings and the faces the flatness test compares cropped, then sequence.ts's
 * judgement.
 */
import os from 'node:os';
import type { Embedding, FacePool, FrameObservation } from '../face/index.js';
import { thresholdsFor } from '../identity/thresholds.js';
import { faceCrop } from './planarity.js';
import { ACTIVE_LIVENESS, judgeSequence, readSequence, signalsOf, timingReasons, type FrameSignals } from './sequence.js';
import { POSE_ACTIONS, type CapturedFrame, type LivenessChallenge, type LivenessReason, type LivenessVerdict } from './types.js';

export type LivenessAssessment = LivenessVerdict & {
  /** The match frame's embedding; null when the check failed. */
  embedding: Embedding | null;
  /** The embeddings of `probeFrames`, in their order (empty when the check failed). */
  views: Embedding[];
};

/** What the check needs of a face pool. */
export type FrameObserver = Pick<FacePool, 'observe' | 'embedObserved'>;

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
 * Runs `work` on each of `indices` through the pool, one per core at a time (its queue is bounded and shared).
 * The first failure (an undecodable or too large frame) stops every lane: the rest would be work for nothing.
 */
async function inLanes(indices: readonly number[], work: (i: number) => Promise<void>): Promise<void> {
  let next = 0;
  let failed = false;
  const lanes = Math.max(1, Math.min(os.availableParallelism(), indices.length));
  await Promise.all(
    Array.from({ length: lanes }, async () => {
      while (!failed && next < indices.length) {
        try {
          await work(indices[next++]!);
        } catch (e) {
          failed = true;
          throw e;
        }
      }
    }),
  );
}

/**
 * Whether `frames` show one live face performing `challenge`'s actions in order, in time. The embedding of a
 * neutral frame from inside the verified sequence comes back for matching. Frames are the camera's own, in
 * capture order (not the mirrored preview). The same-face cut-offs (the operating match threshold and the
 * 'possible' grade) come from `thresholdsFile` (default: the shipped config/thresholds.json), as for every other
 * comparison of the deployment. Errors of the face pool (ENGINE_BUSY, an undecodable image) throw.
 *
 * The work is done in the order the decision needs it, and stops once the answer is known: every frame is
 * observed (mesh, pose, eyes) without its embedding, which costs as much again; a sequence whose motion is
 * refused (faces, actions, order) stops there. Otherwise only its key frames (readSequence) are embedded and
 * cropped for the flatness test; every other frame is embedded only when those do not show one face.
 */
export async function assessSequence(faces: FrameObserver, challenge: LivenessChallenge, frames: CapturedFrame[], now: Date = new Date(), thresholdsFile?: string): Promise<LivenessAssessment> {
  if (frames.length < ACTIVE_LIVENESS.minFrames) return refused(['LIVENESS_TOO_FEW_FRAMES']);
  if (frames.length > ACTIVE_LIVENESS.maxFrames) return refused(['LIVENESS_TOO_MANY_FRAMES']);
  // Expired or mistimed frames are not worth the face engine's CPU.
  const timing = timingReasons(challenge, frames, now);
  if (timing.length > 0) return refused(timing);

  const all = frames.map((_, i) => i);
  const observations = new Array<FrameObservation>(frames.length);
  await inLanes(all, async (i) => {
    observations[i] = await faces.observe(frames[i]!.image, false);
  });
  const signals = observations.map(signalsOf);
  const times = frames.map((f) => f.at);
  const reading = readSequence(challenge, signals, times);
  if (reading.reasons.length > 0) return { passed: false, reasons: reading.reasons, observed: reading.runs.map((r) => r.action), matchFrame: null, probeFrames: [], embedding: null, views: [] };

  const embedded = new Set<number>();
  const embed = (indices: readonly number[]): Promise<void> =>
    inLanes(
      indices.filter((i) => signals[i] && !embedded.has(i)),
      async (i) => {
        embedded.add(i);
        // the face observed above, embedded without a second detection
        const embedding = await faces.embedObserved(frames[i]!.image, observations[i]!.subject!);
        signals[i] = { ...signals[i]!, embedding };
      },
    );
  // The flatness test pairs the first frame with turned or lifted ones only: just those are cropped. The crop is
  // added to the frame's signals as they are when it is ready: its embedding may have come back meanwhile (at
  // once, from a pool that remembers), and a frame whose embedding was lost would never be compared.
  const crop = (indices: readonly number[]): Promise<unknown> =>
    Promise.all(
      indices.map(async (i) => {
        const s = signals[i];
        if (!s || s.crop || !(i === 0 || (POSE_ACTIONS as readonly string[]).includes(reading.states[i]!))) return;
        const pixels = await faceCrop(frames[i]!.image, s.mesh, observations[i]!.image);
        if (pixels) signals[i] = { ...signals[i]!, crop: pixels };
      }),
    );
  await Promise.all([embed(reading.keyFrames), crop(reading.keyFrames)]);
  const model = signals[reading.matchFrame!]?.embedding?.model;
  if (!model) return refused(['LIVENESS_NO_FACE']);
  // Same person throughout, at the deployment's own thresholds (see SameFaceCutoffs).
  const thresholds = thresholdsFor(model, thresholdsFile);
  const cutoffs = { same: thresholds.match, turned: thresholds.grades.possible.minScore };
  let verdict = await judgeSequence(challenge, signals, times, cutoffs);
  if (verdict.reasons.includes('LIVENESS_FACE_CHANGED')) {
    // The key frames alone do not show one face: compare every frame, as the chain from frame to frame needs
    // (and a single glitching frame can then be set aside, which moves the peaks).
    await Promise.all([embed(all), crop(all)]);
    verdict = await judgeSequence(challenge, signals, times, cutoffs);
  }
  if (!verdict.passed || verdict.matchFrame === null) return { ...verdict, embedding: null, views: [] };
  return { ...verdict, embedding: signals[verdict.matchFrame]!.embedding!, views: verdict.probeFrames.map((i) => signals[i]!.embedding!) };
}
