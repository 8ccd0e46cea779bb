/**
 * CPU share of live decoding in `offpay reader listen` (issue 14: under 5 % of one core at 48 kHz with every
 * profile listening). The built CLI runs as a child process reading s16le PCM from a pipe, as it would from
 * `arecord ... |`; its user + system CPU time comes from its own `--stats` lines (process.cpuUsage), and the
 * share is CPU seconds per second of audio, measured between the first and the last stats line (so process
 * start-up is excluded; it is reported separately).
 *
 * Runs:
 *   - piped: MINUTES of seeded white noise (-26 dBFS) written as fast as the child takes it, in writes of
 *     4096 bytes (2048 samples, ~43 ms: a typical ALSA period);
 *   - paced: REALTIME seconds written in real time, 20 ms per write (960 samples), so that every per-read
 *     cost (pipe wake-up, event loop, a receiver push per read) is paid as often as it is live.
 * Results: bench/results/listen.md and listen.json.
 *
 * Run: npm run bench:listen [-- --minutes 20] [-- --realtime 60] [-- --quick]
 */
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { makeRng } from '../codecs/fsk/prng.js';
import { main } from '../src/cli/main.js';
import { machine, writeResults } from './common.js';

const args = process.argv.slice(2);
const quick = args.includes('--quick');
const argNum = (name: string, def: number) => {
  const i = args.indexOf(name);
  return i >= 0 && args[i + 1] !== undefined ? Number(args[i + 1]) : def;
};
const MINUTES = argNum('--minutes', quick ? 3 : 20);
const REALTIME = argNum('--realtime', quick ? 15 : 60);
const RATE = 48000;
const STATS = 5;
const CLI = resolve(fileURLToPath(import.meta.url), '../../src/cli/main.js');
const T0 = 1_795_000_000;

interface Stats {
  at: number;
  cpuUserMicros: number;
  cpuSystemMicros: number;
  rssBytes: number;
}

interface RunResult {
  name: string;
  audioSeconds: number;
  wallSeconds: number;
  cpuSeconds: number;
  startupCpuSeconds: number;
  cpuShare: number;
  realtimeFactor: number;
  maxRssMiB: number;
  frames: number;
}

async function quiet(...argv: string[]): Promise<void> {
  let err = '';
  const code = await main(argv, { out: () => undefined, err: (s) => (err += s) });
  if (code !== 0) throw new Error(`offpay ${argv.join(' ')}: exit ${code}: ${err}`);
}

async function runOne(name: string, db: string, dir: string, seconds: number, paced: boolean): Promise<RunResult> {
  const child = spawn(process.execPath, [CLI, 'reader', 'listen', '--json', '--reader', join(dir, 'gate'), '--db', db, '--stdin', '--fare', '2.00', `--now=${T0}`, '--stats', String(STATS)], { stdio: ['pipe', 'pipe', 'inherit'] });
  const stats: Stats[] = [];
  let last: Record<string, unknown> = {};
  let buf = '';
  child.stdout.setEncoding('utf8');
  child.stdout.on('data', (s: string) => {
    buf += s;
    let i;
    while ((i = buf.indexOf('\n')) >= 0) {
      const e = JSON.parse(buf.slice(0, i)) as Record<string, unknown>;
      buf = buf.slice(i + 1);
      if (e.event === 'stats') stats.push(e as unknown as Stats);
      last = e;
    }
  });
  const exited = new Promise<number | null>((r) => child.on('close', r));
  const rng = makeRng(14);
  const per = paced ? 960 : 2048;
  const block = new Int16Array(per);
  const writes = Math.ceil((seconds * RATE) / per);
  const t0 = performance.now();
  for (let w = 0; w < writes; w++) {
    for (let i = 0; i < per; i++) block[i] = Math.round((rng.next() * 2 - 1) * 2846); // uniform, RMS -26 dBFS
    if (!child.stdin.write(new Uint8Array(block.buffer.slice(0)))) await new Promise((r) => child.stdin.once('drain', r));
    if (paced) {
      const due = t0 + ((w + 1) * per * 1000) / RATE;
      const wait = due - performance.now();
      if (wait > 0) await new Promise((r) => setTimeout(r, wait));
    }
  }
  child.stdin.end();
  const code = await exited;
  const wall = (performance.now() - t0) / 1000;
  if (code !== 0) throw new Error(`${name}: listen exited with ${code}`);
  const first = stats[0]!;
  const end = stats.at(-1)!;
  const cpu = (s: Stats) => (s.cpuUserMicros + s.cpuSystemMicros) / 1e6;
  const cpuSeconds = cpu(end) - cpu(first);
  const audio = end.at - first.at;
  return {
    name,
    audioSeconds: audio,
    wallSeconds: Math.round(wall * 10) / 10,
    cpuSeconds: Math.round(cpuSeconds * 1000) / 1000,
    startupCpuSeconds: Math.round(cpu(first) * 1000) / 1000,
    cpuShare: cpuSeconds / audio,
    realtimeFactor: Math.round(audio / cpuSeconds),
    maxRssMiB: Math.round(Math.max(...stats.map((s) => s.rssBytes)) / 2 ** 20),
    frames: Number(last.frames ?? 0),
  };
}

