/**
 * The QR/barcode engine: zxing-wasm (zxing-cpp compiled to WebAssembly), loaded only from bytes the
 * caller supplies, never from a CDN.
 *
 * zxing-wasm's default `locateFile` points at fastly.jsdelivr.net; offline, that aborts. Here the wasm
 * comes from the installed package (Node: codecs/qr/node.ts reads it with fs) or from a URL the page
 * serves itself (spec/qr.md §7), and its SHA-256 is checked against a pinned constant before it is
 * instantiated (`qr.wasm_checksum` on mismatch). This module has no `node:` imports.
 */
import { prepareZXingModule, writeBarcode } from 'zxing-wasm/full';
import { sha256 } from '@noble/hashes/sha2.js';
import { OffpayError } from '../../base/errors.js';
import { equalBytes } from '../../base/bytes.js';
import { toHex } from '../../base/hex.js';
import { validateOptions, type OptionsSchema } from '../../base/options.js';
import { inspectImage, type ImageLimits } from './image.js';
import { checkFrame, frameLuma, type Frame } from './luma.js';
import { ZxingReader, zxingOptions, type ZxingModule, type ZxingOptions, type ZxingResult } from './zxing.js';
import { hasOffpayPrefix, hasOffpayPrefixOf, unwrap, wrap, type Envelope, type PayloadKind, type PayloadMode } from './payload.js';

/** zxing-wasm version whose wasm is pinned below (package.json pins the same version). */
export const ZXING_WASM_VERSION_PINNED = '3.1.4';
/** SHA-256 of node_modules/zxing-wasm/dist/full/zxing_full.wasm (zxing-wasm 3.1.4, zxing-cpp 0b2d9a8f). */
export const ZXING_WASM_SHA256_PINNED = '5721ed87da5d582b7a65a69ea4bed7852699e7c4a1cf5a77d6ef9376152d96a5';
/** The package subpath of the wasm file to serve or read. */
export const ZXING_WASM_SUBPATH = 'zxing-wasm/full/zxing_full.wasm';

/** A 2D symbology the codec writes and reads (spec/qr.md §3): QR (default), Aztec, PDF417, Data Matrix. */
export type Symbology = 'qr' | 'aztec' | 'pdf417' | 'datamatrix';
/** QR error-correction level: L (7 %), M (15 %, default), Q (25 %), H (30 %) of codewords recoverable. */
export type Ecc = 'L' | 'M' | 'Q' | 'H';
/** Every {@link Symbology}, in the order the reader tries them. */
export const SYMBOLOGIES: readonly Symbology[] = ['qr', 'aztec', 'pdf417', 'datamatrix'];
/** Every {@link Ecc} level, lowest first. */
export const ECC_LEVELS: readonly Ecc[] = ['L', 'M', 'Q', 'H'];

const ZX_FORMAT = { qr: 'QRCode', aztec: 'Aztec', pdf417: 'PDF417', datamatrix: 'DataMatrix' } as const;
/** zxing's format names for symbologies (after checking each is known: `qr.bad_option`). */
export function zxingFormats(symbologies: readonly Symbology[]): string[] {
  for (const s of symbologies) if (!SYMBOLOGIES.includes(s)) throw new OffpayError('qr.bad_option', `unknown symbology ${String(s)}`);
  return symbologies.map((s) => ZX_FORMAT[s]);
}
const FROM_ZX: Record<string, Symbology> = { QRCode: 'qr', Aztec: 'aztec', PDF417: 'pdf417', DataMatrix: 'datamatrix' };
/**
 * The ECC option per symbology. QR: the four ISO/IEC 18004 levels. Aztec: minimum share of error
 * correction codewords. PDF417: error correction level 2..6. DataMatrix: ECC 200 is fixed (ignored).
 */
const ECC_OPTION: Record<Symbology, Record<Ecc, string | undefined>> = {
  qr: { L: 'L', M: 'M', Q: 'Q', H: 'H' },
  aztec: { L: '10%', M: '23%', Q: '36%', H: '50%' },
  pdf417: { L: '2', M: '4', Q: '5', H: '6' },
  datamatrix: { L: undefined, M: undefined, Q: undefined, H: undefined },
};

