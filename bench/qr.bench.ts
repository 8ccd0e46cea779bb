/**
 * QR transport benchmark (`npm run bench:qr`): read success and decode time under the seeded synthetic
 * camera, and what offpay adds on top of zxing-wasm's own decode (Base45 + prefix parsing, and token
 * verification). Results: bench/results/qr.md and bench/results/qr.json.
 *
 * Environment: QR_BENCH_FRAMES (frames per condition and frame size, default 10),
 * QR_BENCH_ROUNDS (interleaved timing rounds for the overhead table, default 15),
 * QR_BENCH_SCANNER_FRAMES (pushes per scanner row, default 60), QR_BENCH_ONLY=scanner (only the camera
 * scanner section, bench/results/qr-scanner.md and .json; the full run writes those too).
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { cpus, loadavg } from 'node:os';
import Benchmark from 'benchmark';
import { readBarcodes } from 'zxing-wasm/full';
import { decodeCode, encodeCode, scanSymbols, type Frame } from '../codecs/qr/engine.js';
import { unwrap, wrap } from '../codecs/qr/payload.js';
import { loadQrEngineNode } from '../codecs/qr/node.js';
import { CONDITIONS, shoot, shootEmpty } from '../codecs/qr/sim/camera.js';
import { createQrScanner } from '../codecs/qr/scanner.js';
import { writeResults, machine } from './common.js';
import { Issuer, MemoryCounterStore, Wallet, dayOf, publicKeyOf, seededSecretKey, verifyToken, type VerifyContext } from '../src/index.js';
import { nodeEd25519 } from '../src/node/crypto.js';

const FRAMES = Number(process.env.QR_BENCH_FRAMES ?? 10);
const ROUNDS = Number(process.env.QR_BENCH_ROUNDS ?? 15);
const PER_ROUND = 5;
const SCANNER_FRAMES = Number(process.env.QR_BENCH_SCANNER_FRAMES ?? 60);
const root = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');
const NOW = 1_795_000_000;

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s.length ? s[Math.floor((s.length - 1) / 2)]! : NaN;
}
function pct(xs: number[], p: number): number {
  const s = [...xs].sort((a, b) => a - b);
  return s.length ? s[Math.min(s.length - 1, Math.floor(p * s.length))]! : NaN;
}
const r2 = (x: number): number => Math.round(x * 100) / 100;

async function makeToken(): Promise<{ token: Uint8Array; ctx: VerifyContext }> {
  const issuer = Issuer.fromSecret(7, 1, seededSecretKey('qr-bench', 'issuer'), NOW - 86400 * 365, NOW + 86400 * 365);
  const wsk = seededSecretKey('qr-bench', 'wallet');
  const cert = issuer.issueWalletCert(
    { walletPublicKey: publicKeyOf(wsk), expiryDay: dayOf(NOW) + 30, maxPerPayment: 50_000, offlineAllowance: 100_000, currency: 344 },
    NOW,
  );
  const wallet = new Wallet({ secretKey: wsk, cert, counter: new MemoryCounterStore(), clock: () => NOW });
  const token = await wallet.payTo({ payee: 4201, amount: 1250 });
  return { token, ctx: { issuerKeys: issuer.keySet(), now: NOW + 2, payees: [4201] } };
}

function toRgba(f: Frame): Frame {
  const n = f.width * f.height;
  const out = new Uint8Array(n * 4);
  for (let i = 0; i < n; i++) {
    const v = f.data[i]!;
    out[i * 4] = v;
    out[i * 4 + 1] = v;
    out[i * 4 + 2] = v;
    out[i * 4 + 3] = 255;
  }
  return { width: f.width, height: f.height, data: out, format: 'rgba' };
}

interface ConditionRow {
  frame: string;
  condition: string;
  pixelsPerModule: number;
  input: 'jpeg' | 'gray';
  frames: number;
  ok: number;
  successRate: number;
  decodeMsMedian: number;
  decodeMsP90: number;
  failures: Record<string, number>;
}

async function robustness(token: Uint8Array): Promise<ConditionRow[]> {
  const code = await encodeCode(token, { kind: 'token' });
  const rows: ConditionRow[] = [];
  // Warm-up: the first decodes after instantiation are slower (wasm tier-up); not counted.
  for (let i = 0; i < 3; i++) await decodeCode(shoot(code.matrix, { width: 640, height: 480, pixelsPerModule: 4 }, 1).frame);
  for (const [label, W, H, ppm0] of [
    ['640x480', 640, 480, 4],
    ['1280x720', 1280, 720, 6],
  ] as const) {
    for (const [name, cond] of Object.entries(CONDITIONS)) {
      const ppm = cond.ppm ?? ppm0;
      const times: number[] = [];
      const failures: Record<string, number> = {};
      let ok = 0;
      for (let i = 0; i < FRAMES; i++) {
        const shot = shoot(code.matrix, { width: W, height: H, pixelsPerModule: ppm, ...cond }, 1000 + i);
        const input = shot.jpeg ?? shot.frame;
        const t0 = performance.now();
        try {
          const d = await decodeCode(input, { expect: 'token', symbologies: ['qr'] });
          times.push(performance.now() - t0);
          if (d.payload.length === token.length && d.payload.every((b, j) => b === token[j])) ok++;
          else failures['wrong_payload'] = (failures['wrong_payload'] ?? 0) + 1;
        } catch (e) {
          times.push(performance.now() - t0);
          const c = (e as { code?: string }).code ?? 'exception';
          failures[c] = (failures[c] ?? 0) + 1;
        }
      }
      const row: ConditionRow = {
        frame: label,
        condition: name,
        pixelsPerModule: ppm,
        input: shot0IsJpeg(cond.jpegQuality),
        frames: FRAMES,
        ok,
        successRate: ok / FRAMES,
        decodeMsMedian: r2(median(times)),
        decodeMsP90: r2(pct(times, 0.9)),
        failures,
      };
      rows.push(row);
      process.stdout.write(`${label} ${name.padEnd(22)} ${ok}/${FRAMES}  median ${row.decodeMsMedian} ms  p90 ${row.decodeMsP90} ms\n`);
    }
  }
  return rows;
}
const shot0IsJpeg = (q: number | undefined): 'jpeg' | 'gray' => (q === undefined ? 'gray' : 'jpeg');

interface OverheadRow {
  frame: string;
  case: string;
  msPerOp: number;
  p10: number;
  p90: number;
  samples: number;
  vsZxing: number;
}

/**
 * Interleaved timing: `rounds` rounds; in each, every case runs `perRound` operations back to back, in an
 * order rotated each round. On a shared, noisy 2-core machine this keeps slow phases from landing on one
 * case, which sequential Benchmark.js suites do not. Reported: the median over rounds of the mean time
 * per operation, and the spread (p10..p90 of the round means).
 */
