/**
 * WebAssembly SIMD kernels for the receiver's FFT stages, assembled at run time from the instruction list
 * below (no binary blob, no toolchain): the general radix-4 stage of fftDif() and of fftDit() (fft.ts), each
 * lane of an f64x2 vector holding one of two neighbouring butterflies (k, k + 1). The arithmetic per lane is
 * exactly that of the TypeScript stages, operation for operation, so both paths give identical results.
 *
 * The data and twiddle tables live in a WebAssembly.Memory owned by an FftArena (fft.ts). Where WebAssembly
 * or its SIMD extension is unavailable (old engines, a Content-Security-Policy without 'wasm-unsafe-eval'),
 * simdKernels() returns null and the TypeScript stages run instead.
 */

export interface SimdKernels {
  /** Imports the memory; one instance per arena. */
  instantiate(memory: WebAssembly.Memory): {
    /**
     * One radix-4 stage over arrays at byte offsets re and im (len bytes each), butterflies spanning 4m
     * points (sm = 8m bytes, m >= 2 and even), twiddles at byte offset tw in the lane-pair layout.
     */
    dif(re: number, im: number, len: number, sm: number, tw: number): void;
    dit(re: number, im: number, len: number, sm: number, tw: number): void;
    /** See energy() below: byte offsets x (Float32) and cum (Float64). */
    energy(x: number, cum: number, count: number, g: number): void;
    /** See scanFast() below: byte offsets yr, yi, cum; returns the first q reaching the threshold, or count. */
    scanFast(yr: number, yi: number, cum: number, q0: number, count: number, dq: number, dl: number, norm: number, thr: number, floor: number): number;
    /** The first fftDif stage straight from Float32 samples at byte offset x (see stage('pack')). */
    pack(x: number, re: number, im: number, sm: number, tw: number): void;
    /** The twiddle-free stages over the whole arrays: m = 1 radix-4 (dif1, dit1) and radix-2 (r2). */
    dif1(re: number, im: number, len: number): void;
    dit1(re: number, im: number, len: number): void;
    r2(re: number, im: number, len: number): void;
    /** The receiver's band product (see gather() below); arrays as byte offsets, fs slots. */
    gather(zr: number, zi: number, idx: number, coef: number, yr: number, yi: number, fs: number): void;
  };
}

// ---------------------------------------------------------------------------------------- binary helpers
function uleb(n: number): number[] {
  const out: number[] = [];
  do {
    let b = n & 0x7f;
    n >>>= 7;
    if (n !== 0) b |= 0x80;
    out.push(b);
  } while (n !== 0);
  return out;
}

function section(id: number, body: number[]): number[] {
  return [id, ...uleb(body.length), ...body];
}

function vec(items: number[][]): number[] {
  return [...uleb(items.length), ...items.flat()];
}

function name(s: string): number[] {
  const b = [...s].map((c) => c.charCodeAt(0));
  return [...uleb(b.length), ...b];
}

const I32 = 0x7f;
const V128 = 0x7b;

/** A function body with named params and locals. */
class Body {
  private readonly index = new Map<string, number>();
  private readonly extra: number[] = [];
  readonly code: number[] = [];

  /** Encoded function type: params (name:type, i32 unless told) and results. */
  readonly type: number[];

  constructor(params: string[], results: number[] = []) {
    const types = params.map((p) => (p.endsWith(':f64') ? 0x7c : 0x7f));
    params.forEach((p, i) => this.index.set(p.replace(/:f64$/, ''), i));
    this.type = [0x60, ...vec(types.map((t) => [t])), ...vec(results.map((t) => [t]))];
  }

  local(type: number, ...names: string[]): void {
    for (const n of names) {
      this.index.set(n, this.index.size);
      this.extra.push(type);
    }
  }

  get(n: string): number[] {
    return [0x20, ...uleb(this.at(n))];
  }

  set(n: string, value: number[]): void {
    this.code.push(...value, 0x21, ...uleb(this.at(n)));
  }

  emit(...bytes: number[]): void {
    this.code.push(...bytes);
  }

