import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { parseCsv, readDataset, readPairs } from '../../src/evaluation/dataset.js';

/** A set folder with the given manifest text and empty files standing in for every listed image. */
function makeSet(manifest: string, images: string[], pairs?: string): string {
  const dir = mkdtempSync(path.join(tmpdir(), 'medface-set-'));
  for (const f of images) {
    mkdirSync(path.dirname(path.join(dir, f)), { recursive: true });
    writeFileSync(path.join(dir, f), '');
  }
  writeFileSync(path.join(dir, 'manifest.csv'), manifest);
  if (pairs !== undefined) writeFileSync(path.join(dir, 'pairs.csv'), pairs);
  return dir;
}

const invalid = expect.objectContaining({ code: 'INVALID_DATASET' });

describe('CSV parsing', () => {
  it('handles quotes, doubled quotes, embedded commas and newlines, CRLF and a BOM', () => {
    const text = '\ufeffpath,identity\r\n"a,b.jpg","O\'Brien, ""Pat"""\r\nc.jpg,"two\nlines"\n';
    expect(parseCsv(text)).toEqual([
      { line: 1, fields: ['path', 'identity'] },
      { line: 2, fields: ['a,b.jpg', 'O\'Brien, "Pat"'] },
      { line: 3, fields: ['c.jpg', 'two\nlines'] },
    ]);
  });

  it('keeps empty fields and a last line without a newline', () => {
    expect(parseCsv('a,,c\n,,')).toEqual([
      { line: 1, fields: ['a', '', 'c'] },
      { line: 2, fields: ['', '', ''] },
    ]);
  });

  it('refuses malformed quoting', () => {
    expect(() => parseCsv('path,identity\n"a.jpg,x\n')).toThrow(invalid);
    expect(() => parseCsv('path,identity\n"a.jpg"x,y\n')).toThrow(invalid);
    expect(() => parseCsv('path,identity\na"b.jpg,y\n')).toThrow(invalid);
  });
});

describe('data sets', () => {
  it('reads the manifest with extra columns', () => {
    const dir = makeSet('path,identity,condition\nimages/a 1.png,alice,glasses\n"images/b,2.png",bob,happy\n', ['images/a 1.png', 'images/b,2.png']);
    const set = readDataset(dir);
    expect(set.name).toBe(path.basename(dir));
    expect(set.columns).toEqual(['path', 'identity', 'condition']);
    expect(set.entries).toEqual([
      { path: 'images/a 1.png', identity: 'alice', columns: { path: 'images/a 1.png', identity: 'alice', condition: 'glasses' } },
      { path: 'images/b,2.png', identity: 'bob', columns: { path: 'images/b,2.png', identity: 'bob', condition: 'happy' } },
    ]);
    expect(readPairs(set)).toBeUndefined();
  });

  it('reads pairs from SETDIR/pairs.csv or a named file', () => {
    const dir = makeSet('path,identity\na.jpg,x\nb.jpg,x\nc.jpg,y\n', ['a.jpg', 'b.jpg', 'c.jpg'], 'file1,file2,same\na.jpg,b.jpg,1\na.jpg,c.jpg,0\n');
    const set = readDataset(dir);
    expect(readPairs(set)).toEqual([
      { file1: 'a.jpg', file2: 'b.jpg', same: true },
      { file1: 'a.jpg', file2: 'c.jpg', same: false },
    ]);
    const other = path.join(dir, 'other.csv');
    writeFileSync(other, 'file1,file2,same\nb.jpg,c.jpg,false\n');
    expect(readPairs(set, other)).toEqual([{ file1: 'b.jpg', file2: 'c.jpg', same: false }]);
  });

  it.each([
    ['an empty manifest', ''],
    ['a header without identity', 'path,name\na.jpg,x\n'],
    ['columns in the wrong order', 'identity,path\nx,a.jpg\n'],
    ['a ragged row', 'path,identity\na.jpg,x,extra\n'],
    ['an empty identity', 'path,identity\na.jpg,\n'],
    ['an image listed twice', 'path,identity\na.jpg,x\na.jpg,y\n'],
    ['an image that does not exist', 'path,identity\nmissing.jpg,x\n'],
    ['a header and no rows', 'path,identity\n'],
    ['duplicate column names', 'path,identity,identity\na.jpg,x,y\n'],
  ])('refuses %s with INVALID_DATASET', (_what, manifest) => {
    expect(() => readDataset(makeSet(manifest, ['a.jpg']))).toThrow(invalid);
  });

  it('refuses a folder without manifest.csv', () => {
    expect(() => readDataset(mkdtempSync(path.join(tmpdir(), 'medface-set-')))).toThrow(invalid);
  });

  it.each([
    ['an image not in the manifest', 'file1,file2,same\na.jpg,z.jpg,1\n'],
    ['a bad same value', 'file1,file2,same\na.jpg,b.jpg,maybe\n'],
    ['a wrong header', 'a,b,c\na.jpg,b.jpg,1\n'],
    ['no pairs', 'file1,file2,same\n'],
  ])('refuses pairs with %s', (_what, pairs) => {
    const set = readDataset(makeSet('path,identity\na.jpg,x\nb.jpg,x\n', ['a.jpg', 'b.jpg'], pairs));
    expect(() => readPairs(set)).toThrow(invalid);
  });

  it('refuses a named pairs file that does not exist', () => {
    const set = readDataset(makeSet('path,identity\na.jpg,x\n', ['a.jpg']));
    expect(() => readPairs(set, path.join(set.dir, 'nope.csv'))).toThrow(invalid);
  });
});
