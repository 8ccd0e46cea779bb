/**
 * The turbo profile's demodulator (spec/fsk.md §14.6), the receiver's OFDM block: given a sync (frame start
 * n_0 and clock offset eps from the chirp pair), the slot bytes of the frame and a confidence per byte.
 *
 * 1. DFT (dft.ts). Symbol s (0 = reference) is read from u_s = n_0 + (t_s + Tcp - b) fs / (1 + eps),
 *    t_s = Tc + Tgap + s Ts, b = WINDOW_BACKOFF: the window starts b before the end of the cyclic prefix, so a
 *    start error up to b early (and echoes up to Tcp - b) still falls inside the prefix.
 * 2. Anchor. H_k = Z_k(0) e^{-j phi_k(0)} from the reference symbol, smoothed over +-SMOOTH carriers after
 *    removing its phase step per carrier (smoothAcross): A_k. H starts as A_k.
 * 3. Drift acquisition (acquireDrift): symbol by symbol against the anchor, the clock drift the chirps left is
 *    predicted, the symbol decided, the drift refitted, and finally undone.
 *    Then decision-directed channel and drift, ITERATIONS times: decide each data symbol's phase index
 *    m_k(s) = round(arg(Z_k(s) conj(H_k) e^{-j phi_k(0)}) / (pi / 2)) mod 4; from the second pass on, fit the
 *    clock drift the chirps left (gamma radians per symbol per unit of f_k / spacing) by weighted least
 *    squares to the phase errors of the decisions and undo it; then H_k = sum over every symbol of
 *    Z_k(s) e^{-j (phi_k(0) + m_k(s) pi / 2)} (the capture is one static channel for 0.26 s), turned by the
 *    quarter-turn nearest to A_k (decisions fix H only up to a quarter turn per carrier).
 * 4. Decisions. The dibit of carrier k in symbol s is DIBIT_OF_Q[m_k(s)]; its margin |Z_k| sin(pi / 4 - |theta|),
 *    theta the angle of Z_k conj(H_k) from its decided point (the distance to the decision boundary). A
 *    byte's confidence is the smallest margin of its four dibits over the median margin of the frame; the
 *    bytes are descrambled (scrambler.ts) and go to Reed-Solomon with erasures like every profile's.
 *
 * create: new OfdmDemodulator(profile, sampleRate). It keeps no state between frames (reset() does nothing).
 * push: attempts(source, rows, start, eps) -> the SoftBytes to try, in order (one: the coherent decisions).
 */
import type { SoftBytes } from '../demodulator.js';
import { referenceSymbols, symbolPeriod, toneCount, toneHz, type Profile } from '../profiles.js';
import { carrierDft, type SampleSource } from './dft.js';
import { DIBIT_OF_Q, referencePhase } from './mapping.js';
import { scramble } from './scrambler.js';

/** b: the FFT window starts this long before the end of the cyclic prefix, seconds. */
export const WINDOW_BACKOFF = 0.0005;
/** Decision-directed channel re-estimations (step 3). */
export const ITERATIONS = 3;
/** Half-width of the anchor's smoothing across carriers (step 3). */
export const SMOOTH = 2;

const HALF_PI = Math.PI / 2;

export class OfdmDemodulator {
  readonly profile: Profile;
  readonly sampleRate: number;
  /** K: carriers. */
  readonly carriers: number;
  private readonly refPhase: Float64Array;
  /** f_k / spacing per carrier (the drift of step 3 is proportional to it). */
  private readonly unit: Float64Array;

  constructor(profile: Profile, sampleRate: number) {
    this.profile = profile;
    this.sampleRate = sampleRate;
    this.carriers = toneCount(profile);
    this.refPhase = new Float64Array(this.carriers);
    for (let k = 0; k < this.carriers; k++) this.refPhase[k] = referencePhase(k, this.carriers);
    this.unit = new Float64Array(this.carriers);
    for (let k = 0; k < this.carriers; k++) this.unit[k] = toneHz(profile, k) / profile.spacingHz;
  }

  /** Stateless between frames. */
  reset(): void {}

