/**
 * Hostile-input fuzz at scale: `npx tsx bench/fuzz.ts [--cases 10000] [--seed N]` starts medface (SQLite in a
 * temp directory, one face worker, real models), sends the generated cases of test/server/fuzz.ts (a tenth
 * over real HTTP, the rest by inject, then malformed raw HTTP) and prints what came back and every finding.
 * Exit status 1 when there is a finding. The seed is printed so a run can be replayed.
 */
import { runFuzz, startFuzzTarget } from '../test/server/fuzz.js';

function option(name: string, fallback: number): number {
  const at = process.argv.indexOf(`--${name}`);
  const value = at >= 0 ? Number(process.argv[at + 1]) : fallback;
  if (!Number.isInteger(value) || value < 0) throw new Error(`--${name} must be a non-negative integer`);
  return value;
}

const cases = option('cases', 10_000);
const seed = option('seed', Math.floor(Math.random() * 2 ** 31));
process.stdout.write(`fuzz: ${cases} cases, seed ${seed}\n`);

const target = await startFuzzTarget();
const started = performance.now();
try {
  const result = await runFuzz(target, seed, cases, (done) => {
    if (done % 1000 === 0) process.stdout.write(`  ${done}/${cases} (${Math.round((performance.now() - started) / 1000)} s)\n`);
  });
  const seconds = (performance.now() - started) / 1000;
  process.stdout.write(
    `${JSON.stringify({ seed, cases: result.cases, seconds: Math.round(seconds), overHttp: result.overHttp, accepted: result.accepted, byStatus: result.byStatus, byCode: result.byCode, findings: result.findings.length }, null, 2)}\n`,
  );
  for (const f of result.findings) process.stdout.write(`FINDING #${f.n} [${f.family}] ${f.problem}\n  ${f.request} -> ${f.status} ${f.body}\n`);
  process.exitCode = result.findings.length > 0 ? 1 : 0;
} finally {
  await target.close();
}
