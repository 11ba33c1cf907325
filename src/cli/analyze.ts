import { Option, type Command } from 'commander';
import { isMedfaceError } from '../errors.js';
import type { Purpose } from '../face/index.js';
import type { AnalysisReport } from '../services/biometrics/analyze.js';
import { readImageArgument, withPool } from './engine.js';
import { action, print } from './output.js';

export function registerAnalyze(program: Command): void {
  program
    .command('analyze')
    .description('Find every face in an image with its box, head pose and quality for a purpose (no embeddings are shown)')
    .argument('<images...>', 'image files (several: the models load once for all of them)')
    .addOption(new Option('--purpose <purpose>', 'quality gates to apply').choices(['enrol', 'verify', 'identify']).default('verify'))
    .option('--json', 'machine-readable output')
    .action(
      action(async (images: string[], opts: { purpose: Purpose; json?: boolean }) => {
        const { analyzeImage } = await import('../services/biometrics/analyze.js');
        await withPool({ size: 1 }, async (pool) => {
          if (images.length === 1) {
            print(await analyzeImage(await pool(), await readImageArgument(images[0]!), opts.purpose), opts, render);
            return;
          }
          // several: one line each (JSON Lines with --json) naming its file; a file that fails does not stop the rest
          for (const image of images) {
            try {
              const report = await analyzeImage(await pool(), await readImageArgument(image), opts.purpose);
              process.stdout.write(opts.json ? `${JSON.stringify({ file: image, ...report })}\n` : `${image}: ${render(report)}\n`);
            } catch (e) {
              if (!isMedfaceError(e)) throw e;
              process.stdout.write(opts.json ? `${JSON.stringify({ file: image, error: e.toJSON() })}\n` : `${image}: ${e.code}: ${e.message}\n`);
              process.exitCode = 1;
            }
          }
        });
      }),
    );
}

function render(r: AnalysisReport): string {
  const lines = [`${r.image.width}x${r.image.height} ${r.image.format}: ${r.faces.length} face(s); ${r.accepted ? 'accepted' : `refused (${r.reasons.join(', ')})`} for ${r.purpose}`];
  r.faces.forEach((f, i) => {
    const b = f.box;
    const p = f.pose;
    lines.push(
      `  #${i + 1}${f.subject ? ' (subject)' : ''}: box ${Math.round(b.x)},${Math.round(b.y)} ${Math.round(b.width)}x${Math.round(b.height)}` +
        `  score ${f.score.toFixed(2)}  yaw ${p.yaw.toFixed(0)}° pitch ${p.pitch.toFixed(0)}° roll ${p.roll.toFixed(0)}°` +
        `  quality ${f.quality.passed ? 'ok' : f.quality.reasons.join(', ')}` +
        (f.liveness ? `  passive liveness ${f.liveness.passive.toFixed(2)} (${f.liveness.live ? 'live' : 'looks recaptured'})` : ''),
    );
  });
  return lines.join('\n');
}
