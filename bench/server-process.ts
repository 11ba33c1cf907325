import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync } from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';

/** What the server benchmarks (load.ts, memory-abuse.ts) start: `medface serve` as its own process, on a fresh data directory. */
export interface ServerProcess {
  /** The scratch directory holding the server's data directory (`<root>/data`). */
  root: string;
  port: number;
  server: ChildProcess;
}

async function freePort(): Promise<number> {
  const server = net.createServer();
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const { port } = server.address() as net.AddressInfo;
  await new Promise((r) => server.close(r));
  return port;
}

/** Starts `medface serve` (through tsx, from the source tree) on a free local port; `stdout` says whether its output is piped. */
export async function startServerProcess(name: string, stdout: 'pipe' | 'ignore'): Promise<ServerProcess> {
  const root = mkdtempSync(path.join(os.tmpdir(), `medface-${name}-`));
  const port = await freePort();
  const server = spawn(process.execPath, ['--import', 'tsx', path.resolve(import.meta.dirname, '../src/cli/main.ts'), 'serve', '--host', '127.0.0.1'], {
    env: { ...process.env, PORT: String(port), MEDFACE_DATA_DIR: path.join(root, 'data') },
    stdio: ['ignore', stdout, stdout],
  });
  return { root, port, server };
}

/** The peak resident memory of a process so far (VmHWM) and now (VmRSS), in MiB. */
export function memoryOf(pid: number): { rss: number; peak: number } {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  const kib = (field: string) => Number(new RegExp(`^${field}:\\s+(\\d+) kB`, 'm').exec(status)?.[1] ?? 0);
  return { rss: kib('VmRSS') / 1024, peak: kib('VmHWM') / 1024 };
}
