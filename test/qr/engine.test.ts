import { readFileSync } from 'node:fs';
import { beforeAll, describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { OffpayError } from '../../base/errors.js';
import {
  decodeCode,
  encodeCode,
  loadQrEngine,
  renderContent,
  ZXING_WASM_SHA256_PINNED,
  type Ecc,
  type Frame,
  type ModuleMatrix,
  type Symbology,
} from '../../codecs/qr/engine.js';
import { crc32 } from '../../base/crc32.js';
import { loadQrEngineNode, zxingWasmPath } from '../../codecs/qr/node.js';
import { errorCode, frameWith, payload200 } from './helpers.js';

describe('wasm loading', () => {
  it('refuses to work before the wasm is loaded, and never fetches it', async () => {
    expect(await errorCode(() => encodeCode(payload200))).toBe('qr.engine_not_loaded');
  });

  it('rejects wasm bytes whose SHA-256 is not the pinned one, before instantiating', async () => {
    const bytes = new Uint8Array(readFileSync(zxingWasmPath()));
    bytes[bytes.length - 1] = bytes[bytes.length - 1]! ^ 1;
    expect(await errorCode(() => loadQrEngine(bytes))).toBe('qr.wasm_checksum');
    expect(await errorCode(() => loadQrEngineNode({ sha256: '00'.repeat(32) }))).toBe('qr.wasm_checksum');
    expect(await errorCode(() => loadQrEngineNode({ path: '/nonexistent/zxing.wasm' }))).toBe('qr.wasm_unavailable');
  });

  it('loads the installed wasm with no network', async () => {
    const realFetch = globalThis.fetch;
    globalThis.fetch = () => {
      throw new Error('network used');
    };
    try {
      await loadQrEngineNode();
    } finally {
      globalThis.fetch = realFetch;
    }
    expect(ZXING_WASM_SHA256_PINNED).toMatch(/^[0-9a-f]{64}$/);
  });

  it('loads from a URL the page serves (browser path), checking the hash of what it fetched', async () => {
    const bytes = new Uint8Array(readFileSync(zxingWasmPath()));
    const realFetch = globalThis.fetch;
    const asked: string[] = [];
    try {
      globalThis.fetch = (async (url: string | URL) => {
        asked.push(String(url));
        if (String(url).endsWith('/assets/zxing_full.wasm')) return new Response(bytes);
        if (String(url).endsWith('/tampered.wasm')) return new Response(bytes.slice(0, bytes.length - 1));
        return new Response('not found', { status: 404 });
      }) as typeof fetch;
      await loadQrEngine({ url: 'https://shop.example/assets/zxing_full.wasm' });
      expect(await errorCode(() => loadQrEngine({ url: 'https://shop.example/tampered.wasm' }))).toBe('qr.wasm_checksum');
      expect(await errorCode(() => loadQrEngine({ url: 'https://shop.example/missing.wasm' }))).toBe('qr.wasm_unavailable');
    } finally {
      globalThis.fetch = realFetch;
    }
    expect(asked).toEqual([
      'https://shop.example/assets/zxing_full.wasm',
      'https://shop.example/tampered.wasm',
      'https://shop.example/missing.wasm',
    ]);
    expect((await encodeCode(payload200)).qrVersion).toBe(10);
  });
});

describe('writer and reader', () => {
  beforeAll(() => loadQrEngineNode());

  it('fits a 200-byte payload in QR version 10 at level M, in base45 and in binary mode', async () => {
    for (const mode of ['base45', 'binary'] as const) {
      const code = await encodeCode(payload200, { mode });
      expect(code.qrVersion).toBe(10);
      expect(code.matrix.width).toBe(57);
      const d = await decodeCode(code.png);
      expect(d.symbolVersion).toBe('10');
      expect(d.ecc).toBe('M');
      expect(d.mode).toBe(mode);
      expect(d.payload).toEqual(payload200);
    }
  });

  it('round-trips every symbology, ECC level, kind and mode through PNG', async () => {
    const p = payload200.subarray(0, 120);
    for (const symbology of ['qr', 'aztec', 'pdf417', 'datamatrix'] as Symbology[]) {
      for (const ecc of ['L', 'M', 'Q', 'H'] as Ecc[]) {
        for (const mode of ['base45', 'binary'] as const) {
          const kind = ecc === 'L' || ecc === 'Q' ? 'token' : 'request';
          const code = await encodeCode(p, { symbology, ecc, mode, kind, scale: 3 });
          const d = await decodeCode(code.png, { symbologies: [symbology] });
          expect({ s: d.symbology, k: d.kind, m: d.mode }).toEqual({ s: symbology, k: kind, m: mode });
          expect(d.payload).toEqual(p);
          if (symbology === 'qr') expect(d.ecc).toBe(ecc);
        }
      }
    }
  });

  it('QR ECC levels give growing versions, and L/H differ', async () => {
    const versions = [];
    for (const ecc of ['L', 'M', 'Q', 'H'] as Ecc[]) versions.push((await encodeCode(payload200, { ecc })).qrVersion!);
    expect(versions).toEqual([...versions].sort((a, b) => a - b));
    expect(versions[0]).toBeLessThan(versions[3]!);
  });

  it('writes SVG and a terminal rendering that carries exactly the module matrix', async () => {
    const code = await encodeCode(payload200.subarray(0, 40), { kind: 'request' });
    expect(code.svg).toContain('<svg');
    const lines = code.terminal.trimEnd().split('\n');
    const q = 4;
    const W = code.matrix.width + 2 * q;
    expect(lines[0]!.length).toBe(W);
    // Undo the half blocks: light = drawn.
    const back: ModuleMatrix = { width: code.matrix.width, height: code.matrix.height, modules: new Uint8Array(code.matrix.modules.length) };
    for (let y = 0; y < code.matrix.height; y++) {
      for (let x = 0; x < code.matrix.width; x++) {
        const Y = y + q;
        const ch = lines[Y >> 1]![x + q]!;
        const top = ch === '\u2588' || ch === '\u2580';
        const bottom = ch === '\u2588' || ch === '\u2584';
        back.modules[y * back.width + x] = (Y & 1 ? bottom : top) ? 0 : 1;
      }
    }
    expect(back.modules).toEqual(code.matrix.modules);
  });

  it('reads RGBA and grayscale frames, and picks the offpay code among several symbols', async () => {
    const ours = await encodeCode(payload200.subarray(0, 60), { kind: 'request' });
    const foreign = await renderContent('https://example.com/menu?table=12');
    const gray = frameWith(640, 480, [
      { m: foreign.matrix, x: 30, y: 40, ppm: 5 },
      { m: ours.matrix, x: 330, y: 60, ppm: 5 },
    ]);
    const d = await decodeCode(gray);
    expect(d.kind).toBe('request');
    expect(d.payload).toEqual(payload200.subarray(0, 60));
    expect(d.symbolsInView).toBe(2);
    const rgba = new Uint8Array(640 * 480 * 4);
    for (let i = 0; i < 640 * 480; i++) {
      rgba.fill(gray.data[i]!, i * 4, i * 4 + 3);
      rgba[i * 4 + 3] = 255;
    }
    expect((await decodeCode({ width: 640, height: 480, data: rgba, format: 'rgba' })).payload).toEqual(d.payload);
    // Only a foreign code in view.
    const onlyForeign = frameWith(640, 480, [{ m: foreign.matrix, x: 30, y: 40, ppm: 5 }]);
    expect(await errorCode(() => decodeCode(onlyForeign))).toBe('qr.foreign_code');
    // A token and a request in view: `expect` picks.
    const token = await encodeCode(payload200.subarray(0, 50), { kind: 'token' });
    const both = frameWith(640, 480, [
      { m: ours.matrix, x: 20, y: 40, ppm: 5 },
      { m: token.matrix, x: 330, y: 60, ppm: 5 },
    ]);
    expect((await decodeCode(both, { expect: 'token' })).payload).toEqual(payload200.subarray(0, 50));
    expect((await decodeCode(both, { expect: 'request' })).payload).toEqual(payload200.subarray(0, 60));
    expect(await errorCode(() => decodeCode(frameWith(640, 480, [{ m: ours.matrix, x: 20, y: 40, ppm: 5 }]), { expect: 'token' }))).toBe(
      'qr.wrong_kind',
    );
  });

  it('types a damaged symbol, an empty frame, and damaged content', async () => {
    const code = await encodeCode(payload200);
    const m = { ...code.matrix, modules: code.matrix.modules.slice() };
    // Flip a third of the modules in the data region: far beyond level M's ~15 % correction.
    for (let y = 12; y < 45; y++) for (let x = 12; x < 45; x++) if ((x + y) % 3 === 0) m.modules[y * m.width + x] = m.modules[y * m.width + x]! ^ 1;
    expect(await errorCode(() => decodeCode(frameWith(640, 480, [{ m, x: 100, y: 60, ppm: 5 }])))).toBe('qr.damaged');
    expect(await errorCode(() => decodeCode(frameWith(640, 480, [])))).toBe('qr.no_code');
    // A foreign code reads, ours next to it is damaged: report the damage, not "foreign".
    const url = await renderContent('https://example.com/');
    const mixed = frameWith(800, 480, [
      { m: url.matrix, x: 20, y: 40, ppm: 5 },
      { m, x: 300, y: 60, ppm: 5 },
    ]);
    expect(await errorCode(() => decodeCode(mixed))).toBe('qr.damaged');
    const bad = await renderContent('OP1T:A'); // offpay header, body of 1 char: not Base45
    expect(await errorCode(() => decodeCode(bad.png))).toBe('qr.bad_base45');
    const v2 = await renderContent('OP2T:BB8');
    expect(await errorCode(() => decodeCode(v2.png))).toBe('qr.unsupported_version');
  });

  it('gives typed errors for bad images, before decoding', async () => {
    const png = (await encodeCode(payload200)).png;
    expect(await errorCode(() => decodeCode(new Uint8Array()))).toBe('qr.image_empty');
    expect(await errorCode(() => decodeCode(new TextEncoder().encode('hello, this is not an image')))).toBe('qr.not_an_image');
    expect(await errorCode(() => decodeCode(png.subarray(0, png.length - 20)))).toBe('qr.image_truncated');
    expect(await errorCode(() => decodeCode(png.subarray(0, 4)))).toBe('qr.image_truncated');
    const corrupt = png.slice();
    corrupt[60] = corrupt[60]! ^ 0xff;
    expect(await errorCode(() => decodeCode(corrupt))).toBe('qr.bad_image');
    // A valid header (with a correct CRC) claiming 60000 x 60000 pixels.
    const huge = png.slice();
    const dv = new DataView(huge.buffer);
    dv.setUint32(16, 60000);
    dv.setUint32(20, 60000);
    dv.setUint32(29, crc32(huge, 12, 29));
    expect(await errorCode(() => decodeCode(huge))).toBe('qr.image_too_large');
    expect(await errorCode(() => decodeCode(png, { maxSide: 100 }))).toBe('qr.image_too_large');
    expect(await errorCode(() => decodeCode({ width: 100000, height: 100000, data: new Uint8Array(1), format: 'gray' }))).toBe(
      'qr.image_too_large',
    );
    expect(await errorCode(() => decodeCode({ width: 10, height: 10, data: new Uint8Array(99), format: 'gray' }))).toBe('qr.bad_image');
    expect(await errorCode(() => decodeCode({ width: 0, height: 10, data: new Uint8Array(0), format: 'gray' }))).toBe('qr.bad_image');
    expect(await errorCode(() => decodeCode(Uint8Array.of(0xff, 0xd8, 0xff, 0xe0, 0, 16)))).toBe('qr.image_truncated');
    // spec/qr.md §8 step 2, the signature: a damaged PNG signature ("PNG" at bytes 1 to 3, 8 bytes or more) is
    // bad_image; fewer than 8 bytes that begin a PNG signature, or FF, are image_truncated; anything else
    // is not_an_image.
    const damaged = png.slice();
    damaged[0] = 0x88;
    expect(await errorCode(() => decodeCode(damaged))).toBe('qr.bad_image');
    const lineEnds = png.slice();
    lineEnds[4] = 0x0a; // a CR turned into LF by a text transfer
    expect(await errorCode(() => decodeCode(lineEnds))).toBe('qr.bad_image');
    expect(await errorCode(() => decodeCode(Uint8Array.of(0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a)))).toBe('qr.image_truncated');
    expect(await errorCode(() => decodeCode(Uint8Array.of(0xff, 0x00)))).toBe('qr.image_truncated');
    expect(await errorCode(() => decodeCode(Uint8Array.of(0x00, 0x50, 0x4e, 0x47)))).toBe('qr.not_an_image'); // "PNG" at 1..3, under 8 bytes
    expect(await errorCode(() => decodeCode(Uint8Array.of(0x89, 0x50, 0x4e, 0x46, 0x0d, 0x0a, 0x1a, 0x0a, 0)))).toBe('qr.not_an_image');
  });

  it('never throws anything but OffpayError on mutated or random image bytes (property)', async () => {
    const png = (await encodeCode(payload200.subarray(0, 30), { scale: 2 })).png;
    await fc.assert(
      fc.asyncProperty(
        fc.oneof(
          fc.uint8Array({ maxLength: 300 }),
          fc.tuple(fc.nat(png.length - 1), fc.nat(255)).map(([i, v]) => {
            const b = png.slice();
            b[i] = v;
            return b;
          }),
          fc.nat(png.length).map((n) => png.slice(0, n)),
        ),
        async (bytes) => {
          try {
            const d = await decodeCode(bytes);
            expect(d.payload).toEqual(payload200.subarray(0, 30));
          } catch (e) {
            expect(e).toBeInstanceOf(OffpayError);
            expect((e as OffpayError).code).toMatch(/^qr\./);
          }
        },
      ),
      { seed: 7, numRuns: 150 },
    );
  });

  it('never throws anything but OffpayError on malformed frames (property)', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.record({
          width: fc.oneof(fc.integer({ min: -5, max: 64 }), fc.constant(1e9), fc.constant(Number.NaN), fc.constant(2.5)),
          height: fc.oneof(fc.integer({ min: -5, max: 64 }), fc.constant(1e9)),
          len: fc.nat(64 * 64 * 4 + 8),
          format: fc.constantFrom('rgba', 'gray', 'bgr'),
        }),
        async ({ width, height, len, format }) => {
          const frame = { width, height, data: new Uint8Array(len).fill(200), format } as unknown as Frame;
          try {
            await decodeCode(frame);
            throw new Error('a blank frame cannot decode');
          } catch (e) {
            expect(e).toBeInstanceOf(OffpayError);
            expect((e as OffpayError).code).toMatch(/^qr\.(bad_image|image_too_large|no_code)$/);
          }
        },
      ),
      { seed: 8, numRuns: 150 },
    );
  });
});
