/**
 * Streaming receiver (spec/fsk.md §7). Push samples in chunks of any size; the receiver listens for every
 * enabled profile at once and emits events: 'preamble' (a chirp was heard), 'frame' (a decoded frame with
 * diagnostics), 'message' (a complete, reassembled payload), 'failure' (why a frame that was heard could
 * not be decoded).
 *
 * Algorithm outline:
 * 1. Chirp matched filter by overlap-save FFT. Only the chirp's band is inverse-transformed, into a small
 *    IFFT, so the correlation envelope comes out decimated. Score = normalised correlation rho^2 in [0, 1]
 *    (1 for a clean chirp), which also estimates the full-band SNR as rho^2 / (1 - rho^2).
 * 2. Peaks above the threshold are confirmed one chirp length later. Up-chirps are preamble candidates,
 *    down-chirps postamble candidates; profiles sharing a chirp form one family.
 * 3. Each (preamble, postamble) pair of a family is matched against every (profile, rows) whose nominal
 *    spacing fits within the clock-offset tolerance; the clock offset eps follows from the spacing
 *    (with the first-order delay-Doppler bias of up and down chirps removed), then both chirp positions are
 *    re-measured at full rate with chirp templates time-scaled by (1 + eps).
 * 4. Symbols are demodulated with Goertzel filters at f_k (1 + eps) over windows retimed by 1 / (1 + eps).
 *    Per group, the metric of a tone is its energy minus an estimate of its own reverberant tail.
 * 5. Bytes get a confidence (weakest symbol margin); Reed-Solomon decoding runs with GMD erasure retries;
 *    the header and CRC-32 decide.
 */
import { OffpayError } from '../../src/errors.js';
import { crc32 } from './crc32.js';
import { bitReversal, fft, FftArena, fftDifPackedReal, fftDit, nextPow2 } from './fft.js';
import {
  CRC_BYTES, dataStart, HEADER_BYTES, layoutForRows, MAX_FRAME_PAYLOAD, maxRows, minRows, postambleStart,
  rowsForPayload, symbolCount, type BlockLayout,
} from './frame.js';
import { checkRate, chirpEnvelope } from './modulate.js';
import {
  bitsPerSymbol, FRAME_VERSION, PROFILES, symbolPeriod, symbolsPerByte, toneCount, toneHz, type Profile, type ProfileName,
} from './profiles.js';
import { rsDecode } from './rs.js';
import { trace, tracing } from './trace.js';

export interface ReceiverOptions {
  sampleRate: number;
  /** Profiles to listen for (default: all). */
  profiles?: readonly ProfileName[];
  /** Chirp detection threshold on rho^2 (default 0.08). */
  threshold?: number;
  /** Largest clock offset searched, as a fraction (default 0.02 = 2 %). */
  maxClockOffset?: number;
  /** Called for every event as it happens (in addition to push()'s return value). */
  onEvent?: (e: ReceiverEvent) => void;
}

export interface FrameDiagnostics {
  profile: ProfileName;
  /** Sample index (since the receiver started) of the preamble start. */
  startSample: number;
  /** Received frame length in samples. */
  lengthSamples: number;
  rows: number;
  /** Estimated clock offset: the capture is compressed in time by (1 + eps); in parts per million. */
  clockOffsetPpm: number;
  /** Full-band SNR estimated from the chirp correlations, dB. */
  snrDb: number;
  /** Chosen-tone energy over the mean of the other tones of its group, dB (in-band quality). */
  toneSnrDb: number;
  preambleScore: number;
  postambleScore: number;
  /** Byte errors in the hard decisions before Reed-Solomon (over all codewords). */
  byteErrors: number;
  /** Bytes changed by the Reed-Solomon decoder. */
  bytesCorrected: number;
  /** Erasures used by the successful GMD attempt (sum over codewords). */
  erasures: number;
  codewords: number;
}

export interface FskFrame {
  payload: Uint8Array;
  profile: ProfileName;
  segment: { index: number; count: number };
  diagnostics: FrameDiagnostics;
}

export type ReceiverEvent =
  | { type: 'preamble'; family: string; position: number; score: number; snrDb: number }
  | { type: 'frame'; frame: FskFrame }
  | { type: 'message'; payload: Uint8Array; profile: ProfileName; segments: number }
  | { type: 'failure'; code: string; reason: string; position: number; profile?: ProfileName; detail?: Record<string, unknown> };

export interface InputLevel {
  /** RMS level over roughly the last 0.3 s, dBFS (-Infinity for silence). */
  rmsDbfs: number;
  /** Largest absolute sample seen in the last push, dBFS. */
  peakDbfs: number;
  /** RMS level over everything pushed so far, dBFS. */
  overallRmsDbfs: number;
  samples: number;
  clippedSamples: number;
  nonFiniteSamples: number;
}

interface Template {
  L: number;
  k0: number;
  nb: number;
  fs: number;
  dec: number;
  /**
   * The band product conj(T[k]) X[k] for the bins k0 <= k < k0 + nb, laid out for the inverse transform:
   * bin k goes to slot rev(k - k0) (bit-reversed, so that fftDit needs no permutation). X[k] is taken
   * straight from the packed half-size spectrum Z (in the bit-reversed order fftDif leaves it in):
   * X[k] = A_k Z[k] + B_k conj(Z[h - k]), so slot j holds P[j] Z[i1] + Q[j] conj(Z[i2]) with
   * P = conj(T[k]) A_k and Q = conj(T[k]) B_k precomputed. Slots past the band have P = Q = 0.
   */
  /** (i1, i2) per slot, interleaved. */
  idx: Uint32Array;
  /** (Pr, Pi, Qr, Qi) per slot, interleaved. */
  coef: Float64Array;
  energy: number;
  /** Work buffers for the band IFFT (allocated from the receiver's FftArena). */
  yr: Float64Array;
  yi: Float64Array;
}

interface Peak {
  pos: number;
  score: number;
  consumed?: boolean;
  attempted?: boolean;
}

interface Tracker {
  prev2: number;
  prev1: number;
  prev1Lag: number;
  cand: { lag: number; score: number; pos: number } | null;
}

interface Family {
  key: string;
  profiles: Profile[];
  ref: Profile;
  up: Template;
  down: Template;
  trUp: Tracker;
  trDown: Tracker;
  pres: Peak[];
  /** Longest frame (in receiver samples, at the largest offset) from preamble start to postamble start. */
  maxSpan: number;
  minSpan: number;
  /** 2 f_c T / B in seconds: postamble-minus-preamble peak delay per unit clock offset. */
  biasK: number;
  /** T/2 + f_c T/B for the up-chirp peak delay, seconds per unit offset. */
  upBias: number;
}

