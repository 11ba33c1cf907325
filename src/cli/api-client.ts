import type { Command } from 'commander';
import type { ApiClient } from '../access/api-clients.js';
import { asOperator } from './operator.js';
import { action, print } from './output.js';
import { withSessionOptions, type SessionOptions } from './session.js';

export function registerApiClient(program: Command): void {
  const client = program.command('api-client').description('Integrations calling with scoped API keys');

  withSessionOptions(
    client
      .command('create')
      .description('Register an integration; prints its API key once (only a hash is kept)')
      .requiredOption('--name <name>', 'a unique name, e.g. "telemedicine"')
      .requiredOption('--scope <scope...>', 'verify:patient, identify:patient, checkin:patient, metrics:read'),
  ).action(
    action(async (opts: SessionOptions & { name: string; scope: string[] }) => {
      const { createApiClient } = await import('../access/api-clients.js');
      const created = await asOperator(opts, (ctx, caller) => createApiClient(ctx, caller, { name: opts.name, scopes: opts.scope }));
      print(created, opts, (r) => `${renderClient(r.client)}\nAPI key (shown once; store it in the integration's secret store): ${r.key}`);
    }),
  );

  withSessionOptions(client.command('list').description('Every integration, with its scopes and whether it is revoked')).action(
    action(async (opts: SessionOptions) => {
      const { listApiClients } = await import('../access/api-clients.js');
      print(await asOperator(opts, listApiClients), opts, (all) => (all.length === 0 ? 'no API clients' : all.map(renderClient).join('\n')));
    }),
  );

  withSessionOptions(client.command('revoke').description('Revoke an integration: its key stops working at once').argument('<id-or-name>')).action(
    action(async (idOrName: string, opts: SessionOptions) => {
      const { revokeApiClient } = await import('../access/api-clients.js');
      print(await asOperator(opts, (ctx, caller) => revokeApiClient(ctx, caller, idOrName)), opts, renderClient);
    }),
  );
}

function renderClient(c: ApiClient): string {
  return `${c.name}\t${c.kind}\t${c.scopes.join(',')}\t${c.revokedAt === null ? 'active' : `revoked ${c.revokedAt}`}\t${c.id}`;
}
