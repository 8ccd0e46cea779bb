/**
 * A cheap QR finder-pattern detector on 8-bit luma: the scanner's evidence that a frame is worth the
 * thorough (try-harder, full-resolution) pass even when the cheap zxing pass located nothing.
 *
 * A QR finder pattern is a 7x7-module square: dark ring, light ring, dark 3x3 core. Any line through
 * its centre crosses dark/light/dark/light/dark runs in the ratio 1:1:3:1:1 (ISO/IEC 18004 §6.3.3).
 *
 * 1. Local threshold. The image is cut into 16x16-pixel blocks; each block's mean, minimum and maximum
 *    are taken over every other pixel of every other row. A block's threshold is the mean of the block
 *    means in its 3x3 block neighbourhood (clamped at the borders). Where the luma range (max - min) of
 *    that neighbourhood is below `minContrast`, the area is flat and every pixel counts as light, so a
 *    smooth background or a blank card never yields runs. A pixel is dark when its luma is below its
 *    block's threshold.
 * 2. Row scan. Every `rowStep`-th row is run-length encoded (dark: luma < threshold). Each window of five
 *    consecutive runs starting dark is tested like zxing-cpp's finder check: with m = total / 7 and
 *    v = m / 2, the runs must satisfy |r0 - m| < v, |r1 - m| < v, |r2 - 3m| < 3v, |r3 - m| < v,
 *    |r4 - m| < v, and m >= `minModule` pixels (smaller modules are indistinguishable from sensor noise);
 *    and the mean luma of the two light runs must exceed that of the three dark runs by `minContrast`
 *    (noise over a flat area, once binarized, can mimic the ratio but not the contrast).
 * 3. Column cross-check. Through the centre of the middle run, the column is walked up and down; its
 *    five runs must pass the same test, and its total must be within 40 % of the row's.
 * 4. Clustering. Confirmed centres closer than 3 modules (of the first hit) join one candidate. A finder
 *    counts when at least `minHits` rows confirmed it (a 2-pixel module gives a 6-pixel core, three rows
 *    at rowStep 2).
 *
 * Cost: one pass over a quarter of the pixels for the block statistics and one over every rowStep-th
 * row, plus a column walk per row hit and a comparison with each candidate kept (at most
 * MAX_CANDIDATES = 256: the scan stops there). No typed-array allocation after the first frame of a size.
 */
import { validateOptions, type OptionsSchema } from '../../base/options.js';

/** Options of {@link FinderScanner} (the finder-pattern detector described above), validated by its constructor (`qr.bad_option`). */
export interface FinderOptions {
  /** Rows scanned: every rowStep-th (default 2). */
  rowStep?: number;
  /** Smallest module accepted, in pixels (default 1.5). */
  minModule?: number;
  /** Smallest luma range of a 3x3-block neighbourhood to binarize it (default 24, zxing's flat-block limit). */
  minContrast?: number;
  /** Row confirmations a finder needs (default 2). */
  minHits?: number;
}

/** The schema of {@link FinderOptions}, validated by the {@link FinderScanner} constructor (`qr.bad_option` naming the option). */
export const FINDER_OPTIONS_SCHEMA: OptionsSchema = {
  rowStep: { type: 'number', min: 1, max: 16, unit: 'rows' },
  minModule: { type: 'number', min: 1, max: 64, unit: 'pixels' },
  minContrast: { type: 'number', min: 0, max: 255, unit: 'luma levels' },
  minHits: { type: 'number', min: 1, max: 64, unit: 'rows' },
};

/** A QR finder pattern candidate found by `FinderScanner`: its centre (pixels), module size and row hits. */
export interface FinderCandidate {
  /** Centre column, pixels. */
  x: number;
  /** Centre row, pixels. */
  y: number;
  /** Estimated module size in pixels. */
  module: number;
  /** How many scanned rows confirmed it. */
  hits: number;
}

const BLOCK = 16;
/** Candidates kept at most; a frame with more stops the scan there (each new hit is compared with all). */
export const MAX_CANDIDATES = 256;

/** Reusable scratch buffers, sized on first use for a frame size. */
export class FinderScanner {
  readonly #opts: Required<FinderOptions>;
  #w = 0;
  #h = 0;
  #bw = 0;
  #thr = new Uint8Array(0);
  #sum = new Uint32Array(0);
  #cnt = new Uint16Array(0);
  #min = new Uint8Array(0);
  #max = new Uint8Array(0);
  #runs = new Int32Array(0);
  #runStart = new Int32Array(0);