const HOP_ALIGN = 64;
const templateCache = new Map<string, Template>();

function newTracker(): Tracker {
  return { prev2: 0, prev1: 0, prev1Lag: -1, cand: null };
}

function dbfs(x: number): number {
  return x > 0 ? 20 * Math.log10(x) : -Infinity;
}

function roundDb(x: number): number {
  return Number.isFinite(x) ? Math.round(x * 10) / 10 : x;
}

export class FskReceiver {
  readonly sampleRate: number;
  private readonly threshold: number;
  private readonly maxEps: number;
  private readonly onEvent: ((e: ReceiverEvent) => void) | undefined;
  private readonly families: Family[] = [];
  private readonly F: number;
  private readonly H: number;
  private readonly Lmax: number;
  private buf: Float32Array;
  /** Absolute index of buf[0]. */
  private base = 0;
  private len = 0;
  /** Absolute index of the next hop's first sample. */
  private hopPos = 0;
  private readonly history: number;
  private events: ReceiverEvent[] = [];
  private readonly arena: FftArena;
  private readonly zr: Float64Array;
  private readonly zi: Float64Array;
  /** Energy prefix sums of the hop: cum[i] = sum of x^2 over its first i * G samples. */
  private readonly cum: Float64Array;
  /** Granularity of cum: a power of two dividing every chirp length and every decimation factor. */
  private readonly G: number;
  private msEma = 0;
  private lastPeak = 0;
  private stats = { samples: 0, clipped: 0, nonFinite: 0, sumSq: 0 };
  /** Per-push level accumulators (a field, so that the copy loops allocate nothing). */
  private readonly acc = { ms: 0, peak: 0, clipped: 0, nonFinite: 0 };
  private reassembly: { count: number; profile: ProfileName; parts: (Uint8Array | undefined)[] } | null = null;

  constructor(options: ReceiverOptions) {
    const rate = options.sampleRate;
    checkRate(rate);
    this.sampleRate = rate;
    this.threshold = options.threshold ?? 0.08;
    this.maxEps = options.maxClockOffset ?? 0.02;
    this.onEvent = options.onEvent;
    const names = options.profiles ?? PROFILES.map((p) => p.name);
    const enabled = PROFILES.filter((p) => names.includes(p.name) && p.chirpHighHz + 200 < rate / 2);
    if (names.some((n) => !PROFILES.some((p) => p.name === n))) {
      throw new OffpayError('fsk.bad_profile', `unknown profile in ${names.join(', ')}`);
    }
    if (enabled.length === 0) {
      throw new OffpayError('fsk.bad_rate', `no requested profile can be received at ${rate} Hz (the chirps need a higher Nyquist frequency)`);
    }
    this.Lmax = Math.ceil(Math.max(1e-3, ...enabled.map((p) => p.chirpDuration)) * rate);
    this.F = nextPow2(Math.max(4 * this.Lmax, 1024));
    this.H = Math.floor((this.F - this.Lmax - 1) / HOP_ALIGN) * HOP_ALIGN;
    let longest = 0;
    for (const p of enabled) {
      const key = `${p.chirpLowHz}-${p.chirpHighHz}-${p.chirpDuration}`;
      let fam = this.families.find((f) => f.key === key);
      if (!fam) {
        const fc = (p.chirpLowHz + p.chirpHighHz) / 2;
        const B = p.chirpHighHz - p.chirpLowHz;
        fam = {
          key, profiles: [], ref: p,
          up: this.makeTemplate(p, true), down: this.makeTemplate(p, false),
          trUp: newTracker(), trDown: newTracker(), pres: [], maxSpan: 0, minSpan: Infinity,
          biasK: (2 * fc * p.chirpDuration) / B, upBias: p.chirpDuration / 2 + (fc * p.chirpDuration) / B,
        };
        this.families.push(fam);
      }
      fam.profiles.push(p);
      fam.maxSpan = Math.max(fam.maxSpan, postambleStart(p, maxRows(p)) * rate * (1 + this.maxEps));
      fam.minSpan = Math.min(fam.minSpan, postambleStart(p, minRows(p)) * rate * (1 - this.maxEps));
      longest = Math.max(longest, fam.maxSpan + 2 * this.Lmax);
    }
    this.history = Math.ceil(longest + 2 * this.F);
    // Headroom of at least half the history, so that compact() moves each sample about twice on average
    // (with only 2F of headroom it copied the whole history every 2F samples).
    const bufLength = this.history + Math.max(2 * this.F, this.history >> 1);
    // The sample buffer and the transform work arrays share one arena (WebAssembly SIMD kernels where
    // available, which read the samples in place).
    const temps = this.families.flatMap((f) => [f.up, f.down]);
    const arena = new FftArena(
      [this.F / 2, ...temps.map((t) => t.fs)],
      // samples (Float32), zr and zi, cum (at most F + 1), and per template yr, yi, idx (Uint32) and coef
      Math.ceil(bufLength / 2) + 2 * this.F + 32 + temps.reduce((a, t) => a + 7 * t.fs + 8, 0),
    );
    this.arena = arena;
    this.buf = arena.allocF32(bufLength);
    this.zr = arena.alloc(this.F / 2);
    this.zi = arena.alloc(this.F / 2);
    for (const t of temps) {
      t.yr = arena.alloc(t.fs);
      t.yi = arena.alloc(t.fs);
      const idx = arena.allocU32(2 * t.fs);
      idx.set(t.idx);
      t.idx = idx;
      const coef = arena.alloc(4 * t.fs);
      coef.set(t.coef);
      t.coef = coef;
    }
    let G = 1;
    const fits = (g: number) => this.families.every((f) => [f.up, f.down].every((t) => t.L % g === 0 && t.dec % g === 0));
    while (G < 64 && fits(2 * G)) G *= 2;
    this.G = G;
    this.cum = this.arena.alloc(this.F / G + 1);
    // The stream is taken to be preceded by silence: the buffer starts with LEAD zero samples at negative
    // positions and the first hop starts there, so a chirp at sample 0 has real correlation scores on both
    // sides of its peak (without them the first peak was interpolated against a made-up score of 0, which
    // put it up to decimation / 2 samples late; spec/fsk.md section 7 step 3).
    const decMax = Math.max(...temps.map((t) => t.dec));
    const lead = HOP_ALIGN * Math.ceil((2 * decMax) / HOP_ALIGN);
    this.buf.fill(0, 0, lead);
    this.base = -lead;
    this.len = lead;
    this.hopPos = -lead;
  }

