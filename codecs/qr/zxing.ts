/**
 * The binding to zxing-wasm's reader: calls the module's two reader entry points directly, owns one
 * reusable input buffer in the wasm heap, and frees every result vector it receives.
 *
 * Why not zxing-wasm's `readBarcodes`: in 3.1.4 (dist/es/share.js, the function behind `readBarcodes`)
 * the `ReadResults` vector returned by `readBarcodesFromPixmap` / `readBarcodesFromImage` is an embind
 * class handle that is never `.delete()`d. Each leaked vector keeps its results, and with them the
 * JavaScript typed arrays they refer to (bytes, bytesECI, the symbol bitmap), alive for good: measured
 * here, about 4.5 KB per decode (3.8 KB of ArrayBuffers, 0.6 KB of JS heap), not reclaimed by a forced
 * GC nor by yielding to the event loop (bench/results/qr-memory.md). The same happens with ImageData
 * (4.4 KB a decode) or with encoded image bytes as input: both paths share that function. zxing-wasm 3.1.8 adds the missing
 * `finally { vector.delete() }`; this binding does the same on the pinned 3.1.4, and stays correct on
 * later versions.
 *
 * It also removes two per-call copies: frames go in as 8-bit luma (zxing's pixmap entry point takes
 * luma; `readBarcodes` takes RGBA and converts it to luma in JavaScript), written straight into a wasm
 * buffer that is reused while it is large enough.
 *
 * Rules for callers (all within this file): the heap view `HEAPU8` is re-read after every call into the
 * module (a memory growth replaces it), and no `await` sits between filling the buffer and the read, so
 * concurrent callers on one thread cannot interleave.
 *
 * The module's entry points and option encoding are zxing-wasm internals, fixed here by the pinned version
 * and wasm SHA-256 (engine.ts); upgrading zxing-wasm means re-checking them (the tests do).
 */
import { OffpayError } from '../../base/errors.js';

/** One symbol as the wasm module returns it (zxing-wasm's `ZXingReadResult`, the fields used here). */
export interface ZxingResult {
  isValid: boolean;
  error: string;
  format: string;
  bytes: Uint8Array;
  ecLevel: string;
  version: string;
  position: {
    topLeft: { x: number; y: number };
    topRight: { x: number; y: number };
    bottomRight: { x: number; y: number };
    bottomLeft: { x: number; y: number };
  };
}

/** The embind `ReadResults` vector: a C++ object that must be deleted. */
export interface ZxingVector {
  size(): number;
  get(i: number): ZxingResult | undefined;
  delete(): void;
}

/** The options struct the wasm entry points take (enums as indexes). */
export interface ZxingOptions {
  formats: string;
  tryHarder: boolean;
  tryRotate: boolean;
  tryInvert: boolean;
  tryDownscale: boolean;
  tryDenoise: boolean;
  binarizer: number;
  isPure: boolean;
  downscaleThreshold: number;
  downscaleFactor: number;
  minLineCount: number;
  maxNumberOfSymbols: number;
  validateOptionalChecksum: boolean;
  returnErrors: boolean;
  eanAddOnSymbol: number;
  textMode: number;
  characterSet: number;
  tryCode39ExtendedMode: boolean;
}

/** What this binding needs of the emscripten module (zxing-wasm's `ZXingFullModule` has it). */
export interface ZxingModule {
  HEAPU8: Uint8Array;
  _malloc(n: number): number;
  _free(ptr: number): void;
  readBarcodesFromPixmap(ptr: number, width: number, height: number, options: ZxingOptions): unknown;
  readBarcodesFromImage(ptr: number, length: number, options: ZxingOptions): unknown;
}

export interface ReadPasses {
  /** Formats as zxing names them, e.g. ['QRCode']. */
  formats: readonly string[];
  /** zxing's tryHarder, tryRotate, tryInvert and tryDownscale together. */
  tryHarder: boolean;
  maxNumberOfSymbols: number;
}

/**
 * The options struct: zxing-wasm 3.1.4's defaults (binarizer LocalAverage = 0, eanAddOnSymbol Ignore = 0,
 * characterSet Unknown = 0, downscale factor 3 above 500 px), text mode Plain (= 0), errors returned.
 */
export function zxingOptions(p: ReadPasses): ZxingOptions {
  return {
    formats: p.formats.join(','),
    tryHarder: p.tryHarder,
    tryRotate: p.tryHarder,
    tryInvert: p.tryHarder,
    tryDownscale: p.tryHarder,
    tryDenoise: false,
    binarizer: 0,
    isPure: false,
    downscaleThreshold: 500,
    downscaleFactor: 3,
    minLineCount: 2,
    maxNumberOfSymbols: p.maxNumberOfSymbols,
    validateOptionalChecksum: false,
    returnErrors: true,
    eanAddOnSymbol: 0,
    textMode: 0,
    characterSet: 0,
    tryCode39ExtendedMode: true,
  };
}

/**
 * Copies the results out of the vector and deletes it, whatever happens while copying. Exported for the
 * test that checks every vector is deleted.
 */
export function drainVector(v: unknown): ZxingResult[] {
  const vec = v as ZxingVector;
  try {
    const n = vec.size();
    const out: ZxingResult[] = [];
    for (let i = 0; i < n; i++) {
      const r = vec.get(i);
      if (r) out.push(r);
    }
    return out;
  } finally {
    vec.delete();
  }
}

/** The reader over one instantiated module, with its reusable input buffer. */
export class ZxingReader {
  readonly #mod: ZxingModule;
  #ptr = 0;
  #cap = 0;
  /** Calls into the module's reader so far (each returned vector was deleted); for tests and benchmarks. */
  reads = 0;

  constructor(mod: ZxingModule) {
    this.#mod = mod;
  }

  /** Capacity of the reusable wasm buffer, in bytes (it only grows: wasm memory never shrinks anyway). */
  get bufferBytes(): number {
    return this.#cap;
  }

  /** Size of the module's whole wasm memory, in bytes (it grows in 64 KiB pages and never shrinks). */
  get wasmMemoryBytes(): number {
    return this.#mod.HEAPU8.length;
  }

  /**
   * A view of `n` bytes of the reusable wasm buffer, to fill and then read with `readLuma` before any
   * other call into the module (the view is invalid after a memory growth).
   */
  buffer(n: number): Uint8Array {
    if (n > this.#cap) {
      if (this.#ptr) this.#mod._free(this.#ptr);
      this.#ptr = 0;
      this.#cap = 0;
      const ptr = this.#mod._malloc(n);
      if (!ptr) throw new OffpayError('qr.bad_image', `cannot allocate ${n} bytes in the zxing wasm memory`, { bytes: n });
      this.#ptr = ptr;
      this.#cap = n;
    }
    return this.#mod.HEAPU8.subarray(this.#ptr, this.#ptr + n);
  }

  /** Reads the `width` x `height` 8-bit luma image just written into `buffer(width * height)`. */
  readLuma(width: number, height: number, options: ZxingOptions): ZxingResult[] {
    if (width * height > this.#cap) throw new OffpayError('qr.bad_image', 'luma image larger than the buffer written');
    const v = this.#mod.readBarcodesFromPixmap(this.#ptr, width, height, options);
    this.reads++;
    return drainVector(v);
  }

  /** Reads an encoded image (PNG/JPEG bytes, already inspected by image.ts). */
  readEncoded(bytes: Uint8Array, options: ZxingOptions): ZxingResult[] {
    this.buffer(bytes.length).set(bytes);
    const v = this.#mod.readBarcodesFromImage(this.#ptr, bytes.length, options);
    this.reads++;
    return drainVector(v);
  }
}
