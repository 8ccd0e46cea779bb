/**
 * The camera scanner: one block that takes frames one at a time and returns, for each, the symbols it
 * read, as a value. Two passes (spec/qr.md §14):
 *
 * 1. Cheap pass, every frame: the frame's luma, box-downscaled 2:1 (when its short side is at least
 *    `downscaleMinSide` pixels), read by zxing with try-harder, rotation, inversion and zxing's own
 *    downscale pyramid all off. A valid symbol here is the frame's result.
 * 2. Thorough pass, only with evidence of a code: when the cheap pass located a symbol it could not
 *    decode, or when the finder-pattern detector (finder.ts) sees at least `minFinders` QR finder
 *    patterns in the full-resolution luma. Full resolution, zxing's try-harder passes on.
 *
 * Frames without evidence cost one cheap pass and one finder scan. The scanner knows nothing of tokens:
 * `pickOffpay` (engine.ts) applies offpay's selection to the symbols. No Node imports: it runs in a
 * browser Worker given ImageData-like frames. It is synchronous: create it after `await loadQrEngine()`.
 */
import { equalBytes } from '../../base/bytes.js';
import { validateOptions, type OptionsSchema } from '../../base/options.js';
import { IMAGE_LIMITS_SCHEMA, qrReader, SYMBOLOGIES, toRawSymbols, zxingFormats, type RawSymbol, type Symbology } from './engine.js';
import { FINDER_OPTIONS_SCHEMA, FinderScanner, type FinderOptions } from './finder.js';
import type { ImageLimits } from './image.js';
import { checkFrame, downscale2, frameLuma, type Frame } from './luma.js';
import { zxingOptions, type ZxingOptions, type ZxingReader } from './zxing.js';

export interface ScannerOptions extends ImageLimits {
  /** Symbologies to read (default ['qr']). The finder evidence is QR-specific; others rely on the cheap pass. */
  symbologies?: Symbology[];
  /** Downscale 2:1 for the cheap pass when the frame's shorter side is at least this (default 360; 0 = always, Infinity = never). */
  downscaleMinSide?: number;
  /** Finder patterns needed to run the thorough pass without a cheap-pass location (default 2, 1..3). */
  minFinders?: number;
  /** Finder detector settings (finder.ts). */
  finder?: FinderOptions;
  /** Largest number of symbols zxing returns per pass (default 4, 1..16). */
  maxSymbols?: number;
}

/** Why the thorough pass ran, or 'none' when it did not. */
export type ThoroughTrigger = 'none' | 'cheap_located' | 'finder';

/**
 * The result of {@link QrScanner.push} for one camera frame: whether a symbol was decoded, located or nothing
 * found, the symbols, which pass decided, and whether it repeats the previous code.
 */
export interface ScanResult {
  /** 'decoded': at least one valid symbol; 'located': symbols found, none decoded; 'none': nothing found. */
  status: 'decoded' | 'located' | 'none';
  /** The symbols of the deciding pass, positions in frame pixels. */
  symbols: RawSymbol[];
  /** Which pass produced `symbols`. */
  pass: 'cheap' | 'thorough';
  /** Why the thorough pass ran (`none` if it did not). */
  thorough: ThoroughTrigger;
  /** Finder patterns seen (only computed when the cheap pass located nothing; -1 otherwise). */
  finders: number;
  /** Frame number since creation or the last reset, from 0. */
  frame: number;
  /** The first valid symbol's bytes equal those of the previous decoded frame (the same code held in view). */
  repeat: boolean;
}

/** Counters of a {@link QrScanner}: frames, passes run, decodes per pass, and what triggered thorough passes. */
export interface ScannerStats {
  /** Frames pushed. */
  frames: number;
  /** Cheap passes run. */
  cheapPasses: number;
  /** Thorough passes run. */
  thoroughPasses: number;
  /** Frames decoded by the cheap pass. */
  decodedCheap: number;
  /** Frames decoded by the thorough pass. */
  decodedThorough: number;
  /** Thorough passes run because the cheap pass located a symbol. */
  triggeredByCheap: number;
  /** Thorough passes run because QR finder patterns were seen. */
  triggeredByFinder: number;
}

/**
 * A camera-frame scanner ({@link createQrScanner}): a cheap pass on every frame, and a thorough pass only when
 * the cheap pass located a symbol or QR finder patterns are seen. Results are values; bad frames throw
 * `qr.bad_image` / `qr.image_too_large`.
 *
 * @example
 * ```ts
 * import { loadQrEngine, createQrScanner, unwrap } from 'offpay/qr';
 * await loadQrEngine(wasmBytes);
 * const scanner = createQrScanner();
 * const r = scanner.push({ data: img.data, width: img.width, height: img.height, format: 'rgba' });  // a canvas ImageData
 * if (r.status === 'decoded' && !r.repeat) handle(unwrap(r.symbols.find((s) => s.valid)!.bytes));
 * ```
 */
export interface QrScanner {
  /** Scan one frame (RGBA or grayscale pixels, row-major; see `Frame`). */
  push(frame: Frame): ScanResult;
  /** Forgets the frame count, statistics and the last code (buffers are kept). */
  reset(): void;
  /** Counters since creation or the last reset. */
  readonly stats: Readonly<ScannerStats>;
}