  private makeTemplate(p: Profile, up: boolean): Template {
    // The template depends only on (rate, F, chirp, direction): computed once per process and shared
    // read-only (each receiver copies idx and coef into its own arena).
    const key = `${this.sampleRate}|${this.F}|${p.chirpLowHz}|${p.chirpHighHz}|${p.chirpDuration}|${p.ramp}|${up}`;
    let t = templateCache.get(key);
    if (!t) {
      t = this.computeTemplate(p, up);
      templateCache.set(key, t);
    }
    const { L, k0, nb, fs, dec, idx, coef, energy } = t;
    return { L, k0, nb, fs, dec, idx, coef, energy, yr: new Float64Array(0), yi: new Float64Array(0) };
  }

  private computeTemplate(p: Profile, up: boolean): Template {
    const rate = this.sampleRate;
    const F = this.F;
    const L = Math.ceil(p.chirpDuration * rate);
    const re = new Float64Array(F);
    const im = new Float64Array(F);
    let energy = 0;
    for (let i = 0; i < L; i++) {
      const [a, b] = chirpAt(p, up, i / rate);
      re[i] = a;
      im[i] = b;
      energy += a * a + b * b;
    }
    fft(re, im);
    const lo = Math.max(0, Math.floor(((p.chirpLowHz - 300) * F) / rate));
    const hi = Math.min(F / 2, Math.ceil(((p.chirpHighHz + 300) * F) / rate));
    const nb = hi - lo + 1;
    const fs = nextPow2(nb);
    const h = F / 2;
    const revH = bitReversal(h);
    const rev = bitReversal(fs);
    const idx = new Uint32Array(2 * fs);
    const coef = new Float64Array(4 * fs);
    for (let j = 0; j < fs; j++) {
      const m = rev[j]!;
      if (m >= nb) continue;
      const k = lo + m;
      // X[k] = E + W^k O with E = (Z[k] + conj Z[h-k]) / 2, O = (Z[k] - conj Z[h-k]) / 2j, W = e^{-j pi / h}:
      // A = (1 - j W^k) / 2, B = (1 + j W^k) / 2 (indices mod h; k = 0 and k = h included).
      const wr = Math.cos((Math.PI * k) / h);
      const wi = -Math.sin((Math.PI * k) / h);
      const ar = 0.5 * (1 + wi);
      const ai = -0.5 * wr;
      const br = 0.5 * (1 - wi);
      const bi = 0.5 * wr;
      const cr = re[k]!;
      const ci = -im[k]!;
      coef[4 * j] = cr * ar - ci * ai;
      coef[4 * j + 1] = cr * ai + ci * ar;
      coef[4 * j + 2] = cr * br - ci * bi;
      coef[4 * j + 3] = cr * bi + ci * br;
      idx[2 * j] = revH[k % h]!;
      idx[2 * j + 1] = revH[(h - k) % h]!;
    }
    return { L, k0: lo, nb, fs, dec: F / fs, idx, coef, energy, yr: new Float64Array(0), yi: new Float64Array(0) };
  }

  /** Current input level and counters. */
  level(): InputLevel {
    return {
      rmsDbfs: roundDb(10 * Math.log10(this.msEma)),
      peakDbfs: roundDb(dbfs(this.lastPeak)),
      overallRmsDbfs: roundDb(this.stats.samples ? 10 * Math.log10(this.stats.sumSq / this.stats.samples) : -Infinity),
      samples: this.stats.samples,
      clippedSamples: this.stats.clipped,
      nonFiniteSamples: this.stats.nonFinite,
    };
  }

  /** Feed samples (any chunk size). Returns the events produced by this chunk. */
  push(samples: ArrayLike<number>): ReceiverEvent[] {
    this.events = [];
    if (!samples || typeof samples.length !== 'number') throw new OffpayError('fsk.bad_input', 'samples must be an array of numbers');
    this.append(samples);
    this.process(false);
    return this.events;
  }

  /** End of stream: process everything buffered (as if followed by silence) and report pending preambles. */
  flush(): ReceiverEvent[] {
    this.events = [];
    const pad = new Float32Array(this.F + this.Lmax);
    this.appendRaw(pad);
    this.process(true);
    return this.events;
  }

  private emit(e: ReceiverEvent): void {
    this.events.push(e);
    this.onEvent?.(e);
  }

  private append(samples: ArrayLike<number>): void {
    const n = samples.length;
    if (n === 0) return;
    const acc = this.acc;
    acc.ms = 0;
    acc.peak = 0;
    acc.clipped = 0;
    acc.nonFinite = 0;
    // Samples go straight into the ring buffer (no per-push allocation). Float32Array input (Web Audio, WAV)
    // is block-copied and then checked in one read-only pass; only a block holding a clipped, out-of-range
    // or non-finite sample is redone sample by sample.
    const f32 = samples instanceof Float32Array ? samples : null;
    let off = 0;
    while (off < n) {
      if (this.len === this.buf.length) this.compact();
      const take = Math.min(n - off, this.buf.length - this.len);
      if (!f32 || !this.copyClean(f32, off, take)) this.copySanitised(samples, off, take);
      this.len += take;
      off += take;
      if (this.len === this.buf.length) this.process(false);
    }
    this.stats.clipped += acc.clipped;
    this.stats.nonFinite += acc.nonFinite;
    this.stats.samples += n;
    this.stats.sumSq += acc.ms;
    const alpha = Math.exp(-n / (0.3 * this.sampleRate));
    this.msEma = alpha * this.msEma + (1 - alpha) * (acc.ms / n);
    this.lastPeak = acc.peak;
  }

  /** Block copy of x[off, off + take) to the buffer end; false (stats untouched) if any sample needs sanitising. */
  private copyClean(x: Float32Array, off: number, take: number): boolean {
    const buf = this.buf;
    const w0 = this.len;
    buf.set(off === 0 && take === x.length ? x : x.subarray(off, off + take), w0);
    let ms = 0;
    let peak = 0;
    for (let w = w0, end = w0 + take; w < end; w++) {
      const v = buf[w]!;
      const a = Math.abs(v);
      if (a > peak) peak = a;
      ms += v * v;
    }
    // NaN makes ms NaN; an infinity makes peak infinite.
    if (!(peak < 0.999) || ms !== ms) return false;
    const acc = this.acc;
    acc.ms += ms;
    if (peak > acc.peak) acc.peak = peak;
    return true;
  }

