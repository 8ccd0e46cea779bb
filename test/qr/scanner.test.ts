/**
 * The camera scanner (codecs/qr/scanner.ts): reads the code in synthetic camera frames, runs only the
 * cheap pass on frames without a code, and the thorough pass when there is evidence. Passes are counted,
 * never timed.
 */
import fc from 'fast-check';
import { beforeAll, describe, expect, it } from 'vitest';
import { encodeCode, pickOffpay, type Frame } from '../../codecs/qr/engine.js';
import { FinderScanner, MAX_CANDIDATES } from '../../codecs/qr/finder.js';
import { downscale2, frameLuma } from '../../codecs/qr/luma.js';
import { loadQrEngineNode } from '../../codecs/qr/node.js';
import { createQrScanner } from '../../codecs/qr/scanner.js';
import { CONDITIONS, shoot, shootEmpty } from '../../codecs/qr/sim/camera.js';
import { OffpayError } from '../../base/errors.js';
import { codeOf, frameWith, payload200 } from './helpers.js';

beforeAll(() => loadQrEngineNode());

function toRgba(f: Frame): Frame {
  const out = new Uint8Array(f.width * f.height * 4);
  for (let i = 0; i < f.width * f.height; i++) out.set([f.data[i]!, f.data[i]!, f.data[i]!, 255], i * 4);
  return { width: f.width, height: f.height, data: out, format: 'rgba' };
}

const SIZES = [
  ['1280x720', 1280, 720, 6],
  ['640x480', 640, 480, 4],
] as const;
// JPEG conditions are used without their JPEG step: the scanner takes pixels, and the sim has no JPEG decoder.
const NAMED = Object.entries(CONDITIONS).filter(([, c]) => !c.stress);

