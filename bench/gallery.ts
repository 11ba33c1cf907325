/**
 * 1:N gallery benchmark: search latency, memory per template and build time of the exact scan and of the
 * HNSW index, and the HNSW index's recall@1 against the exact answer, on clustered synthetic 128-D
 * templates (see clustered-templates.ts).
 *
 *   npx tsx bench/gallery.ts [--sizes 10000,100000,1000000] [--queries 1000] [--k 5]
 *                            [--connectivity 16] [--expansion-add 128] [--expansion-search 64]
 *                            [--build-threads 1] [--sweep 128,256]
 *
 * Each size runs in its own child process so that its memory is measured from a clean start. The graph is
 * built on one thread by default: the benchmark machine is shared, and there two threads built slower.
 * `--sweep` re-measures each HNSW index at larger search expansions without rebuilding it: usearch
 * searches with max(expansion_search, count wanted), so asking for more neighbours is the same search as
 * a larger expansion_search.
 */
import { execFileSync } from 'node:child_process';
import { cpus, loadavg, totalmem } from 'node:os';
import { fileURLToPath } from 'node:url';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { DEFAULT_GALLERY_OPTIONS, Gallery, type GalleryEntry, type GalleryOptions } from '../src/identity/gallery.js';
import type { TransformedEmbedding } from '../src/identity/protection.js';
import { clusteredTemplates } from './clustered-templates.js';

const TEMPLATES_PER_PATIENT = 2;
const MODEL = 'synthetic@1';
const TRANSFORM = 'tf_bench';

interface Args {
  sizes: number[];
  queries: number;
  k: number;
  hnsw: GalleryOptions['hnsw'];
  buildThreads: number;
  sweep: number[];
  /** Set in a child: the one size it measures. */
  only?: number;
}

interface Latency {
  p50: number;
  p95: number;
  p99: number;
  mean: number;
}

interface SizeResult {
  size: number;
  queries: number;
  exact: { buildSeconds: number; rssBytesPerTemplate: number; heapBytesPerTemplate: number; latencyMs: Latency; correctIdentity: number };
  approximate: {
    buildSeconds: number;
    rssBytesPerTemplate: number;
    heapBytesPerTemplate: number;
    latencyMs: Latency;
    recallAt1Template: number;
    recallAt1Patient: number;
  };
  sweep: { expansionSearch: number; latencyMs: Latency; recallAt1Template: number; recallAt1Patient: number }[];
}

function parseArgs(argv: string[]): Args {
  const value = (name: string): string | undefined => {
    const i = argv.indexOf(`--${name}`);
    return i >= 0 ? argv[i + 1] : undefined;
  };
  const numbers = (name: string, fallback: number[]): number[] => value(name)?.split(',').map(Number) ?? fallback;
  const defaults = DEFAULT_GALLERY_OPTIONS.hnsw;
  return {
    sizes: numbers('sizes', [10_000, 100_000, 1_000_000]),
    queries: Number(value('queries') ?? 1000),
    k: Number(value('k') ?? 5),
    hnsw: {
      connectivity: Number(value('connectivity') ?? defaults.connectivity),
      expansionAdd: Number(value('expansion-add') ?? defaults.expansionAdd),
      expansionSearch: Number(value('expansion-search') ?? defaults.expansionSearch),
    },
    buildThreads: Number(value('build-threads') ?? 1),
    sweep: numbers('sweep', []),
    only: value('only') === undefined ? undefined : Number(value('only')),
  };
}

/** A UUID-shaped id (36 characters, like the store's), derived from the index so answers can be checked. */
function uuid(kind: number, index: number): string {
  return `0000000${kind}-0000-4000-8000-${index.toString(16).padStart(12, '0')}`;
}

function* galleryEntries(templates: Float32Array, dimension: number): Generator<GalleryEntry> {
  for (let t = 0; t < templates.length / dimension; t++) {
    yield {
      templateId: uuid(1, t),
      patientId: uuid(2, Math.floor(t / TEMPLATES_PER_PATIENT)),
      template: { model: MODEL, transformId: TRANSFORM, vector: templates.subarray(t * dimension, (t + 1) * dimension) },
    };
  }
}