  /** Sample-by-sample copy: non-finite values become 0 and are counted, values are clamped to +-1e6. */
  private copySanitised(samples: ArrayLike<number>, off: number, take: number): void {
    const buf = this.buf;
    const acc = this.acc;
    const typed = samples instanceof Float32Array || samples instanceof Float64Array ? samples : null;
    let { ms, peak, clipped, nonFinite } = acc;
    let w = this.len;
    for (let i = off, end = off + take; i < end; i++, w++) {
      let v = typed ? typed[i]! : Number(samples[i]);
      if (!Number.isFinite(v)) {
        nonFinite++;
        v = 0;
      }
      if (v > 1e6) v = 1e6;
      else if (v < -1e6) v = -1e6;
      const a = Math.abs(v);
      if (a >= 0.999) clipped++;
      if (a > peak) peak = a;
      ms += v * v;
      buf[w] = v;
    }
    acc.ms = ms;
    acc.peak = peak;
    acc.clipped = clipped;
    acc.nonFinite = nonFinite;
  }

  private appendRaw(x: Float32Array): void {
    let off = 0;
    while (off < x.length) {
      if (this.len === this.buf.length) this.compact();
      const take = Math.min(x.length - off, this.buf.length - this.len);
      this.buf.set(x.subarray(off, off + take), this.len);
      this.len += take;
      off += take;
      // Process as we go so that the buffer never needs more than `history` of past samples.
      if (this.len === this.buf.length) this.process(false);
    }
  }

  private compact(): void {
    const end = this.base + this.len;
    const keepFrom = Math.min(this.hopPos, Math.max(this.base, end - this.history));
    const drop = keepFrom - this.base;
    if (drop <= 0) throw new Error('fsk receiver buffer overflow');
    this.buf.copyWithin(0, drop, this.len);
    this.base += drop;
    this.len -= drop;
  }

  private process(final: boolean): void {
    if (this.families.length === 0) {
      // Nothing to listen for at this rate: keep only the level meter running.
      this.hopPos = this.base + this.len;
      return;
    }
    while (this.hopPos + this.F <= this.base + this.len) {
      this.hop(this.hopPos);
      this.hopPos += this.H;
    }
    this.expirePreambles(final);
  }

  private hop(pos: number): void {
    const { F, G, cum, buf, zr, zi } = this;
    const off = pos - this.base;
    // Energy prefix sums (every G samples) for the score normalisation.
    if (!this.arena.energy(buf, off, cum, F / G, G)) {
      // Each block of G squares is summed on its own, then added to the running total: the chain of
      // dependent additions is one per block, not one per sample (same order as the WebAssembly kernel).
      let acc = 0;
      cum[0] = 0;
      for (let i = 0, j = off; i < F / G; i++) {
        let block = 0;
        for (let end = j + G; j < end; j++) {
          const v = buf[j]!;
          block += v * v;
        }
        acc += block;
        cum[i + 1] = acc;
      }
    }
    // The real segment packed as complex pairs for the half-size FFT (packing fused into its first stage);
    // the spectrum is left in bit-reversed order and read through the templates' index tables.
    fftDifPackedReal(buf, off, zr, zi);
    for (const fam of this.families) {
      this.scan(fam, fam.up, fam.trUp, pos, true);
      // Postamble templates only run while a preamble waits for its postamble.
      if (fam.pres.length > 0 || fam.trUp.cand) this.scan(fam, fam.down, fam.trDown, pos, false);
      else fam.trDown = newTracker();
    }
  }

  private scan(fam: Family, t: Template, tr: Tracker, pos: number, up: boolean): void {
    const { fs, dec, L, yr, yi, idx, coef } = t;
    const { zr, zi } = this;
    // Band product written straight into bit-reversed order, then a natural-order inverse transform
    // (fftDit with real and imaginary parts swapped): no permutation pass and no zero fill.
    if (!this.arena.gather(zr, zi, idx, coef, yr, yi)) {
      for (let j = 0; j < fs; j++) {
        const u = idx[2 * j]!;
        const v = idx[2 * j + 1]!;
        const ar = zr[u]!;
        const ai = zi[u]!;
        const br = zr[v]!;
        const bi = zi[v]!;
        const p = coef[4 * j]!;
        const pj = coef[4 * j + 1]!;
        const q = coef[4 * j + 2]!;
        const qj = coef[4 * j + 3]!;
        yr[j] = p * ar - pj * ai + q * br + qj * bi;
        yi[j] = p * ai + pj * ar + qj * br - q * bi;
      }
    }
    fftDit(yi, yr);
    const norm = 2 / (this.F * this.F * t.energy);
    const count = this.H / dec;
    const G = this.G;
    const cum = this.cum;
    // Energy floor: a window far quieter than its surroundings (a signal edge followed by digital silence)
    // must not score high just because the normalisation divides by almost nothing.
    const floor = Math.max(1e-12 * L, (0.25 * L * cum[this.F / G]!) / this.F);
    const thr = this.threshold;
    const dq = dec / G;
    const dl = L / G;
    let q = 0;
    while (q < count) {
      if (tr.cand === null && tr.prev1 < thr) {
        // Fast path: nothing near the threshold. Find the first lag whose score reaches it (norm * mag2 >=
        // thr * ex, no division), then restore the history the slow path expects (the last two scores).
        const q0 = q;
        q = this.arena.scanFast(yr, yi, cum, q0, count, dq, dl, norm, thr, floor);
        if (q < 0) {
          for (q = q0; q < count; q++) {
            const c = q * dq;
            const e = cum[c + dl]! - cum[c]!;
            const ex = e > floor ? e : floor;
            const a = yr[q]!;
            const b = yi[q]!;
            if (norm * (a * a + b * b) >= thr * ex) break;
          }
        }
        if (q - q0 >= 2) {
          tr.prev2 = lagScore(yr, yi, cum, q - 2, dq, dl, norm, floor);
          tr.prev1 = lagScore(yr, yi, cum, q - 1, dq, dl, norm, floor);
          tr.prev1Lag = pos + (q - 1) * dec;
        } else if (q - q0 === 1) {
          tr.prev2 = tr.prev1;
          tr.prev1 = lagScore(yr, yi, cum, q - 1, dq, dl, norm, floor);
          tr.prev1Lag = pos + (q - 1) * dec;
        }
        if (q >= count) break;
      }
      this.track(fam, tr, pos + q * dec, lagScore(yr, yi, cum, q, dq, dl, norm, floor), dec, L, up);
      q++;
    }
  }

