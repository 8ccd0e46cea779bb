/**
 * `offpay playground`'s camera path end to end in real Chromium (issue 14, "Tests"): Chromium's fake camera
 * plays a Y4M file this test writes (test/browser/y4m.ts: a QR code centred on a grey background for a few
 * frames, then grey frames, 640x480 at 10 fps; Chromium loops it).
 *
 * - The gate page scans a token shown to the camera in its Worker: `accepted` (with the reader-signed receipt,
 *   checked here against the reader's key and the token), then, as the file loops and the code comes back into
 *   view, `rejected:replayed`.
 * - A whole payment by QR codes: the vending page (`?via=qr`) shows its signed request; the wallet page (a phone
 *   viewport) reads it from a Y4M of that request through its camera, fills it in and shows its token as a QR
 *   code; the vending page, shown that token by its camera, accepts it with a receipt, opens a new request, and
 *   refuses the replay.
 * - Narrow viewport (390x844): both pages lay out in one column with no horizontal scroll, the verdict inside
 *   the viewport.
 * Screenshots: test-results/playground-camera-*.png. Needs `npm run build`. Under CI=true a missing Chromium
 * or build fails.
 */
import type { ChildProcess } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { decodeReaderCert, decodeRequest } from '../../src/messages.js';
import { verifyReceipt } from '../../src/verify.js';
import { decodeCode, encodeCode, type PayloadKind } from '../../codecs/qr/index.js';
import { loadQrEngineNode } from '../../codecs/qr/node.js';
import { greyFrame, qrFrame, writeY4m } from './y4m.js';
import { CHROMIUM, CLI, FAKE_MEDIA, LAUNCH_ARGS, ROOT, haveBuild, haveChromium, waitText, startPlaygroundCli, demoWallet } from './playground-harness.js';

const SHOTS = join(ROOT, 'test-results');
const W = 640;
const H = 480;
const FPS = 10;
const PHONE = { viewport: { width: 390, height: 844 }, isMobile: true, hasTouch: true, deviceScaleFactor: 2 };
const DESKTOP = { viewport: { width: 1280, height: 800 } };

let proc: ChildProcess | undefined;
let base = '';
let work = '';

beforeAll(async () => {
  if (!haveChromium || !haveBuild) return;
  await loadQrEngineNode();
  mkdirSync(join(ROOT, '.scratch'), { recursive: true });
  mkdirSync(SHOTS, { recursive: true });
  work = mkdtempSync(join(ROOT, '.scratch', 'playcam-'));
  ({ proc, base } = await startPlaygroundCli(CLI, [], 'http', 20_000));
});

afterAll(() => {
  proc?.kill('SIGTERM');
  if (work) rmSync(work, { recursive: true, force: true });
});

/**
 * A Y4M of `payload` as an offpay code of `kind`: `shown` frames of the code, then `blank` grey frames (at 10 fps,
 * 2.5 s without the code: longer than the scanner's 1.5 s hold, so each loop is a new presentation).
 */
async function codeY4m(payload: Uint8Array, kind: PayloadKind, name: string, shown = 5, blank = 25): Promise<string> {
  const code = await encodeCode(payload, { kind });
  const frames = [...Array.from({ length: shown }, () => qrFrame(code.matrix, W, H)), ...Array.from({ length: blank }, () => greyFrame(W, H))];
  const file = join(work, name);
  writeFileSync(file, writeY4m(frames, W, H, FPS));
  return file;
}

type Body = { verdict?: string; verdicts?: string; error?: string; via?: string; receipt?: string; request?: string; scanFps?: string; camera?: string; cameraError?: string };
/** The test hooks, and (read in the same task, so they belong to the same verdict) the verdict and receipt texts. */
const bodyData = () => ({ ...document.body.dataset, verdictText: document.getElementById('verdict')?.textContent, receiptText: document.getElementById('receipt')?.textContent }) as Body & { verdictText?: string; receiptText?: string };


