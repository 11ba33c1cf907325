#!/usr/bin/env node
import { Command } from 'commander';
import { readFileSync } from 'node:fs';

const pkg = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string };

export function buildProgram(): Command {
  const program = new Command('medface')
    .description('Self-hosted face recognition for medical records')
    .version(pkg.version)
    .showHelpAfterError();
  return program;
}

await buildProgram().parseAsync(process.argv);
