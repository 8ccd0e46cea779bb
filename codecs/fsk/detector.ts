/**
 * Chirp detector and frame synchroniser (spec/fsk.md §7.2 steps 2-5), the receiver's "framesync" block.
 *
 * Matched filter. Overlap-save over blocks of N_fft samples advanced by N_hop = 64 floor((N_fft - N_c - 1) / 64):
 * hop b covers [h_b, h_b + N_fft), h_b = -N_lead + b N_hop, and yields the lags h_b + q dec, q < N_hop / dec.
 * One N_fft / 2-point complex FFT of the block packed as z[i] = x[2i] + j x[2i+1], then per active template the
 * band product (chirp.ts) and an N_band-point inverse FFT give the correlation c decimated by dec. Score
 *   rho^2 = min(1, 2 |c|^2 / (E_t max(E_x, floor))),  floor = max(1e-12 N_c, 0.25 N_c E_block / N_fft),
 * E_x the input energy under the template (from prefix sums of x^2 every energyStep samples) and E_block
 * the block's. A clean chirp scores 1; in white noise rho^2 ~ SNR / (1 + SNR).
 *
 * Peaks. A lag scoring >= threshold, >= its left and > its right neighbour is a candidate, placed by a
 * parabola through the square roots of the three scores (offset within +-0.5 lag); a higher candidate
 * replaces it; it is confirmed once the scan is more than N_c past it. Up-chirp peaks are preambles;
 * down-chirp templates run only while a preamble is pending.
 *
 * Pairing. For a postamble peak at n_post and each unconsumed pending preamble n_pre of the family (latest
 * first) with a plausible spacing, every (profile, R) with |eps| <= maxClockOffset is a candidate,
 *   eps = (Delta_R - (n_post - n_pre)) / (Delta_R - kappa fs),  Delta_R = T_post(R) fs,  kappa = 2 f_c Tc / B,
 * tried smallest |eps| first; where |T_post(R) - kappa| < 0.1 s the spacing hardly depends on eps, so once
 * every candidate has failed those are retried at eps +- k 0.001, k = 1 .. 4. Refinement: the preamble is re-measured at full rate around
 * n_pre + eps (Tc/2 + f_c Tc / B) fs with the chirp compressed in time by (1 + eps), then the postamble around
 * start + Delta_R / (1 + eps); eps = Delta_R / (post - start) - 1. Each refined sync goes to the sink, which
 * demodulates and decodes it; the first success consumes the preamble (and any preamble between it and the
 * postamble).
 *
 * create: new ChirpDetector(options); it also allocates the sample buffer in its transform arena.
 * reset(): trackers, pending preambles and the hop position back to the state after create.
 * push: process(input, final, sink) runs every hop whose block is buffered, then expires old preambles.
 */
import { FftArena, fftDifPackedReal, fftDit, nextPow2 } from './fft.js';
import { chirpAt, chirpTemplate, type ChirpTemplate } from './chirp.js';
import { frameMicros, maxRows, minRows, postambleStart } from './frame.js';
import type { InputBuffer } from './input.js';
import type { ErrorCodeOf } from '../../base/errors.js';
import type { FskProfile } from './profiles.js';
import { trace, tracing } from './trace.js';

/**
 * The decode budget (spec/fsk.md §7.2 step 4), one per chirp family, in whole microseconds of frame: what a receiver
 * refines and demodulates for candidates, at most DECODE_BURST_MICROS at once and DECODE_MICROS_PER_SECOND a
 * second of audio after that. A candidate costs its frame's nominal length T_frame(R) (§6.1, whole microseconds),
 * at least DECODE_MIN_COST_MICROS (each candidate also has a fixed cost: refinements, set-up). About 12 to 26 ms of
 * CPU a second of frame at 48 kHz. The burst holds what an honest 8-segment message of 512-byte `robust` frames
 * costs with the clock 2 % off (the rows next to the right one fit the spacing too, and are tried first: up to 6
 * candidates a frame, 8 x 6 x 3.4 s); a train of chirps made to pair with one another took about 790 candidates
 * a second of audio (19 CPU seconds a second) without a budget.
 */
