/**
 * Modulator: payload bytes -> PCM samples (Float32Array) at any sample rate (spec/fsk.md §6).
 *
 * Frame waveform, t in seconds from the frame start:
 *   preamble  [0, Tc)            up-chirp chirpLowHz -> chirpHighHz
 *   gap       Tg
 *   symbols   s = 0..Ns-1 start at Tc + Tg + s*Ts (Ts = guard + window)
 *   gap       Tg
 *   postamble [Tc + 2Tg + Ns*Ts, +Tc)  down-chirp chirpHighHz -> chirpLowHz
 * Tone k sounds as sin(2*pi*f_k*t + phi_k), phi_k = pi*k^2/K (K tones), with t measured from the frame start,
 * so a tone repeated in consecutive symbols is one continuous sinusoid (the ramps overlap-add to 1).
 */
import { OffpayError } from '../../base/errors.js';
import { validateOptions, type OptionsSchema } from '../../base/options.js';
import {
  buildFrame, dataStart, dataStartMicros, firstSampleAt, frameSamples, micros, symbolMicros, MAX_FRAME_PAYLOAD, MAX_MESSAGE, postambleStart, SEGMENT_GAP_US, segmentGapSamples, type Segment,
} from './frame.js';
import { addOfdmSymbols } from './turbo/modulator.js';
import { getProfile, FSK_PROFILE_NAMES, symbolPeriod, symbolsPerByte, toneCount, toneHz, bitsPerSymbol, type FskProfile, type FskProfileName } from './profiles.js';

/** Lowest sample rate the codec accepts, Hz (`fsk.bad_rate` below it). */
export const MIN_RATE = 8000;
/** Highest sample rate the codec accepts, Hz (`fsk.bad_rate` above it). */
export const MAX_RATE = 192000;
/** Default peak amplitude of a frame (-6 dBFS). */
export const DEFAULT_PEAK = 0.5;
/** Silence between consecutive segment frames, seconds (exactly SEGMENT_GAP_US microseconds). */
export const SEGMENT_GAP = SEGMENT_GAP_US / 1e6;

/** Options of {@link encode}. */
export interface FskEncodeOptions {
  /** FSK profile name, a row of `FSK_PROFILES` (default: the spec's default profile; spec/fsk.md §3). */
  profile?: FskProfileName;
  /** Output sample rate in Hz (default 48000). */
  sampleRate?: number;
  /** Peak amplitude of the output, 0 < peak <= 1 (default 0.5). */
  peak?: number;
}

/** @deprecated Renamed {@link FskEncodeOptions} in 0.2.0 (`offpay/qr` has its own encode options); this alias goes in the next release. */
export type EncodeOptions = FskEncodeOptions;

/** A sample rate is a whole number of Hz in MIN_RATE..MAX_RATE (the sample counts of §6.1 are integer formulas). */
export function checkRate(rate: number): void {
  if (!Number.isInteger(rate) || rate < MIN_RATE || rate > MAX_RATE) {
    throw new OffpayError('fsk.bad_rate', `sample rate ${rate} is not a whole number of Hz in ${MIN_RATE}..${MAX_RATE}`);
  }
}

/**
 * The schema of {@link FskEncodeOptions} (validated by {@link encode}): an unknown key or a bad peak is
 * `fsk.bad_input`, a bad profile `fsk.bad_profile`, a bad rate `fsk.bad_rate`, each naming the option.
 */
export const FSK_ENCODE_OPTIONS_SCHEMA: OptionsSchema = {
  profile: { type: 'enum', values: FSK_PROFILE_NAMES, code: 'fsk.bad_profile' },
  sampleRate: { type: 'integer', min: MIN_RATE, max: MAX_RATE, unit: 'Hz', code: 'fsk.bad_rate' },
  peak: { type: 'number', min: 0, exclusiveMin: true, max: 1 },
};

