/**
 * Acoustic transport benchmark (issue 3): success tables through the seeded channel simulator, false
 * frames over noise / speech-like / music-like input, air time for 200 bytes, decode speed, and the same
 * payloads and channels through the npm `ggwave` package (0.4.0) side by side.
 * Results: bench/results/fsk.md and fsk.json.
 *
 * Since issue 15 also: turbo beside fast on turbo's channels, and sweeps of SNR, RT60 and DRR that find where turbo
 * and fast fall below 95 %.
 *
 * Run: npm run bench:fsk [-- --quick] [-- --trials N] [-- --gg-trials N] [-- --false-minutes M] [-- --only success,sweep,false,speed]
 *      [-- --name RESULTS_NAME]
 *   full run: 20 trials per cell (offpay and ggwave), 10 minutes of each false-detection input.
 *   --quick:  5 offpay trials, 3 ggwave trials per cell, 0.5 minute of each false-detection input.
 */
import { createRequire } from 'node:module';
import { loadavg } from 'node:os';
import {
  activePower, airTime, encode, FskReceiver, getProfile, makeRng, musicLike, pinkNoise, simulate, speechLike, whiteNoise,
  type ChannelOptions, type FskProfileName,
} from '../codecs/fsk/index.js';
import { setFftArenaBackend } from '../codecs/fsk/fft.js';
import { simdKernels } from '../codecs/fsk/wasm.js';
import { machine, writeResults } from './common.js';
import { toHex } from '../base/hex.js';

const args = process.argv.slice(2);
const quick = args.includes('--quick');
const argNum = (name: string, def: number) => {
  const i = args.indexOf(name);
  return i >= 0 && args[i + 1] !== undefined ? Number(args[i + 1]) : def;
};
const TRIALS = argNum('--trials', quick ? 5 : 20);
const GG_TRIALS = argNum('--gg-trials', quick ? 3 : 20);
const FALSE_MINUTES = argNum('--false-minutes', quick ? 0.5 : 10);
const ONLY = (() => {
  const i = args.indexOf('--only');
  return i >= 0 ? new Set((args[i + 1] ?? '').split(',')) : null;
})();
const want = (s: string) => !ONLY || ONLY.has(s);
/** Result file name under bench/results/ (default fsk). */
const NAME = (() => {
  const i = args.indexOf('--name');
  return i >= 0 && /^[\w.-]+$/.test(args[i + 1] ?? '') ? args[i + 1]! : 'fsk';
})();
const RATE = 48000;
const PAYLOAD = 200;

/** The channels of issue 15 that `turbo` must pass 20/20 (spec/fsk.md §14.7). */
const TURBO_CONDITIONS: [string, Omit<ChannelOptions, 'seed'>][] = [
  ['awgn +5 dB, +0.5 % offset', { snrDb: 5, clockOffset: 0.005 }],
  ['awgn +5 dB, -0.5 % offset', { snrDb: 5, clockOffset: -0.005 }],
  ['awgn +5 dB, +0.5 % offset, 44.1 kHz capture', { snrDb: 5, clockOffset: 0.005, outRate: 44100 }],
  ['awgn +5 dB, -0.5 % offset, 44.1 kHz capture', { snrDb: 5, clockOffset: -0.005, outRate: 44100 }],
  ['RT60 0.3 s DRR +10 dB, +10 dB SNR, +0.4 % offset', { rt60: 0.3, drrDb: 10, snrDb: 10, clockOffset: 0.004 }],
];

interface Cell {
  id: string;
  profile: FskProfileName;
  ggProtocol: 'AUDIBLE_FASTEST' | 'ULTRASOUND_FASTEST';
  goal: string;
  channel: Omit<ChannelOptions, 'seed'>;
  chunk: number;
}

