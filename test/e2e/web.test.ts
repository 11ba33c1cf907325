import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { Browser, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Caller } from '../../src/access/guard.js';
import type { Role } from '../../src/access/policy.js';
import { base32Decode, totpCode } from '../../src/access/totp.js';
import { createUser } from '../../src/access/users.js';
import { FacePool } from '../../src/face/index.js';
import { grantConsent } from '../../src/services/consent.js';
import { Deployment } from '../../src/services/deployment.js';
import { enrol } from '../../src/services/enrol.js';
import { createPatientRecord } from '../../src/services/patients.js';
import { actorOf } from '../../src/services/records.js';
import { randomChallengeActions } from '../../src/liveness/types.js';
import { demoFaces, PATIENTS, writeTestThresholds, type Faces } from '../services/fixtures.js';
import { buildWebApp, cameraPlaying, chromiumAvailable, CHROMIUM, launchWithCamera, newPage, renewFirstPassword, screenshot, serve, WAIT, type StorageState } from './browser.js';
import { performingVideo, stillVideo } from './y4m.js';

/**
 * The web application in Debian's Chromium against the real server (SQLite, the real face model), the
 * camera fed from a video of a face cut from face-api's demo photos. Screenshots go to test-artifacts/.
 */

if (!chromiumAvailable && !process.env.CI) console.warn(`browser tests skipped: ${CHROMIUM} is absent (apt-get install chromium)`);
const OPERATOR: Caller = { principal: { kind: 'operator', id: 'cli:e2e' }, client: null };
/**
 * The deployment's liveness challenges come from this random source, so that a camera video made in advance
 * performs them; the actions are whatever the challenge generator makes of it.
 */
const FIXED_RANDOM = () => 0;
const ACTIONS = randomChallengeActions(FIXED_RANDOM);

interface Staff {
  username: string;
  password: string;
  secret: Buffer;
}

