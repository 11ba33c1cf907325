/**
 * The active liveness check end to end: frames through the face pool, then sequence.ts's judgement, then the
 * same-face check on a sample of embedded frames.
 */
import os from 'node:os';
import type { Embedding, FacePool, FrameObservation } from '../face/index.js';
import { thresholdsFor } from '../identity/thresholds.js';
import { ACTIVE_LIVENESS, changedFaces, judgeSequence, signalsOf, type FrameSignals } from './sequence.js';
import type { CapturedFrame, LivenessChallenge, LivenessReason, LivenessVerdict } from './types.js';

export type LivenessAssessment = LivenessVerdict & {
  /** The match frame's embedding; null when the check failed. */
  embedding: Embedding | null;
};

/** What the check needs of a face pool. */
export type FrameObserver = Pick<FacePool, 'observe'>;

function refused(reason: LivenessReason): LivenessAssessment {
  return { passed: false, reasons: [reason], observed: [], matchFrame: null, embedding: null };
}

/**
 * Observes frames through the pool, one per core at a time (its queue is bounded and shared with other
 * requests), in order of `indexes`.
 */
async function observeAll(faces: FrameObserver, frames: readonly CapturedFrame[], indexes: readonly number[], embed: boolean): Promise<Map<number, FrameObservation>> {
  const results = new Map<number, FrameObservation>();
  let next = 0;
  const lanes = Math.max(1, Math.min(os.availableParallelism(), indexes.length));
  await Promise.all(
    Array.from({ length: lanes }, async () => {
      while (next < indexes.length) {
        const i = indexes[next++]!;
        results.set(i, await faces.observe(frames[i]!.image, embed));
      }
    }),
  );
  return results;
}

/**
 * Whether `frames` show one live face performing `challenge`'s actions in order, in time. The embedding of a
 * neutral frame from inside the verified sequence comes back for matching. Frames are the camera's own, in
 * capture order (not the mirrored preview). The same-face cut-off comes from `thresholdsFile` (default: the
 * shipped config/thresholds.json), as for every other comparison of the deployment. Errors of the face pool
 * (ENGINE_BUSY, an undecodable image) throw.
 */
export async function assessSequence(
  faces: FrameObserver,
  challenge: LivenessChallenge,
  frames: CapturedFrame[],
  now: Date = new Date(),
  thresholdsFile?: string,
): Promise<LivenessAssessment> {
  if (frames.length < ACTIVE_LIVENESS.minFrames) return refused('LIVENESS_TOO_FEW_FRAMES');
  if (frames.length > ACTIVE_LIVENESS.maxFrames) return refused('LIVENESS_TOO_MANY_FRAMES');

  const observed = await observeAll(faces, frames, frames.map((_, i) => i), false);
  const signals: Array<FrameSignals | null> = frames.map((_, i) => signalsOf(observed.get(i)!));
  const { toEmbed, candidate, ...verdict } = judgeSequence(challenge, frames, signals, now);
  const reasons = new Set(verdict.reasons);
  let matchEmbedding: Embedding | undefined;
  // Expired or mistimed frames are not worth the embeddings' CPU.
  if (candidate !== null && !reasons.has('LIVENESS_EXPIRED') && !reasons.has('LIVENESS_TIMING')) {
    const embeddings = new Map<number, Embedding>();
    for (const [i, o] of await observeAll(faces, frames, toEmbed, true)) {
      if (o.subject?.embedding) embeddings.set(i, o.subject.embedding);
    }
    matchEmbedding = embeddings.get(candidate);
    if (!matchEmbedding) {
      reasons.add('LIVENESS_NO_FACE');
    } else {
      // Same person throughout: every sampled frame at least as similar to the match frame as the 'possible' grade.
      const minSimilarity = thresholdsFor(matchEmbedding.model, thresholdsFile).grades.possible.minScore;
      if (changedFaces(candidate, embeddings, minSimilarity).length > 0) reasons.add('LIVENESS_FACE_CHANGED');
    }
  }
  if (reasons.size > 0 || !matchEmbedding) return { ...verdict, passed: false, reasons: [...reasons], matchFrame: null, embedding: null };
  return { ...verdict, passed: true, matchFrame: candidate, embedding: matchEmbedding };
}