  private track(fam: Family, tr: Tracker, lag: number, v: number, dec: number, L: number, up: boolean): void {
    if (tr.cand && lag > tr.cand.lag + L) {
      const c = tr.cand;
      tr.cand = null;
      this.onPeak(fam, up, { pos: c.pos, score: c.score });
    }
    const a = tr.prev2;
    const b = tr.prev1;
    if (b >= this.threshold && b >= a && b > v && tr.prev1Lag >= 0) {
      if (!tr.cand || b > tr.cand.score) {
        const sa = Math.sqrt(a);
        const sb = Math.sqrt(b);
        const sc = Math.sqrt(v);
        const den = sa - 2 * sb + sc;
        const delta = den < 0 ? Math.max(-0.5, Math.min(0.5, (0.5 * (sa - sc)) / den)) : 0;
        tr.cand = { lag: tr.prev1Lag, score: b, pos: tr.prev1Lag + delta * dec };
      }
    }
    tr.prev2 = b;
    tr.prev1 = v;
    tr.prev1Lag = lag;
  }

  private onPeak(fam: Family, up: boolean, peak: Peak): void {
    if (tracing()) trace({ t: 'peak', family: fam.key, up, pos: peak.pos, score: peak.score });
    if (up) {
      fam.pres.push(peak);
      this.emit({ type: 'preamble', family: fam.key, position: Math.round(peak.pos), score: round3(peak.score), snrDb: roundDb(snrFromScore(peak.score)) });
      return;
    }
    const candidates = fam.pres.filter((p) => !p.consumed && peak.pos - p.pos >= fam.minSpan - this.Lmax && peak.pos - p.pos <= fam.maxSpan + this.Lmax);
    if (candidates.length === 0) return;
    let bestFail: Failure | null = null;
    let bestPre: Peak | null = null;
    // Latest preamble first: the nearest plausible pair is the most likely.
    for (const pre of candidates.sort((a, b) => b.pos - a.pos)) {
      const res = this.tryPair(fam, pre, peak);
      if ('frame' in res) {
        pre.consumed = true;
        for (const other of fam.pres) if (other.pos > pre.pos && other.pos < peak.pos) other.consumed = true;
        this.emit({ type: 'frame', frame: res.frame });
        this.reassemble(res.frame);
        return;
      }
      pre.attempted = true;
      if (!bestFail || res.rank > bestFail.rank) {
        bestFail = res;
        bestPre = pre;
      }
    }
    if (bestFail && bestPre) {
      this.emit({
        type: 'failure', code: bestFail.code, reason: bestFail.reason, position: Math.round(bestPre.pos),
        ...(bestFail.profile ? { profile: bestFail.profile } : {}), ...(bestFail.detail ? { detail: bestFail.detail } : {}),
      });
    }
  }

  private expirePreambles(final: boolean): void {
    const now = this.hopPos;
    for (const fam of this.families) {
      const keep: Peak[] = [];
      for (const p of fam.pres) {
        const expired = final || now > p.pos + fam.maxSpan + 3 * this.Lmax + this.F;
        if (!expired) keep.push(p);
        else if (!p.consumed && !p.attempted) {
          this.emit({
            type: 'failure', code: 'fsk.no_postamble', reason: 'a preamble was heard but no matching postamble followed',
            position: Math.round(p.pos), detail: { family: fam.key, preambleScore: round3(p.score) },
          });
        }
      }
      fam.pres = keep;
    }
  }

  private sample(n: number): number {
    const i = n - this.base;
    return i >= 0 && i < this.len ? this.buf[i]! : 0;
  }

  private tryPair(fam: Family, pre: Peak, post: Peak): { frame: FskFrame } | Failure {
    const rate = this.sampleRate;
    const S = post.pos - pre.pos;
    const cands: { p: Profile; rows: number; eps: number }[] = [];
    for (const p of fam.profiles) {
      for (let rows = minRows(p); rows <= maxRows(p); rows++) {
        const D = postambleStart(p, rows) * rate;
        const eps = (D - S) / (D - fam.biasK * rate);
        if (Math.abs(eps) <= this.maxEps) cands.push({ p, rows, eps });
      }
    }
    if (cands.length === 0) {
      return { rank: 0, code: 'fsk.no_postamble', reason: 'no frame length fits the preamble-postamble spacing' };
    }
    cands.sort((a, b) => Math.abs(a.eps) - Math.abs(b.eps));
    let best: Failure | null = null;
    for (const c of cands) {
      const res = this.tryFrame(c.p, c.rows, c.eps, pre, post);
      if ('frame' in res) return res;
      if (!best || res.rank > best.rank) best = res;
    }
    return best!;
  }

  /** Full-rate correlation with a time-scaled chirp around `center`; returns refined position and score. */
  private refine(p: Profile, up: boolean, center: number, eps: number, radius: number): { pos: number; score: number } {
    const rate = this.sampleRate;
    const L = Math.ceil((p.chirpDuration * rate) / (1 + eps));
    const tr = new Float64Array(L);
    const ti = new Float64Array(L);
    let et = 0;
    for (let i = 0; i < L; i++) {
      const [a, b] = chirpAt(p, up, (i * (1 + eps)) / rate);
      tr[i] = a;
      ti[i] = b;
      et += a * a + b * b;
    }
    const c0 = Math.round(center);
    const scores: number[] = [];
    let best = -1;
    let bestI = 0;
    for (let d = -radius; d <= radius; d++) {
      const n0 = c0 + d;
      let sr = 0;
      let si = 0;
      let ex = 0;
      for (let i = 0; i < L; i++) {
        const v = this.sample(n0 + i);
        sr += v * tr[i]!;
        si -= v * ti[i]!;
        ex += v * v;
      }
      const s = ex > 0 ? Math.min(1, (2 * (sr * sr + si * si)) / (et * ex)) : 0;
      scores.push(s);
      if (s > best) {
        best = s;
        bestI = d + radius;
      }
    }
    let delta = 0;
    if (bestI > 0 && bestI < scores.length - 1) {
      const a = Math.sqrt(scores[bestI - 1]!);
      const b = Math.sqrt(scores[bestI]!);
      const c = Math.sqrt(scores[bestI + 1]!);
      const den = a - 2 * b + c;
      if (den < 0) delta = Math.max(-0.5, Math.min(0.5, (0.5 * (a - c)) / den));
    }
    return { pos: c0 - radius + bestI + delta, score: best };
  }

