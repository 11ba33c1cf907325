import type { Command } from 'commander';
import type { ComparisonResult } from '../services/biometrics/compare.js';
import { readImageArgument, withPool } from './engine.js';
import { action, print } from './output.js';

export function registerCompare(program: Command): void {
  program
    .command('compare')
    .description('Compare the faces in two images: similarity, match at the calibrated threshold, and FHIR match grade')
    .argument('<image1>', 'first image (one face)')
    .argument('<image2>', 'second image (one face)')
    .option('--thresholds <file>', 'thresholds file (default config/thresholds.json)')
    .option('--json', 'machine-readable output')
    .action(
      action(async (image1: string, image2: string, opts: { thresholds?: string; json?: boolean }) => {
        const { compareImages } = await import('../services/biometrics/compare.js');
        const [a, b] = await Promise.all([readImageArgument(image1), readImageArgument(image2)]);
        // one engine: loading a second costs more than analysing the second image after the first
        const result = await withPool({ size: 1 }, async (pool) => compareImages(await pool(), a, b, { thresholdsFile: opts.thresholds }));
        print(result, opts, render);
      }),
    );
}

function render(r: ComparisonResult): string {
  return `${r.match ? 'MATCH' : 'NO MATCH'} (${r.grade}): similarity ${r.similarity.toFixed(4)}, threshold ${r.threshold.toFixed(4)}, model ${r.model}`;
}
