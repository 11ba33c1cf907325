import type { Command } from 'commander';
import type { PassiveLivenessReport } from '../services/biometrics/passive-liveness.js';
import { readImageArgument, withPool } from './engine.js';
import { action, print } from './output.js';

export function registerLiveness(program: Command): void {
  program
    .command('liveness')
    .description('Passive presentation-attack score of the face in an image (a signal, not a security control)')
    .argument('<image>', 'image file')
    .option('--json', 'machine-readable output')
    .action(
      action(async (image: string, opts: { json?: boolean }) => {
        const { passiveLivenessOf } = await import('../services/biometrics/passive-liveness.js');
        const bytes = await readImageArgument(image);
        const report = await withPool({ size: 1 }, async (pool) => passiveLivenessOf(await pool(), bytes));
        print(report, opts, render);
      }),
    );
}

function render(r: PassiveLivenessReport): string {
  const verdict = r.live ? 'looks live' : `looks recaptured${r.reasons.length ? ` (${r.reasons.join(', ')})` : ''}`;
  return `passive liveness ${r.score.toFixed(3)} (threshold ${r.threshold.toFixed(3)}, ${r.model}): ${verdict}`;
}
