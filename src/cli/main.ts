#!/usr/bin/env node
import { Command } from 'commander';
import { readFileSync } from 'node:fs';

const pkg = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string };

type Register = (program: Command) => void;

/**
 * Each top-level command and the module that registers it, in the order help lists them. A call of one
 * command loads that module alone (issue 16: start-up time; the modules load their heavy parts — models,
 * database drivers — only when a command runs); help, --version or an unknown word load them all.
 */
const COMMANDS: [names: string[], load: () => Promise<Register>][] = [
  [['analyze'], async () => (await import('./analyze.js')).registerAnalyze],
  [['compare'], async () => (await import('./compare.js')).registerCompare],
  [['evaluate'], async () => (await import('./evaluate.js')).registerEvaluate],
  [['calibrate'], async () => (await import('./calibrate.js')).registerCalibrate],
  [['bench'], async () => (await import('./bench.js')).registerBench],
  [['audit'], async () => (await import('./audit.js')).registerAudit],
  [['backup', 'restore'], async () => (await import('./backup.js')).registerBackup],
  [['patient'], async () => (await import('./patient.js')).registerPatient],
  [['consent'], async () => (await import('./consent.js')).registerConsent],
  [['enrol'], async () => (await import('./enrol.js')).registerEnrol],
  [['verify'], async () => (await import('./verify.js')).registerVerify],
  [['identify'], async () => (await import('./identify.js')).registerIdentify],
  [['erase'], async () => (await import('./erase.js')).registerErase],
  [['keys'], async () => (await import('./keys.js')).registerKeys],
  [['templates'], async () => (await import('./templates.js')).registerTemplates],
  [['liveness'], async () => (await import('./liveness.js')).registerLiveness],
  [['liveness-check'], async () => (await import('./liveness-check.js')).registerLivenessCheck],
  [['user'], async () => (await import('./user.js')).registerUser],
  [['api-client'], async () => (await import('./api-client.js')).registerApiClient],
  [['kiosk'], async () => (await import('./kiosk.js')).registerKiosk],
  [['serve'], async () => (await import('./serve.js')).registerServe],
];

/** The program with the command `word` names registered, or every command when it names none of them. */
export async function buildProgram(word?: string): Promise<Command> {
  const program = new Command('medface').description('Self-hosted face recognition for medical records').version(pkg.version).showHelpAfterError();
  const named = COMMANDS.filter(([names]) => word !== undefined && names.includes(word));
  for (const register of await Promise.all((named.length > 0 ? named : COMMANDS).map(([, load]) => load()))) register(program);
  return program;
}

await (await buildProgram(process.argv[2])).parseAsync(process.argv);
