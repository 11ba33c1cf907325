import { existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Writable } from 'node:stream';
import { setTimeout as delay } from 'node:timers/promises';
import { chromium, type Browser, type BrowserContext, type Page } from 'playwright-core';
import { build } from 'vite';
import { expect } from 'vitest';
import { signInWithTotp } from '../../src/access/authenticate.js';
import type { Role } from '../../src/access/policy.js';
import { base32Decode, DEFAULT_TOTP, totpCode } from '../../src/access/totp.js';
import { createUser } from '../../src/access/users.js';
import { buildServer, type ServerOptions } from '../../src/server/app.js';
import type { Caller } from '../../src/access/guard.js';
import { FacePool } from '../../src/face/index.js';
import { Deployment, type DeploymentOptions } from '../../src/services/operations/deployment.js';
import { demoFaces, writeTestThresholds, type Faces } from '../services/fixtures.js';

/**
 * What the browser tests share: Debian's Chromium with a fake camera playing a y4m video (y4m.ts), the web
 * app built into a temporary folder and served by the real server on a loopback port, and screenshots in
 * test-artifacts/.
 */

export const CHROMIUM = '/usr/bin/chromium';
export const chromiumAvailable = existsSync(CHROMIUM);
export const ARTIFACTS = path.resolve('test-artifacts');
export const WAIT = { timeout: 90_000 };
/** Time a set-up sign-in is given to finish within one TOTP step (see renewFirstPassword). */
const RENEWAL_MARGIN_MS = 10_000;

/** Who the browser tests' set-up acts as: an operator at the command line. */
export const OPERATOR: Caller = { principal: { kind: 'operator', id: 'cli:e2e' }, client: null };

/**
 * What a browser test file runs against: a temporary folder with the web app built into it, a one-worker face
 * pool with the demo faces, and a deployment on SQLite in that folder with the test thresholds.
 */
export interface BrowserTestSite {
  root: string;
  webRoot: string;
  pool: FacePool;
  faces: Faces;
  deployment: Deployment;
  /** Stops the deployment and the pool, and removes the folder (servers and browsers are the test's to close first). */
  close(): Promise<void>;
}

/** Starts a file's BrowserTestSite (`name` names its temporary folder); what started is stopped again if a later step fails. */
export async function startSite(name: string, options: Omit<DeploymentOptions, 'pool' | 'thresholdsFile'> = {}): Promise<BrowserTestSite> {
  expect(chromiumAvailable, `${CHROMIUM} is required in CI (apt-get install chromium)`).toBe(true);
  const root = mkdtempSync(path.join(os.tmpdir(), `medface-e2e-${name}-`));
  const started: { pool?: FacePool; deployment?: Deployment } = {};
  const close = async (): Promise<void> => {
    await started.deployment?.close();
    await started.pool?.close();
    rmSync(root, { recursive: true, force: true });
  };
  try {
    const webRoot = await buildWebApp(path.join(root, 'web'));
    const pool = (started.pool = await FacePool.create({ size: 1 }));
    const faces = await demoFaces(pool);
    const thresholdsFile = path.join(root, 'thresholds.json');
    writeTestThresholds(thresholdsFile);
    const config = { dataDir: path.join(root, 'data'), databaseUrl: undefined, keyFile: undefined };
    const deployment = (started.deployment = await Deployment.start(config, { ...options, pool, thresholdsFile }));
    return { root, webRoot, pool, faces, deployment, close };
  } catch (error) {
    await close();
    throw error;
  }
}

/** How a staff member signs in on the sign-in page. */
export interface StaffLogin {
  username: string;
  password: string;
  secret: Buffer;
}

/** A staff account with a first password and TOTP, created as an operator does it, and its TOTP secret. */
export async function createStaff(deployment: Deployment, username: string, role: Role): Promise<{ username: string; first: string; secret: Buffer }> {
  const first = `first password for ${username}`;
  const created = await createUser(deployment.access, OPERATOR, { username, roles: [role], password: first, totp: true });
  return { username, first, secret: base32Decode(new URL(created.totpUri as string).searchParams.get('secret') as string) };
}

