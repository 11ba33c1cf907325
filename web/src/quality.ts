/**
 * The one mapping of the server's capture quality reason codes (src/face/types.ts QualityReason, in
 * `error.details.reasons` of a refusal and in the kiosk's live feedback) to words: what is wrong with a
 * photo, and what the person in front of the camera can do about it. Most useful first: a preview shows
 * only the first reason's advice.
 */
const REASONS: readonly { code: string; problem: string; advice: string }[] = [
  { code: 'NO_FACE', problem: 'no face was found', advice: 'Look at the camera with your face inside the oval' },
  { code: 'MULTIPLE_FACES', problem: 'more than one face is in the picture', advice: 'One person at a time, please' },
  { code: 'FACE_NOT_IN_FRAME', problem: 'the face is cut off at the edge of the picture', advice: 'Move your face into the oval' },
  { code: 'FACE_TOO_SMALL', problem: 'the face is too small (too far from the camera)', advice: 'Move closer' },
  { code: 'POSE_TOO_LARGE', problem: 'the head is turned away from the camera', advice: 'Face the camera' },
  { code: 'TOO_DARK', problem: 'the picture is too dark', advice: 'Move into the light' },
  { code: 'TOO_BRIGHT', problem: 'the picture is too bright', advice: 'Step out of the bright light' },
  { code: 'TOO_BLURRY', problem: 'the picture is blurred', advice: 'Hold still' },
  { code: 'LOW_CONTRAST', problem: 'the picture has too little contrast', advice: 'Face the camera in good light' },
  { code: 'LOW_DETECTION_SCORE', problem: 'the face is hard to make out', advice: 'Face the camera in good light' },
];

/** Live advice for a preview frame: the most useful reason's, or that the face is fine. */
export function qualityAdvice(reasons: readonly string[]): string {
  return REASONS.find(({ code }) => reasons.includes(code))?.advice ?? 'Good — your face is in view';
}

/** Why the server refused a photo, in words: "the picture is blurred; the head is turned away…". */
export function qualityProblems(reasons: readonly string[]): string {
  const known = REASONS.filter(({ code }) => reasons.includes(code)).map(({ problem }) => problem);
  return known.length > 0 ? known.join('; ') : 'the photo is not good enough';
}
