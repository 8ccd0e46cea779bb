/**
 * Seeded acoustic channel simulator (spec/fsk.md §9): noise at a stated SNR, synthetic room impulse
 * responses, band limits and tilt, clock offset, sample-rate change, clipping, dropouts and clicks; plus
 * speech-like and music-like test signals for false-detection runs. Pure TypeScript, no I/O.
 *
 * SNR definition (as in shared/research/acoustic.md): full-band SNR = 10 log10(P_s / sigma^2), where P_s is
 * the mean square of the transmitted waveform over its active span (first to last non-zero sample, before
 * any impairment) and sigma^2 is the variance of the noise added at the capture rate, i.e. spread over
 * 0 .. rate/2. For pink noise sigma^2 is the total variance of the pink noise.
 */
import { OffpayError } from '../../base/errors.js';
import { convolve, fft, nextPow2 } from './fft.js';
import { MAX_RATE, MIN_RATE } from './modulate.js';
import { makeRng, type Rng } from './prng.js';

/**
 * Longest capture {@link simulate} makes or {@link resample} returns, in samples (2^24: 87 s at 192 kHz, 349 s
 * at 48 kHz; the longest message, 4096 bytes `ultrasonic`, is 36 s). Longer is `fsk.bad_input` (spec/fsk.md §9),
 * refused before anything is allocated.
 */
export const MAX_SIM_SAMPLES = 1 << 24;

/** `len`, a capture length in samples, if it is at most MAX_SIM_SAMPLES; else `fsk.bad_input`. */
function boundedLength(len: number): number {
  if (!(len <= MAX_SIM_SAMPLES)) {
    throw new OffpayError('fsk.bad_input', `the simulated capture would be ${len} samples, over the limit of ${MAX_SIM_SAMPLES}`, { samples: len, limit: MAX_SIM_SAMPLES });
  }
  return len;
}

/** Output length of {@link resample} for `n` input samples, checked against MAX_SIM_SAMPLES. */
function resampledLength(n: number, ratio: number): number {
  if (!Number.isFinite(ratio) || ratio <= 0) throw new OffpayError('fsk.bad_input', `resampling ratio ${ratio} is not a positive number (a clock offset at or below -100 %?)`);
  return boundedLength(n === 0 ? 0 : Math.floor((n - 1) / ratio) + 1);
}

/** The simulator's rates are the codec's (spec/fsk.md §1): a whole number of Hz in 8000 … 192000, else `fsk.bad_rate`. */
function checkSimRate(rate: number, what: string, option: string): void {
  if (typeof rate !== 'number' || !Number.isInteger(rate) || rate < MIN_RATE || rate > MAX_RATE) {
    throw new OffpayError('fsk.bad_rate', `${what} ${rate} Hz is not a whole number of Hz in ${MIN_RATE}..${MAX_RATE}`, { option, rate });
  }
}

/**
 * An acoustic channel for {@link simulate} (spec/fsk.md §9): noise, reverberation, band limits, clock offset,
 * clipping, dropouts and clicks, all drawn from `seed` so a failure replays exactly.
 */
export interface ChannelOptions {
  /** Seed of every random draw (noise, reverb, dropout positions, lead-in). */
  seed: number;
  /** Full-band SNR in dB; omit for no noise. */
  snrDb?: number;
  /** Noise colour (default white). */
  noise?: 'white' | 'pink';
  /** Reverberation: RT60 in seconds and direct-to-reverberant ratio in dB (both needed). */
  rt60?: number;
  /** Direct-to-reverberant ratio, dB (with `rt60`). */
  drrDb?: number;
  /** Band limits (Hz) of speaker/mic, raised-cosine edges 10 % wide. */
  bandLowHz?: number;
  /** Upper band limit, Hz. */
  bandHighHz?: number;
  /** Spectral tilt in dB per octave relative to 1 kHz (negative = high frequencies weaker). */
  tiltDbPerOctave?: number;
  /** Clock offset eps: the capture is compressed in time by (1 + eps) (0.01 = +1 %). */
  clockOffset?: number;
  /** Capture sample rate (default: the input rate). */
  outRate?: number;
  /** Overdrive in dB above full scale before hard clipping at +-1 (e.g. 6). */
  clipDb?: number;
  /** Zeroed spans placed at random inside the active signal. */
  dropouts?: {
    /** Number of dropouts over the signal. */
    count: number;
    /** Length of each dropout, seconds. */
    duration: number;
  };
  /** Noise bursts (3 ms) at levelDb relative to the signal RMS. */
  clicks?: {
    /** Number of clicks over the recording. */
    count: number;
    /** Click level, dBFS. */
    levelDb: number;
    /** Length of each click, seconds (default 0.003). */
    duration?: number;
  };
  /** Silence added before the signal, seconds; a [min, max] pair draws it at random (default 0.3). */
  leadIn?: number | [number, number];
  /** Silence added after the signal, seconds (default 0.3). */
  tail?: number;
}