/** Where the wasm comes from: its bytes, or a URL the page serves itself (fetched with `fetch`). */
export type WasmSource =
  | Uint8Array
  | ArrayBuffer
  | {
      /** Where to fetch the zxing wasm (checked against the pinned SHA-256 once fetched). */
      url: string | URL;
    };

/** Options of {@link loadQrEngine}. */
export interface LoadOptions {
  /** Expected SHA-256 (hex) of the wasm; defaults to the pinned constant. */
  sha256?: string;
}

let loaded: Promise<void> | undefined;
let loadedHash: string | undefined;
let reader: ZxingReader | undefined;

/**
 * Verifies and instantiates the zxing wasm. Idempotent for the same bytes; loading different bytes
 * replaces the module. Errors: `qr.wasm_unavailable` (fetch failed), `qr.wasm_checksum` (hash mismatch),
 * `qr.wasm_failed` (instantiation failed).
 */
export async function loadQrEngine(source: WasmSource, options: LoadOptions = {}): Promise<void> {
  let bytes: Uint8Array;
  if (source instanceof Uint8Array) bytes = source;
  else if (source instanceof ArrayBuffer) bytes = new Uint8Array(source);
  else {
    try {
      const res = await fetch(source.url);
      if (!res.ok) throw new Error(`HTTP ${res.status}`);
      bytes = new Uint8Array(await res.arrayBuffer());
    } catch (e) {
      throw new OffpayError('qr.wasm_unavailable', `cannot fetch the zxing wasm from ${String(source.url)}: ${(e as Error).message}`);
    }
  }
  const expected = (options.sha256 ?? ZXING_WASM_SHA256_PINNED).toLowerCase();
  const actual = toHex(sha256(bytes));
  if (actual !== expected) {
    throw new OffpayError('qr.wasm_checksum', `zxing wasm SHA-256 ${actual} does not match the pinned ${expected}`, {
      expected,
      actual,
    });
  }
  if (loaded && loadedHash === actual) return loaded;
  // A private copy: the emscripten loader may detach the buffer it is given.
  const copy = bytes.slice().buffer;
  loadedHash = actual;
  reader = undefined;
  loaded = (async () => {
    try {
      const mod = await prepareZXingModule({
        // wasmBinary: no fetch at all. locateFile: never a CDN URL, even if the loader asked for one.
        overrides: { wasmBinary: copy, locateFile: (path: string) => path },
        fireImmediately: true,
      });
      reader = new ZxingReader(mod as unknown as ZxingModule);
    } catch (e) {
      loaded = undefined;
      loadedHash = undefined;
      throw new OffpayError('qr.wasm_failed', `cannot instantiate the zxing wasm: ${(e as Error).message}`);
    }
  })();
  return loaded;
}

/** True once {@link loadQrEngine} has been called (the load may still be in progress). */
export function isQrEngineLoaded(): boolean {
  return loaded !== undefined;
}

const NOT_LOADED = 'call loadQrEngine(wasmBytes) first (Node: loadQrEngineNode() from offpay/qr/node); the wasm is never fetched from a CDN';

async function ready(): Promise<void> {
  if (!loaded) throw new OffpayError('qr.engine_not_loaded', NOT_LOADED);
  await loaded;
}

/**
 * The reader binding of the loaded module, synchronously (for the camera scanner, which is created after
 * `await loadQrEngine(...)`). `qr.engine_not_loaded` before the load has completed.
 */
export function qrReader(): ZxingReader {
  if (!reader) throw new OffpayError('qr.engine_not_loaded', NOT_LOADED);
  return reader;
}

// ---------------------------------------------------------------------------------------------- writer

/** Options of {@link encodeCode}. */
export interface QrEncodeOptions {
  /** What the payload is: `token` (default) or `request`; sets the prefix letter. */
  kind?: PayloadKind;
  /** `base45` (default: alphanumeric mode) or `binary` (byte mode); spec/qr.md §2. */
  mode?: PayloadMode;
  /** Error-correction level (default M). */
  ecc?: Ecc;
  /** The symbology (default `qr`). */
  symbology?: Symbology;
  /** Pixels per module in the PNG (default 4). */
  scale?: number;
  /** Quiet zone in modules for the terminal rendering (default 4; the PNG/SVG use the symbology's own). */
  quietZone?: number;
}

