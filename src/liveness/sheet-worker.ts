/**
 * The sheet-fit worker thread: answers each pair of face crops with sheetResiduals. The message shapes are
 * defined here and used by sheets.ts; nothing else talks to this worker.
 */
import { parentPort } from 'node:worker_threads';
import { sheetResiduals, type FaceCrop, type SheetResiduals } from './planarity.js';

export interface SheetTask {
  id: number;
  a: FaceCrop;
  b: FaceCrop;
}

export type SheetAnswer = { id: number; residuals: SheetResiduals } | { id: number; error: string };

parentPort?.on('message', ({ id, a, b }: SheetTask) => {
  let answer: SheetAnswer;
  try {
    answer = { id, residuals: sheetResiduals(a, b) };
  } catch (e) {
    answer = { id, error: e instanceof Error ? e.message : String(e) };
  }
  parentPort!.postMessage(answer);
});
