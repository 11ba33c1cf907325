/**
 * The pixel flatness test (src/liveness/planarity.ts) on its own, on sources kept apart from
 * bench/liveness-active.ts's: how much of the face the best homography and the best curled sheet leave unexplained
 * for prints tipped until the detector reads a turn or a look-up (with and without simulated camera effects), for
 * prints held curled and turned or tipped back, and for heads rendered turned or looking up (GENUINE PROXIES).
 * This is the probe the test's constants were chosen on.
 *
 *   npx tsx bench/liveness-planarity.ts [--identities 100] [--skip 200] [--workers 2] [--out scratch/liveness-planarity.json]
 *
 * Sources: the first image of lfw-dev identities from the (skip+1)-th on (bench/liveness-active.ts uses lfw-dev's
 * first ~140), with one face, ≥ 40 px between the eyes and a face box ≤ 0.7 of the width.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { cpus, loadavg } from 'node:os';
import path from 'node:path';
import sharp from 'sharp';
import { readDataset } from '../src/evaluation/dataset.js';
import { curledPrint, encodeFrame, NEUTRAL, photoMotion, renderPose, warpImage, type SourceFace } from '../test/liveness/pad-sequences.js';
import { decodeImage, FacePool, meshTriangulation, type RgbImage } from '../src/face/index.js';
import { frameSignals } from '../src/liveness/assess.js';
import { sheetResiduals, type SheetResiduals } from '../src/liveness/planarity.js';
import { ACTIVE_LIVENESS, explainedBySheet, frameStates, signalsOf, type FrameSignals } from '../src/liveness/sequence.js';
import type { LivenessAction } from '../src/liveness/types.js';
import { stats } from './stats.js';
import { arg, seeded } from './options.js';

/**
 * A print as a webcam sees it: a light gradient across it (gain 0.75–0.95 on one side, 1.05–1.25 on the other),
 * sensor noise (±15 grey levels at most) and a 1.2 px blur.
 */
async function recaptured(image: RgbImage, random: () => number): Promise<RgbImage> {
  const { width, height } = image;
  const out = new Uint8Array(image.data.length);
  const left = 0.75 + 0.2 * random(),
    right = 1.05 + 0.2 * random();
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      for (let c = 0; c < 3; c++) {
        const i = (y * width + x) * 3 + c;
        const noise = 10 * (random() + random() + random() - 1.5);
        out[i] = Math.max(0, Math.min(255, image.data[i]! * (left + ((right - left) * x) / width) + noise));
      }
    }
  }
  const blurred = await sharp(out, { raw: { width, height, channels: 3 } })
    .blur(1.2)
    .raw()
    .toBuffer();
  return { data: new Uint8Array(blurred), width, height };
}

