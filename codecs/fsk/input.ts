/**
 * Input stage of the receiver (spec/fsk.md §7.2 step 1): sanitises pushed samples into the sample history
 * and keeps the level meter.
 *
 * - Positions are absolute sample indices since the receiver started (or was reset). The history holds the
 *   samples [firstPosition, firstPosition + length). The stream is taken to be preceded by silence: after
 *   create/reset the history holds leadSamples zeros at positions -leadSamples .. -1.
 * - Sanitising: a non-finite sample becomes 0 (counted), a finite one is clamped to +-1e6; |x| >= 0.999 counts
 *   as clipped. Level: meanSquareEma is an exponential average of the per-push mean square with weight
 *   exp(-n / (0.3 s * fs)) for a push of n samples (a 0.3 s time constant); peak is the last push's largest |x|.
 * - The buffer lives in the detector's arena (its WebAssembly kernels read the samples in place); when it is
 *   full, `compact` drops what no consumer needs any more: everything before min(next hop start,
 *   end - historySamples).
 *
 * create: new InputBuffer(buffer, historySamples, leadSamples). reset(): back to the state after create.
 * push: append(samples, consumer) copies the samples in, calling consumer.drain() whenever the buffer is full
 * so that it never needs to grow.
 */
import type { InputLevel } from './receive.js';

/** What the input stage needs from the blocks that read the history. */
export interface HistoryConsumer {
  /** Process everything buffered (called when the buffer is full). */
  drain(): void;
  /** The oldest position still needed (the next hop's start). */
  readonly oldestNeeded: number;
}

function dbfs(x: number): number {
  return x > 0 ? 20 * Math.log10(x) : -Infinity;
}

/** Round a dB value to 0.1 dB (infinities pass through). */
export function roundDb(x: number): number {
  return Number.isFinite(x) ? Math.round(x * 10) / 10 : x;
}

export class InputBuffer {
  /** Sample rate, Hz. */
  readonly sampleRate: number;
  /** The samples; buffer[i] is position firstPosition + i. */
  readonly buffer: Float32Array;
  /** Samples kept behind the newest one when compacting (longest frame plus transform margins). */
  readonly historySamples: number;
  /** Silence before position 0: zeros at -leadSamples .. -1 (spec/fsk.md §7.2 step 1). */
  readonly leadSamples: number;
  /** Absolute position of buffer[0], samples. */
  firstPosition = 0;
  /** Samples held. */
  length = 0;
  /** Exponential average of the mean square per push (0.3 s time constant), full scale = 1. */
  private meanSquareEma = 0;
  /** Largest |x| of the last push. */
  private lastPeak = 0;
  /** Totals since create/reset: samples pushed, clipped, non-finite, and the sum of squares. */
  private readonly totals = { samples: 0, clipped: 0, nonFinite: 0, sumSq: 0 };
  /** Per-push level accumulators (a field, so that the copy loops allocate nothing). */
  private readonly acc = { ms: 0, peak: 0, clipped: 0, nonFinite: 0 };

  constructor(sampleRate: number, buffer: Float32Array, historySamples: number, leadSamples: number) {
    this.sampleRate = sampleRate;
    this.buffer = buffer;
    this.historySamples = historySamples;
    this.leadSamples = leadSamples;
    this.reset();
  }

  /** Empty history (only the lead-in silence) and zeroed level meter. */
  reset(): void {
    this.buffer.fill(0, 0, this.leadSamples);
    this.firstPosition = -this.leadSamples;
    this.length = this.leadSamples;
    this.meanSquareEma = 0;
    this.lastPeak = 0;
    this.totals.samples = 0;
    this.totals.clipped = 0;
    this.totals.nonFinite = 0;
    this.totals.sumSq = 0;
  }

  /** Position after the newest sample. */
  get end(): number {
    return this.firstPosition + this.length;
  }

  /** Sample at absolute position n (0 outside the history). */
  sample(n: number): number {
    const i = n - this.firstPosition;
    return i >= 0 && i < this.length ? this.buffer[i]! : 0;
  }

