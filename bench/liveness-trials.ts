/**
 * Liveness trials cut from real clips as the kiosk page films them: the annotated actions of the clips of
 * ../shared/eval/video-real and ../shared/eval/video (bench/data/liveness-real/*.json), each cut with the page's
 * still moments and asked for as a challenge. Shared by the real-motion liveness benchmark (bench/liveness-real.ts)
 * and the identification benchmark on those clips (bench/video-identification.ts).
 */
import { createHash } from 'node:crypto';
import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import type { DetectedFace, Embedding, FacePool, FrameObservation } from '../src/face/index.js';
import { assessSequence, type FrameObserver, type LivenessAssessment } from '../src/liveness/assess.js';
import { ACTIVE_LIVENESS } from '../src/liveness/sequence.js';
import type { CapturedFrame, LivenessAction } from '../src/liveness/types.js';
import { KIOSK_BLINK_FRAME_INTERVAL_MS, KIOSK_FRAME_INTERVAL_MS, kioskFrame, type Clip } from './clip-frames.js';

const ANNOTATIONS = path.resolve('bench/data/liveness-real');
/** The page's still moments before the first action and after the last (web/src/liveness.ts). */
export const STILL_MS = 600;
/** The phases of the kiosk's clock against the clip's (ms): half a frame interval apart. */
export const PHASES_MS = [0, KIOSK_FRAME_INTERVAL_MS / 2];

/** One clip's annotation (bench/data/liveness-real/*.json). */
export interface Annotation {
  file: string;
  /** Where the clip lies, relative to the repository root. */
  path: string;
  source: Record<string, string>;
  person: string;
  /** Where the clip shows the person in one continuous shot (s); absent: throughout. */
  shots?: Array<[number, number]>;
  /** `complete: false`: cut off by the clip; `extent: 'slight'`: smaller than a prompt asks for. Neither is a trial. */
  actions: Array<{ action: LivenessAction; start: number; end: number; complete?: boolean; extent?: 'slight'; notes?: string }>;
  notes?: string;
}

/** Every clip's annotation, by file name. */
export function readAnnotations(): Annotation[] {
  return readdirSync(ANNOTATIONS)
    .filter((f) => f.endsWith('.json'))
    .sort()
    .map((f) => JSON.parse(readFileSync(path.join(ANNOTATIONS, f), 'utf8')) as Annotation);
}

/** The pool, remembering answers by image hash: overlapping trials share frames. */
export function remembering(pool: FacePool): FrameObserver {
  const seen = new Map<string, Promise<FrameObservation>>();
  // a frame's face is the one its remembered observation found, so its bytes name its embedding
  const embeddings = new Map<string, Promise<Embedding>>();
  return {
    observe(bytes: Uint8Array, embed: boolean) {
      const key = `${embed}:${createHash('sha256').update(bytes).digest('hex')}`;
      if (!seen.has(key)) seen.set(key, pool.observe(bytes, embed));
      return seen.get(key)!;
    },
    embedObserved(bytes: Uint8Array, face: DetectedFace) {
      const key = createHash('sha256').update(bytes).digest('hex');
      if (!embeddings.has(key)) embeddings.set(key, pool.embedObserved(bytes, face));
      return embeddings.get(key)!;
    },
  };
}

export type Action = Annotation['actions'][number];

/** One trial: the actions asked for, and the stretch of the clip the kiosk films for them. */
export interface Cut {
  run: Action[];
  from: number;
  to: number;
}

/**
 * The trials of a clip: each action alone, and runs of 2 and 3 distinct actions in the clip's order. Only whole
 * actions of the size a prompt asks for are asked for (not `complete: false` or `extent: 'slight'`). A trial is
 * filmed from STILL_MS before its first action to STILL_MS after its last (the page's still moments), less where
 * another move of the head or the shot's edge comes sooner: a kiosk user asked for one action does not make another.
 * Other blinks may fall in it, as they do at a kiosk.
 */
