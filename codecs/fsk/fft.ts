import { simdKernels, type SimdKernels } from './wasm.js';

/**
 * In-place iterative radix-2 complex FFT on split real/imaginary Float64Arrays. Used by the chirp matched
 * filter (receiver) and by the channel simulator's convolutions.
 */
const plans = new Map<number, { swaps: Uint32Array; cos: Float64Array; sin: Float64Array }>();

function plan(n: number) {
  let p = plans.get(n);
  if (p) return p;
  if (n < 1 || (n & (n - 1)) !== 0) throw new RangeError(`FFT size ${n} is not a power of two`);
  const bits = Math.round(Math.log2(n));
  const rev = new Uint32Array(n);
  for (let i = 0; i < n; i++) {
    let r = 0;
    for (let b = 0; b < bits; b++) r |= ((i >> b) & 1) << (bits - 1 - b);
    rev[i] = r;
  }
  // Index pairs (i, rev(i)) with rev(i) > i, flattened: the permutation as a branch-free list of swaps.
  let pairs = 0;
  for (let i = 0; i < n; i++) if (rev[i]! > i) pairs++;
  const swaps = new Uint32Array(2 * pairs);
  for (let i = 0, w = 0; i < n; i++) {
    if (rev[i]! > i) {
      swaps[w++] = i;
      swaps[w++] = rev[i]!;
    }
  }
  const cos = new Float64Array(n / 2);
  const sin = new Float64Array(n / 2);
  for (let i = 0; i < n / 2; i++) {
    cos[i] = Math.cos((2 * Math.PI * i) / n);
    sin[i] = Math.sin((2 * Math.PI * i) / n);
  }
  p = { swaps, cos, sin };
  plans.set(n, p);
  return p;
}

/** Forward (sign -1) or inverse (sign +1, unnormalised) DFT of (re, im), in place. */
export function fft(re: Float64Array, im: Float64Array, inverse = false): void {
  const n = re.length;
  if (n <= 1) return;
  const { swaps, cos, sin } = plan(n);
  for (let s = 0; s < swaps.length; s += 2) {
    const i = swaps[s]!;
    const j = swaps[s + 1]!;
    const tr = re[i]!;
    re[i] = re[j]!;
    re[j] = tr;
    const ti = im[i]!;
    im[i] = im[j]!;
    im[j] = ti;
  }
  const sgn = inverse ? 1 : -1;
  // Stages are done two at a time (radix-4 passes over radix-2 ordered data); an odd stage count starts
  // with one size-2 pass.
  let m = 1;
  const stages = Math.round(Math.log2(n));
  if (stages % 2 === 1) {
    for (let a = 0; a < n; a += 2) {
      const br = re[a + 1]!;
      const bi = im[a + 1]!;
      const ar = re[a]!;
      const ai = im[a]!;
      re[a + 1] = ar - br;
      im[a + 1] = ai - bi;
      re[a] = ar + br;
      im[a] = ai + bi;
    }
    m = 2;
  }
  for (; m < n; m <<= 2) {
    const step1 = n / (2 * m);
    const step2 = n / (4 * m);
    for (let k = 0; k < m; k++) {
      const w1r = cos[k * step1]!;
      const w1i = sgn * sin[k * step1]!;
      const w2r = cos[k * step2]!;
      const w2i = sgn * sin[k * step2]!;
      for (let a0 = k; a0 < n; a0 += 4 * m) {
        const a1 = a0 + m;
        const a2 = a1 + m;
        const a3 = a2 + m;
        // first stage (size 2m): (a0, a1) and (a2, a3) with twiddle w1
        const x1r = re[a1]!;
        const x1i = im[a1]!;
        const t1r = x1r * w1r - x1i * w1i;
        const t1i = x1r * w1i + x1i * w1r;
        const x0r = re[a0]!;
        const x0i = im[a0]!;
        const b0r = x0r + t1r;
        const b0i = x0i + t1i;
        const b1r = x0r - t1r;
        const b1i = x0i - t1i;
        const x3r = re[a3]!;
        const x3i = im[a3]!;
        const t3r = x3r * w1r - x3i * w1i;
        const t3i = x3r * w1i + x3i * w1r;
        const x2r = re[a2]!;
        const x2i = im[a2]!;
        const b2r = x2r + t3r;
        const b2i = x2i + t3i;
        const b3r = x2r - t3r;
        const b3i = x2i - t3i;
        // second stage (size 4m): (a0, a2) with w2, (a1, a3) with w2 * (sgn j)
        const u2r = b2r * w2r - b2i * w2i;
        const u2i = b2r * w2i + b2i * w2r;
        const v3r = b3r * w2r - b3i * w2i;
        const v3i = b3r * w2i + b3i * w2r;
        // multiply v3 by sgn*j: (x + jy) * (sgn j) = -sgn*y + j sgn*x
        const u3r = -sgn * v3i;
        const u3i = sgn * v3r;
        re[a0] = b0r + u2r;
        im[a0] = b0i + u2i;
        re[a2] = b0r - u2r;
        im[a2] = b0i - u2i;
        re[a1] = b1r + u3r;
        im[a1] = b1i + u3i;
        re[a3] = b1r - u3r;
        im[a3] = b1i - u3i;
      }
    }
  }
}

