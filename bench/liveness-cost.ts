/**
 * What a whole active liveness check costs, and where its time goes: wall time of `assessSequence` on genuine
 * presentations (a random challenge of 2–3 actions on the kiosk page's timeline, rendered from a photo through its
 * 3-D mesh, 32–39 frames), with `--workers` face-pool workers, beside the same check from another checkout
 * (`--baseline DIR`, e.g. the main branch's worktree) on the same frames in the same run, alternating which goes
 * first. Nothing is remembered between checks: each observes its frames afresh, as the server does.
 *
 *   npx tsx bench/liveness-cost.ts [--identities 20] [--seed 1] [--workers 2] [--baseline ../main] [--embedder ID] [--out scratch/liveness-cost.json]
 *
 * `--embedder` picks the recogniser (default: this checkout's default); a baseline checkout must have thresholds for it.
 *
 * Each genuine presentation is also checked once more after its frames were observed as the progress feedback
 * observes them while filming (`afterFilming`: the wait left after the last frame). CPU time is the process's,
 * every thread (a fairer measure than wall time on a shared machine).
 *
 * Phases, from the face pool's calls: frames observed without their embedding (decode, detect, mesh, eyes),
 * embedded (observed with it, as the main branch's check does, or a face observed before embedded: decode and
 * the embedder), and the rest (crops, the sheet fits on their worker thread, the
 * judgement), each as wall time from the first such call's start to the last one's end.
 */
import { writeFileSync } from 'node:fs';
import { cpus, loadavg } from 'node:os';
import path from 'node:path';
import { genuineProxy, toFrames } from '../test/liveness/pad-sequences.js';
import { FacePool, meshTriangulation, type DetectedFace, type Embedding, type FrameObservation } from '../src/face/index.js';
import { assessSequence, type FrameObserver } from '../src/liveness/assess.js';
import { ACTIVE_LIVENESS } from '../src/liveness/sequence.js';
import { randomChallengeActions, type CapturedFrame, type LivenessAction, type LivenessChallenge } from '../src/liveness/types.js';
import { proxySources } from './proxy-sources.js';
import { arg, seeded } from './options.js';

type Assess = typeof assessSequence;

function quantile(values: readonly number[], q: number): number {
  const v = [...values].sort((a, b) => a - b);
  return v[Math.min(v.length - 1, Math.ceil(q * v.length) - 1)] ?? NaN;
}

interface Timed {
  ms: number;
  /** CPU time of the whole process (every thread: the pool's workers, the sheet fits', the main one). */
  cpuMs: number;
  passed: boolean;
  observed: number;
  embedded: number;
  observeMs: number;
  embedMs: number;
}

/**
 * The pool, with the span of its observe calls recorded by kind; with `filmed`, the frames' observations made
 * while filming (the progress feedback's) are taken as they are, as the server's check takes them.
 */
function timing(pool: FrameObserver, filmed?: Map<Uint8Array, FrameObservation>): FrameObserver & { spans: Record<'observe' | 'embed', Array<[number, number]>> } {
  const spans = { observe: [] as Array<[number, number]>, embed: [] as Array<[number, number]> };
  return {
    spans,
    async observe(bytes: Uint8Array, embed: boolean): Promise<FrameObservation> {
      const known = embed ? undefined : filmed?.get(bytes);
      if (known) return known;
      const start = performance.now();
      const result = await pool.observe(bytes, embed);
      spans[embed ? 'embed' : 'observe'].push([start, performance.now()]);
      return result;
    },
    async embedObserved(bytes: Uint8Array, face: DetectedFace): Promise<Embedding> {
      const start = performance.now();
      const result = await pool.embedObserved(bytes, face);
      spans.embed.push([start, performance.now()]);
      return result;
    },
  };
}

const span = (s: Array<[number, number]>): number => (s.length ? Math.max(...s.map((x) => x[1])) - Math.min(...s.map((x) => x[0])) : 0);

async function timed(assess: Assess, pool: FacePool, challenge: LivenessChallenge, frames: CapturedFrame[], now: Date, filmed?: Map<Uint8Array, FrameObservation>): Promise<Timed> {
  const faces = timing(pool, filmed);
  const start = performance.now();
  const cpu = process.cpuUsage();
  const verdict = await assess(faces, challenge, frames, now);
  const ms = performance.now() - start;
  const used = process.cpuUsage(cpu);
  return {
    ms,
    cpuMs: (used.user + used.system) / 1000,
    passed: verdict.passed,
    observed: faces.spans.observe.length + faces.spans.embed.length,
    embedded: faces.spans.embed.length,
    observeMs: span(faces.spans.observe),
    embedMs: span(faces.spans.embed),
  };
}

