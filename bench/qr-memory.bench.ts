/**
 * QR reader memory over many decodes (issue 14): `npm run build && node dist/bench/qr-memory.bench.js`.
 * Results: bench/results/qr-memory.md and qr-memory.json.
 *
 * Series, each in this one process, memory sampled after a forced full GC:
 * - `decodeCode` on a valid PNG (offpay's path through codecs/qr/zxing.ts), QR_MEMORY_DECODES decodes
 *   (default 200,000), a sample every QR_MEMORY_EVERY (default 10,000);
 * - the camera scanner on seeded 640x480 camera frames (cheap-pass reads, a thorough-pass read, a blank
 *   card, in turn), QR_MEMORY_FRAMES
 *   pushes (default 20,000), a sample every tenth of them;
 * - for reference, zxing-wasm 3.1.4's own `readBarcodes` on the same PNG, QR_MEMORY_LEAK_DECODES decodes
 *   (default 40,000; 0 to skip), run last because what it leaks stays.
 */
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { readBarcodes } from 'zxing-wasm/full';
import { decodeCode, encodeCode, qrReader, ZXING_WASM_VERSION_PINNED } from '../codecs/qr/engine.js';
import { loadQrEngineNode } from '../codecs/qr/node.js';
import { createQrScanner } from '../codecs/qr/scanner.js';
import { shoot, shootEmpty } from '../codecs/qr/sim/camera.js';
import { machine, writeResults } from './common.js';

setFlagsFromString('--expose-gc');
const gc = runInNewContext('gc') as () => void;

const DECODES = Number(process.env.QR_MEMORY_DECODES ?? 200_000);
const EVERY = Number(process.env.QR_MEMORY_EVERY ?? 10_000);
const FRAMES = Number(process.env.QR_MEMORY_FRAMES ?? 20_000);
const LEAK_DECODES = Number(process.env.QR_MEMORY_LEAK_DECODES ?? 40_000);
const MB = 2 ** 20;
const r1 = (x: number): number => Math.round(x * 10) / 10;

interface Sample {
  n: number;
  heapMB: number;
  arrayBuffersMB: number;
  rssMB: number;
  wasmMB: number;
  seconds: number;
}

function sample(n: number, t0: number): Sample {
  gc();
  gc();
  const m = process.memoryUsage();
  return { n, heapMB: r1(m.heapUsed / MB), arrayBuffersMB: r1(m.arrayBuffers / MB), rssMB: r1(m.rss / MB), wasmMB: r1(qrReader().wasmMemoryBytes / MB), seconds: r1((performance.now() - t0) / 1000) };
}

async function series(name: string, total: number, every: number, step: (i: number) => Promise<void> | void): Promise<Sample[]> {
  const t0 = performance.now();
  const out = [sample(0, t0)];
  process.stdout.write(`${name}\n  ${JSON.stringify(out[0])}\n`);
  for (let i = 0; i < total; i++) {
    await step(i);
    if ((i + 1) % every === 0) {
      out.push(sample(i + 1, t0));
      process.stdout.write(`  ${JSON.stringify(out[out.length - 1])}\n`);
    }
  }
  return out;
}

/** Growth from the first sample after warm-up (the 2nd) to the last, and the spread over that range. */
function summary(s: Sample[]): { heapPlusBuffersGrowthMB: number; spreadMB: number; rssGrowthMB: number; perOpBytes: number } {
  const from = s[Math.min(1, s.length - 1)]!;
  const to = s[s.length - 1]!;
  const hb = s.slice(1).map((x) => x.heapMB + x.arrayBuffersMB);
  return {
    heapPlusBuffersGrowthMB: r1(to.heapMB + to.arrayBuffersMB - from.heapMB - from.arrayBuffersMB),
    spreadMB: r1(Math.max(...hb) - Math.min(...hb)),
    rssGrowthMB: r1(to.rssMB - from.rssMB),
    perOpBytes: to.n > from.n ? Math.round(((to.heapMB + to.arrayBuffersMB - from.heapMB - from.arrayBuffersMB) * MB) / (to.n - from.n)) : 0,
  };
}