const CELLS: Cell[] = [
  { id: 'fast awgn 0 dB', profile: 'fast', ggProtocol: 'AUDIBLE_FASTEST', goal: '100 %', channel: { snrDb: 0 }, chunk: 4096 },
  { id: 'fast +1 % offset, 0 dB', profile: 'fast', ggProtocol: 'AUDIBLE_FASTEST', goal: '100 %', channel: { snrDb: 0, clockOffset: 0.01 }, chunk: 4096 },
  { id: 'fast -1 % offset, 0 dB', profile: 'fast', ggProtocol: 'AUDIBLE_FASTEST', goal: '100 %', channel: { snrDb: 0, clockOffset: -0.01 }, chunk: 4096 },
  { id: 'fast RT60 0.6 s DRR +10 dB (20 dB SNR)', profile: 'fast', ggProtocol: 'AUDIBLE_FASTEST', goal: '100 %', channel: { rt60: 0.6, drrDb: 10, snrDb: 20 }, chunk: 4096 },
  { id: 'fast 44.1 kHz capture, 128-sample chunks (10 dB SNR)', profile: 'fast', ggProtocol: 'AUDIBLE_FASTEST', goal: '100 %', channel: { outRate: 44100, snrDb: 10 }, chunk: 128 },
  { id: 'fast 6 dB clipping (20 dB SNR)', profile: 'fast', ggProtocol: 'AUDIBLE_FASTEST', goal: '100 %', channel: { clipDb: 6, snrDb: 20 }, chunk: 4096 },
  { id: 'robust awgn -2.5 dB', profile: 'robust', ggProtocol: 'AUDIBLE_FASTEST', goal: '100 %', channel: { snrDb: -2.5 }, chunk: 4096 },
  { id: 'robust RT60 0.6 s DRR 0 dB (20 dB SNR)', profile: 'robust', ggProtocol: 'AUDIBLE_FASTEST', goal: '>= 95 %', channel: { rt60: 0.6, drrDb: 0, snrDb: 20 }, chunk: 4096 },
  { id: 'robust RT60 0.8 s DRR 0 dB (20 dB SNR)', profile: 'robust', ggProtocol: 'AUDIBLE_FASTEST', goal: '>= 95 %', channel: { rt60: 0.8, drrDb: 0, snrDb: 20 }, chunk: 4096 },
  { id: 'robust RT60 1.0 s DRR 0 dB (20 dB SNR)', profile: 'robust', ggProtocol: 'AUDIBLE_FASTEST', goal: '>= 95 %', channel: { rt60: 1.0, drrDb: 0, snrDb: 20 }, chunk: 4096 },
  { id: 'ultrasonic awgn -5 dB, +1 % offset', profile: 'ultrasonic', ggProtocol: 'ULTRASOUND_FASTEST', goal: '100 %', channel: { snrDb: -5, clockOffset: 0.01 }, chunk: 4096 },
  { id: 'ultrasonic awgn -5 dB, -1 % offset', profile: 'ultrasonic', ggProtocol: 'ULTRASOUND_FASTEST', goal: '100 %', channel: { snrDb: -5, clockOffset: -0.01 }, chunk: 4096 },
  // issue 15: turbo's two conditions (128-sample chunks), with fast on the same channels beside it.
  ...TURBO_CONDITIONS.flatMap(([id, channel]) => (['turbo', 'fast'] as const).map((profile): Cell => ({
    id: `${profile} ${id}`, profile, ggProtocol: 'AUDIBLE_FASTEST', goal: profile === 'turbo' ? '100 % (issue 15)' : '-', channel, chunk: 128,
  }))),
];

const hex = toHex;

function log(s: string) {
  process.stderr.write(s + '\n');
}

/** Streaming decode (all profiles on) of a capture in `chunk`-sample pushes. */
function offpayDecode(
  samples: Float32Array, rate: number, chunk: number, profiles?: FskProfileName[],
): { messages: Uint8Array[]; byteErrors: number[]; ms: number; preambles: number; failures: string[] } {
  const t0 = performance.now();
  const rx = new FskReceiver({ sampleRate: rate, ...(profiles ? { profiles } : {}) });
  const messages: Uint8Array[] = [];
  const byteErrors: number[] = [];
  const failures: string[] = [];
  let preambles = 0;
  const take = (evs: ReturnType<FskReceiver['push']>) => {
    for (const e of evs) {
      if (e.type === 'message') messages.push(e.payload);
      else if (e.type === 'frame') byteErrors.push(e.frame.diagnostics.byteErrors);
      else if (e.type === 'preamble') preambles++;
      else if (e.type === 'failure') failures.push(e.code);
    }
  };
  for (let i = 0; i < samples.length; i += chunk) take(rx.push(samples.subarray(i, i + chunk)));
  take(rx.flush());
  return { messages, byteErrors, ms: performance.now() - t0, preambles, failures };
}