/** The page's layout at its viewport: no horizontal scroll, the verdict box inside the viewport width. */
async function layout(page: { evaluate<T>(f: () => T): Promise<T> }): Promise<{ scrollWidth: number; width: number; boxRight: number }> {
  return page.evaluate(() => {
    const v = document.getElementById('verdict') ?? document.getElementById('status');
    return { scrollWidth: document.documentElement.scrollWidth, width: window.innerWidth, boxRight: v ? v.getBoundingClientRect().right : 0 };
  });
}

/** The demo readers' certificates from /api/setup. */
async function readerCert(name: 'gate' | 'vending') {
  const setup = (await (await fetch(`${base}/api/setup`)).json()) as { readers: { name: string; cert: string }[] };
  return decodeReaderCert(Uint8Array.from(Buffer.from(setup.readers.find((r) => r.name === name)!.cert, 'hex')));
}

describe.skipIf(!haveChromium || !haveBuild)('offpay playground camera in Chromium', () => {
  it('the gate page accepts a token shown to the (fake) camera, with a signed receipt, then refuses it as replayed when it comes back; the page is one column on a phone', async () => {
    const token = await (await demoWallet(base)).payTo({ payee: 5001, amount: 200 });
    const y4m = await codeY4m(token, 'token', 'gate-token.y4m');
    const { chromium } = await import('playwright-core');
    const browser = await chromium.launch({ executablePath: CHROMIUM, args: [...LAUNCH_ARGS, ...FAKE_MEDIA, `--use-file-for-fake-video-capture=${y4m}`] });
    try {
      const context = await browser.newContext({ ...DESKTOP, permissions: ['camera', 'microphone'] });
      const page = await context.newPage();
      const errors: string[] = [];
      page.on('pageerror', (e) => errors.push(String(e)));
      page.on('console', (m) => {
        if (m.type() === 'error') errors.push(m.text());
      });
      const foreign: string[] = [];
      page.on('request', (q) => {
        if (!q.url().startsWith(base) && !q.url().startsWith('blob:') && !q.url().startsWith('data:')) foreign.push(q.url());
      });
      await page.goto(`${base}/reader?fare=2.00&currency=HKD`);
      await page.waitForFunction(() => document.body.dataset.verdict !== undefined || document.body.dataset.error !== undefined || document.body.dataset.cameraError !== undefined, undefined, { timeout: 60_000 });
      const first = await page.evaluate(bodyData);
      expect(first.error).toBeUndefined();
      expect(first.cameraError).toBeUndefined();
      expect(first).toMatchObject({ verdict: 'accepted', via: 'camera', verdicts: '1' });
      await page.screenshot({ path: join(SHOTS, 'playground-camera-gate-accepted.png'), fullPage: true });
      expect(first.verdictText).toBe('PAID HKD 2.00');
      // The receipt is the reader's signed message (spec/protocol.md §10) for this very token.
      const receipt = verifyReceipt(Uint8Array.from(Buffer.from(first.receipt!, 'hex')), (await readerCert('gate')).readerPublicKey, token);
      expect(receipt).toMatchObject({ readerId: 5001, outcome: 'accepted', reason: 0 });
      const shown = first.receiptText;
      expect(shown).toMatch(/amountHKD 2\.00/);
      expect(shown).toMatch(/reader5001/);
      expect(shown).toContain(Buffer.from(receipt.tokenHash).toString('hex').slice(0, 16));
      await waitText(page, '#cameraText', /scanner \(Worker\): \d+\.\d frames\/s/);

      // The file loops: the same token comes back into view.
      await page.waitForFunction(() => Number(document.body.dataset.verdicts) >= 2, undefined, { timeout: 30_000 });
      const second = await page.evaluate(bodyData);
      expect(second).toMatchObject({ verdict: 'rejected:replayed', via: 'camera' });
      expect(second.receipt).toBeUndefined();
      expect(await page.locator('#receipt').isHidden()).toBe(true);
      await page.screenshot({ path: join(SHOTS, 'playground-camera-gate-replayed.png'), fullPage: true });
      // Reported, not asserted (speed goals live in benchmarks).
      console.log(`playground camera scanner: ${await page.textContent('#cameraText')}`);
      expect(errors).toEqual([]);
      expect(foreign).toEqual([]);

      // A phone: one column, no horizontal scroll, the verdict readable inside the viewport.
      const phone = await browser.newContext({ ...PHONE, permissions: ['camera', 'microphone'] });
      const small = await phone.newPage();
      await small.goto(`${base}/reader?fare=2.00&currency=HKD`);
      await small.waitForFunction(() => document.body.dataset.verdict !== undefined, undefined, { timeout: 60_000 });
      await small.screenshot({ path: join(SHOTS, 'playground-camera-gate-phone.png'), fullPage: true });
      const l = await layout(small);
      expect(l.width).toBe(390);
      expect(l.scrollWidth).toBeLessThanOrEqual(l.width);
      expect(l.boxRight).toBeLessThanOrEqual(l.width);
      const wallet = await phone.newPage();
      await wallet.goto(`${base}/wallet`);
      await wallet.waitForFunction(() => document.body.dataset.ready === 'true', undefined, { timeout: 30_000 });
      const lw = await layout(wallet);
      expect(lw.scrollWidth).toBeLessThanOrEqual(lw.width);
      await wallet.screenshot({ path: join(SHOTS, 'playground-camera-wallet-phone.png'), fullPage: true });
    } finally {
      await browser.close();
    }
  }, 180_000);

  it('a payment by QR codes only: the wallet reads the vending request through its camera and shows its token; the vending page accepts it through its camera, renews its request and refuses the replay', async () => {
    const { chromium } = await import('playwright-core');
    const profile = join(work, 'reader-profile');
    const url = `${base}/reader?amount=12.50&currency=HKD&via=qr`;
    // 1. The vending machine shows its signed request as a QR code (kept in IndexedDB, in this browser profile).
    let ctx = await chromium.launchPersistentContext(profile, { executablePath: CHROMIUM, args: [...LAUNCH_ARGS, ...FAKE_MEDIA], ...DESKTOP, permissions: ['camera', 'microphone'] });
    let page = ctx.pages()[0] ?? (await ctx.newPage());
    await page.goto(url);
    await waitText(page, '#payment-code', /scan with the wallet: QR version \d+/);
    await page.screenshot({ path: join(SHOTS, 'playground-camera-vending-request.png'), fullPage: true });
    // What a camera sees of the screen: the request QR code as rendered.
    const request = (await decodeCode(await page.locator('#requestQr').screenshot(), { expect: 'request' })).payload;
    expect(decodeRequest(request)).toMatchObject({ amount: 1250, currency: 344, readerCert: { readerId: 4201 } });
    await ctx.close();

    // 2. The phone's camera sees that request.
    const requestY4m = await codeY4m(request, 'request', 'request.y4m');
    const phoneBrowser = await chromium.launch({ executablePath: CHROMIUM, args: [...LAUNCH_ARGS, ...FAKE_MEDIA, `--use-file-for-fake-video-capture=${requestY4m}`] });
    let token: Uint8Array;
    try {
      const phone = await phoneBrowser.newContext({ ...PHONE, permissions: ['camera', 'microphone'] });
      const wallet = await phone.newPage();
      const errors: string[] = [];
      wallet.on('pageerror', (e) => errors.push(String(e)));
      await wallet.goto(`${base}/wallet`);
      await wallet.waitForFunction(() => document.body.dataset.ready === 'true' || document.body.dataset.error !== undefined, undefined, { timeout: 30_000 });
      await wallet.click('#scan');
      await wallet.waitForFunction(() => document.body.dataset.request !== undefined || document.body.dataset.error !== undefined, undefined, { timeout: 30_000 });
      expect(await wallet.evaluate(bodyData)).toMatchObject({ request: '4201:1250:344' });
      expect(await wallet.textContent('#request')).toMatch(/^Reader 4201 \(operator 90\) asks HKD 12\.50: signed request checked/);
      expect(await wallet.evaluate(() => document.body.dataset.camera)).toBeUndefined(); // the camera stops once a request is read
      await wallet.screenshot({ path: join(SHOTS, 'playground-camera-wallet-request.png'), fullPage: true });
      await wallet.click('#payQr');
      await waitText(wallet, '#status', /as QR version \d+/);
      await waitText(wallet, '#identity', /HKD 487\.50 left offline; counter 1$/);
      expect(await wallet.textContent('#request')).toBe(''); // paid once: the request is not offered again
      const lw = await layout(wallet);
      expect(lw.scrollWidth).toBeLessThanOrEqual(lw.width);
      await wallet.screenshot({ path: join(SHOTS, 'playground-camera-wallet-token.png'), fullPage: true });
      token = (await decodeCode(await wallet.locator('#tokenQr').screenshot(), { expect: 'token' })).payload;
      expect(errors).toEqual([]);
    } finally {
      await phoneBrowser.close();
    }

    // 3. The machine's camera sees the wallet's token.
    const tokenY4m = await codeY4m(token, 'token', 'vending-token.y4m');
    ctx = await chromium.launchPersistentContext(profile, { executablePath: CHROMIUM, args: [...LAUNCH_ARGS, ...FAKE_MEDIA, `--use-file-for-fake-video-capture=${tokenY4m}`], ...DESKTOP, permissions: ['camera', 'microphone'] });
    try {
      page = ctx.pages()[0] ?? (await ctx.newPage());
      const errors: string[] = [];
      page.on('pageerror', (e) => errors.push(String(e)));
      await page.goto(url);
      await page.waitForFunction(() => document.body.dataset.verdict !== undefined || document.body.dataset.error !== undefined, undefined, { timeout: 60_000 });
      const v = await page.evaluate(bodyData);
      expect(v).toMatchObject({ verdict: 'accepted', via: 'camera', verdicts: '1' });
      await page.screenshot({ path: join(SHOTS, 'playground-camera-vending-paid.png'), fullPage: true });
      expect(v.verdictText).toBe('PAID HKD 12.50');
      const receipt = verifyReceipt(Uint8Array.from(Buffer.from(v.receipt!, 'hex')), (await readerCert('vending')).readerPublicKey, token);
      expect(receipt).toMatchObject({ readerId: 4201, outcome: 'accepted' });
      expect(v.receiptText).toMatch(/requestsigned request, challenge [0-9a-f]{16}/);
      // The sale is complete: a new request for the next customer.
      // (The page renders it after the verdict; read what the screen shows until it changes, as a camera would.)
      let next: Uint8Array | undefined;
      let lastError: unknown;
      for (let i = 0; i < 20 && !next; i++) {
        try {
          const shown = (await decodeCode(await page.locator('#requestQr').screenshot(), { expect: 'request' })).payload;
          if (!Buffer.from(shown).equals(Buffer.from(request))) next = shown;
        } catch (e) {
          lastError = e; // the image was being replaced
        }
        if (!next) await new Promise((r) => setTimeout(r, 250));
      }
      expect(next, `no new request shown (${String(lastError)})`).toBeDefined();
      expect(decodeRequest(next!)).toMatchObject({ amount: 1250, readerCert: { readerId: 4201 } });
      await page.waitForFunction(() => Number(document.body.dataset.verdicts) >= 2, undefined, { timeout: 30_000 });
      expect((await page.evaluate(bodyData)).verdict).toBe('rejected:replayed');
      expect(errors).toEqual([]);
    } finally {
      await ctx.close();
    }
  }, 240_000);
});
