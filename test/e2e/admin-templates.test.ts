import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { Browser, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { base32Decode, totpCode } from '../../src/access/totp.js';
import { createUser } from '../../src/access/users.js';
import { DLIB_EMBEDDER_ID } from '../../src/face/embedders/dlib.js';
import { MOBILEFACENET_EMBEDDER_ID } from '../../src/face/embedders/mobilefacenet.js';
import { FacePool } from '../../src/face/index.js';
import { thresholdsFor, writeModelThresholds } from '../../src/identity/thresholds.js';
import { openMedface, type Medface } from '../../src/services/context.js';
import { Deployment } from '../../src/services/operations/deployment.js';
import { actorOf } from '../../src/services/patients/records.js';
import { demoFaces, PATIENTS, registerPatient, type Faces } from '../services/fixtures.js';
import { buildWebApp, chromiumAvailable, CHROMIUM, newPage, OPERATOR, renewFirstPassword, screenshot, serve, WAIT } from './browser.js';
import { chromium } from 'playwright-core';

/**
 * The administrator's view of the templates after the recogniser changed, in Chromium against the real server:
 * patients enrolled with the older model (one with the photo kept, one without) beside one enrolled with the
 * current model, each model's counts, what a migration would move, and the command that runs it.
 */

const OLD = DLIB_EMBEDDER_ID;
const NEW = MOBILEFACENET_EMBEDDER_ID;

describe.skipIf(!chromiumAvailable && !process.env.CI)('the templates page in Chromium', () => {
  let root: string;
  let pools: FacePool[] = [];
  let deployment: Deployment;
  let faces: Faces;
  let site: { baseUrl: string; close: () => Promise<void> };
  let browser: Browser;

  beforeAll(async () => {
    expect(chromiumAvailable, `${CHROMIUM} is required in CI (apt-get install chromium)`).toBe(true);
    root = mkdtempSync(path.join(os.tmpdir(), 'medface-e2e-templates-'));
    const webRoot = await buildWebApp(path.join(root, 'web'));
    pools = [await FacePool.create({ size: 1, embedderId: OLD }), await FacePool.create({ size: 1, embedderId: NEW })];
    faces = await demoFaces(pools[0]!);
    const thresholdsFile = path.join(root, 'thresholds.json');
    // each model's own calibrated cut-offs (config/thresholds.json), so both are searched; this page shows no score
    for (const model of [OLD, NEW]) writeModelThresholds(model, thresholdsFor(model), thresholdsFile);
    const config = { dataDir: path.join(root, 'data'), databaseUrl: undefined, keyFile: undefined };
    const actor = actorOf(OPERATOR);
    const register = (medface: Medface, patient: object, image: Buffer, keepPhoto: boolean) => registerPatient(medface, patient, { images: [image], keepPhoto }, actor);
    // enrolled before the recogniser changed: Bob with his photo kept, Carol without
    const before = await openMedface(config, { faces: pools[0]!, embedderId: OLD, thresholdsFile });
    await register(before, PATIENTS.bob, faces.bob, true);
    await register(before, PATIENTS.carol, faces.carol, false);
    await before.close();
    deployment = await Deployment.start(config, { pool: pools[1]!, embedderId: NEW, thresholdsFile });
    await register(deployment.medface, PATIENTS.alice, faces.alice, false);
    site = await serve(deployment, webRoot);
    browser = await chromium.launch({ executablePath: CHROMIUM, args: ['--headless', '--no-sandbox', '--disable-gpu', '--no-first-run'] });
  });

  afterAll(async () => {
    await browser?.close();
    await site?.close();
    await deployment?.close();
    for (const pool of pools) await pool.close();
    if (root) rmSync(root, { recursive: true, force: true });
  });

  const signIn = async (page: Page, username: string, next: string): Promise<void> => {
    const first = `first password for ${username}`;
    const created = await createUser(deployment.access, OPERATOR, { username, roles: ['admin'], password: first, totp: true });
    const secret = base32Decode(new URL(created.totpUri as string).searchParams.get('secret') as string);
    const password = await renewFirstPassword(deployment, { username, first, secret });
    await page.goto(`${site.baseUrl}/sign-in?next=${encodeURIComponent(next)}`);
    await page.getByLabel('Username').fill(username);
    await page.getByLabel('Password', { exact: true }).fill(password);
    await page.getByLabel('Authenticator code').fill(totpCode(secret, new Date()));
    await page.getByRole('button', { name: 'Sign in' }).click();
  };

  it('shows each model’s patients and templates, the pending migration and how to run it', async () => {
    const { page } = await newPage(browser);
    await signIn(page, 'e2e-admin', '/admin');
    await page.getByRole('link', { name: 'Templates' }).click();
    await page.getByRole('heading', { name: 'Face templates by recogniser' }).waitFor(WAIT);
    const row = (model: string) => page.getByRole('row').filter({ has: page.getByRole('cell', { name: model, exact: true }) });
    await row(OLD).waitFor(WAIT);
    expect(await row(OLD).locator('td').allInnerTexts()).toEqual([OLD, 'older', '2', '2', '1', '1', 'searched with its own model']);
    expect(await row(NEW).locator('td').allInnerTexts()).toEqual([NEW, 'current', '1', '1', '—', '—', 'searched']);
    await page.getByText('pending: 1 template(s) can be re-derived from kept photos').waitFor(WAIT);
    await page.getByRole('status').filter({ hasText: 'medface templates migrate' }).waitFor(WAIT);
    await screenshot(page, 'admin-templates');

    // what the page showed is what the store holds, and the read is in the audit trail
    const counts = await deployment.medface.store.countTemplatesByModel();
    expect(counts.map((c) => [c.model, c.patients, c.templates]).sort()).toEqual(
      [
        [OLD, 2, 2],
        [NEW, 1, 1],
      ].sort(),
    );
    const reads = await deployment.medface.store.listAuditEvents({ action: 'templates.read', limit: 10 });
    expect(reads).toHaveLength(1);
  });
});
