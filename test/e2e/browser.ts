import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { Writable } from 'node:stream';
import { setTimeout as delay } from 'node:timers/promises';
import { chromium, type Browser, type BrowserContext, type Page } from 'playwright-core';
import { build } from 'vite';
import { signInWithTotp } from '../../src/access/authenticate.js';
import { DEFAULT_TOTP, totpCode } from '../../src/access/totp.js';
import { buildServer, type ServerOptions } from '../../src/server/app.js';
import type { Deployment } from '../../src/services/deployment.js';

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
