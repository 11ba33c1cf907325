import type { Command } from 'commander';
import { isMedfaceError } from '../errors.js';

export interface JsonOption {
  json?: boolean;
}

/** Prints a command's result: JSON when asked (for scripts), otherwise the command's own plain rendering. */
export function print<T>(result: T, opts: JsonOption, render: (r: T) => string): void {
  process.stdout.write(opts.json ? JSON.stringify(result, null, 2) + '\n' : render(result) + '\n');
}

/** Reports a failure the same way for every command and sets a non-zero exit code. */
export function fail(e: unknown, opts: JsonOption): void {
  const error = isMedfaceError(e) ? e.toJSON() : { code: 'INTERNAL', message: e instanceof Error ? e.message : String(e) };
  if (opts.json) process.stdout.write(JSON.stringify({ error }, null, 2) + '\n');
  else process.stderr.write(`medface: ${error.code}: ${error.message}\n`);
  process.exitCode = 1;
}

/** Wraps a command action so every error leaves through `fail`. */
export function action<A extends unknown[]>(run: (...args: A) => Promise<void>) {
  return async (...args: A): Promise<void> => {
    // commander passes the Command itself as the last argument of every action
    const opts = (args[args.length - 1] as Command).opts<JsonOption>();
    try {
      await run(...args);
    } catch (e) {
      fail(e, opts);
    }
  };
}