async function main(): Promise<void> {
  await loadQrEngineNode();
  const payload = Uint8Array.from({ length: 200 }, (_, i) => (i * 73 + 29) & 0xff);
  const code = await encodeCode(payload, { scale: 2 });
  const png = code.png;
  const check = (n: number): void => {
    if (n !== payload.length) throw new Error('decode failed');
  };

  const decode = await series(`decodeCode, PNG ${png.length} B`, DECODES, EVERY, async () => check((await decodeCode(png, { symbologies: ['qr'] })).payload.length));

  const cam = { width: 640, height: 480, pixelsPerModule: 4, noise: 6, rotationDeg: 8 };
  // Two frames the cheap pass reads, one (2 px/module) only the thorough pass reads, one blank card.
  const frames = [shoot(code.matrix, cam, 1).frame, shoot(code.matrix, cam, 2).frame, shoot(code.matrix, { width: 640, height: 480, pixelsPerModule: 2 }, 1).frame, shootEmpty(cam, 4).frame];
  const scanner = createQrScanner();
  let decodedFrames = 0;
  const scan = await series('scanner.push, 640x480 camera frames', FRAMES, Math.max(1, Math.floor(FRAMES / 10)), (i) => {
    if (scanner.push(frames[i % frames.length]!).status === 'decoded') decodedFrames++;
  });

  const leak =
    LEAK_DECODES > 0
      ? await series(`zxing-wasm ${ZXING_WASM_VERSION_PINNED} readBarcodes, same PNG (reference)`, LEAK_DECODES, Math.max(1, Math.floor(LEAK_DECODES / 8)), async () => {
          const r = await readBarcodes(png, { formats: ['QRCode'], returnErrors: true, maxNumberOfSymbols: 8, textMode: 'Plain' });
          if (!r[0]?.isValid) throw new Error('decode failed');
        })
      : [];

  const env = machine();
  const json = {
    env,
    zxingWasm: ZXING_WASM_VERSION_PINNED,
    png: { bytes: png.length, qrVersion: code.qrVersion },
    decodeCode: { decodes: DECODES, samples: decode, summary: summary(decode) },
    scanner: { frames: FRAMES, decodedFrames, stats: scanner.stats, samples: scan, summary: summary(scan) },
    readBarcodesReference: { decodes: LEAK_DECODES, samples: leak, summary: leak.length ? summary(leak) : undefined },
  };
  const md: string[] = ['# QR reader memory over many decodes', ''];
  md.push(
    `Command: \`npm run build && node dist/bench/qr-memory.bench.js\`. ${env.date}, Node ${env.node}, ${env.cores}x ${env.cpu}, load average ${env.loadAverage1m} at the end (shared machine). ` +
      `zxing-wasm ${ZXING_WASM_VERSION_PINNED}. Memory is sampled after a forced full GC: JS heap in use, ArrayBuffers as Node reports them (the wasm memory is not among them; it is the last column), RSS, and the wasm memory size.`,
    '',
  );
  const table = (title: string, what: string, s: Sample[]): void => {
    const sm = summary(s);
    md.push(`## ${title}`, '', what, '');
    md.push('| ops | heap MB | ArrayBuffers MB | RSS MB | wasm memory MB | seconds |', '|---:|---:|---:|---:|---:|---:|');
    for (const x of s) md.push(`| ${x.n.toLocaleString('en-US')} | ${x.heapMB} | ${x.arrayBuffersMB} | ${x.rssMB} | ${x.wasmMB} | ${x.seconds} |`);
    md.push(
      '',
      `From the first sample after warm-up to the last: heap + ArrayBuffers ${sm.heapPlusBuffersGrowthMB >= 0 ? '+' : ''}${sm.heapPlusBuffersGrowthMB} MB (${sm.perOpBytes} B per op), spread ${sm.spreadMB} MB, RSS ${sm.rssGrowthMB >= 0 ? '+' : ''}${sm.rssGrowthMB} MB.`,
      '',
    );
  };
  table(`decodeCode on a PNG, ${DECODES.toLocaleString('en-US')} decodes`, `A ${png.length}-byte PNG of a 200-byte payload (QR v${code.qrVersion}-M, 2 px/module), \`decodeCode(png, {symbologies: ['qr']})\`, every decode checked.`, decode);
  table(
    `Camera scanner, ${FRAMES.toLocaleString('en-US')} frames`,
    `\`createQrScanner()\` fed 640x480 gray camera frames in turn: two with the code at 4 px/module (rotation 8°, noise 6) that the cheap pass reads, one at 2 px/module that only the thorough pass reads, one blank card. ${decodedFrames} frames decoded; passes: ${JSON.stringify(scanner.stats)}.`,
    scan,
  );
  if (leak.length) {
    table(
      `Reference: zxing-wasm ${ZXING_WASM_VERSION_PINNED} readBarcodes, ${LEAK_DECODES.toLocaleString('en-US')} decodes`,
      'The same PNG through the library\'s own `readBarcodes` (which never deletes its result vector): what codecs/qr/zxing.ts fixes.',
      leak,
    );
  }
  writeResults('qr-memory', md.join('\n') + '\n', json);
  process.stdout.write('wrote bench/results/qr-memory.md and qr-memory.json\n');
}

await main();
