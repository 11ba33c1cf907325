import { execFile } from 'node:child_process';
import path from 'node:path';

/** How a run of the command line ended. */
export interface CliRun {
  code: number;
  stdout: string;
  stderr: string;
}

const REPOSITORY = path.resolve(import.meta.dirname, '../..');

/**
 * Runs `medface` as a user does (through the TypeScript loader, from the repository) in `env` (default: this
 * process's), with `input` on stdin when given: its exit code and output.
 */
export function runCli(args: readonly string[], env?: NodeJS.ProcessEnv, input?: string): Promise<CliRun> {
  return new Promise((resolve) => {
    const child = execFile(process.execPath, ['--import', 'tsx', 'src/cli/main.ts', ...args], { cwd: REPOSITORY, env }, (error, stdout, stderr) =>
      resolve({ code: error ? Number(error.code ?? 1) : 0, stdout, stderr }),
    );
    if (input !== undefined) child.stdin?.end(input);
  });
}

/** An operator's console on `dataDir` alone (the embedded SQLite store): no database URL or key file from outside. */
export function operatorEnv(dataDir: string, more: NodeJS.ProcessEnv = {}): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = { ...process.env, MEDFACE_DATA_DIR: dataDir, ...more };
  delete env.DATABASE_URL;
  delete env.MEDFACE_KEY_FILE;
  return env;
}

/** `runCli` with `--json`: the answer parsed (`{}` when the command printed nothing). */
export async function runCliJson(args: readonly string[], env?: NodeJS.ProcessEnv): Promise<{ code: number; json: Record<string, unknown>; stderr: string }> {
  const { code, stdout, stderr } = await runCli([...args, '--json'], env);
  return { code, json: JSON.parse(stdout || '{}') as Record<string, unknown>, stderr };
}
