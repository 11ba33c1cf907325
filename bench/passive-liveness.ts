/**
 * Measures the shipped passive liveness score (config/passive-liveness.json) as the product computes it — the
 * face pool's analysis of each image, the subject's `liveness` — at its operating threshold:
 *
 *   npx tsx bench/passive-liveness.ts SETDIR [--simulate print,screen] [--limit N]
 *
 * SETDIR has a manifest.csv; a `label` column (live | spoof, with `attack_type` for spoofs) when it holds
 * attacks, otherwise every image is taken as live. `--simulate` adds, for every live image, simulated attacks made
 * from it (src/evaluation/recapture.ts): `print` (printed and re-photographed), `screen` (shown on an RGB-stripe
 * display and photographed): proxies, reported as such. `--limit N` keeps the
 * first N manifest rows. An image without a face is a failure to acquire, counted apart.
 *
 * Reported: BPCER; APCER per attack type (ISO/IEC 30107-3); ROC AUC and EER when both classes are present.
 * Do not read figures on the set the model was trained on (pad-nuaa-dev) as a measurement: they are in-sample;
 * bench/train-passive-liveness.ts gives the cross-validated ones.
 */
import { readFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { readDataset } from '../src/evaluation/dataset.js';
import { auc, eer, errorCurve } from '../src/evaluation/metrics.js';
import { simulatePrintRecapture, simulateScreenReplay } from '../src/evaluation/recapture.js';
import { FacePool } from '../src/face/index.js';
import { loadPassiveLivenessModel } from '../src/face/passive-liveness.js';

const SIMULATIONS: Record<string, { kind: string; make: (bytes: Uint8Array) => Promise<Buffer> }> = {
  print: { kind: 'simulated print (proxy)', make: (bytes) => simulatePrintRecapture(bytes) },
  screen: { kind: 'simulated screen replay (proxy)', make: simulateScreenReplay },
};

function parseArgs(argv: string[]): { setDir: string; simulate: string[]; limit: number } {
  const args = { setDir: '', simulate: [] as string[], limit: Infinity };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    if (a === '--simulate') {
      args.simulate = argv[++i]!.split(',');
      for (const s of args.simulate) if (!SIMULATIONS[s]) throw new Error(`--simulate: one of ${Object.keys(SIMULATIONS).join(', ')}, not ${s}`);
    } else if (a === '--limit') args.limit = Number(argv[++i]);
    else args.setDir = a;
  }
  if (!args.setDir) throw new Error('usage: npx tsx bench/passive-liveness.ts SETDIR [--simulate print,screen] [--limit N]');
  return args;
}

const pct = (v: number): string => `${(100 * v).toFixed(1)}%`;

async function main(): Promise<void> {
  const { setDir, simulate, limit } = parseArgs(process.argv.slice(2));
  const model = loadPassiveLivenessModel();
  const entries = readDataset(setDir).entries.slice(0, limit);
  const live: number[] = [];
  const attacks = new Map<string, number[]>();
  const failed = new Map<string, number>();
  const pool = await FacePool.create({ size: 1 });
  const score = async (bytes: Uint8Array, kind: string, into: number[]): Promise<void> => {
    const analysis = await pool.analyze(bytes, { purpose: 'verify', embed: false });
    const liveness = analysis.faces[analysis.subject]?.liveness;
    if (liveness) into.push(liveness.passive);
    else failed.set(kind, (failed.get(kind) ?? 0) + 1);
  };
  const attackScores = (kind: string): number[] => attacks.get(kind) ?? attacks.set(kind, []).get(kind)!;
  try {
    for (const entry of entries) {
      const bytes = readFileSync(path.join(setDir, entry.path));
      const label = entry.columns.label ?? 'live';
      if (label === 'live') {
        await score(bytes, 'live', live);
        for (const s of simulate) {
          const { kind, make } = SIMULATIONS[s]!;
          await score(await make(bytes), kind, attackScores(kind));
        }
      } else {
        const kind = entry.columns.attack_type || label;
        await score(bytes, kind, attackScores(kind));
      }
    }
  } finally {
    await pool.close();
  }

  const below = (scores: number[]): number => scores.filter((s) => s < model.threshold).length;
  console.log(`model ${model.model}, threshold ${model.threshold.toFixed(4)}; set ${setDir} (${entries.length} manifest rows)\n`);
  console.log('| presentations | scored | no face | error rate at the threshold |');
  console.log('|---|---|---|---|');
  if (live.length) {
    console.log(`| live (BPCER) | ${live.length} | ${failed.get('live') ?? 0} | ${pct(below(live) / live.length)} (${below(live)}) |`);
  }
  for (const [kind, scores] of attacks) {
    const accepted = scores.length - below(scores);
    console.log(`| ${kind} (APCER) | ${scores.length} | ${failed.get(kind) ?? 0} | ${pct(accepted / scores.length)} (${accepted}) |`);
  }
  const allAttacks = [...attacks.values()].flat();
  if (live.length && allAttacks.length) {
    const curve = errorCurve(live, allAttacks);
    console.log(`\nROC AUC ${auc(curve).toFixed(3)}, EER ${pct(eer(curve))} (live vs every attack)`);
  }
  console.log(`\nmachine: ${os.cpus()[0]?.model ?? 'unknown CPU'} x${os.cpus().length}, node ${process.version}`);
}

await main();
