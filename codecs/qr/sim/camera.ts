/**
 * A seeded synthetic camera: renders a module matrix as a phone or scanner camera would see a code on a
 * screen or a sticker, for tests and the benchmark (no real camera is needed, and every frame can be
 * replayed from its seed).
 *
 * Pipeline, per frame: place the symbol (with its quiet zone) in the frame at a given pixels-per-module,
 * rotate it and tilt it (a homography from four displaced corners), render with 3x3 supersampling over
 * a background with an illumination gradient, set contrast (dark and light levels), add a glare spot
 * (a Gaussian highlight that washes out modules), blur (Gaussian, separable), add Gaussian sensor noise,
 * quantize to 8 bits, and optionally pass through JPEG at a given quality (sim/jpeg.ts).
 */
import type { Frame, ModuleMatrix } from '../engine.js';
import { encodeJpegGray } from './jpeg.js';
import { mulberry32 } from '../../../base/prng.js';

/** mulberry32 (base/prng.ts): seeded, for test images, not for keys. */
export const prng = mulberry32;

export interface CameraConditions {
  width: number;
  height: number;
  /** Module size in frame pixels (before perspective), e.g. 2..8. */
  pixelsPerModule: number;
  /** Rotation in degrees; with `randomRotation` a random sign is applied. */
  rotationDeg?: number;
  /** Perspective: each corner moves by up to this fraction of the symbol size (0 = none, 0.15 = strong). */
  perspective?: number;
  /** Gaussian blur sigma in pixels, or in modules (`blurModules`, used when `blurPx` is not set). */
  blurPx?: number;
  blurModules?: number;
  /** Gaussian noise sigma in gray levels. */
  noise?: number;
  /** Gray level of dark modules (default 30) and of light ones (default 220). */
  dark?: number;
  light?: number;
  /** Glare: peak added brightness (gray levels) of a Gaussian spot over the symbol, and its radius in modules. */
  glare?: number;
  glareRadiusModules?: number;
  /** JPEG quality 1..100; undefined = no compression. */
  jpegQuality?: number;
  /** Quiet zone in modules around the symbol (default 4). */
  quietZone?: number;
}

export interface CameraShot {
  frame: Frame;
  /** The JPEG bytes when `jpegQuality` is set: a reader should then be given these, not `frame`. */
  jpeg: Uint8Array | undefined;
}

/** Solves the 8-parameter homography taking src[i] to dst[i] (4 point pairs). */
export function homography(src: [number, number][], dst: [number, number][]): number[] {
  const A: number[][] = [];
  for (let i = 0; i < 4; i++) {
    const [x, y] = src[i]!;
    const [u, v] = dst[i]!;
    A.push([x, y, 1, 0, 0, 0, -u * x, -u * y, u]);
    A.push([0, 0, 0, x, y, 1, -v * x, -v * y, v]);
  }
  // Gauss-Jordan with partial pivoting on the 8x9 augmented matrix.
  for (let c = 0; c < 8; c++) {
    let p = c;
    for (let r = c + 1; r < 8; r++) if (Math.abs(A[r]![c]!) > Math.abs(A[p]![c]!)) p = r;
    [A[c], A[p]] = [A[p]!, A[c]!];
    const piv = A[c]![c]!;
    for (let k = c; k < 9; k++) A[c]![k]! /= piv;
    for (let r = 0; r < 8; r++) {
      if (r === c) continue;
      const f = A[r]![c]!;
      if (f !== 0) for (let k = c; k < 9; k++) A[r]![k]! -= f * A[c]![k]!;
    }
  }
  return [...A.map((row) => row[8]!), 1];
}

function gaussianBlur(img: Float32Array, w: number, h: number, sigma: number): void {
  if (sigma <= 0) return;
  const r = Math.max(1, Math.ceil(sigma * 3));
  const k = new Float32Array(2 * r + 1);
  let sum = 0;
  for (let i = -r; i <= r; i++) sum += k[i + r] = Math.exp(-(i * i) / (2 * sigma * sigma));
  for (let i = 0; i < k.length; i++) k[i]! /= sum;
  const tmp = new Float32Array(img.length);
  for (let y = 0; y < h; y++) {
    const row = y * w;
    for (let x = 0; x < w; x++) {
      let s = 0;
      for (let i = -r; i <= r; i++) s += k[i + r]! * img[row + Math.min(w - 1, Math.max(0, x + i))]!;
      tmp[row + x] = s;
    }
  }
  for (let y = 0; y < h; y++) {
    for (let x = 0; x < w; x++) {
      let s = 0;
      for (let i = -r; i <= r; i++) s += k[i + r]! * tmp[Math.min(h - 1, Math.max(0, y + i)) * w + x]!;
      img[y * w + x] = s;
    }
  }
}