/** The image bounds of {@link ImageLimits} as schema fields (shared by the decode and scanner options). */
export const IMAGE_LIMITS_SCHEMA: OptionsSchema = {
  maxSide: { type: 'integer', min: 1, max: 1 << 20, unit: 'pixels' },
  maxPixels: { type: 'integer', min: 1, max: 2 ** 40, unit: 'pixels' },
};

/** The schema of {@link QrEncodeOptions}, validated by {@link encodeCode} and {@link renderContent} (`qr.bad_option` naming the option). */
export const QR_ENCODE_OPTIONS_SCHEMA: OptionsSchema = {
  kind: { type: 'enum', values: ['token', 'request'] },
  mode: { type: 'enum', values: ['base45', 'binary'] },
  ecc: { type: 'enum', values: ECC_LEVELS },
  symbology: { type: 'enum', values: SYMBOLOGIES },
  scale: { type: 'integer', min: 1, max: 64, unit: 'pixels per module' },
  quietZone: { type: 'integer', min: 0, max: 64, unit: 'modules' },
};

/** @deprecated Renamed {@link QrEncodeOptions} in 0.2.0 (`offpay/fsk` has its own encode options); this alias goes in the next release. */
export type EncodeOptions = QrEncodeOptions;

/** The modules of a rendered symbol, without quiet zone. */
export interface ModuleMatrix {
  /** Width in modules. */
  width: number;
  /** Height in modules. */
  height: number;
  /** Row-major, 1 = dark module, 0 = light; quiet zone excluded. */
  modules: Uint8Array;
}

/** A rendered code ({@link encodeCode}): what it carries and its module matrix, PNG, SVG and terminal renderings. */
export interface EncodedCode {
  /** The symbology used. */
  symbology: Symbology;
  /** The error-correction level used. */
  ecc: Ecc;
  /** The payload mode used. */
  mode: PayloadMode;
  /** What the symbol carries: the text form (base45 mode) or the prefixed bytes (binary mode). */
  content: Uint8Array;
  /** QR version 1..40 (QR only). */
  qrVersion: number | undefined;
  /** The module matrix. */
  matrix: ModuleMatrix;
  /** A PNG file of the code (with quiet zone), `scale` pixels per module. */
  png: Uint8Array;
  /** An SVG document of the code. */
  svg: string;
  /** UTF-8 half-block rendering, light modules drawn as blocks (for dark terminals), quiet zone included. */
  terminal: string;
}

/**
 * Wraps a payload (token or request bytes) with the offpay prefix and renders it as a code (spec/qr.md §2-3).
 * Needs {@link loadQrEngine} first (`qr.engine_not_loaded`); a bad option is `qr.bad_option`, a payload over
 * `MAX_PAYLOAD_BYTES` `qr.too_large`.
 *
 * @example
 * ```ts
 * import { loadQrEngine, encodeCode, decodeCode } from 'offpay/qr';
 * await loadQrEngine(wasmBytes);                  // Node: loadQrEngineNode() from offpay/qr/node
 * const code = await encodeCode(requestBytes, { kind: 'request' });   // code.png, code.svg, code.terminal
 * const read = await decodeCode(code.png, { expect: 'request' });     // read.payload equals requestBytes
 * ```
 */
export async function encodeCode(payload: Uint8Array, options: QrEncodeOptions = {}): Promise<EncodedCode> {
  validateOptions<QrEncodeOptions>('encodeCode options', options, QR_ENCODE_OPTIONS_SCHEMA, 'qr.bad_option');
  const kind = options.kind ?? 'token';
  const mode = options.mode ?? 'base45';
  const content = wrap(kind, payload, mode);
  return renderContent(content, options);
}

