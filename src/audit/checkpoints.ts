import { createHmac, timingSafeEqual } from 'node:crypto';
import { open, readFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { MedfaceError } from '../errors.js';

/** A head recorded outside the database: the entry `seq` had hash `hash` then. */
export interface KnownHead {
  seq: number;
  hash: string;
}

/**
 * Keyed checkpoints of the audit chain's head, kept outside the database (issue 15, finding 10). The chain
 * is plain SHA-256: whoever holds the database can edit an entry and recompute every hash after it, and the
 * chain verifies. A checkpoint — "entry `seq` had hash `hash` at `time`", with an HMAC under a key derived
 * from the audit pseudonym key — is appended to a file beside that key; a later verification compares the
 * log with every checkpoint, so a rewrite before a checkpoint shows even though the chain is consistent.
 * Writing a checkpoint needs the key file, which the database does not hold; someone holding both can
 * forge checkpoints too, which is what a head the privacy officer records on paper is for.
 */

export interface Checkpoint extends KnownHead {
  /** When it was written (ISO). */
  time: string;
}

/** What reading the checkpoint file found. */
export interface CheckpointRead {
  file: string;
  /** Checkpoints whose MAC verifies, in file order. */
  valid: Checkpoint[];
  /** Lines that are not a checkpoint with a valid MAC (edited, forged, or written under another key). */
  invalidLines: number[];
}

const FILE_NAME = 'medface-audit-checkpoints.jsonl';
/** Separates the checkpoint key from the pseudonym key it is derived from. */
const KEY_LABEL = 'medface audit checkpoint v1';

/** `medface-audit-checkpoints.jsonl` beside the key file (and the audit pseudonym key). */
export function checkpointPath(keyFile: string): string {
  return join(dirname(keyFile), FILE_NAME);
}

export class CheckpointFile {
  private readonly key: Buffer;

  constructor(
    readonly file: string,
    auditKey: Buffer,
  ) {
    this.key = createHmac('sha256', auditKey).update(KEY_LABEL, 'utf8').digest();
  }

  private mac(c: Checkpoint): string {
    return createHmac('sha256', this.key).update(`${c.seq}\n${c.hash}\n${c.time}`, 'utf8').digest('hex');
  }

  /** Appends a checkpoint of `head` (one line, synced; the file is created with mode 0600). */
  async append(head: KnownHead, now = new Date()): Promise<Checkpoint> {
    const checkpoint: Checkpoint = { seq: head.seq, hash: head.hash, time: now.toISOString() };
    const line = JSON.stringify({ ...checkpoint, mac: this.mac(checkpoint) }) + '\n';
    const handle = await open(this.file, 'a', 0o600);
    try {
      await handle.appendFile(line, 'utf8');
      await handle.sync();
    } finally {
      await handle.close();
    }
    return checkpoint;
  }

  /** Every line of the file, sorted into valid checkpoints and invalid lines; a missing file has none. */
  async read(): Promise<CheckpointRead> {
    let text: string;
    try {
      text = await readFile(this.file, 'utf8');
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'ENOENT') return { file: this.file, valid: [], invalidLines: [] };
      throw new MedfaceError('STORE_UNAVAILABLE', `the audit checkpoint file ${this.file} cannot be read`, { path: this.file });
    }
    const valid: Checkpoint[] = [];
    const invalidLines: number[] = [];
    text.split('\n').forEach((line, i) => {
      if (line.trim() === '') return;
      const checkpoint = this.parse(line);
      if (checkpoint) valid.push(checkpoint);
      else invalidLines.push(i + 1);
    });
    return { file: this.file, valid, invalidLines };
  }

  private parse(line: string): Checkpoint | null {
    let value: unknown;
    try {
      value = JSON.parse(line);
    } catch {
      return null;
    }
    const { seq, hash, time, mac } = (value ?? {}) as Record<string, unknown>;
    if (!Number.isInteger(seq) || (seq as number) < 1 || typeof hash !== 'string' || !/^[0-9a-f]{64}$/.test(hash)) return null;
    if (typeof time !== 'string' || typeof mac !== 'string' || !/^[0-9a-f]{64}$/.test(mac)) return null;
    const checkpoint: Checkpoint = { seq: seq as number, hash, time };
    const expected = Buffer.from(this.mac(checkpoint), 'hex');
    return timingSafeEqual(expected, Buffer.from(mac, 'hex')) ? checkpoint : null;
  }
}

/** `SEQ:HASH` as `medface audit verify` prints a head, e.g. `1042:3f5a…`; INVALID_ARGUMENT otherwise. */
export function parseHead(text: string): KnownHead {
  const m = /^(\d{1,15}):([0-9a-f]{64})$/.exec(text.trim());
  if (!m || Number(m[1]) < 1) throw new MedfaceError('INVALID_ARGUMENT', 'a head is SEQ:HASH, e.g. 1042:<64 hex digits>, as `medface audit verify` prints it');
  return { seq: Number(m[1]), hash: m[2] as string };
}
