import type { Command } from 'commander';
import { MedfaceError } from '../errors.js';
import type { BenchResult, Percentiles } from '../services/evaluation/bench.js';
import { action, print } from './output.js';
import { progressBar } from './progress.js';

export function registerBench(program: Command): void {
  program
    .command('bench')
    .description('Latency per stage on one core (p50/p95) and faces per second with one worker per core')
    .option('--images <dir>', 'images to run (default: single-face crops of face-api demo photos)')
    .option('--n <count>', 'analyses per phase', '60')
    .option('--embedder <id>', 'embedder to measure (default: the default embedder)')
    .option('--runtime <runtime>', 'where the networks run: native or wasm (default: native where onnxruntime loads)')
    .option('--threads <count>', 'onnxruntime threads per inference (native only; default 1)')
    .option('--workers <count>', 'workers of the throughput phase (default: one per core)')
    .option('--warmup <count>', 'untimed analyses per worker before each timed phase (default 60)')
    .option('--no-baseline', "skip the same-process run of Human's own pipeline")
    .option('--json', 'machine-readable output')
    .action(
      action(async (opts: { images?: string; n: string; embedder?: string; runtime?: string; threads?: string; workers?: string; warmup?: string; baseline: boolean; json?: boolean }) => {
        const n = positiveInteger('--n', opts.n);
        const threads = opts.threads === undefined ? undefined : positiveInteger('--threads', opts.threads);
        const workers = opts.workers === undefined ? undefined : positiveInteger('--workers', opts.workers);
        const warmup = opts.warmup === undefined ? undefined : Number(opts.warmup);
        const { runBench } = await import('../services/evaluation/bench.js');
        const bars = new Map<string, ReturnType<typeof progressBar>>();
        const result = await runBench({
          n,
          imagesDir: opts.images,
          embedderId: opts.embedder,
          ...(opts.runtime !== undefined && { runtime: opts.runtime }),
          ...(threads && { threads }),
          ...(workers && { workers }),
          ...(warmup !== undefined && { warmup }),
          noBaseline: !opts.baseline,
          onProgress: (phase, done, total) => {
            if (!bars.has(phase)) bars.set(phase, progressBar(phase));
            bars.get(phase)?.(done, total);
          },
        });
        print(result, opts, render);
      }),
    );
}

function positiveInteger(name: string, text: string): number {
  const value = Number(text);
  if (!Number.isInteger(value) || value < 1) throw new MedfaceError('INVALID_ARGUMENT', `${name} must be a positive integer, got "${text}"`);
  return value;
}

function render(r: BenchResult): string {
  const row = (name: string, p: Percentiles) => `  ${name.padEnd(12)} p50 ${p.p50.toFixed(1).padStart(7)} ms   p95 ${p.p95.toFixed(1).padStart(7)} ms`;
  const o = r.one_core;
  return [
    `${r.model} (${r.runtime.kind} runtime${r.runtime.kind === 'native' ? `, ${r.runtime.threads} thread(s) per inference` : ''}) on ${r.machine.cpu} (${r.machine.cores} cores, load average ${r.machine.load_average} at start), Node ${r.machine.node}`,
    `images: ${r.images.count} from ${r.images.source} (median ${r.images.median_width}x${r.images.median_height})`,
    `one core, ${o.runs} analyses after ${r.warmup} untimed:`,
    row('decode', o.decode),
    row('detect', o.detect),
    row('quality', o.quality),
    row('align+embed', o.align_embed),
    row('total', o.total),
    row('round trip', o.round_trip),
    row('CPU time', o.cpu),
    `${r.throughput.workers} workers, after ${r.warmup} untimed analyses each: ${r.throughput.faces} faces in ${r.throughput.seconds} s = ${r.throughput.faces_per_s} faces/s, CPU time ${r.throughput.cpu_per_analysis} ms per analysis`,
    ...(r.human_baseline
      ? [
          `${r.human_baseline.description}, same process, ${r.human_baseline.runs} images:`,
          row('Human', r.human_baseline.wall),
          row('CPU time', r.human_baseline.cpu),
          `  Human / medface, p50: ${r.human_baseline.ratio_p50}x wall clock (round trip), ${r.human_baseline.ratio_cpu_p50}x CPU time`,
        ]
      : []),
  ].join('\n');
}