/**
 * Spectrum of a real signal x (length n, a power of two >= 4) via one complex FFT of size n/2. Writes bins
 * 0..n/2 into (outRe, outIm) (length >= n/2 + 1); work arrays zr, zi have length n/2.
 */
export function realFft(
  x: ArrayLike<number>, outRe: Float64Array, outIm: Float64Array, zr: Float64Array, zi: Float64Array,
  /** Optional [from, to) bin ranges: only these output bins are computed. */
  ranges?: readonly (readonly [number, number])[],
): void {
  const h = zr.length;
  for (let i = 0; i < h; i++) {
    zr[i] = x[2 * i]!;
    zi[i] = x[2 * i + 1]!;
  }
  realFftPacked(outRe, outIm, zr, zi, ranges);
}

/**
 * realFft() for a signal already packed as z[i] = x[2i] + j x[2i + 1] in (zr, zi) (length n/2, overwritten).
 */
export function realFftPacked(
  outRe: Float64Array, outIm: Float64Array, zr: Float64Array, zi: Float64Array,
  ranges?: readonly (readonly [number, number])[],
): void {
  const h = zr.length;
  const n = 2 * h;
  fft(zr, zi);
  const { cos, sin } = plan(n);
  for (const [from, to] of ranges ?? [[0, h + 1] as const]) {
  for (let k = Math.max(0, from); k < Math.min(h + 1, to); k++) {
    const k1 = k % h;
    const k2 = (h - k) % h;
    const ar = zr[k1]!;
    const ai = zi[k1]!;
    const br = zr[k2]!;
    const bi = -zi[k2]!;
    // E = (Z[k] + conj Z[h-k]) / 2, O = (Z[k] - conj Z[h-k]) / (2j)
    const er = 0.5 * (ar + br);
    const ei = 0.5 * (ai + bi);
    const or = 0.5 * (ai - bi);
    const oi = -0.5 * (ar - br);
    // twiddle e^{-j 2 pi k / n}
    const wr = k < h ? cos[k]! : -1;
    const wi = k < h ? -sin[k]! : 0;
    outRe[k] = er + or * wr - oi * wi;
    outIm[k] = ei + or * wi + oi * wr;
  }
  }
}

export function nextPow2(n: number): number {
  let p = 1;
  while (p < n) p <<= 1;
  return p;
}

/** Linear convolution of two real signals via FFT (output length a.length + b.length - 1). */
export function convolve(a: Float32Array | Float64Array, b: Float32Array | Float64Array): Float64Array {
  const outLen = a.length + b.length - 1;
  if (a.length === 0 || b.length === 0) return new Float64Array(0);
  const n = nextPow2(outLen);
  const ar = new Float64Array(n);
  const ai = new Float64Array(n);
  const br = new Float64Array(n);
  const bi = new Float64Array(n);
  ar.set(a);
  br.set(b);
  fft(ar, ai);
  fft(br, bi);
  for (let i = 0; i < n; i++) {
    const r = ar[i]! * br[i]! - ai[i]! * bi[i]!;
    const im = ar[i]! * bi[i]! + ai[i]! * br[i]!;
    ar[i] = r;
    ai[i] = im;
  }
  fft(ar, ai, true);
  const out = new Float64Array(outLen);
  for (let i = 0; i < outLen; i++) out[i] = ar[i]! / n;
  return out;
}

