import { beforeAll, describe, expect, it } from 'vitest';
import { decodeCode, encodeCode, type Frame } from '../../codecs/qr/engine.js';
import { inspectImage } from '../../codecs/qr/image.js';
import { loadQrEngineNode } from '../../codecs/qr/node.js';
import { CONDITIONS, homography, shoot } from '../../codecs/qr/sim/camera.js';
import { encodeJpegGray } from '../../codecs/qr/sim/jpeg.js';
import { payload200 } from './helpers.js';
import type { OffpayError } from '../../base/errors.js';

beforeAll(() => loadQrEngineNode());

describe('baseline JPEG encoder', () => {
  it('writes JPEG that zxing-wasm (stb_image) reads back close to the source pixels', async () => {
    const code = await encodeCode(payload200);
    const shot = shoot(code.matrix, { width: 320, height: 320, pixelsPerModule: 5 }, 3);
    const jpeg = encodeJpegGray(shot.frame.data as Uint8Array, 320, 320, 90);
    expect(inspectImage(jpeg)).toEqual({ format: 'jpeg', width: 320, height: 320 });
    expect((await decodeCode(jpeg)).payload).toEqual(payload200);
    // Same input, same bytes.
    expect(encodeJpegGray(shot.frame.data as Uint8Array, 320, 320, 90)).toEqual(jpeg);
    // Lower quality, fewer bytes.
    expect(encodeJpegGray(shot.frame.data as Uint8Array, 320, 320, 20).length).toBeLessThan(jpeg.length);
  });
});

describe('synthetic camera', () => {
  it('maps corners exactly with the homography', () => {
    const h = homography(
      [
        [0, 0],
        [10, 0],
        [12, 9],
        [-1, 11],
      ],
      [
        [0, 0],
        [1, 0],
        [1, 1],
        [0, 1],
      ],
    );
    const map = (x: number, y: number): [number, number] => {
      const w = h[6]! * x + h[7]! * y + h[8]!;
      return [(h[0]! * x + h[1]! * y + h[2]!) / w, (h[3]! * x + h[4]! * y + h[5]!) / w];
    };
    expect(map(12, 9)[0]).toBeCloseTo(1, 9);
    expect(map(12, 9)[1]).toBeCloseTo(1, 9);
    expect(map(-1, 11)[0]).toBeCloseTo(0, 9);
  });

  it('is seeded: the same seed gives the same frame, another seed another', async () => {
    const code = await encodeCode(payload200);
    const c = { width: 200, height: 150, pixelsPerModule: 2, rotationDeg: 10, noise: 5 };
    expect(shoot(code.matrix, c, 1).frame.data).toEqual(shoot(code.matrix, c, 1).frame.data);
    expect(shoot(code.matrix, c, 1).frame.data).not.toEqual(shoot(code.matrix, c, 2).frame.data);
  });

  // A few seeded frames per condition: the 200-byte token at v10-M must read in every one.
  for (const [size, W, H, ppm] of [
    ['640x480', 640, 480, 4],
    ['1280x720', 1280, 720, 6],
  ] as const) {
    for (const [name, cond] of Object.entries(CONDITIONS)) {
      it(`reads a 200-byte token at ${size}, ${name}`, async () => {
        const code = await encodeCode(payload200);
        for (const seed of [1, 2]) {
          const shot = shoot(code.matrix, { width: W, height: H, pixelsPerModule: cond.ppm ?? ppm, ...cond }, seed);
          const input: Uint8Array | Frame = shot.jpeg ?? shot.frame;
          if (cond.stress) {
            // Not required to read; must still end in a value or a typed error.
            await decodeCode(input).then(
              (d) => expect(d.payload).toEqual(payload200),
              (e: unknown) => expect((e as OffpayError).code).toMatch(/^qr\.(damaged|no_code)$/),
            );
          } else {
            const d = await decodeCode(input);
            expect(d.payload).toEqual(payload200);
          }
        }
      });
    }
  }
});
