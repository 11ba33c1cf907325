import type { Command } from 'commander';
import type { VerifyResult } from '../services/biometrics/verify.js';
import { readImageArgument } from './engine.js';
import { action, print } from './output.js';
import { withMedface, withSessionOptions, type SessionOptions } from './session.js';

export function registerVerify(program: Command): void {
  withSessionOptions(
    program
      .command('verify')
      .description("1:1: is the face in the photo this patient? Compared with the patient's enrolled templates")
      .argument('<patient>', 'patient id')
      .argument('<image>', 'a photo of one face')
      .option('--thresholds <file>', 'thresholds file (default config/thresholds.json)'),
  ).action(
    action(async (patientId: string, file: string, opts: SessionOptions & { thresholds?: string }) => {
      const { verify } = await import('../services/biometrics/verify.js');
      const image = await readImageArgument(file);
      const result = await withMedface(opts, (medface, who) => verify(medface, { patientId, image }, who), { thresholdsFile: opts.thresholds });
      print(result, opts, render);
    }),
  );
}

function render(r: VerifyResult): string {
  return `${r.match ? 'MATCH' : 'NO MATCH'} (${r.grade}): score ${r.score.toFixed(4)}, threshold ${r.threshold.toFixed(4)}` + (r.refreshed ? '; templates refreshed with this photo' : '');
}