/** Builds the web app into `outDir` with the project's Vite configuration; returns `outDir`. */
export async function buildWebApp(outDir: string): Promise<string> {
  mkdirSync(ARTIFACTS, { recursive: true });
  await build({ configFile: path.resolve('web/vite.config.ts'), logLevel: 'warn', build: { outDir, emptyOutDir: true } });
  return outDir;
}

/**
 * The real server for `deployment` on a loopback port (`port`, or a free one), logs discarded. `close` stops the
 * server (not the deployment): serving again on the same port is a server restart.
 */
export async function serve(
  deployment: Deployment,
  webRoot: string,
  options: Omit<ServerOptions, 'deployment' | 'webRoot' | 'log'> = {},
  port = 0,
): Promise<{ baseUrl: string; close: () => Promise<void> }> {
  const app = await buildServer({ ...options, deployment, webRoot, log: { stream: new Writable({ write: (_chunk, _encoding, done) => done() }) } });
  await app.listen({ host: '127.0.0.1', port });
  const address = app.server.address() as { port: number };
  return { baseUrl: `http://127.0.0.1:${address.port}`, close: () => app.close() };
}

/** Chromium whose camera plays `y4m` (written to `<dir>/<name>.y4m`). */
export async function launchWithCamera(y4m: Buffer, dir: string, name: string): Promise<Browser> {
  const video = path.join(dir, `${name}.y4m`);
  writeFileSync(video, y4m);
  return chromium.launch({
    executablePath: CHROMIUM,
    args: [
      '--headless',
      '--no-sandbox',
      '--disable-gpu',
      '--disable-background-networking',
      '--disable-component-update',
      '--no-first-run',
      '--use-fake-device-for-media-stream',
      '--use-fake-ui-for-media-stream',
      `--use-file-for-fake-video-capture=${video}`,
    ],
  });
}

export type StorageState = Awaited<ReturnType<BrowserContext['storageState']>>;

export async function newPage(browser: Browser, state?: StorageState): Promise<{ context: BrowserContext; page: Page }> {
  const context = await browser.newContext({ viewport: { width: 1024, height: 768 }, permissions: ['camera'], ...(state && { storageState: state }) });
  const page = await context.newPage();
  page.setDefaultTimeout(WAIT.timeout);
  return { context, page };
}

/**
 * Where the documentation's screenshots go when the browser tests are run to renew them
 * (`MEDFACE_SCREENS_DIR=docs/screens npx vitest run test/e2e`); unset, they stay in test-artifacts/ only.
 */
const SCREENS = process.env.MEDFACE_SCREENS_DIR ? path.resolve(process.env.MEDFACE_SCREENS_DIR) : null;

export async function screenshot(page: Page, name: string): Promise<Buffer> {
  const image = await page.screenshot({ path: path.join(ARTIFACTS, `${name}.png`), fullPage: true });
  if (SCREENS) {
    mkdirSync(SCREENS, { recursive: true });
    writeFileSync(path.join(SCREENS, `${name}.png`), image);
  }
  return image;
}

/** Resolves once the page's camera preview shows frames. */
export async function cameraPlaying(page: Page): Promise<void> {
  await page
    .locator('video')
    .first()
    .evaluate((video) => new Promise((resolve) => ((video as unknown as { readyState: number }).readyState >= 2 ? resolve(true) : video.addEventListener('loadeddata', resolve))));
}

/**
 * Replaces a staff account's administrator-set password outside the browser, signing in with the previous time
 * step's code so the current step's code is still fresh for the sign-in page. Near the end of a step it first
 * waits for the next: were the step to change during the sign-in (argon2 under load takes seconds), the
 * previous step's code would be two steps old and refused.
 */
export async function renewFirstPassword(deployment: Deployment, login: { username: string; first: string; secret: Uint8Array }): Promise<string> {
  const period = DEFAULT_TOTP.period * 1000;
  const left = period - (Date.now() % period);
  if (left < RENEWAL_MARGIN_MS) await delay(left);
  const password = `${login.first} renewed`;
  await signInWithTotp(deployment.access, {
    username: login.username,
    password: login.first,
    newPassword: password,
    code: totpCode(login.secret, new Date(Date.now() - period)),
    client: '127.0.0.1',
  });
  return password;
}
