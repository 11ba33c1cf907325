import type { Role, SignedIn } from '../../src/server/contract.js';
import { api, ApiError } from './api.js';

/** The signed-in staff member, if any, and the automatic sign-out of an unattended screen. */

let current: SignedIn | null | undefined;

export async function session(): Promise<SignedIn | null> {
  if (current === undefined) {
    try {
      current = await api<SignedIn>('GET', '/api/v1/auth/session');
    } catch (e) {
      if (!(e instanceof ApiError) || e.status !== 401) throw e;
      current = null;
    }
  }
  return current;
}

export function setSession(signedIn: SignedIn | null): void {
  current = signedIn;
}

export function hasRole(signedIn: SignedIn | null, ...roles: Role[]): boolean {
  return signedIn !== null && roles.some((role) => signedIn.user.roles.includes(role));
}

export async function signOut(): Promise<void> {
  await api('POST', '/api/v1/auth/sign-out');
  current = null;
}

/** Minutes without input after which a staff screen signs out (a kiosk device has no session: see pages/kiosk.ts). */
export const IDLE_MINUTES = 10;
let idleTimer: number | undefined;

export function watchIdle(onIdle: () => void, minutes = IDLE_MINUTES): () => void {
  const reset = () => {
    window.clearTimeout(idleTimer);
    idleTimer = window.setTimeout(onIdle, minutes * 60_000);
  };
  const events = ['pointerdown', 'keydown', 'wheel', 'touchstart'] as const;
  for (const event of events) window.addEventListener(event, reset, { passive: true });
  reset();
  return () => {
    window.clearTimeout(idleTimer);
    for (const event of events) window.removeEventListener(event, reset);
  };
}