  constructor(options: FinderOptions = {}) {
    validateOptions<FinderOptions>('FinderScanner options', options, FINDER_OPTIONS_SCHEMA, 'qr.bad_option');
    this.#opts = { rowStep: options.rowStep ?? 2, minModule: options.minModule ?? 1.5, minContrast: options.minContrast ?? 24, minHits: options.minHits ?? 2 };
  }

  #size(w: number, h: number): void {
    if (w === this.#w && h === this.#h) return;
    this.#w = w;
    this.#h = h;
    const nb = Math.ceil(w / BLOCK) * Math.ceil(h / BLOCK);
    this.#bw = Math.ceil(w / BLOCK);
    this.#thr = new Uint8Array(nb);
    this.#sum = new Uint32Array(nb);
    this.#cnt = new Uint16Array(nb);
    this.#min = new Uint8Array(nb);
    this.#max = new Uint8Array(nb);
    this.#runs = new Int32Array(w + 1);
    this.#runStart = new Int32Array(w + 1);
  }

  #thresholds(l: Uint8Array, w: number, h: number): void {
    const bw = Math.ceil(w / BLOCK);
    const bh = Math.ceil(h / BLOCK);
    const sum = this.#sum;
    const cnt = this.#cnt;
    const mn = this.#min;
    const mx = this.#max;
    sum.fill(0);
    cnt.fill(0);
    mn.fill(255);
    mx.fill(0);
    // Block statistics from every other pixel of every other row (a quarter of the pixels): enough for a
    // mean and a range over 64 samples a block.
    for (let y = 0; y < h; y += 2) {
      const row = y * w;
      const brow = (y >> 4) * bw;
      for (let x = 0; x < w; x += 2) {
        const v = l[row + x]!;
        const b = brow + (x >> 4);
        sum[b] = sum[b]! + v;
        cnt[b] = cnt[b]! + 1;
        if (v < mn[b]!) mn[b] = v;
        if (v > mx[b]!) mx[b] = v;
      }
    }
    const minContrast = this.#opts.minContrast;
    for (let by = 0; by < bh; by++) {
      for (let bx = 0; bx < bw; bx++) {
        let s = 0;
        let lo = 255;
        let hi = 0;
        for (let dy = -1; dy <= 1; dy++) {
          const yy = Math.min(bh - 1, Math.max(0, by + dy));
          for (let dx = -1; dx <= 1; dx++) {
            const b = yy * bw + Math.min(bw - 1, Math.max(0, bx + dx));
            s += sum[b]! / cnt[b]!;
            if (mn[b]! < lo) lo = mn[b]!;
            if (mx[b]! > hi) hi = mx[b]!;
          }
        }
        // A flat neighbourhood gets threshold 0: no pixel is below it, so all count as light.
        this.#thr[by * bw + bx] = hi - lo < minContrast ? 0 : Math.round(s / 9);
      }
    }
  }

  #dark(l: Uint8Array, w: number, x: number, y: number): boolean {
    return l[y * w + x]! < this.#thr[(y >> 4) * this.#bw + (x >> 4)]!;
  }

  /** Finder-pattern candidates in a luma image, strongest first. */
  scan(luma: Uint8Array, width: number, height: number): FinderCandidate[] {
    this.#size(width, height);
    this.#thresholds(luma, width, height);
    const { rowStep, minModule, minHits, minContrast } = this.#opts;
    const bw = Math.ceil(width / BLOCK);
    const runs = this.#runs;
    const starts = this.#runStart;
    const thr = this.#thr;
    const minTotal = 7 * minModule;
    const found: FinderCandidate[] = [];
    scan: for (let y = 0; y < height; y += rowStep) {
      // Run-length encode the row; runs alternate colour, the first run's colour is `firstDark`.
      const row = y * width;
      const brow = (y >> 4) * bw;
      let nr = 0;
      let cur = luma[row]! < thr[brow]!;
      const firstDark = cur;
      let len = 0;
      starts[0] = 0;
      for (let x = 0; x < width; x++) {
        const d = luma[row + x]! < thr[brow + (x >> 4)]!;
        if (d === cur) len++;
        else {
          runs[nr++] = len;
          starts[nr] = x;
          cur = d;
          len = 1;
        }
      }
      runs[nr++] = len;
      starts[nr] = width; // the end of the last run
      // Windows of five runs starting on a dark run: dark runs are at even indexes when the row starts dark.
      for (let i = firstDark ? 0 : 1; i + 4 < nr; i += 2) {
        const r0 = runs[i]!;
        const r1 = runs[i + 1]!;
        const r2 = runs[i + 2]!;
        const r3 = runs[i + 3]!;
        const r4 = runs[i + 4]!;
        const total = r0 + r1 + r2 + r3 + r4;
        if (total < minTotal) continue; // most windows in noise: cheap reject before the ratio test
        if (!ratioOk(r0, r1, r2, r3, r4, total, minModule)) continue;
        if (runContrast(luma, row, starts, i) < minContrast) continue;
        const cx = starts[i + 2]! + (r2 >> 1);
        const cy = this.#crossCheckColumn(luma, width, height, cx, y, total, minModule);
        if (cy < 0) continue;
        const m = total / 7;
        const near = found.find((f) => Math.abs(f.x - cx) < 3 * f.module && Math.abs(f.y - cy) < 3 * f.module);
        if (near) near.hits++;
        else if (found.length < MAX_CANDIDATES) found.push({ x: cx, y: cy, module: m, hits: 1 });
        else break scan; // a frame crafted full of finder-like patterns: the cost stays bounded
      }
    }
    return found.filter((f) => f.hits >= minHits).sort((a, b) => b.hits - a.hits);
  }

  /** The column through (x, y): returns the centre row of a 1:1:3:1:1 pattern there, or -1. */
  #crossCheckColumn(l: Uint8Array, w: number, h: number, x: number, y: number, hTotal: number, minModule: number): number {
    const max = 2 * hTotal;
    const dark = (yy: number): boolean => this.#dark(l, w, x, yy);
    /** Length of the run of colour `d` from row `from` going `dir` (at most `max`). */
    const run = (from: number, dir: 1 | -1, d: boolean): number => {
      let n = 0;
      for (let yy = from; yy >= 0 && yy < h && n < max && dark(yy) === d; yy += dir) n++;
      return n;
    };
    if (!dark(y)) return -1;
    // Up from the centre row: the rest of the core, the light ring, the dark ring; then the same downwards.
    const coreUp = run(y, -1, true);
    const c1 = run(y - coreUp, -1, false);
    const c0 = run(y - coreUp - c1, -1, true);
    const coreDown = run(y + 1, 1, true);
    const c3 = run(y + 1 + coreDown, 1, false);
    const c4 = run(y + 1 + coreDown + c3, 1, true);
    const c2 = coreUp + coreDown;
    const total = c0 + c1 + c2 + c3 + c4;
    if (5 * Math.abs(total - hTotal) >= 2 * hTotal) return -1;
    if (!ratioOk(c0, c1, c2, c3, c4, total, minModule)) return -1;
    // The core spans rows y - coreUp + 1 .. y + coreDown; its centre:
    return y - coreUp + 1 + (c2 >> 1);
  }
}

