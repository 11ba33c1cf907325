import { landmarksOf } from './detector.js';
import type { Box, DetectedFace, Point, Purpose, QualityReason, RgbImage } from './types.js';

/** What is measured of one face; image measures are taken on the face region the mesh outlines. */
export interface QualityMetrics {
  /** Distance between the eye centres (landmarksOf), px: the size measure of ISO/IEC 39794-5 and ICAO 9303. */
  interEyeDistance: number;
  /** Smaller side of the detector's box, px. */
  faceSize: number;
  /** Head pose, degrees. */
  yaw: number;
  pitch: number;
  roll: number;
  /**
   * Standard deviation of the Laplacian over the standard deviation of luma, on the face resampled to a fixed
   * size: dimensionless, so neither the face's size in pixels nor the exposure changes it — only detail does.
   */
  sharpness: number;
  /** Mean luma (BT.601), 0..255. */
  brightness: number;
  /**
   * RMS contrast: standard deviation of luma over its mean. Relative, so that a darker skin tone or a dimmer
   * light (a gain on all values) does not read as low contrast; a washed-out, hazy face does.
   */
  contrast: number;
  /** Fraction of the face (its mesh's bounding box) inside the image, 0..1. */
  inFrame: number;
  /** Detector confidence, 0..1. */
  detectionScore: number;
}

export interface QualityReport {
  passed: boolean;
  reasons: QualityReason[];
  metrics: QualityMetrics;
}

/** The bar a face must clear for one purpose. */
export interface QualityGate {
  minInterEyeDistance: number;
  maxYaw: number;
  maxPitch: number;
  maxRoll: number;
  minSharpness: number;
  minBrightness: number;
  maxBrightness: number;
  minContrast: number;
  minInFrame: number;
  minDetectionScore: number;
  /**
   * Another face at least this fraction of the subject's size makes it unclear who the subject is
   * (MULTIPLE_FACES); smaller faces are people in the background. Infinity: any number of faces is fine.
   */
  competingFaceRatio: number;
}

/** A probe's gate, shared by verification and identification (see QUALITY_GATES). */
const VERIFY_GATE: QualityGate = {
  minInterEyeDistance: 24,
  maxYaw: 35,
  maxPitch: 30,
  maxRoll: 35,
  minSharpness: 0.18,
  minBrightness: 40,
  maxBrightness: 225,
  minContrast: 0.12,
  // The recogniser needs eyes, nose and mouth; a sliver of chin or forehead cut off does not hide them.
  minInFrame: 0.9,
  minDetectionScore: 0.5,
  // People queueing behind a patient at a desk or kiosk appear smaller; only a face about as close is a rival.
  competingFaceRatio: 0.8,
};

/**
 * The gates, one row per purpose. References: ISO/IEC 29794-5 (face image quality measures), ICAO 9303 part 3
 * and ISO/IEC 39794-5 (portrait capture). Those target passport photos (inter-eye distance >= 90 px, pose within
 * about 5 degrees); medface captures from webcams and kiosks, so the values are looser. They were checked, not
 * fitted, on lfw-dev news photos (250x250) and on blurred, darkened, washed-out and shrunk versions of them, with
 * the detector of detector.ts: verify refuses few originals and nearly all degraded ones. These are policy values,
 * not calibrated thresholds (those live in config/thresholds.json).
 *
 * - enrol is stricter than verify/identify: a reference is captured once, with an operator present, and every later
 *   comparison inherits its defects; a probe that fails can simply be retaken.
 * - Inter-eye distance: the default recogniser's 112 px ArcFace chip puts the eye centres 35 px apart, so an
 *   enrolment of at least 40 px is never enlarged for it (dlib's 150 px chip, 53 px apart, enlarges it at most 1.3x).
 *   24 px lies below the smallest face in 200 sampled lfw-dev images (33 px), the data the recognisers are evaluated
 *   on. The gates judge the detection and the pixels, not the embedding, so they refuse the same captures whichever
 *   recogniser runs.
 * - Pose comes from the mesh and is noisy (pitch especially, as the camera's height biases it), so limits sit well
 *   above ICAO's 5 degrees. Roll is undone by alignment but a tilted head also skews the mesh; yaw hides half the face.
 * - Exposure is mean face luma. The dark limits are deliberately low: a properly lit darker skin tone has a lower
 *   mean luma, and a capture gate must not turn that into a demographic differential.
 * - Contrast and sharpness are relative measures (see QualityMetrics), so they judge the image, not the skin tone.
 * - Identification uses the verification gate: the added false-match risk of searching a gallery is handled by its
 *   calibrated threshold, not by refusing more captures; a crowded frame is fine, each face is its own probe.
 */
