/**
 * How to start a worker thread on a module next to the caller. Compiled, both are `.js`. Under a TypeScript
 * loader (vitest, tsx) the caller is a `.ts` file and so is the worker, which Node 20 will not load as a worker
 * entry even with `--import tsx` in execArgv; a one-line bootstrap registers tsx in the new thread first.
 */
export function workerEntry(callerUrl: string, name: string): { entry: string | URL; eval: boolean } {
  if (!callerUrl.endsWith('.ts')) return { entry: new URL(`./${name}.js`, callerUrl), eval: false };
  const tsx = JSON.stringify(import.meta.resolve('tsx/esm/api'));
  const worker = JSON.stringify(new URL(`./${name}.ts`, callerUrl).href);
  return { entry: `import(${tsx}).then((tsx) => { tsx.register(); return import(${worker}); });`, eval: true };
}
