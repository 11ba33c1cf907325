/** How many values, and their least, median and greatest (NaN when there are none): the benches' summaries. */
export function stats(values: readonly number[]): { n: number; min: number; median: number; max: number } {
  const v = [...values].sort((a, b) => a - b);
  return { n: v.length, min: v[0] ?? NaN, median: v[v.length >> 1] ?? NaN, max: v.at(-1) ?? NaN };
}