/** The capture {@link simulate} produced: samples at `rate` Hz, where the input landed, and the powers used. */
export interface ChannelResult {
  /** The captured samples. */
  samples: Float32Array;
  /** Their sample rate, Hz. */
  rate: number;
  /** Where the input's first sample landed in the output (in output samples). */
  offset: number;
  /** Mean square of the input's active span. */
  signalPower: number;
  /** RMS of the added noise (0 without). */
  noiseRms: number;
}

/** Mean square over the active span (first to last non-zero sample). */
export function activePower(x: ArrayLike<number>): number {
  let first = -1;
  let last = -1;
  for (let i = 0; i < x.length; i++) {
    if (x[i] !== 0) {
      if (first < 0) first = i;
      last = i;
    }
  }
  if (first < 0) return 0;
  let s = 0;
  for (let i = first; i <= last; i++) s += x[i]! * x[i]!;
  return s / (last - first + 1);
}

/** `n` samples of Gaussian white noise with RMS `rms`, drawn from `rng`. */
export function whiteNoise(n: number, rms: number, rng: Rng): Float64Array {
  const out = new Float64Array(n);
  for (let i = 0; i < n; i++) out[i] = rms * rng.gauss();
  return out;
}

/** Pink (1/f) noise by Paul Kellet's economy filter, scaled to exactly `rms` over the span. */
export function pinkNoise(n: number, rms: number, rng: Rng): Float64Array {
  const out = new Float64Array(n);
  let b0 = 0;
  let b1 = 0;
  let b2 = 0;
  for (let i = 0; i < n; i++) {
    const w = rng.gauss();
    b0 = 0.99765 * b0 + w * 0.099046;
    b1 = 0.963 * b1 + w * 0.2965164;
    b2 = 0.57 * b2 + w * 1.0526913;
    out[i] = b0 + b1 + b2 + w * 0.1848;
  }
  let s = 0;
  for (let i = 0; i < n; i++) s += out[i]! * out[i]!;
  const k = s > 0 ? rms / Math.sqrt(s / n) : 0;
  for (let i = 0; i < n; i++) out[i] = out[i]! * k;
  return out;
}

/**
 * Synthetic room impulse response: a unit direct path at t = 0 and a Gaussian tail from 1 ms on whose
 * amplitude decays by 60 dB over rt60, scaled so that direct energy / tail energy = DRR. Length rt60.
 */
export function roomImpulseResponse(rate: number, rt60: number, drrDb: number, rng: Rng): Float64Array {
  const n = Math.max(2, Math.round(rt60 * rate));
  const h = new Float64Array(n);
  const start = Math.max(1, Math.round(0.001 * rate));
  let e = 0;
  for (let i = start; i < n; i++) {
    const t = i / rate;
    h[i] = rng.gauss() * Math.exp((-6.907755 * t) / rt60);
    e += h[i]! * h[i]!;
  }
  const k = e > 0 ? Math.sqrt(Math.pow(10, -drrDb / 10) / e) : 0;
  for (let i = start; i < n; i++) h[i] = h[i]! * k;
  h[0] = 1;
  return h;
}

