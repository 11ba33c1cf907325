import { describe, expect, it } from 'vitest';
import { authorize, NO_GRANTS, OPERATIONS, POLICY, ROLES, SCOPES, type PolicyHooks, type Principal, type Role, type Scope } from '../../src/access/policy.js';

/**
 * The decisions the policy must make, written out by hand. Every operation of the policy must have a row
 * and every row an operation, so an operation added without deciding who may use it fails here.
 *   allow  – permitted on any patient
 *   deny   – refused, whatever the patient or grant
 *   own    – a patient account, on its own Patient only
 *   grant  – an emergency user, only on a patient they hold an active break-glass grant for
 */
type Expect = 'allow' | 'deny' | 'own' | 'grant';
type Column = Role | Scope | 'operator';
const COLUMNS: readonly Column[] = [...ROLES, ...SCOPES, 'operator'];

// one aligned row per operation, read as a table
// prettier-ignore
const EXPECTED: Record<string, Record<Column, Expect>> = {
  'patient.search':            { 'front-desk': 'allow', clinician: 'allow', emergency: 'deny',  'privacy-officer': 'deny',  admin: 'deny',  patient: 'deny', 'verify:patient': 'deny',  'identify:patient': 'deny',  'checkin:patient': 'deny',  'metrics:read': 'deny', operator: 'deny' },
  'patient.create':            { 'front-desk': 'allow', clinician: 'allow', emergency: 'deny',  'privacy-officer': 'deny',  admin: 'deny',  patient: 'deny', 'verify:patient': 'deny',  'identify:patient': 'deny',  'checkin:patient': 'deny',  'metrics:read': 'deny', operator: 'deny' },
  'patient.read-demographics': { 'front-desk': 'allow', clinician: 'allow', emergency: 'grant', 'privacy-officer': 'deny',  admin: 'deny',  patient: 'own',  'verify:patient': 'deny',  'identify:patient': 'deny',  'checkin:patient': 'deny',  'metrics:read': 'deny', operator: 'deny' },
  'patient.read-names':        { 'front-desk': 'allow', clinician: 'allow', emergency: 'deny',  'privacy-officer': 'allow', admin: 'deny',  patient: 'deny', 'verify:patient': 'deny',  'identify:patient': 'deny',  'checkin:patient': 'deny',  'metrics:read': 'deny', operator: 'allow' },
  'patient.write':             { 'front-desk': 'allow', clinician: 'allow', emergency: 'deny',  'privacy-officer': 'deny',  admin: 'deny',  patient: 'deny', 'verify:patient': 'deny',  'identify:patient': 'deny',  'checkin:patient': 'deny',  'metrics:read': 'deny', operator: 'deny' },
  'patient.review-duplicates': { 'front-desk': 'allow', clinician: 'allow', emergency: 'deny',  'privacy-officer': 'deny',  admin: 'deny',  patient: 'deny', 'verify:patient': 'deny',  'identify:patient': 'deny',  'checkin:patient': 'deny',  'metrics:read': 'deny', operator: 'deny' },
  'encounter.read':            { 'front-desk': 'allow', clinician: 'allow', emergency: 'grant', 'privacy-officer': 'deny',  admin: 'deny',  patient: 'own',  'verify:patient': 'deny',  'identify:patient': 'deny',  'checkin:patient': 'deny',  'metrics:read': 'deny', operator: 'deny' },
  'encounter.create':          { 'front-desk': 'allow', clinician: 'allow', emergency: 'grant', 'privacy-officer': 'deny',  admin: 'deny',  patient: 'deny', 'verify:patient': 'deny',  'identify:patient': 'deny',  'checkin:patient': 'deny',  'metrics:read': 'deny', operator: 'deny' },
  'encounter.check-in':        { 'front-desk': 'allow', clinician: 'deny',  emergency: 'deny',  'privacy-officer': 'deny',  admin: 'deny',  patient: 'deny', 'verify:patient': 'deny',  'identify:patient': 'deny',  'checkin:patient': 'allow', 'metrics:read': 'deny', operator: 'deny' },
  'record.read':               { 'front-desk': 'deny',  clinician: 'allow', emergency: 'grant', 'privacy-officer': 'deny',  admin: 'deny',  patient: 'own',  'verify:patient': 'deny',  'identify:patient': 'deny',  'checkin:patient': 'deny',  'metrics:read': 'deny', operator: 'deny' },
  'record.write':              { 'front-desk': 'deny',  clinician: 'allow', emergency: 'grant', 'privacy-officer': 'deny',  admin: 'deny',  patient: 'deny', 'verify:patient': 'deny',  'identify:patient': 'deny',  'checkin:patient': 'deny',  'metrics:read': 'deny', operator: 'deny' },
  'consent.read':              { 'front-desk': 'allow', clinician: 'allow', emergency: 'deny',  'privacy-officer': 'allow', admin: 'deny',  patient: 'own',  'verify:patient': 'deny',  'identify:patient': 'deny',  'checkin:patient': 'deny',  'metrics:read': 'deny', operator: 'deny' },
  'consent.write':             { 'front-desk': 'allow', clinician: 'allow', emergency: 'deny',  'privacy-officer': 'allow', admin: 'deny',  patient: 'own',  'verify:patient': 'deny',  'identify:patient': 'deny',  'checkin:patient': 'deny',  'metrics:read': 'deny', operator: 'deny' },
  'biometric.enrol':           { 'front-desk': 'allow', clinician: 'allow', emergency: 'deny',  'privacy-officer': 'deny',  admin: 'deny',  patient: 'deny', 'verify:patient': 'deny',  'identify:patient': 'deny',  'checkin:patient': 'deny',  'metrics:read': 'deny', operator: 'deny' },
  'biometric.verify':          { 'front-desk': 'allow', clinician: 'allow', emergency: 'allow', 'privacy-officer': 'deny',  admin: 'deny',  patient: 'deny', 'verify:patient': 'allow', 'identify:patient': 'deny',  'checkin:patient': 'deny',  'metrics:read': 'deny', operator: 'deny' },
  'biometric.identify':        { 'front-desk': 'allow', clinician: 'allow', emergency: 'allow', 'privacy-officer': 'deny',  admin: 'deny',  patient: 'deny', 'verify:patient': 'deny',  'identify:patient': 'allow', 'checkin:patient': 'deny',  'metrics:read': 'deny', operator: 'deny' },
  'biometric.erase':           { 'front-desk': 'allow', clinician: 'deny',  emergency: 'deny',  'privacy-officer': 'allow', admin: 'deny',  patient: 'own',  'verify:patient': 'deny',  'identify:patient': 'deny',  'checkin:patient': 'deny',  'metrics:read': 'deny', operator: 'deny' },
  'biometric.capture-feedback': { 'front-desk': 'allow', clinician: 'allow', emergency: 'deny',  'privacy-officer': 'deny',  admin: 'deny',  patient: 'deny', 'verify:patient': 'deny',  'identify:patient': 'deny',  'checkin:patient': 'allow', 'metrics:read': 'deny', operator: 'deny' },
  'patient.manage-pin':        { 'front-desk': 'deny',  clinician: 'deny',  emergency: 'deny',  'privacy-officer': 'deny',  admin: 'deny',  patient: 'own',  'verify:patient': 'deny',  'identify:patient': 'deny',  'checkin:patient': 'deny',  'metrics:read': 'deny', operator: 'deny' },
  'breakglass.open':           { 'front-desk': 'deny',  clinician: 'deny',  emergency: 'allow', 'privacy-officer': 'deny',  admin: 'deny',  patient: 'deny', 'verify:patient': 'deny',  'identify:patient': 'deny',  'checkin:patient': 'deny',  'metrics:read': 'deny', operator: 'deny' },
  'breakglass.review':         { 'front-desk': 'deny',  clinician: 'deny',  emergency: 'deny',  'privacy-officer': 'allow', admin: 'deny',  patient: 'deny', 'verify:patient': 'deny',  'identify:patient': 'deny',  'checkin:patient': 'deny',  'metrics:read': 'deny', operator: 'deny' },
  'audit.read':                { 'front-desk': 'deny',  clinician: 'deny',  emergency: 'deny',  'privacy-officer': 'allow', admin: 'deny',  patient: 'deny', 'verify:patient': 'deny',  'identify:patient': 'deny',  'checkin:patient': 'deny',  'metrics:read': 'deny', operator: 'deny' },
  'audit.export':              { 'front-desk': 'deny',  clinician: 'deny',  emergency: 'deny',  'privacy-officer': 'allow', admin: 'deny',  patient: 'deny', 'verify:patient': 'deny',  'identify:patient': 'deny',  'checkin:patient': 'deny',  'metrics:read': 'deny', operator: 'allow' },
  'audit.verify':              { 'front-desk': 'deny',  clinician: 'deny',  emergency: 'deny',  'privacy-officer': 'allow', admin: 'allow', patient: 'deny', 'verify:patient': 'deny',  'identify:patient': 'deny',  'checkin:patient': 'deny',  'metrics:read': 'deny', operator: 'allow' },
  'user.read':                 { 'front-desk': 'deny',  clinician: 'deny',  emergency: 'deny',  'privacy-officer': 'allow', admin: 'allow', patient: 'deny', 'verify:patient': 'deny',  'identify:patient': 'deny',  'checkin:patient': 'deny',  'metrics:read': 'deny', operator: 'allow' },
  'user.manage':               { 'front-desk': 'deny',  clinician: 'deny',  emergency: 'deny',  'privacy-officer': 'deny',  admin: 'allow', patient: 'deny', 'verify:patient': 'deny',  'identify:patient': 'deny',  'checkin:patient': 'deny',  'metrics:read': 'deny', operator: 'allow' },
  'apiclient.manage':          { 'front-desk': 'deny',  clinician: 'deny',  emergency: 'deny',  'privacy-officer': 'deny',  admin: 'allow', patient: 'deny', 'verify:patient': 'deny',  'identify:patient': 'deny',  'checkin:patient': 'deny',  'metrics:read': 'deny', operator: 'allow' },
  'keys.rotate':               { 'front-desk': 'deny',  clinician: 'deny',  emergency: 'deny',  'privacy-officer': 'deny',  admin: 'allow', patient: 'deny', 'verify:patient': 'deny',  'identify:patient': 'deny',  'checkin:patient': 'deny',  'metrics:read': 'deny', operator: 'allow' },
  'keys.read':                 { 'front-desk': 'deny',  clinician: 'deny',  emergency: 'deny',  'privacy-officer': 'deny',  admin: 'allow', patient: 'deny', 'verify:patient': 'deny',  'identify:patient': 'deny',  'checkin:patient': 'deny',  'metrics:read': 'deny', operator: 'allow' },
  'thresholds.read':           { 'front-desk': 'deny',  clinician: 'deny',  emergency: 'deny',  'privacy-officer': 'deny',  admin: 'allow', patient: 'deny', 'verify:patient': 'deny',  'identify:patient': 'deny',  'checkin:patient': 'deny',  'metrics:read': 'deny', operator: 'allow' },
  'templates.read':            { 'front-desk': 'deny',  clinician: 'deny',  emergency: 'deny',  'privacy-officer': 'deny',  admin: 'allow', patient: 'deny', 'verify:patient': 'deny',  'identify:patient': 'deny',  'checkin:patient': 'deny',  'metrics:read': 'deny', operator: 'allow' },
  'metrics.read':              { 'front-desk': 'deny',  clinician: 'deny',  emergency: 'deny',  'privacy-officer': 'deny',  admin: 'allow', patient: 'deny', 'verify:patient': 'deny',  'identify:patient': 'deny',  'checkin:patient': 'deny',  'metrics:read': 'allow', operator: 'deny' },
  'account.manage-own':        { 'front-desk': 'allow', clinician: 'allow', emergency: 'allow', 'privacy-officer': 'allow', admin: 'allow', patient: 'deny', 'verify:patient': 'deny',  'identify:patient': 'deny',  'checkin:patient': 'deny',  'metrics:read': 'deny', operator: 'deny' },
};

