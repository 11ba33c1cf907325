import type { FromSchema } from 'json-schema-to-ts';
import type {
  ACCOUNT_REQUEST,
  ACCOUNT_REQUEST_LIST,
  API_CLIENT,
  API_CLIENT_CREATED,
  API_CLIENT_LIST,
  KEY_STATUS,
  KIOSK_REGISTERED,
  REQUESTED,
  TEMPLATE_STATUS,
  THRESHOLDS_STATUS,
  USER_CREATED,
  USER_LIST,
} from './routes/admin.js';
import type { AUDIT_EVENTS, AUDIT_VERIFICATION } from './routes/audit.js';
import type { CSRF_TOKEN, SIGNED_IN } from './routes/auth.js';
import type { BIOMETRICS_ERASED, CHECK_IN_RESULT, ENROL_RESULT, IDENTIFY_RESULT, TELEMEDICINE_LINK, TELEMEDICINE_VERIFIED } from './routes/biometrics.js';
import type { LIVENESS_FRAMES } from './frames.js';
import type { CONSENT_WITHDRAWN } from './routes/consent.js';
import type { CANDIDATES, GRANT, GRANT_LIST } from './routes/break-glass.js';
import type { DEVICE } from './routes/kiosk.js';
import type { CAPTURE_FEEDBACK, CHALLENGE, LIVENESS_PROGRESS } from './routes/liveness.js';
import type { LINK } from './routes/patients.js';
import type { NOTICES, PIN_STATUS } from './routes/portal.js';
import type { FACE_REMOVED, FACE_STATUS, PASSWORD_CHANGED } from './routes/account.js';
import type { ERROR_SCHEMA } from './errors.js';
import type { PATIENT_LABEL, USER_ACCOUNT, USER_LABEL } from './schemas.js';

/**
 * The HTTP API's responses as the web app reads them: each the type of the JSON schema its route answers with
 * (the schema is what the reply is serialised by), or, where that schema is an open FHIR resource, the
 * records/ or services/ type the route returns. web/src imports these types and writes no copy of its own
 * (test/architecture/contract.test.ts). Every import here is type-only: the browser bundle takes none of the server.
 */

/** Every failure's body: a stable code, a human message and, for the client's own mistakes, details. */
export type ErrorBody = FromSchema<typeof ERROR_SCHEMA>;

// ---- accounts and sessions ----

/** `GET /api/v1/auth/csrf`. */
export type CsrfToken = FromSchema<typeof CSRF_TOKEN>;
/** `GET /api/v1/auth/session`, and the answer of every sign-in. */
export type SignedIn = FromSchema<typeof SIGNED_IN>;
/** An account as administrators see it. */
export type UserAccount = FromSchema<typeof USER_ACCOUNT>;
/** `GET /api/v1/users`. */
export type UserList = FromSchema<typeof USER_LIST>;
/** `POST /api/v1/account/password`. */
export type PasswordChanged = FromSchema<typeof PASSWORD_CHANGED>;
/** `POST /api/v1/users` when the account was created at once (201). */
export type UserCreated = FromSchema<typeof USER_CREATED>;
/** An account change waiting for a second administrator (202 of the account routes). */
export type AccountRequested = FromSchema<typeof REQUESTED>;
export type AccountRequest = FromSchema<typeof ACCOUNT_REQUEST>;
/** `GET /api/v1/account-requests`. */
export type AccountRequestList = FromSchema<typeof ACCOUNT_REQUEST_LIST>;
/** An integration or a kiosk. */
export type ApiClient = FromSchema<typeof API_CLIENT>;
/** `GET /api/v1/api-clients`. */
export type ApiClientList = FromSchema<typeof API_CLIENT_LIST>;
/** `POST /api/v1/api-clients` (201). */
export type ApiClientCreated = FromSchema<typeof API_CLIENT_CREATED>;
/** `GET /api/v1/account/face`: the signed-in staff member's own face templates (dates only). */
export type FaceStatus = FromSchema<typeof FACE_STATUS>;
/** `DELETE /api/v1/account/face`. */
export type FaceRemoved = FromSchema<typeof FACE_REMOVED>;
/** `GET /api/v1/kiosk/device`: whether this browser is a paired kiosk. */
export type KioskDevice = FromSchema<typeof DEVICE>;
/** `POST /api/v1/kiosks` (201). */
export type KioskRegistered = FromSchema<typeof KIOSK_REGISTERED>;
export type { Role } from '../access/policy.js';