  private at(n: string): number {
    const i = this.index.get(n);
    if (i === undefined) throw new Error(`wasm: unknown local ${n}`);
    return i;
  }

  encode(): number[] {
    const groups = this.extra.map((t) => [...uleb(1), t]);
    const body = [...vec(groups), ...this.code, 0x0b];
    return [...uleb(body.length), ...body];
  }
}

const i32add = (a: number[], b: number[]) => [...a, ...b, 0x6a];
const i32const = (v: number) => [0x41, ...sleb(v)];
const add = (a: number[], b: number[]) => [...a, ...b, 0xfd, ...uleb(0xf0)];
const sub = (a: number[], b: number[]) => [...a, ...b, 0xfd, ...uleb(0xf1)];
const mul = (a: number[], b: number[]) => [...a, ...b, 0xfd, ...uleb(0xf2)];
/** v128.load / v128.store, alignment hint 8 bytes. */
const load = (addr: number[], offset = 0) => [...addr, 0xfd, ...uleb(0x00), 3, ...uleb(offset)];
const store = (addr: number[], value: number[], offset = 0) => [...addr, ...value, 0xfd, ...uleb(0x0b), 3, ...uleb(offset)];

function sleb(n: number): number[] {
  const out: number[] = [];
  for (;;) {
    const b = n & 0x7f;
    n >>= 7;
    if ((n === 0 && (b & 0x40) === 0) || (n === -1 && (b & 0x40) !== 0)) {
      out.push(b);
      return out;
    }
    out.push(b | 0x80);
  }
}

/**
 * Shared loop skeleton: for base in [re, re + len) step 4 sm, for p in [base, base + sm) step 16 bytes
 * (two butterflies), with p1 = p + sm, p2 = p + 2 sm, p3 = p + 3 sm and the imaginary parts at + delta;
 * the twiddle pointer t advances 96 bytes per pair (w1r, w1i, w2r, w2i, w3r, w3i as lane pairs).
 */