async function interleaved(
  cases: [string, () => Promise<unknown>][],
  rounds: number,
  perRound: number,
): Promise<{ name: string; ms: number; p10: number; p90: number; samples: number }[]> {
  const per: number[][] = cases.map(() => []);
  for (const [, fn] of cases) for (let i = 0; i < 3; i++) await fn(); // warm-up
  for (let r = 0; r < rounds; r++) {
    for (let k = 0; k < cases.length; k++) {
      const idx = (k + r) % cases.length;
      const fn = cases[idx]![1];
      const t0 = performance.now();
      for (let i = 0; i < perRound; i++) await fn();
      per[idx]!.push((performance.now() - t0) / perRound);
    }
  }
  return cases.map(([name], i) => ({ name, ms: median(per[i]!), p10: pct(per[i]!, 0.1), p90: pct(per[i]!, 0.9), samples: rounds * perRound }));
}

interface MicroRow {
  case: string;
  usPerOp: number;
  rme: number;
  samples: number;
}

/** Benchmark.js for the sub-millisecond steps offpay adds after zxing's decode, each in isolation. */
function micro(token: Uint8Array, ctx: VerifyContext): MicroRow[] {
  const content = wrap('token', token);
  const node = nodeEd25519(0);
  const nodeCached = nodeEd25519();
  const rows: MicroRow[] = [];
  const suite = new Benchmark.Suite();
  suite
    .add('unwrap: prefix + Base45 decode of the symbol bytes', () => unwrap(content, 'token'))
    .add('verifyToken, node:crypto, key cache off', () => verifyToken(token, ctx, node))
    .add('verifyToken, node:crypto, key cache on', () => verifyToken(token, ctx, nodeCached))
    .add('verifyToken, noble (default)', () => verifyToken(token, ctx))
    .on('cycle', (ev: Benchmark.Event) => {
      const b = ev.target as Benchmark.Target & { stats: Benchmark.Stats; name: string };
      rows.push({ case: b.name, usPerOp: r2(b.stats.mean * 1e6), rme: r2(b.stats.rme), samples: b.stats.sample.length });
      process.stdout.write(`  ${String(b)}\n`);
    })
    .run({ async: false });
  return rows;
}