  /** Carrier amplitudes of every symbol: re/im[s * K + k], s = 0 .. N_ref + rows - 1 (step 1). */
  spectra(src: SampleSource, rows: number, start: number, eps: number): { re: Float64Array; im: Float64Array; nsym: number } {
    const p = this.profile;
    const rate = this.sampleRate;
    const K = this.carriers;
    const nsym = referenceSymbols(p) + rows;
    const scale = rate / (1 + eps);
    const N = Math.max(8, Math.round(p.window * scale));
    const omega = new Float64Array(K);
    for (let k = 0; k < K; k++) omega[k] = (2 * Math.PI * toneHz(p, k) * (1 + eps)) / rate;
    const re = new Float64Array(nsym * K);
    const im = new Float64Array(nsym * K);
    const win = new Float64Array(N);
    const Ts = symbolPeriod(p);
    for (let s = 0; s < nsym; s++) {
      const u = start + (p.chirpDuration + p.gap + s * Ts + p.guard - WINDOW_BACKOFF) * scale;
      carrierDft(src, u, N, omega, re.subarray(s * K, (s + 1) * K), im.subarray(s * K, (s + 1) * K), win);
    }
    return { re, im, nsym };
  }

  /** The decisions of one frame to try, in order (steps 1-4): the coherent ones. */
  attempts(src: SampleSource, rows: number, start: number, eps: number): SoftBytes[] {
    const { re, im, nsym } = this.spectra(src, rows, start, eps);
    return [this.coherent(re, im, nsym, rows)];
  }

  private coherent(re: Float64Array, im: Float64Array, nsym: number, rows: number): SoftBytes {
    const K = this.carriers;
    const hr = new Float64Array(K);
    const hi = new Float64Array(K);
    const m = new Uint8Array(nsym * K);
    for (let k = 0; k < K; k++) {
      const c = Math.cos(this.refPhase[k]!);
      const s = Math.sin(this.refPhase[k]!);
      hr[k] = re[k]! * c + im[k]! * s;
      hi[k] = im[k]! * c - re[k]! * s;
    }
    // The reference symbol alone, smoothed across neighbouring carriers (the channel is nearly flat over
    // +-SMOOTH carriers once its phase slope is removed): the anchor that fixes each carrier's quadrant.
    const [ar, ai] = smoothAcross(hr, hi, SMOOTH);
    hr.set(ar);
    hi.set(ai);
    const margin = new Float64Array(nsym * K);
    acquireDrift(re, im, nsym, hr, hi, this.refPhase, this.unit);
    for (let it = 0; it <= ITERATIONS; it++) {
      // Decide every data symbol's absolute phase index against H.
      for (let s = 1; s < nsym; s++) {
        for (let k = 0; k < K; k++) {
          const i = s * K + k;
          const a = this.refPhase[k]!;
          // v = Z conj(H) e^{-j phi_0}
          const zr = re[i]! * hr[k]! + im[i]! * hi[k]!;
          const zi = im[i]! * hr[k]! - re[i]! * hi[k]!;
          const ang = Math.atan2(zi, zr) - a;
          const q = ((Math.round(ang / HALF_PI) % 4) + 4) % 4;
          m[i] = q;
          const th = Math.abs(remainder(ang - q * HALF_PI));
          margin[i] = Math.hypot(re[i]!, im[i]!) * Math.sin(Math.PI / 4 - Math.min(th, Math.PI / 4));
        }
      }
      if (it === ITERATIONS) break;
      // Residual clock drift: one timing slip per symbol, gamma radians per symbol per unit of f_k / spacing,
      // fitted by weighted least squares to the decision-directed phase errors and undone in place.
      if (it > 0) {
        let num = 0;
        let den = 0;
        for (let s = 1; s < nsym; s++) {
          for (let k = 0; k < K; k++) {
            const i = s * K + k;
            const a = this.refPhase[k]! + m[i]! * HALF_PI;
            // c = Z e^{-j a} conj(H)
            const zr = re[i]! * Math.cos(a) + im[i]! * Math.sin(a);
            const zi = im[i]! * Math.cos(a) - re[i]! * Math.sin(a);
            const cr = zr * hr[k]! + zi * hi[k]!;
            const ci = zi * hr[k]! - zr * hi[k]!;
            const w = Math.hypot(cr, ci);
            const x = this.unit[k]! * s;
            num += w * Math.atan2(ci, cr) * x;
            den += w * x * x;
          }
        }
        const gamma = den > 0 ? num / den : 0;
        for (let s = 1; s < nsym; s++) {
          for (let k = 0; k < K; k++) {
            const i = s * K + k;
            const ang = -gamma * this.unit[k]! * s;
            const c = Math.cos(ang);
            const sn = Math.sin(ang);
            const r = re[i]! * c - im[i]! * sn;
            im[i] = re[i]! * sn + im[i]! * c;
            re[i] = r;
          }
        }
      }
      // Re-estimate H over the whole frame with the decisions as pilots.
      hr.fill(0);
      hi.fill(0);
      for (let s = 0; s < nsym; s++) {
        for (let k = 0; k < K; k++) {
          const i = s * K + k;
          const a = this.refPhase[k]! + (s === 0 ? 0 : m[i]! * HALF_PI);
          const c = Math.cos(a);
          const sn = Math.sin(a);
          hr[k] = hr[k]! + re[i]! * c + im[i]! * sn;
          hi[k] = hi[k]! + im[i]! * c - re[i]! * sn;
        }
      }
      // Decisions fix H only up to a quarter turn per carrier: keep the quarter turn nearest the anchor.
      for (let k = 0; k < K; k++) {
        const d = Math.atan2(ai[k]! * hr[k]! - ar[k]! * hi[k]!, ar[k]! * hr[k]! + ai[k]! * hi[k]!);
        const q = Math.round(d / HALF_PI);
        if (q === 0) continue;
        const c = Math.cos(q * HALF_PI);
        const sn = Math.sin(q * HALF_PI);
        const r = hr[k]! * c - hi[k]! * sn;
        hi[k] = hr[k]! * sn + hi[k]! * c;
        hr[k] = r;
      }
    }
    return this.bytes(m, margin, rows, evmSnrDb(re, im, m, hr, hi, this.refPhase, nsym, K));
  }

