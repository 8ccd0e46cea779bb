/**
 * IndexedDbReaderStore passes the ReaderStore behaviour suite (test/reader/store-suite.ts, the same one
 * MemoryReaderStore and SqliteReaderStore pass) in real Chromium, reopening the database as a reload does,
 * and keeps the explicit-creation rules (reader.store_missing / reader.store_exists).
 * Under CI=true a missing Chromium fails the test.
 */
import { createServer, type Server } from 'node:http';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { join, resolve } from 'node:path';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

const CHROMIUM = '/usr/bin/chromium';
const ROOT = resolve('.');
const haveChromium = existsSync(CHROMIUM);
if (process.env.CI === 'true' && !haveChromium) throw new Error(`CI: ${CHROMIUM} is missing (apt-get install chromium)`);
const LAUNCH_ARGS = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'];

let server: Server | undefined;
let base = '';
let out = '';

beforeAll(async () => {
  if (!haveChromium) return;
  const { build } = await import('esbuild');
  mkdirSync(join(ROOT, '.scratch'), { recursive: true });
  out = mkdtempSync(join(ROOT, '.scratch', 'idb-'));
  const r = await build({ entryPoints: [join(ROOT, 'test/browser/indexeddb-page.ts')], bundle: true, platform: 'browser', format: 'esm', target: 'es2022', outdir: out, logLevel: 'silent', tsconfigRaw: '{}' });
  expect(r.errors).toEqual([]);
  const js = readFileSync(join(out, 'indexeddb-page.js'));
  server = createServer((req, res) => {
    if (req.url === '/page.js') res.writeHead(200, { 'content-type': 'text/javascript' }).end(js);
    else res.writeHead(200, { 'content-type': 'text/html' }).end('<!doctype html><link rel="icon" href="data:,"><script type="module" src="/page.js"></script>');
  });
  await new Promise<void>((r2) => server!.listen(0, '127.0.0.1', r2));
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});
afterAll(async () => {
  await new Promise<void>((r) => (server ? server.close(() => r()) : r()));
  if (out) rmSync(out, { recursive: true, force: true });
});

describe.skipIf(!haveChromium)('IndexedDbReaderStore in Chromium', () => {
  it('passes the ReaderStore behaviour suite with reopen, refuses to recreate or invent a database, fails closed when a write fails', async () => {
    const { chromium } = await import('playwright-core');
    const browser = await chromium.launch({ executablePath: CHROMIUM, args: LAUNCH_ARGS });
    try {
      const page = await browser.newPage();
      const errors: string[] = [];
      page.on('pageerror', (e) => errors.push(String(e)));
      await page.goto(base);
      await page.waitForFunction(() => (window as unknown as { __idb?: unknown }).__idb !== undefined, undefined, { timeout: 90_000 });
      const r = (await page.evaluate(() => (window as unknown as { __idb: unknown }).__idb)) as Record<string, unknown>;
      if (r.error) throw new Error(`in the browser: ${String(r.error)}`);
      expect(r).toEqual({ basics: [], model: [], missing: 'reader.store_missing', missingStill: 'reader.store_missing', exists: 'reader.store_exists', failClosed: ['reader.store_unusable', 'reader.store_unusable'] });
      expect(errors).toEqual([]);
    } finally {
      await browser.close();
    }
  }, 120_000);
});