// ---------------------------------------------------------------- ggwave wrapper
/* eslint-disable @typescript-eslint/no-explicit-any */
interface Gg {
  encode(payload: Uint8Array, protocol: string): Float32Array;
  decoder(rate: number): { push(x: Float32Array): Uint8Array[]; free(): void };
}

async function loadGgwave(): Promise<Gg> {
  const require = createRequire(import.meta.url);
  const factory = require('ggwave') as () => Promise<any>;
  const g = await factory();
  const quiet = <T>(fn: () => T): T => {
    const orig = console.log;
    const w = process.stdout.write.bind(process.stdout);
    console.log = () => {};
    (process.stdout as any).write = () => true;
    try {
      return fn();
    } finally {
      console.log = orig;
      (process.stdout as any).write = w;
    }
  };
  quiet(() => g.disableLog());
  const params = (rateInp: number) => {
    const p = g.getDefaultParameters();
    p.sampleRateInp = rateInp;
    p.sampleRateOut = RATE;
    p.sampleFormatInp = g.SampleFormat.GGWAVE_SAMPLE_FORMAT_F32;
    p.sampleFormatOut = g.SampleFormat.GGWAVE_SAMPLE_FORMAT_F32;
    return p;
  };
  const tx = quiet(() => g.init(params(RATE)));
  return {
    encode(payload, protocol) {
      const wf = quiet(() => g.encode(tx, payload, g.ProtocolId[`GGWAVE_PROTOCOL_${protocol}`], 25)) as Int8Array;
      const copy = new Uint8Array(wf.byteLength);
      copy.set(new Uint8Array(wf.buffer, wf.byteOffset, wf.byteLength));
      return new Float32Array(copy.buffer);
    },
    decoder(rate) {
      const inst = quiet(() => g.init(params(rate)));
      return {
        push(x) {
          const bytes = new Int8Array(x.buffer.slice(x.byteOffset, x.byteOffset + x.byteLength));
          const res = quiet(() => g.decode(inst, bytes)) as Int8Array;
          return res && res.byteLength > 0 ? [new Uint8Array(res.buffer.slice(res.byteOffset, res.byteOffset + res.byteLength))] : [];
        },
        free() {
          // ggwave allows only a few live instances.
          quiet(() => g.free(inst));
        },
      };
    },
  };
}

/** 200 B through ggwave = two 100-byte messages (140-byte cap), 0.2 s apart. */
function ggTransmit(gg: Gg, payload: Uint8Array, protocol: string): Float32Array {
  const a = gg.encode(payload.subarray(0, 100), protocol);
  const b = gg.encode(payload.subarray(100), protocol);
  const gap = Math.round(0.2 * RATE);
  const out = new Float32Array(a.length + gap + b.length);
  out.set(a, 0);
  out.set(b, a.length + gap);
  return out;
}

function ggDecode(gg: Gg, samples: Float32Array, rate: number, chunk: number): { messages: Uint8Array[]; ms: number } {
  const t0 = performance.now();
  const d = gg.decoder(rate);
  const messages: Uint8Array[] = [];
  for (let i = 0; i < samples.length; i += chunk) messages.push(...d.push(samples.slice(i, i + chunk)));
  d.free();
  return { messages, ms: performance.now() - t0 };
}

// ---------------------------------------------------------------- runs
interface CellResult {
  cell: string;
  goal: string;
  trials: number;
  success: number;
  meanByteErrors: number | null;
  meanDecodeMs: number;
  failures: Record<string, number>;
}