function stage(kind: 'dif' | 'dit' | 'pack'): Body {
  // pack: the first fftDif stage (one block, len = 4 sm) reading the real segment packed as complex pairs
  // from Float32 samples at x (fftDifPackedReal).
  const f = new Body(kind === 'pack' ? ['x', 're', 'im', 'sm', 'tw'] : ['re', 'im', 'len', 'sm', 'tw']);
  f.local(I32, 'delta', 'base', 'end', 'p', 'kend', 't', 'p1', 'p2', 'p3', 'px');
  f.local(V128, 'w1r', 'w1i', 'w2r', 'w2i', 'w3r', 'w3i', 'x0r', 'x0i', 'x1r', 'x1i', 'x2r', 'x2i', 'x3r', 'x3i');
  f.local(V128, 'ar', 'ai', 'br', 'bi', 'cr', 'ci', 'dr', 'di', 'yr', 'yi', 'v');
  const g = (n: string) => f.get(n);
  const im = (n: string) => i32add(g(n), g('delta'));
  f.set('delta', [...g('im'), ...g('re'), 0x6b]);
  f.set('base', g('re'));
  f.set('end', i32add(g('re'), kind === 'pack' ? [...g('sm'), ...i32const(2), 0x74] : g('len')));
  if (kind === 'pack') f.set('px', g('x'));
  f.emit(0x03, 0x40); // loop over blocks
  f.set('p', g('base'));
  f.set('kend', i32add(g('base'), g('sm')));
  f.set('t', g('tw'));
  f.emit(0x03, 0x40); // loop over butterfly pairs
  f.set('p1', i32add(g('p'), g('sm')));
  f.set('p2', i32add(g('p1'), g('sm')));
  f.set('p3', i32add(g('p2'), g('sm')));
  ['w1r', 'w1i', 'w2r', 'w2i', 'w3r', 'w3i'].forEach((w, i) => f.set(w, load(g('t'), 16 * i)));
  const cmulR = (xr: string, xi: string, wr: string, wi: string) => sub(mul(g(xr), g(wr)), mul(g(xi), g(wi)));
  const cmulI = (xr: string, xi: string, wr: string, wi: string) => add(mul(g(xr), g(wi)), mul(g(xi), g(wr)));
  if (kind === 'dif' || kind === 'pack') {
    if (kind === 'pack') {
      // Four Float32 samples (x[2k], x[2k+1], x[2k+2], x[2k+3]) = (re_k, im_k, re_k+1, im_k+1) per quarter:
      // shuffle the real (imaginary) parts into the low half, then widen them to f64x2.
      for (let i = 0; i < 4; i++) {
        const addr = i === 0 ? g('px') : i32add(g('px'), [...g('sm'), ...i32const(i), 0x6c]);
        f.set('v', load(addr));
        f.set(`x${i}r`, [...g('v'), ...g('v'), 0xfd, 0x0d, 0, 1, 2, 3, 8, 9, 10, 11, 0, 1, 2, 3, 8, 9, 10, 11, 0xfd, ...uleb(0x5f)]);
        f.set(`x${i}i`, [...g('v'), ...g('v'), 0xfd, 0x0d, 4, 5, 6, 7, 12, 13, 14, 15, 4, 5, 6, 7, 12, 13, 14, 15, 0xfd, ...uleb(0x5f)]);
      }
      f.set('px', i32add(g('px'), i32const(16)));
    } else {
      f.set('x0r', load(g('p')));
      f.set('x0i', load(im('p')));
      f.set('x1r', load(g('p1')));
      f.set('x1i', load(im('p1')));
      f.set('x2r', load(g('p2')));
      f.set('x2i', load(im('p2')));
      f.set('x3r', load(g('p3')));
      f.set('x3i', load(im('p3')));
    }
    // s02 (a), d02 (b), s13 (c), d13 = -j (x1 - x3) (d)
    f.set('ar', add(g('x0r'), g('x2r')));
    f.set('ai', add(g('x0i'), g('x2i')));
    f.set('br', sub(g('x0r'), g('x2r')));
    f.set('bi', sub(g('x0i'), g('x2i')));
    f.set('cr', add(g('x1r'), g('x3r')));
    f.set('ci', add(g('x1i'), g('x3i')));
    f.set('dr', sub(g('x1i'), g('x3i')));
    f.set('di', sub(g('x3r'), g('x1r')));
    f.emit(...store(g('p'), add(g('ar'), g('cr'))));
    f.emit(...store(im('p'), add(g('ai'), g('ci'))));
    f.set('yr', sub(g('ar'), g('cr')));
    f.set('yi', sub(g('ai'), g('ci')));
    f.emit(...store(g('p1'), cmulR('yr', 'yi', 'w2r', 'w2i')));
    f.emit(...store(im('p1'), cmulI('yr', 'yi', 'w2r', 'w2i')));
    f.set('yr', add(g('br'), g('dr')));
    f.set('yi', add(g('bi'), g('di')));
    f.emit(...store(g('p2'), cmulR('yr', 'yi', 'w1r', 'w1i')));
    f.emit(...store(im('p2'), cmulI('yr', 'yi', 'w1r', 'w1i')));
    f.set('yr', sub(g('br'), g('dr')));
    f.set('yi', sub(g('bi'), g('di')));
    f.emit(...store(g('p3'), cmulR('yr', 'yi', 'w3r', 'w3i')));
    f.emit(...store(im('p3'), cmulI('yr', 'yi', 'w3r', 'w3i')));
  } else {
    f.set('x0r', load(g('p')));
    f.set('x0i', load(im('p')));
    f.set('x1r', load(g('p1')));
    f.set('x1i', load(im('p1')));
    f.set('x2r', load(g('p2')));
    f.set('x2i', load(im('p2')));
    f.set('x3r', load(g('p3')));
    f.set('x3i', load(im('p3')));
    // p1 = x1 W^2k (a), p2 = x2 W^k (b), p3 = x3 W^3k (c)
    f.set('ar', cmulR('x1r', 'x1i', 'w2r', 'w2i'));
    f.set('ai', cmulI('x1r', 'x1i', 'w2r', 'w2i'));
    f.set('br', cmulR('x2r', 'x2i', 'w1r', 'w1i'));
    f.set('bi', cmulI('x2r', 'x2i', 'w1r', 'w1i'));
    f.set('cr', cmulR('x3r', 'x3i', 'w3r', 'w3i'));
    f.set('ci', cmulI('x3r', 'x3i', 'w3r', 'w3i'));
    // s01 (x1), d01 (x2), s23 (x3), d23 = -j (p2 - p3) (d)
    f.set('x1r', add(g('x0r'), g('ar')));
    f.set('x1i', add(g('x0i'), g('ai')));
    f.set('x2r', sub(g('x0r'), g('ar')));
    f.set('x2i', sub(g('x0i'), g('ai')));
    f.set('x3r', add(g('br'), g('cr')));
    f.set('x3i', add(g('bi'), g('ci')));
    f.set('dr', sub(g('bi'), g('ci')));
    f.set('di', sub(g('cr'), g('br')));
    f.emit(...store(g('p'), add(g('x1r'), g('x3r'))));
    f.emit(...store(im('p'), add(g('x1i'), g('x3i'))));
    f.emit(...store(g('p2'), sub(g('x1r'), g('x3r'))));
    f.emit(...store(im('p2'), sub(g('x1i'), g('x3i'))));
    f.emit(...store(g('p1'), add(g('x2r'), g('dr'))));
    f.emit(...store(im('p1'), add(g('x2i'), g('di'))));
    f.emit(...store(g('p3'), sub(g('x2r'), g('dr'))));
    f.emit(...store(im('p3'), sub(g('x2i'), g('di'))));
  }
  f.set('t', i32add(g('t'), i32const(96)));
  f.set('p', i32add(g('p'), i32const(16)));
  f.emit(...g('p'), ...g('kend'), 0x49, 0x0d, 0x00); // br_if (p < kend) inner loop
  f.emit(0x0b);
  f.set('base', i32add(g('base'), [...g('sm'), ...i32const(2), 0x74]));
  f.emit(...g('base'), ...g('end'), 0x49, 0x0d, 0x00); // br_if (base < end) outer loop
  f.emit(0x0b);
  return f;
}