/** Renders already-formed symbol content (any bytes or text) as a code; used for foreign-code fixtures. */
export async function renderContent(content: Uint8Array | string, options: QrEncodeOptions = {}): Promise<EncodedCode> {
  validateOptions<QrEncodeOptions>('renderContent options', options, QR_ENCODE_OPTIONS_SCHEMA, 'qr.bad_option');
  await ready();
  const symbology = options.symbology ?? 'qr';
  const ecc = options.ecc ?? 'M';
  const mode = options.mode ?? 'base45';
  const scale = options.scale ?? 4;
  const opts: string[] = [];
  const eccOpt = ECC_OPTION[symbology][ecc];
  if (eccOpt) opts.push(`ecLevel=${eccOpt}`);
  let input: string | Uint8Array;
  if (typeof content === 'string') input = content;
  else if (mode === 'base45') input = String.fromCharCode(...content); // ASCII: the text form
  else {
    input = content;
    opts.push('eci=0'); // no ECI 899 header: the reader gets the raw bytes, qrencode -8 makes the same symbol
  }
  const w = await writeBarcode(input, { format: ZX_FORMAT[symbology], options: opts.join(','), scale });
  if (w.error || !w.image) {
    const tooBig = /too (big|large|long)|capacity|exceed|not fit|too much/i.test(w.error);
    throw new OffpayError(tooBig ? 'qr.too_large' : 'qr.write_failed', `cannot write ${symbology}: ${w.error || 'no image'}`);
  }
  const { width, height, data } = w.symbol;
  const modules = new Uint8Array(width * height);
  for (let i = 0; i < modules.length; i++) modules[i] = data[i]! < 128 ? 1 : 0;
  const matrix = { width, height, modules };
  return {
    symbology,
    ecc,
    mode,
    content: typeof content === 'string' ? new TextEncoder().encode(content) : content,
    qrVersion: symbology === 'qr' ? (width - 17) / 4 : undefined,
    matrix,
    png: new Uint8Array(await w.image.arrayBuffer()),
    svg: w.svg,
    terminal: renderTerminal(matrix, options.quietZone ?? 4),
  };
}

/**
 * Two module rows per text line with the upper/lower half blocks. Light modules are drawn (the
 * convention of `qrencode -t UTF8`), so the code reads on a dark terminal background.
 */
export function renderTerminal(m: ModuleMatrix, quietZone = 4, invert = false): string {
  const q = Math.max(0, Math.floor(quietZone));
  const W = m.width + 2 * q;
  const H = m.height + 2 * q;
  const light = (x: number, y: number): boolean => {
    const mx = x - q;
    const my = y - q;
    const dark = mx >= 0 && my >= 0 && mx < m.width && my < m.height && m.modules[my * m.width + mx] === 1;
    return invert ? dark : !dark;
  };
  const lines: string[] = [];
  for (let y = 0; y < H; y += 2) {
    let line = '';
    for (let x = 0; x < W; x++) {
      const top = light(x, y);
      const bottom = y + 1 < H ? light(x, y + 1) : false;
      line += top && bottom ? '\u2588' : top ? '\u2580' : bottom ? '\u2584' : ' ';
    }
    lines.push(line);
  }
  return lines.join('\n') + '\n';
}

// ---------------------------------------------------------------------------------------------- reader

export type { Frame } from './luma.js';

/** Options of {@link decodeCode} and `readCodeFile` (`offpay/qr/node`), with the image bounds of {@link ImageLimits}. */
export interface DecodeOptions extends ImageLimits {
  /** Only accept this kind (`qr.wrong_kind` otherwise); also preferred when several offpay codes are in view. */
  expect?: PayloadKind;
  /** Symbologies to look for (default all four). Fewer is faster. */
  symbologies?: Symbology[];
  /** zxing's tryHarder/tryRotate/tryInvert/tryDownscale (default true). */
  tryHarder?: boolean;
}

/** The schema of {@link DecodeOptions}, validated by {@link decodeCode} and {@link scanSymbols} (`qr.bad_option` naming the option). */
export const DECODE_OPTIONS_SCHEMA: OptionsSchema = {
  ...IMAGE_LIMITS_SCHEMA,
  expect: { type: 'enum', values: ['token', 'request'] },
  symbologies: { type: 'array', items: { type: 'enum', values: SYMBOLOGIES }, minLength: 1, maxLength: 16 },
  tryHarder: { type: 'boolean' },
};

