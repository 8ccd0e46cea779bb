import { describe, expect, it } from 'vitest';
import { bitReversal, convolve, fft, FftArena, fftDif, fftDifPackedReal, fftDit, realFft } from '../../codecs/fsk/fft.js';
import { moduleBytes, simdKernels } from '../../codecs/fsk/wasm.js';
import { makeRng } from '../../codecs/fsk/prng.js';

/** Naive O(n^2) DFT, written independently for the test. */
function dft(re: Float64Array, im: Float64Array, inverse: boolean): [Float64Array, Float64Array] {
  const n = re.length;
  const or = new Float64Array(n);
  const oi = new Float64Array(n);
  const sgn = inverse ? 1 : -1;
  for (let k = 0; k < n; k++) {
    let sr = 0;
    let si = 0;
    for (let t = 0; t < n; t++) {
      const a = (sgn * 2 * Math.PI * ((k * t) % n)) / n;
      sr += re[t]! * Math.cos(a) - im[t]! * Math.sin(a);
      si += re[t]! * Math.sin(a) + im[t]! * Math.cos(a);
    }
    or[k] = sr;
    oi[k] = si;
  }
  return [or, oi];
}

describe('FFT', () => {
  it('matches a naive DFT for every power of two up to 512, both directions', () => {
    const rng = makeRng(1);
    for (let n = 1; n <= 512; n *= 2) {
      for (const inverse of [false, true]) {
        const re = new Float64Array(n).map(() => rng.gauss());
        const im = new Float64Array(n).map(() => rng.gauss());
        const [er, ei] = dft(re, im, inverse);
        fft(re, im, inverse);
        for (let k = 0; k < n; k++) {
          expect(re[k]).toBeCloseTo(er[k]!, 8);
          expect(im[k]).toBeCloseTo(ei[k]!, 8);
        }
      }
    }
  });
  it('realFft equals the complex FFT of a real signal', () => {
    const rng = makeRng(2);
    const n = 256;
    const x = new Float64Array(n).map(() => rng.gauss());
    const re = x.slice();
    const im = new Float64Array(n);
    fft(re, im);
    const outR = new Float64Array(n / 2 + 1);
    const outI = new Float64Array(n / 2 + 1);
    realFft(x, outR, outI, new Float64Array(n / 2), new Float64Array(n / 2));
    for (let k = 0; k <= n / 2; k++) {
      expect(outR[k]).toBeCloseTo(re[k]!, 9);
      expect(outI[k]).toBeCloseTo(im[k]!, 9);
    }
  });
  it('bitReversal is the bit-reversal permutation', () => {
    for (const n of [1, 2, 8, 64, 1024]) {
      const rev = bitReversal(n);
      const bits = Math.log2(n);
      for (let i = 0; i < n; i++) {
        const s = i.toString(2).padStart(bits, '0');
        expect(rev[i]).toBe(bits === 0 ? 0 : parseInt([...s].reverse().join(''), 2));
      }
    }
  });
  it('fftDif (bit-reversed output) and fftDit (bit-reversed input; swapped parts = inverse) match a naive DFT', () => {
    const rng = makeRng(3);
    for (let n = 1; n <= 512; n *= 2) {
      const re = new Float64Array(n).map(() => rng.gauss());
      const im = new Float64Array(n).map(() => rng.gauss());
      const rev = bitReversal(n);
      const [fr, fi] = dft(re, im, false);
      const [ir, ii] = dft(re, im, true);
      const a = re.slice();
      const b = im.slice();
      fftDif(a, b);
      // fftDit forward from bit-reversed input; fftDit(im, re) is the inverse.
      const c = new Float64Array(n);
      const d = new Float64Array(n);
      const e = new Float64Array(n);
      const f = new Float64Array(n);
      for (let k = 0; k < n; k++) {
        c[rev[k]!] = re[k]!;
        d[rev[k]!] = im[k]!;
        e[rev[k]!] = re[k]!;
        f[rev[k]!] = im[k]!;
      }
      fftDit(c, d);
      fftDit(f, e);
      for (let k = 0; k < n; k++) {
        expect(a[rev[k]!]).toBeCloseTo(fr[k]!, 8);
        expect(b[rev[k]!]).toBeCloseTo(fi[k]!, 8);
        expect(c[k]).toBeCloseTo(fr[k]!, 8);
        expect(d[k]).toBeCloseTo(fi[k]!, 8);
        expect(e[k]).toBeCloseTo(ir[k]!, 8);
        expect(f[k]).toBeCloseTo(ii[k]!, 8);
      }
    }
  });
  it('fftDifPackedReal equals fftDif of the packed real segment, also at 4096 points', () => {
    const rng = makeRng(4);
    for (const h of [1, 2, 4, 8, 16, 32, 256, 4096]) {
      const off = 3;
      const x = new Float32Array(2 * h + off + 5).map(() => rng.gauss());
      const zr = new Float64Array(h);
      const zi = new Float64Array(h);
      fftDifPackedReal(x, off, zr, zi);
      const re = new Float64Array(h).map((_, i) => x[off + 2 * i]!);
      const im = new Float64Array(h).map((_, i) => x[off + 2 * i + 1]!);
      const rr = re.slice();
      const ri = im.slice();
      fft(rr, ri);
      const rev = bitReversal(h);
      for (let k = 0; k < h; k++) {
        expect(zr[rev[k]!]).toBeCloseTo(rr[k]!, 9);
        expect(zi[rev[k]!]).toBeCloseTo(ri[k]!, 9);
      }
    }
  });
  it('WebAssembly SIMD stages (FftArena) give bit-identical results to the TypeScript stages', () => {
    // Node 20 has WebAssembly SIMD: the kernels must assemble and validate here.
    expect(simdKernels()).not.toBeNull();
    // Chromium compiles synchronously on the main thread only up to 4 kB.
    expect(moduleBytes().length).toBeLessThan(4096);
    const rng = makeRng(5);
    for (let n = 2; n <= 4096; n *= 2) {
      const arena = new FftArena([n], 4 * n);
      const [re, im, re2, im2] = [arena.alloc(n), arena.alloc(n), arena.alloc(n), arena.alloc(n)];
      expect(re.buffer).not.toBe(new Float64Array(1).buffer);
      const a = new Float64Array(n).map(() => rng.gauss());
      const b = new Float64Array(n).map(() => rng.gauss());
      re.set(a);
      im.set(b);
      re2.set(a);
      im2.set(b);
      const [c, d, c2, d2] = [a.slice(), b.slice(), a.slice(), b.slice()];
      fftDif(re, im);
      fftDif(c, d);
      fftDit(re2, im2);
      fftDit(c2, d2);
      expect(Array.from(re)).toEqual(Array.from(c));
      expect(Array.from(im)).toEqual(Array.from(d));
      expect(Array.from(re2)).toEqual(Array.from(c2));
      expect(Array.from(im2)).toEqual(Array.from(d2));
    }
  });
  it('WebAssembly first stage from Float32 samples and band product (FftArena) match the TypeScript paths exactly', () => {
    const rng = makeRng(6);
    for (const h of [8, 16, 32, 1024, 4096]) {
      const arena = new FftArena([h], 8 * h + 64);
      const x = arena.allocF32(2 * h + 8);
      for (let i = 0; i < x.length; i++) x[i] = rng.gauss();
      const [zr, zi] = [arena.alloc(h), arena.alloc(h)];
      fftDifPackedReal(x, 5, zr, zi);
      const [pr, pi] = [new Float64Array(h), new Float64Array(h)];
      fftDifPackedReal(Float32Array.from(x), 5, pr, pi);
      expect(Array.from(zr)).toEqual(Array.from(pr));
      expect(Array.from(zi)).toEqual(Array.from(pi));
      // y[j] = P Z[u] + Q conj(Z[v]) against a direct evaluation.
      const n = h / 2;
      const idx = arena.allocU32(2 * n);
      const coef = arena.alloc(4 * n);
      for (let j = 0; j < 2 * n; j++) idx[j] = Math.floor(rng.next() * h);
      for (let j = 0; j < 4 * n; j++) coef[j] = rng.gauss();
      const [yr, yi] = [arena.alloc(n), arena.alloc(n)];
      expect(arena.gather(zr, zi, idx, coef, yr, yi)).toBe(true);
      for (let j = 0; j < n; j++) {
        const [u, v] = [idx[2 * j]!, idx[2 * j + 1]!];
        const [p, pj, q, qj] = [coef[4 * j]!, coef[4 * j + 1]!, coef[4 * j + 2]!, coef[4 * j + 3]!];
        expect(yr[j]).toBe(p * zr[u]! - pj * zi[u]! + q * zr[v]! + qj * zi[v]!);
        expect(yi[j]).toBe(p * zi[u]! + pj * zr[u]! + qj * zr[v]! - q * zi[v]!);
      }
    }
  });
  it('convolve equals direct convolution', () => {
    const a = Float64Array.from([1, 2, 3, 4, 5]);
    const b = Float64Array.from([0.5, -1, 2]);
    const c = convolve(a, b);
    const d = new Array(7).fill(0);
    for (let i = 0; i < 5; i++) for (let j = 0; j < 3; j++) d[i + j] += a[i]! * b[j]!;
    [...c].forEach((v, i) => expect(v).toBeCloseTo(d[i]!, 12));
  });
});