const collectGarbage = ((): (() => void) => {
  setFlagsFromString('--expose-gc');
  return runInNewContext('gc') as () => void;
})();

function memory(): { rss: number; heap: number } {
  collectGarbage();
  collectGarbage();
  const m = process.memoryUsage();
  return { rss: m.rss, heap: m.heapUsed + m.arrayBuffers };
}

function percentiles(samples: number[]): Latency {
  const sorted = [...samples].sort((a, b) => a - b);
  const at = (p: number): number => sorted[Math.min(sorted.length - 1, Math.floor(p * sorted.length))]!;
  return { p50: at(0.5), p95: at(0.95), p99: at(0.99), mean: samples.reduce((s, x) => s + x, 0) / samples.length };
}

async function buildMeasured(templates: Float32Array, dimension: number, options: Partial<GalleryOptions>): Promise<{ gallery: Gallery; seconds: number; rss: number; heap: number }> {
  const before = memory();
  const start = performance.now();
  const gallery = await Gallery.build(galleryEntries(templates, dimension), options);
  const seconds = (performance.now() - start) / 1000;
  const after = memory();
  const count = templates.length / dimension;
  return { gallery, seconds, rss: (after.rss - before.rss) / count, heap: (after.heap - before.heap) / count };
}

/** Top-k searches for every query (after a short warm-up), with per-query latency. */
function searchAll(gallery: Gallery, probes: TransformedEmbedding[], k: number): { latencies: number[]; top: { templateId: string; patientId: string }[] } {
  for (const probe of probes.slice(0, 20)) gallery.search(probe, k);
  const latencies: number[] = [];
  const top = probes.map((probe) => {
    const start = performance.now();
    const [best] = gallery.search(probe, k);
    latencies.push(performance.now() - start);
    return { templateId: best?.templateId ?? '', patientId: best?.patientId ?? '' };
  });
  return { latencies, top };
}

async function measureSize(size: number, args: Args): Promise<SizeResult> {
  const data = clusteredTemplates({ identities: size / TEMPLATES_PER_PATIENT, templatesPerIdentity: TEMPLATES_PER_PATIENT, queries: args.queries, seed: 2024 });
  const d = data.dimension;
  const probes = Array.from({ length: args.queries }, (_, q) => ({ model: MODEL, transformId: TRANSFORM, vector: data.queries.subarray(q * d, (q + 1) * d) }));
  const log = (message: string): void => console.error(`[${size}] ${message}`);

  const exact = await buildMeasured(data.templates, d, { exactBelow: Infinity });
  log(`exact built in ${exact.seconds.toFixed(1)} s; searching ${args.queries} queries`);
  const exactRun = searchAll(exact.gallery, probes, args.k);
  const correctIdentity = exactRun.top.filter((t, q) => t.patientId === uuid(2, data.queryIdentities[q]!)).length / args.queries;

  const approximate = await buildMeasured(data.templates, d, { exactBelow: 0, hnsw: args.hnsw, buildThreads: args.buildThreads });
  log(`HNSW built in ${approximate.seconds.toFixed(1)} s`);
  const recall = (top: { templateId: string; patientId: string }[]): { recallAt1Template: number; recallAt1Patient: number } => ({
    recallAt1Template: top.filter((t, q) => t.templateId === exactRun.top[q]!.templateId).length / args.queries,
    recallAt1Patient: top.filter((t, q) => t.patientId === exactRun.top[q]!.patientId).length / args.queries,
  });
  const approximateRun = searchAll(approximate.gallery, probes, args.k);

  const sweep = args.sweep.map((expansionSearch) => {
    const run = searchAll(approximate.gallery, probes, Math.ceil(expansionSearch / TEMPLATES_PER_PATIENT));
    return { expansionSearch, latencyMs: percentiles(run.latencies), ...recall(run.top) };
  });

  return {
    size,
    queries: args.queries,
    exact: { buildSeconds: exact.seconds, rssBytesPerTemplate: exact.rss, heapBytesPerTemplate: exact.heap, latencyMs: percentiles(exactRun.latencies), correctIdentity },
    approximate: {
      buildSeconds: approximate.seconds,
      rssBytesPerTemplate: approximate.rss,
      heapBytesPerTemplate: approximate.heap,
      latencyMs: percentiles(approximateRun.latencies),
      ...recall(approximateRun.top),
    },
    sweep,
  };
}