  /** Slot bytes (descrambled) and confidences from the phase steps q and margins of the data symbols. */
  private bytes(q: Uint8Array, mg: Float64Array, rows: number, snrDb: number): SoftBytes {
    const p = this.profile;
    const K = this.carriers;
    const G = p.groups;
    const nref = referenceSymbols(p);
    const raw = new Uint8Array(rows * G);
    const conf = new Float64Array(rows * G);
    const all: number[] = [];
    for (let s = nref; s < nref + rows; s++) for (let k = 0; k < K; k++) all.push(mg[s * K + k]!);
    all.sort((a, b) => a - b);
    const med = all[all.length >> 1]! || 1;
    for (let r = 0; r < rows; r++) {
      const s = nref + r;
      for (let g = 0; g < G; g++) {
        let b = 0;
        let c = Infinity;
        for (let i = 0; i < 4; i++) {
          const idx = s * K + 4 * g + i;
          b = (b << 2) | DIBIT_OF_Q[q[idx]!]!;
          c = Math.min(c, mg[idx]!);
        }
        raw[r * G + g] = b;
        conf[r * G + g] = c / med;
      }
    }
    return { bytes: scramble(raw), conf, toneSnrDb: snrDb };
  }
}

/**
 * Step 3's anchor: A_k = sum_{|j| <= w, 0 <= k + j < K} H_{k+j} e^{-j sigma j}, where sigma = arg sum_k H_{k+1}
 * conj(H_k) is the channel's phase step from one carrier to the next (the window start and the path delay).
 */
