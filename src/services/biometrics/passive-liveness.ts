import { MedfaceError } from '../../errors.js';
import type { FacePool, PassiveReason } from '../../face/index.js';

/** The passive presentation-attack verdict on one image's subject face: a signal, not a control (docs/liveness.md). */
export interface PassiveLivenessReport {
  /** 0..1, 1 = looks live. */
  score: number;
  /** `score` ≥ `threshold`, the operating threshold of config/passive-liveness.json. */
  live: boolean;
  threshold: number;
  model: string;
  /** When not live, the cues that pulled the score down, worst first. */
  reasons: PassiveReason[];
}

/** Scores the subject face of an image; `NO_FACE` when there is none. */
export async function passiveLivenessOf(pool: FacePool, bytes: Uint8Array): Promise<PassiveLivenessReport> {
  const analysis = await pool.analyze(bytes, { purpose: 'verify', embed: false });
  const liveness = analysis.faces[analysis.subject]?.liveness;
  if (!liveness) throw new MedfaceError('NO_FACE', 'No face was found in the image.', { reasons: analysis.reasons });
  return { score: liveness.passive, live: liveness.live, threshold: liveness.threshold, model: liveness.model, reasons: liveness.reasons };
}
