import type { Command } from 'commander';
import type { Consent } from '../records/fhir.js';
import { action, print } from './output.js';
import { withMedface, withSessionOptions, type SessionOptions } from './session.js';

export function registerConsent(program: Command): void {
  const consent = program.command('consent').description("A patient's consent to biometric identification (FHIR R4 Consent)");

  withSessionOptions(
    consent
      .command('grant')
      .description('Record that the patient consents to face recognition, after being shown the privacy notice')
      .argument('<patient>', 'patient id')
      .requiredOption('--notice-version <version>', 'the privacy notice shown: a version label (v3) or its URI')
      .option('--recorded-by <user>', 'the user who took the consent (default: the actor)'),
  ).action(
    action(async (patientId: string, opts: SessionOptions & { noticeVersion: string; recordedBy?: string }) => {
      const { grantConsent } = await import('../services/patients/consent.js');
      const grant = { patientId, notice: opts.noticeVersion, ...(opts.recordedBy !== undefined && { recordedBy: opts.recordedBy }) };
      print(await withMedface(opts, (medface, who) => grantConsent(medface, grant, who)), opts, renderConsent);
    }),
  );

  withSessionOptions(consent.command('withdraw').description("Withdraw the consent: the patient's face templates and photos are deleted at once").argument('<patient>', 'patient id')).action(
    action(async (patientId: string, opts: SessionOptions) => {
      const { withdrawConsent } = await import('../services/patients/consent.js');
      const result = await withMedface(opts, (medface, who) => withdrawConsent(medface, patientId, who));
      print(result, opts, (r) => `${renderConsent(r.consent)}; deleted ${r.templatesRemoved} template(s) and ${r.photosRemoved} photo(s)`);
    }),
  );
}

function renderConsent(c: Consent): string {
  return `consent ${c.id} ${c.status} (notice ${c.policy?.[0]?.uri ?? '?'}) for ${c.patient?.reference ?? '?'}`;
}