function runOffpay(cell: Cell): CellResult {
  let success = 0;
  const errs: number[] = [];
  const failures: Record<string, number> = {};
  let ms = 0;
  for (let t = 0; t < TRIALS; t++) {
    const payload = makeRng(10_000 + t).bytes(PAYLOAD);
    const y = simulate(encode(payload, { profile: cell.profile, sampleRate: RATE }), RATE, { seed: 20_000 + t, leadIn: [0.2, 0.5], ...cell.channel });
    const r = offpayDecode(y.samples, y.rate, cell.chunk);
    ms += r.ms;
    errs.push(...r.byteErrors);
    const ok = r.messages.length === 1 && hex(r.messages[0]!) === hex(payload);
    if (ok) success++;
    else {
      const why = r.messages.length ? 'wrong payload' : (r.failures[0] ?? (r.preambles ? 'fsk.no_postamble' : 'fsk.no_preamble'));
      failures[why] = (failures[why] ?? 0) + 1;
    }
  }
  return {
    cell: cell.id, goal: cell.goal, trials: TRIALS, success, failures,
    meanByteErrors: errs.length ? Number((errs.reduce((a, b) => a + b, 0) / errs.length).toFixed(1)) : null,
    meanDecodeMs: Number((ms / TRIALS).toFixed(1)),
  };
}

/**
 * Where a profile stops working (issue 15): success over TRIALS seeded trials at each step of a sweep, from the
 * easiest step down, stopping after the first step below 95 %.
 */
interface SweepRow {
  sweep: string;
  profile: FskProfileName;
  steps: { value: number; success: number; trials: number; meanByteErrors: number | null }[];
  /** Hardest value still >= 95 % (null: none). */
  lastPass: number | null;
  /** First value below 95 % (null: every step passed). */
  firstFail: number | null;
}

const SWEEPS: { name: string; unit: string; values: number[]; channel: (v: number) => Omit<ChannelOptions, 'seed'>; chunk: number }[] = [
  { name: 'white noise SNR, +0.5 % offset, 128-sample chunks', unit: 'dB', values: [8, 6, 5, 4, 3, 2, 1, 0, -1, -2, -3], channel: (v) => ({ snrDb: v, clockOffset: 0.005 }), chunk: 128 },
  { name: 'RT60 at DRR +10 dB, +10 dB SNR, +0.4 % offset', unit: 's', values: [0.3, 0.5, 0.7, 1.0, 1.5, 2.0], channel: (v) => ({ rt60: v, drrDb: 10, snrDb: 10, clockOffset: 0.004 }), chunk: 128 },
  { name: 'DRR at RT60 0.3 s, +10 dB SNR, +0.4 % offset', unit: 'dB', values: [10, 7, 5, 3, 1, 0, -2], channel: (v) => ({ rt60: 0.3, drrDb: v, snrDb: 10, clockOffset: 0.004 }), chunk: 128 },
];

function runSweeps(): SweepRow[] {
  const rows: SweepRow[] = [];
  for (const sw of SWEEPS) {
    for (const profile of ['turbo', 'fast'] as const) {
      const row: SweepRow = { sweep: `${sw.name} (${sw.unit})`, profile, steps: [], lastPass: null, firstFail: null };
      for (const v of sw.values) {
        const r = runOffpay({ id: `${profile} ${sw.name} ${v}`, profile, ggProtocol: 'AUDIBLE_FASTEST', goal: '-', channel: sw.channel(v), chunk: sw.chunk });
        row.steps.push({ value: v, success: r.success, trials: r.trials, meanByteErrors: r.meanByteErrors });
        log(`sweep ${profile} ${sw.name} ${v}: ${r.success}/${r.trials} (mean byte errors ${r.meanByteErrors})`);
        if (r.success >= 0.95 * r.trials) row.lastPass = v;
        else {
          row.firstFail = v;
          break;
        }
      }
      rows.push(row);
    }
  }
  return rows;
}

