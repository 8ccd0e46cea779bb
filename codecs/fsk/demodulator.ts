/**
 * Tone demodulator (spec/fsk.md §7.2 steps 6-8), the receiver's "fskdem" block: per-symbol tone energies,
 * soft decisions and the confidences that choose the erasures.
 *
 * Energies. For a sync (start n_0, clock offset eps) symbol s's window starts at
 * round(n_0 + (t_s + Tg_s) fs / (1 + eps)) and lasts N_w = max(8, round(Tw fs / (1 + eps))) samples; tone k is
 * measured at f_k (1 + eps) with a Goertzel filter, c_k = 2 cos(2 pi f_k (1 + eps) / fs),
 * s0 = x + c_k s1 - s2, E_k(s) = s1^2 + s2^2 - c_k s1 s2 (the DFT power at that frequency).
 *
 * Decisions. Per group and symbol the winner is the largest metric (lowest tone on a tie), its margin
 * (best - second) over the group's median winning metric (upper median); a byte's value is its spb winners
 * (most significant first) and its confidence the smallest margin of them.
 *
 * Reverberation metrics (tried only when the plain energies do not decode): the tail of tone k is
 * Lambda_k(s) = sum_{s' < s} gamma^(s - s' - 1) E_k(s'); on the tones the plain decision did not choose, E is
 * regressed on [1, Lambda] (floor nu >= 0, slope beta >= 0) for gamma in {0.5, 0.75, 0.9}, keeping the fit
 * with the smallest residual; sigma_k^2(s) = nu + beta Lambda_k(s). Metrics: the Rician log-likelihood ratio
 * (2 A sqrt(E) - A^2) / sigma^2 with A^2 = the group's median chosen energy minus nu, then E - beta Lambda.
 *
 * create: new ToneDemodulator(profile, sampleRate). It keeps no state between frames: reset() does nothing
 * and exists for the block interface. push: energies(input, sync) for a frame, then decisions(...) per metric.
 */
import { dataStart, symbolCount } from './frame.js';
import type { InputBuffer } from './input.js';
import { bitsPerSymbol, symbolPeriod, symbolsPerByte, toneCount, toneHz, type FskProfile } from './profiles.js';

/** Hard decisions and confidences of every byte slot of a frame. */
export interface SoftBytes {
  /** Byte per slot (R * G). */
  bytes: Uint8Array;
  /** Confidence per slot: the smallest normalised symbol margin of the byte (lower = erase first). */
  conf: Float64Array;
  /** Chosen-tone energy over the mean of the other tones of its group, summed over the frame, dB. */
  toneSnrDb: number;
}

export class ToneDemodulator {
  readonly profile: FskProfile;
  /** Sample rate, Hz. */
  readonly sampleRate: number;
  /** K: tones of the profile. */
  readonly tones: number;

  constructor(profile: FskProfile, sampleRate: number) {
    this.profile = profile;
    this.sampleRate = sampleRate;
    this.tones = toneCount(profile);
  }

  /** Stateless between frames. */
  reset(): void {}

  /** Goertzel energy of every tone in every symbol window of a frame of `rows` rows: E[s * K + k]. */
  energies(input: InputBuffer, rows: number, start: number, eps: number): Float64Array {
    const p = this.profile;
    const rate = this.sampleRate;
    const nsym = symbolCount(p, rows);
    const K = this.tones;
    const scale = rate / (1 + eps);
    const N = Math.max(8, Math.round(p.window * scale));
    const coef = new Float64Array(K);
    for (let k = 0; k < K; k++) coef[k] = 2 * Math.cos((2 * Math.PI * toneHz(p, k) * (1 + eps)) / rate);
    const E = new Float64Array(nsym * K);
    const Ts = symbolPeriod(p);
    const td = dataStart(p);
    const win = new Float64Array(N);
    for (let s = 0; s < nsym; s++) {
      const first = Math.round(start + (td + s * Ts + p.guard) * scale);
      for (let i = 0; i < N; i++) win[i] = input.sample(first + i);
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

  /** Hard decisions and confidences from a metric (the energies themselves, or a reverberation metric). */
  decisions(rows: number, E: Float64Array, metric: Float64Array): SoftBytes {
    return slotsFromMetric(this.profile, rows, E, metric);
  }

  /** The reverberation-aware metrics to try, in order (none when no fit has a positive slope). */
  reverbMetrics(rows: number, E: Float64Array): Float64Array[] {
    const p = this.profile;
    return reverbMetrics(E, symbolCount(p, rows), this.tones, p.tonesPerGroup, p.groups);
  }
}

/** Hard decisions (largest metric per group and symbol) and per-byte confidences for every slot. */
export function slotsFromMetric(p: FskProfile, rows: number, E: Float64Array, metric: Float64Array): SoftBytes {
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
 * Reverberation-aware decision metrics (see the file header): [Rician LLR, subtraction], or [] when no fit
 * of the tail model has a positive slope.
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
