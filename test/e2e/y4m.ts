import sharp from 'sharp';
import type { FacePool } from '../../src/face/index.js';
import type { LivenessAction } from '../../src/liveness/types.js';
import { STILL_FRAMES } from '../liveness/pad-sequences.js';
import { genuineImages } from '../services/liveness-sequences.js';

/**
 * A camera video of `photo`'s face doing `actions` (a GENUINE PROXY rendered from its 3-D mesh): looking at the
 * camera for 4 s (the page's preview, until the person starts the check), each pose of the actions for 0.2 s
 * (2.4 s for two actions: about one frame of the page's five a second each), then still for 10 s. The page films
 * about 6.4 s from when it starts: started within the first 4 s, it sees the whole sequence.
 */
export async function performingVideo(pool: FacePool, photo: Buffer, actions: readonly LivenessAction[]): Promise<Buffer> {
  const poses = await Promise.all(
    (await genuineImages(pool, photo, actions)).map((image) =>
      sharp(image.data, { raw: { width: image.width, height: image.height, channels: 3 } })
        .png()
        .toBuffer(),
    ),
  );
  const neutral = poses[0] as Buffer;
  // The rendering's own still frames (STILL_FRAMES at each end) are left to the video's neutral stretches.
  const moving = poses.slice(STILL_FRAMES, poses.length - STILL_FRAMES);
  return sequenceVideo([{ image: neutral, frames: 40 }, ...moving.map((image) => ({ image, frames: 2 })), { image: neutral, frames: 100 }], 480, 360);
}

/**
 * A YUV4MPEG2 video (I420, the format Chromium's fake camera reads) of one still image letterboxed on grey:
 * a camera that sees the same face in every frame (or a photo held up to it).
 */
export async function stillVideo(image: Buffer, width = 640, height = 480, frames = 5): Promise<Buffer> {
  return sequenceVideo([{ image, frames }], width, height);
}

/**
 * A video of stills, each shown for its number of frames at `fps`: a face moving (a rendered head turn, one
 * pose per still). Chromium plays it from the start when the camera opens, and loops it.
 */
export async function sequenceVideo(stills: readonly { image: Buffer; frames: number }[], width = 640, height = 480, fps = 10): Promise<Buffer> {
  const encoded = await Promise.all(stills.map(async ({ image, frames }) => ({ frame: await yuvFrame(image, width, height), frames })));
  return Buffer.concat([Buffer.from(`YUV4MPEG2 W${width} H${height} F${fps}:1 Ip A1:1 C420jpeg\n`), ...encoded.flatMap(({ frame, frames }) => Array.from({ length: frames }, () => frame))]);
}

/** One I420 frame of an image letterboxed on grey. */
async function yuvFrame(image: Buffer, width: number, height: number): Promise<Buffer> {
  const { data } = await sharp(image)
    .resize({ width, height, fit: 'contain', background: { r: 128, g: 128, b: 128 } })
    .removeAlpha()
    .raw()
    .toBuffer({ resolveWithObject: true });
  const y = Buffer.alloc(width * height);
  const u = Buffer.alloc((width / 2) * (height / 2));
  const v = Buffer.alloc((width / 2) * (height / 2));
  const rgb = (x: number, row: number) => {
    const i = (row * width + x) * 3;
    return [data[i] as number, data[i + 1] as number, data[i + 2] as number] as const;
  };
  for (let row = 0; row < height; row++) {
    for (let x = 0; x < width; x++) {
      const [r, g, b] = rgb(x, row);
      y[row * width + x] = clamp(0.257 * r + 0.504 * g + 0.098 * b + 16);
    }
  }
  // chroma from the mean of each 2x2 block (BT.601, studio range)
  for (let row = 0; row < height; row += 2) {
    for (let x = 0; x < width; x += 2) {
      let r = 0;
      let g = 0;
      let b = 0;
      for (const [dx, dy] of [
        [0, 0],
        [1, 0],
        [0, 1],
        [1, 1],
      ] as const) {
        const p = rgb(x + dx, row + dy);
        r += p[0] / 4;
        g += p[1] / 4;
        b += p[2] / 4;
      }
      const i = (row / 2) * (width / 2) + x / 2;
      u[i] = clamp(-0.148 * r - 0.291 * g + 0.439 * b + 128);
      v[i] = clamp(0.439 * r - 0.368 * g - 0.071 * b + 128);
    }
  }
  return Buffer.concat([Buffer.from('FRAME\n'), y, u, v]);
}

function clamp(value: number): number {
  return Math.max(0, Math.min(255, Math.round(value)));
}
