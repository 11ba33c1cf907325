/**
 * Active liveness on REAL motion: BPCER on real people's annotated actions (bench/data/liveness-real/*.json, one
 * file per clip of ../shared/eval/video-real and ../shared/eval/video), beside the same on genuine proxies rendered
 * from photos (bench/liveness-active.ts's, a few identities).
 *
 *   npx tsx bench/liveness-real.ts [--identities 8] [--seed 1] [--workers 2] [--blink-fps 10] [--out scratch/liveness-real.json]
 *   npx tsx bench/liveness-real.ts --trace CLIP     per-frame yaw, pitch, eye openness and aperture every 0.1 s (for annotating)
 *
 * Each annotated action is cut as the kiosk page films it (bench/clip-frames.ts: a frame every 200 ms, every
 * 100 ms while a blink is asked, at ≤ 640 px, JPEG 0.85), from 600 ms before its start to 600 ms after its end
 * (the page's still moments), and the check is asked for that action; so are the pairs and triples of distinct
 * actions that follow one another in a clip. Every trial is cut at two phases of the kiosk's clock against the
 * clip's, half a frame interval apart: a blink of 150 ms shows in a frame at one and not at the other. A trial of a blink alone is refused as LIVENESS_FLAT_FACE by design (a blink
 * gives no 3-D evidence and no challenge asks for it alone): it counts as passed when that is the only reason.
 */
import { writeFileSync } from 'node:fs';
import { cpus, loadavg } from 'node:os';
import path from 'node:path';
import { genuineProxy, toFrames } from '../test/liveness/pad-sequences.js';
import { FacePool, meshTriangulation } from '../src/face/index.js';
import type { FrameObserver } from '../src/liveness/assess.js';
import { ACTIVE_LIVENESS, signalsOf } from '../src/liveness/sequence.js';
import { LIVENESS_ACTIONS, POSE_ACTIONS, type CapturedFrame, type LivenessAction, type LivenessReason, type LivenessVerdict } from '../src/liveness/types.js';
import { decodeClip, KIOSK_BLINK_FRAME_INTERVAL_MS, KIOSK_FRAME_INTERVAL_MS, kioskFrame } from './clip-frames.js';
import { assess, cut, PHASES_MS, readAnnotations, remembering, trialsOf } from './liveness-trials.js';
import { proxySources } from './proxy-sources.js';
import { arg, seeded } from './options.js';

/**
 * How often the page films while a blink is asked (ms; `--blink-fps 5` for the page before it filmed blinks
 * faster), and the phases of the kiosk's clock against the clip's (ms): half a frame interval apart, at the
 * blink's rate (at 10 fps, 100 ms would be the same frames again).
 */
const BLINK_INTERVAL_MS = 1000 / Number(arg('blink-fps', String(1000 / KIOSK_BLINK_FRAME_INTERVAL_MS)));
const phasesOf = (actions: readonly LivenessAction[]): number[] => (actions.includes('blink') ? [0, Math.min(KIOSK_FRAME_INTERVAL_MS, BLINK_INTERVAL_MS) / 2] : PHASES_MS);

async function judge(faces: FrameObserver, actions: LivenessAction[], frames: CapturedFrame[]): Promise<LivenessVerdict> {
  const { embedding: _embedding, views: _views, ...verdict } = await assess(faces, actions, frames);
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
  console.log('t,faces,yaw,pitch,eyeLeft,eyeRight,aperture,interEye');
  for (let i = 0; i * 0.1 < clip.duration; i++) {
    const image = await kioskFrame(clip, i * 0.1);
    if (!image) break;
    const seen = await pool.observe(image, false);
    const s = signalsOf(seen);
    console.log(
      s
        ? [
            (i * 0.1).toFixed(1),
            seen.faces,
            s.yaw.toFixed(1),
            s.pitch.toFixed(1),
            seen.subject!.eyes.left.toFixed(3),
            seen.subject!.eyes.right.toFixed(3),
            s.aperture.toFixed(4),
            s.interEye.toFixed(1),
          ].join(',')
        : `${(i * 0.1).toFixed(1)},0`,
    );
  }
  await pool.close();
}

async function main(): Promise<void> {
  const traced = arg('trace', '');
  if (traced) return trace(traced);
  const started = Date.now();
  const pool = await FacePool.create({ size: Number(arg('workers', '2')) });
  const faces = remembering(pool);

  const annotations = readAnnotations();
  const real: Trial[] = [];
  for (const annotation of annotations) {
    const clip = decodeClip(path.resolve(annotation.path));
    for (const trial of trialsOf(annotation)) {
      const actions = trial.run.map((a) => a.action);
      const start = trial.run[0]!.start,
        end = trial.run.at(-1)!.end;
      for (const phaseMs of phasesOf(actions)) {
        const frames = await cut(clip, trial, phaseMs, BLINK_INTERVAL_MS);
        const verdict = await judge(faces, actions, frames);
        const row = { clip: annotation.file, actions, start, end, phaseMs, frames: frames.length, accepted: accepted(actions, verdict), reasons: verdict.reasons, observed: verdict.observed };
        real.push(row);
        console.error(
          `${annotation.file} ${actions.join(',')} ${start}-${end}s +${phaseMs}ms: ${row.accepted ? 'accepted' : `refused ${verdict.reasons.join('+')}`} (observed ${verdict.observed.join(',') || 'nothing'})`,
        );
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
    console.error(
      `proxy ${name}: ${proxies
        .filter((p) => p.clip === name)
        .map((p) => `${p.actions.join(',')} ${p.accepted ? 'ok' : p.reasons.join('+')}`)
        .join('; ')}`,
    );
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