export const QUALITY_GATES: Readonly<Record<Purpose, Readonly<QualityGate>>> = {
  enrol: {
    minInterEyeDistance: 40,
    maxYaw: 20,
    maxPitch: 25,
    maxRoll: 20,
    minSharpness: 0.22,
    minBrightness: 50,
    maxBrightness: 210,
    minContrast: 0.16,
    // Landmark jitter can put the forehead's edge a pixel outside a tightly framed but complete face.
    minInFrame: 0.98,
    minDetectionScore: 0.8,
    // One third of the subject's size is someone about three times as far away: still in the room.
    competingFaceRatio: 1 / 3,
  },
  verify: VERIFY_GATE,
  identify: { ...VERIFY_GATE, competingFaceRatio: Infinity },
};

/** Side of the square the face is resampled to before measuring sharpness, so the measure does not depend on size. */
const SHARPNESS_SIZE = 64;

/** The face itself, as the bounding box of its mesh (the detector's box has a margin and is clipped to the image). */
export function meshExtent(mesh: readonly Point[]): Box {
  let minX = Infinity,
    minY = Infinity,
    maxX = -Infinity,
    maxY = -Infinity;
  for (const p of mesh) {
    minX = Math.min(minX, p.x);
    minY = Math.min(minY, p.y);
    maxX = Math.max(maxX, p.x);
    maxY = Math.max(maxY, p.y);
  }
  return { x: minX, y: minY, width: maxX - minX, height: maxY - minY };
}

interface PixelRegion {
  x0: number;
  y0: number;
  x1: number;
  y1: number;
}

/** The whole pixels of a box that lie inside the image; at least one. */
function pixelRegion(box: Box, image: RgbImage): PixelRegion {
  const x0 = Math.min(image.width - 1, Math.max(0, Math.floor(box.x)));
  const y0 = Math.min(image.height - 1, Math.max(0, Math.floor(box.y)));
  const x1 = Math.min(image.width, Math.ceil(box.x + box.width) + 1);
  const y1 = Math.min(image.height, Math.ceil(box.y + box.height) + 1);
  return { x0, y0, x1: Math.max(x1, x0 + 1), y1: Math.max(y1, y0 + 1) };
}

/** BT.601 luma of a region, row-major, at native resolution. */
function lumaOf(image: RgbImage, r: PixelRegion): { luma: Float32Array; w: number; h: number } {
  const w = r.x1 - r.x0,
    h = r.y1 - r.y0;
  const luma = new Float32Array(w * h);
  for (let y = 0; y < h; y++) {
    for (let x = 0; x < w; x++) {
      const i = ((r.y0 + y) * image.width + r.x0 + x) * 3;
      luma[y * w + x] = 0.299 * image.data[i]! + 0.587 * image.data[i + 1]! + 0.114 * image.data[i + 2]!;
    }
  }
  return { luma, w, h };
}

