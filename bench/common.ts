/** Shared helpers for the benchmarks: machine description and result files under bench/results/. */
import { mkdirSync, writeFileSync } from 'node:fs';
import { cpus, loadavg, totalmem } from 'node:os';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

export const RESULTS_DIR = resolve(fileURLToPath(import.meta.url), '../../../bench/results');

export function machine(): Record<string, string | number> {
  const c = cpus();
  return { node: process.version, cpu: c[0]?.model ?? 'unknown', cores: c.length, memoryGiB: Math.round(totalmem() / 2 ** 30), loadAverage1m: Math.round(loadavg()[0]! * 100) / 100, date: new Date().toISOString() };
}

export function writeResults(name: string, markdown: string, json: unknown): void {
  mkdirSync(RESULTS_DIR, { recursive: true });
  writeFileSync(join(RESULTS_DIR, `${name}.md`), markdown);
  writeFileSync(join(RESULTS_DIR, `${name}.json`), JSON.stringify(json, null, 2) + '\n');
}