// ---- patients and biometrics ----

/** The FHIR R4 resources the API returns (records/ types: their schemas are open objects). */
export type * as Fhir from '../records/fhir.js';
/** `GET /api/v1/patients/:patientId/chart`: the record the viewer may see, with the identity banner. */
export type { ChartView as Chart } from '../services/patients/records.js';
/** `POST /api/v1/patients/:patientId/enrol` (201). */
export type EnrolResult = FromSchema<typeof ENROL_RESULT>;
/** `POST /api/v1/identify`. */
export type IdentifyResult = FromSchema<typeof IDENTIFY_RESULT>;
/** `POST /api/v1/break-glass/identify`. */
export type BreakGlassCandidates = FromSchema<typeof CANDIDATES>;
/** One ranked candidate of an identification. */
export type Candidate = IdentifyResult['candidates'][number];
/** `DELETE /api/v1/patients/:patientId/consent`. */
export type ConsentWithdrawn = FromSchema<typeof CONSENT_WITHDRAWN>;
/** `DELETE /api/v1/patients/:patientId/biometrics`. */
export type BiometricsErased = FromSchema<typeof BIOMETRICS_ERASED>;
/** A suspected duplicate pair (`GET /api/v1/duplicates`). */
export type DuplicateLink = FromSchema<typeof LINK>;
/** A break-glass grant (`GET /api/v1/break-glass/grants`). */
export type BreakGlassGrant = FromSchema<typeof GRANT>;
/** `GET /api/v1/break-glass/grants`. */
export type GrantList = FromSchema<typeof GRANT_LIST>;
/** `GET /api/v1/audit/events`: entries of the audit trail. */
export type AuditEvents = FromSchema<typeof AUDIT_EVENTS>;
/** `GET /api/v1/audit/verify`. */
export type AuditVerification = FromSchema<typeof AUDIT_VERIFICATION>;
/** A patient named in a work list, for those who may see names. */
export type PatientLabel = FromSchema<typeof PATIENT_LABEL>;
/** A user named in a work list, for those who may see accounts. */
export type UserLabel = FromSchema<typeof USER_LABEL>;

// ---- portal and telemedicine ----

/** `GET /api/v1/portal/pin`. */
export type PinStatus = FromSchema<typeof PIN_STATUS>;
/** `GET /api/v1/portal/notices`. */
export type PortalNotices = FromSchema<typeof NOTICES>;
/** `GET /api/v1/telemedicine/link/:checkId`. */
export type TelemedicineLink = FromSchema<typeof TELEMEDICINE_LINK>;
/** `POST /api/v1/telemedicine/verify`. */
export type TelemedicineVerified = FromSchema<typeof TELEMEDICINE_VERIFIED>;
/** `POST /api/v1/check-in`: what the kiosk may tell the person. */
export type CheckInResult = FromSchema<typeof CHECK_IN_RESULT>;

// ---- liveness and capture ----

/** `POST /api/v1/liveness/challenges` (201). */
export type LivenessChallenge = FromSchema<typeof CHALLENGE>;
export type { LivenessAction } from '../liveness/types.js';
export type { LivenessPurpose } from '../services/biometrics/liveness.js';
/** A challenge's id and the frames filmed for it, as every flow that takes frames reads them in JSON (frames.ts). */
export type LivenessFrames = FromSchema<{ type: 'object'; additionalProperties: false; required: ['challengeId', 'frames']; properties: typeof LIVENESS_FRAMES }>;
/** `POST /api/v1/liveness/progress`. */
export type LivenessProgress = FromSchema<typeof LIVENESS_PROGRESS>;
/** `POST /api/v1/kiosk/quality`. */
export type CaptureFeedback = FromSchema<typeof CAPTURE_FEEDBACK>;

// ---- administration ----

/** `GET /api/v1/admin/thresholds`: the calibrated thresholds with their provenance, and the newest evaluation. */
export type ThresholdsStatus = FromSchema<typeof THRESHOLDS_STATUS>;
/** `GET /api/v1/admin/templates`: templates and patients per recogniser. */
export type TemplateStatus = FromSchema<typeof TEMPLATE_STATUS>;
/** `GET /api/v1/admin/keys`: the keys protecting templates and photos, and what each protects (no key material). */
export type KeyStatus = FromSchema<typeof KEY_STATUS>;
