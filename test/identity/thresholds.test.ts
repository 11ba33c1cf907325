import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { readThresholdsFile, thresholdsFor, writeModelThresholds, type ModelThresholds } from '../../src/identity/thresholds.js';

function entry(match = 0.6): ModelThresholds {
  return {
    match,
    fmr: 0.001,
    thresholdsAtFmr: { '0.01': match - 0.1, '0.001': match, '0.0001': match + 0.1 },
    grades: {
      certain: { minScore: match + 0.1, fmr: 0.0001 },
      probable: { minScore: match, fmr: 0.001 },
      possible: { minScore: match - 0.1, fmr: 0.01 },
    },
    calibration: {
      sets: ['set-a', 'set-b'],
      impostorPairs: 400_000,
      genuinePairs: 2000,
      failuresToAcquire: 1,
      date: '2026-01-02T03:04:05.000Z',
      command: 'medface calibrate set-a set-b --fmr 0.001',
      minFalseMatches: 30,
      tarAtFmr: { '0.01': 0.99, '0.001': 0.98, '0.0001': 0.95 },
    },
  };
}

/** The entry with a 1:N section, as `medface calibrate` writes it now. */
function withIdentification(match = 0.6): ModelThresholds {
  return {
    ...entry(match),
    identification: {
      fpir: 0.001,
      grades: { certain: { fpir: 0.0001 }, probable: { fpir: 0.001 }, possible: { fpir: 0.01 } },
      impostorTail: {
        pairs: 400_000,
        scoresAtFmr: { '0.01': match - 0.1, '0.005': match - 0.07, '0.001': match, '0.0001': match + 0.1 },
        exponential: { from: match, fmr: 0.0025, scale: 0.04, exceedances: 1000 },
      },
    },
  };
}

const tmpFile = () => path.join(mkdtempSync(path.join(tmpdir(), 'medface-thr-')), 'thresholds.json');

describe('thresholds file', () => {
  it('writes one model and reads it back, keeping the other models', () => {
    const file = tmpFile();
    writeModelThresholds('net-a@1', entry(0.6), file);
    writeModelThresholds('net-b@2', entry(0.4), file);
    writeModelThresholds('net-a@1', entry(0.5), file);
    expect(thresholdsFor('net-a@1', file)).toEqual(entry(0.5));
    expect(thresholdsFor('net-b@2', file)).toEqual(entry(0.4));
    expect(Object.keys(readThresholdsFile(file).models)).toEqual(['net-a@1', 'net-b@2']);
  });

  it('keeps a 1:N section and still reads entries calibrated before there was one', () => {
    const file = tmpFile();
    writeModelThresholds('net-a@1', withIdentification(), file);
    writeModelThresholds('net-old@1', entry(), file);
    expect(thresholdsFor('net-a@1', file)).toEqual(withIdentification());
    expect(thresholdsFor('net-old@1', file).identification).toBeUndefined();
  });

  const brokenIdentification: Array<[string, (i: NonNullable<ModelThresholds['identification']>) => void]> = [
    ['an operating rate other than probable’s', (i) => (i.fpir = 0.002)],
    ['certain above probable', (i) => (i.grades.certain.fpir = 0.002)],
    ['a rate of 1', (i) => (i.grades.possible.fpir = 1)],
    ['a tail score rising with the rate', (i) => (i.impostorTail.scoresAtFmr = { '0.01': 0.7, '0.001': 0.6 })],
    ['an empty measured tail', (i) => (i.impostorTail.scoresAtFmr = {})],
    ['a tail score outside [-1, 1]', (i) => (i.impostorTail.scoresAtFmr['0.0001'] = 1.2)],
    ['a scale of 0', (i) => (i.impostorTail.exponential.scale = 0)],
    ['no fitted tail', (i) => delete (i.impostorTail as Partial<typeof i.impostorTail>).exponential],
    ['no pair count', (i) => delete (i.impostorTail as Partial<typeof i.impostorTail>).pairs],
  ];
  it.each(brokenIdentification)('THRESHOLDS_INVALID for an identification section with %s', (_what, mutate) => {
    const e = withIdentification();
    mutate(e.identification!);
    const file = tmpFile();
    writeFileSync(file, JSON.stringify({ version: 1, models: { 'net-a@1': e } }));
    expect(() => thresholdsFor('net-a@1', file)).toThrow(expect.objectContaining({ code: 'THRESHOLDS_INVALID' }));
    expect(() => writeModelThresholds('net-a@1', e, tmpFile())).toThrow(expect.objectContaining({ code: 'THRESHOLDS_INVALID' }));
  });

  it('THRESHOLDS_MISSING when the file or the model is absent', () => {
    const file = tmpFile();
    expect(() => thresholdsFor('net-a@1', file)).toThrow(expect.objectContaining({ code: 'THRESHOLDS_MISSING' }));
    writeModelThresholds('net-a@1', entry(), file);
    expect(() => thresholdsFor('net-c@1', file)).toThrow(expect.objectContaining({ code: 'THRESHOLDS_MISSING' }));
  });

  const broken: Array<[string, (e: Record<string, unknown>) => void]> = [
    ['match outside [-1, 1]', (e) => (e.match = 1.5)],
    ['certain below probable', (e) => ((e.grades as ModelThresholds['grades']).certain.minScore = 0.55)],
    ['probable not the match threshold', (e) => ((e.grades as ModelThresholds['grades']).probable.minScore = 0.61)],
    ['a threshold rising with the rate', (e) => (e.thresholdsAtFmr = { '0.01': 0.7, '0.001': 0.6 })],
    ['a rate of 0', (e) => (e.fmr = 0)],
    ['no provenance', (e) => delete e.calibration],
    ['no sets', (e) => ((e.calibration as ModelThresholds['calibration']).sets = [])],
    ['a fractional pair count', (e) => ((e.calibration as ModelThresholds['calibration']).impostorPairs = 1.5)],
    ['a bad date', (e) => ((e.calibration as ModelThresholds['calibration']).date = 'yesterday')],
  ];
  it.each(broken)('THRESHOLDS_INVALID for %s', (_what, mutate) => {
    const file = tmpFile();
    const e = entry() as unknown as Record<string, unknown>;
    mutate(e);
    writeFileSync(file, JSON.stringify({ version: 1, models: { 'net-a@1': e } }));
    expect(() => thresholdsFor('net-a@1', file)).toThrow(expect.objectContaining({ code: 'THRESHOLDS_INVALID' }));
    // and an invalid entry is never written
    expect(() => writeModelThresholds('net-a@1', e as unknown as ModelThresholds, tmpFile())).toThrow(expect.objectContaining({ code: 'THRESHOLDS_INVALID' }));
  });

  it.each([
    ['not JSON', '{'],
    ['an array', '[]'],
    ['a wrong version', JSON.stringify({ version: 2, models: {} })],
    ['models not an object', JSON.stringify({ version: 1, models: [] })],
  ])('THRESHOLDS_INVALID for a file that is %s', (_what, text) => {
    const file = tmpFile();
    writeFileSync(file, text);
    expect(() => readThresholdsFile(file)).toThrow(expect.objectContaining({ code: 'THRESHOLDS_INVALID' }));
  });

  it('writes readable, stable JSON', () => {
    const file = tmpFile();
    writeModelThresholds('net-a@1', entry(), file);
    const text = readFileSync(file, 'utf8');
    expect(text.endsWith('\n')).toBe(true);
    expect(JSON.parse(text)).toEqual({ version: 1, models: { 'net-a@1': entry() } });
  });
});
