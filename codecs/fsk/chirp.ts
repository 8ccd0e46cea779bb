/**
 * Chirp templates for the receiver's matched filter (spec/fsk.md §6 chirps, §7.2 steps 2 and 5).
 *
 * The analytic chirp of a profile, c(τ) = w(τ) · (sin θ(τ) − j cos θ(τ)) = −j w(τ) e^{jθ(τ)} with
 * θ(τ) = 2π (f_a τ + (f_b − f_a) τ² / (2 Tc)), is the transmitted chirp plus its Hilbert transform (the constant
 * −j does not change any |correlation|). The matched filter correlates the capture with it through the
 * spectrum of the template zero-padded to N_fft samples; only the bins of the chirp band ±300 Hz are kept:
 *   k_lo = max(0, floor((f_lo − 300) N_fft / fs)),  k_hi = min(N_fft / 2, ceil((f_hi + 300) N_fft / fs)),
 *   N_band = nextpow2(k_hi − k_lo + 1),  decimation = N_fft / N_band.
 * The product conj(Ĉ[k]) X[k] is read straight from the packed half-size spectrum Z of a real block
 * (h = N_fft / 2, W = e^{−jπ/h}): X[k] = a_k Z[k] + b_k conj(Z[(h − k) mod h]), a_k = (1 − j W^k)/2,
 * b_k = (1 + j W^k)/2, so slot j of the band IFFT input is u_j Z[i1] + v_j conj(Z[i2]) with u = conj(Ĉ[k]) a_k,
 * v = conj(Ĉ[k]) b_k precomputed and (i1, i2) the bit-reversed positions of k and h − k.
 */
import { bitReversal, fft, nextPow2 } from './fft.js';
import { chirpEnvelope } from './modulate.js';
import type { FskProfile } from './profiles.js';

/** A band-limited chirp template for one (rate, N_fft, chirp, direction). Read-only once computed. */
export interface ChirpTemplate {
  /** N_c: template length, samples (ceil(Tc * fs)). */
  readonly lengthSamples: number;
  /** k_lo: first spectrum bin of the band. */
  readonly firstBin: number;
  /** Bins in the band (k_hi - k_lo + 1). */
  readonly bandBins: number;
  /** N_band: band IFFT size (power of two >= bandBins). */
  readonly bandSize: number;
  /** N_fft / N_band: input samples per correlation output (lag step), samples. */
  readonly decimation: number;
  /**
   * (i1, i2) per band slot, interleaved: where slot j = rev(k - k_lo) reads Z[k] and conj(Z[h - k]) in the
   * bit-reversed packed spectrum. Slots past the band read index 0 with zero coefficients.
   */
  readonly index: Uint32Array;
  /** (Re u, Im u, Re v, Im v) per band slot, interleaved. */
  readonly coef: Float64Array;
  /** E_t: template energy, sum of |c|^2 over its samples. */
  readonly energy: number;
}

const cache = new Map<string, ChirpTemplate>();

/** The analytic chirp (real, imaginary) of profile p at time tau (seconds) from its start. */
export function chirpAt(p: FskProfile, up: boolean, tau: number): [number, number] {
  const T = p.chirpDuration;
  const f0 = up ? p.chirpLowHz : p.chirpHighHz;
  const f1 = up ? p.chirpHighHz : p.chirpLowHz;
  const env = chirpEnvelope(p, tau);
  if (env === 0) return [0, 0];
  const ph = 2 * Math.PI * (f0 * tau + ((f1 - f0) * tau * tau) / (2 * T));
  return [env * Math.sin(ph), -env * Math.cos(ph)];
}

/**
 * The template of p's up- or down-chirp for rate fs and transform size fftSize. Computed once per process
 * and shared read-only (a detector copies index and coef into its own arena).
 */
export function chirpTemplate(p: FskProfile, up: boolean, rate: number, fftSize: number): ChirpTemplate {
  const key = `${rate}|${fftSize}|${p.chirpLowHz}|${p.chirpHighHz}|${p.chirpDuration}|${p.ramp}|${up}`;
  let t = cache.get(key);
  if (!t) {
    t = computeTemplate(p, up, rate, fftSize);
    cache.set(key, t);
  }
  return t;
}

function computeTemplate(p: FskProfile, up: boolean, rate: number, F: number): ChirpTemplate {
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
    // a = (1 - j W^k) / 2, b = (1 + j W^k) / 2 (indices mod h; k = 0 and k = h included).
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
  return { lengthSamples: L, firstBin: lo, bandBins: nb, bandSize: fs, decimation: F / fs, index: idx, coef, energy };
}
