import type { SqlExecutor } from './sql.js';
import { accountRequestRepository } from './repositories/account-requests.js';
import { apiClientRepository } from './repositories/api-clients.js';
import { auditRepository } from './repositories/audit.js';
import { breakGlassGrantRepository } from './repositories/break-glass-grants.js';
import { clinicalResourceRepository } from './repositories/clinical-resources.js';
import { consentRepository } from './repositories/consents.js';
import { keyRepository } from './repositories/keys.js';
import { livenessChallengeRepository } from './repositories/liveness-challenges.js';
import { patientLinkRepository } from './repositories/patient-links.js';
import { patientRepository } from './repositories/patients.js';
import { rateLimitRepository } from './repositories/rate-limits.js';
import { sessionRepository } from './repositories/sessions.js';
import { staffTemplateRepository } from './repositories/staff-templates.js';
import { templateRepository } from './repositories/templates.js';
import { userRepository } from './repositories/users.js';
import type { Repository } from './types.js';

/**
 * The repository written once in the SQL both engines share, one aggregate per file (src/store/repositories/),
 * all on one connection that the caller has put inside a transaction, so a multi-statement method (e.g.
 * replaceOldestTemplate) is atomic.
 */
export function sqlRepository(sql: SqlExecutor): Repository {
  return {
    ...patientRepository(sql),
    ...patientLinkRepository(sql),
    ...consentRepository(sql),
    ...clinicalResourceRepository(sql),
    ...breakGlassGrantRepository(sql),
    ...templateRepository(sql),
    ...staffTemplateRepository(sql),
    ...keyRepository(sql),
    ...userRepository(sql),
    ...accountRequestRepository(sql),
    ...sessionRepository(sql),
    ...apiClientRepository(sql),
    ...rateLimitRepository(sql),
    ...livenessChallengeRepository(sql),
    ...auditRepository(sql),
  };
}