function report(args: Args, results: SizeResult[]): void {
  const ms = (l: Latency): string => `${l.p50.toFixed(2)} / ${l.p95.toFixed(2)}`;
  const pct = (x: number): string => `${(100 * x).toFixed(2)}%`;
  const bytes = (x: number): string => `${Math.round(x)}`;
  const { connectivity, expansionAdd, expansionSearch } = args.hnsw;
  console.log(
    `\n${new Date().toISOString()} · node ${process.version} · ${cpus()[0]?.model ?? '?'} × ${cpus().length} · ${(totalmem() / 2 ** 30).toFixed(0)} GiB · load average at start ${startLoad}`,
  );
  console.log(
    `HNSW connectivity ${connectivity}, expansion_add ${expansionAdd}, expansion_search ${expansionSearch}, built on ${args.buildThreads} thread(s); k = ${args.k}; ${TEMPLATES_PER_PATIENT} templates per patient\n`,
  );
  console.log('| templates | queries | search | build (s) | p50 / p95 (ms) | RSS B/template | heap B/template | recall@1 template | recall@1 patient |');
  console.log('|---:|---:|---|---:|---:|---:|---:|---:|---:|');
  for (const r of results) {
    const e = r.exact;
    const a = r.approximate;
    console.log(
      `| ${r.size} | ${r.queries} | exact | ${e.buildSeconds.toFixed(1)} | ${ms(e.latencyMs)} | ${bytes(e.rssBytesPerTemplate)} | ${bytes(e.heapBytesPerTemplate)} | (reference) | (reference; true identity ${pct(e.correctIdentity)}) |`,
    );
    console.log(
      `| ${r.size} | ${r.queries} | HNSW | ${a.buildSeconds.toFixed(1)} | ${ms(a.latencyMs)} | ${bytes(a.rssBytesPerTemplate)} | ${bytes(a.heapBytesPerTemplate)} | ${pct(a.recallAt1Template)} | ${pct(a.recallAt1Patient)} |`,
    );
    for (const s of r.sweep) {
      console.log(`| ${r.size} | ${r.queries} | HNSW, expansion ${s.expansionSearch} | | ${ms(s.latencyMs)} | | | ${pct(s.recallAt1Template)} | ${pct(s.recallAt1Patient)} |`);
    }
  }
  console.log(`\n${JSON.stringify({ hnsw: args.hnsw, buildThreads: args.buildThreads, k: args.k, results })}`);
}

const startLoad = loadavg()
  .map((x) => x.toFixed(1))
  .join(' ');
const args = parseArgs(process.argv.slice(2));
if (args.only !== undefined) {
  console.log(JSON.stringify(await measureSize(args.only, args)));
} else {
  const script = fileURLToPath(import.meta.url);
  const results = args.sizes.map((size) => {
    const { queries, k, hnsw, buildThreads } = args;
    const childArgs = ['--only', size, '--queries', queries, '--k', k, '--build-threads', buildThreads];
    childArgs.push('--connectivity', hnsw.connectivity, '--expansion-add', hnsw.expansionAdd, '--expansion-search', hnsw.expansionSearch);
    if (args.sweep.length > 0) childArgs.push('--sweep', args.sweep.join(','));
    const out = execFileSync(process.execPath, [...process.execArgv, script, ...childArgs.map(String)], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'inherit'], maxBuffer: 1 << 24 });
    return JSON.parse(out.trim().split('\n').at(-1)!) as SizeResult;
  });
  report(args, results);
}
