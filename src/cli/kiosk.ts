import type { Command } from 'commander';
import type { ApiClient } from '../access/api-clients.js';
import { MedfaceError } from '../errors.js';
import { asOperator } from './operator.js';
import { action, print } from './output.js';
import { withSessionOptions, type SessionOptions } from './session.js';

export function registerKiosk(program: Command): void {
  const kiosk = program.command('kiosk').description('Check-in kiosks: devices that may check patients in and do nothing else');

  withSessionOptions(
    kiosk
      .command('register')
      .description("Register a kiosk; prints its one-time pairing link, to open in the kiosk's browser")
      .requiredOption('--name <name>', 'a unique name, e.g. "Lobby 1" (the audit trail names the kiosk by it)')
      .option('--url <url>', "this server's address as the kiosk reaches it, e.g. https://medface.clinic.example"),
  ).action(
    action(async (opts: SessionOptions & { name: string; url?: string }) => {
      const { registerKiosk: register, PAIRING_HOURS } = await import('../access/kiosks.js');
      const registered = await asOperator(opts, (ctx, caller) => register(ctx, caller, { name: opts.name }));
      const link = `${(opts.url ?? '').replace(/\/+$/, '')}/kiosk/pair#${registered.pairingCode}`;
      print({ ...registered, pairingLink: link }, opts, (r) =>
        [renderKiosk(r.kiosk), `Pairing link (works once, for ${PAIRING_HOURS} h; open it in the kiosk's browser${opts.url ? '' : ", after this server's address"}):`, link].join('\n'),
      );
    }),
  );

  withSessionOptions(kiosk.command('list').description('Every kiosk: whether it is paired or revoked')).action(
    action(async (opts: SessionOptions) => {
      const { listApiClients } = await import('../access/api-clients.js');
      const kiosks = (await asOperator(opts, listApiClients)).filter((c) => c.kind === 'kiosk');
      print(kiosks, opts, (all) => (all.length === 0 ? 'no kiosks' : all.map(renderKiosk).join('\n')));
    }),
  );

  withSessionOptions(kiosk.command('revoke').description('Revoke a kiosk: it can no longer check anyone in').argument('<id-or-name>')).action(
    action(async (idOrName: string, opts: SessionOptions) => {
      const { listApiClients, revokeApiClient } = await import('../access/api-clients.js');
      const revoked = await asOperator(opts, async (ctx, caller) => {
        const found = (await listApiClients(ctx, caller)).find((c) => c.kind === 'kiosk' && (c.id === idOrName || c.name === idOrName));
        if (!found) throw new MedfaceError('NOT_FOUND', `no kiosk ${idOrName}`);
        return revokeApiClient(ctx, caller, found.id);
      });
      print(revoked, opts, renderKiosk);
    }),
  );
}

function renderKiosk(c: ApiClient): string {
  const state = c.revokedAt !== null ? `revoked ${c.revokedAt}` : c.pairedAt !== null ? `paired ${c.pairedAt}` : 'waiting to be paired';
  return `${c.name}\t${state}\t${c.id}`;
}