/*
 * Permutation-free transforms for the streaming receiver. fftDif() takes natural-order input and leaves the
 * spectrum in bit-reversed order; fftDit() takes bit-reversed input and leaves natural order. A forward
 * transform, a pointwise product read through the bit-reversal table, and an inverse transform therefore
 * never permute data. Both are radix-4 (one radix-2 stage when log2 n is odd) with one contiguous twiddle
 * table per stage, walked block by block so that memory is read sequentially.
 */
interface Radix4Plan {
  /** tw[s]: for the stage whose butterflies span 4m points (m = 4^s or 2 * 4^s), 6 doubles per k < m:
   * W^k, W^2k, W^3k with W = exp(-2 pi j / 4m). */
  tw: Map<number, Float64Array>;
  rev: Uint32Array;
}
const radix4Plans = new Map<number, Radix4Plan>();

/**
 * Work arrays for fftDif() and fftDit() in one WebAssembly.Memory, so that their general radix-4 stages run
 * as WebAssembly SIMD kernels (wasm.ts), with results identical to the TypeScript stages. Arrays are
 * allocated once (alloc) for the transform sizes given at construction; where WebAssembly SIMD is
 * unavailable, alloc returns ordinary Float64Arrays and the TypeScript stages run.
 */
export class FftArena {
  private readonly f64: Float64Array | null = null;
  private readonly kernels: ReturnType<SimdKernels['instantiate']> | null = null;
  /** Byte offset of the lane-pair twiddle table of each (n, m) stage. */
  private readonly tables = new Map<number, Map<number, number>>();
  private next = 0;

  /** sizes: transform lengths to support; doubles: total length of the arrays that alloc will hand out. */
  constructor(sizes: readonly number[], doubles: number) {
    const k = arenaBackend === 'wasm' ? simdKernels() : null;
    if (!k) return;
    const uniq = [...new Set(sizes)];
    let bytes = 8 * doubles + 16 * 64;
    for (const n of uniq) for (const m of radix4Plan(n).tw.keys()) if (m >= 2) bytes += 48 * m;
    let memory: WebAssembly.Memory;
    try {
      memory = new WebAssembly.Memory({ initial: Math.ceil(bytes / 65536) });
    } catch {
      return; // address space or memory exhausted: ordinary arrays and the TypeScript stages
    }
    this.kernels = k.instantiate(memory);
    this.f64 = new Float64Array(memory.buffer);
    for (const n of uniq) {
      const offs = new Map<number, number>();
      for (const [m, t] of radix4Plan(n).tw) {
        if (m < 2) continue;
        // Lane pairs: for k = 2p, the 6 twiddles of k and k + 1 side by side.
        const at = this.next;
        for (let kk = 0; kk < m; kk += 2) {
          for (let q = 0; q < 6; q++) {
            this.f64[at + 6 * kk + 2 * q] = t[6 * kk + q]!;
            this.f64[at + 6 * kk + 2 * q + 1] = t[6 * (kk + 1) + q]!;
          }
        }
        this.next += 6 * m;
        offs.set(m, 8 * at);
      }
      this.tables.set(n, offs);
    }
    arenas.set(memory.buffer, this);
  }

  /** A zeroed array of n doubles (16-byte aligned inside the arena when it is WebAssembly-backed). */
  alloc(n: number): Float64Array {
    if (!this.f64) return new Float64Array(n);
    this.next = (this.next + 1) & ~1;
    if (this.next + n > this.f64.length) throw new RangeError('FftArena: out of space');
    const a = this.f64.subarray(this.next, this.next + n);
    this.next += n;
    return a;
  }

  /** A zeroed Uint32Array of n entries, in the arena's memory when it is WebAssembly-backed. */
  allocU32(n: number): Uint32Array {
    if (!this.f64) return new Uint32Array(n);
    const a = this.alloc((n + 1) >> 1);
    return new Uint32Array(a.buffer, a.byteOffset, n);
  }

