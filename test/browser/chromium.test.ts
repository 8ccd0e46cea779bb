/**
 * The browser promise, checked in a real browser: Debian's Chromium, driven by playwright-core, loads the
 * built ESM modules from a loopback server (an import map points bare specifiers at node_modules), then
 * runs the protocol core (noble and WebCrypto on every test vector), the FSK modem through Web Audio
 * (OfflineAudioContext), and the QR engine with the wasm served by the page. Any request that leaves
 * 127.0.0.1 fails the test (the zxing CDN default must never be used).
 * Needs `npm run build` first (npm test does it). Under CI=true a missing Chromium fails the test.
 */
import type { Server } from 'node:http';
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join, relative, resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { serveRepoPage } from './repo-page.js';

const CHROMIUM = '/usr/bin/chromium';
const ROOT = resolve('.');
const haveChromium = existsSync(CHROMIUM);
const haveBuild = existsSync(join(ROOT, 'dist/src/index.js'));
if (process.env.CI === 'true' && !haveChromium) throw new Error(`CI: ${CHROMIUM} is missing (apt-get install chromium)`);

let server: Server;
let base = '';

beforeAll(async () => {
  ({ server, base } = await serveRepoPage(ROOT));
});
afterAll(() => new Promise<void>((r) => (server ? server.close(() => r()) : r())));

const LAUNCH_ARGS = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'];

/**
 * examples/browser bundled as a web team would: esbuild resolves `offpay/...` through the package's exports
 * (self-reference to dist/), and the page serves the zxing wasm copied from the installed package.
 */
async function bundleBrowserExample(): Promise<string> {
  const { build } = await import('esbuild');
  mkdirSync(join(ROOT, '.scratch'), { recursive: true });
  const out = mkdtempSync(join(ROOT, '.scratch', 'example-browser-'));
  const r = await build({
    entryPoints: [join(ROOT, 'examples/browser/main.ts')],
    bundle: true, platform: 'browser', format: 'esm', target: 'es2022', minify: true, outdir: out, logLevel: 'silent', tsconfigRaw: '{}',
  });
  expect(r.errors).toEqual([]);
  expect(r.warnings).toEqual([]);
  copyFileSync(join(ROOT, 'examples/browser/index.html'), join(out, 'index.html'));
  copyFileSync(createRequire(import.meta.url).resolve('zxing-wasm/full/zxing_full.wasm'), join(out, 'zxing_full.wasm'));
  return out;
}

describe.skipIf(!haveChromium || !haveBuild)('in Chromium', () => {
  it('examples/browser: the bundled page takes a payment with nothing fetched from outside the page', async () => {
    const out = await bundleBrowserExample();
    const { chromium } = await import('playwright-core');
    const browser = await chromium.launch({ executablePath: CHROMIUM, args: LAUNCH_ARGS });
    try {
      const page = await browser.newPage();
      const foreign: string[] = [];
      page.on('request', (r) => {
        if (!r.url().startsWith(base) && !r.url().startsWith('data:') && !r.url().startsWith('blob:')) foreign.push(r.url());
      });
      const errors: string[] = [];
      page.on('pageerror', (e) => errors.push(String(e)));
      await page.goto(`${base}/${relative(ROOT, out)}/index.html`);
      await page.waitForFunction(() => (window as unknown as { __example?: unknown }).__example !== undefined, undefined, { timeout: 50_000 });
      const result = (await page.evaluate(() => (window as unknown as { __example: unknown }).__example)) as Record<string, unknown>;
      if (result.error) throw new Error(`in the browser: ${String(result.error)}`);
      expect(errors).toEqual([]);
      expect(foreign).toEqual([]);
      expect(result).toMatchObject({ accepted: true, qrOk: true, fskOk: true });
      expect(await page.textContent('p')).toBe('paid HKD 12.50');
    } finally {
      await browser.close();
      rmSync(out, { recursive: true, force: true });
    }
  });

  it('runs the core, every vector with noble and WebCrypto, FSK through Web Audio, and QR with a locally served wasm', async () => {
    const { chromium } = await import('playwright-core');
    const browser = await chromium.launch({ executablePath: CHROMIUM, args: LAUNCH_ARGS });
    try {
      const page = await browser.newPage();
      const foreign: string[] = [];
      page.on('request', (r) => {
        if (!r.url().startsWith(base) && !r.url().startsWith('data:') && !r.url().startsWith('blob:')) foreign.push(r.url());
      });
      const errors: string[] = [];
      page.on('pageerror', (e) => errors.push(String(e)));
      await page.goto(`${base}/`);
      await page.waitForFunction(() => (window as unknown as { __offpay?: unknown }).__offpay !== undefined, undefined, { timeout: 50_000 });
      const result = (await page.evaluate(() => (window as unknown as { __offpay: unknown }).__offpay)) as Record<string, unknown>;
      if (result.error) throw new Error(`in the browser: ${String(result.error)}`);
      expect(errors).toEqual([]);
      expect(foreign).toEqual([]);
      expect(result).toMatchObject({ noble: true, webcryptoAvailable: true, webcrypto: true, vectorProblems: [], fskOk: true, qrOk: true });
      expect(result.cases as number).toBeGreaterThanOrEqual(100);
    } finally {
      await browser.close();
    }
  });
});
