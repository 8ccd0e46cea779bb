/** Shared helpers for the benchmarks: machine description and result files under bench/results/. */
import Benchmark from 'benchmark';
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

export interface BenchRow {
  name: string;
  hz: number;
  usPerOp: number;
  rme: number;
  samples: number;
}

/** A Benchmark.js suite with sync and async (deferred) cases; `run` prints each cycle and returns the rows. */
export function benchSuite(name: string, minSamples = 20) {
  const suite = new Benchmark.Suite(name);
  return {
    add: (label: string, fn: () => void) => void suite.add(label, fn, { minSamples }),
    addAsync: (label: string, fn: () => Promise<unknown>) =>
      void suite.add(label, { defer: true, minSamples, fn: (d: { resolve(): void }) => void fn().then(() => d.resolve()) }),
    run: () =>
      new Promise<BenchRow[]>((resolve) => {
        const rows: BenchRow[] = [];
        suite.on('cycle', (e: { target: Benchmark }) => {
          const t = e.target;
          rows.push({ name: t.name!, hz: t.hz, usPerOp: 1e6 / t.hz, rme: t.stats.rme, samples: t.stats.sample.length });
          process.stdout.write(`${String(t)}\n`);
        });
        suite.on('complete', () => resolve(rows));
        suite.run({ async: true });
      }),
  };
}
