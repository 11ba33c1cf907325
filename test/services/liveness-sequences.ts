import { decodeImage, meshTriangulation, type FacePool, type RgbImage } from '../../src/face/index.js';
import { genuineProxy, toFrames, type SourceFace } from '../liveness/pad-sequences.js';
import type { CapturedFrame, LivenessAction } from '../../src/liveness/types.js';

/**
 * Frame sequences for the liveness tests of the services, the server and the browser: a GENUINE PROXY (the
 * face of one photo turned, lifted or blinking, rendered through its 3-D mesh by test/liveness/pad-sequences.ts)
 * and a still photo shown for the same time, the simplest presentation attack.
 */

/** A photo's pixels and its face's mesh, as the renderer needs them. */
export async function sourceFace(pool: FacePool, photo: Uint8Array): Promise<SourceFace> {
  const observed = await pool.observe(photo, false);
  if (!observed.subject) throw new Error('no face in the source photo');
  const { data, width, height } = await decodeImage(photo);
  return { image: { data, width, height }, mesh: observed.subject.mesh };
}

/** A steady, repeatable wobble (no Math.random: a failing test must fail again). */
export function steadyJitter(seed = 1): () => number {
  let state = seed;
  return () => {
    state = (state * 16807) % 2147483647;
    return state / 2147483647;
  };
}

/**
 * Frames per action in these tests: out, held, back and settled, about half of what the kiosk films (the
 * benchmark uses the kiosk's timeline), to keep the tests' CPU modest.
 */
const FRAMES_PER_ACTION = 6;
/**
 * Time between the tests' frames: the sequence is rendered before its challenge is issued and sent at once, and
 * the server refuses frames claimed more than 2 s after the challenge's issue at the time they arrive.
 */
const TEST_FRAME_INTERVAL_MS = 80;

/** The rendered images of `photo`'s face performing `actions` (neutral first and last). */
export async function genuineImages(pool: FacePool, photo: Uint8Array, actions: readonly LivenessAction[]): Promise<RgbImage[]> {
  return genuineProxy(await sourceFace(pool, photo), meshTriangulation(), actions, steadyJitter(), { framesPerAction: FRAMES_PER_ACTION });
}

/** The genuine proxy as captured frames, TEST_FRAME_INTERVAL_MS apart from `startMs`. */
export async function genuineFrames(pool: FacePool, photo: Uint8Array, actions: readonly LivenessAction[], startMs = 300): Promise<CapturedFrame[]> {
  return toFrames(await genuineImages(pool, photo, actions), startMs, TEST_FRAME_INTERVAL_MS);
}

/** The photo itself, `count` times: a print held still in front of the camera. */
export function stillFrames(photo: Uint8Array, count = 10, startMs = 300): CapturedFrame[] {
  return Array.from({ length: count }, (_, i) => ({ image: photo, at: startMs + i * TEST_FRAME_INTERVAL_MS }));
}
