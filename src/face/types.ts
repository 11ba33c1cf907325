/** Shapes shared across the face engine. Pure data: nothing here knows about patients, storage or HTTP. */

/** Decoded pixels: 8-bit RGB, row-major, EXIF orientation already applied. */
export interface RgbImage {
  data: Uint8Array;
  width: number;
  height: number;
}

export interface Point {
  x: number;
  y: number;
}

/** A face-mesh vertex: image pixels, plus depth `z` in the same scale (smaller = nearer the camera). */
export interface Point3 extends Point {
  z: number;
}

export interface Box {
  x: number;
  y: number;
  width: number;
  height: number;
}

/**
 * Head pose in degrees, as the subject feels it (0, 0, 0 = looking straight into the camera).
 * The detector's tests pin the yaw sign with a mirrored photo and the roll sign with a rotated one; the pitch
 * sign was checked against the mesh's depth (forehead nearer the camera than the chin when pitch > 0).
 */
export interface Pose {
  /** > 0: the subject turns to their left, so the nose points to the camera's right. */
  yaw: number;
  /** > 0: the subject looks down (chin towards the chest). */
  pitch: number;
  /** > 0: the head tilts towards the subject's left shoulder, i.e. clockwise as the image is viewed. */
  roll: number;
}

/** A face as found by the detector, in image pixel coordinates. */
export interface DetectedFace {
  box: Box;
  /** Detector confidence, 0..1. */
  score: number;
  /** MediaPipe face mesh, 468 points in image pixels (no iris refinement: see detector.ts). */
  mesh: Point3[];
  pose: Pose;
}

/**
 * Five points for clients (drawing, cropping), in image pixels. Left and right are the subject's: their left
 * eye is on the image's right.
 */
export interface Landmarks {
  leftEye: Point;
  rightEye: Point;
  nose: Point;
  mouthLeft: Point;
  mouthRight: Point;
}

/** A feature vector tagged with the model that made it; vectors of different models are never compared. */
export interface Embedding {
  /** `name@version`, e.g. `dlib-resnet@1.0+flip`. */
  model: string;
  /** L2-normalised. */
  vector: Float32Array;
}

/** Why a face image is refused for a purpose (ISO/IEC 29794-5 in spirit). */
export type QualityReason =
  'NO_FACE' | 'MULTIPLE_FACES' | 'FACE_TOO_SMALL' | 'POSE_TOO_LARGE' | 'TOO_BLURRY' | 'TOO_DARK' | 'TOO_BRIGHT' | 'LOW_CONTRAST' | 'FACE_NOT_IN_FRAME' | 'LOW_DETECTION_SCORE';

/** What a capture is for: enrolment is held to stricter gates than a verification attempt. */
export type Purpose = 'enrol' | 'verify' | 'identify';
