/**
 * The face layer's public surface: image bytes in, faces, quality and embeddings out. Callers outside
 * src/face/ import from here. Servers use FacePool (one engine per core); FaceEngine runs on the calling thread.
 */
export { DEFAULT_QUEUE_LIMIT, DEFAULT_TASK_TIMEOUT_MS, FacePool, type PoolOptions, type PoolStats } from './pool.js';
export { FaceEngine, type Analysis, type AnalyzeOptions, type EngineOptions, type FaceResult, type FrameObservation, type StageTimings, type SubjectFace } from './engine.js';
export { landmarksOf, meshTriangulation } from './detector.js';
export { decodeImage, DEFAULT_IMAGE_LIMITS, IMAGE_LIMITS, type DecodedImage, type ImageLimits } from './image.js';
export { DEFAULT_EMBEDDER_ID, EMBEDDER_IDS } from './embedders/index.js';
export type { QualityMetrics, QualityReport } from './quality.js';
export type { PassiveLiveness, PassiveReason } from './passive-liveness.js';
export type { EyeOpenness } from './eyes.js';
export type { Box, DetectedFace, Embedding, Landmarks, Point, Point3, Pose, Purpose, QualityReason, RgbImage } from './types.js';
