import type { AccessContext } from '../access/context.js';
import type { Caller } from '../access/guard.js';
import { withMedface, type SessionOptions } from './session.js';

/** Runs access administration as the console operator: the policy decides what the console may do. */
export function asOperator<T>(opts: SessionOptions, work: (ctx: AccessContext, caller: Caller) => Promise<T>): Promise<T> {
  return withMedface(opts, async (medface, who) => {
    const { accessContext, consoleCaller } = await import('../services/access.js');
    return work(await accessContext(medface), consoleCaller(who));
  });
}