/**
 * Contrast of the five runs from run index i of a row: mean luma of the two light runs minus mean luma of
 * the three dark runs. Sensor noise over a flat area can mimic the 1:1:3:1:1 ratio once binarized; its
 * runs differ by a fraction of the noise, a printed or displayed finder's by the code's contrast.
 */
function runContrast(l: Uint8Array, row: number, starts: Int32Array, i: number): number {
  let dark = 0;
  let nd = 0;
  let light = 0;
  let nl = 0;
  for (let k = 0; k < 5; k++) {
    const a = row + starts[i + k]!;
    const b = row + starts[i + k + 1]!;
    let s = 0;
    for (let p = a; p < b; p++) s += l[p]!;
    if (k % 2 === 0) {
      dark += s;
      nd += b - a;
    } else {
      light += s;
      nl += b - a;
    }
  }
  return light / nl - dark / nd;
}

/** The 1:1:3:1:1 test (zxing-cpp's tolerance: each run within half a module, the core within 1.5). */
function ratioOk(r0: number, r1: number, r2: number, r3: number, r4: number, total: number, minModule: number): boolean {
  if (r0 === 0 || r1 === 0 || r2 === 0 || r3 === 0 || r4 === 0) return false;
  const m = total / 7;
  if (m < minModule) return false;
  const v = m / 2;
  return Math.abs(r0 - m) < v && Math.abs(r1 - m) < v && Math.abs(r2 - 3 * m) < 3 * v && Math.abs(r3 - m) < v && Math.abs(r4 - m) < v;
}
