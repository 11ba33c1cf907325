import { readdirSync, readFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import sharp from 'sharp';
import { MedfaceError } from '../../errors.js';
import type { Config as HumanConfig } from '@vladmandic/human';
import { humanClass } from '../../face/detector.js';
import { chooseRuntime, DEFAULT_NATIVE_THREADS, FACE_API_DIR, FACE_RUNTIMES, HUMAN_DIR, initTf, type FaceRuntime } from '../../face/runtime.js';
import { DEFAULT_EMBEDDER_ID, FacePool } from '../../face/index.js';

export interface BenchOptions {
  /** Folder of images to run (recursively); default: single-face crops of face-api's demo photos. */
  imagesDir?: string;
  /** Timed analyses per phase (default 60). */
  n?: number;
  /** Embedder to measure; default the pool's. */
  embedderId?: string;
  /** Runtime of the networks, `native` or `wasm` (default: native where onnxruntime loads). */
  runtime?: string;
  /** onnxruntime threads per inference (native only; default 1). */
  threads?: number;
  /** Workers of the throughput phase (default: one per core). */
  workers?: number;
  /** Untimed analyses per worker before each timed phase (default DEFAULT_BENCH_WARMUP). */
  warmup?: number;
  /** Skip the same-process run of Human's own pipeline. */
  noBaseline?: boolean;
  onProgress?: (phase: string, done: number, total: number) => void;
}

export interface Percentiles {
  p50: number;
  p95: number;
}

export interface BenchResult {
  /** `load_average`: the 1-minute load when the run began; above `cores`, other work competed for the CPUs. */
  machine: { cpu: string; cores: number; node: string; platform: string; load_average: number };
  model: string;
  /** Where the networks ran, and onnxruntime's threads per inference. */
  runtime: { kind: FaceRuntime; threads: number };
  images: { source: string; count: number; median_width: number; median_height: number };
  /** One worker, one image at a time: milliseconds per stage and end to end. */
  one_core: {
    runs: number;
    decode: Percentiles;
    detect: Percentiles;
    quality: Percentiles;
    align_embed: Percentiles;
    /** decode + detect + quality + align_embed inside the worker. */
    total: Percentiles;
    /** From the caller's request to its answer, including the hand-over to and from the worker thread. */
    round_trip: Percentiles;
    /**
     * CPU time (user + system, whole process) per analysis. The caller waits idle meanwhile, so this is the
     * engine's cost; unlike the wall-clock figures above it does not grow when other jobs share the cores.
     */
    cpu: Percentiles;
  };
  /**
   * One worker per core (unless told), the queue kept full. `cpu_per_analysis`: CPU time (user + system, whole
   * process) per analysis in milliseconds, to set beside one_core's: more per analysis with more workers is
   * contention between them; the same, with fewer faces per second than workers × one core's, is cores that
   * other work held.
   */
  throughput: { workers: number; analyses: number; faces: number; seconds: number; faces_per_s: number; cpu_per_analysis: number };
  /** Untimed analyses each worker ran before its timed phase. */
  warmup: number;
  /**
   * Human's own face pipeline (see humanBaseline) on the same images in the same process, one at a time, and
   * how many times slower its p50 is than medface's round trip: a figure that carries across machines.
   */
  human_baseline?: {
    description: string;
    runs: number;
    wall: Percentiles;
    /** CPU time (user + system, whole process) per image; nothing else of ours runs meanwhile. */
    cpu: Percentiles;
    /** Human's p50 over medface's: wall clock (round trip), and CPU time, which a loaded machine distorts less. */
    ratio_p50: number;
    ratio_cpu_p50: number;
  };
}

const IMAGE_FILE = /\.(jpe?g|png|webp|gif|tiff?|avif)$/i;

/**
 * Untimed analyses per worker before each timed phase. A fresh worker is JIT-compiling (V8's tiers for
 * JavaScript and for tfjs's WebAssembly) for its first hundred or so analyses: on the demo crops its CPU time per
 * image fell from 137 to 67 ms over its first 112 (scratch probe, loaded machine). Before this warm-up the
 * one-core phase ran on a worker already warmed by cutting the demo crops while the throughput phase's workers
 * were fresh, which understated what two workers do.
 */
export const DEFAULT_BENCH_WARMUP = 60;

/**
 * Measures the face pipeline (decode, detect, quality, align + embed of the subject) as `compare` and
 * enrolment use it: latency per stage on one core, then faces per second with one worker per core.
 */
export async function runBench(options: BenchOptions = {}): Promise<BenchResult> {
  const n = options.n ?? 60;
  if (!Number.isInteger(n) || n < 1) throw new MedfaceError('INVALID_ARGUMENT', '--n must be a positive integer');
  const model = options.embedderId ?? DEFAULT_EMBEDDER_ID;
  if (options.runtime !== undefined && !(FACE_RUNTIMES as readonly string[]).includes(options.runtime)) {
    throw new MedfaceError('INVALID_ARGUMENT', `--runtime must be ${FACE_RUNTIMES.join(' or ')}, got "${options.runtime}"`);
  }
  const runtime = chooseRuntime(options.runtime as FaceRuntime | undefined, options.threads ?? DEFAULT_NATIVE_THREADS);
  const warmup = options.warmup ?? DEFAULT_BENCH_WARMUP;
  if (!Number.isInteger(warmup) || warmup < 0) throw new MedfaceError('INVALID_ARGUMENT', '--warmup must be a non-negative integer');
  /** `count` analyses per worker of `pool`, untimed, every worker kept busy. */
  const warm = async (pool: FacePool, workers: number, images: readonly Buffer[]): Promise<void> => {
    let next = 0;
    await Promise.all(
      Array.from({ length: workers }, async () => {
        while (next < warmup * workers) {
          await pool.analyze(images[next++ % images.length]!, { purpose: 'verify', embed: true });
          options.onProgress?.('warm-up', next, warmup * workers);
        }
      }),
    );
  };
  const poolOptions = { embedderId: model, runtime: runtime.kind, nativeThreads: runtime.threads };

  const loadAverage = os.loadavg()[0]!;
  const single = await FacePool.create({ ...poolOptions, size: 1 });
  let images: Buffer[];
  let timings: Array<{ stages: Record<'decode' | 'detect' | 'quality' | 'align_embed', number>; roundTrip: number; cpu: number }>;
  try {
    images = options.imagesDir ? readImages(options.imagesDir) : await demoFaceCrops(single);
    await warm(single, 1, images);
    timings = [];
    for (let i = 0; i < n; i++) {
      const cpuBefore = process.cpuUsage();
      const started = performance.now();
      const analysis = await single.analyze(images[i % images.length]!, { purpose: 'verify', embed: true });
      const roundTrip = performance.now() - started;
      const cpu = process.cpuUsage(cpuBefore);
      timings.push({ stages: analysis.timings, roundTrip, cpu: (cpu.user + cpu.system) / 1000 });
      options.onProgress?.('one core', i + 1, n);
    }
  } finally {
    await single.close();
  }

  const workers = options.workers ?? os.availableParallelism();
  const pool = await FacePool.create({ ...poolOptions, size: workers });
  let faces = 0;
  let seconds: number;
  let cpuPerAnalysis: number;
  try {
    await warm(pool, workers, images);
    let next = 0;
    let done = 0;
    const cpuBefore = process.cpuUsage();
    const started = performance.now();
    await Promise.all(
      Array.from({ length: workers * 2 }, async () => {
        while (next < n) {
          const analysis = await pool.analyze(images[next++ % images.length]!, { purpose: 'verify', embed: true });
          if (analysis.faces[analysis.subject]?.embedding) faces++;
          options.onProgress?.(`${workers} workers`, ++done, n);
        }
      }),
    );
    seconds = (performance.now() - started) / 1000;
    const cpu = process.cpuUsage(cpuBefore);
    cpuPerAnalysis = (cpu.user + cpu.system) / 1000 / n;
  } finally {
    await pool.close();
  }

  const human = options.noBaseline ? undefined : await humanBaseline(images, n, warmup, (done) => options.onProgress?.('Human', done, n));
  const stage = (k: 'decode' | 'detect' | 'quality' | 'align_embed') => stat(timings.map((t) => t.stages[k]));
  const sizes = await Promise.all(images.map((b) => sharp(b).metadata()));
  return {
    machine: { cpu: os.cpus()[0]?.model ?? 'unknown', cores: workers, node: process.version, platform: `${os.platform()} ${os.arch()}`, load_average: round(loadAverage) },
    model,
    runtime: { kind: runtime.kind, threads: runtime.threads },
    images: {
      source: options.imagesDir ?? 'face-api demo photos, cropped to single faces',
      count: images.length,
      median_width: percentile(
        sizes.map((s) => s.width ?? 0),
        0.5,
      ),
      median_height: percentile(
        sizes.map((s) => s.height ?? 0),
        0.5,
      ),
    },
    one_core: {
      runs: n,
      decode: stage('decode'),
      detect: stage('detect'),
      quality: stage('quality'),
      align_embed: stage('align_embed'),
      total: stat(timings.map((t) => t.stages.decode + t.stages.detect + t.stages.quality + t.stages.align_embed)),
      round_trip: stat(timings.map((t) => t.roundTrip)),
      cpu: stat(timings.map((t) => t.cpu)),
    },
    throughput: { workers, analyses: n, faces, seconds: round(seconds), faces_per_s: round(faces / seconds), cpu_per_analysis: round(cpuPerAnalysis) },
    warmup,
    ...(human && {
      human_baseline: {
        ...human,
        ratio_p50: round(
          human.wall.p50 /
            percentile(
              timings.map((t) => t.roundTrip),
              0.5,
            ),
        ),
        ratio_cpu_p50: round(
          human.cpu.p50 /
            percentile(
              timings.map((t) => t.cpu),
              0.5,
            ),
        ),
      },
    }),
  };
}

const stat = (values: number[]): Percentiles => ({ p50: round(percentile(values, 0.5)), p95: round(percentile(values, 0.95)) });

const HUMAN_BASELINE = 'Human 3.3.6 face pipeline on tfjs-wasm: BlazeFace, mesh, iris, FaceRes descriptor; decode by sharp';

/**
 * Human's own face pipeline, as Human configures it by default for faces (detector, mesh, iris and its FaceRes
 * descriptor; emotion, anti-spoofing and the body, hand and object models off), one image at a time on this
 * thread after the same untimed warm-up as medface's workers (at least one image): decode + detect + describe,
 * wall clock per image.
 */
async function humanBaseline(images: Buffer[], n: number, warmup: number, onProgress: (done: number) => void): Promise<{ description: string; runs: number; wall: Percentiles; cpu: Percentiles }> {
  const tf = await initTf();
  const off = { enabled: false };
  const config = {
    backend: 'wasm',
    modelBasePath: `file://${HUMAN_DIR}/models/`,
    cacheSensitivity: 0,
    warmup: 'none',
    debug: false,
    face: { enabled: true, emotion: off, antispoof: off, liveness: off },
    body: off,
    hand: off,
    object: off,
    gesture: off,
    segmentation: off,
  } as Partial<HumanConfig>;
  const human = new (humanClass())(config);
  await human.load();
  const once = async (bytes: Buffer) => {
    const { data, info } = await sharp(bytes).rotate().removeAlpha().raw().toBuffer({ resolveWithObject: true });
    const input = tf.tensor3d(new Uint8Array(data.buffer, data.byteOffset, data.byteLength), [info.height, info.width, 3], 'int32');
    try {
      const result = await human.detect(input as unknown as Parameters<typeof human.detect>[0]);
      if (result.error) throw new MedfaceError('ENGINE_FAILED', `Human failed: ${result.error}`);
    } finally {
      input.dispose();
    }
  };
  for (let i = 0; i < Math.max(1, warmup); i++) await once(images[i % images.length]!);
  const wall: number[] = [];
  const cpu: number[] = [];
  for (let i = 0; i < n; i++) {
    const cpuBefore = process.cpuUsage();
    const started = performance.now();
    await once(images[i % images.length]!);
    wall.push(performance.now() - started);
    const used = process.cpuUsage(cpuBefore);
    cpu.push((used.user + used.system) / 1000);
    onProgress(i + 1);
  }
  return { description: HUMAN_BASELINE, runs: n, wall: stat(wall), cpu: stat(cpu) };
}

/** Nearest-rank percentile. */
export function percentile(values: readonly number[], q: number): number {
  if (values.length === 0) return NaN;
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil(q * sorted.length) - 1))]!;
}

