/**
 * Measures the shipped passive liveness score (config/passive-liveness.json) as the product computes it — the
 * face pool's analysis of each image, the subject's `liveness` — at its operating threshold:
 *
 *   npx tsx bench/passive-liveness.ts SETDIR [--recapture] [--limit N]
 *
 * SETDIR has a manifest.csv; a `label` column (live | spoof, with `attack_type` for spoofs) when it holds
 * attacks, otherwise every image is taken as live. `--recapture` adds, for every live image, a simulated
 * print-and-rephotograph attack (src/evaluation/recapture.ts): a proxy, reported as such. `--limit N` keeps the
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
import { simulatePrintRecapture } from '../src/evaluation/recapture.js';
import { FacePool } from '../src/face/index.js';
import { loadPassiveLivenessModel } from '../src/face/passive-liveness.js';

const SIMULATED = 'simulated print (proxy)';

function parseArgs(argv: string[]): { setDir: string; recapture: boolean; limit: number } {
  const args = { setDir: '', recapture: false, limit: Infinity };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    if (a === '--recapture') args.recapture = true;
    else if (a === '--limit') args.limit = Number(argv[++i]);
    else args.setDir = a;
  }
  if (!args.setDir) throw new Error('usage: npx tsx bench/passive-liveness.ts SETDIR [--recapture] [--limit N]');
  return args;
}

const pct = (v: number): string => `${(100 * v).toFixed(1)}%`;

async function main(): Promise<void> {
  const { setDir, recapture, limit } = parseArgs(process.argv.slice(2));
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
        if (recapture) await score(await simulatePrintRecapture(bytes), SIMULATED, attackScores(SIMULATED));
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