/** Renders one seeded frame of `m` under `c`. The same (m, c, seed) always gives the same pixels. */
export function shoot(m: ModuleMatrix, c: CameraConditions, seed: number): CameraShot {
  const rnd = prng(seed);
  const gauss = (): number => {
    const u = Math.max(rnd(), 1e-12);
    return Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * rnd());
  };
  const { width: W, height: H } = c;
  const q = c.quietZone ?? 4;
  const N = m.width + 2 * q; // symbol side in modules, quiet zone included
  const side = N * c.pixelsPerModule;
  const dark = c.dark ?? 30;
  const light = c.light ?? 220;

  // Destination corners: a square of `side` px, rotated, displaced for perspective, placed with a random offset.
  const angle = (((c.rotationDeg ?? 0) * (rnd() < 0.5 ? -1 : 1)) * Math.PI) / 180;
  const persp = (c.perspective ?? 0) * side;
  const slack = (s: number, total: number): number => Math.max(0, (total - s * 1.2) / 2);
  const cx = W / 2 + (rnd() * 2 - 1) * slack(side, W) * 0.5;
  const cy = H / 2 + (rnd() * 2 - 1) * slack(side, H) * 0.5;
  const corners: [number, number][] = [
    [-1, -1],
    [1, -1],
    [1, 1],
    [-1, 1],
  ].map(([sx, sy]) => {
    const x = (sx! * side) / 2 + (rnd() * 2 - 1) * persp;
    const y = (sy! * side) / 2 + (rnd() * 2 - 1) * persp;
    return [cx + x * Math.cos(angle) - y * Math.sin(angle), cy + x * Math.sin(angle) + y * Math.cos(angle)];
  });
  // Frame pixel -> symbol coordinates (in modules, quiet zone included).
  const Hm = homography(corners, [
    [0, 0],
    [N, 0],
    [N, N],
    [0, N],
  ]);
  const gx = rnd() * 0.4 - 0.2; // illumination gradient across the frame
  const gy = rnd() * 0.4 - 0.2;
  const glare = c.glare ?? 0;
  const glareR = (c.glareRadiusModules ?? 6) * c.pixelsPerModule;
  const glareX = cx + (rnd() * 2 - 1) * side * 0.25;
  const glareY = cy + (rnd() * 2 - 1) * side * 0.25;
  const bg = (dark + light) / 2 + 15;

  const img = new Float32Array(W * H);
  const SS = 3;
  const [h0, h1, h2, h3, h4, h5, h6, h7, h8] = Hm as [number, number, number, number, number, number, number, number, number];
  for (let y = 0; y < H; y++) {
    for (let x = 0; x < W; x++) {
      let acc = 0;
      for (let sy = 0; sy < SS; sy++) {
        for (let sx = 0; sx < SS; sx++) {
          const px = x + (sx + 0.5) / SS;
          const py = y + (sy + 0.5) / SS;
          const w = h6 * px + h7 * py + h8;
          const u = (h0 * px + h1 * py + h2) / w;
          const v = (h3 * px + h4 * py + h5) / w;
          let val: number;
          if (u < 0 || v < 0 || u >= N || v >= N) val = bg;
          else {
            const mx = Math.floor(u) - q;
            const my = Math.floor(v) - q;
            const isDark = mx >= 0 && my >= 0 && mx < m.width && my < m.height && m.modules[my * m.width + mx] === 1;
            val = isDark ? dark : light;
          }
          acc += val;
        }
      }
      let val = acc / (SS * SS);
      val *= 1 + gx * (x / W - 0.5) + gy * (y / H - 0.5);
      if (glare > 0) {
        const d2 = (x - glareX) ** 2 + (y - glareY) ** 2;
        val += glare * Math.exp(-d2 / (2 * glareR * glareR));
      }
      img[y * W + x] = val;
    }
  }
  gaussianBlur(img, W, H, c.blurPx ?? (c.blurModules ?? 0) * c.pixelsPerModule);
  const noise = c.noise ?? 0;
  const gray = new Uint8Array(W * H);
  for (let i = 0; i < gray.length; i++) {
    const v = img[i]! + (noise > 0 ? gauss() * noise : 0);
    gray[i] = v < 0 ? 0 : v > 255 ? 255 : Math.round(v);
  }
  const frame: Frame = { width: W, height: H, data: gray, format: 'gray' };
  const jpeg = c.jpegQuality !== undefined ? encodeJpegGray(gray, W, H, c.jpegQuality) : undefined;
  return { frame, jpeg };
}

/** The named conditions of the benchmark and tests (spec/qr.md §9). Sizes are set per frame size. */
export type NamedCondition = Omit<CameraConditions, 'width' | 'height' | 'pixelsPerModule'> & {
  /** Pixels per module override (default: 4 at 640x480, 6 at 1280x720). */
  ppm?: number;
  /** A stress condition: reported by the benchmark, not required to read in tests. */
  stress?: boolean;
};
export const CONDITIONS: Record<string, NamedCondition> = {
  clean: {},
  rotation: { rotationDeg: 17 },
  perspective: { perspective: 0.12, rotationDeg: 5 },
  blur: { blurModules: 0.35 },
  noise: { noise: 18 },
  low_contrast: { dark: 110, light: 150, noise: 3 },
  glare: { glare: 140, glareRadiusModules: 7 },
  jpeg_q30: { jpegQuality: 30 },
  small_2ppm: { ppm: 2 },
  small_2ppm_blur_jpeg: { stress: true, ppm: 2, blurModules: 0.3, jpegQuality: 60 },
  combo: { rotationDeg: 11, perspective: 0.06, blurModules: 0.25, noise: 10, dark: 60, light: 190, glare: 60, jpegQuality: 50 },
};

/**
 * A frame without a code: the same scene (background, illumination gradient, glare, blur, noise, JPEG),
 * with a blank light card of `cardModules` modules where the symbol would be, so edges are in view but no
 * finder pattern. For the scanner's "empty frame" tests and benchmark.
 */
export function shootEmpty(c: CameraConditions, seed: number, cardModules = 33): CameraShot {
  return shoot({ width: cardModules, height: cardModules, modules: new Uint8Array(cardModules * cardModules) }, c, seed);
}