/**
 * An offpay code read from an image: the unwrapped {@link Envelope} plus the symbol's symbology, ECC, version,
 * corner positions (image pixels) and how many symbols were in view.
 */
export interface DecodedCode extends Envelope {
  /** The symbology read. */
  symbology: Symbology;
  /** As zxing reports it: L/M/Q/H for QR, a percentage for Aztec/PDF417, '' for DataMatrix. */
  ecc: string;
  /** Symbol version/size as zxing reports it ('10' for QR v10, '64x64' for DataMatrix). */
  symbolVersion: string;
  /** Corner points in image pixels. */
  position: {
    /** The symbol's top-left corner, image pixels. */
    topLeft: Point;
    /** The symbol's top-right corner, image pixels. */
    topRight: Point;
    /** The symbol's bottom-right corner, image pixels. */
    bottomRight: Point;
    /** The symbol's bottom-left corner, image pixels. */
    bottomLeft: Point;
  };
  /** How many symbols were seen in the image (valid or not). */
  symbolsInView: number;
}
/** A point in image pixels. */
export interface Point {
  /** Column, pixels from the left. */
  x: number;
  /** Row, pixels from the top. */
  y: number;
}

/** One symbol as zxing found it, before offpay parsing. */
export interface RawSymbol {
  /** True when zxing decoded the symbol (error correction succeeded). */
  valid: boolean;
  /** zxing's error text for an invalid symbol ('' when valid). */
  error: string;
  /** The symbology, when it is one offpay knows. */
  symbology: Symbology | undefined;
  /** The symbol's content bytes. */
  bytes: Uint8Array;
  /** Error-correction level as zxing reports it. */
  ecc: string;
  /** Symbol version or size as zxing reports it. */
  symbolVersion: string;
  /** Corner points in image pixels. */
  position: DecodedCode['position'];
}

/** The zxing options of `decodeCode`/`scanSymbols`: try-harder passes on unless `tryHarder: false`. */
export function decodeReaderOptions(o: DecodeOptions): ZxingOptions {
  return zxingOptions({ formats: zxingFormats(o.symbologies ?? SYMBOLOGIES), tryHarder: o.tryHarder ?? true, maxNumberOfSymbols: 8 });
}

/** zxing's results as offpay's raw symbols; results of other formats are dropped. */
export function toRawSymbols(results: ZxingResult[]): RawSymbol[] {
  const out: RawSymbol[] = [];
  for (const r of results) {
    const symbology = FROM_ZX[r.format];
    if (symbology === undefined) continue;
    const p = r.position;
    out.push({
      valid: r.isValid,
      error: r.error,
      symbology,
      bytes: r.bytes,
      ecc: r.ecLevel,
      symbolVersion: r.version,
      position: {
        topLeft: { x: p.topLeft.x, y: p.topLeft.y },
        topRight: { x: p.topRight.x, y: p.topRight.y },
        bottomRight: { x: p.bottomRight.x, y: p.bottomRight.y },
        bottomLeft: { x: p.bottomLeft.x, y: p.bottomLeft.y },
      },
    });
  }
  return out;
}

/**
 * Every symbol zxing finds in a PNG/JPEG file or a frame, valid or not, without offpay parsing.
 * Image errors are typed (see image.ts); the image is validated and size-capped before decoding.
 */
export async function scanSymbols(image: Uint8Array | Frame, options: DecodeOptions = {}): Promise<RawSymbol[]> {
  validateOptions<DecodeOptions>('scanSymbols options', options, DECODE_OPTIONS_SCHEMA, 'qr.bad_option');
  await ready();
  const zx = qrReader();
  const ro = decodeReaderOptions(options);
  let results: ZxingResult[];
  if (image instanceof Uint8Array) {
    inspectImage(image, options);
    results = zx.readEncoded(image, ro);
    if (results.length === 1 && !results[0]!.isValid && results[0]!.format === 'None' && /load image/i.test(results[0]!.error)) {
      throw new OffpayError('qr.bad_image', `the image could not be decoded: ${results[0]!.error}`);
    }
  } else {
    checkFrame(image, options);
    // Luma straight into the wasm buffer: no RGBA expansion of gray frames, no intermediate copy.
    const n = image.width * image.height;
    const buf = zx.buffer(n);
    if (image.format === 'gray') buf.set(image.data);
    else frameLuma(image, buf);
    results = zx.readLuma(image.width, image.height, ro);
  }
  return toRawSymbols(results);
}