function readImages(dir: string): Buffer[] {
  const files = readdirSync(dir, { recursive: true, encoding: 'utf8' })
    .filter((f) => IMAGE_FILE.test(f))
    .sort();
  if (files.length === 0) throw new MedfaceError('INVALID_ARGUMENT', `no images in ${dir}`);
  return files.map((f) => readFileSync(path.join(dir, f)));
}

/**
 * Single-face benchmark images made in memory from the group photos face-api ships: each detected face
 * is cut out with a margin of half its size on every side, like a passport photo, and kept only when
 * the detector then finds exactly that one face in the crop (neighbours in a group photo can intrude).
 */
export async function demoFaceCrops(pool: Pick<FacePool, 'analyze'>, photos: readonly number[] = [1, 2, 3, 4, 5, 6]): Promise<Buffer[]> {
  const crops: Buffer[] = [];
  for (const i of photos) {
    const photo = readFileSync(path.join(FACE_API_DIR, 'demo', `sample${i}.jpg`));
    const { image, faces } = await pool.analyze(photo, { purpose: 'verify', embed: false });
    for (const { box } of faces) {
      const left = Math.max(0, Math.round(box.x - box.width / 2));
      const top = Math.max(0, Math.round(box.y - box.height / 2));
      const width = Math.min(image.width, Math.round(box.x + 1.5 * box.width)) - left;
      const height = Math.min(image.height, Math.round(box.y + 1.5 * box.height)) - top;
      const crop = await sharp(photo).rotate().extract({ left, top, width, height }).jpeg({ quality: 90 }).toBuffer();
      if ((await pool.analyze(crop, { purpose: 'verify', embed: false })).faces.length === 1) crops.push(crop);
    }
  }
  if (crops.length === 0) throw new MedfaceError('ENGINE_FAILED', 'no single-face crop could be made from the demo photos');
  return crops;
}

function round(v: number): number {
  return Math.round(v * 10) / 10;
}