export function resolveProfile(name: string | undefined): FskProfile {
  const p = getProfile(name ?? 'fast');
  if (!p) throw new OffpayError('fsk.bad_profile', `unknown profile '${name}' (expected ${FSK_PROFILE_NAMES.join(', ')})`);
  return p;
}

/** Raised-cosine ramp: 0 at u = 0, 1 at u = 1. */
function rampUp(u: number): number {
  const s = Math.sin((Math.PI / 2) * u);
  return s * s;
}

export function tonePhase(p: FskProfile, k: number): number {
  return (Math.PI * k * k) / toneCount(p);
}

/** Add the chirp of profile p starting at t0 (seconds) into out. */
export function addChirp(out: Float32Array | Float64Array, rate: number, p: FskProfile, t0: number, up: boolean, amp: number): void {
  const T = p.chirpDuration;
  const f0 = up ? p.chirpLowHz : p.chirpHighHz;
  const f1 = up ? p.chirpHighHz : p.chirpLowHz;
  const n0 = Math.ceil(t0 * rate);
  const n1 = Math.min(out.length, Math.ceil((t0 + T) * rate));
  for (let n = Math.max(0, n0); n < n1; n++) {
    const tau = n / rate - t0;
    out[n] = out[n]! + amp * chirpEnvelope(p, tau) * Math.sin(2 * Math.PI * (f0 * tau + ((f1 - f0) * tau * tau) / (2 * T)));
  }
}

export function chirpEnvelope(p: FskProfile, tau: number): number {
  if (tau < 0 || tau >= p.chirpDuration) return 0;
  if (tau < p.ramp) return rampUp(tau / p.ramp);
  if (tau > p.chirpDuration - p.ramp) return rampUp((p.chirpDuration - tau) / p.ramp);
  return 1;
}

/** Tone index sent by group g in symbol s, from the slot bytes. */
export function symbolTones(p: FskProfile, slots: Uint8Array, rows: number): Uint8Array {
  const spb = symbolsPerByte(p);
  const bps = bitsPerSymbol(p);
  const M = p.tonesPerGroup;
  const out = new Uint8Array(rows * spb * p.groups);
  for (let r = 0; r < rows; r++) {
    for (let g = 0; g < p.groups; g++) {
      const b = slots[r * p.groups + g]!;
      for (let q = 0; q < spb; q++) {
        const v = (b >> (8 - bps * (q + 1))) & (M - 1);
        out[(r * spb + q) * p.groups + g] = v;
      }
    }
  }
  return out;
}

/** Samples of one frame (one segment) as Float64Array, unscaled. */
function synthFrame(p: FskProfile, payload: Uint8Array, seg: Segment, rate: number): Float64Array {
  const { layout, slots } = buildFrame(p, payload, seg);
  const rows = layout.rows;
  const tones = symbolTones(p, slots, rows);
  const out = new Float64Array(frameSamples(p, rows, rate));
  const Ts = symbolPeriod(p);
  const nsym = rows * symbolsPerByte(p);
  const td = dataStart(p);
  if (p.modulation === 'ofdm-qpsk') {
    // turbo (spec/fsk.md §14): K carriers of amplitude 1 in every symbol; chirps at the same mean power.
    const chirpAmp = Math.sqrt(toneCount(p));
    addChirp(out, rate, p, 0, true, chirpAmp);
    addChirp(out, rate, p, postambleStart(p, rows), false, chirpAmp);
    addOfdmSymbols(out, rate, p, slots, rows);
    return out;
  }
  const chirpAmp = Math.sqrt(p.groups);
  addChirp(out, rate, p, 0, true, chirpAmp);
  addChirp(out, rate, p, postambleStart(p, rows), false, chirpAmp);
  const M = p.tonesPerGroup;
  // Burst s sounds over [t_s, t_s + Ts + Tr); its sample range in integer microseconds (spec/fsk.md §6.1).
  const tdus = dataStartMicros(p);
  const Tsus = symbolMicros(p);
  for (let s = 0; s < nsym; s++) {
    const ts = td + s * Ts;
    const n0 = firstSampleAt(tdus + s * Tsus, rate);
    const n1 = Math.min(out.length, firstSampleAt(tdus + s * Tsus + Tsus + micros(p.ramp), rate));
    for (let g = 0; g < p.groups; g++) {
      const k = g * M + tones[s * p.groups + g]!;
      const w = 2 * Math.PI * toneHz(p, k);
      const ph = tonePhase(p, k);
      for (let n = n0; n < n1; n++) {
        const t = n / rate;
        const tau = t - ts;
        let env = 1;
        if (tau < p.ramp) env = rampUp(tau / p.ramp);
        else if (tau >= Ts) env = rampUp(1 - (tau - Ts) / p.ramp);
        out[n] = out[n]! + env * Math.sin(w * t + ph);
      }
    }
  }
  return out;
}