/**
 * Reads the offpay code in an image or frame. With several symbols in view, the first valid one with an
 * offpay prefix (of the expected kind, if given) wins. Errors: `qr.no_code` (no symbol), `qr.damaged`
 * (a symbol was found but error correction failed, and no offpay code read), `qr.foreign_code` (only
 * non-offpay codes, none damaged), the
 * parse errors of `unwrap`, and the image errors of `inspectImage`.
 */
export async function decodeCode(image: Uint8Array | Frame, options: DecodeOptions = {}): Promise<DecodedCode> {
  validateOptions<DecodeOptions>('decodeCode options', options, DECODE_OPTIONS_SCHEMA, 'qr.bad_option');
  const symbols = await scanSymbols(image, options);
  return pickOffpay(symbols, options.expect);
}

/** The selection rule of `decodeCode`, on symbols already scanned. */
export function pickOffpay(symbols: RawSymbol[], expect?: PayloadKind): DecodedCode {
  const valid = symbols.filter((s) => s.valid);
  const ours = valid.filter((s) => hasOffpayPrefix(s.bytes));
  const preferred = expect ? [...ours.filter((s) => hasOffpayPrefixOf(s.bytes, expect)), ...ours] : ours;
  let firstError: unknown;
  let picked: { s: RawSymbol; env: Envelope } | undefined;
  for (const s of preferred) {
    let env: Envelope;
    try {
      env = unwrap(s.bytes, expect);
    } catch (e) {
      firstError ??= e;
      continue;
    }
    if (!picked) picked = { s, env };
    else if (env.kind === picked.env.kind && !equalBytes(env.payload, picked.env.payload)) {
      // Two offpay codes of one kind that say different things: which one the customer means is not the camera's
      // to guess. A sticker with another merchant's genuine request beside the machine's own was paid when it came
      // first in zxing's order (wallet attack review, 2026-12-07). The same code twice is one code.
      throw new OffpayError('qr.ambiguous', `${picked.env.kind === 'request' ? 'two different payment requests' : 'two different tokens'} are in view: show one code at a time`, { kind: picked.env.kind, symbols: symbols.length });
    }
  }
  if (picked) return finish(picked.s, picked.env, symbols.length);
  if (firstError) throw firstError;
  const damaged = symbols.filter((s) => !s.valid);
  if (valid.length && damaged.length) {
    // Only foreign codes read, but another symbol in view failed error correction: that one is most
    // likely the code being presented, so report it as damaged rather than foreign.
    throw new OffpayError('qr.damaged', `a ${damaged[0]!.symbology ?? 'barcode'} symbol was found but cannot be read (${valid.length} other code(s) are not offpay codes): ${damaged[0]!.error}`, {
      error: damaged[0]!.error,
      foreign: valid.length,
    });
  }
  if (valid.length) {
    // No offpay header among the valid symbols: unwrap the first to get the precise error.
    const s = valid[0]!;
    return finish(s, unwrap(s.bytes, expect), symbols.length);
  }
  if (symbols.length) {
    throw new OffpayError('qr.damaged', `a ${symbols[0]!.symbology ?? 'barcode'} symbol was found but cannot be read: ${symbols[0]!.error}`, {
      error: symbols[0]!.error,
    });
  }
  throw new OffpayError('qr.no_code', 'no barcode found in the image');
}

function finish(s: RawSymbol, env: Envelope, count: number): DecodedCode {
  return {
    ...env,
    symbology: s.symbology ?? 'qr',
    ecc: s.ecc,
    symbolVersion: s.symbolVersion,
    position: s.position,
    symbolsInView: count,
  };
}