/** Resamples to size x size: area averaging when shrinking (no aliasing to fake detail), bilinear when enlarging. */
export function resample(src: Float32Array, w: number, h: number, size: number): Float32Array {
  const out = new Float32Array(size * size);
  for (let oy = 0; oy < size; oy++) {
    for (let ox = 0; ox < size; ox++) {
      const fx0 = (ox * w) / size,
        fx1 = ((ox + 1) * w) / size;
      const fy0 = (oy * h) / size,
        fy1 = ((oy + 1) * h) / size;
      let value: number;
      if (w >= size && h >= size) {
        let sum = 0,
          n = 0;
        for (let y = Math.floor(fy0); y < Math.ceil(fy1); y++) {
          for (let x = Math.floor(fx0); x < Math.ceil(fx1); x++) {
            sum += src[y * w + x]!;
            n++;
          }
        }
        value = sum / n;
      } else {
        const sx = Math.min(w - 1, Math.max(0, (fx0 + fx1) / 2 - 0.5)),
          sy = Math.min(h - 1, Math.max(0, (fy0 + fy1) / 2 - 0.5));
        const x0 = Math.floor(sx),
          y0 = Math.floor(sy),
          x1 = Math.min(w - 1, x0 + 1),
          y1 = Math.min(h - 1, y0 + 1);
        const ax = sx - x0,
          ay = sy - y0;
        const top = src[y0 * w + x0]! * (1 - ax) + src[y0 * w + x1]! * ax;
        const bottom = src[y1 * w + x0]! * (1 - ax) + src[y1 * w + x1]! * ax;
        value = top * (1 - ay) + bottom * ay;
      }
      out[oy * size + ox] = value;
    }
  }
  return out;
}

function meanAndStd(values: ArrayLike<number>): { mean: number; std: number } {
  let sum = 0,
    sumSq = 0;
  for (let i = 0; i < values.length; i++) {
    sum += values[i]!;
    sumSq += values[i]! * values[i]!;
  }
  const mean = sum / values.length;
  return { mean, std: Math.sqrt(Math.max(0, sumSq / values.length - mean * mean)) };
}

/** Standard deviation of the 4-neighbour Laplacian over the interior of a square image. */
function laplacianStd(img: Float32Array, size: number): number {
  const inner = size - 2;
  const lap = new Float32Array(inner * inner);
  for (let y = 1; y <= inner; y++) {
    for (let x = 1; x <= inner; x++) {
      const i = y * size + x;
      lap[(y - 1) * inner + x - 1] = img[i - 1]! + img[i + 1]! + img[i - size]! + img[i + size]! - 4 * img[i]!;
    }
  }
  return meanAndStd(lap).std;
}

function fractionInside(box: Box, image: RgbImage): number {
  const w = Math.max(0, Math.min(box.x + box.width, image.width) - Math.max(box.x, 0));
  const h = Math.max(0, Math.min(box.y + box.height, image.height) - Math.max(box.y, 0));
  const area = box.width * box.height;
  return area > 0 ? (w * h) / area : 0;
}

/** Measures one detected face in the image it was found in. */
export function measureQuality(image: RgbImage, face: DetectedFace): QualityMetrics {
  const { leftEye, rightEye } = landmarksOf(face);
  const extent = meshExtent(face.mesh);
  const { luma, w, h } = lumaOf(image, pixelRegion(extent, image));
  const { mean, std } = meanAndStd(luma);
  const canonical = resample(luma, w, h, SHARPNESS_SIZE);
  const canonicalStd = meanAndStd(canonical).std;
  return {
    interEyeDistance: Math.hypot(leftEye.x - rightEye.x, leftEye.y - rightEye.y),
    faceSize: Math.min(face.box.width, face.box.height),
    yaw: face.pose.yaw,
    pitch: face.pose.pitch,
    roll: face.pose.roll,
    sharpness: canonicalStd > 0 ? laplacianStd(canonical, SHARPNESS_SIZE) / canonicalStd : 0,
    brightness: mean,
    contrast: mean > 0 ? std / mean : 0,
    inFrame: fractionInside(extent, image),
    detectionScore: face.score,
  };
}

