/**
 * `npm run bench:cli`: CLI startup. Each row runs the built CLI in a fresh `node` process N times and
 * reports the median wall time and the median CPU time of the child (user + system, from this process's
 * children accounting in /proc/self/stat, 10 ms ticks; Linux only), against bare `node -e 0`. CPU time is
 * the steadier figure on a shared machine. Results: bench/results/cli.md and cli.json.
 *
 * Goal (issue 13): `offpay --help` costs little more than starting node, because command modules load on
 * use (src/cli/registry.ts). Not asserted in tests.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { machine, writeResults } from './common.js';

const CLI = resolve(fileURLToPath(import.meta.url), '../../src/cli/main.js');
const N = process.argv.includes('--quick') ? 5 : 21;

/** CPU ms of this process's terminated, waited-for children (cutime + cstime). */
function childrenCpuMs(): number {
  if (!existsSync('/proc/self/stat')) return NaN;
  const stat = readFileSync('/proc/self/stat', 'utf8');
  const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return (Number(f[13]) + Number(f[14])) * 10;
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)]!;
}

function measure(args: string[], cwd: string): { wallMs: number; cpuMs: number; status: number | null } {
  const walls: number[] = [];
  const cpus: number[] = [];
  let status: number | null = 0;
  for (let i = 0; i < N; i++) {
    const c0 = childrenCpuMs();
    const t0 = performance.now();
    const r = spawnSync(process.execPath, args, { cwd, stdio: 'ignore' });
    walls.push(performance.now() - t0);
    cpus.push(childrenCpuMs() - c0);
    status = r.status;
  }
  return { wallMs: Math.round(median(walls)), cpuMs: Math.round(median(cpus)), status };
}

const cwd = mkdtempSync(join(tmpdir(), 'offpay-bench-cli-'));
spawnSync(process.execPath, [CLI, 'issuer', 'init', '--dir', join(cwd, 'issuer'), '--seed', 'bench'], { cwd });
const cases: [string, string[]][] = [
  ['node -e 0 (baseline)', ['-e', '0']],
  ['offpay --help', [CLI, '--help']],
  ['offpay verify --help', [CLI, 'verify', '--help']],
  ['offpay fsk profiles', [CLI, 'fsk', 'profiles']],
  ['offpay inspect keyset.cbor', [CLI, 'inspect', join(cwd, 'issuer', 'keyset.cbor')]],
  ['offpay reader status --help', [CLI, 'reader', 'status', '--help']],
];
const rows = cases.map(([name, args]) => {
  const m = measure(args, cwd);
  process.stdout.write(`${name.padEnd(32)} wall ${String(m.wallMs).padStart(5)} ms  cpu ${String(m.cpuMs).padStart(5)} ms  (exit ${m.status})\n`);
  return { name, ...m };
});
const mach = machine();
const md = [
  '# CLI startup (`npm run bench:cli`)',
  '',
  `Machine: ${mach.cpu}, ${mach.cores} cores, Node ${mach.node}, ${mach.date}, load average ${mach.loadAverage1m} (other work on the machine inflates wall times). Median of ${N} runs, each a fresh process.`,
  '',
  '| command | wall ms | CPU ms (user + sys) |',
  '|---|---:|---:|',
  ...rows.map((r) => `| ${r.name} | ${r.wallMs} | ${r.cpuMs} |`),
  '',
  'Command modules load on use (src/cli/registry.ts): `--help` resolves the entry point, the framework and the',
  'command table only (test/core/cli-startup.test.ts checks the import graph).',
  '',
].join('\n');
writeResults('cli', md, { machine: mach, runs: N, rows });
