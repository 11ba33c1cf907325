import type { Browser, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { revokeApiClient } from '../../src/access/api-clients.js';
import { totpCode } from '../../src/access/totp.js';
import { randomChallengeActions } from '../../src/liveness/types.js';
import { actorOf } from '../../src/services/patients/records.js';
import { PATIENTS, registerPatient } from '../services/fixtures.js';
import { cameraPlaying, chromiumAvailable, createStaff, launchWithCamera, newPage, OPERATOR, renewFirstPassword, screenshot, serve, startSite, WAIT } from './browser.js';
import type { BrowserTestSite, StorageState } from './browser.js';
import { performingVideo, stillVideo } from './y4m.js';

/**
 * Kiosk device mode in Chromium against the real server and face model: an administrator registers a kiosk on
 * the admin page, its browser is paired by the link, and then, with no staff sign-in, it checks a patient in
 * (the camera plays a video of the patient doing the liveness challenge), reaches no other page and no other
 * API, and rides out a network drop and a server restart with a plain message. Screenshots go to test-artifacts/.
 */

const FIXED_RANDOM = () => 0;
const ACTIONS = randomChallengeActions(FIXED_RANDOM);
/** The kiosk's names for the movements in its list, and its words for one it did not see (web/src/liveness.ts). */
const MOVEMENT: Record<string, string> = { 'turn-left': 'Turn to your left', 'turn-right': 'Turn to your right', 'look-up': 'Look up', blink: 'Close your eyes', 'come-closer': 'Come closer' };
const NOT_SEEN: Record<string, string> = {
  'turn-left': 'turn your head to your left',
  'turn-right': 'turn your head to your right',
  'look-up': 'tilt your head back and look up',
  blink: 'close your eyes',
  'come-closer': 'come closer',
};

/** Every page of the staff and patient app, and an address that is none. */
const OTHER_PAGES = [
  '/front-desk',
  '/clinician',
  '/emergency',
  '/privacy',
  '/admin',
  '/admin/thresholds',
  '/admin/keys',
  '/admin/kiosks',
  '/admin/templates',
  '/account',
  '/sign-in',
  '/portal',
  '/portal/sign-in',
  '/telemedicine',
  '/no-such-page',
];

describe.skipIf(!chromiumAvailable && !process.env.CI)('kiosk device in Chromium', () => {
  let site: BrowserTestSite;
  let aliceId: string;
  let baseUrl: string;
  let port: number;
  let stopServer: () => Promise<void>;
  let camera: Browser;
  let kiosk: StorageState;
  const browsers: Browser[] = [];

  beforeAll(async () => {
    site = await startSite('kiosk', { liveness: { random: FIXED_RANDOM } });
    aliceId = await registerPatient(site.deployment.medface, PATIENTS.alice, { images: [site.faces.alice] }, actorOf(OPERATOR));
    const server = await serve(site.deployment, site.webRoot);
    baseUrl = server.baseUrl;
    port = Number(new URL(baseUrl).port);
    stopServer = server.close;
    camera = await launchWithCamera(await performingVideo(site.pool, site.faces.alice, ACTIONS), site.root, 'alice-live');
    browsers.push(camera);
  }, 600_000);

  afterAll(async () => {
    for (const browser of browsers) await browser.close();
    await stopServer?.();
    await site?.close();
  });

  /** The date of birth, then the camera preview until "I'm ready". */
  const kioskCamera = async (page: Page, birthDate: string): Promise<void> => {
    await page.getByRole('button', { name: 'Start check-in' }).click();
    await page.getByLabel('Your date of birth').fill(birthDate);
    await page.getByRole('button', { name: 'Next' }).click();
    await page.getByRole('button', { name: 'I’m ready' }).waitFor(WAIT);
    await cameraPlaying(page);
  };

  /** The kiosk shows its check-in screen, no menu, and nothing of any record. */
  const onlyCheckIn = async (page: Page): Promise<void> => {
    await page.getByRole('heading', { name: 'Check in', exact: true }).waitFor(WAIT);
    expect(new URL(page.url()).pathname).toBe('/kiosk');
    expect(await page.locator('#nav a, #nav button').count()).toBe(0);
    expect(await page.locator('main a').count()).toBe(0);
    expect(await page.locator('body').innerText()).not.toMatch(/Alice|Liddell|Sign in|Patients|Sign out/);
  };

  it('is registered by an administrator and paired by the link, with no staff sign-in on the kiosk', async () => {
    const login = await createStaff(site.deployment, 'kiosk-admin', 'admin');
    const password = await renewFirstPassword(site.deployment, login);
    const admin = (await newPage(camera)).page;
    await admin.goto(`${baseUrl}/sign-in?next=${encodeURIComponent('/admin/kiosks')}`);
    await admin.getByLabel('Username').fill('kiosk-admin');
    await admin.getByLabel('Password', { exact: true }).fill(password);
    await admin.getByRole('textbox', { name: 'Authenticator code' }).fill(totpCode(login.secret, new Date()));
    await admin.getByRole('button', { name: 'Sign in' }).click();
    await admin.getByRole('heading', { name: 'Check-in kiosks' }).waitFor(WAIT);
    await admin.getByLabel('Kiosk name').fill('Lobby');
    await admin.getByRole('button', { name: 'Register kiosk' }).click();
    const link = await admin.locator('[data-pairing-link]').innerText();
    expect(link).toMatch(new RegExp(`^${baseUrl}/kiosk/pair#mfp_`));
    await admin.getByRole('cell', { name: 'waiting to be paired' }).waitFor(WAIT);
    await screenshot(admin, 'admin-kiosks');

    const { context, page } = await newPage(camera);
    await page.goto(link);
    await page.getByRole('heading', { name: 'This browser is now the kiosk “Lobby”' }).waitFor(WAIT);
    // the code left the address bar, and works once
    expect(page.url()).toBe(`${baseUrl}/kiosk/pair`);
    await screenshot(page, 'kiosk-paired');
    await page.getByRole('button', { name: 'Open check-in' }).click();
    await onlyCheckIn(page);
    kiosk = await context.storageState();
    expect(kiosk.cookies.find((c) => c.name === 'medface_kiosk')).toMatchObject({ httpOnly: true, sameSite: 'Strict' });
    const again = (await newPage(camera)).page;
    await again.goto(link);
    await again.getByRole('heading', { name: 'This pairing link does not work' }).waitFor(WAIT);
  }, 300_000);

  /** Keeps every text the page shows while it waits for the server (`data-stage`), in `window.stages`. */
  const recordStages = (page: Page) =>
    page.evaluate(`(() => {
      const seen = [];
      window.stages = seen;
      new MutationObserver(() => {
        for (const element of document.querySelectorAll('[data-stage]')) if (element.textContent && !seen.includes(element.textContent)) seen.push(element.textContent);
      }).observe(document.body, { subtree: true, childList: true, characterData: true, attributes: true });
    })()`);

  it('checks an enrolled patient in end to end: date of birth, camera with advice, liveness, welcome', async () => {
    const { page } = await newPage(camera, kiosk);
    await page.goto(`${baseUrl}/kiosk`);
    await onlyCheckIn(page);
    await screenshot(page, 'kiosk-start');
    // The camera's video does the movements once, 4 s after the camera opens, and the page films 6.4 s from the
    // click: on a heavily loaded machine the click can come too late, and the check rightly fails. The kiosk's
    // own answer to that is "Done" and another try, which the test takes too (at most three tries).
    let answer = '';
    for (let attempt = 1; attempt <= 3 && answer !== 'Welcome — you are checked in'; attempt++) {
      if (attempt > 1) await page.getByRole('button', { name: 'Done' }).click();
      await kioskCamera(page, PATIENTS.alice.birthDate);
      await recordStages(page);
      await page.getByRole('button', { name: 'I’m ready' }).click();
      if (attempt === 1) {
        await page
          .getByText(/^Turn your head|^Look|^Tilt your head|^Close your eyes|^Come closer/)
          .first()
          .waitFor(WAIT);
        // while filming, the list of the asked movements, the one asked now marked (each is marked seen when the
        // server's progress answer says so, which a loaded machine may send only after the filming)
        const steps = page.getByRole('list', { name: 'Movements' }).getByRole('listitem');
        await steps
          .filter({ hasText: / — now$/ })
          .first()
          .waitFor(WAIT);
        const texts = await steps.allInnerTexts();
        expect(texts.map((t) => t.replace(/ — (now|seen ✓)$/, ''))).toEqual(ACTIONS.map((a) => MOVEMENT[a]));
        expect(texts.filter((t) => t.endsWith(' — now'))).toHaveLength(1);
        await screenshot(page, 'kiosk-liveness');
      }
      // the check's answer, whichever it is, before it is judged (on a loaded machine the server takes its time)
      await page.locator('h1.result').waitFor({ timeout: 240_000 });
      answer = await page.locator('h1.result').innerText();
    }
    expect(answer).toBe('Welcome — you are checked in');
    // the wait after filming is shown in stages, not as a bare "Checking…" (issue 16)
    const stages = (await page.evaluate('window.stages')) as string[];
    expect(stages.some((t) => /^Sending the video… \d+%$/.test(t))).toBe(true);
    expect(stages.some((t) => /^Checking that you are here in person, then finding your appointment… \d+ s$/.test(t))).toBe(true);
    // Alice's face was enrolled since her last visit: the kiosk tells her
    await page
      .getByRole('note')
      .filter({ hasText: /^A face was added to your record on .+ by the clinic/ })
      .waitFor(WAIT);
    await screenshot(page, 'kiosk-welcome');
    const { medface } = site.deployment;
    const [checkIn] = (await medface.audit.search(medface.store, { action: 'encounter.check-in', outcome: 'success', limit: 10 })).slice(-1);
    // the audit trail names the kiosk (and the patient only by pseudonym)
    expect(checkIn).toMatchObject({ client: 'kiosk:Lobby', details: { encounterId: expect.any(String) } });
    expect(await medface.store.listClinicalResources(aliceId, ['Encounter'])).toHaveLength(1);
  }, 900_000);

  it('sends a photo held up to the camera to the front desk, saying nothing more; the failed liveness check is audited', async () => {
    const photo = await launchWithCamera(await stillVideo(site.faces.alice), site.root, 'alice-photo');
    browsers.push(photo);
    const { page } = await newPage(photo, kiosk);
    await page.goto(`${baseUrl}/kiosk`);
    await kioskCamera(page, PATIENTS.alice.birthDate);
    await page
      .getByRole('status')
      .filter({ hasText: /Good — your face is in view|Move closer|Face the camera/ })
      .waitFor(WAIT);
    await screenshot(page, 'kiosk-camera');
    await page.getByRole('button', { name: 'I’m ready' }).click();
    // the movements asked are listed while filming
    const steps = page.getByRole('list', { name: 'Movements' }).getByRole('listitem');
    await steps
      .filter({ hasText: / — now$/ })
      .first()
      .waitFor(WAIT);
    expect(await steps.count()).toBe(ACTIONS.length);
    await page.getByRole('heading', { name: 'Please see the front desk' }).waitFor({ timeout: 240_000 });
    // the failure says, in words, which movement was not seen (not which rule failed)
    await page
      .getByRole('note')
      .filter({ hasText: new RegExp(`^We did not see you ${NOT_SEEN[ACTIONS[0]!]}`) })
      .waitFor(WAIT);
    expect(await page.locator('main').innerText()).not.toMatch(/Alice|Liddell|welcome|liveness|LIVENESS_/i);
    await screenshot(page, 'kiosk-front-desk');
    const { medface } = site.deployment;
    const checkIns = await medface.audit.search(medface.store, { action: 'encounter.check-in', outcome: 'failure', limit: 100 });
    expect(checkIns.some((e) => e.details.reason === 'liveness' && e.client === 'kiosk:Lobby')).toBe(true);
  }, 400_000);

  it('reaches no other page and no other API', async () => {
    const { page } = await newPage(camera, kiosk);
    for (const other of [...OTHER_PAGES, `/chart/${aliceId}`]) {
      await page.goto(`${baseUrl}${other}`);
      await onlyCheckIn(page);
    }
    // the browser's Back leads nowhere either
    await page.goBack();
    await onlyCheckIn(page);
    const statuses = await page.evaluate(async (patientId) => {
      const { csrfToken } = (await (await fetch('/api/v1/auth/csrf')).json()) as { csrfToken: string };
      const send = async (method: string, url: string, body?: unknown) =>
        (await fetch(url, { method, headers: { 'content-type': 'application/json', 'x-csrf-token': csrfToken }, ...(body !== undefined && { body: JSON.stringify(body) }) })).status;
      const encounter = { resourceType: 'Encounter', status: 'arrived', class: { code: 'AMB' }, subject: { reference: `Patient/${patientId}` } };
      return {
        search: await send('GET', '/api/v1/patients?name=Lidd'),
        patient: await send('GET', `/api/v1/patients/${patientId}`),
        chart: await send('GET', `/api/v1/patients/${patientId}/chart`),
        fhir: await send('GET', `/fhir/Patient/${patientId}`),
        records: await send('POST', '/api/v1/records', encounter),
        identify: await send('POST', '/api/v1/identify', { image: 'AAAA' }),
        consent: await send('DELETE', `/api/v1/patients/${patientId}/consent`),
        erase: await send('DELETE', `/api/v1/patients/${patientId}/biometrics`),
        audit: await send('GET', '/api/v1/audit/events'),
        users: await send('GET', '/api/v1/users'),
        session: await send('GET', '/api/v1/auth/session'),
        kiosks: await send('POST', '/api/v1/kiosks', { name: 'Rogue' }),
      };
    }, aliceId);
    for (const [api, code] of Object.entries(statuses)) expect([401, 403, 404], api).toContain(code);
    expect(Object.values(statuses).filter((code) => code === 404)).toEqual([]);
  }, 300_000);

  it('rides out a network drop and a server restart with a plain message, and stays paired after a browser restart', async () => {
    const { context, page } = await newPage(camera, kiosk);
    await page.goto(`${baseUrl}/kiosk`);
    await onlyCheckIn(page);
    await context.setOffline(true);
    await page.getByRole('heading', { name: 'Check-in is not available right now' }).waitFor(WAIT);
    await screenshot(page, 'kiosk-unavailable');
    await context.setOffline(false);
    await onlyCheckIn(page);

    // the server stops while a patient is at the camera
    await kioskCamera(page, PATIENTS.alice.birthDate);
    await stopServer();
    await page.getByRole('button', { name: 'I’m ready' }).click();
    await page.getByRole('heading', { name: 'Check-in is not available right now' }).waitFor(WAIT);
    expect(await page.locator('body').innerText()).not.toMatch(/Error|at \w+ \(|TypeError|fetch|Sign in/);
    stopServer = (await serve(site.deployment, site.webRoot, {}, port)).close;
    await onlyCheckIn(page);

    // a browser restart: the device cookie is still there
    const restarted = (await newPage(await launchWithCamera(await stillVideo(site.faces.alice), site.root, 'alice-still').then((b) => (browsers.push(b), b)), kiosk)).page;
    await restarted.goto(`${baseUrl}/front-desk`);
    await onlyCheckIn(restarted);

    // revoked: the kiosk stops, still showing no staff page
    await revokeApiClient(site.deployment.access, OPERATOR, 'Lobby');
    await restarted.reload();
    await restarted.getByRole('heading', { name: 'This kiosk is not in service' }).waitFor(WAIT);
    expect(await restarted.locator('#nav a').count()).toBe(0);
  }, 300_000);
});
