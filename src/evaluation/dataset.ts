import { existsSync, readFileSync, statSync } from 'node:fs';
import path from 'node:path';
import { MedfaceError } from '../errors.js';

/**
 * Labelled face-image sets on disk: `SETDIR/manifest.csv` with columns `path,identity,...` (paths relative
 * to SETDIR; further columns such as `condition` are kept for group-by analysis) and optional pairs
 * `file1,file2,same` for verification.
 */

export interface ManifestEntry {
  /** As written in the manifest, relative to the set folder. */
  path: string;
  identity: string;
  /** Every manifest column by name, `path` and `identity` included. */
  columns: Record<string, string>;
}

export interface Dataset {
  /** Absolute path of the set folder. */
  dir: string;
  /** Folder name, used to label reports and calibration provenance. */
  name: string;
  columns: string[];
  entries: ManifestEntry[];
}

export interface Pair {
  file1: string;
  file2: string;
  same: boolean;
}

export function readDataset(setDir: string): Dataset {
  const dir = path.resolve(setDir);
  const manifestFile = path.join(dir, 'manifest.csv');
  if (!existsSync(manifestFile)) throw new MedfaceError('INVALID_DATASET', `${manifestFile} not found`);
  const { header, rows } = readTable(manifestFile, ['path', 'identity']);
  const seen = new Set<string>();
  const entries = rows.map(({ line, fields }): ManifestEntry => {
    const columns = Object.fromEntries(header.map((h, i) => [h, fields[i]!]));
    const entry = { path: columns.path!, identity: columns.identity!, columns };
    if (entry.path === '' || entry.identity === '') throw bad(manifestFile, line, 'path and identity must not be empty');
    if (seen.has(entry.path)) throw bad(manifestFile, line, `image ${entry.path} is listed twice`);
    seen.add(entry.path);
    const file = path.resolve(dir, entry.path);
    if (!existsSync(file) || !statSync(file).isFile()) throw bad(manifestFile, line, `image ${entry.path} not found`);
    return entry;
  });
  if (entries.length === 0) throw new MedfaceError('INVALID_DATASET', `${manifestFile} lists no images`);
  return { dir, name: path.basename(dir), columns: header, entries };
}

/** `SETDIR/pairs.csv` unless a file is named; undefined when the set has no pairs (identification). */
export function readPairs(dataset: Dataset, pairsFile?: string): Pair[] | undefined {
  const file = pairsFile ? path.resolve(pairsFile) : path.join(dataset.dir, 'pairs.csv');
  if (!existsSync(file)) {
    if (pairsFile) throw new MedfaceError('INVALID_DATASET', `pairs file ${file} not found`);
    return undefined;
  }
  const known = new Set(dataset.entries.map((e) => e.path));
  const { rows } = readTable(file, ['file1', 'file2', 'same']);
  const pairs = rows.map(({ line, fields }): Pair => {
    const [file1, file2, same] = fields as [string, string, string];
    for (const f of [file1, file2]) if (!known.has(f)) throw bad(file, line, `image ${f} is not in the manifest`);
    return { file1, file2, same: parseSame(same, file, line) };
  });
  if (pairs.length === 0) throw new MedfaceError('INVALID_DATASET', `${file} lists no pairs`);
  return pairs;
}

/** Reads a CSV file whose header must contain `required` columns first, in order. */
function readTable(file: string, required: string[]): { header: string[]; rows: Array<{ line: number; fields: string[] }> } {
  const records = parseCsv(readFileSync(file, 'utf8'), file);
  const first = records.shift();
  if (!first) throw new MedfaceError('INVALID_DATASET', `${file} is empty`);
  const header = first.fields.map((h) => h.trim());
  required.forEach((name, i) => {
    if (header[i] !== name) throw new MedfaceError('INVALID_DATASET', `${file}: header must start with ${required.join(',')}`);
  });
  if (new Set(header).size !== header.length) throw new MedfaceError('INVALID_DATASET', `${file}: duplicate column names in the header`);
  const rows = records.filter((r) => !(r.fields.length === 1 && r.fields[0] === ''));
  for (const r of rows) {
    if (r.fields.length !== header.length) throw bad(file, r.line, `expected ${header.length} fields, found ${r.fields.length}`);
  }
  return { header, rows };
}

/**
 * RFC 4180 CSV: fields may be quoted, quotes inside quoted fields are doubled, quoted fields may span
 * lines; CRLF or LF line ends; a UTF-8 byte-order mark is ignored. `line` is where each record starts.
 */
export function parseCsv(text: string, file = 'CSV'): Array<{ line: number; fields: string[] }> {
  const records: Array<{ line: number; fields: string[] }> = [];
  let i = text.charCodeAt(0) === 0xfeff ? 1 : 0;
  let line = 1;
  let fields: string[] = [];
  let field = '';
  let recordLine = 1;
  let quotedField = false;
  const endField = () => {
    fields.push(field);
    field = '';
    quotedField = false;
  };
  const endRecord = () => {
    endField();
    records.push({ line: recordLine, fields });
    fields = [];
  };
  while (i < text.length) {
    const c = text[i]!;
    if (c === '"') {
      if (field !== '' || quotedField) throw bad(file, line, 'a quote may only open a field');
      quotedField = true;
      i++;
      for (;;) {
        if (i >= text.length) throw bad(file, recordLine, 'unterminated quoted field');
        const q = text[i]!;
        if (q === '"') {
          if (text[i + 1] === '"') {
            field += '"';
            i += 2;
            continue;
          }
          i++;
          break;
        }
        if (q === '\n') line++;
        field += q;
        i++;
      }
      const next = text[i];
      if (next !== undefined && next !== ',' && next !== '\n' && next !== '\r') throw bad(file, line, 'text after a closing quote');
      continue;
    }
    if (c === ',') {
      endField();
      i++;
    } else if (c === '\n' || c === '\r') {
      endRecord();
      i += c === '\r' && text[i + 1] === '\n' ? 2 : 1;
      line++;
      recordLine = line;
    } else {
      field += c;
      i++;
    }
  }
  if (field !== '' || quotedField || fields.length > 0) endRecord();
  return records;
}

function parseSame(value: string, file: string, line: number): boolean {
  switch (value.trim().toLowerCase()) {
    case '1':
    case 'true':
    case 'yes':
      return true;
    case '0':
    case 'false':
    case 'no':
      return false;
    default:
      throw bad(file, line, `"same" must be 1/0 (or true/false), got "${value}"`);
  }
}

function bad(file: string, line: number, why: string): MedfaceError {
  return new MedfaceError('INVALID_DATASET', `${file}:${line}: ${why}`, { line });
}
