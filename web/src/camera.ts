import { h } from './dom.js';

/**
 * The camera preview with a face guide, and captures as JPEG data URLs. The server needs the whole frame
 * (it finds the face itself); the guide only helps the person place their face.
 */
export interface Camera {
  element: HTMLElement;
  capture(): Promise<string>;
  stop(): void;
}

export async function openCamera(label: string): Promise<Camera> {
  const stream = await navigator.mediaDevices.getUserMedia({ video: { width: { ideal: 1280 }, height: { ideal: 720 }, facingMode: 'user' }, audio: false });
  const video = h('video', { autoplay: true, muted: true, playsinline: true, 'aria-label': label });
  video.srcObject = stream;
  await video.play();
  const element = h('div', { class: 'camera' }, video, h('div', { class: 'face-guide', 'aria-hidden': 'true' }));
  return {
    element,
    capture: async () => frameToJpeg(video),
    stop: () => stream.getTracks().forEach((track) => track.stop()),
  };
}

function frameToJpeg(video: HTMLVideoElement): string {
  const canvas = h('canvas', { width: video.videoWidth, height: video.videoHeight });
  const context = canvas.getContext('2d');
  if (!context) throw new Error('no canvas');
  context.drawImage(video, 0, 0);
  return canvas.toDataURL('image/jpeg', 0.92);
}

/** Mean luma of a capture, 0–255: a dark frame is the one problem the page can tell without the face engine. */
export async function brightness(dataUrl: string): Promise<number> {
  const image = new Image();
  image.src = dataUrl;
  await image.decode();
  const canvas = h('canvas', { width: 64, height: 48 });
  const context = canvas.getContext('2d') as CanvasRenderingContext2D;
  context.drawImage(image, 0, 0, 64, 48);
  const { data } = context.getImageData(0, 0, 64, 48);
  let sum = 0;
  for (let i = 0; i < data.length; i += 4) sum += 0.299 * (data[i] ?? 0) + 0.587 * (data[i + 1] ?? 0) + 0.114 * (data[i + 2] ?? 0);
  return sum / (data.length / 4);
}

export const TOO_DARK = 50;

export function readFile(file: File): Promise<string> {
  return new Promise((resolve, reject) => {
    const reader = new FileReader();
    reader.onload = () => resolve(reader.result as string);
    reader.onerror = () => reject(reader.error ?? new Error('could not read the file'));
    reader.readAsDataURL(file);
  });
}