  /**
   * Sum of x^2 over the `count` samples from absolute position `from` (both rounded to whole samples; samples
   * outside the history count as 0): the energy of one chirp window, for a frame's signal level.
   */
  energy(from: number, count: number): number {
    const a = Math.max(0, Math.round(from) - this.firstPosition);
    const b = Math.min(this.length, Math.round(from) + Math.round(count) - this.firstPosition);
    let e = 0;
    for (let i = a; i < b; i++) e += this.buffer[i]! * this.buffer[i]!;
    return e;
  }

  /** Current input level and counters. */
  level(): InputLevel {
    const t = this.totals;
    return {
      rmsDbfs: roundDb(10 * Math.log10(this.meanSquareEma)),
      peakDbfs: roundDb(dbfs(this.lastPeak)),
      overallRmsDbfs: roundDb(t.samples ? 10 * Math.log10(t.sumSq / t.samples) : -Infinity),
      samples: t.samples,
      clippedSamples: t.clipped,
      nonFiniteSamples: t.nonFinite,
    };
  }

  /** Push samples (sanitised, metered). */
  append(samples: ArrayLike<number>, consumer: HistoryConsumer): void {
    const n = samples.length;
    if (n === 0) return;
    const acc = this.acc;
    acc.ms = 0;
    acc.peak = 0;
    acc.clipped = 0;
    acc.nonFinite = 0;
    // Samples go straight into the buffer (no per-push allocation). Float32Array input (Web Audio, WAV)
    // is block-copied and then checked in one read-only pass; only a block holding a clipped, out-of-range
    // or non-finite sample is redone sample by sample.
    const f32 = samples instanceof Float32Array ? samples : null;
    let off = 0;
    while (off < n) {
      if (this.length === this.buffer.length) this.compact(consumer.oldestNeeded);
      const take = Math.min(n - off, this.buffer.length - this.length);
      if (!f32 || !this.copyClean(f32, off, take)) this.copySanitised(samples, off, take);
      this.length += take;
      off += take;
      if (this.length === this.buffer.length) consumer.drain();
    }
    const t = this.totals;
    t.clipped += acc.clipped;
    t.nonFinite += acc.nonFinite;
    t.samples += n;
    t.sumSq += acc.ms;
    const alpha = Math.exp(-n / (0.3 * this.sampleRate));
    this.meanSquareEma = alpha * this.meanSquareEma + (1 - alpha) * (acc.ms / n);
    this.lastPeak = acc.peak;
  }

  /** Append silence (end of stream), unmetered. */
  appendSilence(count: number, consumer: HistoryConsumer): void {
    let left = count;
    while (left > 0) {
      if (this.length === this.buffer.length) this.compact(consumer.oldestNeeded);
      const take = Math.min(left, this.buffer.length - this.length);
      this.buffer.fill(0, this.length, this.length + take);
      this.length += take;
      left -= take;
      // Process as we go so that the buffer never needs more than the history of past samples.
      if (this.length === this.buffer.length) consumer.drain();
    }
  }

  /** Block copy of x[off, off + take) to the buffer end; false (level untouched) if any sample needs sanitising. */
  private copyClean(x: Float32Array, off: number, take: number): boolean {
    const buf = this.buffer;
    const w0 = this.length;
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
    const buf = this.buffer;
    const acc = this.acc;
    const typed = samples instanceof Float32Array || samples instanceof Float64Array ? samples : null;
    let { ms, peak, clipped, nonFinite } = acc;
    let w = this.length;
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

  /** Drop the samples before min(oldestNeeded, end - historySamples) (never past firstPosition). */
  private compact(oldestNeeded: number): void {
    const keepFrom = Math.min(oldestNeeded, Math.max(this.firstPosition, this.end - this.historySamples));
    const drop = keepFrom - this.firstPosition;
    if (drop <= 0) throw new Error('fsk receiver buffer overflow');
    this.buffer.copyWithin(0, drop, this.length);
    this.firstPosition += drop;
    this.length -= drop;
  }
}