  private tryFrame(p: Profile, rows: number, eps0: number, pre: Peak, _post: Peak): { frame: FskFrame } | Failure {
    const rate = this.sampleRate;
    const fam = this.families.find((f) => f.profiles.includes(p))!;
    const D = postambleStart(p, rows) * rate;
    // Undo the delay-Doppler bias of the coarse peaks, then re-measure with scaled templates.
    const radius = Math.max(fam.up.dec, fam.down.dec) * 2 + 4;
    const P0 = pre.pos + eps0 * fam.upBias * rate;
    const r1 = this.refine(p, true, P0, eps0, radius);
    const r2 = this.refine(p, false, r1.pos + D / (1 + eps0), eps0, radius);
    let eps = D / (r2.pos - r1.pos) - 1;
    let P = r1.pos;
    if (!Number.isFinite(eps) || Math.abs(eps) > this.maxEps * 1.2) {
      eps = eps0;
      P = P0;
    }
    if (tracing()) {
      trace({
        t: 'sync', profile: p.name, rows, eps0, pre: pre.pos, post: _post.pos, preamblePos: r1.pos, preambleScore: r1.score,
        postamblePos: r2.pos, postambleScore: r2.score, eps, start: P,
      });
    }
    const layout = layoutForRows(p, rows);
    if (!layout) return { rank: 1, code: 'fsk.bad_header', reason: 'impossible frame layout', profile: p.name };
    if (P - this.base < 0) return { rank: 1, code: 'fsk.truncated', reason: 'the frame start is no longer buffered', profile: p.name };
    const E = this.energies(p, rows, P, eps);
    const nsym = symbolCount(p, rows);
    let demod = slotsFromMetric(p, rows, E, E);
    let decoded = decodeSlots(p, layout, demod.bytes, demod.conf);
    if (tracing()) traceAttempt(0, decoded, demod.toneSnrDb);
    // Reverberation-aware metrics are tried only when the plain energies do not decode.
    if ('failure' in decoded) {
      let m = 0;
      for (const metric of reverbMetrics(E, nsym, toneCount(p), p.tonesPerGroup, p.groups)) {
        const d2 = slotsFromMetric(p, rows, E, metric);
        const r2 = decodeSlots(p, layout, d2.bytes, d2.conf);
        if (tracing()) traceAttempt(++m, r2, d2.toneSnrDb);
        if (!('failure' in r2) || r2.rank > (decoded as { rank: number }).rank) {
          demod = d2;
          decoded = r2;
        }
        if (!('failure' in r2)) break;
      }
    }
    if (tracing()) {
      trace({
        t: 'decode', profile: p.name, rows, result: 'failure' in decoded ? decoded.failure : 'ok', byteErrors: decoded.byteErrors,
        corrected: decoded.corrected, erasures: decoded.erasures, toneSnrDb: demod.toneSnrDb,
      });
    }
    const diag: FrameDiagnostics = {
      profile: p.name,
      // (+ 0 turns the -0 of a frame at sample 0 into 0.)
      startSample: Math.round(P) + 0,
      lengthSamples: Math.round(((D + p.chirpDuration * rate) / (1 + eps))),
      rows,
      clockOffsetPpm: Math.round(eps * 1e6),
      snrDb: roundDb(snrFromScore((r1.score + r2.score) / 2)),
      toneSnrDb: roundDb(demod.toneSnrDb),
      preambleScore: round3(r1.score),
      postambleScore: round3(r2.score),
      byteErrors: decoded.byteErrors,
      bytesCorrected: decoded.corrected,
      erasures: decoded.erasures,
      codewords: layout.blockLengths.length,
    };
    if ('failure' in decoded) {
      return { rank: decoded.rank, code: decoded.failure, reason: decoded.reason, profile: p.name, detail: { ...diag } };
    }
    return { frame: { payload: decoded.payload, profile: p.name, segment: decoded.segment, diagnostics: diag } };
  }

  /** Goertzel energy of every tone in every symbol window: E[s * K + k]. */
  private energies(p: Profile, rows: number, P: number, eps: number): Float64Array {
    const rate = this.sampleRate;
    const nsym = symbolCount(p, rows);
    const K = toneCount(p);
    const scale = rate / (1 + eps);
    const N = Math.max(8, Math.round(p.window * scale));
    const coef = new Float64Array(K);
    for (let k = 0; k < K; k++) coef[k] = 2 * Math.cos((2 * Math.PI * toneHz(p, k) * (1 + eps)) / rate);
    const E = new Float64Array(nsym * K);
    const Ts = symbolPeriod(p);
    const td = dataStart(p);
    const win = new Float64Array(N);
    for (let s = 0; s < nsym; s++) {
      const start = Math.round(P + (td + s * Ts + p.guard) * scale);
      for (let i = 0; i < N; i++) win[i] = this.sample(start + i);
      for (let k = 0; k < K; k++) {
        const c = coef[k]!;
        let s1 = 0;
        let s2 = 0;
        for (let i = 0; i < N; i++) {
          const s0 = win[i]! + c * s1 - s2;
          s2 = s1;
          s1 = s0;
        }
        E[s * K + k] = s1 * s1 + s2 * s2 - c * s1 * s2;
      }
    }
    return E;
  }

  private reassemble(frame: FskFrame): void {
    const { index, count } = frame.segment;
    if (count === 1) {
      this.reassembly = null;
      this.emit({ type: 'message', payload: frame.payload, profile: frame.profile, segments: 1 });
      return;
    }
    if (index === 0 || !this.reassembly || this.reassembly.count !== count || this.reassembly.profile !== frame.profile) {
      this.reassembly = { count, profile: frame.profile, parts: new Array<Uint8Array | undefined>(count).fill(undefined) };
    }
    this.reassembly.parts[index] = frame.payload;
    if (this.reassembly.parts.every((x) => x !== undefined)) {
      const parts = this.reassembly.parts as Uint8Array[];
      const total = parts.reduce((a, x) => a + x.length, 0);
      const out = new Uint8Array(total);
      let off = 0;
      for (const x of parts) {
        out.set(x, off);
        off += x.length;
      }
      this.reassembly = null;
      this.emit({ type: 'message', payload: out, profile: frame.profile, segments: count });
    }
  }
}

interface Failure {
  rank: number;
  code: string;
  reason: string;
  profile?: ProfileName;
  detail?: Record<string, unknown>;
}

/** The analytic chirp (cos, sin parts) of profile p at time tau from its start. */
function chirpAt(p: Profile, up: boolean, tau: number): [number, number] {
  const T = p.chirpDuration;
  const f0 = up ? p.chirpLowHz : p.chirpHighHz;
  const f1 = up ? p.chirpHighHz : p.chirpLowHz;
  const env = chirpEnvelope(p, tau);
  if (env === 0) return [0, 0];
  const ph = 2 * Math.PI * (f0 * tau + ((f1 - f0) * tau * tau) / (2 * T));
  return [env * Math.sin(ph), -env * Math.cos(ph)];
}

/** Score of band-IFFT output q (a plain function: a closure would move the hot loop's arrays into a context). */
function lagScore(yr: Float64Array, yi: Float64Array, cum: Float64Array, q: number, dq: number, dl: number, norm: number, floor: number): number {
  const ex = Math.max(floor, cum[q * dq + dl]! - cum[q * dq]!);
  return Math.min(1, (norm * (yr[q]! * yr[q]! + yi[q]! * yi[q]!)) / ex);
}