const F64 = 0x7c;
const fadd = (a: number[], b: number[]) => [...a, ...b, 0xa0];
const fsub = (a: number[], b: number[]) => [...a, ...b, 0xa1];
const fmul = (a: number[], b: number[]) => [...a, ...b, 0xa2];
const fload = (addr: number[], offset = 0) => [...addr, 0x2b, 3, ...uleb(offset)];
const fstore = (addr: number[], value: number[], offset = 0) => [...addr, ...value, 0x39, 3, ...uleb(offset)];
const iload = (addr: number[], offset = 0) => [...addr, 0x28, 2, ...uleb(offset)];

/** A pass over groups of `step` bytes: for p in [re, re + len) step `step`, with q = p + (im - re). */
function pass(step: number, body: (f: Body, p: number[], q: number[]) => void): Body {
  const f = new Body(['re', 'im', 'len']);
  f.local(I32, 'delta', 'p', 'end');
  f.local(F64, 'x0r', 'x0i', 'x1r', 'x1i', 'x2r', 'x2i', 'x3r', 'x3i', 'ar', 'ai', 'br', 'bi', 'cr', 'ci', 'dr', 'di');
  f.set('delta', [...f.get('im'), ...f.get('re'), 0x6b]);
  f.set('p', f.get('re'));
  f.set('end', i32add(f.get('re'), f.get('len')));
  f.emit(0x03, 0x40);
  body(f, f.get('p'), i32add(f.get('p'), f.get('delta')));
  f.set('p', i32add(f.get('p'), i32const(step)));
  f.emit(...f.get('p'), ...f.get('end'), 0x49, 0x0d, 0x00);
  f.emit(0x0b);
  return f;
}

