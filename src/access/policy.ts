/**
 * The one authorisation policy: who may do what, decided here and nowhere else. Deny by default — an
 * operation that is not in the table, a role it does not name, or a condition that cannot be shown to
 * hold is refused. Services call `guard` (guard.ts) before each operation; routes and commands never check roles.
 */

export const ROLES = ['front-desk', 'clinician', 'emergency', 'privacy-officer', 'admin', 'patient'] as const;
export type Role = (typeof ROLES)[number];

/** What an integration's API key may be limited to. */
export const SCOPES = ['verify:patient', 'identify:patient', 'checkin:patient', 'metrics:read'] as const;
export type Scope = (typeof SCOPES)[number];

/** How a session's identity was established (sessions.ts); face + date of birth makes a `limited` principal. */
export type AuthMethod = 'password+totp' | 'password+face' | 'face+birth-date' | 'face+pin';

/** Who asks. */
export type Principal =
  /**
   * A signed-in person; a patient account carries the one Patient it is. `limited`: signed in with face and
   * date of birth — a face that injected frames of a photo can supply and a date others know — so refused the
   * operations that need a secret factor (`secretFactor`) until the patient signs in with their PIN.
   */
  | { kind: 'user'; id: string; roles: readonly Role[]; patientId: string | null; limited?: boolean }
  /** An integration calling with an API key. */
  | { kind: 'api-client'; id: string; scopes: readonly Scope[] }
  /**
   * The local console (`medface` commands, `cli:<os user>`): whoever runs it already holds the database and
   * the key file, so it may administer the deployment, but it reads no clinical data through medface.
   */
  | { kind: 'operator'; id: string };

/**
 * How a role may use an operation: `always`; `own-record` only on the patient account's own Patient;
 * `break-glass` only on a patient for whom the user holds an active break-glass grant.
 */
export type Rule = 'always' | 'own-record' | 'break-glass';

export interface OperationPolicy {
  /** The operation concerns one patient, named by the request's `patientId`. */
  patientScoped: boolean;
  roles: Partial<Record<Role, Rule>>;
  scopes: readonly Scope[];
  operator: boolean;
  /** Refused to a `limited` session (face + date of birth): the clinical record and changes to the patient's face data. */
  secretFactor?: boolean;
}

const rule = (p: Partial<OperationPolicy> & Pick<OperationPolicy, 'patientScoped'>): OperationPolicy => ({
  roles: {},
  scopes: [],
  operator: false,
  ...p,
});

/**
 * Every operation medface performs and who may perform it. Front desk handles identity and visits but not
 * clinical content; clinicians handle both; an emergency user identifies and, through a break-glass grant,
 * reads and documents one patient; the privacy officer handles consent, erasure, break-glass review and the
 * audit trail but no clinical content; the administrator manages accounts, integrations and keys and sees
 * no patient data; a patient sees their own record, decides on their own consent and sets their own PIN —
 * signed in with face and date of birth, only their demographics, consent, notices and PIN: the clinical
 * record and changes to their face data need the PIN (`secretFactor`).
 */