function traceAttempt(metric: number, d: SlotDecode, toneSnrDb: number): void {
  trace({
    t: 'attempt', metric, result: 'failure' in d ? d.failure : 'ok', byteErrors: d.byteErrors, corrected: d.corrected, erasures: d.erasures, toneSnrDb,
  });
}

function snrFromScore(score: number): number {
  const s = Math.min(score, 0.999999);
  return 10 * Math.log10(s / (1 - s));
}

function round3(x: number): number {
  return Math.round(x * 1000) / 1000;
}

/** Hard decisions (largest metric per group and symbol) and per-byte confidences for every slot. */
export function slotsFromMetric(p: Profile, rows: number, E: Float64Array, metric: Float64Array): { bytes: Uint8Array; conf: Float64Array; toneSnrDb: number } {
    const nsym = symbolCount(p, rows);
    const K = toneCount(p);
    const M = p.tonesPerGroup;
    const G = p.groups;
    const top = new Uint8Array(nsym * G);
    const margin = new Float64Array(nsym * G);
    const e1s = new Float64Array(nsym * G);
    let sigSum = 0;
    let othSum = 0;
    for (let s = 0; s < nsym; s++) {
      for (let g = 0; g < G; g++) {
        let b1 = -Infinity;
        let b2 = -Infinity;
        let i1 = 0;
        let sum = 0;
        for (let m = 0; m < M; m++) {
          const v = metric[s * K + g * M + m]!;
          sum += E[s * K + g * M + m]!;
          if (v > b1) {
            b2 = b1;
            b1 = v;
            i1 = m;
          } else if (v > b2) b2 = v;
        }
        top[s * G + g] = i1;
        margin[s * G + g] = b1 - b2;
        e1s[s * G + g] = Math.max(0, b1);
        const chosen = E[s * K + g * M + i1]!;
        sigSum += chosen;
        othSum += (sum - chosen) / (M - 1);
      }
    }
    // Confidence of a symbol: its margin relative to the typical winning metric of its group.
    const refs = new Float64Array(G);
    for (let g = 0; g < G; g++) {
      const vals: number[] = [];
      for (let s = 0; s < nsym; s++) vals.push(e1s[s * G + g]!);
      vals.sort((a, b) => a - b);
      refs[g] = Math.max(1e-30, vals[vals.length >> 1] ?? 1e-30);
    }
    const spb = symbolsPerByte(p);
    const bps = bitsPerSymbol(p);
    const bytes = new Uint8Array(rows * G);
    const conf = new Float64Array(rows * G);
    for (let r = 0; r < rows; r++) {
      for (let g = 0; g < G; g++) {
        let v = 0;
        let c = Infinity;
        for (let q = 0; q < spb; q++) {
          const s = r * spb + q;
          v = (v << bps) | top[s * G + g]!;
          c = Math.min(c, margin[s * G + g]! / refs[g]!);
        }
        bytes[r * G + g] = v;
        conf[r * G + g] = c;
      }
    }
    const toneSnrDb = othSum > 0 ? 10 * Math.log10(Math.max(1e-12, (sigSum - othSum) / othSum)) : Infinity;
    return { bytes, conf, toneSnrDb };
  }

/**
 * Reverberation-aware decision metrics (spec/fsk.md §7 step 7). The reverberant tail that tone k leaves in
 * later windows is modelled as H_k(s) = sum_{s' < s} gamma^(s - s' - 1) E_k(s'). On the tones a first pass
 * did not choose, E is regressed on [1, H] (floor c, slope beta) for gamma in {0.5, 0.75, 0.9}; the best fit
 * gives the expected reverberation-plus-noise energy sigma_k^2(s) = c + beta H_k(s) of every tone. Returned
 * metrics, tried in order:
 *   1. Rician log-likelihood ratio (2 A sqrt(E) - A^2) / sigma^2, A^2 = median chosen energy of the group;
 *   2. subtraction E - beta H.
 */
export function reverbMetrics(E: Float64Array, nsym: number, K: number, M: number, G: number): Float64Array[] {
  const n = nsym * K;
  const chosen = new Uint8Array(n);
  for (let s = 0; s < nsym; s++) {
    for (let g = 0; g < G; g++) {
      let b = -1;
      let bi = 0;
      for (let m = 0; m < M; m++) {
        const v = E[s * K + g * M + m]!;
        if (v > b) {
          b = v;
          bi = m;
        }
      }
      chosen[s * K + g * M + bi] = 1;
    }
  }
  let best: { H: Float64Array; beta: number; c: number; rss: number } | null = null;
  for (const gamma of [0.5, 0.75, 0.9]) {
    const H = new Float64Array(n);
    for (let k = 0; k < K; k++) {
      let h = 0;
      for (let s = 0; s < nsym; s++) {
        H[s * K + k] = h;
        h = gamma * h + E[s * K + k]!;
      }
    }
    let sn = 0;
    let sh = 0;
    let se = 0;
    let shh = 0;
    let seh = 0;
    let see = 0;
    for (let i = 0; i < n; i++) {
      if (chosen[i]) continue;
      const h = H[i]!;
      const e = E[i]!;
      sn++;
      sh += h;
      se += e;
      shh += h * h;
      seh += e * h;
      see += e * e;
    }
    if (sn < 2) continue;
    const varh = shh - (sh * sh) / sn;
    if (varh <= 0) continue;
    let beta = (seh - (sh * se) / sn) / varh;
    if (beta < 0) beta = 0;
    let c = (se - beta * sh) / sn;
    if (c < 0) c = 0;
    const rss = see - 2 * c * se - 2 * beta * seh + sn * c * c + 2 * c * beta * sh + beta * beta * shh;
    if (!best || rss < best.rss) best = { H, beta, c, rss };
  }
  if (!best || best.beta === 0) return [];
  const { H, beta, c } = best;
  const floor = Math.max(c, 1e-30);
  const llr = new Float64Array(n);
  const sub = new Float64Array(n);
  for (let g = 0; g < G; g++) {
    const won: number[] = [];
    for (let s = 0; s < nsym; s++) for (let m = 0; m < M; m++) if (chosen[s * K + g * M + m]) won.push(E[s * K + g * M + m]!);
    won.sort((a, b) => a - b);
    const A2 = Math.max(0, (won[won.length >> 1] ?? 0) - floor);
    const A = Math.sqrt(A2);
    for (let s = 0; s < nsym; s++) {
      for (let m = 0; m < M; m++) {
        const i = s * K + g * M + m;
        const sigma2 = floor + beta * H[i]!;
        llr[i] = (2 * A * Math.sqrt(E[i]!) - A2) / sigma2;
        sub[i] = E[i]! - beta * H[i]!;
      }
    }
  }
  return [llr, sub];
}