describe('camera scanner', () => {
  for (const [label, W, H, ppm] of SIZES) {
    it(`reads a 200-byte token in camera frames at ${label}, every condition, and says which pass read it`, async () => {
      const code = await encodeCode(payload200);
      const scanner = createQrScanner();
      for (const [name, cond] of NAMED) {
        for (const seed of [1, 2]) {
          const { frame } = shoot(code.matrix, { width: W, height: H, pixelsPerModule: cond.ppm ?? ppm, ...cond, jpegQuality: undefined }, seed);
          const r = scanner.push(seed === 1 ? frame : toRgba(frame));
          expect(r.status, `${name} seed ${seed}`).toBe('decoded');
          expect(pickOffpay(r.symbols, 'token').payload).toEqual(payload200);
          // The reported corners are in frame pixels, inside the frame, whichever pass read it.
          for (const p of Object.values(r.symbols[0]!.position)) {
            expect(p.x).toBeGreaterThanOrEqual(0);
            expect(p.x).toBeLessThan(W);
            expect(p.y).toBeLessThan(H);
          }
        }
      }
      const s = scanner.stats;
      expect(s.frames).toBe(NAMED.length * 2);
      expect(s.cheapPasses).toBe(s.frames);
      expect(s.decodedCheap + s.decodedThorough).toBe(s.frames);
      // Most frames are read by the cheap pass alone.
      expect(s.decodedCheap).toBeGreaterThan(s.frames / 2);
    }, 120_000);

    it(`runs only the cheap pass on frames without a code at ${label} (blank card, every condition)`, () => {
      const scanner = createQrScanner();
      for (const [name, cond] of NAMED) {
        for (const seed of [1, 2, 3]) {
          const { frame } = shootEmpty({ width: W, height: H, pixelsPerModule: cond.ppm ?? ppm, ...cond, jpegQuality: undefined }, seed);
          const r = scanner.push(frame);
          expect([name, r.status, r.pass, r.thorough]).toEqual([name, 'none', 'cheap', 'none']);
        }
      }
      expect(scanner.stats).toMatchObject({ frames: NAMED.length * 3, cheapPasses: NAMED.length * 3, thoroughPasses: 0 });
    }, 120_000);
  }

  it('runs the thorough pass when finder patterns are seen but the cheap pass reads nothing (2 px/module at 720p)', async () => {
    const code = await encodeCode(payload200);
    const scanner = createQrScanner();
    const { frame } = shoot(code.matrix, { width: 1280, height: 720, pixelsPerModule: 2 }, 1);
    const r = scanner.push(frame);
    expect(r).toMatchObject({ status: 'decoded', pass: 'thorough', thorough: 'finder' });
    expect(r.finders).toBeGreaterThanOrEqual(2);
    expect(scanner.stats).toMatchObject({ cheapPasses: 1, thoroughPasses: 1, triggeredByFinder: 1, decodedThorough: 1 });
    // With the detector blinded (a module size no finder here has), the cheap pass alone misses this
    // frame: the finder evidence is what reads it.
    const blind = createQrScanner({ finder: { minModule: 64 } });
    expect(blind.push(frame)).toMatchObject({ status: 'none', pass: 'cheap', thorough: 'none', finders: 0 });
  });

  it('runs the thorough pass when the cheap pass locates a symbol it cannot decode, and reports it located', async () => {
    const code = await encodeCode(payload200);
    const m = { ...code.matrix, modules: code.matrix.modules.slice() };
    for (let y = 12; y < 45; y++) for (let x = 12; x < 45; x++) if ((x + y) % 3 === 0) m.modules[y * m.width + x] = m.modules[y * m.width + x]! ^ 1;
    const scanner = createQrScanner();
    const r = scanner.push(frameWith(1280, 720, [{ m, x: 300, y: 120, ppm: 8 }]));
    expect(r.status).toBe('located');
    expect(r.thorough).not.toBe('none');
    expect(scanner.stats.thoroughPasses).toBe(1);
    expect(codeOf(() => pickOffpay(r.symbols))).toBe('qr.damaged');
  });

  it('flags the same code held in view as a repeat; reset() forgets it and the counts', async () => {
    const code = await encodeCode(payload200);
    const other = await encodeCode(payload200.slice(1));
    const c = { width: 640, height: 480, pixelsPerModule: 4 };
    const scanner = createQrScanner();
    const a = shoot(code.matrix, c, 1).frame;
    expect(scanner.push(a)).toMatchObject({ frame: 0, repeat: false });
    expect(scanner.push(shoot(code.matrix, c, 2).frame)).toMatchObject({ frame: 1, repeat: true });
    expect(scanner.push(shootEmpty(c, 3).frame)).toMatchObject({ frame: 2, status: 'none', repeat: false });
    expect(scanner.push(a)).toMatchObject({ frame: 3, repeat: true });
    expect(scanner.push(shoot(other.matrix, c, 4).frame)).toMatchObject({ status: 'decoded', repeat: false });
    scanner.reset();
    expect(scanner.stats).toEqual({ frames: 0, cheapPasses: 0, thoroughPasses: 0, decodedCheap: 0, decodedThorough: 0, triggeredByCheap: 0, triggeredByFinder: 0 });
    expect(scanner.push(a)).toMatchObject({ frame: 0, repeat: false });
  });

  it('validates its options and frames with typed errors', () => {
    expect(codeOf(() => createQrScanner({ symbologies: ['ean' as never] }))).toBe('qr.bad_option');
    expect(codeOf(() => createQrScanner({ symbologies: [] }))).toBe('qr.bad_option');
    expect(codeOf(() => createQrScanner({ minFinders: 0 }))).toBe('qr.bad_option');
    expect(codeOf(() => createQrScanner({ maxSymbols: 100 }))).toBe('qr.bad_option');
    expect(codeOf(() => createQrScanner({ downscaleMinSide: -1 }))).toBe('qr.bad_option');
    expect(codeOf(() => createQrScanner({ finder: { rowStep: 0 } }))).toBe('qr.bad_option');
    const s = createQrScanner();
    expect(codeOf(() => s.push({ width: 10, height: 10, data: new Uint8Array(99), format: 'gray' }))).toBe('qr.bad_image');
    expect(codeOf(() => s.push({ width: 9000, height: 10, data: new Uint8Array(90000), format: 'gray' }))).toBe('qr.image_too_large');
    expect(codeOf(() => createQrScanner({ maxSide: 100 }).push({ width: 200, height: 10, data: new Uint8Array(2000), format: 'gray' }))).toBe('qr.image_too_large');
    expect(s.stats.frames).toBe(0);
  });

  it('returns a value or a typed error on any small frame (property)', () => {
    const s = createQrScanner({ downscaleMinSide: 0 });
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 48 }),
        fc.integer({ min: 1, max: 48 }),
        fc.constantFrom('rgba', 'gray'),
        fc.integer({ min: 0, max: 2 ** 31 - 1 }),
        (w, h, format, seed) => {
          const n = w * h * (format === 'rgba' ? 4 : 1);
          let x = seed | 1;
          const data = new Uint8Array(n);
          for (let i = 0; i < n; i++) data[i] = (x = (x * 1103515245 + 12345) >>> 0) >>> 24;
          try {
            expect(['decoded', 'located', 'none']).toContain(s.push({ width: w, height: h, data, format }).status);
          } catch (e) {
            expect(e).toBeInstanceOf(OffpayError);
          }
        },
      ),
      { seed: 14, numRuns: 200 },
    );
  });
});