async function overhead(token: Uint8Array, ctx: VerifyContext): Promise<OverheadRow[]> {
  const code = await encodeCode(token, { kind: 'token' });
  const node = nodeEd25519(0); // one-entry key cache: the two keys alternate, so every check imports its key
  const rows: OverheadRow[] = [];
  for (const [label, W, H, ppm, cond] of [
    ['640x480 clean', 640, 480, 4, 'clean'],
    ['1280x720 combo', 1280, 720, 6, 'combo'],
  ] as const) {
    const shot = shoot(code.matrix, { width: W, height: H, pixelsPerModule: ppm, ...CONDITIONS[cond], jpegQuality: undefined }, 77);
    const frame = toRgba(shot.frame); // a camera/canvas frame is RGBA
    const imageData = frame as unknown as ImageData;
    const zxOptions = {
      formats: ['QRCode' as const],
      tryHarder: true,
      tryRotate: true,
      tryInvert: true,
      tryDownscale: true,
      returnErrors: true,
      maxNumberOfSymbols: 8,
      textMode: 'Plain' as const,
    };
    // Sanity: every case must actually succeed on this frame.
    const v0 = verifyToken((await decodeCode(frame, { symbologies: ['qr'] })).payload, ctx, node);
    if (!v0.accepted) throw new Error(`bench token not accepted: ${v0.reason}`);
    // The fast path (no try-harder passes) may not read a hard frame; it is timed only where it reads.
    const fastOk = await decodeCode(frame, { symbologies: ['qr'], tryHarder: false }).then(
      () => true,
      () => false,
    );
    process.stdout.write(`${label}:${fastOk ? '' : ' (fast path does not read this frame: not timed)'}\n`);
    const res = await interleaved([
      ['zxing readBarcodes alone (same options)', async () => readBarcodes(imageData, zxOptions)],
      ['zxing readBarcodes alone (zxing defaults, QR only)', async () => readBarcodes(imageData, { formats: ['QRCode'] })],
      [
        'offpay decode (scan + prefix + Base45)',
        async () => {
          const s = await scanSymbols(frame, { symbologies: ['qr'] });
          return unwrap(s[0]!.bytes, 'token');
        },
      ],
      ['offpay decodeCode', async () => decodeCode(frame, { symbologies: ['qr'], expect: 'token' })],
      ...(fastOk
        ? ([['offpay decodeCode, tryHarder off (fast path)', async () => decodeCode(frame, { symbologies: ['qr'], expect: 'token', tryHarder: false })]] as [
            string,
            () => Promise<unknown>,
          ][])
        : []),
      [
        'offpay decodeCode + verifyToken (node:crypto Ed25519)',
        async () => verifyToken((await decodeCode(frame, { symbologies: ['qr'], expect: 'token' })).payload, ctx, node),
      ],
      [
        'offpay decodeCode + verifyToken (noble Ed25519, default)',
        async () => verifyToken((await decodeCode(frame, { symbologies: ['qr'], expect: 'token' })).payload, ctx),
      ],
      ['verifyToken alone (node:crypto Ed25519)', async () => verifyToken(token, ctx, node)],
    ], ROUNDS, PER_ROUND);
    const base = res[0]!.ms;
    for (const r of res) {
      rows.push({ frame: label, case: r.name, msPerOp: r2(r.ms), p10: r2(r.p10), p90: r2(r.p90), samples: r.samples, vsZxing: r2((r.ms / base - 1) * 100) });
      process.stdout.write(`  ${r.name.padEnd(60)} ${r2(r.ms)} ms/op (p10 ${r2(r.p10)}, p90 ${r2(r.p90)})\n`);
    }
  }
  return rows;
}

interface ScannerRow {
  frame: string;
  scene: string;
  mode: string;
  pushes: number;
  decoded: number;
  thoroughPasses: number;
  wallMsMedian: number;
  wallMsP90: number;
  cpuMsPerFrame: number;
  fpsWall: number;
  fpsCpu: number;
}

