import type { Command } from 'commander';
import type { EvaluationResult } from '../services/evaluate.js';
import { commandLine } from './command-line.js';
import { withPool } from './engine.js';
import { action, print } from './output.js';
import { progressBar } from './progress.js';

interface EvaluateFlags {
  pairs?: string;
  out?: string;
  groupBy?: string;
  thresholds?: string;
  embedder?: string;
  json?: boolean;
}

export function registerEvaluate(program: Command): void {
  program
    .command('evaluate')
    .description(
      'Measure accuracy on a labelled set (SETDIR/manifest.csv: path,identity,...): verification on pairs ' +
        '(--pairs or SETDIR/pairs.csv: file1,file2,same), otherwise rank-1 identification',
    )
    .argument('<setdir>', 'data set folder')
    .option('--pairs <file>', 'pairs file (default SETDIR/pairs.csv when present)')
    .option('--out <dir>', 'write report.html here (and cache embeddings here instead of .cache)')
    .option('--group-by <column>', 'FMR and FNMR per value of this manifest column at the operating threshold')
    .option('--thresholds <file>', 'thresholds file (default config/thresholds.json)')
    .option('--embedder <id>', 'embedder to evaluate (default: the default embedder)')
    .option('--json', 'machine-readable output')
    .action(
      action(async (setDir: string, opts: EvaluateFlags) => {
        const { evaluateSet } = await import('../services/evaluate.js');
        const result = await withPool({ embedderId: opts.embedder }, (pool, model) =>
          evaluateSet(pool, setDir, {
            model,
            pairsFile: opts.pairs,
            outDir: opts.out,
            groupBy: opts.groupBy,
            thresholdsFile: opts.thresholds,
            command: commandLine(),
            onProgress: progressBar('embedding'),
          }),
        );
        print(result, opts, render);
      }),
    );
}

function render(r: EvaluationResult): string {
  const pct = (v: number) => `${(v * 100).toFixed(2)}%`;
  const m = r.mode === 'verification' ? r : r.all_pairs;
  const lines = [`${r.set} (${r.mode}, ${r.model}), ${r.seconds} s`];
  if (r.mode === 'verification') lines.push(`  pairs ${r.pairs} (${m.genuine_pairs} genuine, ${m.impostor_pairs} impostor scored), FTA ${r.fta} images / ${r.fta_pairs} pairs`);
  else lines.push(`  rank-1 ${pct(r.rank1)} over ${r.probes} probes, gallery ${r.gallery} of ${r.identities} identities, FTA ${r.fta} images`);
  lines.push(
    `  ${r.mode === 'verification' ? '' : 'all pairs: '}accuracy ${pct(m.accuracy)} (best threshold ${m.accuracy_threshold.toFixed(4)}), AUC ${m.auc.toFixed(4)}, EER ${pct(m.eer)}`,
    `  TAR ${pct(m.tar_at_far['0.01'])} at FAR 1%, ${pct(m.tar_at_far['0.001'])} at FAR 0.1%`,
  );
  if (r.operating) {
    const o = r.operating;
    lines.push(`  at the operating threshold ${o.threshold.toFixed(4)}: FMR ${pct(o.fmr)}, FNMR ${pct(o.fnmr)}, accuracy ${pct(o.accuracy)}`);
  }
  if (r.fairness) {
    const f = r.fairness;
    lines.push(`  by ${f.column}:`);
    for (const g of f.groups) {
      lines.push(`    ${g.group}: FMR ${g.fmr === null ? 'n/a' : pct(g.fmr)} (${g.impostorPairs}), FNMR ${g.fnmr === null ? 'n/a' : pct(g.fnmr)} (${g.genuinePairs})`);
    }
    const ratio = (x: number | null) => (x === null ? 'unbounded' : x.toFixed(2));
    lines.push(`    worst/best: FMR ${ratio(f.fmr_ratio)}, FNMR ${ratio(f.fnmr_ratio)}`);
  }
  if (r.report) lines.push(`  report: ${r.report}`);
  return lines.join('\n');
}