  /**
   * y[j] = P[j] Z[u] + Q[j] conj(Z[v]) for j < y.length, with u = idx[2j], v = idx[2j + 1] and
   * (Pr, Pi, Qr, Qi) = coef[4j .. 4j + 3]: the receiver's band product, in WebAssembly if it can.
   */
  gather(zr: Float64Array, zi: Float64Array, idx: Uint32Array, coef: Float64Array, yr: Float64Array, yi: Float64Array): boolean {
    const b = this.f64?.buffer;
    if (!this.kernels || !b || [zr, zi, idx, coef, yr, yi].some((a) => a.buffer !== b)) return false;
    this.kernels.gather(zr.byteOffset, zi.byteOffset, idx.byteOffset, coef.byteOffset, yr.byteOffset, yi.byteOffset, yr.length);
    return true;
  }

  /** Energy prefix sums cum[i + 1] = sum of x[off + j]^2 over j < (i + 1) g, for i < count (cum[0] = 0). */
  energy(x: Float32Array, off: number, cum: Float64Array, count: number, g: number): boolean {
    const b = this.f64?.buffer;
    if (!this.kernels || x.buffer !== b || cum.buffer !== b || cum.length < count + 1 || off < 0 || off + count * g > x.length) return false;
    this.kernels.energy(x.byteOffset + 4 * off, cum.byteOffset, count, g);
    return true;
  }

  /**
   * The first q in [q0, count) with norm (yr[q]^2 + yi[q]^2) >= thr max(floor, cum[q dq + dl] - cum[q dq]),
   * or count; -1 if this arena cannot run it.
   */
  scanFast(
    yr: Float64Array, yi: Float64Array, cum: Float64Array, q0: number, count: number, dq: number, dl: number,
    norm: number, thr: number, floor: number,
  ): number {
    const b = this.f64?.buffer;
    if (!this.kernels || yr.buffer !== b || yi.buffer !== b || cum.buffer !== b) return -1;
    if (count > yr.length || count > yi.length || (count - 1) * dq + dl >= cum.length) return -1;
    return this.kernels.scanFast(yr.byteOffset, yi.byteOffset, cum.byteOffset, q0, count, dq, dl, norm, thr, floor);
  }

  /** A zeroed Float32Array of n entries, in the arena's memory when it is WebAssembly-backed. */
  allocF32(n: number): Float32Array {
    if (!this.f64) return new Float32Array(n);
    const a = this.alloc((n + 1) >> 1);
    return new Float32Array(a.buffer, a.byteOffset, n);
  }

  /** The first stage of fftDifPackedReal() in WebAssembly, if x is in this arena. */
  pack(x: Float32Array, off: number, zr: Float64Array, zi: Float64Array): boolean {
    const h = zr.length;
    const tw = this.tables.get(h)?.get(h >> 2);
    if (tw === undefined || !this.kernels || x.buffer !== this.f64?.buffer || h < 8 || off < 0 || off + 2 * h > x.length) return false;
    this.kernels.pack(x.byteOffset + 4 * off, zr.byteOffset, zi.byteOffset, 2 * h, tw);
    return true;
  }

  /** Runs a twiddle-free stage (m = 1 radix-4 of fftDif or fftDit, or radix-2) in WebAssembly, if it can. */
  trivial(kind: 'dif1' | 'dit1' | 'r2', re: Float64Array, im: Float64Array): boolean {
    if (!this.kernels || im.length !== re.length || re.length < (kind === 'r2' ? 2 : 4)) return false;
    this.kernels[kind](re.byteOffset, im.byteOffset, 8 * re.length);
    return true;
  }

  /** Runs one general radix-4 stage in WebAssembly; false if this arena cannot (caller runs it in TypeScript). */
  stage(kind: 'dif' | 'dit', re: Float64Array, im: Float64Array, m: number): boolean {
    const tw = this.tables.get(re.length)?.get(m);
    if (tw === undefined || !this.kernels || im.length !== re.length) return false;
    this.kernels[kind](re.byteOffset, im.byteOffset, 8 * re.length, 8 * m, tw);
    return true;
  }
}