describe('finder-pattern detector and luma helpers', () => {
  it('finds the three finder patterns of a clean code where they are, and none on a blank or noisy frame', async () => {
    const code = await encodeCode(payload200);
    const ppm = 3;
    const f = frameWith(400, 300, [{ m: code.matrix, x: 40, y: 30, ppm }]);
    const found = new FinderScanner().scan(f.data as Uint8Array, 400, 300);
    // The three finders, at their centres; data modules can mimic the 1:1:3:1:1 ratio too (evidence only).
    expect(found.length).toBeGreaterThanOrEqual(3);
    const side = code.matrix.width * ppm;
    const expected = [
      [40 + 3.5 * ppm, 30 + 3.5 * ppm],
      [40 + side - 3.5 * ppm, 30 + 3.5 * ppm],
      [40 + 3.5 * ppm, 30 + side - 3.5 * ppm],
    ];
    for (const [ex, ey] of expected) expect(found.some((c) => Math.abs(c.x - ex!) <= ppm && Math.abs(c.y - ey!) <= ppm && Math.abs(c.module - ppm) < 1)).toBe(true);
    expect(new FinderScanner().scan(frameWith(400, 300, []).data as Uint8Array, 400, 300)).toEqual([]);
    let x = 7;
    const noise = Uint8Array.from({ length: 400 * 300 }, () => (x = (x * 1103515245 + 12345) >>> 0) >>> 24);
    expect(new FinderScanner().scan(noise, 400, 300).length).toBeLessThan(2);
    // A blank card on a noisy background (noise 6): binarized noise mimicked two 1.5 px finders here until
    // the run-contrast test; the scene of the memory benchmark's blank frames.
    const card = shootEmpty({ width: 640, height: 480, pixelsPerModule: 4, noise: 6, rotationDeg: 8 }, 4).frame;
    expect(new FinderScanner().scan(card.data as Uint8Array, 640, 480)).toEqual([]);
  });

  it('keeps at most MAX_CANDIDATES on a frame tiled with finder patterns (bounded cost), which then gets its thorough pass', () => {
    const fp = new Uint8Array(49);
    for (let y = 0; y < 7; y++) for (let x = 0; x < 7; x++) fp[y * 7 + x] = x === 0 || y === 0 || x === 6 || y === 6 || (x >= 2 && x <= 4 && y >= 2 && y <= 4) ? 1 : 0;
    const m = { width: 7, height: 7, modules: fp };
    const tiles = [];
    for (let y = 4; y + 14 < 720; y += 18) for (let x = 4; x + 14 < 1280; x += 18) tiles.push({ m, x, y, ppm: 2 });
    expect(tiles.length).toBeGreaterThan(4 * MAX_CANDIDATES);
    const f = frameWith(1280, 720, tiles);
    const found = new FinderScanner().scan(f.data as Uint8Array, 1280, 720);
    expect(found.length).toBeGreaterThanOrEqual(2);
    expect(found.length).toBeLessThanOrEqual(MAX_CANDIDATES);
    const s = createQrScanner();
    expect(s.push(f).thorough).not.toBe('none');
  });

  it('luma: BT.601 in 10-bit fixed point (white stays 255); 2:1 box downscale rounds the mean', () => {
    const rgba: Frame = { width: 2, height: 1, data: new Uint8Array([255, 255, 255, 0, 10, 200, 30, 255]), format: 'rgba' };
    expect([...frameLuma(rgba)]).toEqual([255, (306 * 10 + 601 * 200 + 117 * 30 + 512) >> 10]);
    const out = new Uint8Array(2);
    expect(downscale2(Uint8Array.from([0, 1, 10, 10, 1, 1, 10, 11, 9, 9, 9, 9]), 4, 3, out)).toEqual({ width: 2, height: 1 });
    expect([...out]).toEqual([1, 10]);
  });
});
