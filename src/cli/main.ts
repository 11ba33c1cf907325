#!/usr/bin/env node
import { Command } from 'commander';
import { readFileSync } from 'node:fs';
import { registerAnalyze } from './analyze.js';
import { registerBench } from './bench.js';
import { registerCalibrate } from './calibrate.js';
import { registerCompare } from './compare.js';
import { registerEvaluate } from './evaluate.js';

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
  return program;
}

await buildProgram().parseAsync(process.argv);
