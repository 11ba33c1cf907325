/**
 * Active liveness on REAL motion: BPCER on real people's annotated actions (bench/data/liveness-real/*.json, one
 * file per clip of ../shared/eval/video-real and ../shared/eval/video), beside the same on genuine proxies rendered
 * from photos (bench/liveness-active.ts's, a few identities).
 *
 *   npx tsx bench/liveness-real.ts [--identities 8] [--seed 1] [--workers 2] [--blink-fps 10] [--out scratch/liveness-real.json]
 *   npx tsx bench/liveness-real.ts --trace CLIP     per-frame yaw, pitch, eye openness every 0.1 s (for annotating)
 *
 * Each annotated action is cut as the kiosk page films it (bench/clip-frames.ts: a frame every 200 ms, every
 * 100 ms while a blink is asked, at ≤ 640 px, JPEG 0.85), from 600 ms before its start to 600 ms after its end
 * (the page's still moments), and the check is asked for that action; so are the pairs and triples of distinct
 * actions that follow one another in a clip. Every trial is cut at two phases of the kiosk's clock against the
 * clip's, half a frame interval apart: a blink of 150 ms shows in a frame at one and not at the other. A trial of a blink alone is refused as LIVENESS_FLAT_FACE by design (a blink
 * gives no 3-D evidence and no challenge asks for it alone): it counts as passed when that is the only reason.
 */
import { readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { cpus, loadavg } from 'node:os';
import path from 'node:path';
import { createHash } from 'node:crypto';
import { genuineProxy, toFrames } from '../src/evaluation/pad-sequences.js';
import { FacePool, meshTriangulation, type DetectedFace, type Embedding, type FrameObservation } from '../src/face/index.js';
import { assessSequence, type FrameObserver } from '../src/liveness/assess.js';
import { ACTIVE_LIVENESS, signalsOf } from '../src/liveness/sequence.js';
import { LIVENESS_ACTIONS, POSE_ACTIONS, type CapturedFrame, type LivenessAction, type LivenessReason, type LivenessVerdict } from '../src/liveness/types.js';
import { decodeClip, KIOSK_BLINK_FRAME_INTERVAL_MS, KIOSK_FRAME_INTERVAL_MS, kioskFrame, type Clip } from './clip-frames.js';
import { proxySources } from './proxy-sources.js';
import { arg, seeded } from './options.js';

const ANNOTATIONS = path.resolve('bench/data/liveness-real');
/** The page's still moments before the first action and after the last (web/src/liveness.ts). */
const STILL_MS = 600;
/**
 * How often the page films while a blink is asked (ms; `--blink-fps 5` for the page before it filmed blinks
 * faster), and the phases of the kiosk's clock against the clip's (ms): half a frame interval apart, at the
 * blink's rate (at 10 fps, 100 ms would be the same frames again).
 */
const BLINK_INTERVAL_MS = 1000 / Number(arg('blink-fps', String(1000 / KIOSK_BLINK_FRAME_INTERVAL_MS)));
const PHASES_MS = [0, KIOSK_FRAME_INTERVAL_MS / 2];
const phasesOf = (actions: readonly LivenessAction[]): number[] => (actions.includes('blink') ? [0, Math.min(KIOSK_FRAME_INTERVAL_MS, BLINK_INTERVAL_MS) / 2] : PHASES_MS);

/** One clip's annotation (bench/data/liveness-real/*.json). */
interface Annotation {
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

/** The pool, remembering answers by image hash: overlapping trials share frames. */
function remembering(pool: FacePool): FrameObserver {
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

type Action = Annotation['actions'][number];

/** One trial: the actions asked for, and the stretch of the clip the kiosk films for them. */
interface Cut {
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
function trialsOf(annotation: Annotation): Cut[] {
  const all = [...annotation.actions].sort((a, b) => a.start - b.start);
  const actions = all.filter((a) => a.complete !== false && a.extent !== 'slight');
  const still = STILL_MS / 1000;
  const cutFor = (run: Action[]): Cut | null => {
    const start = run[0]!.start, end = run.at(-1)!.end;
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
 * BLINK_INTERVAL_MS while a blink is asked (the page's blink step, modelled as the blink's annotated span and
 * 100 ms either side: the prompt comes before the blink, and the step ends once the blink is seen).
 */
async function cut(clip: Clip, trial: Cut, phaseMs: number): Promise<CapturedFrame[]> {
  const frames: CapturedFrame[] = [];
  const blinkSteps = trial.run.filter((a) => a.action === 'blink').map((a) => [a.start - 0.1, a.end + 0.1] as const);
  const inBlinkStep = (t: number): boolean => blinkSteps.some(([a, b]) => t >= a - 1e-9 && t < b);
  const end = Math.min(clip.duration, trial.to);
  for (let t = Math.max(0, trial.from) + phaseMs / 1000, at = 300; t <= end + 1e-9 && frames.length < ACTIVE_LIVENESS.maxFrames; ) {
    const image = await kioskFrame(clip, t);
    if (!image) break;
    frames.push({ image, at });
    const step = inBlinkStep(t) || inBlinkStep(t + BLINK_INTERVAL_MS / 1000) ? BLINK_INTERVAL_MS : KIOSK_FRAME_INTERVAL_MS;
    t += step / 1000;
    at += step;
  }
  return frames;
}

const issued = Date.parse('2026-01-01T10:00:00Z');

async function judge(faces: FrameObserver, actions: LivenessAction[], frames: CapturedFrame[]): Promise<LivenessVerdict> {
  const challenge = { id: 'bench', nonce: 'bench', actions, issuedAt: new Date(issued).toISOString(), deadline: new Date(issued + 20_000).toISOString() };
  const { embedding: _embedding, views: _views, ...verdict } = await assessSequence(faces, challenge, frames, new Date(issued + frames.at(-1)!.at + 500));
  return verdict;
}

/** Passed, or (a blink alone) refused only for want of 3-D evidence, which a blink never gives. */
function accepted(actions: readonly LivenessAction[], verdict: LivenessVerdict): boolean {
  if (verdict.passed) return true;
  const poseAsked = actions.some((a) => POSE_ACTIONS.includes(a));
  return !poseAsked && verdict.reasons.length === 1 && verdict.reasons[0] === 'LIVENESS_FLAT_FACE' && actions.every((a) => verdict.observed.includes(a));
}

interface Trial {
  clip: string;
  actions: LivenessAction[];
  start: number;
  end: number;
  phaseMs: number;
  frames: number;
  accepted: boolean;
  reasons: LivenessReason[];
  observed: LivenessAction[];
}

/** BPCER per single action type, over single actions, over pairs and triples. */
function summarise(trials: readonly Trial[]): Record<string, unknown> {
  const rate = (rows: readonly Trial[]): Record<string, unknown> => {
    const refused = rows.filter((r) => !r.accepted);
    const reasons: Record<string, number> = {};
    for (const r of refused) for (const reason of r.reasons) reasons[reason] = (reasons[reason] ?? 0) + 1;
    return { trials: rows.length, refused: refused.length, bpcer: rows.length ? +(refused.length / rows.length).toFixed(3) : null, reasons };
  };
  const singles = trials.filter((t) => t.actions.length === 1);
  return {
    perAction: Object.fromEntries(LIVENESS_ACTIONS.map((a) => [a, rate(singles.filter((t) => t.actions[0] === a))])),
    singleActions: rate(singles),
    pairs: rate(trials.filter((t) => t.actions.length === 2)),
    triples: rate(trials.filter((t) => t.actions.length === 3)),
  };
}

async function trace(file: string): Promise<void> {
  const pool = await FacePool.create({ size: 1 });
  const clip = decodeClip(file);
  console.log('t,faces,yaw,pitch,eyeLeft,eyeRight,interEye');
  for (let i = 0; i * 0.1 < clip.duration; i++) {
    const image = await kioskFrame(clip, i * 0.1);
    if (!image) break;
    const seen = await pool.observe(image, false);
    const s = signalsOf(seen);
    console.log(s ? [(i * 0.1).toFixed(1), seen.faces, s.yaw.toFixed(1), s.pitch.toFixed(1), seen.subject!.eyes.left.toFixed(3), seen.subject!.eyes.right.toFixed(3), s.interEye.toFixed(1)].join(',') : `${(i * 0.1).toFixed(1)},0`);
  }
  await pool.close();
}

async function main(): Promise<void> {
  const traced = arg('trace', '');
  if (traced) return trace(traced);
  const started = Date.now();
  const pool = await FacePool.create({ size: Number(arg('workers', '2')) });
  const faces = remembering(pool);

  const annotations: Annotation[] = readdirSync(ANNOTATIONS)
    .filter((f) => f.endsWith('.json'))
    .sort()
    .map((f) => JSON.parse(readFileSync(path.join(ANNOTATIONS, f), 'utf8')) as Annotation);
  const real: Trial[] = [];
  for (const annotation of annotations) {
    const clip = decodeClip(path.resolve(annotation.path));
    for (const trial of trialsOf(annotation)) {
      const actions = trial.run.map((a) => a.action);
      const start = trial.run[0]!.start, end = trial.run.at(-1)!.end;
      for (const phaseMs of phasesOf(actions)) {
        const frames = await cut(clip, trial, phaseMs);
        const verdict = await judge(faces, actions, frames);
        const row = { clip: annotation.file, actions, start, end, phaseMs, frames: frames.length, accepted: accepted(actions, verdict), reasons: verdict.reasons, observed: verdict.observed };
        real.push(row);
        console.error(`${annotation.file} ${actions.join(',')} ${start}-${end}s +${phaseMs}ms: ${row.accepted ? 'accepted' : `refused ${verdict.reasons.join('+')}`} (observed ${verdict.observed.join(',') || 'nothing'})`);
      }
    }
  }

  // Genuine proxies: each source photo performing each action alone, and one random challenge of 2–3 actions.
  const identities = Number(arg('identities', '8'));
  const random = seeded(Number(arg('seed', '1')) * 7919);
  const { sources } = await proxySources(pool, identities);
  const triangles = meshTriangulation();
  const proxies: Trial[] = [];
  for (const { name, face } of sources) {
    const challenges: LivenessAction[][] = LIVENESS_ACTIONS.map((a) => [a]);
    for (const actions of challenges) {
      const frames = await toFrames(genuineProxy(face, triangles, actions, random));
      const verdict = await judge(faces, actions, frames);
      proxies.push({ clip: name, actions, start: 0, end: 0, phaseMs: 0, frames: frames.length, accepted: accepted(actions, verdict), reasons: verdict.reasons, observed: verdict.observed });
    }
    console.error(`proxy ${name}: ${proxies.filter((p) => p.clip === name).map((p) => `${p.actions.join(',')} ${p.accepted ? 'ok' : p.reasons.join('+')}`).join('; ')}`);
  }
  await pool.close();

  const summary = {
    command: `npx tsx bench/liveness-real.ts ${process.argv.slice(2).join(' ')}`.trim(),
    machine: `${cpus().length}x ${cpus()[0]?.model ?? '?'}, load average at end ${loadavg()[0]!.toFixed(1)} (shared)`,
    seconds: Math.round((Date.now() - started) / 1000),
    clips: annotations.map((a) => ({ file: a.file, person: a.person, actions: a.actions.length })),
    annotatedActions: Object.fromEntries(LIVENESS_ACTIONS.map((a) => [a, annotations.flatMap((x) => x.actions).filter((x) => x.action === a).length])),
    phasesMs: { blinks: phasesOf(['blink']), others: PHASES_MS },
    blinkFrameIntervalMs: BLINK_INTERVAL_MS,
    real: summarise(real),
    proxies: { identities: sources.length, ...summarise(proxies) },
    operatingPoint: ACTIVE_LIVENESS,
    trials: real,
    proxyTrials: proxies,
  };
  writeFileSync(arg('out', 'scratch/liveness-real.json'), JSON.stringify(summary, null, 2));
  const { trials: _t, proxyTrials: _p, ...printed } = summary;
  console.log(JSON.stringify(printed, null, 2));
}

await main();
