/**
 * The playground wallet page keeps its counter across certificates (spec/playground.md §3, spec/protocol.md §9.1):
 * the wallet attack review (2026-12-07) found that a new certificate for the same key (the server's issuer key set
 * changed: a restart with a new demo issuer, a rotation) wrote counter 0 again, so the next payment signed counter 1
 * a second time and clearing blocked the wallet as a clone; and that a missing counter started again at 0. Now the
 * counter stays, and a missing one refuses to pay (wallet.counter_missing). Real Chromium, the CLI's playground.
 * Needs `npm run build` first. Under CI=true a missing Chromium or build fails the test.
 */
import type { ChildProcess } from 'node:child_process';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CHROMIUM, CLI, LAUNCH_ARGS, haveBuild, haveChromium, startPlaygroundCli, waitText } from './playground-harness.js';

let proc: ChildProcess | undefined;
let base = '';

beforeAll(async () => {
  if (!haveChromium || !haveBuild) return;
  ({ proc, base } = await startPlaygroundCli(CLI, [], 'http', 20_000));
});

afterAll(() => {
  proc?.kill('SIGTERM');
});

/** Run `f` on the page's IndexedDB key-value store of the wallet (database offpay-wallet, store kv). */
const kvPut = (key: string, value: unknown) => `new Promise((ok, no) => { const o = indexedDB.open('offpay-wallet', 1); o.onsuccess = () => { const tx = o.result.transaction('kv', 'readwrite'); ${value === undefined ? `tx.objectStore('kv').delete('${key}')` : `tx.objectStore('kv').put(${JSON.stringify(value)}, '${key}')`}; tx.oncomplete = () => { o.result.close(); ok(true); }; tx.onerror = () => no(tx.error); }; o.onerror = () => no(o.error); })`;

describe.skipIf(!haveChromium || !haveBuild)('the playground wallet page and its counter', () => {
  it('a new certificate for the same key keeps the counter; a missing counter refuses to pay', async () => {
    const { chromium } = await import('playwright-core');
    const browser = await chromium.launch({ executablePath: CHROMIUM, args: LAUNCH_ARGS });
    try {
      const page = await browser.newPage();
      await page.goto(`${base}/wallet`);
      await page.waitForFunction(() => document.body.dataset.ready === 'true' || document.body.dataset.error !== undefined, undefined, { timeout: 30_000 });
      expect(await page.evaluate(() => document.body.dataset.error)).toBeUndefined();
      await waitText(page, '#identity', /counter 0$/);
      // Pay a gate's fare twice, shown as QR codes: counters 1 and 2.
      for (const n of [1, 2]) {
        await page.fill('#fare', '2.00');
        await page.click('#payQr');
        await waitText(page, '#identity', new RegExp(`counter ${n}$`));
      }
      // The server's key set "changed": the page fetches a new certificate for its key on the next load.
      await page.evaluate(kvPut('issuerKeys', 'changed'));
      await page.reload();
      await page.waitForFunction(() => document.body.dataset.ready === 'true' || document.body.dataset.error !== undefined, undefined, { timeout: 30_000 });
      expect(await page.evaluate(() => document.body.dataset.error)).toBeUndefined();
      await waitText(page, '#identity', /counter 2$/);
      await page.fill('#fare', '2.00');
      await page.click('#payQr');
      await waitText(page, '#identity', /counter 3$/);
      // The counter is lost (storage damaged): the page refuses, it does not start again at 0.
      await page.evaluate(kvPut('counter', undefined));
      await page.reload();
      await page.waitForFunction(() => document.body.dataset.ready === 'true' || document.body.dataset.error !== undefined, undefined, { timeout: 30_000 });
      expect(await page.evaluate(() => document.body.dataset.error ?? '')).toMatch(/counter is missing/);
    } finally {
      await browser.close();
    }
  }, 120_000);
});