const OWN = 'patient-own';
const OTHER = 'patient-other';
const USER_ID = 'user-under-test';

function principalFor(column: Column): Principal {
  if (column === 'operator') return { kind: 'operator', id: 'cli:test' };
  if ((SCOPES as readonly string[]).includes(column)) return { kind: 'api-client', id: 'client-under-test', scopes: [column as Scope] };
  return { kind: 'user', id: USER_ID, roles: [column as Role], patientId: column === 'patient' ? OWN : null };
}

/** Break-glass grants held by USER_ID on these patients. */
function grantsOn(...patients: string[]): PolicyHooks {
  return {
    activeBreakGlassGrant: (userId, patientId) => Promise.resolve(userId === USER_ID && patients.includes(patientId) ? { id: `grant-${patientId}`, expiresAt: '2099-01-01T00:00:00.000Z' } : null),
  };
}

describe('authorisation policy', () => {
  it('has a decided row for exactly the operations in the policy', () => {
    expect(Object.keys(EXPECTED).sort()).toEqual([...OPERATIONS].sort());
    for (const row of Object.values(EXPECTED)) expect(Object.keys(row).sort()).toEqual([...COLUMNS].sort());
  });

  describe.each(OPERATIONS)('%s', (operation) => {
    const patientScoped = POLICY[operation].patientScoped;
    it.each(COLUMNS)('as %s', async (column) => {
      const expected = EXPECTED[operation]![column];
      const principal = principalFor(column);
      const on = async (patientId: string | null, hooks: PolicyHooks = NO_GRANTS) => (await authorize(principal, operation, { patientId }, hooks)).allowed;
      // the requests an operation is tried with: another patient, the principal's own, and no patient for
      // operations that concern none
      const another = patientScoped ? OTHER : null;
      switch (expected) {
        case 'allow':
          expect(await on(another)).toBe(true);
          if (patientScoped) expect(await on(OWN)).toBe(true);
          break;
        case 'deny':
          expect(await on(another)).toBe(false);
          expect(await on(another, grantsOn(OTHER))).toBe(false);
          if (patientScoped) expect(await on(OWN, grantsOn(OWN))).toBe(false);
          break;
        case 'own':
          expect(await on(OWN)).toBe(true);
          expect(await on(OTHER)).toBe(false);
          expect(await on(OTHER, grantsOn(OTHER))).toBe(false);
          break;
        case 'grant': {
          expect(await on(OTHER)).toBe(false);
          const decision = await authorize(principal, operation, { patientId: OTHER }, grantsOn(OTHER));
          expect(decision).toMatchObject({ allowed: true, breakGlassGrantId: `grant-${OTHER}`, basis: { role: column, rule: 'break-glass' } });
          // a grant is for one patient
          expect(await on('patient-third', grantsOn(OTHER))).toBe(false);
          break;
        }
      }
      if (patientScoped && expected !== 'deny') {
        // an operation on a patient needs the patient named, whoever asks
        expect(await authorize(principal, operation, {}, grantsOn(OTHER, OWN))).toMatchObject({ allowed: false, reason: 'no-patient' });
      }
    });
  });

  it('refuses an operation it does not know, whoever asks', async () => {
    for (const column of COLUMNS) {
      expect(await authorize(principalFor(column), 'patient.delete-everything', { patientId: OWN })).toEqual({
        allowed: false,
        operation: 'patient.delete-everything',
        reason: 'unknown-operation',
      });
    }
    // not fooled by names inherited from Object.prototype
    expect((await authorize(principalFor('admin'), 'constructor')).allowed).toBe(false);
  });

  it('grants nothing for unknown roles, no roles, or a patient role without a patient', async () => {
    const unknown: Principal = { kind: 'user', id: 'u', roles: ['superuser' as Role], patientId: null };
    const none: Principal = { kind: 'user', id: 'u', roles: [], patientId: null };
    const orphan: Principal = { kind: 'user', id: 'u', roles: ['patient'], patientId: null };
    const noScopes: Principal = { kind: 'api-client', id: 'c', scopes: [] };
    for (const operation of OPERATIONS) {
      for (const p of [unknown, none, orphan, noScopes]) expect((await authorize(p, operation, { patientId: OWN })).allowed).toBe(false);
    }
  });

  it('combines roles: the most permissive rule held decides', async () => {
    const er: Principal = { kind: 'user', id: USER_ID, roles: ['clinician', 'emergency'], patientId: null };
    expect(await authorize(er, 'record.read', { patientId: OTHER })).toMatchObject({ allowed: true, basis: { role: 'clinician', rule: 'always' } });
    expect(await authorize(er, 'breakglass.open', { patientId: OTHER })).toMatchObject({ allowed: true, basis: { role: 'emergency' } });
    const deskAndPrivacy: Principal = { kind: 'user', id: USER_ID, roles: ['front-desk', 'privacy-officer'], patientId: null };
    expect((await authorize(deskAndPrivacy, 'record.read', { patientId: OTHER })).allowed).toBe(false);
    expect((await authorize(deskAndPrivacy, 'audit.read')).allowed).toBe(true);
  });

  it('says why it refused', async () => {
    const emergency = principalFor('emergency');
    expect(await authorize(emergency, 'record.read', { patientId: OTHER })).toMatchObject({ reason: 'no-break-glass' });
    expect(await authorize(principalFor('patient'), 'record.read', { patientId: OTHER })).toMatchObject({ reason: 'not-own-record' });
    expect(await authorize(principalFor('admin'), 'record.read', { patientId: OTHER })).toMatchObject({ reason: 'not-permitted' });
  });
});
