import { randomInt } from 'node:crypto';

/**
 * The active liveness check's vocabulary: what the server asks for (a challenge), what the client sends back
 * (captured frames) and what the check concludes (a verdict). Pure data; no HTTP, no storage.
 */

/** One action the subject is asked to perform, each as an excursion from a neutral frontal pose and back. */
export type LivenessAction = 'turn-left' | 'turn-right' | 'look-up' | 'blink' | 'come-closer';

export const LIVENESS_ACTIONS: readonly LivenessAction[] = ['turn-left', 'turn-right', 'look-up', 'blink', 'come-closer'];

/** Actions whose geometry a flat picture cannot reproduce: only these give the check its 3-D evidence. */
export const POSE_ACTIONS: readonly LivenessAction[] = ['turn-left', 'turn-right', 'look-up'];

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
  /** An action was performed that the challenge did not ask for (a recording of every action passes no challenge). */
  | 'LIVENESS_EXTRA_ACTION'
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
  /** The frames whose faces may make the identification probe, best view first (the match frame); empty when the check failed. */
  probeFrames: number[];
}

/** Uniform in [0, 1) from the CSPRNG: an attacker must not be able to predict the next challenge. */
function secureRandom(): number {
  return randomInt(0, 2 ** 47) / 2 ** 47;
}

/**
 * 2 or 3 distinct actions in random order, at least one of them a POSE_ACTION (the check needs one to tell a
 * head from a picture). `random` returns values in [0, 1) (injectable so tests can fix it).
 */
export function randomChallengeActions(random: () => number = secureRandom): LivenessAction[] {
  const pick = <T>(from: T[]): T => from.splice(Math.min(from.length - 1, Math.floor(random() * from.length)), 1)[0]!;
  const count = 2 + Math.floor(random() * 2);
  const poses = [...POSE_ACTIONS];
  const chosen: LivenessAction[] = [pick(poses)];
  const rest = LIVENESS_ACTIONS.filter((a) => a !== chosen[0]);
  while (chosen.length < count) chosen.push(pick(rest));
  // Fisher-Yates, so the pose action is not always first.
  for (let i = chosen.length - 1; i > 0; i--) {
    const j = Math.min(i, Math.floor(random() * (i + 1)));
    [chosen[i], chosen[j]] = [chosen[j]!, chosen[i]!];
  }
  return chosen;
}
