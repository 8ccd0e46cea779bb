/**
 * IndexedDbReaderStore passes the ReaderStore behaviour suite (test/reader/store-suite.ts, the same one
 * MemoryReaderStore and SqliteReaderStore pass) in real Chromium, reopening the database as a reload does,
 * and keeps the explicit-creation rules (reader.store_missing / reader.store_exists).
 * Under CI=true a missing Chromium fails the test.
 */
import { existsSync } from 'node:fs';
import { resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { serveBundledPage } from './repo-page.js';

const CHROMIUM = '/usr/bin/chromium';
const ROOT = resolve('.');
const haveChromium = existsSync(CHROMIUM);
if (process.env.CI === 'true' && !haveChromium) throw new Error(`CI: ${CHROMIUM} is missing (apt-get install chromium)`);
const LAUNCH_ARGS = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'];

let served: { base: string; close(): Promise<void> } | undefined;
let base = '';

beforeAll(async () => {
  if (!haveChromium) return;
  served = await serveBundledPage(ROOT, 'test/browser/indexeddb-page.ts');
  base = served.base;
});
afterAll(async () => {
  await served?.close();
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
      expect(r).toEqual({ basics: [], model: [], prune: [], missing: 'reader.store_missing', missingStill: 'reader.store_missing', exists: 'reader.store_exists', failClosed: ['reader.store_unusable', 'reader.store_unusable'] });
      expect(errors).toEqual([]);
    } finally {
      await browser.close();
    }
  }, 120_000);
});