const arenas = new WeakMap<ArrayBufferLike, FftArena>();
let arenaBackend: 'wasm' | 'typescript' = 'wasm';

/**
 * Backend of arenas created from now on: 'wasm' (default; WebAssembly SIMD where available) or 'typescript'.
 * For tests that compare the two paths; not part of the public API (not exported by index.ts).
 */
export function setFftArenaBackend(kind: 'wasm' | 'typescript'): void {
  arenaBackend = kind;
}

function arenaOf(re: Float64Array, im: Float64Array): FftArena | undefined {
  const a = arenas.get(re.buffer);
  return a && im.buffer === re.buffer ? a : undefined;
}

function radix4Plan(n: number): Radix4Plan {
  let p = radix4Plans.get(n);
  if (p) return p;
  if (n < 1 || (n & (n - 1)) !== 0) throw new RangeError(`FFT size ${n} is not a power of two`);
  const bits = Math.round(Math.log2(n));
  const rev = new Uint32Array(n);
  for (let i = 0; i < n; i++) {
    let r = 0;
    for (let b = 0; b < bits; b++) r |= ((i >> b) & 1) << (bits - 1 - b);
    rev[i] = r;
  }
  const tw = new Map<number, Float64Array>();
  for (let m = bits % 2 === 1 ? 2 : 1; 4 * m <= n; m *= 4) {
    const t = new Float64Array(6 * m);
    for (let k = 0; k < m; k++) {
      for (let q = 1; q <= 3; q++) {
        const a = (-2 * Math.PI * q * k) / (4 * m);
        t[6 * k + 2 * q - 2] = Math.cos(a);
        t[6 * k + 2 * q - 1] = Math.sin(a);
      }
    }
    tw.set(m, t);
  }
  p = { tw, rev };
  radix4Plans.set(n, p);
  return p;
}

/** bit-reversal permutation of 0..n-1 (an involution). */
export function bitReversal(n: number): Uint32Array {
  return radix4Plan(n).rev;
}

/** Forward DFT in place: natural-order input, bit-reversed output. */
export function fftDif(re: Float64Array, im: Float64Array): void {
  if (re.length > 1) difStages(re, im, re.length >> 2);
}

/** The DIF stages whose butterflies span 4m points, for m = top, top / 4, ..., then the last radix-2 stage. */
function difStages(re: Float64Array, im: Float64Array, top: number): void {
  const n = re.length;
  const { tw } = radix4Plan(n);
  const arena = arenaOf(re, im);
  const odd = Math.round(Math.log2(n)) % 2 === 1;
  for (let m = top; m >= 1; m >>= 2) {
    if (m === 1 && !odd) {
      if (arena?.trivial('dif1', re, im)) continue;
      for (let a0 = 0; a0 < n; a0 += 4) {
        const x0r = re[a0]!, x0i = im[a0]!, x1r = re[a0 + 1]!, x1i = im[a0 + 1]!;
        const x2r = re[a0 + 2]!, x2i = im[a0 + 2]!, x3r = re[a0 + 3]!, x3i = im[a0 + 3]!;
        const s02r = x0r + x2r, s02i = x0i + x2i, d02r = x0r - x2r, d02i = x0i - x2i;
        const s13r = x1r + x3r, s13i = x1i + x3i;
        // -j (x1 - x3)
        const d13r = x1i - x3i, d13i = x3r - x1r;
        re[a0] = s02r + s13r;
        im[a0] = s02i + s13i;
        re[a0 + 1] = s02r - s13r;
        im[a0 + 1] = s02i - s13i;
        re[a0 + 2] = d02r + d13r;
        im[a0 + 2] = d02i + d13i;
        re[a0 + 3] = d02r - d13r;
        im[a0 + 3] = d02i - d13i;
      }
      continue;
    }
    if (arena?.stage('dif', re, im, m)) continue;
    const t = tw.get(m)!;
    const span = 4 * m;
    for (let base = 0; base < n; base += span) {
      for (let k = 0, a0 = base; k < m; k++, a0++) {
        const a1 = a0 + m;
        const a2 = a1 + m;
        const a3 = a2 + m;
        const x0r = re[a0]!, x0i = im[a0]!, x1r = re[a1]!, x1i = im[a1]!;
        const x2r = re[a2]!, x2i = im[a2]!, x3r = re[a3]!, x3i = im[a3]!;
        const s02r = x0r + x2r, s02i = x0i + x2i, d02r = x0r - x2r, d02i = x0i - x2i;
        const s13r = x1r + x3r, s13i = x1i + x3i;
        const d13r = x1i - x3i, d13i = x3r - x1r;
        const w = 6 * k;
        const w1r = t[w]!, w1i = t[w + 1]!, w2r = t[w + 2]!, w2i = t[w + 3]!, w3r = t[w + 4]!, w3i = t[w + 5]!;
        re[a0] = s02r + s13r;
        im[a0] = s02i + s13i;
        const y1r = s02r - s13r, y1i = s02i - s13i;
        re[a1] = y1r * w2r - y1i * w2i;
        im[a1] = y1r * w2i + y1i * w2r;
        const y2r = d02r + d13r, y2i = d02i + d13i;
        re[a2] = y2r * w1r - y2i * w1i;
        im[a2] = y2r * w1i + y2i * w1r;
        const y3r = d02r - d13r, y3i = d02i - d13i;
        re[a3] = y3r * w3r - y3i * w3i;
        im[a3] = y3r * w3i + y3i * w3r;
      }
    }
  }
  if (odd && !arena?.trivial('r2', re, im)) {
    for (let a = 0; a < n; a += 2) {
      const ar = re[a]!, ai = im[a]!, br = re[a + 1]!, bi = im[a + 1]!;
      re[a] = ar + br;
      im[a] = ai + bi;
      re[a + 1] = ar - br;
      im[a + 1] = ai - bi;
    }
  }
}

