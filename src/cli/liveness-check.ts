import type { Command } from 'commander';
import { readdir, readFile } from 'node:fs/promises';
import path from 'node:path';
import { MedfaceError } from '../errors.js';
import { LIVENESS_ACTIONS, type CapturedFrame, type LivenessAction, type LivenessVerdict } from '../liveness/types.js';
import { withPool } from './engine.js';
import { action, print } from './output.js';

const FRAME_EXTENSIONS = new Set(['.jpg', '.jpeg', '.png', '.webp']);

export interface LivenessCheckReport extends LivenessVerdict {
  frames: number;
  /** File name of the match frame; null when the check failed. */
  matchFile: string | null;
}

export function registerLivenessCheck(program: Command): void {
  program
    .command('liveness-check')
    .description("Active liveness check on a folder of frames (the camera's own, not the mirrored preview): exit 0 when it passes, 2 when it fails")
    .argument('<folder>', 'frames, in capture order by file name (.jpg, .jpeg, .png, .webp)')
    .requiredOption('--challenge <actions>', `actions asked for, in order, comma-separated (${LIVENESS_ACTIONS.join(', ')})`)
    .option('--fps <n>', "frame rate the frames were captured at (default: each name's last number is its capture time in ms)")
    .option('--window <ms>', 'time the challenge allowed, in ms', '30000')
    .option('--json', 'machine-readable output')
    .action(
      action(async (folder: string, opts: { challenge: string; fps?: string; window: string; json?: boolean }) => {
        const actions = parseChallenge(opts.challenge);
        const window = Number(opts.window);
        if (!Number.isFinite(window) || window <= 0) throw new MedfaceError('INVALID_ARGUMENT', `--window must be a positive number of ms, not ${opts.window}`);
        const { names, frames } = await readFrames(folder, opts.fps);
        // The folder is judged as if its last frame had just arrived for a challenge issued when its clock started.
        const now = new Date();
        const issued = new Date(now.getTime() - (frames.at(-1)?.at ?? 0));
        const challenge = { id: 'cli', nonce: 'cli', actions, issuedAt: issued.toISOString(), deadline: new Date(issued.getTime() + window).toISOString() };
        const { assessSequence } = await import('../liveness/assess.js');
        const { embedding: _embedding, views: _views, ...verdict } = await withPool({ size: 1 }, async (pool) => assessSequence(await pool(), challenge, frames, now));
        const report: LivenessCheckReport = { ...verdict, frames: frames.length, matchFile: verdict.matchFrame === null ? null : names[verdict.matchFrame]! };
        print(report, opts, render);
        if (!report.passed) process.exitCode = 2;
      }),
    );
}

function parseChallenge(text: string): LivenessAction[] {
  const actions = text
    .split(',')
    .map((a) => a.trim())
    .filter(Boolean);
  const unknown = actions.filter((a) => !(LIVENESS_ACTIONS as readonly string[]).includes(a));
  if (actions.length === 0 || unknown.length > 0) {
    throw new MedfaceError('INVALID_ARGUMENT', `--challenge takes actions among ${LIVENESS_ACTIONS.join(', ')}${unknown.length ? `; not ${unknown.join(', ')}` : ''}`);
  }
  if (new Set(actions).size !== actions.length) throw new MedfaceError('INVALID_ARGUMENT', '--challenge names an action twice');
  return actions as LivenessAction[];
}

async function readFrames(folder: string, fps: string | undefined): Promise<{ names: string[]; frames: CapturedFrame[] }> {
  let entries: string[];
  try {
    entries = await readdir(folder);
  } catch (e) {
    throw new MedfaceError('INVALID_ARGUMENT', `cannot read ${folder}: ${(e as NodeJS.ErrnoException).code ?? 'error'}`);
  }
  const names = entries.filter((n) => FRAME_EXTENSIONS.has(path.extname(n).toLowerCase())).sort();
  let times: number[];
  if (fps !== undefined) {
    const rate = Number(fps);
    if (!(rate > 0)) throw new MedfaceError('INVALID_ARGUMENT', `--fps must be a positive number, not ${fps}`);
    times = names.map((_, i) => Math.round((i * 1000) / rate));
  } else {
    times = names.map((n) => Number(path.parse(n).name.match(/(\d+)(?!.*\d)/)?.[1] ?? NaN));
    if (times.some((t) => !Number.isFinite(t))) {
      throw new MedfaceError('INVALID_ARGUMENT', 'without --fps every frame name must end in its capture time in ms (e.g. frame-0450.jpg)');
    }
  }
  const frames = await Promise.all(names.map(async (n, i) => ({ image: new Uint8Array(await readFile(path.join(folder, n))), at: times[i]! })));
  return { names, frames };
}

function render(r: LivenessCheckReport): string {
  const observed = r.observed.length ? r.observed.join(' → ') : 'no action';
  return r.passed ? `LIVE: ${observed} performed as asked over ${r.frames} frames; match frame ${r.matchFile}` : `NOT VERIFIED (${r.reasons.join(', ')}): observed ${observed} over ${r.frames} frames`;
}