export const DECODE_BURST_MICROS = 200_000_000;
export const DECODE_MICROS_PER_SECOND = 2_000_000;
export const DECODE_MIN_COST_MICROS = 500_000;
/**
 * A frame whose preamble starts at most this long after the end of the family's last decoded frame is taken as the
 * next segment of the same phone's message: its candidates are tried nearest that frame's clock offset first
 * (spec/fsk.md §7.2 step 4). Segments follow one another 50 ms apart (§8).
 */
export const FOLLOW_ON_SECONDS = 0.5;
/** How near that frame's clock offset a candidate must be to go first (spec/fsk.md §7.2 step 4). */
export const FOLLOW_ON_EPS = 0.003;

/** A family reports `fsk.busy` at most once in this many seconds of audio (with the count of postambles since). */
export const BUSY_REPORT_SECONDS = 1;

/** Transform blocks start on multiples of this many samples relative to -N_lead. */
export const HOP_ALIGN = 64;
/** |T_post(R) - kappa| below which the pair spacing is an ill-conditioned clock-offset estimate, seconds. */
export const ILL_CONDITIONED_SECONDS = 0.1;
/** Clock-offset step and number of steps each side of the retries of ill-conditioned candidates. */
export const EPS_STEP = 0.001;
export const EPS_STEPS = 4;

/** A confirmed chirp peak. */
export interface ChirpPeak {
  /** Position of the chirp's first sample (fractional, absolute), samples. */
  position: number;
  /** rho^2 at the peak. */
  score: number;
  /** A frame was decoded from this preamble (or it lay inside a decoded frame). */
  consumed?: boolean;
  /** A postamble was paired with it and failed (no_postamble is then not reported for it). */
  attempted?: boolean;
}

/** A synchronised frame candidate: what the demodulator needs. */
export interface FrameSync {
  profile: FskProfile;
  rows: number;
  /** Refined frame start n_0 (first sample of the preamble), absolute, samples. */
  start: number;
  /** Clock offset: the capture is compressed in time by (1 + eps). */
  eps: number;
  /** Delta_R = T_post(R) fs: nominal preamble-to-postamble spacing, transmitter samples. */
  spacingSamples: number;
  /** Refined chirp scores (rho^2 at full rate). */
  preambleScore: number;
  postambleScore: number;
}

/** A reason a sync did not give a frame, ranked: the highest rank is reported. */
export interface SyncFailure {
  rank: number;
  code: ErrorCodeOf<'fsk'>;
  reason: string;
  profile?: FskProfile['name'];
  detail?: Record<string, unknown>;
}

/** Where the detector reports (the receiver implements it). */
export interface DetectorSink<F> {
  preamble(family: string, peak: ChirpPeak): void;
  /** Demodulate and decode a sync: a frame, or why not. */
  decode(sync: FrameSync): { frame: F } | SyncFailure;
  /** A frame was decoded (its preamble is consumed). */
  frame(frame: F): void;
  /** Every pairing of this postamble failed; `best` is the highest-ranked failure, at its preamble. */
  failure(best: SyncFailure, preamble: ChirpPeak): void;
  /** A preamble expired with no postamble ever paired with it. */
  expired(family: string, preamble: ChirpPeak): void;
}

/** Running state of one template's peak search. */
interface PeakTracker {
  /** Scores of the two previous lags (the older one first). */
  prev2: number;
  prev1: number;
  /** Position of the previous lag (-1 before any), samples. */
  prev1Lag: number;
  /** Best unconfirmed candidate: its lag, score and interpolated position. */
  cand: { lag: number; score: number; pos: number } | null;
}

/** The working copy of a template inside the detector's arena. */
interface ActiveTemplate {
  readonly t: ChirpTemplate;
  readonly index: Uint32Array;
  readonly coef: Float64Array;
  /** Band IFFT work arrays, N_band each. */
  readonly yr: Float64Array;
  readonly yi: Float64Array;
}

/**
 * The name of a profile's chirp family, as `preamble` events and the `family` of failure details give it: the
 * chirp's low and high frequency (Hz) and duration (s), joined by '-' (for example '17000-19700-0.04', the ultrasonic family).
 */
export function chirpFamilyKey(p: Pick<FskProfile, 'chirpLowHz' | 'chirpHighHz' | 'chirpDuration'>): string {
  return `${p.chirpLowHz}-${p.chirpHighHz}-${p.chirpDuration}`;
}

