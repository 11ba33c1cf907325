import { estimateSimilarity, warpAffine, type Affine2x3 } from '../align.js';
import { landmarksOf } from '../detector.js';
import type { DetectedFace, Point, RgbImage } from '../types.js';

/** Side of the InsightFace/ArcFace face chip. */
export const ARCFACE_CHIP_SIZE = 112;

/**
 * Where InsightFace puts the five landmarks on its 112x112 chip (insightface `arcface_dst`): the eye on the
 * image's left, the other eye, the nose tip, the mouth corner on the image's left, the other corner. Every
 * data set of the InsightFace family (MS1M, the LFW `.bin` verification sets) was cropped to this template.
 */
const ARCFACE_TEMPLATE: readonly Point[] = [
  { x: 38.2946, y: 51.6963 },
  { x: 73.5318, y: 51.5014 },
  { x: 56.0252, y: 71.7366 },
  { x: 41.5493, y: 92.3655 },
  { x: 70.7299, y: 92.2041 },
];

/**
 * The similarity map from image pixels to a `size`x`size` chip with the ArcFace layout. `faceScale` < 1 zooms
 * out about the chip's centre, for networks trained on looser crops than InsightFace's.
 */
export function arcfaceChipTransform(face: DetectedFace, size = ARCFACE_CHIP_SIZE, faceScale = 1): Affine2x3 {
  const l = landmarksOf(face);
  const k = (size / ARCFACE_CHIP_SIZE) * faceScale;
  const offset = (size * (1 - faceScale)) / 2;
  const targets = ARCFACE_TEMPLATE.map((p) => ({ x: p.x * k + offset, y: p.y * k + offset }));
  // The subject's right eye and mouth corner are on the image's left.
  return estimateSimilarity([l.rightEye, l.leftEye, l.nose, l.mouthRight, l.mouthLeft], targets);
}

/** The aligned RGB chip (112x112 unless told) that InsightFace-style recognisers were trained on. */
export function arcfaceChip(image: RgbImage, face: DetectedFace, size = ARCFACE_CHIP_SIZE, faceScale = 1): RgbImage {
  return warpAffine(image, arcfaceChipTransform(face, size, faceScale), size, size);
}
