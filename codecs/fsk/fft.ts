/**
 * In-place iterative radix-2 complex FFT on split real/imaginary Float64Arrays. Used by the chirp matched
 * filter (receiver) and by the channel simulator's convolutions.
 */
const plans = new Map<number, { rev: Uint32Array; cos: Float64Array; sin: Float64Array }>();

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
  const cos = new Float64Array(n / 2);
  const sin = new Float64Array(n / 2);
  for (let i = 0; i < n / 2; i++) {
    cos[i] = Math.cos((2 * Math.PI * i) / n);
    sin[i] = Math.sin((2 * Math.PI * i) / n);
  }
  p = { rev, cos, sin };
  plans.set(n, p);
  return p;
}

/** Forward (sign -1) or inverse (sign +1, unnormalised) DFT of (re, im), in place. */
export function fft(re: Float64Array, im: Float64Array, inverse = false): void {
  const n = re.length;
  if (n <= 1) return;
  const { rev, cos, sin } = plan(n);
  for (let i = 0; i < n; i++) {
    const j = rev[i]!;
    if (j > i) {
      const tr = re[i]!;
      re[i] = re[j]!;
      re[j] = tr;
      const ti = im[i]!;
      im[i] = im[j]!;
      im[j] = ti;
    }
  }
  const sgn = inverse ? 1 : -1;
  for (let size = 2; size <= n; size <<= 1) {
    const half = size >> 1;
    const step = n / size;
    for (let k = 0; k < half; k++) {
      const wr = cos[k * step]!;
      const wi = sgn * sin[k * step]!;
      for (let a = k; a < n; a += size) {
        const b = a + half;
        const br = re[b]!;
        const bi = im[b]!;
        const xr = br * wr - bi * wi;
        const xi = br * wi + bi * wr;
        const ar = re[a]!;
        const ai = im[a]!;
        re[b] = ar - xr;
        im[b] = ai - xi;
        re[a] = ar + xr;
        im[a] = ai + xi;
      }
    }
  }
}

/**
 * Spectrum of a real signal x (length n, a power of two >= 4) via one complex FFT of size n/2. Writes bins
 * 0..n/2 into (outRe, outIm) (length >= n/2 + 1); work arrays zr, zi have length n/2.
 */
export function realFft(x: ArrayLike<number>, outRe: Float64Array, outIm: Float64Array, zr: Float64Array, zi: Float64Array): void {
  const h = zr.length;
  const n = 2 * h;
  for (let i = 0; i < h; i++) {
    zr[i] = x[2 * i]!;
    zi[i] = x[2 * i + 1]!;
  }
  fft(zr, zi);
  const { cos, sin } = plan(n);
  for (let k = 0; k <= h; k++) {
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