/** Profiles sharing one chirp: detected together, told apart by frame length and header. */
interface Family {
  key: string;
  profiles: FskProfile[];
  up: ActiveTemplate;
  down: ActiveTemplate;
  upTracker: PeakTracker;
  downTracker: PeakTracker;
  pendingPreambles: ChirpPeak[];
  /** Decode budget left, whole microseconds of frame (DECODE_BURST_MICROS at most), and the position it was last refilled at. */
  budget: number;
  budgetAt: number | undefined;
  /** The clock offset of the family's last decoded frame, and where that frame ended (samples). */
  lastEps: number;
  lastEnd: number | undefined;
  /** Position of the last `fsk.busy` reported, and the postambles not reported since. */
  busyAt: number | undefined;
  busySkipped: number;
  /** Longest preamble-to-postamble spacing (largest frame at +maxClockOffset), receiver samples. */
  maxSpacingSamples: number;
  /** Shortest spacing (smallest frame at -maxClockOffset), receiver samples. */
  minSpacingSamples: number;
  /** kappa = 2 f_c Tc / B: postamble-minus-preamble peak delay per unit clock offset, seconds. */
  pairBiasSeconds: number;
  /** Tc / 2 + f_c Tc / B: up-chirp peak delay per unit clock offset, seconds. */
  preambleBiasSeconds: number;
}

export interface DetectorOptions {
  sampleRate: number;
  /** Enabled profiles (each receivable at this rate). */
  profiles: readonly FskProfile[];
  /** Peak threshold on rho^2. */
  threshold: number;
  /** Largest clock offset searched, as a fraction. */
  maxClockOffset: number;
}

function newTracker(): PeakTracker {
  return { prev2: 0, prev1: 0, prev1Lag: -1, cand: null };
}

function resetTracker(t: PeakTracker): void {
  t.prev2 = 0;
  t.prev1 = 0;
  t.prev1Lag = -1;
  t.cand = null;
}

export class ChirpDetector {
  readonly sampleRate: number;
  readonly threshold: number;
  readonly maxClockOffset: number;
  /** N_fft: matched-filter block size, samples. */
  readonly fftSize: number;
  /** N_hop: block advance, samples. */
  readonly hopSize: number;
  /** N_c: longest chirp of the enabled profiles, samples. */
  readonly chirpSamples: number;
  /** N_lead: silence assumed before position 0, samples. */
  readonly leadSamples: number;
  /** Samples the input must keep behind the newest one (longest frame plus two blocks). */
  readonly historySamples: number;
  /** The sample buffer (in the arena, read in place by the transforms). */
  readonly sampleBuffer: Float32Array;
  private readonly families: Family[] = [];
  /** Absolute position of the next block's first sample. */
  private nextHop = 0;
  private readonly arena: FftArena;
  /** Packed half-size spectrum of the current block (bit-reversed order), N_fft / 2 each. */
  private readonly spectrumRe: Float64Array;
  private readonly spectrumIm: Float64Array;
  /** Energy prefix sums of the block: energyPrefix[i] = sum of x^2 over its first i * energyStep samples. */
  private readonly energyPrefix: Float64Array;
  /** Step of energyPrefix: a power of two (<= 64) dividing every chirp length and every decimation, samples. */
  private readonly energyStep: number;