/** The m = 1 radix-4 stage (no twiddles) of fftDif (dif) or fftDit (dit), and the radix-2 stage. */
function trivialStage(kind: 'dif1' | 'dit1' | 'r2'): Body {
  if (kind === 'r2') {
    return pass(16, (f, p, q) => {
      for (const [addr, a, b] of [[p, 'x0r', 'x1r'], [q, 'x0i', 'x1i']] as const) {
        f.set(a, fload(addr, 0));
        f.set(b, fload(addr, 8));
        f.emit(...fstore(addr, fadd(f.get(a), f.get(b)), 0));
        f.emit(...fstore(addr, fsub(f.get(a), f.get(b)), 8));
      }
    });
  }
  return pass(32, (f, p, q) => {
    const g = (n: string) => f.get(n);
    for (let i = 0; i < 4; i++) {
      f.set(`x${i}r`, fload(p, 8 * i));
      f.set(`x${i}i`, fload(q, 8 * i));
    }
    if (kind === 'dif1') {
      // s02 (a), d02 (b), s13 (c), d13 = -j (x1 - x3) (d); outputs s02 +- s13, d02 +- d13
      f.set('ar', fadd(g('x0r'), g('x2r')));
      f.set('ai', fadd(g('x0i'), g('x2i')));
      f.set('br', fsub(g('x0r'), g('x2r')));
      f.set('bi', fsub(g('x0i'), g('x2i')));
      f.set('cr', fadd(g('x1r'), g('x3r')));
      f.set('ci', fadd(g('x1i'), g('x3i')));
      f.set('dr', fsub(g('x1i'), g('x3i')));
      f.set('di', fsub(g('x3r'), g('x1r')));
      const out = [['a', 'c', fadd, 0], ['a', 'c', fsub, 8], ['b', 'd', fadd, 16], ['b', 'd', fsub, 24]] as const;
      for (const [u, v, op, off] of out) {
        f.emit(...fstore(p, op(g(`${u}r`), g(`${v}r`)), off));
        f.emit(...fstore(q, op(g(`${u}i`), g(`${v}i`)), off));
      }
    } else {
      // s01 (a), d01 (b), s23 (c), d23 = -j (x2 - x3) (d); outputs s01 + s23, d01 + d23, s01 - s23, d01 - d23
      f.set('ar', fadd(g('x0r'), g('x1r')));
      f.set('ai', fadd(g('x0i'), g('x1i')));
      f.set('br', fsub(g('x0r'), g('x1r')));
      f.set('bi', fsub(g('x0i'), g('x1i')));
      f.set('cr', fadd(g('x2r'), g('x3r')));
      f.set('ci', fadd(g('x2i'), g('x3i')));
      f.set('dr', fsub(g('x2i'), g('x3i')));
      f.set('di', fsub(g('x3r'), g('x2r')));
      const out = [['a', 'c', fadd, 0], ['b', 'd', fadd, 8], ['a', 'c', fsub, 16], ['b', 'd', fsub, 24]] as const;
      for (const [u, v, op, off] of out) {
        f.emit(...fstore(p, op(g(`${u}r`), g(`${v}r`)), off));
        f.emit(...fstore(q, op(g(`${u}i`), g(`${v}i`)), off));
      }
    }
  });
}

/**
 * The band product of the receiver (receive.ts scan()): for each slot j < fs, with indices u, v
 * (idx[2j], idx[2j + 1], Uint32) into the packed spectrum (zr, zi) and coefficients P, Q (coef[4j .. 4j + 3]):
 * y[j] = P Z[u] + Q conj(Z[v]), in the same operation order as the TypeScript loop.
 */