async function main(): Promise<void> {
  const identities = Number(arg('identities', '100'));
  const skip = Number(arg('skip', '200'));
  const pool = await FacePool.create({ size: Number(arg('workers', '2')) });
  const triangles = meshTriangulation();
  const random = seeded(12345);
  const started = Date.now();
  const dir = path.resolve('../shared/eval/lfw-dev');
  const firsts = new Map<string, string>();
  for (const e of readDataset(dir).entries) if (!firsts.has(e.identity)) firsts.set(e.identity, path.join(dir, e.path));

  const rows: Array<{ kind: string; identity: string; action: LivenessAction; read: boolean } & SheetResiduals> = [];
  let used = 0;
  for (const [identity, file] of [...firsts].slice(skip)) {
    if (used >= identities) break;
    const bytes = await sharp(readFileSync(file)).jpeg({ quality: 92 }).toBuffer();
    const seen = await pool.observe(bytes, false);
    if (!seen.subject || seen.faces !== 1 || signalsOf(seen)!.interEye < 40 || seen.subject.box.width > 0.7 * seen.image.width) continue;
    used++;
    const image = await decodeImage(bytes);
    const source: SourceFace = { image, mesh: seen.subject.mesh };
    const first = await frameSignals(pool, await encodeFrame(image), false);
    if (!first?.crop) continue;
    const measure = async (kind: string, frame: RgbImage, action: LivenessAction, from: FrameSignals = first): Promise<void> => {
      const b = await frameSignals(pool, await encodeFrame(frame), false);
      if (!b?.crop) return;
      rows.push({ kind, identity, action, read: frameStates([from, b])[1] === action, ...sheetResiduals(from.crop!, b.crop) });
    };
    for (const [action, sign] of [
      ['turn-left', 1],
      ['turn-right', -1],
      ['look-up', 0],
    ] as const) {
      for (const tilt of [0.6, 1.2, 1.6]) {
        const print = warpImage(
          image,
          photoMotion(image.width, image.height, {
            angle: 6 * random() - 3,
            scale: sign ? 0.92 : 1,
            dx: sign * 0.06 * image.width + 6 * random() - 3,
            dy: 6 * random() - 3,
            tiltX: sign * tilt,
            tiltY: sign ? 0 : tilt,
          }),
        );
        await measure('print', print, action);
        if (tilt >= 1.2) await measure('print recaptured', await recaptured(print, random), action);
      }
      for (const degrees of [18, 25, 40]) {
        const pose = sign ? { yaw: sign * degrees } : { pitch: -(degrees - 5) };
        await measure(`head ${sign ? `turned ${degrees}°` : `looking up ${degrees - 5}°`}`, renderPose(source, triangles, { ...NEUTRAL, ...pose, dx: 4 * random() - 2, dy: 4 * random() - 2 }), action);
      }
    }
    // A print held curled from the start (radius 0.35 or 0.6 of its width), turned or tipped back.
    for (const radius of [0.35, 0.6]) {
      const curled = { radius, yaw: 0, pitch: 0, scale: 1, dx: 0, dy: 0 };
      const front = await frameSignals(pool, await encodeFrame(curledPrint(image, curled)), false);
      if (!front?.crop) continue;
      for (const [action, yaw, pitch] of [
        ['turn-left', 1, 0],
        ['turn-right', -1, 0],
        ['look-up', 0, -1],
      ] as const) {
        for (const degrees of [35, 50, 65]) {
          const frame = curledPrint(image, { ...curled, yaw: yaw * degrees + 4 * random() - 2, pitch: pitch * degrees + 4 * random() - 2, dx: 4 * random() - 2, dy: 4 * random() - 2 });
          await measure(`print curled, ${action === 'look-up' ? 'tipped' : 'turned'} ${degrees}°`, frame, action, front);
        }
      }
    }
    console.error(`${used}/${identities} ${identity}`);
  }
  await pool.close();

  // Only frames the detector reads as the action count: the flatness test is applied at the height of an action.
  const read = rows.filter((r) => r.read);
  const kinds = [...new Set(read.map((r) => r.kind))].sort();
  const summary = {
    command: `npx tsx bench/liveness-planarity.ts ${process.argv.slice(2).join(' ')}`.trim(),
    machine: `${cpus().length}x ${cpus()[0]?.model ?? '?'}, load average at end ${loadavg()[0]!.toFixed(1)} (shared)`,
    seconds: Math.round((Date.now() - started) / 1000),
    sources: used,
    minPlaneResidual: ACTIVE_LIVENESS.minPlaneResidual,
    minCurledResidual: ACTIVE_LIVENESS.minCurledResidual,
    byKind: Object.fromEntries(
      kinds.map((kind) => {
        const of = read.filter((r) => r.kind === kind);
        return [
          kind,
          {
            frames: rows.filter((r) => r.kind === kind).length,
            readAsAction: of.length,
            belowMinPlaneResidual: of.filter((r) => r.plane < ACTIVE_LIVENESS.minPlaneResidual).length,
            belowMinCurledResidual: of.filter((r) => r.curled < ACTIVE_LIVENESS.minCurledResidual).length,
            calledFlat: of.filter(explainedBySheet).length,
            plane: stats(of.map((r) => r.plane)),
            curled: stats(of.map((r) => r.curled)),
          },
        ];
      }),
    ),
  };
  writeFileSync(arg('out', 'scratch/liveness-planarity.json'), JSON.stringify({ ...summary, rows }, null, 2));
  console.log(JSON.stringify(summary, null, 2));
}

await main();
