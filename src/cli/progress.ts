/**
 * A one-line progress bar on stderr, only when stderr is a terminal: piped or redirected output (and
 * `--json` consumers reading stdout) never see control characters.
 */
export function progressBar(label: string, stream: NodeJS.WriteStream = process.stderr): ((done: number, total: number) => void) | undefined {
  if (!stream.isTTY) return undefined;
  const started = Date.now();
  let lastDrawn = 0;
  return (done, total) => {
    const now = Date.now();
    // redrawing on every image would cost more than the terminal is worth on fast cache hits
    if (done < total && now - lastDrawn < 100) return;
    lastDrawn = now;
    const width = 30;
    const filled = total ? Math.round((done / total) * width) : width;
    const elapsed = (now - started) / 1000;
    const eta = done > 0 && done < total ? ` eta ${Math.round((elapsed / done) * (total - done))}s` : '';
    stream.write(`\r${label} [${'#'.repeat(filled)}${'.'.repeat(width - filled)}] ${done}/${total} ${elapsed.toFixed(0)}s${eta}\x1b[K`);
    if (done >= total) stream.write('\n');
  };
}
