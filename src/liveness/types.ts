import { randomInt } from 'node:crypto';

/**
 * The active liveness check's vocabulary: what the server asks for (a challenge), what the client sends back
 * (captured frames) and what the check concludes (a verdict). Pure data; no HTTP, no storage.
 */

/** One action the subject is asked to perform, each as an excursion from a neutral frontal pose and back. */
export type LivenessAction = 'turn-left' | 'turn-right' | 'look-up' | 'blink' | 'come-closer';

export const LIVENESS_ACTIONS: readonly LivenessAction[] = ['turn-left', 'turn-right', 'look-up', 'blink', 'come-closer'];

/** A single-use challenge: the actions, in the order they must be performed, and the time window (ISO 8601). */
export interface LivenessChallenge {
  id: string;
  nonce: string;
  actions: LivenessAction[];
  issuedAt: string;
  deadline: string;
}

/** One captured frame (an encoded image) and its capture time in ms since the challenge was shown, as the client reports it. */
export interface CapturedFrame {
  image: Uint8Array;
  at: number;
}

export type LivenessReason =
  | 'LIVENESS_EXPIRED'
  | 'LIVENESS_TOO_FEW_FRAMES'
  | 'LIVENESS_TOO_MANY_FRAMES'
  | 'LIVENESS_NO_FACE'
  | 'LIVENESS_ACTION_MISSING'
  | 'LIVENESS_WRONG_ORDER'
  | 'LIVENESS_FLAT_FACE'
  | 'LIVENESS_FACE_CHANGED'
  | 'LIVENESS_TIMING';

export interface LivenessVerdict {
  passed: boolean;
  reasons: LivenessReason[];
  /** The actions detected in the frames, in the order they were performed. */
  observed: LivenessAction[];
  /** Index of the frame used for matching, inside the verified sequence; null when the check failed. */
  matchFrame: number | null;
}

/** Uniform in [0, 1) from the CSPRNG: an attacker must not be able to predict the next challenge. */
function secureRandom(): number {
  return randomInt(0, 2 ** 48) / 2 ** 48;
}

/** 2 or 3 distinct actions in random order. `random` returns values in [0, 1) (injectable so tests can fix it). */
export function randomChallengeActions(random: () => number = secureRandom): LivenessAction[] {
  const pool = [...LIVENESS_ACTIONS];
  const count = 2 + Math.floor(random() * 2);
  const chosen: LivenessAction[] = [];
  for (let i = 0; i < count; i++) {
    const pick = Math.min(pool.length - 1, Math.floor(random() * pool.length));
    chosen.push(pool.splice(pick, 1)[0]!);
  }
  return chosen;
}
