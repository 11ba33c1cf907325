/**
 * Frames of a real video clip as the kiosk page captures them (web/src/liveness.ts): the camera's frame showing at
 * each capture time, scaled to at most 640 px wide and JPEG-encoded at quality 0.85, as the page's canvas sends it.
 * For the real-motion benchmark (bench/liveness-real.ts); the clips are read where they lie, never copied.
 */
import { execFileSync } from 'node:child_process';
import sharp from 'sharp';

/** The page's capture: canvas width at most this (px), JPEG quality (web/src/liveness.ts FRAME_WIDTH, toDataURL). */
export const KIOSK_FRAME_WIDTH = 640;
export const KIOSK_JPEG_QUALITY = 85;
/** The page films a frame every 200 ms, and every 100 ms while it asks for a blink (web/src/liveness.ts). */
export const KIOSK_FRAME_INTERVAL_MS = 200;
export const KIOSK_BLINK_FRAME_INTERVAL_MS = 100;

export interface Clip {
  width: number;
  height: number;
  fps: number;
  /** Decoded frames, RGB, in presentation order. */
  frames: Buffer[];
  duration: number;
}

/** Every frame of the clip decoded once (the clips are seconds long and at most 640 × 360). */
export function decodeClip(file: string): Clip {
  const probe = execFileSync('ffprobe', ['-v', 'error', '-select_streams', 'v:0', '-show_entries', 'stream=width,height,r_frame_rate', '-of', 'csv=p=0', file], { encoding: 'utf8' });
  const [width, height, rate] = probe.trim().split('\n')[0]!.split(',') as [string, string, string];
  const [num, den] = rate.split('/').map(Number) as [number, number];
  const w = Number(width),
    h = Number(height),
    fps = num / (den || 1);
  const raw = execFileSync('ffmpeg', ['-v', 'error', '-i', file, '-f', 'rawvideo', '-pix_fmt', 'rgb24', '-'], { maxBuffer: 1 << 30 });
  const size = w * h * 3;
  const frames = Array.from({ length: Math.floor(raw.length / size) }, (_, i) => raw.subarray(i * size, (i + 1) * size));
  return { width: w, height: h, fps, frames, duration: frames.length / fps };
}

/** The frame showing at `seconds` into the clip, as the kiosk page would send it; null past the clip's end. */
export async function kioskFrame(clip: Clip, seconds: number): Promise<Uint8Array | null> {
  const index = Math.floor(seconds * clip.fps + 1e-6);
  const raw = clip.frames[index];
  if (!raw || index < 0) return null;
  const scale = Math.min(1, KIOSK_FRAME_WIDTH / clip.width);
  const width = Math.round(clip.width * scale),
    height = Math.round(clip.height * scale);
  const jpeg = await sharp(raw, { raw: { width: clip.width, height: clip.height, channels: 3 } })
    .resize(width, height)
    .jpeg({ quality: KIOSK_JPEG_QUALITY })
    .toBuffer();
  return new Uint8Array(jpeg);
}