function gather(): Body {
  const f = new Body(['zr', 'zi', 'idx', 'coef', 'yr', 'yi', 'fs']);
  f.local(I32, 'zd', 'yd', 'pi', 'pc', 'py', 'end', 'au', 'av');
  f.local(F64, 'ar', 'ai', 'br', 'bi', 'p', 'pj', 'q', 'qj');
  const g = (n: string) => f.get(n);
  f.set('zd', [...g('zi'), ...g('zr'), 0x6b]);
  f.set('yd', [...g('yi'), ...g('yr'), 0x6b]);
  f.set('pi', g('idx'));
  f.set('pc', g('coef'));
  f.set('py', g('yr'));
  f.set('end', i32add(g('yr'), [...g('fs'), ...i32const(3), 0x74]));
  f.emit(0x03, 0x40);
  f.set('au', i32add(g('zr'), [...iload(g('pi'), 0), ...i32const(3), 0x74]));
  f.set('av', i32add(g('zr'), [...iload(g('pi'), 4), ...i32const(3), 0x74]));
  f.set('ar', fload(g('au')));
  f.set('ai', fload(i32add(g('au'), g('zd'))));
  f.set('br', fload(g('av')));
  f.set('bi', fload(i32add(g('av'), g('zd'))));
  f.set('p', fload(g('pc'), 0));
  f.set('pj', fload(g('pc'), 8));
  f.set('q', fload(g('pc'), 16));
  f.set('qj', fload(g('pc'), 24));
  // yr = p ar - pj ai + q br + qj bi; yi = p ai + pj ar + qj br - q bi (left to right)
  f.emit(...fstore(g('py'), fadd(fadd(fsub(fmul(g('p'), g('ar')), fmul(g('pj'), g('ai'))), fmul(g('q'), g('br'))), fmul(g('qj'), g('bi')))));
  f.emit(...fstore(i32add(g('py'), g('yd')), fsub(fadd(fadd(fmul(g('p'), g('ai')), fmul(g('pj'), g('ar'))), fmul(g('qj'), g('br'))), fmul(g('q'), g('bi')))));
  f.set('pi', i32add(g('pi'), i32const(8)));
  f.set('pc', i32add(g('pc'), i32const(32)));
  f.set('py', i32add(g('py'), i32const(8)));
  f.emit(...g('py'), ...g('end'), 0x49, 0x0d, 0x00);
  f.emit(0x0b);
  return f;
}

/**
 * Energy prefix sums of the receiver (receive.ts hop()): over Float32 samples at x, block = the sum of
 * the next g squares, acc += block, cum[i + 1] = acc, for count blocks (cum[0] = 0).
 */
function energy(): Body {
  const f = new Body(['x', 'cum', 'count', 'g']);
  f.local(I32, 'px', 'pc', 'end', 'gend');
  f.local(F64, 'acc', 'v', 'block');
  const g = (n: string) => f.get(n);
  f.emit(...fstore(g('cum'), [0x44, 0, 0, 0, 0, 0, 0, 0, 0]));
  f.set('px', g('x'));
  f.set('pc', g('cum'));
  f.set('end', i32add(g('cum'), [...g('count'), ...i32const(3), 0x74]));
  f.emit(0x02, 0x40, ...g('count'), 0x45, 0x0d, 0x00); // block; if count == 0 skip
  f.emit(0x03, 0x40);
  f.set('gend', i32add(g('px'), [...g('g'), ...i32const(2), 0x74]));
  f.set('block', [0x44, 0, 0, 0, 0, 0, 0, 0, 0]);
  f.emit(0x03, 0x40);
  f.set('v', [...g('px'), 0x2a, 2, 0, 0xbb]);
  f.set('block', fadd(g('block'), fmul(g('v'), g('v'))));
  f.set('px', i32add(g('px'), i32const(4)));
  f.emit(...g('px'), ...g('gend'), 0x49, 0x0d, 0x00);
  f.emit(0x0b);
  f.set('acc', fadd(g('acc'), g('block')));
  f.set('pc', i32add(g('pc'), i32const(8)));
  f.emit(...fstore(g('pc'), g('acc')));
  f.emit(...g('pc'), ...g('end'), 0x49, 0x0d, 0x00);
  f.emit(0x0b, 0x0b);
  return f;
}

/**
 * The receiver's idle scan (receive.ts scan()): the first q in [q0, count) whose band-IFFT output reaches the
 * threshold, norm (yr[q]^2 + yi[q]^2) >= thr max(floor, cum[q dq + dl] - cum[q dq]), or count if none.
 */
