import { randomBytes } from 'node:crypto';
import { AuditTrail, type AuditEvent } from '../../src/audit/trail.js';
import { DEFAULT_ACCESS_SETTINGS, type AccessContext } from '../../src/access/context.js';
import type { Caller } from '../../src/access/guard.js';
import { signInWithTotp } from '../../src/access/authenticate.js';
import type { PolicyHooks, Role } from '../../src/access/policy.js';
import { SecretBox } from '../../src/access/secret-box.js';
import { base32Decode, totpCode } from '../../src/access/totp.js';
import { createUser, type UserAccount } from '../../src/access/users.js';
import { MedfaceError } from '../../src/errors.js';
import { createPatient } from '../../src/records/patient.js';
import type { Store } from '../../src/store/types.js';
import { closeAndDrop, openFresh, type StoreHarness, type TestDatabase } from '../store/harness.js';

/** A clock the test moves by hand: expiries and delays without sleeping. */
export class TestClock {
  constructor(public time = new Date('2026-03-02T09:00:00.000Z')) {}
  now = (): Date => new Date(this.time);
  advance(ms: number): void {
    this.time = new Date(this.time.getTime() + ms);
  }
}

export interface AccessFixture {
  db: TestDatabase;
  store: Store;
  ctx: AccessContext;
  clock: TestClock;
  /** The break-glass grants the policy hook answers from: `${userId}/${patientId}` -> grant id. */
  grants: Map<string, string>;
  audit(action?: string): Promise<AuditEvent[]>;
  newPatient(birthDate?: string): Promise<string>;
  close(): Promise<void>;
}

/** What a refused call threw (the test fails if it resolved or threw something other than a MedfaceError). */
export async function refusal(p: Promise<unknown>): Promise<MedfaceError> {
  const e = await p.then(
    () => undefined,
    (e: unknown) => e,
  );
  if (!(e instanceof MedfaceError)) throw new Error(`expected a MedfaceError, got ${String(e)}`);
  return e;
}

/** The console operator: may administer accounts (see the policy table). */
export const OPERATOR: Caller = { principal: { kind: 'operator', id: 'cli:test' }, client: null };

export async function accessFixture(h: StoreHarness): Promise<AccessFixture> {
  const { db, store } = await openFresh(h);
  const clock = new TestClock();
  const grants = new Map<string, string>();
  const hooks: PolicyHooks = {
    activeBreakGlassGrant: (userId, patientId) => {
      const id = grants.get(`${userId}/${patientId}`);
      return Promise.resolve(id ? { id, expiresAt: new Date(clock.time.getTime() + 60_000).toISOString() } : null);
    },
  };
  const auditTrail = new AuditTrail(randomBytes(32));
  const ctx: AccessContext = {
    store,
    audit: auditTrail,
    secrets: new SecretBox(randomBytes(32)),
    hooks,
    settings: DEFAULT_ACCESS_SETTINGS,
    now: clock.now,
  };
  return {
    db,
    store,
    ctx,
    clock,
    grants,
    audit: (action) => auditTrail.search(store, { ...(action !== undefined && { action }), limit: 10_000 }),
    newPatient: async (birthDate = '1984-07-19') => (await store.transaction((tx) => createPatient(tx, { resourceType: 'Patient', name: [{ family: 'Example', given: ['Pat'] }], birthDate }))).id!,
    close: () => closeAndDrop({ db, store }),
  };
}

export interface Staff {
  user: UserAccount;
  password: string;
  secret: Buffer;
  /** The TOTP code of the fixture clock's current step. */
  code(): string;
}

/**
 * A staff account as its owner has it after the first sign-in: created with a generated password and TOTP,
 * then signed in once replacing that password. The clock is then moved to the next TOTP step.
 */
export async function staffWithTotp(f: AccessFixture, username: string, roles: Role[]): Promise<Staff> {
  const created = await createUser(f.ctx, OPERATOR, { username, roles, totp: true });
  const secret = base32Decode(new URL(created.totpUri!).searchParams.get('secret')!);
  const password = `${username} chose this password`;
  await signInWithTotp(f.ctx, { username, password: created.password!, newPassword: password, code: totpCode(secret, f.clock.now()), client: null });
  f.clock.advance(30_000);
  return { user: created.user, password, secret, code: () => totpCode(secret, f.clock.now()) };
}

/**
 * Whether any stored value in any table contains `needle` (as text, or as bytes inside a binary column):
 * what someone reading the database directly would find.
 */
export async function storeContains(f: AccessFixture, h: StoreHarness, needle: string | Buffer): Promise<boolean> {
  const tables =
    h.name === 'sqlite'
      ? await f.db.raw<{ name: string }>("SELECT name FROM sqlite_master WHERE type = 'table'")
      : await f.db.raw<{ name: string }>('SELECT table_name AS name FROM information_schema.tables WHERE table_schema = current_schema()');
  const bytes = typeof needle === 'string' ? Buffer.from(needle, 'utf8') : needle;
  for (const { name } of tables) {
    for (const row of await f.db.raw<Record<string, unknown>>(`SELECT * FROM ${name}`)) {
      for (const value of Object.values(row)) {
        if (Buffer.isBuffer(value) || value instanceof Uint8Array) {
          if (Buffer.from(value).includes(bytes)) return true;
        } else if (value !== null && (typeof value === 'object' ? JSON.stringify(value) : String(value)).includes(bytes.toString('utf8'))) {
          return true;
        }
      }
    }
  }
  return false;
}
