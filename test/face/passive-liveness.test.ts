import { execFile } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import sharp from 'sharp';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { simulatePrintRecapture, simulateScreenReplay } from '../../src/evaluation/recapture.js';
import { createDetector, type Detector } from '../../src/face/detector.js';
import { decodeImage } from '../../src/face/image.js';
import { FacePool } from '../../src/face/index.js';
import { FACE_API_DIR } from '../../src/face/runtime.js';
import { loadPassiveLivenessModel, measurePassiveCues, passiveScore, type PassiveCues, type PassiveLiveness } from '../../src/face/passive-liveness.js';
import { demoFaceCrops } from '../../src/services/evaluation/bench.js';

const dir = mkdtempSync(path.join(tmpdir(), 'medface-passive-'));

let pool: FacePool;
let detector: Detector;
/** Single-face portraits cut from face-api's demo photos 1, 3, 4, 5 and 6 (colour photos of live people). */
let portraits: Buffer[];

/** The subject's passive liveness as the face engine reports it with an analysis. */
async function livenessOf(bytes: Uint8Array): Promise<PassiveLiveness> {
  const analysis = await pool.analyze(bytes, { purpose: 'verify', embed: false });
  const liveness = analysis.faces[analysis.subject]?.liveness;
  if (!liveness) throw new Error('no subject face');
  return liveness;
}

async function cuesOf(bytes: Uint8Array): Promise<PassiveCues> {
  const image = await decodeImage(bytes);
  const [face] = await detector.detect(image);
  if (!face) throw new Error('no face');
  return measurePassiveCues(image, face);
}

beforeAll(async () => {
  pool = await FacePool.create({ size: 1 });
  detector = await createDetector();
  portraits = await demoFaceCrops(pool, [1, 3, 4, 5, 6]);
}, 180_000);
afterAll(async () => pool?.close());

describe('passive liveness score', () => {
  it('scores a simulated print-and-rephotograph of every portrait lower than the portrait itself', async () => {
    expect(portraits.length).toBeGreaterThanOrEqual(10);
    let originalsLive = 0,
      recapturesLive = 0;
    for (const portrait of portraits) {
      const original = await livenessOf(portrait);
      const recaptured = await livenessOf(await simulatePrintRecapture(portrait));
      expect(recaptured.passive).toBeLessThan(original.passive);
      if (original.live) originalsLive++;
      if (recaptured.live) recapturesLive++;
    }
    // At the operating threshold most live portraits pass and most recaptures do not.
    expect(originalsLive).toBeGreaterThanOrEqual(0.8 * portraits.length);
    expect(recapturesLive).toBeLessThanOrEqual(0.2 * portraits.length);
  }, 180_000);

  it('simulates attacks the size of the photo, with the face still found', async () => {
    const { width, height } = await sharp(portraits[0]!).metadata();
    for (const attack of [await simulatePrintRecapture(portraits[0]!), await simulateScreenReplay(portraits[0]!)]) {
      expect(await sharp(attack).metadata()).toMatchObject({ width, height, format: 'jpeg' });
      expect((await livenessOf(attack)).passive).toBeGreaterThanOrEqual(0);
      expect(attack.equals(portraits[0]!)).toBe(false);
    }
  }, 60_000);

  it('names the cues behind a failing score, and none for a passing one', async () => {
    const original = await livenessOf(portraits[0]!);
    const recaptured = await livenessOf(await simulatePrintRecapture(portraits[0]!));
    expect(original.live).toBe(true);
    expect(original.reasons).toEqual([]);
    expect(recaptured.live).toBe(false);
    expect(recaptured.reasons.length).toBeGreaterThan(0);
    expect(recaptured.threshold).toBe(loadPassiveLivenessModel().threshold);
  }, 60_000);

  it('each cue falls with the degradation it stands for', async () => {
    const portrait = portraits[1]!;
    const original = await cuesOf(portrait);
    const blurred = await cuesOf(await sharp(portrait).blur(2).jpeg({ quality: 95 }).toBuffer());
    expect(blurred.detail).toBeLessThan(original.detail);
    expect(blurred.microTexture).toBeLessThan(original.microTexture);
    const washedOut = await cuesOf(await sharp(portrait).modulate({ saturation: 0.5 }).jpeg({ quality: 95 }).toBuffer());
    expect(washedOut.saturation).toBeLessThan(original.saturation);
    expect(washedOut.chromaSpread).toBeLessThan(original.chromaSpread);
    // Dimming every pixel by a fifth leaves no near-white highlight.
    const dimmed = await cuesOf(await sharp(portrait).linear(0.8, 0).jpeg({ quality: 95 }).toBuffer());
    expect(dimmed.specular).toBeLessThanOrEqual(original.specular);
    expect(dimmed.specular).toBe(Math.log(2e-3));
  }, 60_000);

  it('is a probability, the same for the same image, and reported only for the subject', async () => {
    const group = readFileSync(path.join(FACE_API_DIR, 'demo', 'sample1.jpg'));
    const a = await pool.analyze(group, { purpose: 'verify', embed: false });
    const b = await pool.analyze(group, { purpose: 'verify', embed: false });
    expect(a.faces.length).toBeGreaterThan(1);
    a.faces.forEach((f, i) => expect(f.liveness !== undefined).toBe(i === a.subject));
    const score = a.faces[a.subject]!.liveness!.passive;
    expect(score).toBeGreaterThanOrEqual(0);
    expect(score).toBeLessThanOrEqual(1);
    expect(b.faces[b.subject]!.liveness).toEqual(a.faces[a.subject]!.liveness);
    expect(a.faces[a.subject]!.liveness!.model).toBe('passive@1');
  }, 60_000);

  it('the shipped model weighs every cue in its physical direction and its score is monotone in each', () => {
    const model = loadPassiveLivenessModel();
    expect(model.weights.every((w) => w >= 0)).toBe(true);
    const base = Object.fromEntries(model.cues.map((c, j) => [c, model.mean[j]!])) as PassiveCues;
    for (const [j, cue] of model.cues.entries()) {
      const raised = { ...base, [cue]: base[cue] + model.std[j]! };
      expect(passiveScore(raised, model)).toBeGreaterThanOrEqual(passiveScore(base, model));
    }
  });

  it('refuses a malformed model file', () => {
    const good = loadPassiveLivenessModel();
    const write = (name: string, value: unknown): string => {
      const file = path.join(dir, name);
      writeFileSync(file, JSON.stringify(value));
      return file;
    };
    expect(() => loadPassiveLivenessModel(write('negative.json', { ...good, weights: good.weights.map((w) => -w - 1) }))).toThrow(expect.objectContaining({ code: 'THRESHOLDS_INVALID' }));
    expect(() => loadPassiveLivenessModel(write('threshold.json', { ...good, threshold: 2 }))).toThrow(expect.objectContaining({ code: 'THRESHOLDS_INVALID' }));
    expect(() => loadPassiveLivenessModel(write('cue.json', { ...good, cues: [...good.cues.slice(1), 'glare'] }))).toThrow(expect.objectContaining({ code: 'THRESHOLDS_INVALID' }));
    expect(() => loadPassiveLivenessModel(path.join(dir, 'absent.json'))).toThrow(expect.objectContaining({ code: 'THRESHOLDS_INVALID' }));
  });
});

