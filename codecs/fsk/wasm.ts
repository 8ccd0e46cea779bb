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

  constructor(params: string[]) {
    params.forEach((p, i) => this.index.set(p, i));
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
function stage(kind: 'dif' | 'dit'): Body {
  const f = new Body(['re', 'im', 'len', 'sm', 'tw']);
  f.local(I32, 'delta', 'base', 'end', 'p', 'kend', 't', 'p1', 'p2', 'p3');
  f.local(V128, 'w1r', 'w1i', 'w2r', 'w2i', 'w3r', 'w3i', 'x0r', 'x0i', 'x1r', 'x1i', 'x2r', 'x2i', 'x3r', 'x3i');
  f.local(V128, 'ar', 'ai', 'br', 'bi', 'cr', 'ci', 'dr', 'di', 'yr', 'yi');
  const g = (n: string) => f.get(n);
  const im = (n: string) => i32add(g(n), g('delta'));
  f.set('delta', [...g('im'), ...g('re'), 0x6b]);
  f.set('base', g('re'));
  f.set('end', i32add(g('re'), g('len')));
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
  if (kind === 'dif') {
    f.set('x0r', load(g('p')));
    f.set('x0i', load(im('p')));
    f.set('x1r', load(g('p1')));
    f.set('x1i', load(im('p1')));
    f.set('x2r', load(g('p2')));
    f.set('x2i', load(im('p2')));
    f.set('x3r', load(g('p3')));
    f.set('x3i', load(im('p3')));
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

function moduleBytes(): Uint8Array<ArrayBuffer> {
  const type = [0x60, ...vec([[I32], [I32], [I32], [I32], [I32]]), ...vec([])];
  const bytes = [
    0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00,
    ...section(1, vec([type])),
    // import "m" "memory" (memory, min 1 page)
    ...section(2, vec([[...name('m'), ...name('memory'), 0x02, 0x00, ...uleb(1)]])),
    ...section(3, vec([[0x00], [0x00]])),
    ...section(7, vec([[...name('dif'), 0x00, 0x00], [...name('dit'), 0x00, 0x01]])),
    ...section(10, vec([stage('dif').encode(), stage('dit').encode()])),
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
      // Synchronous compilation: the module is about 1 kB, well under browsers' main-thread limit.
      const mod = new WA.Module(moduleBytes());
      cached = {
        instantiate(memory) {
          const inst = new WA.Instance(mod, { m: { memory } });
          const e = inst.exports as Record<string, (...a: number[]) => void>;
          return { dif: e.dif!, dit: e.dit! };
        },
      };
    }
  } catch {
    cached = null;
  }
  return cached;
}
