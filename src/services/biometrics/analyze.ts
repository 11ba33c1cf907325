import type { Box, FacePool, Landmarks, PassiveLiveness, Pose, Purpose, QualityReason } from '../../face/index.js';

/** One face as reported to people and scripts: geometry and quality, never the embedding. */
export interface FaceReport {
  box: Box;
  score: number;
  pose: Pose;
  landmarks: Landmarks;
  /** Whether this is the capture's subject (the face an embedding would be taken from). */
  subject: boolean;
  quality: { passed: boolean; reasons: QualityReason[]; metrics: Record<string, number> };
  /** The subject's passive presentation-attack score: a signal, not a control (docs/liveness.md). */
  liveness?: PassiveLiveness;
}

export interface AnalysisReport {
  image: { width: number; height: number; format: string };
  purpose: Purpose;
  /** True when the capture has one usable face for the purpose. */
  accepted: boolean;
  /** Image-level and subject-face reasons for refusing the capture. */
  reasons: QualityReason[];
  faces: FaceReport[];
  /** Milliseconds per stage. */
  timings: Record<string, number>;
}

/** Finds and judges every face of an image for a purpose, without computing any embedding. */
export async function analyzeImage(pool: FacePool, bytes: Uint8Array, purpose: Purpose): Promise<AnalysisReport> {
  const analysis = await pool.analyze(bytes, { purpose, embed: false });
  const subject = analysis.faces[analysis.subject];
  const reasons = [...new Set([...analysis.reasons, ...(subject?.quality.reasons ?? [])])];
  return {
    image: analysis.image,
    purpose,
    accepted: reasons.length === 0 && subject !== undefined,
    reasons,
    faces: analysis.faces.map((f, i) => ({
      box: f.box,
      score: f.score,
      pose: f.pose,
      landmarks: f.landmarks,
      subject: i === analysis.subject,
      quality: { passed: f.quality.passed, reasons: f.quality.reasons, metrics: { ...f.quality.metrics } },
      ...(f.liveness ? { liveness: f.liveness } : {}),
    })),
    timings: { ...analysis.timings },
  };
}