/** Band limit and tilt applied in the frequency domain over the whole signal. */
export function bandFilter(x: Float64Array, rate: number, lowHz = 0, highHz = rate / 2, tiltDbPerOctave = 0): Float64Array {
  const n = nextPow2(x.length + 1024);
  const re = new Float64Array(n);
  const im = new Float64Array(n);
  re.set(x);
  fft(re, im);
  const edge = (f: number, f0: number, w: number) => (f <= f0 - w / 2 ? 0 : f >= f0 + w / 2 ? 1 : 0.5 - 0.5 * Math.cos((Math.PI * (f - f0 + w / 2)) / w));
  for (let k = 0; k <= n / 2; k++) {
    const f = (k * rate) / n;
    let g = 1;
    if (lowHz > 0) g *= edge(f, lowHz, 0.1 * lowHz);
    if (highHz < rate / 2) g *= 1 - edge(f, highHz, 0.1 * highHz);
    if (tiltDbPerOctave !== 0 && f > 0) g *= Math.pow(10, (tiltDbPerOctave * Math.log2(f / 1000)) / 20);
    re[k] = re[k]! * g;
    im[k] = im[k]! * g;
    if (k > 0 && k < n / 2) {
      re[n - k] = re[n - k]! * g;
      im[n - k] = im[n - k]! * g;
    }
  }
  fft(re, im, true);
  const out = new Float64Array(x.length);
  for (let i = 0; i < x.length; i++) out[i] = re[i]! / n;
  return out;
}

/**
 * Resample by reading the input at positions n * ratio (ratio = input samples per output sample) with a
 * Hann-windowed sinc of 32 zero crossings each side, low-passed at min(1, 1/ratio) of the input Nyquist.
 */
export function resample(x: Float64Array, ratio: number): Float64Array {
  const outLen = resampledLength(x.length, ratio);
  const out = new Float64Array(outLen);
  const cutoff = Math.min(1, 1 / ratio) * 0.97;
  const half = Math.ceil(32 / cutoff);
  // Kernel tabulated at 1/STEPS sample resolution, linearly interpolated.
  const STEPS = 512;
  const span = half + 1;
  const table = new Float64Array(2 * span * STEPS + 2);
  for (let i = 0; i < table.length; i++) {
    const d = i / STEPS - span;
    const w = Math.abs(d) >= span ? 0 : 0.5 + 0.5 * Math.cos((Math.PI * d) / span);
    const a = Math.PI * d * cutoff;
    table[i] = cutoff * (Math.abs(a) < 1e-9 ? 1 : Math.sin(a) / a) * w;
  }
  for (let n = 0; n < outLen; n++) {
    const pos = n * ratio;
    const c = Math.floor(pos);
    let acc = 0;
    const lo = Math.max(0, c - half + 1);
    const hi = Math.min(x.length - 1, c + half);
    for (let i = lo; i <= hi; i++) {
      const u = (pos - i + span) * STEPS;
      const k = Math.floor(u);
      const f = u - k;
      acc += x[i]! * (table[k]! + f * (table[k + 1]! - table[k]!));
    }
    out[n] = acc;
  }
  return out;
}

/**
 * Run the channel. The input is the transmitted waveform at `rate`.
 *
 * @throws OffpayError `fsk.bad_rate` (`rate` or `outRate` not a whole number of Hz in 8000 … 192000),
 *   `fsk.bad_input` (a lead-in or tail not a finite number of seconds >= 0, a clock offset at or below -100 %,
 *   or a capture over MAX_SIM_SAMPLES before or after resampling), all before any large allocation.
 */
