import type { Command } from 'commander';
import { MedfaceError } from '../errors.js';
import { DEFAULT_OPERATING_FMR } from '../evaluation/calibrate.js';
import type { CalibrationResult } from '../services/calibrate.js';
import { commandLine } from './command-line.js';
import { withPool } from './engine.js';
import { action, print } from './output.js';
import { progressBar } from './progress.js';

interface CalibrateFlags {
  fmr: string;
  thresholds?: string;
  embedder?: string;
  json?: boolean;
}

export function registerCalibrate(program: Command): void {
  program
    .command('calibrate')
    .description('Set the match thresholds from the impostor scores of every cross-identity pair in one or more labelled sets')
    .argument('<setdir...>', 'data set folders (manifest.csv: path,identity)')
    .option('--fmr <rate>', 'operating false-match rate', String(DEFAULT_OPERATING_FMR))
    .option('--thresholds <file>', 'thresholds file to write (default config/thresholds.json)')
    .option('--embedder <id>', 'embedder to calibrate (default: the default embedder)')
    .option('--json', 'machine-readable output')
    .action(
      action(async (setDirs: string[], opts: CalibrateFlags) => {
        const fmr = Number(opts.fmr);
        if (!(fmr > 0 && fmr < 1)) throw new MedfaceError('INVALID_ARGUMENT', `--fmr must be a rate between 0 and 1, got "${opts.fmr}"`);
        const { calibrateSets } = await import('../services/calibrate.js');
        const bars = new Map<string, ReturnType<typeof progressBar>>();
        const result = await withPool({ embedderId: opts.embedder }, (pool, model) =>
          calibrateSets(pool, setDirs, {
            model,
            fmr,
            thresholdsFile: opts.thresholds,
            command: commandLine(),
            onProgress: (set, done, total) => {
              if (!bars.has(set)) bars.set(set, progressBar(set));
              bars.get(set)?.(done, total);
            },
          }),
        );
        print(result, opts, render);
      }),
    );
}

function render(r: CalibrationResult): string {
  const t = r.thresholds;
  const c = t.calibration;
  const g = t.grades;
  return [
    `${r.model}: match threshold ${t.match.toFixed(4)} at FMR ${t.fmr} (written to ${r.file})`,
    `  from ${c.impostorPairs} impostor and ${c.genuinePairs} genuine pairs of ${c.sets.join(', ')}; ${c.failuresToAcquire} images without a face`,
    `  grades: certain ≥ ${g.certain.minScore.toFixed(4)} (FMR ${g.certain.fmr}), probable ≥ ${g.probable.minScore.toFixed(4)}, possible ≥ ${g.possible.minScore.toFixed(4)} (FMR ${g.possible.fmr})`,
    ...Object.entries(t.thresholdsAtFmr).map(([rate, v]) => `  FMR ${rate}: threshold ${v.toFixed(4)}, TAR ${((c.tarAtFmr[rate] ?? NaN) * 100).toFixed(2)}%`),
  ].join('\n');
}
