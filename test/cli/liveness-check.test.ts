import { execFile } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import sharp from 'sharp';
import { beforeAll, describe, expect, it } from 'vitest';
import { genuineProxy, toFrames } from '../liveness/pad-sequences.js';
import { decodeImage, FacePool, meshTriangulation } from '../../src/face/index.js';
import { FACE_API_DIR } from '../../src/face/runtime.js';

/** Runs the CLI as a user would (through the TypeScript loader), returning its exit code and output. */
function medface(...args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(process.execPath, ['--import', 'tsx', 'src/cli/main.ts', ...args], { cwd: path.resolve(import.meta.dirname, '../..') }, (error, stdout, stderr) =>
      resolve({ code: error ? Number(error.code ?? 1) : 0, stdout, stderr }),
    );
  });
}

const dir = mkdtempSync(path.join(tmpdir(), 'medface-liveness-check-'));
const frames = path.join(dir, 'frames');

beforeAll(async () => {
  // A head turning left, then looking up, rendered from one of face-api's demo faces (a genuine proxy).
  const photo = await sharp(readFileSync(path.join(FACE_API_DIR, 'demo', 'sample3.jpg')))
    .extract({ left: 335, top: 115, width: 640, height: 720 })
    .resize(320)
    .jpeg()
    .toBuffer();
  const pool = await FacePool.create({ size: 1 });
  try {
    const mesh = (await pool.observe(photo, false)).subject!.mesh;
    let s = 11;
    const jitter = (): number => ((s = (s * 16807) % 2147483647), s / 2147483647);
    const rendered = await toFrames(genuineProxy({ image: await decodeImage(photo), mesh }, meshTriangulation(), ['turn-left', 'look-up'], jitter, { framesPerAction: 6 }));
    mkdirSync(frames);
    for (const f of rendered) writeFileSync(path.join(frames, `frame-${String(f.at).padStart(5, '0')}.jpg`), f.image);
  } finally {
    await pool.close();
  }
}, 120_000);

describe('medface liveness-check', () => {
  it('passes frames that perform the challenge, naming the match frame (exit 0)', async () => {
    const { code, stdout } = await medface('liveness-check', frames, '--challenge', 'turn-left,look-up', '--json');
    const report = JSON.parse(stdout) as Record<string, unknown>;
    expect(report).toMatchObject({ passed: true, reasons: [], observed: ['turn-left', 'look-up'], frames: 18 });
    expect(report.matchFile).toMatch(/^frame-\d{5}\.jpg$/);
    expect(code).toBe(0);
  }, 120_000);

  it('fails the same frames against another order (exit 2), timing them by --fps', async () => {
    const { code, stdout } = await medface('liveness-check', frames, '--challenge', 'look-up,turn-left', '--fps', '8');
    expect(stdout).toContain('NOT VERIFIED (LIVENESS_WRONG_ORDER)');
    expect(code).toBe(2);
  }, 120_000);

  it('refuses an unknown action before loading any model (exit 1)', async () => {
    const { code, stdout } = await medface('liveness-check', frames, '--challenge', 'turn-left,smile', '--json');
    expect(JSON.parse(stdout)).toMatchObject({ error: { code: 'INVALID_ARGUMENT' } });
    expect(code).toBe(1);
  }, 60_000);
});
