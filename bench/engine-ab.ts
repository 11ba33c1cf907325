/**
 * CPU time per analysis of this checkout's face engine beside another checkout's (`--baseline DIR`, e.g. the main
 * branch's worktree), both in this process on the same thread and the same images, taking turns pass by pass
 * (which goes first alternates), so the load of a shared machine weighs on both alike:
 *
 *   npx tsx bench/engine-ab.ts --baseline ../main [--images SETDIR] [--n 40] [--rounds 8] [--runtime native] [--embedder ID]
 *
 * Images: the single-face crops of face-api's demo photos that `medface bench` runs (cut with this checkout's
 * engine), or the first `--n` images of a set's manifest. Each engine analyses every image once per pass
 * (`embed: true`; the default recogniser, or `--embedder ID` in both) after 60 warm-up analyses; printed per pass
 * and as medians, with the median of the per-round ratios baseline ÷ this checkout and the median wall time per
 * analysis. CPU time is the process's, every thread (garbage collection helpers and libvips included); the two
 * engines share one heap, so each one's garbage weighs on both.
 */
import { readFileSync } from 'node:fs';
import { loadavg } from 'node:os';
import path from 'node:path';
import { FaceEngine } from '../src/face/engine.js';
import type { FaceRuntime } from '../src/face/runtime.js';
import { demoFaceCrops } from '../src/services/evaluation/bench.js';
import { arg } from './options.js';

type Engine = Pick<FaceEngine, 'analyze'>;

const baselineDir = arg('baseline', '');
if (!baselineDir) {
  console.error('usage: npx tsx bench/engine-ab.ts --baseline DIR [--images SETDIR] [--n 40] [--rounds 8] [--runtime native|wasm]');
  process.exit(2);
}
const runtime = arg('runtime', 'native') as FaceRuntime;
const rounds = Number(arg('rounds', '8'));
const n = Number(arg('n', '40'));
const setDir = arg('images', '');
const embedderId = arg('embedder', '') || undefined;

const current = await FaceEngine.create({ runtime, embedderId });
const Baseline = ((await import(path.resolve(baselineDir, 'src/face/engine.ts'))) as { FaceEngine: typeof FaceEngine }).FaceEngine;
const baseline = await Baseline.create({ runtime, embedderId });

const images = setDir
  ? readFileSync(path.join(setDir, 'manifest.csv'), 'utf8')
      .trim()
      .split('\n')
      .slice(1, n + 1)
      .map((line) => readFileSync(path.join(setDir, line.split(',')[0]!)))
  : await demoFaceCrops(current);

const engines: Record<'current' | 'baseline', Engine> = { current, baseline };
for (const engine of Object.values(engines)) for (let i = 0; i < 60; i++) await engine.analyze(images[i % images.length]!, { embed: true });
const cpu: Record<'current' | 'baseline', number[]> = { current: [], baseline: [] };
const wall: Record<'current' | 'baseline', number[]> = { current: [], baseline: [] };
const load = loadavg()[0]!;
for (let r = 0; r < rounds; r++) {
  for (const name of r % 2 ? (['baseline', 'current'] as const) : (['current', 'baseline'] as const)) {
    const start = process.cpuUsage();
    const began = performance.now();
    for (const image of images) await engines[name].analyze(image, { embed: true });
    const used = process.cpuUsage(start);
    cpu[name].push((used.user + used.system) / 1000 / images.length);
    wall[name].push((performance.now() - began) / images.length);
  }
}
const median = (v: readonly number[]): number => [...v].sort((a, b) => a - b)[Math.floor(v.length / 2)]!;
const round1 = (v: number): number => Math.round(v * 10) / 10;
console.log(
  JSON.stringify({
    images: images.length,
    source: setDir || 'face-api demo crops',
    embedder: current.embedderId,
    runtime,
    rounds,
    load_average: { start: round1(load), end: round1(loadavg()[0]!) },
    cpu_ms_per_analysis: { current: cpu.current.map(round1), baseline: cpu.baseline.map(round1) },
    median_ms: { current: round1(median(cpu.current)), baseline: round1(median(cpu.baseline)) },
    median_ratio_baseline_over_current: Math.round(median(cpu.current.map((v, i) => cpu.baseline[i]! / v)) * 100) / 100,
    // Wall clock per analysis swings with a shared machine's other jobs; medians over the passes.
    median_wall_ms: { current: round1(median(wall.current)), baseline: round1(median(wall.baseline)) },
  }),
);