/** CPU share of a bare node process reading a pipe paced like the paced run (the cost of Node's I/O alone). */
async function baseline(seconds: number): Promise<number> {
  const src = `let t0; for await (const c of process.stdin) { t0 ??= [process.cpuUsage(), performance.now()]; } const c = process.cpuUsage(t0[0]); console.log(JSON.stringify({ cpu: (c.user + c.system) / 1e6 }));`;
  const child = spawn(process.execPath, ['--input-type=module', '-e', src], { stdio: ['pipe', 'pipe', 'inherit'] });
  let out = '';
  child.stdout.setEncoding('utf8');
  child.stdout.on('data', (s: string) => (out += s));
  const exited = new Promise((r) => child.on('close', r));
  const per = 960;
  const block = new Uint8Array(per * 2);
  const t0 = performance.now();
  const writes = Math.ceil((seconds * RATE) / per);
  for (let w = 0; w < writes; w++) {
    child.stdin.write(block);
    const wait = t0 + ((w + 1) * per * 1000) / RATE - performance.now();
    if (wait > 0) await new Promise((r) => setTimeout(r, wait));
  }
  child.stdin.end();
  await exited;
  return (JSON.parse(out) as { cpu: number }).cpu / seconds;
}

async function mainBench(): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), 'offpay-listen-bench-'));
  try {
    const at = `--now=${T0}`;
    await quiet('issuer', 'init', '--dir', join(dir, 'issuer'), '--seed', 'bench', at);
    await quiet('reader', 'new', '--issuer', join(dir, 'issuer'), '--id', '5001', '--profile', 'transit', '--operator', '300', '--out', join(dir, 'gate'), '--seed', 'bench', at);
    const db = join(dir, 'gate.db');
    await quiet('reader', 'init', '--reader', join(dir, 'gate'), '--db', db, '--issuer', join(dir, 'issuer'), at);
    const rows: RunResult[] = [];
    for (const [name, seconds, paced] of [
      [`piped, ${MINUTES} min of noise, 4096-byte writes`, MINUTES * 60, false],
      [`paced in real time, ${REALTIME} s, 20 ms writes`, REALTIME, true],
    ] as const) {
      const r = await runOne(name, db, dir, seconds, paced);
      process.stdout.write(`${name}: ${(r.cpuShare * 100).toFixed(3)} % of one core (${r.cpuSeconds} CPU s over ${r.audioSeconds} s of audio, ${r.realtimeFactor}x realtime), start-up ${r.startupCpuSeconds} CPU s, max RSS ${r.maxRssMiB} MiB\n`);
      rows.push(r);
    }
    const base = await baseline(REALTIME);
    process.stdout.write(`baseline (a bare node process reading the same paced pipe, doing nothing): ${(base * 100).toFixed(3)} % of one core\n`);
    const m = machine();
    const md = [
      '# `offpay reader listen`: CPU share of live decoding',
      '',
      `Machine: ${m.cpu}, ${m.cores} cores, Node ${m.node}; load average at start ${m.loadAverage1m} (a shared machine: other work ran at the same time). ${m.date}.`,
      `Command: \`node dist/bench/listen.bench.js ${args.join(' ')}\`.`,
      '',
      'The built CLI (`offpay reader listen --stdin --fare 2.00 --json --stats 5`, a transit gate on a SQLite database)',
      'reads 48 kHz s16le mono white noise (-26 dBFS) from a pipe with every FSK profile listening. CPU is the',
      "child's own user + system time (process.cpuUsage on its --stats lines), between the first and the last stats",
      'line: start-up (module loading, opening the database) is excluded and listed apart. Goal: under 5 % of one core.',
      '',
      '| run | audio s | CPU s | CPU share of one core | x realtime | start-up CPU s | max RSS MiB | wall s |',
      '|---|---|---|---|---|---|---|---|',
      ...rows.map((r) => `| ${r.name} | ${r.audioSeconds} | ${r.cpuSeconds} | ${(r.cpuShare * 100).toFixed(3)} % | ${r.realtimeFactor} | ${r.startupCpuSeconds} | ${r.maxRssMiB} | ${r.wallSeconds} |`),
      '',
      `Baseline: a bare \`node\` process that only reads the same paced pipe (\`for await (const c of process.stdin)\`),`,
      `measured the same way (its CPU after the first read to the end): ${(base * 100).toFixed(3)} % of one core. The paced`,
      'run pays every per-read cost (pipe wake-up, event loop, one receiver push per 20 ms read) as often as a live',
      'capture does; most of it is this baseline, and the piped run is the decoding cost alone. arecord with its',
      'default buffer (alsa-utils aplay.c: at most 500 ms, period a quarter of it) delivers about 125 ms per read, so a real capture wakes the process less often than this run.',
      '',
    ].join('\n');
    writeResults('listen', md, { machine: m, args, rows, baselineCpuShare: base });
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

await mainBench();
