import { MedfaceError } from '../../errors.js';
import type { QualityReason } from '../../face/index.js';
import type { Medface } from '../context.js';

/** What a live preview may tell the person in front of the camera: reason codes and where the face is, no identity. */
export interface CaptureFeedback {
  /** Why the frame would not do for identification (empty when it would): NO_FACE, FACE_TOO_SMALL, POSE_TOO_LARGE, … */
  reasons: QualityReason[];
  /** The subject's face as fractions of the frame (0–1), or null without one. */
  box: { x: number; y: number; width: number; height: number } | null;
}

/**
 * Judges one preview frame by the identification gates, without embedding it and without searching anyone:
 * the kiosk turns the reasons into "move closer", "face the camera". Not audited: nothing is identified.
 */
export async function captureFeedback(medface: Medface, bytes: Uint8Array): Promise<CaptureFeedback> {
  const faces = await medface.faces.engine();
  if (!faces.analyze) throw new MedfaceError('ENGINE_FAILED', 'this face engine cannot judge captures');
  const analysis = await faces.analyze(bytes, { purpose: 'identify', embed: false });
  const subject = analysis.faces[analysis.subject];
  const reasons = [...new Set([...analysis.reasons, ...(subject?.quality.reasons ?? [])])];
  const { width, height } = analysis.image;
  const box = subject ? { x: subject.box.x / width, y: subject.box.y / height, width: subject.box.width / width, height: subject.box.height / height } : null;
  return { reasons, box };
}