  constructor(options: DetectorOptions) {
    const rate = options.sampleRate;
    this.sampleRate = rate;
    this.threshold = options.threshold;
    this.maxClockOffset = options.maxClockOffset;
    const enabled = options.profiles;
    const maxEps = this.maxClockOffset;
    this.chirpSamples = Math.ceil(Math.max(1e-3, ...enabled.map((p) => p.chirpDuration)) * rate);
    this.fftSize = nextPow2(Math.max(4 * this.chirpSamples, 1024));
    this.hopSize = Math.floor((this.fftSize - this.chirpSamples - 1) / HOP_ALIGN) * HOP_ALIGN;
    const F = this.fftSize;
    let longest = 0;
    for (const p of enabled) {
      const key = chirpFamilyKey(p);
      let fam = this.families.find((f) => f.key === key);
      if (!fam) {
        const fc = (p.chirpLowHz + p.chirpHighHz) / 2;
        const B = p.chirpHighHz - p.chirpLowHz;
        const up = chirpTemplate(p, true, rate, F);
        const down = chirpTemplate(p, false, rate, F);
        const empty = new Float64Array(0);
        fam = {
          key, profiles: [],
          up: { t: up, index: up.index, coef: up.coef, yr: empty, yi: empty },
          down: { t: down, index: down.index, coef: down.coef, yr: empty, yi: empty },
          upTracker: newTracker(), downTracker: newTracker(), pendingPreambles: [], budget: DECODE_BURST_MICROS, budgetAt: undefined, busyAt: undefined, busySkipped: 0, lastEps: 0, lastEnd: undefined, maxSpacingSamples: 0, minSpacingSamples: Infinity,
          pairBiasSeconds: (2 * fc * p.chirpDuration) / B, preambleBiasSeconds: p.chirpDuration / 2 + (fc * p.chirpDuration) / B,
        };
        this.families.push(fam);
      }
      fam.profiles.push(p);
      fam.maxSpacingSamples = Math.max(fam.maxSpacingSamples, postambleStart(p, maxRows(p)) * rate * (1 + maxEps));
      fam.minSpacingSamples = Math.min(fam.minSpacingSamples, postambleStart(p, minRows(p)) * rate * (1 - maxEps));
      longest = Math.max(longest, fam.maxSpacingSamples + 2 * this.chirpSamples);
    }
    this.historySamples = Math.ceil(longest + 2 * F);
    // Headroom of at least half the history, so that compacting moves each sample about twice on average
    // (with only 2 N_fft of headroom it copied the whole history every 2 N_fft samples).
    const bufLength = this.historySamples + Math.max(2 * F, this.historySamples >> 1);
    // The sample buffer and the transform work arrays share one arena (WebAssembly SIMD kernels where
    // available, which read the samples in place).
    const temps = this.families.flatMap((f) => [f.up, f.down]);
    const arena = new FftArena(
      [F / 2, ...temps.map((a) => a.t.bandSize)],
      // samples (Float32), spectrum re/im, energy prefix (at most N_fft + 1), and per template yr, yi, index (Uint32) and coef
      Math.ceil(bufLength / 2) + 2 * F + 32 + temps.reduce((a, x) => a + 7 * x.t.bandSize + 8, 0),
    );
    this.arena = arena;
    this.sampleBuffer = arena.allocF32(bufLength);
    this.spectrumRe = arena.alloc(F / 2);
    this.spectrumIm = arena.alloc(F / 2);
    for (const fam of this.families) {
      fam.up = this.activate(fam.up.t);
      fam.down = this.activate(fam.down.t);
    }
    let step = 1;
    const fits = (g: number) => this.families.every((f) => [f.up.t, f.down.t].every((t) => t.lengthSamples % g === 0 && t.decimation % g === 0));
    while (step < 64 && fits(2 * step)) step *= 2;
    this.energyStep = step;
    this.energyPrefix = arena.alloc(F / step + 1);
    // The stream is taken to be preceded by silence (spec/fsk.md §7.2 step 1): the first block starts N_lead
    // samples before position 0, so a chirp at sample 0 has real correlation scores on both sides of its peak.
    const decMax = Math.max(...temps.map((a) => a.t.decimation));
    this.leadSamples = HOP_ALIGN * Math.ceil((2 * decMax) / HOP_ALIGN);
    this.nextHop = -this.leadSamples;
  }

  /** Copy a shared template's tables into the arena and give it band IFFT work arrays (allocation order kept). */
  private activate(t: ChirpTemplate): ActiveTemplate {
    const yr = this.arena.alloc(t.bandSize);
    const yi = this.arena.alloc(t.bandSize);
    const index = this.arena.allocU32(2 * t.bandSize);
    index.set(t.index);
    const coef = this.arena.alloc(4 * t.bandSize);
    coef.set(t.coef);
    return { t, index, coef, yr, yi };
  }

  /** True when at least one profile is enabled (otherwise only the level meter runs). */
  get listening(): boolean {
    return this.families.length > 0;
  }

  /** The oldest position the detector still needs (the next block's start). */
  get oldestNeeded(): number {
    return this.nextHop;
  }

