/**
 * The source photos the genuine proxies are rendered from (bench/liveness-active.ts, bench/liveness-real.ts): the
 * first image of successive identities of ../shared/eval/{lfw-dev,faceapi-bbt,orl,yale}, taken in turn (never
 * copied anywhere), kept when the photo holds one face large enough and not filling the picture.
 */
import { readFileSync } from 'node:fs';
import path from 'node:path';
import sharp from 'sharp';
import { readDataset } from '../src/evaluation/dataset.js';
import type { SourceFace } from '../test/liveness/pad-sequences.js';
import { decodeImage, type FacePool } from '../src/face/index.js';
import { signalsOf } from '../src/liveness/sequence.js';

const SETS = ['lfw-dev', 'faceapi-bbt', 'orl', 'yale'].map((s) => path.resolve('../shared/eval', s));
/**
 * A source photo's face must be at least this large (eye centre to eye centre, native pixels): the enrolment
 * gate's minimum, as a kiosk camera captures a patient. Smaller faces render as blurred heads whose turns the
 * detector under-reads, which says something about the renderer, not about people.
 */
export const MIN_SOURCE_EYE_DISTANCE = 40;
/**
 * ...and leave room around it (face box at most this share of the photo's width), as a kiosk frame shows head
 * and shoulders: a face filling a tight crop is half lost when rendered turned, and the detector jumps.
 */
export const MAX_SOURCE_FACE_WIDTH = 0.7;

/** First image of successive identities, taking the sets in turn. */
function sourcePhotos(count: number): Array<{ set: string; identity: string; file: string }> {
  const perSet = SETS.map((dir) => {
    const firsts = new Map<string, string>();
    for (const e of readDataset(dir).entries) if (!firsts.has(e.identity)) firsts.set(e.identity, path.join(dir, e.path));
    return [...firsts].map(([identity, file]) => ({ set: path.basename(dir), identity, file }));
  });
  const out: Array<{ set: string; identity: string; file: string }> = [];
  for (let i = 0; out.length < count && perSet.some((s) => i < s.length); i++) {
    for (const s of perSet) if (i < s.length && out.length < count) out.push(s[i]!);
  }
  return out;
}

export interface ProxySources {
  sources: Array<{ name: string; face: SourceFace }>;
  noFace: number;
  tooSmall: number;
  tooTight: number;
}

/** The first `count` usable source faces, at their own resolution, and how many photos were passed over and why. */
export async function proxySources(pool: FacePool, count: number): Promise<ProxySources> {
  const sources: ProxySources['sources'] = [];
  let noFace = 0,
    tooSmall = 0,
    tooTight = 0;
  for (const photo of sourcePhotos(count * 4)) {
    if (sources.length >= count) break;
    const bytes = await sharp(readFileSync(photo.file)).jpeg({ quality: 92 }).toBuffer();
    const seen = await pool.observe(bytes, false);
    if (!seen.subject || seen.faces !== 1) {
      noFace++;
      continue;
    }
    if (signalsOf(seen)!.interEye < MIN_SOURCE_EYE_DISTANCE) {
      tooSmall++;
      continue;
    }
    if (seen.subject.box.width > MAX_SOURCE_FACE_WIDTH * seen.image.width) {
      tooTight++;
      continue;
    }
    sources.push({ name: `${photo.set}/${photo.identity}`, face: { image: await decodeImage(bytes), mesh: seen.subject.mesh } });
  }
  return { sources, noFace, tooSmall, tooTight };
}
