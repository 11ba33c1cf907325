import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, expect, it } from 'vitest';
import { freePort } from '../resilience/harness.js';

/**
 * What a service manager or a container runtime does: start the product the README's way (`npm start`, the
 * compiled server that `npm ci` builds) and stop it by signalling the process it started.
 */

const REPO = path.resolve(import.meta.dirname, '../..');
const dataDir = mkdtempSync(path.join(tmpdir(), 'medface-npm-start-'));

afterAll(() => rmSync(dataDir, { recursive: true, force: true }));

function portOpen(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect(port, '127.0.0.1');
    socket.once('connect', () => {
      socket.destroy();
      resolve(true);
    });
    socket.once('error', () => resolve(false));
  });
}

function processAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

it('keeps the first-run secrets out of the log, and stops within 10 s when the npm start process gets SIGTERM', async () => {
  const port = await freePort();
  const env: NodeJS.ProcessEnv = { ...process.env, PORT: String(port), MEDFACE_DATA_DIR: dataDir };
  delete env.DATABASE_URL;
  delete env.MEDFACE_KEY_FILE;
  const npm = spawn('npm', ['start'], { cwd: REPO, env, stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  npm.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString('utf8')));
  npm.stderr.resume();
  const npmExited = new Promise<void>((resolve) => npm.once('exit', () => resolve()));
  try {
    const serverPid = await new Promise<number>((resolve, reject) => {
      const timer = setInterval(() => {
        // the first-run notice comes once the server listens
        const line = stdout.split('\n').find((l) => l.includes('first run'));
        if (line) {
          clearInterval(timer);
          resolve((JSON.parse(line) as { pid: number }).pid);
        }
      }, 100);
      void npmExited.then(() => {
        clearInterval(timer);
        reject(new Error(`npm start exited before listening:\n${stdout.slice(-3000)}`));
      });
    });
    expect(await portOpen(port)).toBe(true);

    const secretsFile = path.join(dataDir, 'first-run-admin.txt');
    expect(statSync(secretsFile).mode & 0o777).toBe(0o600);
    const secrets = readFileSync(secretsFile, 'utf8');
    const password = /one-time password:\s+(\S+)/.exec(secrets)?.[1];
    const totpSecret = /secret=([A-Z2-7]+)/.exec(secrets)?.[1];
    expect(password).toBeDefined();
    expect(totpSecret).toBeDefined();
    expect(stdout).toContain(secretsFile);
    expect(stdout).not.toContain(password);
    expect(stdout).not.toContain(totpSecret);

    const signalled = Date.now();
    npm.kill('SIGTERM');
    while ((await portOpen(port)) && Date.now() - signalled < 10_000) await new Promise((r) => setTimeout(r, 100));
    expect(await portOpen(port)).toBe(false);
    while (processAlive(serverPid) && Date.now() - signalled < 10_000) await new Promise((r) => setTimeout(r, 100));
    expect(processAlive(serverPid)).toBe(false);
    expect(stdout).toContain('"signal":"SIGTERM"');
  } finally {
    if (npm.exitCode === null) npm.kill('SIGKILL');
    await npmExited;
  }
}, 240_000);