  /** Forget every tracker, pending preamble and the hop position. */
  reset(): void {
    for (const fam of this.families) {
      resetTracker(fam.upTracker);
      resetTracker(fam.downTracker);
      fam.pendingPreambles = [];
      fam.budget = DECODE_BURST_MICROS;
      fam.budgetAt = undefined;
      fam.busyAt = undefined;
      fam.busySkipped = 0;
      fam.lastEps = 0;
      fam.lastEnd = undefined;
    }
    this.nextHop = -this.leadSamples;
  }

  /** Run every hop whose block is buffered, then expire preambles (all of them when final). */
  process<F>(input: InputBuffer, final: boolean, sink: DetectorSink<F>): void {
    if (this.families.length === 0) {
      // Nothing to listen for at this rate: keep only the level meter running.
      this.nextHop = input.end;
      return;
    }
    while (this.nextHop + this.fftSize <= input.end) {
      this.hop(input, this.nextHop, sink);
      this.nextHop += this.hopSize;
    }
    this.expirePreambles(final, sink);
  }

  private hop<F>(input: InputBuffer, pos: number, sink: DetectorSink<F>): void {
    const F = this.fftSize;
    const step = this.energyStep;
    const cum = this.energyPrefix;
    const buf = input.buffer;
    const off = pos - input.firstPosition;
    // Energy prefix sums (every energyStep samples) for the score normalisation.
    if (!this.arena.energy(buf, off, cum, F / step, step)) {
      // Each block of `step` squares is summed on its own, then added to the running total: the chain of
      // dependent additions is one per block, not one per sample (same order as the WebAssembly kernel).
      let acc = 0;
      cum[0] = 0;
      for (let i = 0, j = off; i < F / step; i++) {
        let block = 0;
        for (let end = j + step; j < end; j++) {
          const v = buf[j]!;
          block += v * v;
        }
        acc += block;
        cum[i + 1] = acc;
      }
    }
    // The real block packed as complex pairs for the half-size FFT (packing fused into its first stage);
    // the spectrum is left in bit-reversed order and read through the templates' index tables.
    fftDifPackedReal(buf, off, this.spectrumRe, this.spectrumIm);
    for (const fam of this.families) {
      this.scan(input, fam, fam.up, fam.upTracker, pos, true, sink);
      // Postamble templates only run while a preamble waits for its postamble.
      if (fam.pendingPreambles.length > 0 || fam.upTracker.cand) this.scan(input, fam, fam.down, fam.downTracker, pos, false, sink);
      else resetTracker(fam.downTracker);
    }
  }

