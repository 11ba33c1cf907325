import type { Command } from 'commander';
import { action, print } from './output.js';
import { withMedface, withSessionOptions, type SessionOptions } from './session.js';

export function registerErase(program: Command): void {
  withSessionOptions(
    program.command('erase').description("Erasure request: delete all of a patient's biometric data (templates, photos) and end the consent").argument('<patient>', 'patient id'),
  ).action(
    action(async (patientId: string, opts: SessionOptions) => {
      const { erase } = await import('../services/patients/erase.js');
      const result = await withMedface(opts, (medface, who) => erase(medface, patientId, who));
      print(result, opts, (r) => `erased ${r.templatesRemoved} template(s) and ${r.photosRemoved} photo(s) of ${r.patientId}` + (r.consentWithdrawn ? '; consent ended' : ''));
    }),
  );
}
