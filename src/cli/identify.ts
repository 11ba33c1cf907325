import type { Command } from 'commander';
import type { IdentifyResult } from '../services/identify.js';
import { readImageArgument } from './engine.js';
import { action, print } from './output.js';
import { withMedface, withSessionOptions, type SessionOptions } from './session.js';

export function registerIdentify(program: Command): void {
  withSessionOptions(
    program
      .command('identify')
      .description('1:N: which enrolled patients match the face in the photo? Only matches are listed, never the nearest stranger')
      .argument('<image>', 'a photo of one face')
      .option('--top <k>', 'most candidates to list (default 3)', (v) => Number(v))
      .option('--thresholds <file>', 'thresholds file (default config/thresholds.json)'),
  ).action(
    action(async (file: string, opts: SessionOptions & { top?: number; thresholds?: string }) => {
      const { identify } = await import('../services/identify.js');
      const image = await readImageArgument(file);
      const request = { image, ...(opts.top !== undefined && { top: opts.top }) };
      const result = await withMedface(opts, (medface, who) => identify(medface, request, who), { thresholdsFile: opts.thresholds });
      print(result, opts, render);
    }),
  );
}

function render(r: IdentifyResult): string {
  if (!r.match) return `NO MATCH (threshold ${r.threshold.toFixed(4)} for ${r.galleryPatients} patients at FPIR ${r.fpir})`;
  return r.candidates.map((c, i) => `${i + 1}. ${c.patientId}  ${c.grade}  score ${c.score.toFixed(4)}`).join('\n');
}
