/**
 * Golden receiver test (issue 14: the FskReceiver split must keep every score and decoded result
 * bit-identical). For every fixture WAV and a seeded set of impaired signals, it records the receiver's
 * events, its level meter and the exact values behind them (the trace tap of codecs/fsk/trace.ts: every
 * chirp peak, every frame sync tried, every decode outcome, as full doubles) and compares them with
 * test/fsk/golden/receiver.json. JSON keeps doubles exactly, so any change of any score fails.
 *
 * Re-record (only when a change of scores is intended and explained in the commit):
 *   GOLDEN_UPDATE=1 npx vitest run test/fsk/golden.test.ts
 */
import { describe, expect, it } from 'vitest';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import {
  encode, FskReceiver, makeRng, musicLike, pinkNoise, readWav, simulate, speechLike, whiteNoise, type ChannelOptions, type FskProfileName,
  type ReceiverOptions,
} from '../../codecs/fsk/index.js';
import { setFftArenaBackend } from '../../codecs/fsk/fft.js';
import { setReceiverTrace, type TraceRecord } from '../../codecs/fsk/trace.js';

const fixtures = join(__dirname, '..', '..', 'fixtures', 'fsk');
const goldenFile = join(__dirname, 'golden', 'receiver.json');
const update = process.env.GOLDEN_UPDATE === '1';

interface Case {
  name: string;
  rate: number;
  options?: Omit<ReceiverOptions, 'sampleRate'>;
  samples: () => Float32Array;
  chunk: number;
}

/** The receiver's complete observable output on one input, in push order. */
function run(c: Case, rx?: FskReceiver): unknown {
  const x = c.samples();
  const records: TraceRecord[] = [];
  setReceiverTrace((r) => records.push(r));
  try {
    const receiver = rx ?? new FskReceiver({ ...c.options, sampleRate: c.rate });
    const pushes: unknown[] = [];
    for (let i = 0; i < x.length; i += c.chunk) {
      const ev = receiver.push(x.subarray(i, i + c.chunk));
      if (ev.length) pushes.push({ at: i, events: ev });
    }
    pushes.push({ at: 'flush', events: receiver.flush() });
    return JSON.parse(JSON.stringify({ pushes, level: receiver.level(), trace: records }, (_k, v: unknown) => (v instanceof Uint8Array ? Buffer.from(v).toString('hex') : v)));
  } finally {
    setReceiverTrace(null);
  }
}

function tx(profile: FskProfileName, bytes: number, seed: number, rate = 48000): Float32Array {
  return encode(makeRng(seed).bytes(bytes), { profile, sampleRate: rate });
}

function channel(x: Float32Array, ch: ChannelOptions): () => Float32Array {
  return () => simulate(x, 48000, ch).samples;
}

function concat(parts: Float32Array[], gap: number, noise = 0, seed = 1): Float32Array {
  const out = new Float32Array(parts.reduce((n, p) => n + p.length + gap, gap));
  let off = gap;
  for (const p of parts) {
    out.set(p, off);
    off += p.length + gap;
  }
  if (noise > 0) {
    const rng = makeRng(seed);
    for (let i = 0; i < out.length; i++) out[i] = out[i]! + noise * rng.gauss();
  }
  return out;
}

const manifest = JSON.parse(readFileSync(join(fixtures, 'manifest.json'), 'utf8')) as { files: { file: string; kind: string }[] };

