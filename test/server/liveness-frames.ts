import type { LightMyRequestResponse } from 'fastify';
import type { FacePool } from '../../src/face/index.js';
import { randomChallengeActions, type CapturedFrame, type LivenessAction } from '../../src/liveness/types.js';
import type { LivenessPurpose } from '../../src/services/biometrics/liveness.js';
import { genuineFrames, stillFrames } from '../services/liveness-sequences.js';

/** Renderings per photo and actions, kept for the whole test file. */
const rendered = new Map<Buffer, Map<string, Promise<CapturedFrame[]>>>();

function framesOf(pool: FacePool, face: Buffer, actions: LivenessAction[]): Promise<CapturedFrame[]> {
  const byActions = rendered.get(face) ?? new Map<string, Promise<CapturedFrame[]>>();
  rendered.set(face, byActions);
  let frames = byActions.get(actions.join());
  if (!frames) {
    frames = genuineFrames(pool, face, actions);
    byActions.set(actions.join(), frames);
  }
  return frames;
}

/** The random source of the test deployments' challenges: their actions are known before they are issued. */
export const FIXED_RANDOM = (): number => 0;

/**
 * The liveness part of a request body, as a patient's camera page sends it: `face` performing the actions of
 * the test deployment's challenges (a GENUINE PROXY rendered from the photo's 3-D mesh, or the photo itself
 * held still when `still`), sent for a challenge issued for `purpose` through `post` (which adds the caller's
 * credentials). Rendered first: a challenge's deadline runs from its issue.
 */
export async function livenessAnswer(
  pool: FacePool,
  post: (url: string, payload: object) => Promise<LightMyRequestResponse>,
  face: Buffer,
  purpose: LivenessPurpose,
  still = false,
): Promise<{ challengeId: string; frames: { image: string; at: number }[] }> {
  const actions = randomChallengeActions(FIXED_RANDOM);
  const frames = still ? stillFrames(face) : await framesOf(pool, face, actions);
  const issued = await post('/api/v1/liveness/challenges', { purpose });
  if (issued.statusCode !== 201) throw new Error(`no challenge: ${issued.statusCode} ${issued.body}`);
  const challenge = issued.json<{ id: string; actions: LivenessAction[] }>();
  if (challenge.actions.join() !== actions.join()) throw new Error('the deployment does not use FIXED_RANDOM for its challenges');
  return { challengeId: challenge.id, frames: frames.map((f) => ({ image: Buffer.from(f.image).toString('base64'), at: f.at })) };
}
