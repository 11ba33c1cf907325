import os from 'node:os';
import type { Command } from 'commander';
import { isMedfaceError } from '../errors.js';
import type { EnrolResult } from '../services/biometrics/enrol.js';
import { readImageArgument } from './engine.js';
import { action, print } from './output.js';
import { withMedface, withSessionOptions, type SessionOptions } from './session.js';

interface EnrolOptions extends SessionOptions {
  overrideDuplicate?: string;
  keepPhoto?: boolean;
  replaceOldest?: boolean;
  thresholds?: string;
}

export function registerEnrol(program: Command): void {
  withSessionOptions(
    program
      .command('enrol')
      .description("Store face templates for a consenting patient; refused when the face matches another patient's")
      .argument('<patient>', 'patient id')
      .argument('<images...>', 'one or more photos, each of the patient alone')
      .option('--override-duplicate <reason>', 'store even though the face matches another patient (the suspicion stays for review)')
      .option('--keep-photo', 'keep the photos, encrypted, for human review')
      .option('--replace-oldest', "at the template limit, replace the patient's oldest templates")
      .option('--thresholds <file>', 'thresholds file (default config/thresholds.json)'),
  ).action(
    action(async (patientId: string, files: string[], opts: EnrolOptions) => {
      const { enrol } = await import('../services/biometrics/enrol.js');
      const images = await Promise.all(files.map(readImageArgument));
      const request = {
        patientId,
        images,
        keepPhoto: opts.keepPhoto === true,
        replaceOldest: opts.replaceOldest === true,
        ...(opts.overrideDuplicate !== undefined && { overrideDuplicate: opts.overrideDuplicate }),
      };
      const result = await withMedface(opts, (medface, who) => enrol(medface, request, who), {
        thresholdsFile: opts.thresholds,
        poolSize: Math.min(images.length, os.availableParallelism()),
      }).catch((e: unknown) => {
        if (!opts.json && isMedfaceError(e) && e.code === 'DUPLICATE_SUSPECTED') {
          for (const c of (e.details?.candidates ?? []) as { patientId: string; grade: string; score: number; linkId: string }[]) {
            process.stderr.write(`  matches patient ${c.patientId} (${c.grade}, ${c.score.toFixed(4)}); suspected duplicate ${c.linkId}\n`);
          }
        }
        throw e;
      });
      print(result, opts, render);
    }),
  );
}

function render(r: EnrolResult): string {
  const lines = [`enrolled ${r.templates.length} template(s) for ${r.patientId}: ${r.templateCount} of ${r.limit} stored`];
  if (r.replaced.length > 0) lines.push(`  replaced the oldest: ${r.replaced.join(', ')}`);
  if (r.photosKept > 0) lines.push(`  kept ${r.photosKept} photo(s), encrypted`);
  for (const d of r.duplicates) lines.push(`  stored despite a match with ${d.patientId} (${d.grade}); suspected duplicate ${d.linkId} ${d.status}`);
  return lines.join('\n');
}
