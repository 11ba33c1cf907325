import { api } from '../api.js';
import { h, table } from '../dom.js';

interface Cutoff {
  minScore: number;
  fmr: number;
}

interface ModelThresholds {
  model: string;
  match: number;
  fmr: number;
  thresholdsAtFmr: Record<string, number>;
  grades: { certain: Cutoff; probable: Cutoff; possible: Cutoff };
  calibration: { sets?: string[]; impostorPairs?: number; genuinePairs?: number; failuresToAcquire?: number; date?: string; command?: string; tarAtFmr?: Record<string, number> };
}

interface Evaluation {
  set: string;
  title: string;
  writtenAt: string;
  summary: [string, string][];
  provenance: string;
  figures: { id: string; caption: string }[];
}

const FIGURE_ALT: Record<string, string> = {
  roc: 'ROC curve: true accept rate against false accept rate on a logarithmic scale',
  det: 'DET curve: false non-match rate against false match rate on normal deviate scales',
  scores: 'Histograms of genuine and impostor similarity scores',
};

/**
 * Administrator: the calibrated operating threshold and grade cut-offs (config/thresholds.json, written by
 * `medface calibrate`) with their provenance, and the ROC and DET curves of the newest `medface evaluate` report.
 */
export async function renderAdminThresholds(main: HTMLElement): Promise<void> {
  const { models, evaluation } = await api<{ models: ModelThresholds[]; evaluation: Evaluation | null }>('GET', '/api/v1/admin/thresholds');
  const rate = (r: number) => `${(r * 100).toPrecision(2)}%`;
  const sections = models.map((m) => {
    const c = m.calibration;
    return h(
      'section',
      { class: 'card', 'aria-labelledby': `model-${m.model}` },
      h('h2', { id: `model-${m.model}` }, `Model ${m.model}`),
      table(
        ['Setting', 'Similarity', 'False match rate'],
        [
          ['Operating threshold (a match)', m.match.toFixed(4), rate(m.fmr)],
          ['Grade “certain” from', m.grades.certain.minScore.toFixed(4), rate(m.grades.certain.fmr)],
          ['Grade “probable” from', m.grades.probable.minScore.toFixed(4), rate(m.grades.probable.fmr)],
          ['Grade “possible” from', m.grades.possible.minScore.toFixed(4), rate(m.grades.possible.fmr)],
          ...Object.entries(m.thresholdsAtFmr).map(([fmr, t]) => [`Threshold at FMR ${fmr}`, t.toFixed(4), rate(Number(fmr))]),
        ],
        'Operating threshold and grade cut-offs',
      ),
      h(
        'dl',
        { class: 'notice', 'aria-label': 'Calibration provenance' },
        h('dt', {}, 'Calibrated'),
        h('dd', {}, c.date ? new Date(c.date).toLocaleString() : 'unknown'),
        h('dt', {}, 'Data sets'),
        h('dd', {}, (c.sets ?? []).join(', ') || 'unknown'),
        h('dt', {}, 'Pairs scored'),
        h('dd', {}, `${c.impostorPairs ?? 0} impostor, ${c.genuinePairs ?? 0} genuine; ${c.failuresToAcquire ?? 0} images without a usable face`),
        h('dt', {}, 'True accept rate at each threshold'),
        h('dd', {}, Object.entries(c.tarAtFmr ?? {}).map(([fmr, tar]) => `FMR ${fmr}: ${rate(tar)}`).join('; ') || 'not measured'),
        h('dt', {}, 'Command'),
        h('dd', {}, h('code', {}, c.command ?? '')),
      ),
    );
  });

  const report = h('section', { class: 'card', 'aria-labelledby': 'evaluation-title' });
  if (!evaluation) {
    report.append(h('h2', { id: 'evaluation-title' }, 'Last evaluation'), h('p', {}, 'No evaluation report yet: run `medface evaluate SETDIR --out reports/<set>`.'));
  } else {
    report.append(
      h('h2', { id: 'evaluation-title' }, `Last evaluation: ${evaluation.set}`),
      h('p', {}, `${evaluation.title}, written ${new Date(evaluation.writtenAt).toLocaleString()}.`),
      table(['Measure', 'Value'], evaluation.summary.map(([k, v]) => [k, v]), 'Summary'),
      h(
        'div',
        { class: 'figures' },
        ...evaluation.figures
          .filter((f) => f.id !== 'scores')
          .map((f) =>
            h(
              'figure',
              {},
              h('figcaption', {}, f.caption),
              h('img', { src: `/api/v1/admin/evaluation/figures/${f.id}`, alt: FIGURE_ALT[f.id] ?? f.caption, width: 460, height: 340 }),
            ),
          ),
      ),
      h('pre', {}, evaluation.provenance),
    );
  }
  main.append(h('h1', {}, 'Thresholds'), ...sections, report);
}