type SlotDecode =
  | { payload: Uint8Array; segment: { index: number; count: number }; byteErrors: number; corrected: number; erasures: number }
  | { failure: string; reason: string; rank: number; byteErrors: number; corrected: number; erasures: number };

/** RS (with GMD erasure retries), header and CRC checks over the demodulated slots. */
export function decodeSlots(p: Profile, layout: BlockLayout, bytes: Uint8Array, conf: Float64Array): SlotDecode {
  const nb = layout.blockLengths.length;
  const blocks: Uint8Array[] = [];
  let byteErrors = 0;
  let corrected = 0;
  let erasures = 0;
  const single = nb === 1;
  for (let b = 0; b < nb; b++) {
    const n = layout.blockLengths[b]!;
    const rx = new Uint8Array(n);
    const cf: number[] = [];
    for (let i = 0; i < n; i++) {
      const j = i * nb + b;
      rx[i] = bytes[j]!;
      cf.push(conf[j]!);
    }
    const order = [...cf.keys()].sort((x, y) => cf[x]! - cf[y]!);
    let ok: Uint8Array | null = null;
    for (let s = 0; s <= p.parity - 2; s += 2) {
      const res = rsDecode(rx, p.parity, order.slice(0, s));
      if (!res) continue;
      if (single) {
        const chk = checkData(p, layout, [res.codeword]);
        if ('failure' in chk) continue;
      }
      ok = res.codeword;
      corrected += res.corrected;
      erasures += s;
      break;
    }
    if (!ok) {
      return { failure: 'fsk.rs_failed', reason: `Reed-Solomon codeword ${b + 1} of ${nb} is uncorrectable`, rank: 2, byteErrors: -1, corrected, erasures };
    }
    for (let i = 0; i < n; i++) if (ok[i] !== rx[i]) byteErrors++;
    blocks.push(ok);
  }
  const chk = checkData(p, layout, blocks);
  if ('failure' in chk) return { ...chk, byteErrors, corrected, erasures };
  return { ...chk, byteErrors, corrected, erasures };
}

function checkData(
  p: Profile, layout: BlockLayout, blocks: Uint8Array[],
): { payload: Uint8Array; segment: { index: number; count: number } } | { failure: string; reason: string; rank: number } {
  const data = new Uint8Array(layout.capacity);
  let off = 0;
  for (const cw of blocks) {
    const k = cw.length - p.parity;
    data.set(cw.subarray(0, k), off);
    off += k;
  }
  const version = data[0]! >> 4;
  const id = data[0]! & 15;
  const v = (data[1]! << 8) | data[2]!;
  const length = v & 0x3ff;
  const count = ((v >> 10) & 7) + 1;
  const index = v >> 13;
  if (version !== FRAME_VERSION) return { failure: 'fsk.bad_version', reason: `frame version ${version} is not supported`, rank: 3 };
  if (id !== p.id) return { failure: 'fsk.bad_header', reason: `header profile id ${id} does not match the tone plan`, rank: 3 };
  if (length > MAX_FRAME_PAYLOAD || index >= count) return { failure: 'fsk.bad_header', reason: 'header length or segment out of range', rank: 3 };
  if (rowsForPayload(p, length) !== layout.rows) return { failure: 'fsk.bad_header', reason: 'header length does not match the frame length', rank: 3 };
  const end = HEADER_BYTES + length;
  const crc = ((data[end]! << 24) | (data[end + 1]! << 16) | (data[end + 2]! << 8) | data[end + 3]!) >>> 0;
  if (crc32(data.subarray(0, end)) !== crc) return { failure: 'fsk.crc_mismatch', reason: 'CRC-32 mismatch after Reed-Solomon decoding', rank: 4 };
  for (let i = end + CRC_BYTES; i < data.length; i++) {
    if (data[i] !== 0) return { failure: 'fsk.bad_header', reason: 'non-zero padding', rank: 3 };
  }
  return { payload: data.slice(HEADER_BYTES, end), segment: { index, count } };
}

export interface DecodeResult {
  /** Reassembled payloads, in order. */
  messages: Uint8Array[];
  frames: FskFrame[];
  events: ReceiverEvent[];
  level: InputLevel;
}

/** One-shot decode of a whole capture. Never throws for bad audio; throws OffpayError for a bad rate. */
export function decode(samples: ArrayLike<number>, sampleRate: number, options: Omit<ReceiverOptions, 'sampleRate'> = {}): DecodeResult {
  const rx = new FskReceiver({ ...options, sampleRate });
  const events = [...rx.push(samples), ...rx.flush()];
  const frames: FskFrame[] = [];
  const messages: Uint8Array[] = [];
  for (const e of events) {
    if (e.type === 'frame') frames.push(e.frame);
    if (e.type === 'message') messages.push(e.payload);
  }
  return { messages, frames, events, level: rx.level() };
}

/**
 * Decode exactly one message or throw an OffpayError saying why not: fsk.no_signal (silence or empty),
 * fsk.no_preamble, or the failure of the best frame candidate (fsk.no_postamble, fsk.rs_failed, ...).
 */
export function decodeMessage(samples: ArrayLike<number>, sampleRate: number, options: Omit<ReceiverOptions, 'sampleRate'> = {}): { payload: Uint8Array; result: DecodeResult } {
  const result = decode(samples, sampleRate, options);
  const first = result.messages[0];
  if (first) return { payload: first, result };
  const failures = result.events.filter((e): e is Extract<ReceiverEvent, { type: 'failure' }> => e.type === 'failure');
  const rank = (c: string) => ['fsk.crc_mismatch', 'fsk.bad_header', 'fsk.bad_version', 'fsk.rs_failed', 'fsk.truncated', 'fsk.no_postamble'].indexOf(c);
  failures.sort((a, b) => (rank(a.code) < 0 ? 99 : rank(a.code)) - (rank(b.code) < 0 ? 99 : rank(b.code)));
  const f = failures[0];
  if (f) throw new OffpayError(f.code, f.reason, { position: f.position, ...(f.detail ?? {}) });
  if (result.level.samples === 0 || result.level.overallRmsDbfs < -120) {
    throw new OffpayError('fsk.no_signal', 'the audio is empty or silent', { level: result.level });
  }
  throw new OffpayError('fsk.no_preamble', 'no preamble chirp was found', { level: result.level });
}
