import { h } from './dom.js';
import type { KioskDevice, Role } from '../../src/server/contract.js';
import { hasRole, session, signOut, watchIdle } from './session.js';
import { renderAccount } from './pages/account.js';
import { renderAdminKeys } from './pages/admin-keys.js';
import { renderAdminKiosks } from './pages/admin-kiosks.js';
import { renderAdminTemplates } from './pages/admin-templates.js';
import { renderAdminThresholds } from './pages/admin-thresholds.js';
import { renderAdminUsers } from './pages/admin-users.js';
import { renderChart, renderClinician } from './pages/clinician.js';
import { renderEmergency } from './pages/emergency.js';
import { renderFrontDesk } from './pages/front-desk.js';
import { kioskDevice, renderKiosk, renderKioskPairing } from './pages/kiosk.js';
import { renderPortal } from './pages/portal.js';
import { renderPortalSignIn } from './pages/portal-sign-in.js';
import { renderPrivacy } from './pages/privacy.js';
import { renderSignIn } from './pages/sign-in.js';
import { renderTelemedicine } from './pages/telemedicine.js';
import { navigate } from './navigation.js';

/** A page renders into <main> and may return what to undo when the page is left (a camera to stop). */
export type Page = (main: HTMLElement, params: URLSearchParams, path: string) => Promise<(() => void) | void>;

interface Route {
  path: string;
  title: string;
  page: Page;
  /** Roles that see the page in the menu and may open it; none: anyone. */
  roles?: Role[];
  /** Where to sign in for the page (default: the staff sign-in). */
  signIn?: string;
}

const ROUTES: Route[] = [
  { path: '/front-desk', title: 'Front desk', page: renderFrontDesk, roles: ['front-desk', 'clinician'] },
  { path: '/clinician', title: 'Patients', page: renderClinician, roles: ['clinician', 'front-desk', 'emergency'] },
  { path: '/chart/', title: 'Chart', page: renderChart, roles: ['clinician', 'front-desk', 'emergency'] },
  { path: '/emergency', title: 'Emergency', page: renderEmergency, roles: ['emergency'] },
  { path: '/privacy', title: 'Privacy officer', page: renderPrivacy, roles: ['privacy-officer'] },
  { path: '/admin', title: 'Users', page: renderAdminUsers, roles: ['admin'] },
  { path: '/admin/thresholds', title: 'Thresholds', page: renderAdminThresholds, roles: ['admin'] },
  { path: '/admin/keys', title: 'Keys', page: renderAdminKeys, roles: ['admin'] },
  { path: '/admin/kiosks', title: 'Kiosks', page: renderAdminKiosks, roles: ['admin'] },
  { path: '/admin/templates', title: 'Templates', page: renderAdminTemplates, roles: ['admin'] },
  { path: '/account', title: 'My account', page: renderAccount, roles: ['front-desk', 'clinician', 'emergency', 'privacy-officer', 'admin'] },
  { path: '/sign-in', title: 'Sign in', page: renderSignIn },
  { path: '/portal', title: 'My health record', page: renderPortal, roles: ['patient'], signIn: '/portal/sign-in' },
  { path: '/portal/sign-in', title: 'Patient sign-in', page: renderPortalSignIn },
  { path: '/telemedicine', title: 'Identity check before your visit', page: renderTelemedicine },
];

const main = document.getElementById('main') as HTMLElement;
const nav = document.getElementById('nav') as HTMLElement;
let leave: (() => void) | void;
let stopIdle: (() => void) | undefined;

async function show(): Promise<void> {
  leave?.();
  leave = undefined;
  const { pathname, search } = location;
  const signedIn = await session();
  renderNav(signedIn === null ? [] : signedIn.user.roles, signedIn?.user.username ?? null);
  const route = ROUTES.find((r) => (r.path.endsWith('/') ? pathname.startsWith(r.path) : pathname === r.path));
  stopIdle?.();
  stopIdle = undefined;
  if (!route) {
    const home = ROUTES.find((r) => r.roles && !r.path.endsWith('/') && hasRole(signedIn, ...r.roles));
    navigate(home ? home.path : '/sign-in');
    return;
  }
  if (route.roles && !hasRole(signedIn, ...route.roles)) {
    navigate(`${route.signIn ?? '/sign-in'}?next=${encodeURIComponent(pathname)}`);
    return;
  }
  if (signedIn) {
    const signIn = route.signIn ?? '/sign-in';
    stopIdle = watchIdle(() => void signOut().then(() => navigate(`${signIn}?idle=1&next=${encodeURIComponent(location.pathname)}`)));
  }
  document.title = `${route.title} — medface`;
  main.replaceChildren();
  try {
    leave = await route.page(main, new URLSearchParams(search), pathname);
  } catch (e) {
    main.append(h('p', { class: 'status', 'data-kind': 'error', role: 'alert' }, `This page could not be shown: ${(e as Error).message}`));
  }
  main.focus();
}

/** `roles`: the account's, as the session names them. */
function renderNav(roles: readonly string[], username: string | null): void {
  const links = ROUTES.filter((r) => r.roles && !r.path.endsWith('/') && r.roles.some((role) => roles.includes(role))).map((r) =>
    h('a', { href: r.path, 'aria-current': location.pathname === r.path ? 'page' : undefined }, r.title),
  );
  const account = username
    ? h(
        'span',
        { class: 'account' },
        username,
        ' ',
        h('button', { type: 'button', class: 'link', onclick: () => void signOut().then(() => navigate(roles.includes('patient') ? '/portal/sign-in' : '/sign-in')) }, 'Sign out'),
      )
    : null;
  nav.replaceChildren(...links, account ?? '');
}

/** What this browser is; while the server cannot be reached, says so and tries again (no page is shown before). */
async function device(): Promise<KioskDevice> {
  for (;;) {
    try {
      return await kioskDevice();
    } catch {
      main.replaceChildren(h('p', { class: 'status', role: 'status', 'data-kind': 'info' }, 'Connecting to the server… this page tries again by itself.'));
      await new Promise((resolve) => window.setTimeout(resolve, 5000));
    }
  }
}

/**
 * A paired kiosk (or one revoked since) shows its check-in screen at every address, with no menu and no way
 * to another page: the browser's history and typed addresses lead back to it.
 */
async function kioskMode(): Promise<void> {
  nav.replaceChildren();
  if (location.pathname !== '/kiosk') history.replaceState(null, '', '/kiosk');
  window.addEventListener('popstate', () => history.replaceState(null, '', '/kiosk'));
  document.title = 'Check in — medface';
  main.replaceChildren();
  await renderKiosk(main);
  main.focus();
}

async function start(): Promise<void> {
  if (location.pathname === '/kiosk/pair') {
    document.title = 'Pair this kiosk — medface';
    await renderKioskPairing(main);
    return;
  }
  if ((await device()).state !== 'none') {
    await kioskMode();
    return;
  }
  // client-side links: same-origin anchors change the page without reloading
  document.addEventListener('click', (event) => {
    const anchor = (event.target as Element).closest('a');
    if (!anchor || anchor.origin !== location.origin || anchor.target || event.ctrlKey || event.metaKey || event.shiftKey) return;
    event.preventDefault();
    navigate(anchor.pathname + anchor.search);
  });
  window.addEventListener('popstate', () => void show());
  await show();
}
void start();