  private scan<F>(input: InputBuffer, fam: Family, a: ActiveTemplate, tr: PeakTracker, pos: number, up: boolean, sink: DetectorSink<F>): void {
    const { bandSize: fs, decimation: dec, lengthSamples: L } = a.t;
    const { yr, yi, index: idx, coef } = a;
    const zr = this.spectrumRe;
    const zi = this.spectrumIm;
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
    const norm = 2 / (this.fftSize * this.fftSize * a.t.energy);
    const count = this.hopSize / dec;
    const step = this.energyStep;
    const cum = this.energyPrefix;
    // Energy floor: a window far quieter than its surroundings (a signal edge followed by digital silence)
    // must not score high just because the normalisation divides by almost nothing.
    const floor = Math.max(1e-12 * L, (0.25 * L * cum[this.fftSize / step]!) / this.fftSize);
    const thr = this.threshold;
    const dq = dec / step;
    const dl = L / step;
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
            const re = yr[q]!;
            const im = yi[q]!;
            if (norm * (re * re + im * im) >= thr * ex) break;
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
      this.track(input, fam, tr, pos + q * dec, lagScore(yr, yi, cum, q, dq, dl, norm, floor), dec, L, up, sink);
      q++;
    }
  }

  private track<F>(input: InputBuffer, fam: Family, tr: PeakTracker, lag: number, v: number, dec: number, L: number, up: boolean, sink: DetectorSink<F>): void {
    if (tr.cand && lag > tr.cand.lag + L) {
      const c = tr.cand;
      tr.cand = null;
      this.onPeak(input, fam, up, { position: c.pos, score: c.score }, sink);
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

  private onPeak<F>(input: InputBuffer, fam: Family, up: boolean, peak: ChirpPeak, sink: DetectorSink<F>): void {
    if (tracing()) trace({ t: 'peak', family: fam.key, up, pos: peak.position, score: peak.score });
    if (up) {
      fam.pendingPreambles.push(peak);
      sink.preamble(fam.key, peak);
      return;
    }
    const Nc = this.chirpSamples;
    const candidates = fam.pendingPreambles.filter((p) => !p.consumed && peak.position - p.position >= fam.minSpacingSamples - Nc && peak.position - p.position <= fam.maxSpacingSamples + Nc);
    if (candidates.length === 0) return;
    // Refill the family's decode budget for the audio since its last postamble with candidates (positions, not
    // the clock: the same stream gives the same result however it is pushed).
    if (fam.budgetAt !== undefined && peak.position > fam.budgetAt) {
      // floor((2e6 * delta) / fs) in doubles, multiplication first: whole microseconds, so every sum is exact.
      fam.budget = Math.min(DECODE_BURST_MICROS, fam.budget + Math.floor((DECODE_MICROS_PER_SECOND * (peak.position - fam.budgetAt)) / this.sampleRate));
    }
    fam.budgetAt = Math.max(fam.budgetAt ?? peak.position, peak.position);
    let bestFail: SyncFailure | null = null;
    let bestPre: ChirpPeak | null = null;
    // Latest preamble first: the nearest plausible pair is the most likely.
    for (const pre of candidates.sort((a, b) => b.position - a.position)) {
      const res = this.pair(input, fam, pre, peak, sink);
      if (res === BUSY) {
        // Spent: this preamble and those left are not (all) tried for this postamble, and not reported as
        // no_postamble when they expire. One fsk.busy a BUSY_REPORT_SECONDS of audio, with the count since.
        for (const p of candidates) if (!p.consumed) p.attempted = true;
        fam.busySkipped++;
        if (fam.busyAt === undefined || peak.position - fam.busyAt >= BUSY_REPORT_SECONDS * this.sampleRate) {
          sink.failure({ ...BUSY, detail: { postambles: fam.busySkipped, family: fam.key } }, pre);
          fam.busyAt = peak.position;
          fam.busySkipped = 0;
        }
        return;
      }
      if ('frame' in res) {
        pre.consumed = true;
        for (const other of fam.pendingPreambles) if (other.position > pre.position && other.position < peak.position) other.consumed = true;
        sink.frame(res.frame);
        return;
      }
      pre.attempted = true;
      if (!bestFail || res.rank > bestFail.rank) {
        bestFail = res;
        bestPre = pre;
      }
    }
    if (bestFail && bestPre) sink.failure(bestFail, bestPre);
  }

  private expirePreambles<F>(final: boolean, sink: DetectorSink<F>): void {
    const now = this.nextHop;
    for (const fam of this.families) {
      const keep: ChirpPeak[] = [];
      for (const p of fam.pendingPreambles) {
        const expired = final || now > p.position + fam.maxSpacingSamples + 3 * this.chirpSamples + this.fftSize;
        if (!expired) keep.push(p);
        else if (!p.consumed && !p.attempted) sink.expired(fam.key, p);
      }
      fam.pendingPreambles = keep;
    }
  }

  /** Try every (profile, R) that fits the spacing of pre and post, smallest |eps| first. */
  private pair<F>(input: InputBuffer, fam: Family, pre: ChirpPeak, post: ChirpPeak, sink: DetectorSink<F>): { frame: F } | SyncFailure {
    const rate = this.sampleRate;
    const S = post.position - pre.position;
    const cands: { p: FskProfile; rows: number; eps: number }[] = [];
    for (const p of fam.profiles) {
      for (let rows = minRows(p); rows <= maxRows(p); rows++) {
        const D = postambleStart(p, rows) * rate;
        const eps = (D - S) / (D - fam.pairBiasSeconds * rate);
        if (Math.abs(eps) <= this.maxClockOffset) cands.push({ p, rows, eps });
      }
    }
    if (cands.length === 0) {
      return { rank: 0, code: 'fsk.no_postamble', reason: 'no frame length fits the preamble-postamble spacing' };
    }
    // Nearest the expected clock offset first: 0, or, for a frame that starts within FOLLOW_ON_SECONDS of the end of
    // the family's last decoded frame (the next segment of the same phone's message), that frame's offset. A long
    // frame's spacing also fits the rows next to the right one within eps_max; with a phone's clock 2 % off
    // those (smaller |eps|) came first, up to 6 candidates of 3.4 s for every segment of the message.
    // Only candidates within FOLLOW_ON_EPS of that offset go first (the same phone's segments agree to about 0.1 %),
    // the rest as usual: a different phone right after, at another offset, pays at most the one or two candidates
    // in that window (a review: all of those between the two offsets lost a message on a nearly spent budget).
    const follows = fam.lastEnd !== undefined && pre.position - fam.lastEnd <= FOLLOW_ON_SECONDS * rate && pre.position >= fam.lastEnd - this.chirpSamples;
    const near = (c: { eps: number }) => follows && Math.abs(c.eps - fam.lastEps) <= FOLLOW_ON_EPS;
    cands.sort((a, b) => {
      const na = near(a);
      const nb = near(b);
      if (na !== nb) return na ? -1 : 1;
      return na ? Math.abs(a.eps - fam.lastEps) - Math.abs(b.eps - fam.lastEps) : Math.abs(a.eps) - Math.abs(b.eps);
    });
    // Ill-conditioned spacings (spec/fsk.md §7.2 step 4): where T_post(R) is within ILL_CONDITIONED_SECONDS
    // of kappa, the spacing barely depends on eps, so a few samples of coarse timing error move eps by
    // thousands of ppm. After every direct candidate has failed, those (profile, R) are tried again at
    // eps + k * EPS_STEP, k = +-1 .. +-EPS_STEPS (nearest first), still within maxClockOffset.
    const retries: { p: FskProfile; rows: number; eps: number }[] = [];
    for (let k = 1; k <= EPS_STEPS; k++) {
      for (const c of cands) {
        if (Math.abs(postambleStart(c.p, c.rows) - fam.pairBiasSeconds) >= ILL_CONDITIONED_SECONDS) continue;
        for (const e of [c.eps - k * EPS_STEP, c.eps + k * EPS_STEP]) if (Math.abs(e) <= this.maxClockOffset) retries.push({ p: c.p, rows: c.rows, eps: e });
      }
    }
    let best: SyncFailure | null = null;
    for (const c of [...cands, ...retries]) {
      const cost = Math.max(DECODE_MIN_COST_MICROS, frameMicros(c.p, c.rows));
      if (fam.budget < cost) return BUSY;
      fam.budget -= cost;
      const sync = this.sync(input, fam, c.p, c.rows, c.eps, pre, post);
      const res = sink.decode(sync);
      if ('frame' in res) {
        fam.lastEps = sync.eps;
        fam.lastEnd = sync.start + (sync.spacingSamples + c.p.chirpDuration * rate) / (1 + sync.eps);
      }
      if ('frame' in res) return res;
      if (!best || res.rank > best.rank) best = res;
    }
    return best!;
  }

  /** Refine a candidate: both chirps re-measured at full rate with templates compressed by (1 + eps0). */
  private sync(input: InputBuffer, fam: Family, p: FskProfile, rows: number, eps0: number, pre: ChirpPeak, post: ChirpPeak): FrameSync {
    const rate = this.sampleRate;
    const D = postambleStart(p, rows) * rate;
    // Undo the delay-Doppler bias of the coarse peaks, then re-measure with scaled templates.
    const radius = Math.max(fam.up.t.decimation, fam.down.t.decimation) * 2 + 4;
    const P0 = pre.position + eps0 * fam.preambleBiasSeconds * rate;
    let r1 = refineFollowing(input, p, true, P0, eps0, radius);
    let r2 = refineFollowing(input, p, false, r1.pos + D / (1 + eps0), eps0, radius);
    let eps = D / (r2.pos - r1.pos) - 1;
    // A second refinement with templates compressed by the eps just measured, when it differs from eps0 by more
    // than REFINE_AGAIN_EPS: past about 1 % the coarse eps0 is off enough that the templates no longer match the
    // chirps (refined scores of 0.05 at 35 dB SNR), and eps, measured from the two peaks, is the better guess.
    // Kept when the two scores sum higher (spec/fsk.md §7.2 step 5).
    if (Number.isFinite(eps) && Math.abs(eps) <= this.maxClockOffset * 1.2 && Math.abs(eps - eps0) > REFINE_AGAIN_EPS) {
      const q1 = refineFollowing(input, p, true, r1.pos, eps, radius);
      const q2 = refineFollowing(input, p, false, r2.pos, eps, radius);
      const eps2 = D / (q2.pos - q1.pos) - 1;
      // Kept only with a usable eps of its own: a first pass whose eps was usable is not traded for a fallback.
      if (q1.score + q2.score > r1.score + r2.score && Number.isFinite(eps2) && Math.abs(eps2) <= this.maxClockOffset * 1.2) {
        r1 = q1;
        r2 = q2;
        eps = eps2;
      }
    }
    let P = r1.pos;
    if (!Number.isFinite(eps) || Math.abs(eps) > this.maxClockOffset * 1.2) {
      eps = eps0;
      P = P0;
    }
    if (tracing()) {
      trace({
        t: 'sync', profile: p.name, rows, eps0, pre: pre.position, post: post.position, preamblePos: r1.pos, preambleScore: r1.score,
        postamblePos: r2.pos, postambleScore: r2.score, eps, start: P,
      });
    }
    return { profile: p, rows, start: P, eps, spacingSamples: D, preambleScore: r1.score, postambleScore: r2.score };
  }
}

/** Searches a refinement may take beyond its first window (spec/fsk.md §7.2 step 5). */
export const REFINE_FOLLOW_STEPS = 8;
/** |eps - eps0| above which both chirps are refined again with templates compressed by eps (§7.2 step 5). */
export const REFINE_AGAIN_EPS = 1e-4;

/**
 * refineChirp, followed across the edge of its window: while the best offset is the window's first or last
 * (the chirp lies further than the window reaches: over a long frame a small error of the coarse clock offset
 * moves the postamble by more than the radius), the search is repeated around that edge moved by one more
 * radius, at most REFINE_FOLLOW_STEPS times, as long as the score rises (spec/fsk.md §7.2 step 5).
 */
function refineFollowing(input: InputBuffer, p: FskProfile, up: boolean, center: number, eps: number, radius: number): { pos: number; score: number } {
  let c = Math.round(center);
  let r = refineChirp(input, p, up, c, eps, radius);
  for (let k = 0; k < REFINE_FOLLOW_STEPS; k++) {
    const side = r.pos === c - radius ? -1 : r.pos === c + radius ? 1 : 0;
    if (side === 0) break;
    const next = refineChirp(input, p, up, c + 2 * side * radius, eps, radius);
    if (!(next.score > r.score)) break;
    c += 2 * side * radius;
    r = next;
  }
  return r;
}

/** What a postamble whose candidates were not all tried reports (ranked above every decoding failure). */
const BUSY: SyncFailure = {
  rank: 10,
  code: 'fsk.busy',
  reason: 'decode budget spent: more chirps than frames can explain; frame candidates were not tried',
};

/** Score of band-IFFT output q (a plain function: a closure would move the hot loop's arrays into a context). */
function lagScore(yr: Float64Array, yi: Float64Array, cum: Float64Array, q: number, dq: number, dl: number, norm: number, floor: number): number {
  const ex = Math.max(floor, cum[q * dq + dl]! - cum[q * dq]!);
  return Math.min(1, (norm * (yr[q]! * yr[q]! + yi[q]! * yi[q]!)) / ex);
}

/**
 * Full-rate correlation with the chirp compressed in time by (1 + eps) (template sample i = chirp at
 * tau = i (1 + eps) / fs, ceil(Tc fs / (1 + eps)) samples) at every integer offset within radius of center;
 * score 2 |c|^2 / (E_t E_x) (0 where E_x = 0). Returns the best offset refined by a parabola through the
 * square roots of its neighbours' scores (within +-0.5), and its score.
 */
export function refineChirp(input: InputBuffer, p: FskProfile, up: boolean, center: number, eps: number, radius: number): { pos: number; score: number } {
  const rate = input.sampleRate;
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
      const v = input.sample(n0 + i);
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
