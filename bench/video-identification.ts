/**
 * Identification from a real liveness sequence (issue 14, item 4): the single match frame against the fused probe
 * the product searches with, on the real people of ../shared/eval/video-real and ../shared/eval/video, in a gallery
 * with thousands of distractors.
 *
 *   npx tsx bench/video-identification.ts --cache DIR [--embedder ID] [--distractors SETDIR,SETDIR] [--workers 2] [--out scratch/video-identification.json]
 *
 * Searches: every annotated liveness trial of a clip (bench/liveness-trials.ts: cut as the kiosk page films it,
 * ≤ 640 px JPEG every 200 ms, judged by the server's own check for the annotated actions) that the check accepts.
 * Its probe is either the match frame's embedding alone (src/liveness picks it) or the fused probe of the
 * sequence's best PROBE_VIEWS views (identity/fusion.ts), exactly as services/biometrics/liveness.ts makes it.
 * Enrolment: nobody has a second clip, so each person is enrolled with one frame of their own clip from outside the
 * searched trial (at least ENROL_GAP_S before or after it, inside the clip's shots of the person): the most frontal
 * kiosk frame there, as a receptionist would take the best photo. The other clips' people are enrolled with their
 * clip's most frontal frame. Distractors: the first image of every identity of the sets given (default lfw-dev
 * and lfw-train), their embeddings read from the cache `medface evaluate --out DIR` wrote (nothing re-embedded).
 * Outcomes at the shipped 1:N thresholds (config/thresholds.json, `identification`) for the gallery's size.
 *
 * Few annotated trials pass the check (a blink alone is refused for want of 3-D evidence by design, and most clips
 * hold few whole moves), so every clip is also cut into consecutive windows of WINDOW_S filmed as the page films
 * (`windows`): the same views taken as the check takes them from a verified sequence, approximated outside it
 * (src/liveness/sequence.ts keeps its choice private): the single probe is the most frontal frame whose head is
 * level with the first frame's and whose eyes are open (the check's match-frame rule), the fused probe that frame
 * and the next most frontal such frames, larger face first on ties (its rankViews), PROBE_VIEWS of them fused.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { cpus, loadavg } from 'node:os';
import path from 'node:path';
import { EmbeddingCache } from '../src/evaluation/cache.js';
import { readDataset } from '../src/evaluation/dataset.js';
import { DEFAULT_EMBEDDER_ID } from '../src/face/embedders/index.js';
import { FacePool, type Embedding } from '../src/face/index.js';
import { fuseViews, PROBE_VIEWS } from '../src/identity/fusion.js';
import { identificationThresholds } from '../src/identity/identification.js';
import { cosine, decide } from '../src/identity/match.js';
import { thresholdsFor } from '../src/identity/thresholds.js';
import type { FrameObserver } from '../src/liveness/assess.js';
import { ACTIVE_LIVENESS, frameStates, signalsOf, type FrameSignals } from '../src/liveness/sequence.js';
import { decodeClip, KIOSK_FRAME_INTERVAL_MS, kioskFrame, type Clip } from './clip-frames.js';
import { assess, cut, readAnnotations, remembering, trialsOf, type Annotation } from './liveness-trials.js';
import { arg } from './options.js';

/** The enrolment frame lies at least this far (s) from the searched trial's frames. */
const ENROL_GAP_S = 0.5;
/** A filmed window's length (s): 12 frames at the page's 5 fps, about what one challenge of one or two moves takes. */
const WINDOW_S = 2.4;

const model = arg('embedder', DEFAULT_EMBEDDER_ID);
const cacheRoot = arg('cache', '');
if (!cacheRoot) throw new Error('usage: npx tsx bench/video-identification.ts --cache DIR [--embedder ID] [--distractors SETDIR,SETDIR]');
const distractorSets = arg('distractors', '../shared/eval/lfw-dev,../shared/eval/lfw-train').split(',').filter(Boolean);