export function trialsOf(annotation: Annotation): Cut[] {
  const all = [...annotation.actions].sort((a, b) => a.start - b.start);
  const actions = all.filter((a) => a.complete !== false && a.extent !== 'slight');
  const still = STILL_MS / 1000;
  const cutFor = (run: Action[]): Cut | null => {
    const start = run[0]!.start,
      end = run.at(-1)!.end;
    const others = all.filter((a) => a.action !== 'blink' && !run.includes(a));
    if (others.some((a) => a.start < end && a.end > start)) return null;
    const shot = annotation.shots?.find(([a, b]) => a <= start && end <= b) ?? (annotation.shots ? null : [0, Infinity]);
    if (!shot) return null;
    const from = Math.max(start - still, shot[0]!, ...others.filter((a) => a.end <= start).map((a) => a.end));
    const to = Math.min(end + still, shot[1]!, ...others.filter((a) => a.start >= end).map((a) => a.start));
    // The kiosk films at most 40 frames; a stretch too short for the check's least (6) is no trial either.
    const frames = (phaseMs: number): number => Math.floor((to - from - phaseMs / 1000) / (KIOSK_FRAME_INTERVAL_MS / 1000) + 1e-9) + 1;
    return frames(0) <= ACTIVE_LIVENESS.maxFrames && frames(Math.max(...PHASES_MS)) >= ACTIVE_LIVENESS.minFrames ? { run, from, to } : null;
  };
  const runs: Action[][] = actions.map((a) => [a]);
  for (const length of [2, 3]) {
    for (let i = 0; i + length <= actions.length; i++) {
      const run = actions.slice(i, i + length);
      const distinct = new Set(run.map((a) => a.action)).size === length;
      if (distinct && run.every((a, k) => k === 0 || a.start >= run[k - 1]!.end)) runs.push(run);
    }
  }
  return runs.flatMap((run) => cutFor(run) ?? []);
}

/**
 * The frames the kiosk would send for a trial, its clock `phaseMs` behind the clip's: every 200 ms, and every
 * `blinkIntervalMs` while a blink is asked (the page's blink step, modelled as the blink's annotated span and
 * 100 ms either side: the prompt comes before the blink, and the step ends once the blink is seen).
 */
export async function cut(clip: Clip, trial: Cut, phaseMs: number, blinkIntervalMs: number = KIOSK_BLINK_FRAME_INTERVAL_MS): Promise<CapturedFrame[]> {
  const frames: CapturedFrame[] = [];
  const blinkSteps = trial.run.filter((a) => a.action === 'blink').map((a) => [a.start - 0.1, a.end + 0.1] as const);
  const inBlinkStep = (t: number): boolean => blinkSteps.some(([a, b]) => t >= a - 1e-9 && t < b);
  const end = Math.min(clip.duration, trial.to);
  for (let t = Math.max(0, trial.from) + phaseMs / 1000, at = 300; t <= end + 1e-9 && frames.length < ACTIVE_LIVENESS.maxFrames;) {
    const image = await kioskFrame(clip, t);
    if (!image) break;
    frames.push({ image, at });
    const step = inBlinkStep(t) || inBlinkStep(t + blinkIntervalMs / 1000) ? blinkIntervalMs : KIOSK_FRAME_INTERVAL_MS;
    t += step / 1000;
    at += step;
  }
  return frames;
}

const issued = Date.parse('2026-01-01T10:00:00Z');

/** The check's assessment of `frames` filmed for a challenge asking for `actions`, as the server makes it. */
export function assess(faces: FrameObserver, actions: LivenessAction[], frames: CapturedFrame[]): Promise<LivenessAssessment> {
  const challenge = { id: 'bench', nonce: 'bench', actions, issuedAt: new Date(issued).toISOString(), deadline: new Date(issued + 20_000).toISOString() };
  return assessSequence(faces, challenge, frames, new Date(issued + frames.at(-1)!.at + 500));
}
