import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import sharp from 'sharp';
import { beforeAll, describe, expect, it } from 'vitest';
import { FACE_API_DIR } from '../../src/face/runtime.js';
import { FacePool } from '../../src/face/index.js';
import { demoFaceCrops } from '../../src/services/evaluation/bench.js';
import { runCli, type CliRun } from './run.js';

/** Runs the CLI as a user would (through the TypeScript loader), returning its exit code and output. */
function medface(...args: string[]): Promise<CliRun> {
  return runCli(args);
}

const dir = mkdtempSync(path.join(tmpdir(), 'medface-cli-'));
const file = (name: string) => path.join(dir, name);
const groupPhoto = path.join(FACE_API_DIR, 'demo', 'sample1.jpg');

beforeAll(async () => {
  // three single-face portraits cut from one of face-api's group photos, and a second capture of the first
  // (smaller, brighter, re-encoded) standing in for the same person photographed again
  const pool = await FacePool.create({ size: 1 });
  try {
    const crops = await demoFaceCrops(pool, [1]);
    expect(crops.length).toBeGreaterThanOrEqual(2);
    crops.forEach((c, i) => writeFileSync(file(`face${i}.jpg`), c));
    const again = await sharp(crops[0]!).resize({ width: 480 }).modulate({ brightness: 1.15 }).jpeg({ quality: 80 }).toBuffer();
    writeFileSync(file('face0-again.jpg'), again);
  } finally {
    await pool.close();
  }
});

describe('medface compare', () => {
  it('matches two captures of the same face', async () => {
    const { code, stdout } = await medface('compare', file('face0.jpg'), file('face0-again.jpg'), '--json');
    expect(code).toBe(0);
    const r = JSON.parse(stdout) as Record<string, unknown>;
    expect(Object.keys(r).sort()).toEqual(['grade', 'match', 'model', 'similarity', 'threshold']);
    expect(r.match).toBe(true);
    expect(['certain', 'probable']).toContain(r.grade);
    expect(r.similarity as number).toBeGreaterThan(r.threshold as number);
    expect(r.model).toMatch(/@/);
  });

  it('does not match two different people', async () => {
    const { code, stdout } = await medface('compare', file('face0.jpg'), file('face1.jpg'), '--json');
    expect(code).toBe(0);
    const r = JSON.parse(stdout) as { match: boolean; grade: string; similarity: number; threshold: number };
    expect(r.match).toBe(false);
    expect(r.similarity).toBeLessThan(r.threshold);
    expect(['possible', 'certainly-not']).toContain(r.grade);
  });

  it('refuses a group photo, naming the image, with a non-zero exit', async () => {
    const { code, stdout } = await medface('compare', file('face0.jpg'), groupPhoto, '--json');
    expect(code).toBe(1);
    const { error } = JSON.parse(stdout) as { error: { code: string; details: { image: number } } };
    expect(error.code).toBe('MULTIPLE_FACES');
    expect(error.details.image).toBe(2);
  });

  it('refuses a path that is not there', async () => {
    const { code, stderr } = await medface('compare', file('nope.jpg'), file('face0.jpg'));
    expect(code).toBe(1);
    expect(stderr).toContain('INVALID_ARGUMENT');
  });
});

describe('medface analyze', () => {
  it('reports every face with box, pose and quality, and never an embedding', async () => {
    const { code, stdout } = await medface('analyze', groupPhoto, '--purpose', 'enrol', '--json');
    expect(code).toBe(0);
    const r = JSON.parse(stdout) as {
      purpose: string;
      accepted: boolean;
      reasons: string[];
      faces: Array<{ box: { width: number }; pose: { yaw: number }; quality: { passed: boolean; reasons: string[] }; subject: boolean }>;
    };
    expect(r.purpose).toBe('enrol');
    expect(r.faces.length).toBeGreaterThanOrEqual(3);
    expect(r.faces.filter((f) => f.subject)).toHaveLength(1);
    for (const f of r.faces) {
      expect(f.box.width).toBeGreaterThan(0);
      expect(typeof f.pose.yaw).toBe('number');
      expect(Array.isArray(f.quality.reasons)).toBe(true);
    }
    expect(r.accepted).toBe(false);
    expect(r.reasons).toContain('MULTIPLE_FACES');
    expect(stdout).not.toMatch(/embedding|vector/i);
  });

  it('analyses several images in one run, one JSON line each, and goes on past a file that fails', async () => {
    const { code, stdout } = await medface('analyze', file('face0.jpg'), file('nope.jpg'), groupPhoto, '--json');
    expect(code).toBe(1);
    const lines = stdout
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as { file: string; faces?: unknown[]; error?: { code: string } });
    expect(lines.map((l) => l.file)).toEqual([file('face0.jpg'), file('nope.jpg'), groupPhoto]);
    expect(lines[0]!.faces).toHaveLength(1);
    expect(lines[1]!.error?.code).toBe('INVALID_ARGUMENT');
    expect(lines[2]!.faces!.length).toBeGreaterThanOrEqual(3);
  });
});
