import type { Command } from 'commander';
import { MedfaceError } from '../errors.js';
import { identificationThresholds } from '../identity/identification.js';
import { DEFAULT_OPERATING_FMR } from '../evaluation/calibrate.js';
import type { CalibrationResult } from '../services/evaluation/calibrate.js';
import { commandLine } from './command-line.js';
import { withPool } from './engine.js';
import { action, print } from './output.js';
import { progressBar } from './progress.js';

/** Gallery sizes the summary shows the 1:N threshold for. */
const IDENTIFICATION_SIZES = [1, 100, 1_000, 10_000, 100_000, 1_000_000] as const;

interface CalibrateFlags {
  fmr: string;
  fpir?: string;
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
    .option('--fpir <rate>', 'operating false-positive identification rate per 1:N search (default: the --fmr rate)')
    .option('--thresholds <file>', 'thresholds file to write (default config/thresholds.json)')
    .option('--embedder <id>', 'embedder to calibrate (default: the default embedder)')
    .option('--json', 'machine-readable output')
    .action(
      action(async (setDirs: string[], opts: CalibrateFlags) => {
        const fmr = Number(opts.fmr);
        if (!(fmr > 0 && fmr < 1)) throw new MedfaceError('INVALID_ARGUMENT', `--fmr must be a rate between 0 and 1, got "${opts.fmr}"`);
        const fpir = opts.fpir === undefined ? undefined : Number(opts.fpir);
        if (fpir !== undefined && !(fpir > 0 && fpir < 1)) throw new MedfaceError('INVALID_ARGUMENT', `--fpir must be a rate between 0 and 1, got "${opts.fpir}"`);
        const { calibrateSets } = await import('../services/evaluation/calibrate.js');
        const bars = new Map<string, ReturnType<typeof progressBar>>();
        const result = await withPool({ embedderId: opts.embedder }, (pool, model) =>
          calibrateSets(pool, setDirs, {
            model,
            fmr,
            ...(fpir !== undefined && { fpir }),
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
    ...identificationLines(r.model, t),
  ].join('\n');
}

/** The 1:N operating threshold at a few gallery sizes, as `identify` will derive it. */
function identificationLines(model: string, t: CalibrationResult['thresholds']): string[] {
  const id = t.identification;
  if (!id) return [];
  const tail = id.impostorTail.exponential;
  return [
    `  identification: FPIR ${id.fpir} per search (grades: certain ${id.grades.certain.fpir}, possible ${id.grades.possible.fpir}); tail fitted above ${tail.from.toFixed(4)} (${tail.exceedances} impostor scores, scale ${tail.scale.toFixed(5)})`,
    ...IDENTIFICATION_SIZES.map((n) => {
      const at = identificationThresholds(model, t, n);
      return `  ${n.toLocaleString('en')} patients: match ≥ ${at.match.toFixed(4)} (FMR ${at.grades.probable.fmr.toExponential(1)} per comparison${at.grades.probable.extrapolated ? ', extrapolated' : ''})`;
    }),
  ];
}