const cases: Case[] = [
  ...manifest.files.filter((f) => f.kind !== 'invalid').map((f): Case => {
    const wav = readWav(new Uint8Array(readFileSync(join(fixtures, f.file))));
    return { name: `fixture ${f.file}`, rate: wav.sampleRate, samples: () => wav.samples, chunk: 4096 };
  }),
  { name: 'fast 200 B, 0 dB', rate: 48000, samples: channel(tx('fast', 200, 1), { seed: 11, snrDb: 0, leadIn: [0.2, 0.5] }), chunk: 1024 },
  { name: 'fast 120 B, +1.5 % offset, 3 dB', rate: 48000, samples: channel(tx('fast', 120, 2), { seed: 12, snrDb: 3, clockOffset: 0.015 }), chunk: 4096 },
  { name: 'fast 200 B, -9 dB (failure path)', rate: 48000, samples: channel(tx('fast', 200, 3), { seed: 13, snrDb: -9 }), chunk: 4096 },
  { name: 'fast 200 B, -6.5 dB (RS at its limit)', rate: 48000, samples: channel(tx('fast', 200, 3), { seed: 14, snrDb: -6.5 }), chunk: 4096 },
  { name: 'robust 200 B, RT60 1.0 s DRR 0 dB (reverberation metrics)', rate: 48000, samples: channel(tx('robust', 200, 4), { seed: 15, rt60: 1.0, drrDb: 0, snrDb: 20 }), chunk: 4096 },
  { name: 'robust 80 B, dropouts and clicks', rate: 48000, samples: channel(tx('robust', 80, 5), { seed: 16, snrDb: 8, dropouts: { count: 2, duration: 0.0125 }, clicks: { count: 3, levelDb: 20 } }), chunk: 700 },
  { name: 'ultrasonic 12 B, -5 dB, -1 % offset', rate: 48000, samples: channel(tx('ultrasonic', 12, 6), { seed: 17, snrDb: -5, clockOffset: -0.01 }), chunk: 4096 },
  { name: 'ultrasonic 12 B, -7 dB, +1 % offset (ill-conditioned spacing: clock-offset retries)', rate: 48000, samples: channel(encode(makeRng(1200).bytes(12), { profile: 'ultrasonic' }), { seed: 900, leadIn: [0.2, 0.5], snrDb: -7, clockOffset: 0.01 }), chunk: 4096 },
  { name: 'ultrasonic 300 B, 44.1 kHz capture, +0.7 %, -3 dB', rate: 44100, samples: channel(tx('ultrasonic', 300, 7), { seed: 18, outRate: 44100, snrDb: -3, clockOffset: 0.007 }), chunk: 128 },
  { name: 'fast 1300 B in 3 segments, 10 dB, 128-sample pushes', rate: 48000, samples: channel(tx('fast', 1300, 8), { seed: 19, snrDb: 10 }), chunk: 128 },
  { name: 'fast pink noise 5 dB, band limit and tilt', rate: 48000, samples: channel(tx('fast', 200, 9), { seed: 20, noise: 'pink', snrDb: 5, bandLowHz: 300, bandHighHz: 12000, tiltDbPerOctave: -2 }), chunk: 4096 },
  {
    name: 'robust, fast, ultrasonic back to back in noise, 1000-sample pushes', rate: 48000, chunk: 1000,
    samples: () => concat([tx('robust', 50, 21), tx('fast', 90, 22), tx('ultrasonic', 30, 23)], 9600, 0.02, 24),
  },
  {
    name: 'tiny frames at sample 0, 1-sample pushes', rate: 48000, chunk: 1,
    samples: () => concat([tx('ultrasonic', 0, 25), tx('fast', 1, 26)], 0),
  },
  { name: 'truncated frame (no postamble)', rate: 48000, samples: () => tx('fast', 200, 27).subarray(0, 20000), chunk: 4096 },
  { name: 'frame cut at the start', rate: 48000, samples: () => concat([tx('fast', 60, 28).subarray(1500)], 4800), chunk: 4096 },
  {
    name: 'NaN burst inside a robust frame', rate: 48000, chunk: 2048,
    samples: () => {
      const x = concat([tx('robust', 200, 29)], 12000);
      for (let i = 30000; i < 30100; i++) x[i] = NaN;
      return x;
    },
  },
  { name: 'white noise 10 s', rate: 48000, samples: () => Float32Array.from(whiteNoise(10 * 48000, 0.1, makeRng(31))), chunk: 1024 },
  { name: 'pink noise 5 s', rate: 48000, samples: () => Float32Array.from(pinkNoise(5 * 48000, 0.1, makeRng(32))), chunk: 1024 },
  { name: 'speech-like 5 s', rate: 48000, samples: () => speechLike(5, 48000, 33), chunk: 1024 },
  { name: 'music-like 5 s', rate: 48000, samples: () => musicLike(5, 48000, 34), chunk: 1024 },
  {
    name: 'white noise 2 s, threshold 0.01 (false preambles, pairing, expiry)', rate: 48000, chunk: 1024, options: { threshold: 0.01 },
    samples: () => Float32Array.from(whiteNoise(2 * 48000, 0.1, makeRng(37))),
  },
  {
    name: 'two preambles before one postamble, threshold 0.05, in noise', rate: 48000, chunk: 4096, options: { threshold: 0.05 },
    samples: () => concat([tx('fast', 200, 38).subarray(0, 2400), tx('fast', 200, 39), tx('fast', 30, 40).subarray(0, 5000)], 4000, 0.03, 41),
  },
  {
    name: 'ultrasonic only, 1 % max offset, a 1.5 % frame', rate: 48000, chunk: 4096, options: { profiles: ['ultrasonic'], maxClockOffset: 0.01 },
    samples: channel(tx('ultrasonic', 40, 42), { seed: 43, snrDb: 5, clockOffset: 0.015 }),
  },
  {
    name: 'robust only, RT60 0.8 s DRR -3 dB', rate: 48000, chunk: 4096, options: { profiles: ['robust'] },
    samples: channel(tx('robust', 200, 44), { seed: 45, rt60: 0.8, drrDb: -3, snrDb: 20 }),
  },
  {
    name: 'robust, RT60 0.6 s DRR 0 dB: plain energies fail, reverberation metric decodes', rate: 48000, chunk: 4096,
    samples: channel(tx('robust', 200, 44), { seed: 50, rt60: 0.6, drrDb: 0, snrDb: 20 }),
  },
  { name: 'fast 100 B at 32 kHz', rate: 32000, samples: () => concat([tx('fast', 100, 35, 32000)], 3200), chunk: 4096 },
  { name: 'fast 100 B at 96 kHz', rate: 96000, samples: () => concat([tx('fast', 100, 36, 96000)], 9600), chunk: 4096 },
];