/** The first image's embedding of every identity of the distractor sets (failures to acquire left out). */
function distractorGallery(): Map<string, Float32Array> {
  const cache = new EmbeddingCache(cacheRoot, model);
  const gallery = new Map<string, Float32Array>();
  for (const dir of distractorSets) {
    const set = readDataset(dir);
    const seen = new Set<string>();
    for (const e of set.entries) {
      if (seen.has(e.identity)) continue;
      seen.add(e.identity);
      const hit = cache.get(EmbeddingCache.key(readFileSync(path.resolve(set.dir, e.path))));
      if (!hit) throw new Error(`${set.name}/${e.path} is not in the ${model} cache under ${cacheRoot}: run medface evaluate --out ${cacheRoot} first`);
      if ('embedding' in hit) gallery.set(`${set.name}/${e.identity}`, hit.embedding.vector);
    }
  }
  return gallery;
}

/** The times (s) the kiosk could film inside the clip's shots of the person, every frame interval. */
function shotTimes(annotation: Annotation, clip: Clip): number[] {
  const shots = annotation.shots ?? [[0, clip.duration]];
  return shots.flatMap(([from, to]) =>
    Array.from({ length: Math.floor((Math.min(to, clip.duration) - from) / (KIOSK_FRAME_INTERVAL_MS / 1000)) + 1 }, (_, i) => from + (i * KIOSK_FRAME_INTERVAL_MS) / 1000),
  );
}

/** The most frontal face among the kiosk frames at `times`, embedded: the enrolment photo. */
async function enrolFrom(faces: FrameObserver, clip: Clip, times: readonly number[]): Promise<{ at: number; embedding: Embedding } | null> {
  let best: { at: number; image: Uint8Array; frontality: number } | null = null;
  for (const at of times) {
    const image = await kioskFrame(clip, at);
    if (!image) continue;
    const signals = signalsOf(await faces.observe(image, false));
    if (!signals) continue;
    const frontality = Math.abs(signals.yaw) + Math.abs(signals.pitch);
    if (!best || frontality < best.frontality) best = { at, image, frontality };
  }
  if (!best) return null;
  const embedding = (await faces.observe(best.image, true)).subject?.embedding;
  return embedding ? { at: best.at, embedding } : null;
}

/**
 * A window's views, best first, as the check ranks a verified sequence's (see the header): the frames whose head
 * is level with the first frame's (frameStates 'neutral') and whose eyes are open (at least blinkRatio of their
 * median openness), most frontal first, larger face first on ties; each embedded.
 */
async function windowViews(faces: FrameObserver, clip: Clip, times: readonly number[]): Promise<Embedding[]> {
  const frames: Array<{ signals: FrameSignals | null; embedding?: Embedding }> = [];
  for (const at of times) {
    const image = await kioskFrame(clip, at);
    const seen = image ? await faces.observe(image, true) : null;
    frames.push({ signals: seen ? signalsOf(seen) : null, embedding: seen?.subject?.embedding });
  }
  const states = frameStates(frames.map((f) => f.signals));
  const level = frames.flatMap((f, i) => (states[i] === 'neutral' && f.embedding ? [f] : []));
  const ears = level.map((f) => f.signals!.ear).sort((x, y) => x - y);
  const usual = ears[ears.length >> 1] ?? 0;
  const frontality = (s: FrameSignals): number => Math.abs(s.yaw) + Math.abs(s.pitch);
  return level
    .filter((f) => f.signals!.ear >= ACTIVE_LIVENESS.blinkRatio * usual)
    .sort((x, y) => frontality(x.signals!) - frontality(y.signals!) || y.signals!.interEye - x.signals!.interEye)
    .map((f) => f.embedding!);
}

interface Search {
  person: string;
  clip: string;
  actions: string[];
  from: number;
  to: number;
  enrolledAt: number | null;
  accepted: boolean;
  reasons: string[];
  probeViews: number;
  single?: Outcome;
  fused?: Outcome;
}