function scanFast(): Body {
  const f = new Body(['yr', 'yi', 'cum', 'q0', 'count', 'dq', 'dl', 'norm:f64', 'thr:f64', 'floor:f64'], [I32]);
  f.local(I32, 'q', 'pr', 'pd', 'pc', 'pl', 'step');
  f.local(F64, 'a', 'b', 'e');
  const g = (n: string) => f.get(n);
  f.set('q', g('q0'));
  f.set('pr', i32add(g('yr'), [...g('q0'), ...i32const(3), 0x74]));
  f.set('pd', [...g('yi'), ...g('yr'), 0x6b]);
  f.set('step', [...g('dq'), ...i32const(3), 0x74]);
  f.set('pc', i32add(g('cum'), [...g('q0'), ...g('step'), 0x6c]));
  f.set('pl', [...g('dl'), ...i32const(3), 0x74]);
  f.emit(0x02, 0x40, 0x03, 0x40); // block, loop
  f.emit(...g('q'), ...g('count'), 0x4f, 0x0d, 0x01); // q >= count: exit
  f.set('e', fsub(fload(i32add(g('pc'), g('pl'))), fload(g('pc'))));
  f.set('a', fload(g('pr')));
  f.set('b', fload(i32add(g('pr'), g('pd'))));
  // norm * (a a + b b) >= thr * (e > floor ? e : floor): exit
  f.emit(...fmul(g('norm'), fadd(fmul(g('a'), g('a')), fmul(g('b'), g('b')))));
  f.emit(...fmul(g('thr'), [...g('e'), ...g('floor'), ...g('e'), ...g('floor'), 0x64, 0x1b]));
  f.emit(0x66, 0x0d, 0x01);
  f.set('q', i32add(g('q'), i32const(1)));
  f.set('pr', i32add(g('pr'), i32const(8)));
  f.set('pc', i32add(g('pc'), g('step')));
  f.emit(0x0c, 0x00, 0x0b, 0x0b); // br loop; end loop; end block
  f.emit(...g('q'));
  return f;
}

/** Exported kernels: name and body. */
function kernels(): [string, Body][] {
  return [
    ['dif', stage('dif')], ['dit', stage('dit')], ['pack', stage('pack')], ['dif1', trivialStage('dif1')], ['dit1', trivialStage('dit1')],
    ['r2', trivialStage('r2')], ['gather', gather()], ['energy', energy()], ['scanFast', scanFast()],
  ];
}

/** The module's bytes (exported for a test: it must stay under 4 kB, see simdKernels()). */
export function moduleBytes(): Uint8Array<ArrayBuffer> {
  const ks = kernels();
  const sigs = [...new Set(ks.map(([, b]) => b.type.join(',')))];
  const types = sigs.map((t) => t.split(',').map(Number));
  const bytes = [
    0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00,
    ...section(1, vec(types)),
    // import "m" "memory" (memory, min 1 page)
    ...section(2, vec([[...name('m'), ...name('memory'), 0x02, 0x00, ...uleb(1)]])),
    ...section(3, vec(ks.map(([, b]) => uleb(sigs.indexOf(b.type.join(',')))))),
    ...section(7, vec(ks.map(([n], i) => [...name(n), 0x00, ...uleb(i)]))),
    ...section(10, vec(ks.map(([, b]) => b.encode()))),
  ];
  return new Uint8Array(bytes);
}

let cached: SimdKernels | null | undefined;

/** The compiled kernels, or null where WebAssembly SIMD is unavailable. */
export function simdKernels(): SimdKernels | null {
  if (cached !== undefined) return cached;
  cached = null;
  try {
    const WA = (globalThis as { WebAssembly?: typeof WebAssembly }).WebAssembly;
    if (WA) {
      // Synchronous compilation: Chromium allows it on the main thread only for modules up to 4 kB, so the
      // module must stay below that (a test checks); elsewhere (workers, AudioWorklet, Node) any size works.
      const mod = new WA.Module(moduleBytes());
      cached = {
        instantiate(memory) {
          const inst = new WA.Instance(mod, { m: { memory } });
          const e = inst.exports as Record<string, (...a: number[]) => number>;
          return { energy: e.energy!, scanFast: e.scanFast!, dif: e.dif!, dit: e.dit!, pack: e.pack!, dif1: e.dif1!, dit1: e.dit1!, r2: e.r2!, gather: e.gather! };
        },
      };
    }
  } catch {
    cached = null;
  }
  return cached;
}