/** The schema of {@link ScannerOptions}, validated by {@link createQrScanner} (`qr.bad_option` naming the option; spec/qr.md §14). */
export const SCANNER_OPTIONS_SCHEMA: OptionsSchema = {
  ...IMAGE_LIMITS_SCHEMA,
  symbologies: { type: 'array', items: { type: 'enum', values: SYMBOLOGIES }, minLength: 1, maxLength: 16 },
  downscaleMinSide: { type: 'number', min: 0, allowInfinity: true, unit: 'pixels' },
  minFinders: { type: 'integer', min: 1, max: 3 },
  finder: { type: 'object' },
  maxSymbols: { type: 'integer', min: 1, max: 16 },
};

function validate(o: ScannerOptions): Required<Omit<ScannerOptions, keyof ImageLimits | 'finder'>> {
  validateOptions<ScannerOptions>('scanner options', o, SCANNER_OPTIONS_SCHEMA, 'qr.bad_option');
  validateOptions<FinderOptions>('scanner options.finder', o.finder, FINDER_OPTIONS_SCHEMA, 'qr.bad_option');
  return { symbologies: o.symbologies ?? ['qr'], downscaleMinSide: o.downscaleMinSide ?? 360, minFinders: o.minFinders ?? 2, maxSymbols: o.maxSymbols ?? 4 };
}

function scalePositions(symbols: RawSymbol[], k: number): RawSymbol[] {
  if (k === 1) return symbols;
  const s = (p: { x: number; y: number }) => ({ x: p.x * k, y: p.y * k });
  return symbols.map((r) => ({
    ...r,
    position: { topLeft: s(r.position.topLeft), topRight: s(r.position.topRight), bottomRight: s(r.position.bottomRight), bottomLeft: s(r.position.bottomLeft) },
  }));
}

/** Creates a scanner over the loaded engine (`qr.engine_not_loaded` before `loadQrEngine`), options validated here. */
export function createQrScanner(options: ScannerOptions = {}): QrScanner {
  const o = validate(options);
  const limits: ImageLimits = { maxSide: options.maxSide, maxPixels: options.maxPixels };
  const zx: ZxingReader = qrReader();
  const formats = zxingFormats(o.symbologies);
  const cheap: ZxingOptions = zxingOptions({ formats, tryHarder: false, maxNumberOfSymbols: o.maxSymbols });
  const thorough: ZxingOptions = zxingOptions({ formats, tryHarder: true, maxNumberOfSymbols: o.maxSymbols });
  const finder = new FinderScanner(options.finder);
  let lumaBuf = new Uint8Array(0);
  let frameNo = 0;
  let last: Uint8Array | undefined;
  const stats: ScannerStats = { frames: 0, cheapPasses: 0, thoroughPasses: 0, decodedCheap: 0, decodedThorough: 0, triggeredByCheap: 0, triggeredByFinder: 0 };

  function finish(symbols: RawSymbol[], pass: 'cheap' | 'thorough', trigger: ThoroughTrigger, finders: number): ScanResult {
    const valid = symbols.find((s) => s.valid);
    const repeat = valid && last ? equalBytes(last, valid.bytes) : false;
    if (valid) last = valid.bytes;
    return { status: valid ? 'decoded' : symbols.length ? 'located' : 'none', symbols, pass, thorough: trigger, finders, frame: frameNo++, repeat };
  }

  return {
    push(frame: Frame): ScanResult {
      checkFrame(frame, limits);
      const { width: W, height: H } = frame;
      if (frame.format === 'rgba' && lumaBuf.length !== W * H) lumaBuf = new Uint8Array(W * H);
      const luma = frameLuma(frame, lumaBuf);
      stats.frames++;

      // Pass 1: cheap.
      const k = Math.min(W, H) >= o.downscaleMinSide && W >= 2 && H >= 2 ? 2 : 1;
      let cw = W;
      let ch = H;
      if (k === 2) ({ width: cw, height: ch } = downscale2(luma, W, H, zx.buffer((W >> 1) * (H >> 1))));
      else zx.buffer(W * H).set(luma);
      const first = scalePositions(toRawSymbols(zx.readLuma(cw, ch, cheap)), k);
      stats.cheapPasses++;
      if (first.some((s) => s.valid)) {
        stats.decodedCheap++;
        return finish(first, 'cheap', 'none', -1);
      }

      // Evidence for pass 2.
      let trigger: ThoroughTrigger = 'none';
      let finders = -1;
      if (first.length) trigger = 'cheap_located';
      else if (o.symbologies.includes('qr')) {
        finders = finder.scan(luma, W, H).length;
        if (finders >= o.minFinders) trigger = 'finder';
      }
      if (trigger === 'none') return finish(first, 'cheap', 'none', finders);

      // Pass 2: thorough, full resolution.
      if (trigger === 'cheap_located') stats.triggeredByCheap++;
      else stats.triggeredByFinder++;
      zx.buffer(W * H).set(luma);
      const second = toRawSymbols(zx.readLuma(W, H, thorough));
      stats.thoroughPasses++;
      if (second.some((s) => s.valid)) stats.decodedThorough++;
      // Nothing better found: keep the cheap pass's located symbols.
      return finish(second.length ? second : first, second.length || !first.length ? 'thorough' : 'cheap', trigger, finders);
    },
    reset(): void {
      frameNo = 0;
      last = undefined;
      for (const key of Object.keys(stats) as (keyof ScannerStats)[]) stats[key] = 0;
    },
    get stats(): Readonly<ScannerStats> {
      return { ...stats };
    },
  };
}