/**
 * Camera scanner throughput on 720p frames: the scanner (cheap pass, thorough only on evidence) against
 * a try-harder `decodeCode` of every frame, on frames with the code and on frames without one. Frames are
 * rendered first (10 seeds per scene), then pushed in turn. Frames per second are given two ways: from
 * the median wall time per frame, and from the process CPU time over the whole row (user + system,
 * `process.cpuUsage`), which is what one core spends per frame and is less inflated by the other
 * processes of a shared machine. JS work, the wasm decode and GC all run on this one thread.
 */
async function scannerThroughput(token: Uint8Array): Promise<ScannerRow[]> {
  const code = await encodeCode(token, { kind: 'token' });
  const W = 1280;
  const H = 720;
  const scenes: [string, boolean, Record<string, unknown>][] = [
    ['code, clean', true, CONDITIONS.clean!],
    ['code, rotation 17°', true, CONDITIONS.rotation!],
    ['code, noise 18', true, CONDITIONS.noise!],
    ['code, combo (no JPEG)', true, { ...CONDITIONS.combo!, jpegQuality: undefined }],
    ['code, 2 px/module', true, { ppm: 2 }],
    ['no code, blank card', false, {}],
    ['no code, noise 18', false, CONDITIONS.noise!],
    ['no code, combo (no JPEG)', false, { ...CONDITIONS.combo!, jpegQuality: undefined }],
  ];
  const rows: ScannerRow[] = [];
  for (const [scene, withCode, cond] of scenes) {
    const c = { width: W, height: H, pixelsPerModule: (cond.ppm as number | undefined) ?? 6, ...cond, jpegQuality: undefined };
    const frames: Frame[] = [];
    for (let seed = 0; seed < 10; seed++) {
      const shot = withCode ? shoot(code.matrix, c, 500 + seed) : shootEmpty(c, 500 + seed);
      frames.push(toRgba(shot.frame)); // a camera/canvas frame is RGBA
    }
    for (const mode of ['scanner', 'decodeCode (try-harder, every frame)'] as const) {
      const scanner = createQrScanner();
      const push = async (f: Frame): Promise<boolean> => {
        if (mode === 'scanner') return scanner.push(f).status === 'decoded';
        return decodeCode(f, { symbologies: ['qr'] }).then(
          () => true,
          () => false,
        );
      };
      for (const f of frames.slice(0, 3)) await push(f); // warm-up
      scanner.reset();
      const n = mode === 'scanner' ? SCANNER_FRAMES : Math.max(10, Math.floor(SCANNER_FRAMES / 3));
      const times: number[] = [];
      let decoded = 0;
      const cpu0 = process.cpuUsage();
      for (let i = 0; i < n; i++) {
        const t0 = performance.now();
        if (await push(frames[i % frames.length]!)) decoded++;
        times.push(performance.now() - t0);
      }
      const cpu = process.cpuUsage(cpu0);
      const cpuMs = (cpu.user + cpu.system) / 1000 / n;
      const row: ScannerRow = {
        frame: `${W}x${H} RGBA`,
        scene,
        mode,
        pushes: n,
        decoded,
        thoroughPasses: mode === 'scanner' ? scanner.stats.thoroughPasses : n,
        wallMsMedian: r2(median(times)),
        wallMsP90: r2(pct(times, 0.9)),
        cpuMsPerFrame: r2(cpuMs),
        fpsWall: r2(1000 / median(times)),
        fpsCpu: r2(1000 / cpuMs),
      };
      rows.push(row);
      process.stdout.write(`${scene.padEnd(26)} ${mode.padEnd(38)} ${decoded}/${n} thorough ${row.thoroughPasses}  wall median ${row.wallMsMedian} ms (${row.fpsWall} fps)  cpu ${row.cpuMsPerFrame} ms/frame (${row.fpsCpu} fps)\n`);
    }
  }
  return rows;
}

