import type { Command } from 'commander';
import type { IdentifyResult } from '../services/biometrics/identify.js';
import { readImageArgument } from './engine.js';
import { action, print } from './output.js';
import { withMedface, withSessionOptions, type SessionOptions } from './session.js';

export function registerIdentify(program: Command): void {
  withSessionOptions(
    program
      .command('identify')
      .description('1:N: which enrolled patients match the face in the photo? Only matches are listed, never the nearest stranger')
      .argument('<image>', 'a photo of one face')
      .option('--top <k>', 'most candidates to list (default 3)', (v) => Number(v))
      .option('--thresholds <file>', 'thresholds file (default config/thresholds.json)'),
  ).action(
    action(async (file: string, opts: SessionOptions & { top?: number; thresholds?: string }) => {
      const [{ identify }, { consoleNameRights, lookUpPeople }] = await Promise.all([import('../services/biometrics/identify.js'), import('../services/patients/people.js')]);
      const image = await readImageArgument(file);
      const request = { image, ...(opts.top !== undefined && { top: opts.top }) };
      const result = await withMedface(
        opts,
        async (medface, who): Promise<NamedResult> => {
          const found = await identify(medface, request, who);
          // the console reads patient records already (`medface patient get`): it sees who the candidates are
          const people = await lookUpPeople(medface, who, await consoleNameRights(who.actor), { patients: found.candidates.map((c) => c.patientId) }, 'biometric.identify');
          return {
            ...found,
            candidates: found.candidates.map((c) => ({ ...c, name: people.patients.get(c.patientId)?.name ?? null, birthDate: people.patients.get(c.patientId)?.birthDate ?? null })),
          };
        },
        { thresholdsFile: opts.thresholds },
      );
      print(result, opts, render);
    }),
  );
}

/** The identification with each candidate's name and date of birth. */
type NamedResult = Omit<IdentifyResult, 'candidates'> & { candidates: (IdentifyResult['candidates'][number] & { name: string | null; birthDate: string | null })[] };

function render(r: NamedResult): string {
  if (!r.match) return `NO MATCH (threshold ${r.threshold.toFixed(4)} for ${r.galleryPatients} patients at FPIR ${r.fpir})`;
  return r.candidates.map((c, i) => `${i + 1}. ${c.name ?? '(no name)'}  born ${c.birthDate ?? 'unknown'}  ${c.grade}  score ${c.score.toFixed(4)}  ${c.patientId}`).join('\n');
}