describe('medface liveness', () => {
  function medface(...args: string[]): Promise<{ code: number; stdout: string }> {
    return new Promise((resolve) => {
      execFile(process.execPath, ['--import', 'tsx', 'src/cli/main.ts', ...args], { cwd: path.resolve(import.meta.dirname, '../..') }, (error, stdout) =>
        resolve({ code: error ? Number(error.code ?? 1) : 0, stdout }),
      );
    });
  }

  it('prints the score, the verdict at the configured threshold and the model as JSON', async () => {
    const live = path.join(dir, 'portrait.jpg');
    const recaptured = path.join(dir, 'recaptured.jpg');
    writeFileSync(live, portraits[0]!);
    writeFileSync(recaptured, await simulatePrintRecapture(portraits[0]!));
    const threshold = loadPassiveLivenessModel().threshold;
    for (const [file, expected] of [
      [live, true],
      [recaptured, false],
    ] as const) {
      const { code, stdout } = await medface('liveness', file, '--json');
      expect(code).toBe(0);
      const report = JSON.parse(stdout) as { score: number; live: boolean; threshold: number; model: string; reasons: string[] };
      expect(report.live).toBe(expected);
      expect(report.live).toBe(report.score >= threshold);
      expect(report.threshold).toBe(threshold);
      expect(report.model).toBe('passive@1');
    }
  }, 120_000);

  it('medface analyze reports the subject face passive score', async () => {
    const { code, stdout } = await medface('analyze', path.join(FACE_API_DIR, 'demo', 'sample1.jpg'), '--json');
    expect(code).toBe(0);
    const report = JSON.parse(stdout) as { faces: Array<{ subject: boolean; liveness?: { passive: number; live: boolean; model: string } }> };
    const subject = report.faces.find((f) => f.subject)!;
    expect(subject.liveness?.model).toBe('passive@1');
    expect(subject.liveness!.live).toBe(subject.liveness!.passive >= loadPassiveLivenessModel().threshold);
    expect(report.faces.filter((f) => f.liveness)).toHaveLength(1);
  }, 120_000);

  it('fails with NO_FACE on an image without a face', async () => {
    const blank = path.join(dir, 'blank.png');
    await sharp({ create: { width: 320, height: 240, channels: 3, background: '#808080' } })
      .png()
      .toFile(blank);
    const { code, stdout } = await medface('liveness', blank, '--json');
    expect(code).toBe(1);
    expect(JSON.parse(stdout)).toMatchObject({ error: { code: 'NO_FACE' } });
  }, 120_000);
});