export function simulate(input: ArrayLike<number>, rate: number, ch: ChannelOptions): ChannelResult {
  checkSimRate(rate, 'input sample rate', 'rate');
  if (ch.outRate !== undefined) checkSimRate(ch.outRate, 'capture sample rate', 'outRate');
  const rng = makeRng(ch.seed);
  const lead = Array.isArray(ch.leadIn) ? ch.leadIn[0] + rng.next() * (ch.leadIn[1] - ch.leadIn[0]) : (ch.leadIn ?? 0.3);
  const tail = ch.tail ?? 0.3;
  if (!(Number.isFinite(lead) && lead >= 0 && Number.isFinite(tail) && tail >= 0)) {
    throw new OffpayError('fsk.bad_input', `lead-in ${lead} s and tail ${tail} s must be finite numbers of seconds >= 0`);
  }
  const leadN = Math.round(lead * rate);
  const total = leadN + input.length + Math.round(tail * rate);
  const outRate = ch.outRate ?? rate;
  const ratio = (rate / outRate) * (1 + (ch.clockOffset ?? 0));
  boundedLength(total); // the capture before resampling,
  resampledLength(total, ratio); // and after
  const signalPower = activePower(input);
  let x: Float64Array = new Float64Array(total);
  for (let i = 0; i < input.length; i++) x[leadN + i] = input[i]!;
  if (ch.clipDb !== undefined) {
    let peak = 0;
    for (let i = 0; i < x.length; i++) peak = Math.max(peak, Math.abs(x[i]!));
    const g = peak > 0 ? Math.pow(10, ch.clipDb / 20) / peak : 0;
    for (let i = 0; i < x.length; i++) x[i] = Math.max(-1, Math.min(1, x[i]! * g));
  }
  const clipGain = (() => {
    if (ch.clipDb === undefined) return 1;
    let peak = 0;
    for (let i = 0; i < input.length; i++) peak = Math.max(peak, Math.abs(input[i]!));
    return peak > 0 ? Math.pow(10, ch.clipDb / 20) / peak : 1;
  })();
  if (ch.rt60 !== undefined && ch.rt60 > 0) {
    const h = roomImpulseResponse(rate, ch.rt60, ch.drrDb ?? 0, rng);
    x = convolve(x, h).slice(0, x.length);
  }
  if (ch.bandLowHz !== undefined || ch.bandHighHz !== undefined || ch.tiltDbPerOctave) {
    x = bandFilter(x, rate, ch.bandLowHz ?? 0, ch.bandHighHz ?? rate / 2, ch.tiltDbPerOctave ?? 0);
  }
  if (ratio !== 1) x = resample(x, ratio);
  const offset = Math.round(leadN / ratio);
  let noiseRms = 0;
  if (ch.snrDb !== undefined && signalPower > 0) {
    // Noise relative to the transmitted power (times the clipping gain, which is part of the sender).
    noiseRms = Math.sqrt((signalPower * clipGain * clipGain) / Math.pow(10, ch.snrDb / 10));
    const nz = ch.noise === 'pink' ? pinkNoise(x.length, noiseRms, rng) : whiteNoise(x.length, noiseRms, rng);
    for (let i = 0; i < x.length; i++) x[i] = x[i]! + nz[i]!;
  }
  const activeStart = offset;
  const activeLen = Math.max(1, Math.round(input.length / ratio));
  if (ch.dropouts && ch.dropouts.count > 0) {
    const d = Math.round(ch.dropouts.duration * outRate);
    for (let k = 0; k < ch.dropouts.count; k++) {
      const s = activeStart + rng.int(Math.max(1, activeLen - d));
      for (let i = s; i < Math.min(x.length, s + d); i++) x[i] = 0;
    }
  }
  if (ch.clicks && ch.clicks.count > 0) {
    const d = Math.max(1, Math.round((ch.clicks.duration ?? 0.003) * outRate));
    const amp = Math.sqrt(signalPower * clipGain * clipGain) * Math.pow(10, ch.clicks.levelDb / 20);
    for (let k = 0; k < ch.clicks.count; k++) {
      const s = activeStart + rng.int(Math.max(1, activeLen - d));
      for (let i = s; i < Math.min(x.length, s + d); i++) x[i] = x[i]! + amp * rng.gauss();
    }
  }
  const samples = new Float32Array(x.length);
  for (let i = 0; i < x.length; i++) samples[i] = x[i]!;
  return { samples, rate: outRate, offset, signalPower, noiseRms };
}

/**
 * Speech-like signal: a glottal pulse train (pitch 90-250 Hz, gliding) through three formant resonators
 * that move every syllable (~4 per second), with fricative noise bursts and pauses. Peak about `peak`.
 */
