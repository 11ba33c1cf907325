import { MedfaceError } from '../errors.js';
import type { Embedding } from '../face/index.js';

/**
 * How many of a capture's best views make one probe: a liveness sequence holds many frames of the same face,
 * and the mean of several good ones averages out what varies from frame to frame (expression, blur, light)
 * while keeping what the person's views share. Measured with `medface evaluate --probe-images K`
 * (docs/accuracy.md, "Fused probes").
 */
export const PROBE_VIEWS = 3;

/**
 * One probe from several embeddings of the same face: the mean of their L2-normalised vectors, normalised again.
 * `ranked` comes best view first; the first `views` are used (fewer when there are fewer). Embeddings of
 * different models live in unrelated spaces, so mixing them is refused (MODEL_MISMATCH).
 */
export function fuseViews(ranked: readonly Embedding[], views: number = PROBE_VIEWS): Embedding {
  if (!Number.isInteger(views) || views < 1) throw new MedfaceError('INVALID_ARGUMENT', 'a probe is fused from at least one view');
  const used = ranked.slice(0, views);
  const first = used[0];
  if (!first) throw new MedfaceError('INVALID_ARGUMENT', 'a probe needs at least one embedding');
  if (used.length === 1) return first;
  const sum = new Float64Array(first.vector.length);
  for (const e of used) {
    if (e.model !== first.model) {
      throw new MedfaceError('MODEL_MISMATCH', `cannot fuse embeddings of different models (${first.model} vs ${e.model})`, { models: [first.model, e.model] });
    }
    if (e.vector.length !== sum.length) throw new MedfaceError('INVALID_ARGUMENT', `embeddings of ${e.model} differ in length`);
    const norm = Math.hypot(...e.vector);
    // a zero vector has no direction: it adds nothing rather than NaN
    if (norm > 0) for (let i = 0; i < sum.length; i++) sum[i]! += e.vector[i]! / norm;
  }
  const norm = Math.hypot(...sum);
  const vector = new Float32Array(sum.length);
  if (norm > 0) for (let i = 0; i < sum.length; i++) vector[i] = sum[i]! / norm;
  return { model: first.model, vector };
}
