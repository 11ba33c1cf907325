import path from 'node:path';
import { MedfaceError } from './errors.js';

/** Deployment settings, all from the environment (documented in README.md). */
export interface Config {
  /** Where the embedded database, the generated key file and other state live. */
  dataDir: string;
  /** PostgreSQL connection string; when absent the embedded SQLite store is used. */
  databaseUrl: string | undefined;
  /** Key-encryption key file; defaults to `<dataDir>/medface.key`, generated on first run. */
  keyFile: string | undefined;
  port: number;
  /** Certificate and private key (PEM files) to serve HTTPS; plain HTTP when absent. */
  tls: { certFile: string; keyFile: string } | undefined;
  /**
   * Which proxies in front of the server to believe about the client address (rate limits and sign-in
   * lockout count per address): `true` (any), or a comma-separated list of addresses/CIDRs; default none.
   */
  trustProxy: boolean | string[];
  /** Face analyses allowed to wait for a worker (MEDFACE_FACE_QUEUE); beyond it the API answers 503 ENGINE_BUSY. */
  faceQueueLimit?: number;
  /** How long one face analysis may take before its worker is taken for hung and replaced (MEDFACE_FACE_TIMEOUT_MS). */
  faceTaskTimeoutMs?: number;
  /** The recogniser (MEDFACE_EMBEDDER, an embedder id); unset, the release's default (docs/operations.md: changing it). */
  embedderId?: string;
  /**
   * The address clients reach the server at, e.g. https://medface.example.org (MEDFACE_PUBLIC_URL): the base of
   * absolute links the server writes (FHIR Bundle links). Unset, those links are relative: a client's Host
   * header is never written into them.
   */
  publicUrl?: string;
}

export function loadConfig(env: NodeJS.ProcessEnv = process.env): Config {
  const port = Number(env.PORT ?? 8080);
  if (!Number.isInteger(port) || port <= 0 || port >= 65536) {
    throw new MedfaceError('INVALID_ARGUMENT', `PORT must be an integer between 1 and 65535, got "${env.PORT}"`);
  }
  return {
    dataDir: path.resolve(env.MEDFACE_DATA_DIR ?? './data'),
    databaseUrl: env.DATABASE_URL || undefined,
    keyFile: env.MEDFACE_KEY_FILE ? path.resolve(env.MEDFACE_KEY_FILE) : undefined,
    port,
    tls: tlsFiles(env),
    trustProxy: trustProxy(env.MEDFACE_TRUST_PROXY),
    faceQueueLimit: integerSetting(env, 'MEDFACE_FACE_QUEUE', 0),
    faceTaskTimeoutMs: integerSetting(env, 'MEDFACE_FACE_TIMEOUT_MS', 1),
    ...(env.MEDFACE_EMBEDDER?.trim() && { embedderId: env.MEDFACE_EMBEDDER.trim() }),
    publicUrl: publicUrl(env.MEDFACE_PUBLIC_URL),
  };
}

/** An http(s) origin with an optional path prefix, without a trailing slash, query or fragment. */
function publicUrl(value: string | undefined): string | undefined {
  const text = value?.trim();
  if (!text) return undefined;
  let url: URL | undefined;
  try {
    url = new URL(text);
  } catch {
    url = undefined;
  }
  if (!url || !['http:', 'https:'].includes(url.protocol) || url.search !== '' || url.hash !== '' || url.username !== '' || url.password !== '') {
    throw new MedfaceError('INVALID_ARGUMENT', `MEDFACE_PUBLIC_URL must be an http(s) address such as https://medface.example.org, got "${text}"`);
  }
  return `${url.origin}${url.pathname.replace(/\/+$/, '')}`;
}

/** An optional integer setting of at least `min`; undefined when unset (the component's default applies). */
function integerSetting(env: NodeJS.ProcessEnv, name: string, min: number): number | undefined {
  const text = env[name]?.trim();
  if (!text) return undefined;
  const value = Number(text);
  if (!Number.isInteger(value) || value < min) throw new MedfaceError('INVALID_ARGUMENT', `${name} must be an integer of at least ${min}, got "${text}"`);
  return value;
}

function tlsFiles(env: NodeJS.ProcessEnv): Config['tls'] {
  const cert = env.MEDFACE_TLS_CERT || undefined;
  const key = env.MEDFACE_TLS_KEY || undefined;
  if (cert === undefined && key === undefined) return undefined;
  if (cert === undefined || key === undefined) {
    throw new MedfaceError('INVALID_ARGUMENT', 'MEDFACE_TLS_CERT and MEDFACE_TLS_KEY are set together (both PEM file paths) or not at all');
  }
  return { certFile: path.resolve(cert), keyFile: path.resolve(key) };
}

function trustProxy(value: string | undefined): Config['trustProxy'] {
  const text = value?.trim() ?? '';
  if (text === '' || text === 'false') return false;
  if (text === 'true') return true;
  return text
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean);
}