export function speechLike(seconds: number, rate: number, seed: number, peak = 0.5): Float32Array {
  const rng = makeRng(seed);
  const n = Math.round(seconds * rate);
  const out = new Float64Array(n);
  const formants = [[700, 1200, 2600], [300, 2300, 3000], [500, 900, 2400], [400, 1900, 2600], [600, 1000, 2500]];
  let i = 0;
  const state = [0, 0, 0, 0, 0, 0];
  while (i < n) {
    const syl = Math.round((0.12 + rng.next() * 0.2) * rate);
    const pause = rng.next() < 0.2 ? Math.round(rng.next() * 0.3 * rate) : 0;
    const fr = formants[rng.int(formants.length)]!;
    const f0a = 90 + rng.next() * 160;
    const f0b = f0a * (0.8 + rng.next() * 0.4);
    const fricative = rng.next() < 0.25;
    let phase = 0;
    const coefs = fr.map((f, k) => {
      const bw = 80 + 40 * k;
      const r = Math.exp((-Math.PI * bw) / rate);
      return [2 * r * Math.cos((2 * Math.PI * f) / rate), -r * r];
    });
    for (let j = 0; j < syl && i < n; j++, i++) {
      const env = Math.sin((Math.PI * j) / syl);
      let src: number;
      if (fricative) src = 0.3 * rng.gauss();
      else {
        const f0 = f0a + ((f0b - f0a) * j) / syl;
        phase += f0 / rate;
        src = phase >= 1 ? ((phase -= 1), 1) : 0;
        src += 0.02 * rng.gauss();
      }
      let y = 0;
      for (let k = 0; k < 3; k++) {
        const [a1, a2] = coefs[k]!;
        const v = src + a1! * state[2 * k]! + a2! * state[2 * k + 1]!;
        state[2 * k + 1] = state[2 * k]!;
        state[2 * k] = v;
        y += v / (k + 1);
      }
      out[i] = env * y;
    }
    i += pause;
  }
  return normalise(out, peak);
}

/**
 * Music-like signal: notes from an equal-tempered scale (2-4 at a time, 6 harmonics, ADSR envelopes,
 * slight vibrato), with a noise-burst percussion track. Peak about `peak`.
 */
export function musicLike(seconds: number, rate: number, seed: number, peak = 0.5): Float32Array {
  const rng = makeRng(seed);
  const n = Math.round(seconds * rate);
  const out = new Float64Array(n);
  const beat = 0.25 + rng.next() * 0.25;
  for (let t = 0; t < seconds; t += beat) {
    const voices = 2 + rng.int(3);
    for (let v = 0; v < voices; v++) {
      const midi = 48 + rng.int(36);
      const f = 440 * Math.pow(2, (midi - 69) / 12);
      const dur = beat * (1 + rng.int(4));
      const s0 = Math.round(t * rate);
      const len = Math.min(n - s0, Math.round(dur * rate));
      const amp = 0.2 + rng.next() * 0.3;
      for (let j = 0; j < len; j++) {
        const tt = j / rate;
        const env = Math.min(1, tt / 0.01) * Math.exp(-tt / (dur * 0.6));
        const vib = 1 + 0.003 * Math.sin(2 * Math.PI * 5 * tt);
        let y = 0;
        for (let h = 1; h <= 6; h++) if (f * h < rate / 2) y += Math.sin(2 * Math.PI * f * h * vib * tt) / h;
        out[s0 + j] = out[s0 + j]! + amp * env * y;
      }
    }
    if (rng.next() < 0.6) {
      const s0 = Math.round(t * rate);
      const len = Math.min(n - s0, Math.round(0.05 * rate));
      for (let j = 0; j < len; j++) out[s0 + j] = out[s0 + j]! + 0.5 * rng.gauss() * Math.exp(-j / (0.01 * rate));
    }
  }
  return normalise(out, peak);
}

function normalise(x: Float64Array, peak: number): Float32Array {
  let m = 0;
  for (let i = 0; i < x.length; i++) m = Math.max(m, Math.abs(x[i]!));
  const out = new Float32Array(x.length);
  const k = m > 0 ? peak / m : 0;
  for (let i = 0; i < x.length; i++) out[i] = x[i]! * k;
  return out;
}
