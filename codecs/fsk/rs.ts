/**
 * Reed-Solomon codes over GF(256) (gf256.ts), systematic, possibly shortened: RS(n, n - nsym) with
 * n <= 255. Generator g(x) = (x - alpha^0)(x - alpha^1)...(x - alpha^(nsym-1)) (first consecutive root 0).
 * A codeword is the data bytes followed by the nsym parity bytes; byte 0 is the coefficient of x^(n-1).
 *
 * The decoder corrects e errors and s erasures whenever 2e + s <= nsym (Berlekamp-Massey initialised with
 * the erasure locator, Chien search, Forney), and reports failure otherwise (never a wrong "success" that
 * does not satisfy every syndrome).
 */
import { EXP, LOG, gfDiv, gfMul, gfPow } from './gf256.js';

const generators = new Map<number, Uint8Array>();

/** Generator polynomial for nsym parity bytes, highest degree first (monic: g[0] = 1). */
export function rsGenerator(nsym: number): Uint8Array {
  const cached = generators.get(nsym);
  if (cached) return cached;
  let g = new Uint8Array([1]);
  for (let i = 0; i < nsym; i++) {
    // multiply g by (x + alpha^i)
    const next = new Uint8Array(g.length + 1);
    const r = gfPow(i);
    for (let j = 0; j < g.length; j++) {
      next[j] = next[j]! ^ g[j]!;
      next[j + 1] = next[j + 1]! ^ gfMul(g[j]!, r);
    }
    g = next;
  }
  generators.set(nsym, g);
  return g;
}

/** Parity bytes (length nsym) for `data`; data.length + nsym must be <= 255. */
export function rsEncode(data: Uint8Array, nsym: number): Uint8Array {
  if (nsym < 1 || data.length + nsym > 255) throw new RangeError(`RS length ${data.length}+${nsym} out of range`);
  const g = rsGenerator(nsym);
  const rem = new Uint8Array(nsym);
  for (let i = 0; i < data.length; i++) {
    const coef = data[i]! ^ rem[0]!;
    rem.copyWithin(0, 1);
    rem[nsym - 1] = 0;
    if (coef !== 0) {
      const lc = LOG[coef]!;
      for (let j = 0; j < nsym; j++) {
        const gj = g[j + 1]!;
        if (gj !== 0) rem[j] = rem[j]! ^ EXP[lc + LOG[gj]!]!;
      }
    }
  }
  return rem;
}

export interface RsDecodeResult {
  /** The corrected codeword (data followed by parity). */
  codeword: Uint8Array;
  /** Number of byte positions changed (errors plus erasures that were actually wrong). */
  corrected: number;
  /** Errors located (not counting erasures). */
  errors: number;
  erasures: number;
}

/** Syndromes S_j = r(alpha^j), j = 0..nsym-1. */
export function rsSyndromes(received: Uint8Array, nsym: number): Uint8Array {
  const s = new Uint8Array(nsym);
  for (let j = 0; j < nsym; j++) {
    let acc = 0;
    for (let i = 0; i < received.length; i++) acc = gfMul(acc, EXP[j]!) ^ received[i]!;
    s[j] = acc;
  }
  return s;
}

/**
 * Decode a received word of length n (data + nsym parity) with optional erasure positions (indices into
 * `received`). Returns null when the word is not within the decoding radius.
 */
export function rsDecode(received: Uint8Array, nsym: number, erasures: readonly number[] = []): RsDecodeResult | null {
  const n = received.length;
  if (n > 255 || n <= nsym || nsym < 1) return null;
  const eras = [...new Set(erasures)].filter((p) => Number.isInteger(p) && p >= 0 && p < n);
  if (eras.length > nsym) return null;
  const synd = rsSyndromes(received, nsym);
  let allZero = true;
  for (let j = 0; j < nsym; j++) if (synd[j] !== 0) allZero = false;
  if (allZero) return { codeword: received.slice(), corrected: 0, errors: 0, erasures: eras.length };

  // Polynomials below are stored lowest degree first.
  // Erasure locator Gamma(x) = prod (1 + X_i x), X_i = alpha^(n-1-pos).
  let gamma: number[] = [1];
  for (const p of eras) {
    const x = gfPow(n - 1 - p);
    const next = new Array<number>(gamma.length + 1).fill(0);
    for (let i = 0; i < gamma.length; i++) {
      next[i] = next[i]! ^ gamma[i]!;
      next[i + 1] = next[i + 1]! ^ gfMul(gamma[i]!, x);
    }
    gamma = next;
  }
  const s = eras.length;
  // Berlekamp-Massey for errata (Blahut), r = s+1..nsym (1-based step index).
  let lambda = gamma.slice();
  let b = gamma.slice();
  let L = s;
  for (let r = s + 1; r <= nsym; r++) {
    let delta = 0;
    for (let j = 0; j < lambda.length && j <= r - 1; j++) delta ^= gfMul(lambda[j]!, synd[r - 1 - j]!);
    const xb = [0, ...b];
    if (delta === 0) {
      b = xb;
      continue;
    }
    const t = new Array<number>(Math.max(lambda.length, xb.length)).fill(0);
    for (let j = 0; j < t.length; j++) t[j] = (lambda[j] ?? 0) ^ gfMul(delta, xb[j] ?? 0);
    if (2 * L <= r + s - 1) {
      const inv = gfDiv(1, delta);
      b = lambda.map((c) => gfMul(c, inv));
      L = r + s - L;
    } else {
      b = xb;
    }
    lambda = t;
  }
  while (lambda.length > 1 && lambda[lambda.length - 1] === 0) lambda.pop();
  const deg = lambda.length - 1;
  if (deg !== L || 2 * (L - s) + s > nsym) return null;

  // Chien search over the valid positions only.
  const positions: number[] = [];
  for (let p = 0; p < n; p++) {
    const xinv = gfPow(-(n - 1 - p));
    let acc = 0;
    for (let j = deg; j >= 0; j--) acc = gfMul(acc, xinv) ^ lambda[j]!;
    if (acc === 0) positions.push(p);
  }
  if (positions.length !== deg) return null;

  // Omega(x) = S(x) Lambda(x) mod x^nsym.
  const omega = new Array<number>(nsym).fill(0);
  for (let i = 0; i < nsym; i++) {
    let acc = 0;
    for (let j = 0; j <= i && j <= deg; j++) acc ^= gfMul(lambda[j]!, synd[i - j]!);
    omega[i] = acc;
  }
  const out = received.slice();
  let corrected = 0;
  for (const p of positions) {
    const x = gfPow(n - 1 - p);
    const xinv = gfPow(-(n - 1 - p));
    let om = 0;
    for (let j = nsym - 1; j >= 0; j--) om = gfMul(om, xinv) ^ omega[j]!;
    // Lambda'(x): odd-degree terms only in characteristic 2.
    let dl = 0;
    for (let j = deg; j >= 1; j--) dl = gfMul(dl, xinv) ^ (j % 2 === 1 ? lambda[j]! : 0);
    // dl above evaluated sum_{j} c_j x^(j-1) with c_j = lambda_j for odd j.
    if (dl === 0) return null;
    const mag = gfMul(x, gfDiv(om, dl));
    if (mag !== 0) corrected++;
    out[p] = out[p]! ^ mag;
  }
  const check = rsSyndromes(out, nsym);
  for (let j = 0; j < nsym; j++) if (check[j] !== 0) return null;
  return { codeword: out, corrected, errors: deg - s, erasures: s };
}