function runGg(gg: Gg, cell: Cell): CellResult {
  let success = 0;
  let ms = 0;
  const failures: Record<string, number> = {};
  for (let t = 0; t < GG_TRIALS; t++) {
    const payload = makeRng(10_000 + t).bytes(PAYLOAD);
    const y = simulate(ggTransmit(gg, payload, cell.ggProtocol), RATE, { seed: 20_000 + t, leadIn: [0.2, 0.5], ...cell.channel });
    // ggwave needs >= 4096-sample chunks for non-48 kHz input (research note §3.8); we give it 4096 there.
    const chunk = y.rate === RATE ? 1024 : 4096;
    const r = ggDecode(gg, y.samples, y.rate, chunk);
    ms += r.ms;
    const got = r.messages.map(hex).join('');
    if (got === hex(payload)) success++;
    else {
      const why = `${r.messages.length}/2 messages`;
      failures[why] = (failures[why] ?? 0) + 1;
    }
  }
  return { cell: cell.id, goal: '-', trials: GG_TRIALS, success, failures, meanByteErrors: null, meanDecodeMs: Number((ms / GG_TRIALS).toFixed(1)) };
}

function falseFrames(minutes: number): { input: string; seconds: number; frames: number; preambles: number; failures: number; xRealtime: number }[] {
  const out = [];
  const block = 30; // seconds generated per piece
  const kinds: [string, (sec: number, seed: number) => Float32Array][] = [
    ['white noise', (s, seed) => Float32Array.from(whiteNoise(Math.round(s * RATE), 0.1, makeRng(seed)))],
    ['pink noise', (s, seed) => Float32Array.from(pinkNoise(Math.round(s * RATE), 0.1, makeRng(seed)))],
    ['speech-like', (s, seed) => speechLike(s, RATE, seed)],
    ['music-like', (s, seed) => musicLike(s, RATE, seed)],
  ];
  for (const [name, gen] of kinds) {
    const total = minutes * 60;
    const rx = new FskReceiver({ sampleRate: RATE });
    let frames = 0;
    let preambles = 0;
    let failures = 0;
    let ms = 0;
    for (let done = 0, seed = 1; done < total; done += block, seed++) {
      const x = gen(Math.min(block, total - done), 900 + seed);
      const t0 = performance.now();
      const evs = [];
      for (let i = 0; i < x.length; i += 1024) evs.push(...rx.push(x.subarray(i, i + 1024)));
      ms += performance.now() - t0;
      for (const e of evs) {
        if (e.type === 'frame') frames++;
        if (e.type === 'preamble') preambles++;
        if (e.type === 'failure') failures++;
      }
    }
    for (const e of rx.flush()) if (e.type === 'frame') frames++;
    out.push({ input: name, seconds: total, frames, preambles, failures, xRealtime: Math.round((total * 1000) / ms) });
    log(`false frames: ${name} ${total} s -> ${frames} frames (${preambles} preamble candidates)`);
  }
  return out;
}

function speed(gg: Gg): Record<string, number> {
  // Streams of noise only, and with 5 x 200-byte transmissions at 10 dB full-band SNR; 1024-sample calls.
  const seconds = quick ? 45 : 60; // ggwave needs ~7.7 s per 200 B, so the 5 transmissions must not overlap
  const noise = Float32Array.from(whiteNoise(seconds * RATE, 0.05, makeRng(5)));
  const withFrames = noise.slice();
  const ggFrames = noise.slice();
  const noisePower = 0.05 * 0.05;
  for (let k = 0; k < 5; k++) {
    const payload = makeRng(300 + k).bytes(PAYLOAD);
    const at = Math.round((1 + k * (seconds / 5 - 0.2)) * RATE);
    // Each waveform scaled to 10 dB full-band SNR over the noise.
    for (const [dst, x] of [[withFrames, encode(payload, { profile: 'fast' })], [ggFrames, ggTransmit(gg, payload, 'AUDIBLE_FASTEST')]] as const) {
      const g = Math.sqrt((noisePower * 10) / activePower(x));
      for (let i = 0; i < x.length && at + i < dst.length; i++) dst[at + i] = dst[at + i]! + x[i]! * g;
    }
  }
  const res: Record<string, number> = { seconds };
  const best = (fn: () => number) => Math.min(fn(), fn(), fn());
  res.offpayNoise = Math.round((seconds * 1000) / best(() => offpayDecode(noise, RATE, 1024).ms));
  // Listening for turbo (issue 15: at most 25 % more idle CPU): the same receiver without it.
  res.offpayNoiseWithoutTurbo = Math.round((seconds * 1000) / best(() => offpayDecode(noise, RATE, 1024, ['fast', 'robust', 'ultrasonic']).ms));
  res.offpayFrames = Math.round((seconds * 1000) / best(() => offpayDecode(withFrames, RATE, 1024).ms));
  res.offpayFramesDecoded = offpayDecode(withFrames, RATE, 1024).messages.length;
  // The same receiver on its TypeScript path (what runs where WebAssembly SIMD is unavailable).
  setFftArenaBackend('typescript');
  try {
    res.offpayNoiseTypescript = Math.round((seconds * 1000) / best(() => offpayDecode(noise, RATE, 1024).ms));
  } finally {
    setFftArenaBackend('wasm');
  }
  res.ggwaveNoise = Math.round((seconds * 1000) / best(() => ggDecode(gg, noise, RATE, 1024).ms));
  res.ggwaveFrames = Math.round((seconds * 1000) / best(() => ggDecode(gg, ggFrames, RATE, 1024).ms));
  res.ggwaveMessagesDecoded = ggDecode(gg, ggFrames, RATE, 1024).messages.length;
  return res;
}