export const POLICY = {
  'patient.search': rule({ patientScoped: false, roles: { 'front-desk': 'always', clinician: 'always' } }),
  'patient.create': rule({ patientScoped: false, roles: { 'front-desk': 'always', clinician: 'always' } }),
  'patient.read-demographics': rule({
    patientScoped: true,
    roles: { 'front-desk': 'always', clinician: 'always', emergency: 'break-glass', patient: 'own-record' },
  }),
  // the name and date of birth of patients a work list names (duplicate queue, break-glass review, audit search,
  // `medface identify`), and finding patients by name to filter the audit trail: no other demographics
  'patient.read-names': rule({ patientScoped: false, roles: { 'front-desk': 'always', clinician: 'always', 'privacy-officer': 'always' }, operator: true }),
  'patient.write': rule({ patientScoped: true, roles: { 'front-desk': 'always', clinician: 'always' } }),
  'patient.review-duplicates': rule({ patientScoped: false, roles: { 'front-desk': 'always', clinician: 'always' } }),
  'encounter.read': rule({
    patientScoped: true,
    roles: { 'front-desk': 'always', clinician: 'always', emergency: 'break-glass', patient: 'own-record' },
    secretFactor: true,
  }),
  'encounter.create': rule({
    patientScoped: true,
    roles: { 'front-desk': 'always', clinician: 'always', emergency: 'break-glass' },
  }),
  // the kiosk's one operation: liveness, 1:N match and date of birth, then an arrived Encounter (services/visits/check-in.ts);
  // it names no patient up front and answers none, so a kiosk credential neither writes nor learns records
  'encounter.check-in': rule({ patientScoped: false, roles: { 'front-desk': 'always' }, scopes: ['checkin:patient'] }),
  'record.read': rule({ patientScoped: true, roles: { clinician: 'always', emergency: 'break-glass', patient: 'own-record' }, secretFactor: true }),
  'record.write': rule({ patientScoped: true, roles: { clinician: 'always', emergency: 'break-glass' } }),
  'consent.read': rule({
    patientScoped: true,
    roles: { 'front-desk': 'always', clinician: 'always', 'privacy-officer': 'always', patient: 'own-record' },
  }),
  'consent.write': rule({
    patientScoped: true,
    roles: { 'front-desk': 'always', clinician: 'always', 'privacy-officer': 'always', patient: 'own-record' },
    secretFactor: true,
  }),
  'biometric.enrol': rule({ patientScoped: true, roles: { 'front-desk': 'always', clinician: 'always' } }),
  'biometric.verify': rule({
    patientScoped: true,
    roles: { 'front-desk': 'always', clinician: 'always', emergency: 'always' },
    scopes: ['verify:patient'],
  }),
  'biometric.identify': rule({
    patientScoped: false,
    roles: { 'front-desk': 'always', clinician: 'always', emergency: 'always' },
    scopes: ['identify:patient'],
  }),
  // the privacy notice tells patients to ask the front desk: it erases on their word (audited, with the reason given)
  'biometric.erase': rule({ patientScoped: true, roles: { 'front-desk': 'always', 'privacy-officer': 'always', patient: 'own-record' }, secretFactor: true }),
  // a patient's own sign-in PIN; staff reset nothing here (a patient without a PIN signs in with the date of birth)
  // live feedback on a capture (reason codes and a box only, no identity), e.g. the kiosk's preview
  'biometric.capture-feedback': rule({ patientScoped: false, roles: { 'front-desk': 'always', clinician: 'always' }, scopes: ['checkin:patient'] }),
  'patient.manage-pin': rule({ patientScoped: true, roles: { patient: 'own-record' } }),
  'breakglass.open': rule({ patientScoped: true, roles: { emergency: 'always' } }),
  'breakglass.review': rule({ patientScoped: false, roles: { 'privacy-officer': 'always' } }),
  'audit.read': rule({ patientScoped: false, roles: { 'privacy-officer': 'always' } }),
  'audit.export': rule({ patientScoped: false, roles: { 'privacy-officer': 'always' }, operator: true }),
  'audit.verify': rule({ patientScoped: false, roles: { 'privacy-officer': 'always', admin: 'always' }, operator: true }),
  'user.read': rule({ patientScoped: false, roles: { 'privacy-officer': 'always', admin: 'always' }, operator: true }),
  'user.manage': rule({ patientScoped: false, roles: { admin: 'always' }, operator: true }),
  'apiclient.manage': rule({ patientScoped: false, roles: { admin: 'always' }, operator: true }),
  'keys.rotate': rule({ patientScoped: false, roles: { admin: 'always' }, operator: true }),
  // key ids, dates and record counts only: never key material
  'keys.read': rule({ patientScoped: false, roles: { admin: 'always' }, operator: true }),
  // the calibrated thresholds and the last evaluation's curves: no patient data
  'thresholds.read': rule({ patientScoped: false, roles: { admin: 'always' }, operator: true }),
  // templates and patients counted per recogniser, and what waits to be migrated: no patient named
  'templates.read': rule({ patientScoped: false, roles: { admin: 'always' }, operator: true }),
  // counts and timings for monitoring (a Prometheus scrape with its own API key): no patient, no user named
  'metrics.read': rule({ patientScoped: false, roles: { admin: 'always' }, scopes: ['metrics:read'] }),
  // a staff member's own password, sign-in face and sessions (patients have no password; their face is their record's)
  'account.manage-own': rule({
    patientScoped: false,
    roles: { 'front-desk': 'always', clinician: 'always', emergency: 'always', 'privacy-officer': 'always', admin: 'always' },
  }),
} as const satisfies Record<string, OperationPolicy>;

