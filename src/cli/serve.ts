import { mkdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import type { Command } from 'commander';
import type { FirstAdministrator } from '../services/operations/first-run.js';
import { action } from './output.js';

export function registerServe(program: Command): void {
  program
    .command('serve')
    .description('Run the server: REST API, FHIR, OpenAPI at /docs and the web application (PORT, MEDFACE_DATA_DIR, DATABASE_URL, MEDFACE_KEY_FILE, MEDFACE_TLS_CERT/KEY)')
    .option('--host <address>', 'interface to listen on', '0.0.0.0')
    .option('--workers <n>', 'face engine worker threads (default: one per core)', (v) => Number.parseInt(v, 10))
    .action(
      action(async (opts: { host: string; workers?: number }) => {
        // loaded here: `medface --help` should not wait for Fastify, the database drivers and the face models
        const [{ loadConfig }, { startServer }] = await Promise.all([import('../config.js'), import('../server/lifecycle.js')]);
        const config = loadConfig();
        const server = await startServer(config, { host: opts.host, deployment: { ...(opts.workers !== undefined && { poolSize: opts.workers }) } });
        if (server.deployment.medface.settings.notice) process.stderr.write(`medface: ${server.deployment.medface.settings.notice}\n`);
        // a release that changed the default recogniser starts on the old templates: say what to run, once, at start
        const { olderTemplatesNotice } = await import('../services/operations/template-migration.js');
        const older = await olderTemplatesNotice(server.deployment.medface);
        if (older) process.stderr.write(`medface: ${older}\n`);
        if (server.firstAdministrator) {
          const file = await keepFirstRunSecrets(config.dataDir, server.firstAdministrator);
          // the log stream is kept by service managers and log shippers: it names the file, never the secrets
          server.app.log.warn({ file }, 'first run: the administrator account was created; its one-time password and TOTP enrolment are in this file (read it once, then delete it)');
          if (process.stdout.isTTY) process.stdout.write(await firstRunMessage(server.firstAdministrator));
        }
        let stopping = false;
        const stop = (signal: NodeJS.Signals) => {
          if (stopping) {
            process.stderr.write(`medface: ${signal} again, exiting now\n`);
            process.exit(1);
          }
          stopping = true;
          server.app.log.info({ signal }, 'shutting down: finishing requests in flight');
          server.close().then(
            () => server.app.log.info('stopped'),
            (e: unknown) => {
              server.app.log.error({ err: e }, 'shutdown failed');
              process.exitCode = 1;
            },
          );
        };
        process.on('SIGTERM', stop);
        process.on('SIGINT', stop);
      }),
    );
}

export const FIRST_RUN_FILE = 'first-run-admin.txt';

/**
 * The first administrator's one-time credentials, written where only the server's own user can read them
 * (the data directory is 0700, the file 0600): a server started by a service manager has no console to show
 * them on.
 */
async function keepFirstRunSecrets(dataDir: string, admin: FirstAdministrator): Promise<string> {
  const file = path.join(dataDir, FIRST_RUN_FILE);
  await mkdir(dataDir, { recursive: true, mode: 0o700 });
  await writeFile(file, await firstRunMessage(admin), { mode: 0o600 });
  return file;
}

/** Shown once, on the run that created the account: in the file above, and on an interactive terminal. */
async function firstRunMessage(admin: FirstAdministrator): Promise<string> {
  const { terminalQr } = await import('./qr.js');
  return [
    '',
    'medface: first run — the administrator account was created. This is shown once and stored nowhere else in clear:',
    `  username:           ${admin.username}`,
    `  one-time password:  ${admin.password}   (choose a new one at the first sign-in)`,
    `  TOTP enrolment:     ${admin.totpUri}`,
    '                      (scan the code below into an authenticator app; sign-in asks for its 6-digit code)',
    '',
    await terminalQr(admin.totpUri),
    '',
  ].join('\n');
}