describe.skipIf(!chromiumAvailable && !process.env.CI)('web application in Chromium', () => {
  let root: string;
  let pool: FacePool;
  let deployment: Deployment;
  let faces: Faces;
  let baseUrl: string;
  let close: () => Promise<void>;
  const staff = new Map<Role, Staff>();
  const browsers: Browser[] = [];

  /** A browser whose camera plays `y4m`. */
  const launch = async (y4m: Buffer, name: string): Promise<Browser> => {
    const browser = await launchWithCamera(y4m, root, name);
    browsers.push(browser);
    return browser;
  };

  /** The front desk's signed-in browser state, shared by the pages it opens (a TOTP code signs in once). */
  let frontDesk: StorageState | undefined;

  /** Signs in through the sign-in page; `step` moves the TOTP code to a later time step (each code works once). */
  const signIn = async (page: Page, role: Role, next: string, step = 0): Promise<void> => {
    const account = staff.get(role) as Staff;
    await page.goto(`${baseUrl}/sign-in?next=${encodeURIComponent(next)}`);
    await page.getByLabel('Username').fill(account.username);
    await page.getByLabel('Password', { exact: true }).fill(account.password);
    await page.getByRole('textbox', { name: 'Authenticator code' }).fill(totpCode(account.secret, new Date(Date.now() + step * 30_000)));
    await page.getByRole('button', { name: 'Sign in' }).click();
  };

  beforeAll(async () => {
    expect(chromiumAvailable, `${CHROMIUM} is required in CI (apt-get install chromium)`).toBe(true);
    root = mkdtempSync(path.join(os.tmpdir(), 'medface-e2e-'));
    const webRoot = await buildWebApp(path.join(root, 'web'));

    pool = await FacePool.create({ size: 1 });
    faces = await demoFaces(pool);
    const thresholdsFile = path.join(root, 'thresholds.json');
    writeTestThresholds(thresholdsFile);
    deployment = await Deployment.start(
      { dataDir: path.join(root, 'data'), databaseUrl: undefined, keyFile: undefined },
      { pool, thresholdsFile, liveness: { random: FIXED_RANDOM } },
    );
    const { medface, access } = deployment;
    const actor = actorOf(OPERATOR);
    const alice = await createPatientRecord(medface, PATIENTS.alice, actor);
    await grantConsent(medface, { patientId: alice.id as string, notice: 'v1' }, actor);
    await enrol(medface, { patientId: alice.id as string, images: [faces.alice] }, actor);

    for (const role of ['front-desk', 'clinician', 'emergency', 'privacy-officer'] as const) {
      const username = `e2e-${role}`;
      const first = `first password for ${username}`;
      const created = await createUser(access, OPERATOR, { username, roles: [role], password: first, totp: true });
      const secret = base32Decode(new URL(created.totpUri as string).searchParams.get('secret') as string);
      if (role === 'clinician') {
        staff.set(role, { username, password: first, secret }); // replaces it on the sign-in page
      } else {
        staff.set(role, { username, password: await renewFirstPassword(deployment, { username, first, secret }), secret });
      }
    }

    const server = await serve(deployment, webRoot);
    baseUrl = server.baseUrl;
    close = async () => {
      await server.close();
      await deployment.close();
    };
  });

  afterAll(async () => {
    for (const browser of browsers) await browser.close();
    await close?.();
    await pool?.close();
    if (root) rmSync(root, { recursive: true, force: true });
  });

  /** The kiosk up to the camera: date of birth, then the preview with its live advice, until "I'm ready". */
  const kioskCamera = async (page: Page, birthDate: string): Promise<void> => {
    await page.getByRole('button', { name: 'Start check-in' }).click();
    await page.getByLabel('Your date of birth').fill(birthDate);
    await page.getByRole('button', { name: 'Next' }).click();
    await page.getByRole('button', { name: 'I’m ready' }).waitFor(WAIT);
    await cameraPlaying(page);
  };

  it('checks in an enrolled patient at the kiosk: date of birth, camera with advice, liveness, welcome', async () => {
    const { context, page } = await newPage(await launch(await performingVideo(pool, faces.alice, ACTIONS), 'alice-live'));
    await signIn(page, 'front-desk', '/kiosk');
    await page.getByRole('heading', { name: 'Check in' }).waitFor(WAIT);
    await screenshot(page, 'kiosk-start');
    frontDesk = await context.storageState();
    await kioskCamera(page, PATIENTS.alice.birthDate);
    await page.getByRole('button', { name: 'I’m ready' }).click();
    await page.getByText(/^Turn your head|^Look|^Blink|^Come closer/).first().waitFor(WAIT);
    await screenshot(page, 'kiosk-liveness');
    await expect(page.getByRole('heading', { name: 'Welcome — you are checked in' }).waitFor(WAIT)).resolves.toBeUndefined();
    // Alice's face was enrolled since her last visit: the kiosk tells her
    await page.getByRole('note').filter({ hasText: /^A face was added to your record on .+ by the clinic/ }).waitFor(WAIT);
    await screenshot(page, 'kiosk-welcome');
  });

  it('shows live advice on the camera preview', async () => {
    const { page } = await newPage(browsers[0] as Browser, frontDesk);
    await page.goto(`${baseUrl}/kiosk`);
    await kioskCamera(page, PATIENTS.alice.birthDate);
    await page.getByRole('status').filter({ hasText: /Good — your face is in view|Move closer|Face the camera/ }).waitFor(WAIT);
    await screenshot(page, 'kiosk-camera');
  });

  it('sends an unknown face to the front desk, saying nothing about any match', async () => {
    const { page } = await newPage(await launch(await performingVideo(pool, faces.stranger, ACTIONS), 'stranger-live'), frontDesk);
    await page.goto(`${baseUrl}/kiosk`);
    await kioskCamera(page, PATIENTS.alice.birthDate);
    await page.getByRole('button', { name: 'I’m ready' }).click();
    await page.getByRole('heading', { name: 'Please see the front desk' }).waitFor(WAIT);
    expect(await page.locator('main').innerText()).not.toMatch(/Alice|Liddell|welcome/i);
    await screenshot(page, 'kiosk-front-desk');
    // a live face that nobody enrolled: the liveness check passed, the identification did not
    const { medface } = deployment;
    const [latest] = (await medface.audit.search(medface.store, { action: 'encounter.check-in', limit: 100 })).slice(-1);
    expect(latest?.details.reason).toBe('no-match');
  });

  it('sends a photo held up to the camera to the front desk, and the failed liveness check is in the audit trail', async () => {
    const { page } = await newPage(await launch(await stillVideo(faces.alice), 'alice-photo'), frontDesk);
    await page.goto(`${baseUrl}/kiosk`);
    await kioskCamera(page, PATIENTS.alice.birthDate);
    await page.getByRole('button', { name: 'I’m ready' }).click();
    await page.getByRole('heading', { name: 'Please see the front desk' }).waitFor(WAIT);
    expect(await page.locator('main').innerText()).not.toMatch(/Alice|Liddell|welcome|liveness/i);
    const { medface } = deployment;
    const failed = await medface.audit.search(medface.store, { action: 'liveness.check', outcome: 'failure', limit: 100 });
    expect(failed.some((e) => e.details.purpose === 'check-in' && Array.isArray(e.details.reasons) && (e.details.reasons as string[]).length > 0)).toBe(true);
    const checkIns = await medface.audit.search(medface.store, { action: 'encounter.check-in', outcome: 'failure', limit: 100 });
    expect(checkIns.some((e) => e.details.reason === 'liveness')).toBe(true);
  });

  it('signs a clinician in with password and TOTP, and opens a chart with the identity banner', async () => {
    const { page } = await newPage(browsers[0] ?? (await launch(await stillVideo(faces.alice), 'alice')));
    await signIn(page, 'clinician', '/clinician');
    await page.getByText('Choose a new password').waitFor(WAIT);
    await screenshot(page, 'sign-in');
    await page.getByLabel('New password').fill('a clinician chose this password');
    await page.getByRole('textbox', { name: 'Authenticator code' }).fill(totpCode(staff.get('clinician')!.secret, new Date(Date.now() + 30_000)));
    await page.getByRole('button', { name: 'Sign in' }).click();
    await page.getByRole('heading', { name: 'Find a patient' }).waitFor(WAIT);
    await page.getByLabel('Name', { exact: true }).fill('Lidd');
    await page.getByRole('button', { name: 'Search' }).click();
    await page.getByRole('link', { name: 'Open chart of Alice Liddell' }).click();
    await page.getByRole('heading', { name: 'Alice Liddell' }).waitFor(WAIT);
    expect(await page.getByRole('note', { name: 'Identity verification' }).innerText()).toMatch(/verified by password and authenticator code/);
    await screenshot(page, 'chart');
  });

  it('records a break-glass access that appears in the privacy officer’s review queue', async () => {
    const browser = browsers[0] ?? (await launch(await stillVideo(faces.alice), 'alice'));
    const emergency = (await newPage(browser)).page;
    await signIn(emergency, 'emergency', '/emergency');
    await emergency.getByLabel('Photo of the patient').setInputFiles({ name: 'patient.jpg', mimeType: 'image/jpeg', buffer: faces.aliceAgain });
    await emergency.getByRole('button', { name: 'Identify' }).click();
    await emergency.getByRole('button', { name: 'Open record of candidate 1' }).click();
    await screenshot(emergency, 'emergency');
    const reason = 'Unconscious on arrival, no identification';
    await emergency.getByLabel('Reason for emergency access').fill(reason);
    await emergency.getByRole('button', { name: 'Open the record' }).click();
    await emergency.getByRole('alert').filter({ hasText: 'Emergency (break-glass) access' }).waitFor(WAIT);

    const officer = (await newPage(browser)).page;
    await signIn(officer, 'privacy-officer', '/privacy');
    await officer.getByRole('cell', { name: reason }).waitFor(WAIT);
    await officer.getByRole('button', { name: 'Verify the audit chain' }).click();
    await officer.getByText(/^Intact: \d+ entries/).waitFor(WAIT);
    await screenshot(officer, 'privacy-officer');

    const desk = (await newPage(browser, frontDesk)).page;
    await desk.goto(`${baseUrl}/front-desk`);
    await desk.getByRole('heading', { name: 'Register a patient' }).waitFor(WAIT);
    await screenshot(desk, 'front-desk');
  });
});
