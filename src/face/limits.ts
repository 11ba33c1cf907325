/**
 * What untrusted image bytes may be before they are decoded (image.ts applies them). A module of its own,
 * importing nothing, so the HTTP layer can size its uploads by the same numbers without loading a decoder.
 */

/** Refusal limits for untrusted image bytes. */
export interface ImageLimits {
  /** Largest accepted encoded size in bytes. */
  maxBytes: number;
  /** Largest accepted width * height, checked from the header before any pixel is decoded. */
  maxPixels: number;
}

/**
 * The limits by kind of image. A photo (enrolment, verification, identification) may come from any camera or
 * scanner: 15 MiB, 40 Mpx. A liveness frame comes from a camera filming the person, up to 40 of them per
 * attempt, from anonymous clients: 512 KiB, and at most 1920×1920 pixels — the camera page sends frames of
 * at most 640 px, an integrator's camera at most Full HD in either orientation (1920×1080 or 1080×1920), and
 * a frame claiming more is refused from its header before decoding. Frames held to the photo limit let 40
 * frames of a 116 KB PNG decoding to 6300×6300 hold the engine for about 100 s per anonymous attempt
 * (security review, issue 15 finding 6).
 */
export const IMAGE_LIMITS = {
  photo: { maxBytes: 15 * 1024 * 1024, maxPixels: 40_000_000 },
  frame: { maxBytes: 512 * 1024, maxPixels: 1920 * 1920 },
} as const satisfies Record<string, ImageLimits>;

export const DEFAULT_IMAGE_LIMITS: ImageLimits = IMAGE_LIMITS.photo;
