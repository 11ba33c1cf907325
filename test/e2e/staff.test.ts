import { mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import QRCode from 'qrcode';
import sharp from 'sharp';
import type { Browser, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createApiClient } from '../../src/access/api-clients.js';
import type { Role } from '../../src/access/policy.js';
import { totpCode } from '../../src/access/totp.js';
import { errorCurve } from '../../src/evaluation/metrics.js';
import { renderReport } from '../../src/evaluation/report.js';
import { cosine } from '../../src/identity/match.js';
import { actorOf } from '../../src/services/patients/records.js';
import { PATIENTS, registerPatient } from '../services/fixtures.js';
import { cameraPlaying, chromiumAvailable, createStaff, launchWithCamera, newPage, OPERATOR, renewFirstPassword, screenshot, serve, startSite, WAIT } from './browser.js';
import type { BrowserTestSite, StaffLogin } from './browser.js';
import { randomChallengeActions } from '../../src/liveness/types.js';
import { performingVideo, stillVideo } from './y4m.js';

/**
 * The staff and administrator pages in Chromium against the real server and face model: a clinician
 * enrols their own face on "My account" and signs in with password + face, performing the active liveness
 * check in front of the camera (a photo held still is refused); the
 * administrator manages users, sees the thresholds with the last evaluation's ROC and DET curves, and the
 * key status; the front desk corrects a patient's demographics. Screenshots go to test-artifacts/.
 */

/** The deployment's liveness challenges come from this random source, so that a camera video made in advance performs them. */
const FIXED_RANDOM = () => 0;

describe.skipIf(!chromiumAvailable && !process.env.CI)('staff and admin pages in Chromium', () => {
  let site: BrowserTestSite;
  let baseUrl: string;
  let close: () => Promise<void>;
  let aliceCamera: Browser;
  /** A camera seeing Alice's face do the deployment's challenge actions. */
  let alicePerforming: Browser;
  const logins = new Map<string, StaffLogin>();

  /** A staff account whose administrator-set password was already replaced (with the previous time step's code). */
  const staff = async (username: string, role: Role): Promise<StaffLogin> => {
    const created = await createStaff(site.deployment, username, role);
    const login = { username, password: await renewFirstPassword(site.deployment, created), secret: created.secret };
    logins.set(username, login);
    return login;
  };

  /** The sign-in page with the password typed and "My face" chosen, the camera playing. */
  const faceSignInPage = async (camera: Browser, login: StaffLogin): Promise<Page> => {
    const { page } = await newPage(camera);
    await page.goto(`${baseUrl}/sign-in?next=${encodeURIComponent('/clinician')}`);
    await page.getByLabel('Username').fill(login.username);
    await page.getByLabel('Password', { exact: true }).fill(login.password);
    await page.getByLabel('My face').check();
    expect(await page.getByLabel('Authenticator code').isVisible()).toBe(false);
    await cameraPlaying(page);
    return page;
  };

  const signInWithCode = async (page: Page, login: StaffLogin, next: string, step = 0): Promise<void> => {
    await page.goto(`${baseUrl}/sign-in?next=${encodeURIComponent(next)}`);
    await page.getByLabel('Username').fill(login.username);
    await page.getByLabel('Password', { exact: true }).fill(login.password);
    await page.getByLabel('Authenticator code').fill(totpCode(login.secret, new Date(Date.now() + step * 30_000)));
    await page.getByRole('button', { name: 'Sign in' }).click();
  };

  beforeAll(async () => {
    site = await startSite('staff', { liveness: { random: FIXED_RANDOM } });
    await registerPatient(site.deployment.medface, PATIENTS.alice, { images: [site.faces.alice] }, actorOf(OPERATOR));

    // an evaluation report as `medface evaluate --out reports/<set>` writes it, from real scores of the demo faces
    const embed = async (image: Buffer) => (await site.pool.embedSingle(image, 'verify')).embedding.vector;
    const [a, a2, b, c, s] = await Promise.all([site.faces.alice, site.faces.aliceAgain, site.faces.bob, site.faces.carol, site.faces.stranger].map(embed));
    const genuine = [cosine(a!, a2!)];
    const impostor = [cosine(a!, b!), cosine(a!, c!), cosine(a!, s!), cosine(b!, c!), cosine(b!, s!), cosine(c!, s!), cosine(a2!, b!), cosine(a2!, c!)];
    const reportsDir = path.join(site.root, 'reports');
    mkdirSync(path.join(reportsDir, 'demo-faces'), { recursive: true });
    writeFileSync(
      path.join(reportsDir, 'demo-faces', 'report.html'),
      renderReport({
        title: 'medface evaluation: demo-faces (verification)',
        summary: [
          ['genuine pairs', 1],
          ['impostor pairs', impostor.length],
        ],
        curve: errorCurve(genuine, impostor),
        genuine,
        impostor,
        footer: 'test/e2e/staff.test.ts',
      }),
    );

    ({ baseUrl, close } = await serve(site.deployment, site.webRoot, { reportsDir }));
    aliceCamera = await launchWithCamera(await stillVideo(site.faces.alice), site.root, 'alice');
    alicePerforming = await launchWithCamera(await performingVideo(site.pool, site.faces.aliceAgain, randomChallengeActions(FIXED_RANDOM)), site.root, 'alice-performing');
  });

  afterAll(async () => {
    await aliceCamera?.close();
    await alicePerforming?.close();
    await close?.();
    await site?.close();
  });

  it('lets a clinician enrol their own face with consent, then sign in with password and face from the camera', async () => {
    // the clinician is the person the camera sees (the face is not enrolled as a patient's for this account)
    const login = await staff('e2e-face-clinician', 'clinician');
    const { page } = await newPage(aliceCamera);
    await signInWithCode(page, login, '/account');
    await page.getByRole('heading', { name: 'My account' }).waitFor(WAIT);
    await page.getByRole('button', { name: 'Enrol my face' }).click();
    await page.getByText(/Tick the consent box first/).waitFor(WAIT);
    await page.getByLabel(/agree to my face being used to sign me in/).check();
    await page.getByRole('button', { name: 'Enrol my face' }).click();
    await cameraPlaying(page);
    await screenshot(page, 'account');
    await page.getByRole('button', { name: 'Capture and enrol my face' }).click();
    await page.getByText(/^Your face is enrolled \(1 of 3\)/).waitFor(WAIT);

    // the actions start 4 s after the camera opens (y4m.ts): the person presses "Sign in" before that
    const live = await faceSignInPage(alicePerforming, login);
    await live.getByRole('button', { name: 'Sign in' }).click();
    await screenshot(live, 'sign-in-face');
    const signedIn = await live
      .getByRole('heading', { name: 'Find a patient' })
      .waitFor({ timeout: 180_000 })
      .then(() => null)
      .catch(async (e: unknown) => {
        const checks = await site.deployment.medface.store.listAuditEvents({ action: 'liveness.check', limit: 5 });
        return `${String(e)}\npage: ${await live.locator('form').innerText()}\nchecks: ${checks.map((c) => c.details).join('\n')}`;
      });
    expect(signedIn).toBeNull();
    const session = await live.evaluate(() => fetch('/api/v1/auth/session').then((r) => r.json() as Promise<{ session: { established: { method: string } } }>));
    expect(session.session.established.method).toBe('password+face');
  }, 360_000);

  it('refuses a photo held still in front of the camera in place of the live face', async () => {
    const held = await faceSignInPage(aliceCamera, logins.get('e2e-face-clinician') as StaffLogin);
    await held.getByRole('button', { name: 'Sign in' }).click();
    await held.getByText(/^Sign-in failed\. Check your details, face the camera/).waitFor(WAIT);
    expect(await held.evaluate(() => fetch('/api/v1/auth/session').then((r) => r.status))).toBe(401);
    const failure = (await site.deployment.medface.store.listAuditEvents({ action: 'auth.sign-in', outcome: 'failure', limit: 10 })).at(-1);
    expect(JSON.parse(failure?.details ?? '{}')).toMatchObject({ method: 'password+face', reason: 'face-error', code: 'LIVENESS_FAILED' });
  }, 240_000);

  it('lets the administrator list users, create one and request a password reset that a second administrator approves', async () => {
    const admin = await staff('e2e-admin', 'admin');
    const secondAdmin = await staff('e2e-admin-2', 'admin');
    const { page } = await newPage(aliceCamera);
    await signInWithCode(page, admin, '/admin');
    await page.getByRole('heading', { name: 'Users and roles' }).waitFor(WAIT);
    await page.getByRole('cell', { name: 'e2e-admin', exact: true }).waitFor(WAIT);
    await page.getByLabel('New username').fill('e2e-new-nurse');
    await page.getByLabel('Role of the new account').selectOption('front-desk');
    await page.getByRole('button', { name: 'Create account' }).click();
    await page.getByText('Account e2e-new-nurse created').waitFor(WAIT);
    await expectEnrolmentQr(page);
    await page.getByRole('cell', { name: 'e2e-new-nurse', exact: true }).waitFor(WAIT);
    // taking over another account needs a second administrator (issue 15, finding 8)
    await page.getByRole('button', { name: 'Reset password of e2e-new-nurse' }).click();
    await page.getByText(/^Requested: another administrator approves it/).waitFor(WAIT);
    await page.getByRole('button', { name: 'Approve: reset the password of e2e-new-nurse' }).click();
    await page.getByText('a request is approved by another administrator than the one who made it').waitFor(WAIT);
    await screenshot(page, 'admin-users');
    expect((await site.deployment.medface.store.listUsers()).map((u) => u.username)).toContain('e2e-new-nurse');

    const approver = (await newPage(aliceCamera)).page;
    await signInWithCode(approver, secondAdmin, '/admin');
    await approver.getByRole('heading', { name: 'Requests awaiting approval' }).waitFor(WAIT);
    await approver.getByRole('button', { name: 'Approve: reset the password of e2e-new-nurse' }).click();
    await approver.getByText('Approved: reset the password of e2e-new-nurse').waitFor(WAIT);
    await approver.getByText('No requests.').waitFor(WAIT);
    const oneTimePassword = await approver.locator('dd code').first().textContent();

    // the nurse's first sign-in enrols their own authenticator, shown as a QR code too (issue 16)
    const nursePage = (await newPage(aliceCamera)).page;
    await nursePage.goto(`${baseUrl}/sign-in`);
    await nursePage.getByLabel('Username').fill('e2e-new-nurse');
    await nursePage.getByLabel('Password', { exact: true }).fill(oneTimePassword!);
    await nursePage.getByRole('button', { name: 'First sign-in: set up my authenticator' }).click();
    await expectEnrolmentQr(nursePage);
    await screenshot(nursePage, 'sign-in-first-enrolment');

    // destructive one-click actions ask first (issue 16): cancelling changes nothing, "Yes, …" does it
    const integration = await createApiClient(site.deployment.access, OPERATOR, { name: 'e2e-lab-system', scopes: ['verify:patient'] });
    await approver.reload();
    const nurse = async () => (await site.deployment.medface.store.getUserByUsername('e2e-new-nurse'))!;
    await approver.getByRole('button', { name: 'Disable e2e-new-nurse' }).click();
    await approver.getByText('Disable e2e-new-nurse? Every session of the account ends at once').waitFor(WAIT);
    await screenshot(approver, 'admin-confirm-disable');
    await approver.getByRole('button', { name: 'Cancel' }).click();
    expect((await nurse()).disabledAt).toBeNull();
    await approver.getByRole('button', { name: 'Disable e2e-new-nurse' }).click();
    await approver.getByRole('button', { name: 'Yes, disable e2e-new-nurse' }).click();
    await approver.getByRole('button', { name: 'Enable e2e-new-nurse' }).waitFor(WAIT);
    expect((await nurse()).disabledAt).not.toBeNull();
    await approver.getByRole('button', { name: 'Revoke e2e-lab-system' }).click();
    await approver.getByRole('button', { name: 'Cancel' }).click();
    expect((await site.deployment.medface.store.getApiClient(integration.client.id))?.revokedAt).toBeNull();
    await approver.getByRole('button', { name: 'Revoke e2e-lab-system' }).click();
    await approver.getByRole('button', { name: 'Yes, revoke e2e-lab-system' }).click();
    await approver.getByText(/^revoked /).waitFor(WAIT);
    expect((await site.deployment.medface.store.getApiClient(integration.client.id))?.revokedAt).not.toBeNull();

    await page.getByRole('link', { name: 'Thresholds' }).click();
    await page.getByRole('heading', { name: 'Last evaluation: demo-faces' }).waitFor(WAIT);
    await page.getByRole('cell', { name: 'Operating threshold (a match)' }).first().waitFor(WAIT);
    for (const name of [/^ROC curve/, /^DET curve/]) {
      const img = page.getByRole('img', { name });
      await img.waitFor(WAIT);
      await expect.poll(() => img.evaluate((el) => (el as unknown as { naturalWidth: number }).naturalWidth), WAIT).toBe(460);
    }
    await screenshot(page, 'admin-thresholds');

    await page.getByRole('link', { name: 'Keys' }).click();
    await page.getByRole('heading', { name: 'Key status' }).waitFor(WAIT);
    const kek = page.getByRole('row').filter({ hasText: 'key encryption' }).filter({ hasText: 'active' });
    await kek.waitFor(WAIT);
    // the page shows what the store holds: Alice's patient template, and the staff faces enrolled so far
    const staffFaces = (await site.deployment.medface.store.countProtectedRecordsByKey()).filter((c) => c.kind === 'staff-template').reduce((n, c) => n + c.count, 0);
    expect(await kek.locator('td').allInnerTexts()).toEqual([site.deployment.medface.templates.keys.currentKekId, 'key encryption', expect.any(String), 'active', '1', String(staffFaces), '0']);
    await screenshot(page, 'admin-keys');
  });

  it('identifies a patient from the emergency page through break-glass identification, and the access reaches the review queue', async () => {
    const emergencyUser = await staff('e2e-emergency', 'emergency');
    const { page } = await newPage(aliceCamera);
    await signInWithCode(page, emergencyUser, '/emergency');
    await page.getByLabel('Photo of the patient').setInputFiles({ name: 'patient.jpg', mimeType: 'image/jpeg', buffer: site.faces.aliceAgain });
    await page.getByRole('button', { name: 'Identify' }).click();
    await page.getByRole('button', { name: 'Open record of candidate 1' }).click();
    // the count says how strong the match is (issue 16: "1 possible patient" for a certain match)
    const grades = await page.locator('.grade').allInnerTexts();
    await page.getByText(`${grades.length === 1 ? '1 candidate: a' : `${grades.length} candidates, the best a`} “${grades[0]}” match. Choose one to open the record.`).waitFor(WAIT);
    expect(await page.getByText('possible patient').count()).toBe(0);
    await screenshot(page, 'emergency-candidates');
    const reason = 'Found unresponsive in the car park, no papers';
    await page.getByLabel('Reason for emergency access').fill(reason);
    await page.getByRole('button', { name: 'Open the record' }).click();
    await page.getByRole('alert').filter({ hasText: 'Emergency (break-glass) access' }).waitFor(WAIT);
    const identifications = await site.deployment.medface.store.listAuditEvents({ action: 'breakglass.identify', limit: 10 });
    expect(identifications).toHaveLength(1);

    const officer = await staff('e2e-officer', 'privacy-officer');
    const review = (await newPage(aliceCamera)).page;
    await signInWithCode(review, officer, '/privacy');
    await review.getByRole('cell', { name: reason }).waitFor(WAIT);
  });

  it('lets the front desk correct a patient’s demographics', async () => {
    const desk = await staff('e2e-desk', 'front-desk');
    const { page } = await newPage(aliceCamera);
    await signInWithCode(page, desk, '/front-desk');
    await page.getByRole('heading', { name: 'Correct a patient’s demographics' }).waitFor(WAIT);
    await page.getByLabel('Patient name to correct').fill('Lidd');
    await page.getByRole('button', { name: 'Find', exact: true }).click();
    await page.getByRole('button', { name: 'Edit Alice Liddell' }).click();
    await page.getByLabel('Corrected family name').fill('Liddell-Hargreaves');
    await page.getByRole('button', { name: 'Save demographics' }).click();
    await page.getByText('Saved: Alice Liddell-Hargreaves.').waitFor(WAIT);
    await screenshot(page, 'front-desk-demographics');
  });
});

/** The enrolment shown once is also drawn as a QR code, and the code's modules are those of the URI shown. */
async function expectEnrolmentQr(page: Page): Promise<void> {
  const uri = await page.locator('code', { hasText: 'otpauth://' }).textContent();
  expect(uri).toMatch(/^otpauth:\/\/totp\//);
  const modules = QRCode.create(uri!, { errorCorrectionLevel: 'M' }).modules;
  const image = page.getByRole('img', { name: /QR code of the authenticator enrolment/ });
  await expect.poll(() => image.evaluate((el) => (el as unknown as { naturalWidth: number }).naturalWidth), WAIT).toBe(200);
  const { data, info } = await sharp(await image.screenshot())
    .greyscale()
    .raw()
    .toBuffer({ resolveWithObject: true });
  const scale = info.width / (modules.size + 4); // a margin of two modules each side
  const dark: boolean[] = [];
  const expected: boolean[] = [];
  for (let y = 0; y < modules.size; y++) {
    for (let x = 0; x < modules.size; x++) {
      dark.push(data[Math.floor((2 + y + 0.5) * scale) * info.width + Math.floor((2 + x + 0.5) * scale)]! < 128);
      expected.push(modules.get(y, x) === 1);
    }
  }
  expect(dark).toEqual(expected);
}
