import type { Command } from 'commander';
import type { FirstAdministrator } from '../services/first-run.js';
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
        const server = await startServer(loadConfig(), { host: opts.host, deployment: { ...(opts.workers !== undefined && { poolSize: opts.workers }) } });
        if (server.deployment.medface.notice) process.stderr.write(`medface: ${server.deployment.medface.notice}\n`);
        if (server.firstAdministrator) process.stdout.write(firstRunMessage(server.firstAdministrator));
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

/** Shown on the console once, on the run that created the account (never logged). */
function firstRunMessage(admin: FirstAdministrator): string {
  return [
    '',
    'medface: first run — the administrator account was created. This is shown once and stored nowhere in clear:',
    `  username:           ${admin.username}`,
    `  one-time password:  ${admin.password}   (choose a new one at the first sign-in)`,
    `  TOTP enrolment:     ${admin.totpUri}`,
    '                      (add it to an authenticator app; sign-in asks for its 6-digit code)',
    '',
  ].join('\n');
}
