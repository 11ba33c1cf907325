/**
 * The server as `medface serve` starts it (same configuration from the environment, same lifecycle), with one
 * face worker started on first use instead of before listening: the crash test restarts it after every kill,
 * and most of its kills need no face model. Prints one line with the address once it listens. Exits only by
 * being killed.
 */
import { loadConfig } from '../../src/config.js';
import { startServer } from '../../src/server/lifecycle.js';

const server = await startServer(loadConfig(), {
  host: '127.0.0.1',
  webRoot: null,
  log: { level: 'warn' },
  deployment: { poolSize: 1, startFaces: 'on-first-use' },
});
process.stdout.write(`medface-test-server listening at ${server.url}\n`);
