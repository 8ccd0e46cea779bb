/** Test helpers for the qr area: frames built from module matrices, and OffpayError codes. */
import { OffpayError } from '../../base/errors.js';
import type { Frame, ModuleMatrix } from '../../codecs/qr/engine.js';

export async function errorCode(f: () => unknown): Promise<string | undefined> {
  try {
    await f();
  } catch (e) {
    if (e instanceof OffpayError) return e.code;
    throw e;
  }
  return undefined;
}

/** A light gray frame with each matrix drawn at (x, y) with `ppm` pixels per module. */
export function frameWith(width: number, height: number, codes: { m: ModuleMatrix; x: number; y: number; ppm: number }[]): Frame {
  const data = new Uint8Array(width * height).fill(235);
  for (const { m, x, y, ppm } of codes) {
    for (let py = 0; py < m.height * ppm; py++) {
      for (let px = 0; px < m.width * ppm; px++) {
        const dark = m.modules[Math.floor(py / ppm) * m.width + Math.floor(px / ppm)] === 1;
        const X = x + px;
        const Y = y + py;
        if (X >= 0 && Y >= 0 && X < width && Y < height) data[Y * width + X] = dark ? 25 : 235;
      }
    }
  }
  return { width, height, data, format: 'gray' };
}

export const payload200 = Uint8Array.from({ length: 200 }, (_, i) => (i * 73 + 29) & 0xff);

/** The OffpayError code `f` throws, or undefined when it returns (other exceptions propagate). */
export function codeOf(f: () => unknown): string | undefined {
  try {
    f();
  } catch (e) {
    if (e instanceof OffpayError) return e.code;
    throw e;
  }
  return undefined;
}
