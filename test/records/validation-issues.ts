import { MedfaceError } from '../../src/errors.js';

/** The issues a validation refused `fn`'s input with (the test fails when it was accepted or refused otherwise). */
export function issuesOf(fn: () => unknown): { path: string; message: string }[] {
  try {
    fn();
  } catch (e) {
    if (e instanceof MedfaceError && e.code === 'VALIDATION_FAILED') return (e.details as { issues: { path: string; message: string }[] }).issues;
    throw e;
  }
  throw new Error('expected VALIDATION_FAILED');
}
