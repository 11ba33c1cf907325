import { describe, expect, it } from 'vitest';
import { commandLine } from '../../src/cli/command-line.js';
import { progressBar } from '../../src/cli/progress.js';

function fakeStream(isTTY: boolean) {
  const written: string[] = [];
  const stream = { isTTY, write: (s: string) => written.push(s) } as unknown as NodeJS.WriteStream;
  return { stream, written };
}

describe('progressBar', () => {
  it('draws nothing when stderr is not a terminal', () => {
    const { stream } = fakeStream(false);
    expect(progressBar('embedding', stream)).toBeUndefined();
  });

  it('redraws one line on a terminal and ends it when done', () => {
    const { stream, written } = fakeStream(true);
    const bar = progressBar('embedding', stream)!;
    bar(0, 4);
    bar(4, 4);
    expect(written[0]).toMatch(/^\rembedding \[\.{30}\] 0\/4 /);
    expect(written.join('')).toMatch(/\rembedding \[#{30}\] 4\/4 .*\n$/);
  });
});

describe('commandLine', () => {
  it('quotes only the arguments a shell would split or expand', () => {
    expect(commandLine(['calibrate', 'sets/lfw-dev', '--fmr', '0.001'])).toBe('medface calibrate sets/lfw-dev --fmr 0.001');
    expect(commandLine(['evaluate', 'my set', "it's"])).toBe(`medface evaluate 'my set' 'it'\\''s'`);
  });
});