interface Outcome {
  genuine: number;
  rank: number;
  topImpostor: number;
  /** Who that is: a public figure of the clips may be in LFW too (the sets carry no cross-set identity labels). */
  topImpostorIdentity: string;
  grade: string;
  /** The mate is the best candidate and at or above the 1:N `match` (probable) threshold. */
  identified: boolean;
  /** Gallery identities other than the mate at or above the threshold. */
  wrongAbove: number;
}

async function main(): Promise<void> {
  const started = Date.now();
  const distractors = distractorGallery();
  const pool = await FacePool.create({ size: Number(arg('workers', '2')), embedderId: model });
  const faces = remembering(pool);
  const annotations = readAnnotations();
  const clips = new Map(annotations.map((a) => [a.person, decodeClip(path.resolve(a.path))]));
  // each person's clip-wide enrolment, for when they are someone else's distractor
  const wholeClip = new Map<string, Embedding>();
  for (const a of annotations) {
    const enrolled = await enrolFrom(faces, clips.get(a.person)!, shotTimes(a, clips.get(a.person)!));
    if (enrolled) wholeClip.set(a.person, enrolled.embedding);
  }
  const galleryN = distractors.size + annotations.length;
  const thresholds = identificationThresholds(model, thresholdsFor(model), galleryN);

  const outcome = (probe: Embedding, person: string, own: Embedding): Outcome => {
    const genuine = cosine(probe.vector, own.vector);
    const others = [...[...wholeClip].filter(([p]) => p !== person).map(([p, e]) => [p, e.vector] as const), ...distractors];
    const impostors = others.map(([, v]) => cosine(probe.vector, v));
    const top = impostors.indexOf(Math.max(...impostors));
    const rank = 1 + impostors.filter((s) => s > genuine).length;
    return {
      genuine,
      rank,
      topImpostor: impostors[top]!,
      topImpostorIdentity: others[top]![0],
      grade: decide(genuine, thresholds).grade,
      identified: rank === 1 && genuine >= thresholds.match,
      wrongAbove: impostors.filter((s) => s >= thresholds.match).length,
    };
  };

  const searches: Search[] = [];
  for (const a of annotations) {
    const clip = clips.get(a.person)!;
    for (const trial of trialsOf(a)) {
      const actions = trial.run.map((r) => r.action);
      const frames = await cut(clip, trial, 0);
      const assessed = await assess(faces, actions, frames);
      const enrolled = await enrolFrom(
        faces,
        clip,
        shotTimes(a, clip).filter((t) => t < trial.from - ENROL_GAP_S || t > trial.to + ENROL_GAP_S),
      );
      const row: Search = {
        person: a.person,
        clip: a.file,
        actions,
        from: trial.from,
        to: trial.to,
        enrolledAt: enrolled?.at ?? null,
        accepted: assessed.passed,
        reasons: assessed.reasons,
        probeViews: Math.min(PROBE_VIEWS, assessed.views.length),
      };
      if (assessed.passed && assessed.embedding && enrolled) {
        row.single = outcome(assessed.embedding, a.person, enrolled.embedding);
        row.fused = outcome(fuseViews(assessed.views, PROBE_VIEWS), a.person, enrolled.embedding);
      }
      searches.push(row);
      const show = (o?: Outcome) => (o ? `${o.genuine.toFixed(3)} rank ${o.rank}${o.identified ? ' identified' : ''}` : '-');
      console.error(
        `${a.person} ${actions.join(',')} ${trial.from.toFixed(1)}-${trial.to.toFixed(1)}s enrolled at ${enrolled?.at.toFixed(1) ?? 'none'}: ${assessed.passed ? `single ${show(row.single)}, fused(${row.probeViews}) ${show(row.fused)}` : `refused ${assessed.reasons.join('+')}`}`,
      );
    }
  }
  // every clip cut into windows, filmed as the page films, each searched with its own frames
  const windows: Search[] = [];
  for (const a of annotations) {
    const clip = clips.get(a.person)!;
    for (const [from, to] of a.shots ?? [[0, clip.duration]]) {
      for (let start = from; start < Math.min(to, clip.duration); start += WINDOW_S) {
        const end = Math.min(start + WINDOW_S, to, clip.duration);
        const times = shotTimes(a, clip).filter((t) => t >= start - 1e-9 && t < end - 1e-9);
        if (times.length < ACTIVE_LIVENESS.minFrames) continue;
        const views = await windowViews(faces, clip, times);
        const enrolled = await enrolFrom(
          faces,
          clip,
          shotTimes(a, clip).filter((t) => t < start - ENROL_GAP_S || t > end + ENROL_GAP_S),
        );
        const row: Search = {
          person: a.person,
          clip: a.file,
          actions: [],
          from: start,
          to: end,
          enrolledAt: enrolled?.at ?? null,
          accepted: views.length > 0,
          reasons: [],
          probeViews: Math.min(PROBE_VIEWS, views.length),
        };
        if (views.length > 0 && enrolled) {
          row.single = outcome(views[0]!, a.person, enrolled.embedding);
          row.fused = outcome(fuseViews(views, PROBE_VIEWS), a.person, enrolled.embedding);
        }
        windows.push(row);
        const show = (o?: Outcome) => (o ? `${o.genuine.toFixed(3)} rank ${o.rank}${o.identified ? ' identified' : ''}` : '-');
        console.error(
          `window ${a.person} ${start.toFixed(1)}-${end.toFixed(1)}s enrolled at ${enrolled?.at.toFixed(1) ?? 'none'}: single ${show(row.single)}, fused(${row.probeViews}) ${show(row.fused)}`,
        );
      }
    }
  }
  await pool.close();

  const searched = searches.filter((s) => s.single && s.fused);
  const median = (xs: number[]) => {
    const s = [...xs].sort((x, y) => x - y);
    return s.length ? (s[(s.length - 1) >> 1]! + s[s.length >> 1]!) / 2 : NaN;
  };
  const summary = (rows: Search[], which: 'single' | 'fused') => {
    const o = rows.map((r) => r[which]!);
    return {
      searches: o.length,
      genuineMedian: +median(o.map((x) => x.genuine)).toFixed(4),
      genuineMin: +Math.min(...o.map((x) => x.genuine)).toFixed(4),
      rank1: o.filter((x) => x.rank === 1).length,
      identified: o.filter((x) => x.identified).length,
      withWrongAbove: o.filter((x) => x.wrongAbove > 0).length,
      topImpostorMax: +Math.max(...o.map((x) => x.topImpostor)).toFixed(4),
    };
  };
  const perPerson = (all: Search[]) =>
    annotations.map((a) => {
      const trials = all.filter((s) => s.person === a.person);
      const rows = trials.filter((s) => s.single && s.fused);
      return {
        person: a.person,
        clip: a.file,
        trials: trials.length,
        accepted: trials.filter((t) => t.accepted).length,
        single: rows.length ? summary(rows, 'single') : null,
        fused: rows.length ? summary(rows, 'fused') : null,
      };
    });
  const windowed = windows.filter((s) => s.single && s.fused);
  const result = {
    command: `npx tsx bench/video-identification.ts ${process.argv.slice(2).join(' ')}`.trim(),
    machine: `${cpus().length}x ${cpus()[0]?.model ?? '?'}, load average at end ${loadavg()[0]!.toFixed(1)} (shared)`,
    seconds: Math.round((Date.now() - started) / 1000),
    model,
    gallery: { identities: galleryN, distractors: distractors.size, distractorSets },
    thresholds: { match: thresholds.match, certain: thresholds.grades.certain.minScore, possible: thresholds.grades.possible.minScore, fpir: thresholds.fpir },
    trials: { single: summary(searched, 'single'), fused: summary(searched, 'fused'), people: perPerson(searches) },
    windows: { seconds: WINDOW_S, single: summary(windowed, 'single'), fused: summary(windowed, 'fused'), people: perPerson(windows) },
    searches,
    windowSearches: windows,
  };
  writeFileSync(arg('out', 'scratch/video-identification.json'), JSON.stringify(result, null, 2));
  const { searches: _s, windowSearches: _w, ...printed } = result;
  console.log(JSON.stringify(printed, null, 2));
}

await main();