/** The reasons, in a fixed order, why these measures fail this gate. */
function reasonsFor(m: QualityMetrics, gate: QualityGate): QualityReason[] {
  const reasons: QualityReason[] = [];
  if (m.detectionScore < gate.minDetectionScore) reasons.push('LOW_DETECTION_SCORE');
  if (m.inFrame < gate.minInFrame) reasons.push('FACE_NOT_IN_FRAME');
  if (m.interEyeDistance < gate.minInterEyeDistance) reasons.push('FACE_TOO_SMALL');
  if (Math.abs(m.yaw) > gate.maxYaw || Math.abs(m.pitch) > gate.maxPitch || Math.abs(m.roll) > gate.maxRoll) {
    reasons.push('POSE_TOO_LARGE');
  }
  if (m.brightness < gate.minBrightness) reasons.push('TOO_DARK');
  if (m.brightness > gate.maxBrightness) reasons.push('TOO_BRIGHT');
  if (m.contrast < gate.minContrast) reasons.push('LOW_CONTRAST');
  if (m.sharpness < gate.minSharpness) reasons.push('TOO_BLURRY');
  return reasons;
}

/** Measures one face and judges it against the gate of a purpose. */
export function assessFace(image: RgbImage, face: DetectedFace, purpose: Purpose): QualityReport {
  const metrics = measureQuality(image, face);
  const reasons = reasonsFor(metrics, QUALITY_GATES[purpose]);
  return { passed: reasons.length === 0, reasons, metrics };
}

/** A whole capture judged for a purpose: is there exactly the subject we need, and is that face good enough? */
export interface CaptureAssessment {
  /** True when `reasons` is empty and the subject's face passed. */
  passed: boolean;
  /** Image-level reasons: `NO_FACE`, `MULTIPLE_FACES`. */
  reasons: QualityReason[];
  /** One report per detected face, in the detector's order. */
  faces: QualityReport[];
  /** Index in `faces` of the subject (see `chooseSubject`); -1 when no face was found. */
  subject: number;
}

export function assessCapture(image: RgbImage, faces: readonly DetectedFace[], purpose: Purpose): CaptureAssessment {
  const reports = faces.map((f) => assessFace(image, f, purpose));
  if (reports.length === 0) return { passed: false, reasons: ['NO_FACE'], faces: reports, subject: -1 };
  const gate = QUALITY_GATES[purpose];
  // A doubtful detection is neither the subject nor a rival to it, unless nothing better was found.
  const credible = (r: QualityReport): boolean => r.metrics.detectionScore >= gate.minDetectionScore;
  const subject = chooseSubject(image, faces, reports.map(credible));
  const subjectSize = reports[subject]!.metrics.faceSize;
  const competing = reports.some((r, i) => i !== subject && credible(r) && r.metrics.faceSize >= gate.competingFaceRatio * subjectSize);
  const reasons: QualityReason[] = competing ? ['MULTIPLE_FACES'] : [];
  return { passed: reasons.length === 0 && reports[subject]!.passed, reasons, faces: reports, subject };
}

/**
 * Of the credible faces nearly as large as the largest (at least half its area), the one nearest the image
 * centre: a patient at a kiosk and the subject of a portrait are framed in the middle, while a bystander
 * can be as large but off to the side. Picking simply the largest face chose a bystander in 5 of lfw-dev's
 * 1,549 images. Doubtful detections count only when nothing credible was found.
 */
function chooseSubject(image: RgbImage, faces: readonly DetectedFace[], credible: readonly boolean[]): number {
  const pool = faces.map((_, i) => i).filter((i) => credible[i]);
  const candidates = pool.length > 0 ? pool : faces.map((_, i) => i);
  const area = (i: number): number => faces[i]!.box.width * faces[i]!.box.height;
  const largest = Math.max(...candidates.map(area));
  const offCentre = (i: number): number => {
    const b = faces[i]!.box;
    return Math.hypot(b.x + b.width / 2 - image.width / 2, b.y + b.height / 2 - image.height / 2);
  };
  return candidates.filter((i) => area(i) >= largest / 2).reduce((best, i) => (offCentre(i) < offCentre(best) ? i : best));
}