function summary(rows: readonly Timed[]): Record<string, number> {
  const ms = rows.map((r) => r.ms);
  const med = (f: (r: Timed) => number): number => Math.round(quantile(rows.map(f), 0.5));
  return {
    checks: rows.length,
    passed: rows.filter((r) => r.passed).length,
    medianMs: Math.round(quantile(ms, 0.5)),
    p95Ms: Math.round(quantile(ms, 0.95)),
    maxMs: Math.round(Math.max(...ms)),
    medianCpuMs: med((r) => r.cpuMs),
    medianFramesObserved: med((r) => r.observed),
    medianFramesEmbedded: med((r) => r.embedded),
    medianObserveMs: med((r) => r.observeMs),
    medianEmbedMs: med((r) => r.embedMs),
    medianRestMs: med((r) => r.ms - r.observeMs - r.embedMs),
  };
}

async function main(): Promise<void> {
  const started = Date.now();
  // the frames observed "while filming" are submitted all at once: room for them in the queue
  const embedderId = arg('embedder', '') || undefined;
  const pool = await FacePool.create({ size: Number(arg('workers', '2')), queueLimit: 2 * ACTIVE_LIVENESS.maxFrames, taskTimeoutMs: 600_000, embedderId });
  const baselineDir = arg('baseline', '');
  const baseline: Assess | null = baselineDir ? ((await import(path.resolve(baselineDir, 'src/liveness/assess.ts'))) as { assessSequence: Assess }).assessSequence : null;
  const random = seeded(Number(arg('seed', '1')) * 7919);
  const { sources } = await proxySources(pool, Number(arg('identities', '20')));
  const triangles = meshTriangulation();
  const rows: Array<{ name: string; actions: LivenessAction[]; frames: number; current: Timed; afterFilming: Timed; baseline?: Timed }> = [];
  for (const [n, { name, face }] of sources.entries()) {
    const actions = randomChallengeActions(random);
    const frames = await toFrames(genuineProxy(face, triangles, actions, random));
    const issued = Date.parse('2026-01-01T10:00:00Z');
    const challenge = { id: 'bench', nonce: 'bench', actions, issuedAt: new Date(issued).toISOString(), deadline: new Date(issued + 20_000).toISOString() };
    const now = new Date(issued + frames.at(-1)!.at + 500);
    let current: Timed, before: Timed | undefined;
    if (baseline && n % 2 === 1) {
      before = await timed(baseline, pool, challenge, frames, now);
      current = await timed(assessSequence, pool, challenge, frames, now);
    } else {
      current = await timed(assessSequence, pool, challenge, frames, now);
      if (baseline) before = await timed(baseline, pool, challenge, frames, now);
    }
    // The same check once the progress feedback has observed every frame while it was filmed (untimed: that
    // work is done while the person moves): what is left to wait for after the last frame.
    const filmed = new Map(await Promise.all(frames.map(async (f) => [f.image, await pool.observe(f.image, false)] as const)));
    const afterFilming = await timed(assessSequence, pool, challenge, frames, now, filmed);
    rows.push({ name, actions, frames: frames.length, current, afterFilming, ...(before ? { baseline: before } : {}) });
    console.error(
      `${name} ${actions.join(',')} ${frames.length} frames: ${Math.round(current.ms)} ms (${current.passed ? 'passed' : 'refused'}, ${current.embedded} embedded), after filming ${Math.round(afterFilming.ms)} ms${before ? `; baseline ${Math.round(before.ms)} ms (${before.passed ? 'passed' : 'refused'})` : ''}`,
    );
  }
  await pool.close();
  const result = {
    command: `npx tsx bench/liveness-cost.ts ${process.argv.slice(2).join(' ')}`.trim(),
    machine: `${cpus().length}x ${cpus()[0]?.model ?? '?'}, load average at end ${loadavg()
      .map((l) => l.toFixed(1))
      .join(' ')}`,
    seconds: Math.round((Date.now() - started) / 1000),
    current: summary(rows.map((r) => r.current)),
    afterFilming: summary(rows.map((r) => r.afterFilming)),
    ...(baseline ? { baseline: summary(rows.flatMap((r) => (r.baseline ? [r.baseline] : []))) } : {}),
    rows,
  };
  writeFileSync(arg('out', 'scratch/liveness-cost.json'), JSON.stringify(result, null, 2));
  const { rows: _rows, ...printed } = result;
  console.log(JSON.stringify(printed, null, 2));
}

await main();