function scannerMarkdown(rows: ScannerRow[]): string[] {
  const md: string[] = [];
  md.push('## Camera scanner: 720p frames per second', '');
  md.push(
    '`createQrScanner()` (codecs/qr/scanner.ts: cheap pass on the 2:1-downscaled luma with try-harder off; the thorough full-resolution try-harder pass only when the cheap pass located a symbol or the finder detector saw at least 2 finder patterns) against `decodeCode(frame, {symbologies: ["qr"]})` on every frame (try-harder, full resolution: what a reader did before). ' +
      'Seeded 1280x720 RGBA frames from codecs/qr/sim/camera.ts (10 per scene, pushed in turn; JPEG left out: the scanner takes pixels). ' +
      '"fps (CPU)" = 1000 / (process CPU ms per frame): one core\'s rate, the number to hold to the 15 fps goal on a shared machine; "fps (wall)" from the median wall time per frame.',
    '',
  );
  md.push('| scene | reader | decoded | thorough passes | wall median ms | wall p90 ms | CPU ms/frame | fps (CPU) | fps (wall) |', '|---|---|---:|---:|---:|---:|---:|---:|---:|');
  for (const r of rows) md.push(`| ${r.scene} | ${r.mode} | ${r.decoded}/${r.pushes} | ${r.thoroughPasses} | ${r.wallMsMedian} | ${r.wallMsP90} | ${r.cpuMsPerFrame} | ${r.fpsCpu} | ${r.fpsWall} |`);
  md.push('');
  return md;
}

async function scannerOnly(): Promise<void> {
  await loadQrEngineNode();
  const { token } = await makeToken();
  const rows = await scannerThroughput(token);
  const env = machine();
  const md = ['# QR camera scanner benchmark', '', `Command: \`QR_BENCH_ONLY=scanner npm run bench:qr\` (QR_BENCH_SCANNER_FRAMES=${SCANNER_FRAMES}). ${env.date}, Node ${env.node}, ${env.cores}x ${env.cpu}, load average (1 min) ${env.loadAverage1m} at the end: a shared machine, wall times are inflated.`, '', ...scannerMarkdown(rows)];
  writeResults('qr-scanner', md.join('\n') + '\n', { env, scannerFramesPerRow: SCANNER_FRAMES, rows });
  process.stdout.write('wrote bench/results/qr-scanner.md and qr-scanner.json\n');
}