async function main() {
  const started = Date.now();
  const load0 = loadavg();
  const gg = await loadGgwave();
  // Air time for 200 bytes.
  const air: Record<string, number> = {};
  for (const p of ['fast', 'robust', 'ultrasonic', 'turbo'] as const) air[p] = Number(airTime(getProfile(p)!, PAYLOAD).toFixed(4));
  const payload = makeRng(1).bytes(PAYLOAD);
  air.ggwave_AUDIBLE_FASTEST = Number((ggTransmit(gg, payload, 'AUDIBLE_FASTEST').length / RATE - 0.2).toFixed(4));
  air.ggwave_ULTRASOUND_FASTEST = Number((ggTransmit(gg, payload, 'ULTRASOUND_FASTEST').length / RATE - 0.2).toFixed(4));
  log(`air time 200 B: ${JSON.stringify(air)}`);

  const offpay: CellResult[] = [];
  const ggwave: CellResult[] = [];
  for (const cell of want('success') ? CELLS : []) {
    const r = runOffpay(cell);
    offpay.push(r);
    log(`offpay ${cell.id}: ${r.success}/${r.trials} (mean byte errors ${r.meanByteErrors}) ${JSON.stringify(r.failures)}`);
    const g = runGg(gg, cell);
    ggwave.push(g);
    log(`ggwave ${cell.ggProtocol} ${cell.id}: ${g.success}/${g.trials} ${JSON.stringify(g.failures)}`);
  }
  const sweeps = want('sweep') ? runSweeps() : [];
  const falses = want('false') ? falseFrames(FALSE_MINUTES) : [];
  const spd = want('speed') ? speed(gg) : { seconds: 0 };
  log(`speed (x realtime): ${JSON.stringify(spd)}`);
  const load1 = loadavg();

  const pct = (r: CellResult) => `${r.success}/${r.trials} (${Math.round((100 * r.success) / r.trials)} %)`;
  const md: string[] = [];
  md.push('# fsk benchmark (acoustic transport, issue 3)', '');
  md.push(`Run: \`node dist/bench/fsk.bench.js ${args.join(' ')}\` — ${quick ? '**quick run**' : 'full run'}: ${TRIALS} offpay trials and ${GG_TRIALS} ggwave trials per cell, ${FALSE_MINUTES} min of each false-detection input.`);
  const m = machine();
  md.push(`Machine: ${m.cpu}, ${m.cores} cores, Node ${m.node}, ${m.date}. Load average at start ${load0.map((x) => x.toFixed(2)).join(' ')}, at end ${load1.map((x) => x.toFixed(2)).join(' ')} (the CPU is shared; timings vary about 2x). Wall time ${((Date.now() - started) / 1000).toFixed(0)} s.`, '');
  md.push('SNR is full-band (spec/fsk.md §9). Payload 200 random bytes per trial (seeded), random 0.2-0.5 s lead-in, seeded channel per trial; the same payloads and channel seeds go through ggwave, which sends 200 B as two 100-byte messages (its cap is 140 B) and counts as a success only when both decode. offpay decodes with its streaming receiver listening for all profiles at once.', '');
  md.push('## Air time for 200 bytes', '', '| transmitter | seconds | vs ggwave AUDIBLE_FASTEST |', '|---|---|---|');
  for (const [k, v] of Object.entries(air)) md.push(`| ${k} | ${v.toFixed(3)} | ${(air.ggwave_AUDIBLE_FASTEST! / v).toFixed(1)}x faster |`);
  md.push('', '## Success (same payloads and channels)', '', '| cell | goal | offpay | mean byte errors before RS | offpay failures | ggwave (protocol) | ggwave failures |', '|---|---|---|---|---|---|---|');
  CELLS.forEach((c, i) => {
    const o = offpay[i];
    const g = ggwave[i];
    if (!o || !g) return;
    md.push(`| ${c.id} | ${c.goal} | ${pct(o)} | ${o.meanByteErrors ?? '-'} | ${Object.entries(o.failures).map(([k, v]) => `${k} x${v}`).join(', ') || '-'} | ${pct(g)} (${c.ggProtocol}) | ${Object.entries(g.failures).map(([k, v]) => `${k} x${v}`).join(', ') || '-'} |`);
  });
  if (sweeps.length) {
    md.push('', '## Where turbo and fast stop working (issue 15)', '', `${TRIALS} seeded trials per step, 200 B, the streaming receiver listening for all profiles; each sweep goes from the easiest step down and stops after the first step below 95 %.`, '');
    md.push('| sweep | profile | steps (value: success, mean byte errors) | hardest >= 95 % | first < 95 % |', '|---|---|---|---|---|');
    for (const r of sweeps) {
      md.push(`| ${r.sweep} | ${r.profile} | ${r.steps.map((x) => `${x.value}: ${x.success}/${x.trials}${x.meanByteErrors === null ? '' : ` (${x.meanByteErrors})`}`).join('; ')} | ${r.lastPass ?? 'none'} | ${r.firstFail ?? 'none'} |`);
    }
  }
  md.push('', '## False frames (offpay streaming receiver, all profiles)', '', '| input | duration | frames emitted | preamble candidates | failure events | x realtime |', '|---|---|---|---|---|---|');
  for (const f of falses) md.push(`| ${f.input} | ${(f.seconds / 60).toFixed(1)} min | ${f.frames} | ${f.preambles} | ${f.failures} | ${f.xRealtime} |`);
  md.push('', '## Decode speed (x realtime, one core, best of 3, 1024-sample calls)', '', `| stream (${spd.seconds} s at 48 kHz) | offpay (all profiles) | ggwave (default Rx protocols) |`, '|---|---|---|');
  md.push(`| noise only | ${spd.offpayNoise} | ${spd.ggwaveNoise} |`);
  md.push(`| 5 x 200 B frames in noise | ${spd.offpayFrames} (${spd.offpayFramesDecoded}/5 decoded) | ${spd.ggwaveFrames} (${spd.ggwaveMessagesDecoded}/10 messages) |`);
  md.push(`| noise only, offpay on its TypeScript path (no WebAssembly) | ${spd.offpayNoiseTypescript ?? '-'} | |`);
  md.push(`| noise only, offpay without turbo (fast, robust, ultrasonic) | ${spd.offpayNoiseWithoutTurbo ?? '-'} | |`);
  md.push('', `offpay's receiver transforms ran as ${simdKernels() ? 'WebAssembly SIMD kernels (codecs/fsk/wasm.ts)' : 'TypeScript (WebAssembly SIMD unavailable)'} in the rows above unless marked.`);
  md.push('');
  writeResults(NAME, md.join('\n'), { machine: m, args, quick, trials: TRIALS, ggTrials: GG_TRIALS, falseMinutes: FALSE_MINUTES, airTime200: air, offpay, ggwave, sweeps, falseFrames: falses, speed: spd, receiverTransforms: simdKernels() ? 'wasm-simd' : 'typescript', loadavg: { start: load0, end: load1 } });
  process.stdout.write(md.join('\n') + '\n');
}

await main();