/** Forward DFT in place: bit-reversed input, natural-order output. fftDit(im, re) is the inverse (unnormalised). */
export function fftDit(re: Float64Array, im: Float64Array): void {
  const n = re.length;
  if (n <= 1) return;
  const { tw } = radix4Plan(n);
  const arena = arenaOf(re, im);
  let m = 1;
  if (Math.round(Math.log2(n)) % 2 === 1) {
    if (!arena?.trivial('r2', re, im)) for (let a = 0; a < n; a += 2) {
      const ar = re[a]!, ai = im[a]!, br = re[a + 1]!, bi = im[a + 1]!;
      re[a] = ar + br;
      im[a] = ai + bi;
      re[a + 1] = ar - br;
      im[a + 1] = ai - bi;
    }
    m = 2;
  } else if (n >= 4) {
    if (!arena?.trivial('dit1', re, im)) for (let a0 = 0; a0 < n; a0 += 4) {
      const x0r = re[a0]!, x0i = im[a0]!, p1r = re[a0 + 1]!, p1i = im[a0 + 1]!;
      const p2r = re[a0 + 2]!, p2i = im[a0 + 2]!, p3r = re[a0 + 3]!, p3i = im[a0 + 3]!;
      const s01r = x0r + p1r, s01i = x0i + p1i, d01r = x0r - p1r, d01i = x0i - p1i;
      const s23r = p2r + p3r, s23i = p2i + p3i;
      // -j (p2 - p3)
      const d23r = p2i - p3i, d23i = p3r - p2r;
      re[a0] = s01r + s23r;
      im[a0] = s01i + s23i;
      re[a0 + 2] = s01r - s23r;
      im[a0 + 2] = s01i - s23i;
      re[a0 + 1] = d01r + d23r;
      im[a0 + 1] = d01i + d23i;
      re[a0 + 3] = d01r - d23r;
      im[a0 + 3] = d01i - d23i;
    }
    m = 4;
  }
  for (; m < n; m <<= 2) {
    if (arena?.stage('dit', re, im, m)) continue;
    const t = tw.get(m)!;
    const span = 4 * m;
    for (let base = 0; base < n; base += span) {
      for (let k = 0, a0 = base; k < m; k++, a0++) {
        const a1 = a0 + m;
        const a2 = a1 + m;
        const a3 = a2 + m;
        const w = 6 * k;
        const w1r = t[w]!, w1i = t[w + 1]!, w2r = t[w + 2]!, w2i = t[w + 3]!, w3r = t[w + 4]!, w3i = t[w + 5]!;
        const x0r = re[a0]!, x0i = im[a0]!;
        const x1r = re[a1]!, x1i = im[a1]!;
        const p1r = x1r * w2r - x1i * w2i, p1i = x1r * w2i + x1i * w2r;
        const x2r = re[a2]!, x2i = im[a2]!;
        const p2r = x2r * w1r - x2i * w1i, p2i = x2r * w1i + x2i * w1r;
        const x3r = re[a3]!, x3i = im[a3]!;
        const p3r = x3r * w3r - x3i * w3i, p3i = x3r * w3i + x3i * w3r;
        const s01r = x0r + p1r, s01i = x0i + p1i, d01r = x0r - p1r, d01i = x0i - p1i;
        const s23r = p2r + p3r, s23i = p2i + p3i;
        const d23r = p2i - p3i, d23i = p3r - p2r;
        re[a0] = s01r + s23r;
        im[a0] = s01i + s23i;
        re[a2] = s01r - s23r;
        im[a2] = s01i - s23i;
        re[a1] = d01r + d23r;
        im[a1] = d01i + d23i;
        re[a3] = d01r - d23r;
        im[a3] = d01i - d23i;
      }
    }
  }
}