async function main(): Promise<void> {
  const startLoad = loadavg().map(r2);
  const t0 = performance.now();
  await loadQrEngineNode();
  const initMs = performance.now() - t0;
  const { token, ctx } = await makeToken();
  const code = await encodeCode(token, { kind: 'token' });
  process.stdout.write(`token ${token.length} B -> QR v${code.qrVersion}-M (base45), engine load ${r2(initMs)} ms\n`);
  const rob = await robustness(token);
  const over = await overhead(token, ctx);
  const scan = await scannerThroughput(token);
  process.stdout.write('steps after the decode (Benchmark.js):\n');
  const steps = micro(token, ctx);

  const env = {
    node: process.version,
    cpu: cpus()[0]?.model ?? 'unknown',
    cpus: cpus().length,
    loadAverageAtStart: startLoad,
    loadAverageAtEnd: loadavg().map(r2),
    framesPerCondition: FRAMES,
    date: new Date().toISOString(),
  };
  const json = { env, tokenBytes: token.length, qrVersion: code.qrVersion, ecc: 'M', mode: 'base45', engineLoadMs: r2(initMs), robustness: rob, overhead: over, steps, scanner: scan };
  const dir = resolve(root, 'bench', 'results');
  mkdirSync(dir, { recursive: true });
  writeFileSync(resolve(dir, 'qr.json'), JSON.stringify(json, null, 2) + '\n');

  const md: string[] = [];
  md.push('# QR transport benchmark', '');
  md.push(
    `Command: \`npm run bench:qr\` (QR_BENCH_FRAMES=${FRAMES}). ${env.date}, Node ${env.node}, ${env.cpus}x ${env.cpu}. ` +
      `Load average (1/5/15 min) at start ${startLoad.join(' / ')}, at end ${env.loadAverageAtEnd.join(' / ')}: the machine is shared, so absolute times are inflated and noisy; compare rows within one run.`,
  );
  md.push(
    `Payload: a real offpay token (${token.length} B, one-way, seeded keys) as \`OP1T:\` + Base45 at ECC M = QR version ${code.qrVersion}. ` +
      `Engine load (read wasm, SHA-256, instantiate): ${r2(initMs)} ms.`,
  );
  md.push('', '## Read success and decode time under the synthetic camera', '');
  md.push('Frames from codecs/qr/sim/camera.ts, seeds 1000.., read with `decodeCode(input, {expect: "token", symbologies: ["qr"]})`; JPEG conditions decode from the JPEG bytes (includes JPEG decoding), the others from the grayscale frame (includes gray->RGBA expansion). Time per frame includes failures.', '');
  md.push('| frame | condition | px/module | input | success | decode median ms | p90 ms | failures |', '|---|---|---:|---|---:|---:|---:|---|');
  for (const r of rob) {
    const f = Object.entries(r.failures).map(([k, v]) => `${k} ${v}`).join(', ') || '-';
    md.push(`| ${r.frame} | ${r.condition} | ${r.pixelsPerModule} | ${r.input} | ${r.ok}/${r.frames} | ${r.decodeMsMedian} | ${r.decodeMsP90} | ${f} |`);
  }
  md.push('', '## What offpay adds to zxing-wasm\'s decode', '');
  md.push(
    `One RGBA frame each (the form a camera or canvas gives), interleaved timing (${ROUNDS} rounds x ${PER_ROUND} ops, case order rotated each round; median of the round means, p10-p90 of the round means). ` +
      '"vs zxing" is relative to zxing `readBarcodes` with the options offpay uses (QR only, try-harder on, returnErrors, up to 8 symbols). ' +
      'node:crypto verification runs with a one-entry key cache (the wallet and issuer keys alternate, so every check imports its key: pessimistic). Goal: offpay adds at most 20 %.',
    '',
  );
  md.push('| frame | case | ms/op | p10 | p90 | ops | vs zxing |', '|---|---|---:|---:|---:|---:|---:|');
  for (const r of over) md.push(`| ${r.frame} | ${r.case} | ${r.msPerOp} | ${r.p10} | ${r.p90} | ${r.samples} | ${r.vsZxing >= 0 ? '+' : ''}${r.vsZxing} % |`);
  md.push('', 'The steps offpay adds after zxing\'s decode, each timed alone with Benchmark.js (mean per operation):', '');
  md.push('| step | µs/op | ±% | samples |', '|---|---:|---:|---:|');
  for (const r of steps) md.push(`| ${r.case} | ${r.usPerOp} | ${r.rme} | ${r.samples} |`);
  md.push('');
  const stepUs = (prefix: string): number => steps.find((r) => r.case.startsWith(prefix))?.usPerOp ?? NaN;
  for (const frame of [...new Set(over.map((r) => r.frame))]) {
    const zx = over.find((r) => r.frame === frame)!.msPerOp * 1000;
    const pctOf = (us: number): string => `${r2((us / zx) * 100)} %`;
    const parse = stepUs('unwrap');
    md.push(
      `- ${frame} (zxing decode ${r2(zx / 1000)} ms): from the isolated steps, parsing adds ${pctOf(parse)}; ` +
        `parsing + node:crypto verification ${pctOf(parse + stepUs('verifyToken, node:crypto, key cache on'))} (key cache on) / ` +
        `${pctOf(parse + stepUs('verifyToken, node:crypto, key cache off'))} (off); parsing + noble verification ${pctOf(parse + stepUs('verifyToken, noble'))}.`,
    );
  }
  md.push('', 'End to end, from the interleaved table (includes the noise of a shared machine):', '');
  for (const frame of [...new Set(over.map((r) => r.frame))]) {
    const get = (prefix: string): OverheadRow | undefined => over.find((r) => r.frame === frame && r.case.startsWith(prefix));
    const parse = over.find((r) => r.frame === frame && r.case === 'offpay decodeCode');
    const node = get('offpay decodeCode + verifyToken (node');
    const noble = get('offpay decodeCode + verifyToken (noble');
    const verdict = (r: OverheadRow | undefined): string => (r ? `${r.vsZxing >= 0 ? '+' : ''}${r.vsZxing} % (${r.vsZxing <= 20 ? 'within' : 'over'} the 20 % goal)` : 'n/a');
    md.push(`- ${frame}: decodeCode ${verdict(parse)}; with node:crypto verification ${verdict(node)}; with noble verification ${verdict(noble)}.`);
  }
  md.push('');
  md.push(...scannerMarkdown(scan));
  writeFileSync(resolve(dir, 'qr.md'), md.join('\n') + '\n');
  writeResults('qr-scanner', ['# QR camera scanner benchmark', '', `From the full \`npm run bench:qr\` run of ${env.date}.`, '', ...scannerMarkdown(scan)].join('\n') + '\n', { env, scannerFramesPerRow: SCANNER_FRAMES, rows: scan });
  process.stdout.write(`wrote bench/results/qr.md and qr.json\n`);
}

if (process.env.QR_BENCH_ONLY === 'scanner') await scannerOnly();
else await main();