/** Split a message into segment payloads (at most MAX_FRAME_PAYLOAD each). */
export function segmentPayload(payload: Uint8Array): Uint8Array[] {
  if (payload.length > MAX_MESSAGE) {
    throw new OffpayError('fsk.payload_too_large', `payload of ${payload.length} bytes exceeds ${MAX_MESSAGE} bytes`, { max: MAX_MESSAGE });
  }
  const count = Math.max(1, Math.ceil(payload.length / MAX_FRAME_PAYLOAD));
  const size = Math.ceil(payload.length / count);
  return Array.from({ length: count }, (_, i) => payload.subarray(i * size, Math.min(payload.length, (i + 1) * size)));
}

/**
 * Encode `payload` (any length up to MAX_MESSAGE) as audio: one frame, or several segment frames separated
 * by SEGMENT_GAP of silence. The result peaks at `peak`. The waveform is normative: spec/fsk.md §3-6.
 * @throws OffpayError `fsk.bad_input`, `fsk.bad_profile`, `fsk.bad_rate` (options), `fsk.payload_too_large`.
 *
 * @example
 * ```ts
 * import { encode, decodeMessage } from 'offpay/fsk';
 * const samples = encode(tokenBytes, { sampleRate: 48000 });        // Float32Array in [-0.5, 0.5]
 * const { payload } = decodeMessage(samples, { sampleRate: 48000 }); // the same bytes back
 * ```
 */
export function encode(payload: Uint8Array, options: FskEncodeOptions = {}): Float32Array {
  if (!(payload instanceof Uint8Array)) throw new OffpayError('fsk.bad_input', 'payload must be a Uint8Array');
  validateOptions<FskEncodeOptions>('encode options', options, FSK_ENCODE_OPTIONS_SCHEMA, 'fsk.bad_input');
  const p = resolveProfile(options.profile);
  const rate = options.sampleRate ?? 48000;
  if (p.chirpHighHz + 200 >= rate / 2 || toneHz(p, toneCount(p) - 1) + 200 >= rate / 2) {
    throw new OffpayError('fsk.bad_rate', `profile '${p.name}' needs a sample rate above ${2 * (p.chirpHighHz + 200)} Hz`);
  }
  const peak = options.peak ?? DEFAULT_PEAK;
  const parts = segmentPayload(payload);
  const frames = parts.map((part, index) => synthFrame(p, part, { index, count: parts.length }, rate));
  // Segment i + 1 starts N_frame(R_i) + N_gap samples after segment i (spec/fsk.md §6.1).
  const gap = segmentGapSamples(rate);
  const total = frames.reduce((a, f) => a + f.length, 0) + gap * (frames.length - 1);
  const out = new Float32Array(total);
  let max = 0;
  for (const f of frames) for (let i = 0; i < f.length; i++) max = Math.max(max, Math.abs(f[i]!));
  const scale = max > 0 ? peak / max : 0;
  let off = 0;
  for (const f of frames) {
    for (let i = 0; i < f.length; i++) out[off + i] = f[i]! * scale;
    off += f.length + gap;
  }
  return out;
}

export { MAX_FRAME_PAYLOAD };
