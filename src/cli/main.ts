#!/usr/bin/env node
import { Command } from 'commander';
import { readFileSync } from 'node:fs';
import { registerAnalyze } from './analyze.js';
import { registerApiClient } from './api-client.js';
import { registerAudit } from './audit.js';
import { registerBackup } from './backup.js';
import { registerBench } from './bench.js';
import { registerCalibrate } from './calibrate.js';
import { registerCompare } from './compare.js';
import { registerConsent } from './consent.js';
import { registerEnrol } from './enrol.js';
import { registerErase } from './erase.js';
import { registerEvaluate } from './evaluate.js';
import { registerIdentify } from './identify.js';
import { registerKeys } from './keys.js';
import { registerKiosk } from './kiosk.js';
import { registerLiveness } from './liveness.js';
import { registerLivenessCheck } from './liveness-check.js';
import { registerPatient } from './patient.js';
import { registerServe } from './serve.js';
import { registerTemplates } from './templates.js';
import { registerUser } from './user.js';
import { registerVerify } from './verify.js';

const pkg = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string };

export function buildProgram(): Command {
  const program = new Command('medface')
    .description('Self-hosted face recognition for medical records')
    .version(pkg.version)
    .showHelpAfterError();
  registerAnalyze(program);
  registerCompare(program);
  registerEvaluate(program);
  registerCalibrate(program);
  registerBench(program);
  registerAudit(program);
  registerBackup(program);
  registerPatient(program);
  registerConsent(program);
  registerEnrol(program);
  registerVerify(program);
  registerIdentify(program);
  registerErase(program);
  registerKeys(program);
  registerTemplates(program);
  registerLiveness(program);
  registerLivenessCheck(program);
  registerUser(program);
  registerApiClient(program);
  registerKiosk(program);
  registerServe(program);
  return program;
}

await buildProgram().parseAsync(process.argv);
