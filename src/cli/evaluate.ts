import type { Command } from 'commander';
import type { EvaluationResult } from '../services/evaluation/evaluate.js';
import { commandLine } from './command-line.js';
import { withPool } from './engine.js';
import { action, print } from './output.js';
import { progressBar } from './progress.js';

interface EvaluateFlags {
  pairs?: string;
  out?: string;
  groupBy?: string;
  galleryImages?: string;
  probeImages?: string;
  distractors?: string[];
  thresholds?: string;
  embedder?: string;
  json?: boolean;
}

export function registerEvaluate(program: Command): void {
  program
    .command('evaluate')
    .description(
      'Measure accuracy on a labelled set (SETDIR/manifest.csv: path,identity,...): verification on pairs ' +
        '(--pairs or SETDIR/pairs.csv: file1,file2,same), otherwise rank-1 identification; always open-set ' +
        'identification (FNIR at FPIR, CMC, gallery-size curve; docs/accuracy.md)',
    )
    .argument('<setdir>', 'data set folder')
    .option('--pairs <file>', 'pairs file (default SETDIR/pairs.csv when present)')
    .option('--out <dir>', 'write report.html here (and cache embeddings here instead of .cache)')
    .option('--group-by <column>', 'FMR and FNMR per value of this manifest column at the operating threshold')
    .option('--gallery-images <k>', 'open-set gallery: the first k images of each identity (default 1)')
    .option('--probe-images <k>', 'open-set searches: k images of an identity fused into one probe, as a liveness sequence’s frames are (default 1)')
    .option('--distractors <setdir...>', 'sets whose identities join the open-set gallery as people never searched for (put after SETDIR)')
    .option('--thresholds <file>', 'thresholds file (default config/thresholds.json)')
    .option('--embedder <id>', 'embedder to evaluate (default: the default embedder)')
    .option('--json', 'machine-readable output')
    .action(
      action(async (setDir: string, opts: EvaluateFlags) => {
        const { evaluateSet } = await import('../services/evaluation/evaluate.js');
        const result = await withPool({ embedderId: opts.embedder }, (pool, model) =>
          evaluateSet(pool, setDir, {
            model,
            pairsFile: opts.pairs,
            outDir: opts.out,
            groupBy: opts.groupBy,
            galleryImages: opts.galleryImages === undefined ? undefined : Number(opts.galleryImages),
            probeImages: opts.probeImages === undefined ? undefined : Number(opts.probeImages),
            distractors: opts.distractors,
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
  const o = r.open_set;
  lines.push(
    `  open-set (${o.protocol}): gallery ${o.gallery} identities (${o.distractor_identities} distractors), ${o.mated} mated / ${o.nonmated} non-mated searches` +
      (o.probe_images_per_search > 1 ? ` of ${o.probe_images_per_search} fused images each` : ''),
    `    rank-1 ${pct(o.rank1)}, rank-10 ${pct(o.cmc['10']!)}; FNIR ${pct(o.fnir_at_fpir['0.01'])} at FPIR 1%, ${pct(o.fnir_at_fpir['0.001'])} at FPIR 0.1%`,
  );
  if (o.operating) lines.push(`    at the 1:1 operating threshold: FPIR ${pct(o.operating.fpir)}, FNIR ${pct(o.operating.fnir)}`);
  for (const e of o.extrapolated ?? []) {
    const t = e.threshold_at_fpir['0.01'];
    const f = e.fnir_at_threshold['0.01'];
    lines.push(`    modelled N=${e.gallery}: threshold ${t === null ? 'n/a' : t.toFixed(4)} for FPIR 1%, FNIR there ${f === null ? 'n/a' : pct(f)}`);
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
