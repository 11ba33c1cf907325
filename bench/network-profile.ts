/**
 * Where each network's time goes on onnxruntime, one intra-op thread: the models built as the engine builds them
 * (converted from the installed packages, MobileFaceNet repaired, PReLUs rewritten by src/face/onnx/prelu.ts), run
 * on a fixed input with onnxruntime's profiler on, and its trace summed by operator (blocked NCHWc kernels and the
 * reorders in and out of that layout included, as onnxruntime names them after its own graph optimisations):
 *
 *   npx tsx bench/network-profile.ts [--nets blazeface,mesh,iris,mobilefacenet,faceplugin] [--runs 200] [--prelu none] [--top 0]
 *
 * `--prelu none` loads the models without the PReLU rewrite, for comparison; `--top N` also lists the N slowest
 * nodes. Kernel times are per run, summed over the warm-up and measured runs; "CPU per run" is the process's CPU
 * time over the measured runs, with the profiler's own overhead. Trace files go to the system's temporary folder.
 */
import { readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { FACEPLUGIN_MODEL_FILE } from '../src/face/embedders/faceplugin.js';
import { humanModelsFile } from '../src/face/embedders/graph-model.js';
import { repairPrelu } from '../src/face/embedders/mobilefacenet.js';
import { rewritePrelus } from '../src/face/onnx/prelu.js';
import { nativeRuntime, nativeSessionOptions, readGraphModel } from '../src/face/onnx/session.js';
import { tfjsToOnnx } from '../src/face/onnx/tfjs-to-onnx.js';
import { HUMAN_DIR } from '../src/face/runtime.js';
import { arg } from './options.js';

const human = (file: string) => tfjsToOnnx(readGraphModel(path.join(HUMAN_DIR, 'models', file)));
/** Each network with the input the engine gives it: MobileFaceNet a chip and its mirror, the iris net two eyes. */
const NETWORKS: Record<string, { model: () => Uint8Array; dims: number[] }> = {
  blazeface: { model: () => human('blazeface.json'), dims: [1, 256, 256, 3] },
  mesh: { model: () => human('facemesh.json'), dims: [1, 192, 192, 3] },
  iris: { model: () => human('iris.json'), dims: [2, 64, 64, 3] },
  mobilefacenet: {
    model: () => {
      const graph = readGraphModel(humanModelsFile('mobilefacenet.json'));
      repairPrelu(graph);
      return tfjsToOnnx(graph);
    },
    dims: [2, 112, 112, 3],
  },
  faceplugin: { model: () => new Uint8Array(readFileSync(FACEPLUGIN_MODEL_FILE)), dims: [1, 3, 112, 112] },
};

interface TraceEvent {
  cat: string;
  name: string;
  dur: number;
  args?: { op_name?: string; output_type_shape?: unknown };
}

const ort = nativeRuntime();
if (!ort) throw new Error('onnxruntime-node cannot load here');
const names = arg('nets', Object.keys(NETWORKS).join(',')).split(',');
const runs = Number(arg('runs', '200'));
const top = Number(arg('top', '0'));
const rewrite = arg('prelu', 'rewrite') !== 'none';
const WARMUP = 20;

for (const name of names) {
  const network = NETWORKS[name];
  if (!network) throw new Error(`unknown network ${name}; one of ${Object.keys(NETWORKS).join(', ')}`);
  const bytes = rewrite ? rewritePrelus(network.model()) : network.model();
  const session = ort.newSession();
  await session.loadModel(bytes.buffer as ArrayBuffer, bytes.byteOffset, bytes.byteLength, {
    ...nativeSessionOptions(1),
    enableProfiling: true,
    profileFilePrefix: path.join(tmpdir(), `medface-profile-${name}`),
  });
  const input = Float32Array.from({ length: network.dims.reduce((a, b) => a * b, 1) }, (_, i) => Math.sin(i * 0.0007) * Math.cos(i * 0.013));
  const feeds = { [session.inputMetadata[0]!.name]: new ort.Tensor('float32', input, network.dims) };
  const fetches = Object.fromEntries(session.outputMetadata.map((o) => [o.name, null]));
  for (let i = 0; i < WARMUP; i++) session.run(feeds, fetches, {});
  const start = process.cpuUsage();
  for (let i = 0; i < runs; i++) session.run(feeds, fetches, {});
  const cpu = process.cpuUsage(start);
  const traceFile = (session as unknown as { endProfiling(): string }).endProfiling();
  const events = (JSON.parse(readFileSync(traceFile, 'utf8')) as TraceEvent[]).filter((e) => e.cat === 'Node' && e.name.endsWith('_kernel_time'));
  rmSync(traceFile);
  session.dispose();

  const perRun = (us: number) => us / 1000 / (WARMUP + runs);
  const byOp = new Map<string, { us: number; count: number }>();
  const byNode = new Map<string, { us: number; op: string }>();
  for (const e of events) {
    const op = e.args?.op_name ?? '?';
    const o = byOp.get(op) ?? { us: 0, count: 0 };
    byOp.set(op, { us: o.us + e.dur, count: o.count + 1 });
    byNode.set(e.name, { us: (byNode.get(e.name)?.us ?? 0) + e.dur, op });
  }
  const total = events.reduce((sum, e) => sum + e.dur, 0);
  console.log(
    `\n${name} ${JSON.stringify(network.dims)}${rewrite ? '' : ' (PReLUs not rewritten)'}: kernels ${perRun(total).toFixed(2)} ms per run, ${byNode.size} nodes; CPU per run ${((cpu.user + cpu.system) / 1000 / runs).toFixed(2)} ms`,
  );
  for (const [op, { us, count }] of [...byOp].sort((a, b) => b[1].us - a[1].us)) {
    console.log(`  ${op.padEnd(16)} ${perRun(us).toFixed(3).padStart(7)} ms ${String(Math.round(count / (WARMUP + runs))).padStart(4)} nodes ${((100 * us) / total).toFixed(1).padStart(5)}%`);
  }
  for (const [node, { us, op }] of [...byNode].sort((a, b) => b[1].us - a[1].us).slice(0, top)) console.log(`    ${perRun(us).toFixed(3)} ms ${op} ${node}`);
}