export type Operation = keyof typeof POLICY;
export const OPERATIONS = Object.keys(POLICY) as Operation[];

// A conditional rule needs a patient to test the condition against; the table must not promise one it cannot check.
for (const [operation, p] of Object.entries(POLICY) as [string, OperationPolicy][]) {
  for (const r of Object.values(p.roles)) {
    if (r !== 'always' && !p.patientScoped) throw new Error(`policy: ${operation} has a ${r} rule but names no patient`);
  }
}

/** What the operation is applied to. */
export interface AccessTarget {
  patientId?: string | null;
}

/** Facts the policy needs from elsewhere; every one defaults to "no" (deny). */
export interface PolicyHooks {
  /** The user's break-glass grant on the patient, active at `at` (written by the break-glass service). */
  activeBreakGlassGrant(userId: string, patientId: string, at: Date): Promise<{ id: string; expiresAt: string } | null>;
}

export const NO_GRANTS: PolicyHooks = { activeBreakGlassGrant: () => Promise.resolve(null) };

export type DenyReason = 'unknown-operation' | 'not-permitted' | 'no-patient' | 'not-own-record' | 'no-break-glass' | 'limited-session';

export type Decision =
  | {
      allowed: true;
      operation: Operation;
      /** What allowed it, for the audit trail. */
      basis: { role: Role; rule: Rule } | { scope: Scope } | { operator: true };
      /** Set when access rests on a break-glass grant: the record view must show it. */
      breakGlassGrantId?: string;
    }
  | { allowed: false; operation: string; reason: DenyReason };

/** Decides one operation for one principal; never throws for a refusal (`guard` enforces and audits it). */
export async function authorize(principal: Principal, operation: string, target: AccessTarget = {}, hooks: PolicyHooks = NO_GRANTS, now: Date = new Date()): Promise<Decision> {
  if (!Object.hasOwn(POLICY, operation)) return { allowed: false, operation, reason: 'unknown-operation' };
  const op = operation as Operation;
  const p: OperationPolicy = POLICY[op];
  const patientId = target.patientId ?? null;

  if (principal.kind === 'operator') {
    return p.operator ? { allowed: true, operation: op, basis: { operator: true } } : { allowed: false, operation, reason: 'not-permitted' };
  }
  if (principal.kind === 'api-client') {
    const scope = principal.scopes.find((s) => p.scopes.includes(s));
    if (scope === undefined) return { allowed: false, operation, reason: 'not-permitted' };
    if (p.patientScoped && patientId === null) return { allowed: false, operation, reason: 'no-patient' };
    return { allowed: true, operation: op, basis: { scope } };
  }

  // A role that is not the table's (a typo, or one from a newer version) grants nothing.
  const held = ROLES.filter((role) => principal.roles.includes(role) && p.roles[role] !== undefined).map((role) => ({
    role,
    rule: p.roles[role] as Rule,
  }));
  if (held.length === 0) return { allowed: false, operation, reason: 'not-permitted' };
  if (p.patientScoped && patientId === null) return { allowed: false, operation, reason: 'no-patient' };
  if (principal.limited && p.secretFactor) return { allowed: false, operation, reason: 'limited-session' };

  const always = held.find((h) => h.rule === 'always');
  if (always) return { allowed: true, operation: op, basis: always };
  const own = held.find((h) => h.rule === 'own-record');
  if (own && principal.patientId !== null && principal.patientId === patientId) return { allowed: true, operation: op, basis: own };
  const glass = held.find((h) => h.rule === 'break-glass');
  if (glass && patientId !== null) {
    const grant = await hooks.activeBreakGlassGrant(principal.id, patientId, now);
    if (grant) return { allowed: true, operation: op, basis: glass, breakGlassGrantId: grant.id };
  }
  return { allowed: false, operation, reason: glass ? 'no-break-glass' : 'not-own-record' };
}