/**
 * fftDif() of the real segment x[off .. off + 2h) packed as z[i] = x[off + 2i] + j x[off + 2i + 1] into
 * (zr, zi) (length h, a power of two >= 8). The packing is fused into the first radix-4 stage, so the
 * segment is read once and the work arrays are written once per stage.
 */
export function fftDifPackedReal(x: Float32Array, off: number, zr: Float64Array, zi: Float64Array): void {
  const h = zr.length;
  if (h < 8) {
    for (let i = 0; i < h; i++) {
      zr[i] = x[off + 2 * i]!;
      zi[i] = x[off + 2 * i + 1]!;
    }
    fftDif(zr, zi);
    return;
  }
  const m = h >> 2;
  const arena = arenaOf(zr, zi);
  if (arena?.pack(x, off, zr, zi)) {
    difStages(zr, zi, m >> 2);
    return;
  }
  const t = radix4Plan(h).tw.get(m)!;
  for (let k = 0; k < m; k++) {
    const a0 = k;
    const a1 = a0 + m;
    const a2 = a1 + m;
    const a3 = a2 + m;
    const j0 = off + 2 * a0;
    const j1 = off + 2 * a1;
    const j2 = off + 2 * a2;
    const j3 = off + 2 * a3;
    const x0r = x[j0]!, x0i = x[j0 + 1]!, x1r = x[j1]!, x1i = x[j1 + 1]!;
    const x2r = x[j2]!, x2i = x[j2 + 1]!, x3r = x[j3]!, x3i = x[j3 + 1]!;
    const s02r = x0r + x2r, s02i = x0i + x2i, d02r = x0r - x2r, d02i = x0i - x2i;
    const s13r = x1r + x3r, s13i = x1i + x3i;
    const d13r = x1i - x3i, d13i = x3r - x1r;
    const w = 6 * k;
    const w1r = t[w]!, w1i = t[w + 1]!, w2r = t[w + 2]!, w2i = t[w + 3]!, w3r = t[w + 4]!, w3i = t[w + 5]!;
    zr[a0] = s02r + s13r;
    zi[a0] = s02i + s13i;
    const y1r = s02r - s13r, y1i = s02i - s13i;
    zr[a1] = y1r * w2r - y1i * w2i;
    zi[a1] = y1r * w2i + y1i * w2r;
    const y2r = d02r + d13r, y2i = d02i + d13i;
    zr[a2] = y2r * w1r - y2i * w1i;
    zi[a2] = y2r * w1i + y2i * w1r;
    const y3r = d02r - d13r, y3i = d02i - d13i;
    zr[a3] = y3r * w3r - y3i * w3i;
    zi[a3] = y3r * w3i + y3i * w3r;
  }
  // Remaining stages: spans of h/4, h/16, ... (difStages stops before m = 1 when log2 h is odd).
  difStages(zr, zi, m >> 2);
}
