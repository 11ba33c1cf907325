import { MedfaceError, isMedfaceError } from '../../errors.js';
import type { FacePool } from '../../face/index.js';
import { decide, similarity, type MatchGrade } from '../../identity/match.js';
import { thresholdsFor } from '../../identity/thresholds.js';

export interface ComparisonResult {
  /** Cosine similarity of the two faces' embeddings, -1..1. */
  similarity: number;
  /** Whether the similarity reaches the calibrated operating threshold. */
  match: boolean;
  /** FHIR match grade (http://hl7.org/fhir/match-grade). */
  grade: MatchGrade;
  threshold: number;
  /** Embedder model id both embeddings came from. */
  model: string;
}

export interface CompareOptions {
  /** Thresholds file; default config/thresholds.json. */
  thresholdsFile?: string;
}

/**
 * Is the one face in each image the same person? Each image must hold a single face good enough to verify
 * with; a refusal names the image (details.image: 1 or 2) and keeps its code and quality reasons.
 */
export async function compareImages(pool: FacePool, first: Uint8Array, second: Uint8Array, options: CompareOptions = {}): Promise<ComparisonResult> {
  const [a, b] = await Promise.all([first, second].map((bytes, i) => embedFace(pool, bytes, i + 1)));
  const score = similarity(a!.embedding, b!.embedding);
  const model = a!.embedding.model;
  return { similarity: score, ...decide(score, thresholdsFor(model, options.thresholdsFile)), model };
}

async function embedFace(pool: FacePool, bytes: Uint8Array, image: number) {
  try {
    return await pool.embedSingle(bytes, 'verify');
  } catch (e) {
    if (!isMedfaceError(e)) throw e;
    throw new MedfaceError(e.code, `image ${image}: ${e.message}`, { ...e.details, image });
  }
}
