import type { ThresholdsStatus } from '../../../src/server/contract.js';
import { api } from '../api.js';
import { h, noticeList, table } from '../dom.js';

/** 1:N decisions of a model: null for a model calibrated before identification was. */
type Identification = NonNullable<ThresholdsStatus['models'][number]['identification']>;

const FIGURE_ALT: Record<string, string> = {
  roc: 'ROC curve: true accept rate against false accept rate on a logarithmic scale',
  det: 'DET curve: false non-match rate against false match rate on normal deviate scales',
  scores: 'Histograms of genuine and impostor similarity scores',
};

/**
 * Administrator: the calibrated operating threshold and grade cut-offs (config/thresholds.json, written by
 * `medface calibrate`) with their provenance — verification (1:1) and identification (1:N, sized to the
 * gallery's current number of patients) shown apart — and the ROC and DET curves of the newest
 * `medface evaluate` report.
 */
export async function renderAdminThresholds(main: HTMLElement): Promise<void> {
  const { models, evaluation } = await api<ThresholdsStatus>('GET', '/api/v1/admin/thresholds');
  const rate = (r: number) => `${(r * 100).toPrecision(2)}%`;
  const sections = models.map((m) => {
    const c = m.calibration;
    return h(
      'section',
      { class: 'card', 'aria-labelledby': `model-${m.model}` },
      h('h2', { id: `model-${m.model}` }, `Model ${m.model}`),
      h('h3', {}, 'Verification (1:1): one patient’s record'),
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
      identificationSection(m.identification, rate),
      noticeList('Calibration provenance', [
        ['Calibrated', c.date ? new Date(c.date).toLocaleString() : 'unknown'],
        ['Data sets', (c.sets ?? []).join(', ') || 'unknown'],
        ['Pairs scored', `${c.impostorPairs ?? 0} impostor, ${c.genuinePairs ?? 0} genuine; ${c.failuresToAcquire ?? 0} images without a usable face`],
        [
          'True accept rate at each threshold',
          Object.entries(c.tarAtFmr ?? {})
            .map(([fmr, tar]) => `FMR ${fmr}: ${rate(tar)}`)
            .join('; ') || 'not measured',
        ],
        ['Command', h('code', {}, c.command ?? '')],
      ]),
    );
  });

  const report = h('section', { class: 'card', 'aria-labelledby': 'evaluation-title' });
  if (!evaluation) {
    report.append(h('h2', { id: 'evaluation-title' }, 'Last evaluation'), h('p', {}, 'No evaluation report yet: run `medface evaluate SETDIR --out reports/<set>`.'));
  } else {
    report.append(
      h('h2', { id: 'evaluation-title' }, `Last evaluation: ${evaluation.set}`),
      h('p', {}, `${evaluation.title}, written ${new Date(evaluation.writtenAt).toLocaleString()}.`),
      table(
        ['Measure', 'Value'],
        evaluation.summary.map(([k, v]) => [k, v]),
        'Summary',
      ),
      h(
        'div',
        { class: 'figures' },
        ...evaluation.figures
          .filter((f) => f.id !== 'scores')
          .map((f) => h('figure', {}, h('figcaption', {}, f.caption), h('img', { src: `/api/v1/admin/evaluation/figures/${f.id}`, alt: FIGURE_ALT[f.id] ?? f.caption, width: 460, height: 340 }))),
      ),
      h('pre', {}, evaluation.provenance),
    );
  }
  main.append(h('h1', {}, 'Thresholds'), ...sections, report);
}

/**
 * The 1:N cut-offs at the gallery's current size, and the operating threshold at larger sizes: every
 * enrolled patient is one more chance for a stranger to be matched, so they rise as the gallery grows.
 */
function identificationSection(id: Identification | null, rate: (r: number) => string): HTMLElement {
  const heading = h('h3', {}, 'Identification (1:N): searching everyone enrolled');
  if (!id) return h('div', {}, heading, h('p', { class: 'notice' }, 'Not calibrated for identification: run `medface calibrate` again. Searches are refused until then.'));
  const similarity = (t: number) => (t > 1 ? `${t.toFixed(4)} (unreachable)` : t.toFixed(4));
  const estimated = (extrapolated: boolean) => (extrapolated ? ' (fitted tail)' : '');
  const row = (label: string, c: Identification['grades']['certain']) => [label, similarity(c.minScore), rate(c.fpir), `${c.fmr.toExponential(1)}${estimated(c.extrapolated)}`];
  return h(
    'div',
    {},
    heading,
    h(
      'p',
      {},
      `Sized to the gallery as it is now: ${id.galleryPatients.toLocaleString()} patients. False-positive identification rate (FPIR): the share of searches by someone not enrolled that return any candidate.`,
    ),
    table(
      ['Setting', 'Similarity', 'FPIR per search', 'False match rate per comparison'],
      [
        row('Operating threshold (a match)', id.grades.probable),
        row('Grade “certain” from', id.grades.certain),
        row('Grade “probable” from', id.grades.probable),
        row('Grade “possible” from', id.grades.possible),
      ],
      'Identification cut-offs at the current gallery size',
    ),
    table(
      ['Gallery size (patients)', `Operating threshold at FPIR ${rate(id.fpir)}`],
      id.projected.map((p) => [p.galleryPatients.toLocaleString(), `${similarity(p.match)}${estimated(p.extrapolated)}`]),
      'Operating identification threshold as the gallery grows',
    ),
    h(
      'p',
      {},
      `Measured on ${id.impostorPairs.toLocaleString()} impostor pairs down to a false match rate of ${id.lowestMeasuredFmr.toExponential(1)}; lower rates come from an exponential tail fitted to the highest impostor scores.`,
    ),
  );
}
