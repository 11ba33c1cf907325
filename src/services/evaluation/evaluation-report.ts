import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import path from 'node:path';
import type { AccessContext } from '../../access/context.js';
import { guard, recordRead, type Caller } from '../../access/guard.js';
import { MedfaceError } from '../../errors.js';
import { identificationThresholds, type IdentificationCutoffAtSize } from '../../identity/identification.js';
import { readThresholdsFile, type ModelThresholds } from '../../identity/thresholds.js';
import type { Medface } from '../context.js';

/**
 * What administrators see of recognition accuracy (`thresholds.read`): the calibrated thresholds and grade
 * cut-offs with their provenance, from config/thresholds.json — verification (1:1) and, apart from it,
 * identification (1:N) sized to the gallery as it is now and as it would be at larger sizes — and the curves of the newest evaluation
 * report that `medface evaluate --out DIR` wrote (DIR/report.html, one folder per data set under the
 * reports directory). The report's ROC and DET figures are served as the SVG the report holds: drawn once,
 * by evaluation/report.ts, not a second time in the browser.
 */

export const REPORT_FIGURES = ['roc', 'det', 'scores'] as const;
export type ReportFigure = (typeof REPORT_FIGURES)[number];

export interface EvaluationSummary {
  /** The report's folder under the reports directory (the data set it was run on). */
  set: string;
  title: string;
  /** When the report was written (the file's time). */
  writtenAt: string;
  /** The report's summary table, label and value. */
  summary: [string, string][];
  /** The command, date and machine the report names. */
  provenance: string;
  figures: { id: ReportFigure; caption: string }[];
}

/** Gallery sizes the 1:N operating threshold is shown at besides the current one: how it would rise. */
export const PROJECTED_GALLERY_SIZES = [1_000, 10_000, 100_000, 1_000_000] as const;

/** A model's 1:N decisions for administrators: the calibrated rates, the cut-offs at the gallery's size and beyond. */
export interface IdentificationStatus {
  /** Operating false-positive identification rate per search. */
  fpir: number;
  /** Patients now enrolled: the size the cut-offs below are for. */
  galleryPatients: number;
  match: number;
  grades: { certain: IdentificationCutoffAtSize; probable: IdentificationCutoffAtSize; possible: IdentificationCutoffAtSize };
  /** The operating threshold at larger galleries. */
  projected: { galleryPatients: number; match: number; extrapolated: boolean }[];
  /** Impostor pairs the tail was measured on, and the lowest rate measured (below it, the fitted tail). */
  impostorPairs: number;
  lowestMeasuredFmr: number;
}

export interface ThresholdsStatus {
  models: ({ model: string; identification: IdentificationStatus | null } & Omit<ModelThresholds, 'identification'>)[];
  evaluation: EvaluationSummary | null;
}

export async function thresholdsStatus(medface: Medface, access: AccessContext, caller: Caller, reportsDir: string): Promise<ThresholdsStatus> {
  await guard(access, caller, 'thresholds.read');
  const file = readThresholdsFile(medface.templates.thresholdsFile);
  const models = Object.entries(file.models).map(([model, t]) => ({ model, ...t, identification: identificationStatus(model, t, medface.templates.gallery.patients) }));
  const newest = newestReport(reportsDir);
  await recordRead(access, caller, 'thresholds.read', { models: models.length });
  return { models, evaluation: newest && summarise(newest.set, newest.file) };
}

function identificationStatus(model: string, t: ModelThresholds, galleryPatients: number): IdentificationStatus | null {
  if (!t.identification) return null;
  const now = identificationThresholds(model, t, galleryPatients);
  const projected = PROJECTED_GALLERY_SIZES.map((n) => {
    const at = identificationThresholds(model, t, n);
    return { galleryPatients: n, match: at.match, extrapolated: at.grades.probable.extrapolated };
  });
  const tail = t.identification.impostorTail;
  return {
    fpir: now.fpir,
    galleryPatients: now.galleryPatients,
    match: now.match,
    grades: now.grades,
    projected,
    impostorPairs: tail.pairs,
    lowestMeasuredFmr: Math.min(...Object.keys(tail.scoresAtFmr).map(Number)),
  };
}

/** One figure of the newest report as an SVG document; NOT_FOUND when there is no report or no such figure. */
export async function evaluationFigure(access: AccessContext, caller: Caller, reportsDir: string, figure: ReportFigure): Promise<string> {
  await guard(access, caller, 'thresholds.read');
  const newest = newestReport(reportsDir);
  const svg = newest && figuresOf(readFileSync(newest.file, 'utf8')).find((f) => f.id === figure)?.svg;
  if (!svg) throw new MedfaceError('NOT_FOUND', 'no evaluation report with that figure', { figure });
  return svg;
}

function newestReport(reportsDir: string): { set: string; file: string; mtimeMs: number } | null {
  if (!existsSync(reportsDir)) return null;
  let newest: { set: string; file: string; mtimeMs: number } | null = null;
  for (const entry of readdirSync(reportsDir, { withFileTypes: true })) {
    if (!entry.isDirectory()) continue;
    const file = path.join(reportsDir, entry.name, 'report.html');
    if (!existsSync(file)) continue;
    const { mtimeMs } = statSync(file);
    if (!newest || mtimeMs > newest.mtimeMs) newest = { set: entry.name, file, mtimeMs };
  }
  return newest;
}

/** The report's figures in order: ROC, DET, score distributions (see evaluation/report.ts). */
function figuresOf(html: string): { id: ReportFigure; caption: string; svg: string }[] {
  const figures = [...html.matchAll(/<figure><figcaption>([^<]*)<\/figcaption>(<svg[\s\S]*?<\/svg>)<\/figure>/g)];
  return figures.slice(0, REPORT_FIGURES.length).map((m, i) => ({ id: REPORT_FIGURES[i] as ReportFigure, caption: unescape(m[1] ?? ''), svg: m[2] ?? '' }));
}

function summarise(set: string, file: string): EvaluationSummary {
  const html = readFileSync(file, 'utf8');
  const title = unescape(/<h1>([^<]*)<\/h1>/.exec(html)?.[1] ?? set);
  const table = /<table>([\s\S]*?)<\/table>/.exec(html)?.[1] ?? '';
  const summary = [...table.matchAll(/<tr><th>([^<]*)<\/th><td>([^<]*)<\/td><\/tr>/g)].map((m): [string, string] => [unescape(m[1] ?? ''), unescape(m[2] ?? '')]);
  const provenance = unescape(/<footer>([\s\S]*?)<\/footer>/.exec(html)?.[1] ?? '');
  return {
    set,
    title,
    writtenAt: new Date(statSync(file).mtimeMs).toISOString(),
    summary,
    provenance,
    figures: figuresOf(html).map(({ id, caption }) => ({ id, caption })),
  };
}

function unescape(text: string): string {
  return text
    .replace(/&lt;/g, '<')
    .replace(/&gt;/g, '>')
    .replace(/&quot;/g, '"')
    .replace(/&#39;/g, "'")
    .replace(/&amp;/g, '&');
}
