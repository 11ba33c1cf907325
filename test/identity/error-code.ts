import { isMedfaceError } from '../../src/errors.js';

/** The MedfaceError code `action` throws (a description of anything else it throws), or undefined when it returns. */
export function codeOf(action: () => unknown): string | undefined {
  try {
    action();
  } catch (e) {
    return isMedfaceError(e) ? e.code : `not a MedfaceError: ${String(e)}`;
  }
  return undefined;
}
