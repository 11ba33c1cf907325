import { MedfaceError } from '../errors.js';

/**
 * Refuses a request body holding text that cannot be stored as sent (VALIDATION_FAILED, naming where): U+0000,
 * which PostgreSQL cannot store in text at all, and lone surrogates, which are not Unicode (JSON can carry them
 * as `\ud800`; PostgreSQL's jsonb refuses them). On that store both failed deep in a transaction as a 500; FHIR
 * strings may not hold either. The walk is iterative: bodies may nest deeper than the stack.
 */
export function refuseUnstorableText(body: unknown): void {
  const pending: Array<[unknown, string]> = [[body, 'body']];
  while (pending.length > 0) {
    const [value, path] = pending.pop() as [unknown, string];
    if (typeof value === 'string') {
      check(value, path);
    } else if (Array.isArray(value)) {
      value.forEach((item, i) => pending.push([item, `${path}.${i}`]));
    } else if (value !== null && typeof value === 'object') {
      for (const [key, item] of Object.entries(value)) {
        check(key, path);
        pending.push([item, `${path}.${key}`]);
      }
    }
  }
}

const LONE_SURROGATE = /\p{Cs}/u;

function check(text: string, path: string): void {
  const problem = text.includes('\u0000') ? 'contains a NUL character' : LONE_SURROGATE.test(text) ? 'is not well-formed Unicode (a lone surrogate)' : null;
  if (problem) throw new MedfaceError('VALIDATION_FAILED', `${path} ${problem}`, { issues: [{ path, message: problem }] });
}