export function smoothAcross(hr: Float64Array, hi: Float64Array, w: number): [Float64Array, Float64Array] {
  const K = hr.length;
  let sr = 0;
  let si = 0;
  for (let k = 0; k + 1 < K; k++) {
    sr += hr[k + 1]! * hr[k]! + hi[k + 1]! * hi[k]!;
    si += hi[k + 1]! * hr[k]! - hr[k + 1]! * hi[k]!;
  }
  const sigma = Math.atan2(si, sr);
  const ar = new Float64Array(K);
  const ai = new Float64Array(K);
  for (let k = 0; k < K; k++) {
    for (let j = -w; j <= w; j++) {
      if (k + j < 0 || k + j >= K) continue;
      const c = Math.cos(-sigma * j);
      const sn = Math.sin(-sigma * j);
      ar[k] = ar[k]! + hr[k + j]! * c - hi[k + j]! * sn;
      ai[k] = ai[k]! + hr[k + j]! * sn + hi[k + j]! * c;
    }
  }
  return [ar, ai];
}

/**
 * Step 3a, drift acquisition: symbol by symbol, predict the drift gamma u_k s from the symbols before, decide
 * against H turned by it, and refit gamma by weighted least squares to every decision so far (the phase error
 * of a decision is the prediction plus the residual angle, so it never wraps while the residual stays within
 * a quarter turn). A clock-offset error of the chirp pair up to about 900 ppm is acquired this way (0.7 rad
 * per symbol at the top carrier), where deciding the whole frame against the reference alone loses the later
 * symbols beyond about 100 ppm. Z is then turned back by e^{-j gamma u_k s} in place.
 */
export function acquireDrift(
  re: Float64Array, im: Float64Array, nsym: number, hr: Float64Array, hi: Float64Array, ref: Float64Array, unit: Float64Array,
): number {
  const K = hr.length;
  let num = 0;
  let den = 0;
  let gamma = 0;
  for (let s = 1; s < nsym; s++) {
    for (let k = 0; k < K; k++) {
      const i = s * K + k;
      const x = unit[k]! * s;
      // v = Z conj(H) e^{-j (phi_0 + gamma x)}
      const zr = re[i]! * hr[k]! + im[i]! * hi[k]!;
      const zi = im[i]! * hr[k]! - re[i]! * hi[k]!;
      const ang = remainder(Math.atan2(zi, zr) - ref[k]! - gamma * x);
      const q = Math.round(ang / HALF_PI);
      const w = Math.hypot(zr, zi);
      num += w * (gamma * x + (ang - q * HALF_PI)) * x;
      den += w * x * x;
    }
    gamma = den > 0 ? num / den : 0;
  }
  for (let s = 1; s < nsym; s++) {
    for (let k = 0; k < K; k++) {
      const i = s * K + k;
      const a = -gamma * unit[k]! * s;
      const c = Math.cos(a);
      const sn = Math.sin(a);
      const r = re[i]! * c - im[i]! * sn;
      im[i] = re[i]! * sn + im[i]! * c;
      re[i] = r;
    }
  }
  return gamma;
}

/** x reduced to (-pi, pi]. */
function remainder(x: number): number {
  return x - 2 * Math.PI * Math.round(x / (2 * Math.PI));
}

/** In-band SNR of the coherent decisions: sum |H|^2 over sum |Z - H a|^2, dB. */
function evmSnrDb(
  re: Float64Array, im: Float64Array, m: Uint8Array, hr: Float64Array, hi: Float64Array, ref: Float64Array, nsym: number, K: number,
): number {
  let sig = 0;
  let err = 0;
  const scale = 1 / nsym;
  for (let s = 0; s < nsym; s++) {
    for (let k = 0; k < K; k++) {
      const i = s * K + k;
      const a = ref[k]! + (s === 0 ? 0 : m[i]! * HALF_PI);
      const c = Math.cos(a);
      const sn = Math.sin(a);
      const er = hr[k]! * scale * c - hi[k]! * scale * sn;
      const ei = hr[k]! * scale * sn + hi[k]! * scale * c;
      sig += er * er + ei * ei;
      err += (re[i]! - er) ** 2 + (im[i]! - ei) ** 2;
    }
  }
  return err > 0 ? 10 * Math.log10(sig / err) : 99;
}