describe('golden receiver outputs (bit-identical scores)', () => {
  const golden: Record<string, unknown> = !update && existsSync(goldenFile) ? (JSON.parse(readFileSync(goldenFile, 'utf8')) as Record<string, unknown>) : {};
  const recorded: Record<string, unknown> = {};

  for (const c of cases) {
    it(c.name, () => {
      const out = run(c);
      recorded[c.name] = out;
      if (!update) expect(out).toEqual(golden[c.name]);
    });
  }

  it('the TypeScript transform path gives the same outputs as the WebAssembly path', () => {
    setFftArenaBackend('typescript');
    try {
      for (const name of ['robust, fast, ultrasonic back to back in noise, 1000-sample pushes', 'ultrasonic 12 B, -5 dB, -1 % offset', 'white noise 10 s']) {
        const c = cases.find((x) => x.name === name)!;
        expect(run(c)).toEqual(update ? recorded[name] : golden[name]);
      }
    } finally {
      setFftArenaBackend('wasm');
    }
  });

  it('reset(): one receiver reused across cases gives the golden outputs of fresh receivers', () => {
    const names = [
      'fast 1300 B in 3 segments, 10 dB, 128-sample pushes', 'two preambles before one postamble, threshold 0.05, in noise',
      'robust, RT60 0.6 s DRR 0 dB: plain energies fail, reverberation metric decodes', 'tiny frames at sample 0, 1-sample pushes',
    ];
    const rx = new FskReceiver({ sampleRate: 48000 });
    // Leave it mid-frame, with a pending preamble and a partial segmented message, before the first reset.
    const seg = tx('fast', 1300, 8);
    rx.push(seg.subarray(0, Math.round(seg.length * 0.7)));
    for (const name of names) {
      const c = cases.find((x) => x.name === name)!;
      if (c.options) continue;
      rx.reset();
      expect(run(c, rx)).toEqual(update ? recorded[name] : golden[name]);
    }
    rx.reset();
    expect(rx.level()).toEqual(new FskReceiver({ sampleRate: 48000 }).level());
  });

  it('covers frames, failures and false preambles', () => {
    const all = JSON.stringify(update ? recorded : golden);
    for (const needle of [
      '"type":"frame"', '"type":"message"', '"code":"fsk.rs_failed"', '"code":"fsk.no_postamble"', '"t":"sync"', '"t":"peak"', '"metric":1', '"metric":2', '"metric":1,"result":"ok"',
    ]) {
      expect(all).toContain(needle);
    }
  });

  if (update) {
    it('writes the golden file', () => {
      expect(Object.keys(recorded)).toHaveLength(cases.length);
      writeFileSync(goldenFile, JSON.stringify(recorded) + '\n');
    });
  }
});
