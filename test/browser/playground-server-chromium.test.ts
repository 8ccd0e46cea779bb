/**
 * The playground as a real issuer's gate, over https, in Chromium: `offpay playground --issuer I --reader G
 * --https` (the same TLS path a LAN --host takes, on loopback). The gate page, a secure origin through the
 * self-signed certificate, hears over its (fake) microphone a fare paid by a wallet of that issuer that the
 * server never saw, and accepts it; the banner names the issuer and gate, not DEMO; the wallet page, with no
 * --issue-wallets, says how to get a certificate instead of failing silently.
 * The WAV has a long tail, so the fake microphone's loop brings the replay well after the first verdict is read.
 * Needs `npm run build`. Under CI=true a missing Chromium or build fails the test.
 */
import type { ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { publicKeyOf, randomSecretKey } from '../../src/crypto.js';
import { Issuer, dayOf } from '../../src/issuer.js';
import { saveIssuer, saveReader } from '../../src/node/files.js';
import { MemoryCounterStore, Wallet } from '../../src/wallet.js';
import { encode } from '../../codecs/fsk/modulate.js';
import { simulate } from '../../codecs/fsk/sim.js';
import { writeWav } from '../../codecs/fsk/wav.js';
import { CHROMIUM, CLI, FAKE_MEDIA, LAUNCH_ARGS, haveBuild, haveChromium, startPlaygroundCli } from './playground-harness.js';

const NOW = Math.floor(Date.now() / 1000);
const work = mkdtempSync(join(tmpdir(), 'offpay-pg-chromium-'));
let proc: ChildProcess | undefined;
let base = '';
let issuer: Issuer;

beforeAll(async () => {
  if (!haveChromium || !haveBuild) return;
  issuer = Issuer.fromSecret(9, 1, randomSecretKey(), NOW - 86400, NOW + 365 * 86400);
  saveIssuer(join(work, 'issuer'), issuer);
  const sk = randomSecretKey();
  saveReader(join(work, 'gate'), sk, issuer.issueReaderCert({ readerId: 5900, readerPublicKey: publicKeyOf(sk), operatorId: 12, profile: 'transit', notBefore: NOW - 60, notAfter: NOW + 86400 }, NOW));
  ({ proc, base } = await startPlaygroundCli(CLI, ['--issuer', join(work, 'issuer'), '--reader', join(work, 'gate'), '--https', '--tls-dir', join(work, 'tls')], 'https', 30_000));
});

afterAll(() => {
  proc?.kill('SIGTERM');
  rmSync(work, { recursive: true, force: true });
});

describe.skipIf(!haveChromium || !haveBuild)('playground with a real issuer, over https, in Chromium', () => {
  it("the gate page accepts a fare from a wallet of that issuer; the wallet page explains the missing --issue-wallets", async () => {
    // A wallet of issuer 9 made apart from the server (the operator's own `offpay wallet new`).
    const wsk = randomSecretKey();
    const wallet = new Wallet({
      secretKey: wsk,
      cert: issuer.issueWalletCert({ walletPublicKey: publicKeyOf(wsk), expiryDay: dayOf(NOW) + 5, maxPerPayment: 10_000, offlineAllowance: 20_000, currency: 344 }, NOW),
      counter: new MemoryCounterStore(),
    });
    const token = await wallet.payTo({ payee: 5900, amount: 200 });
    const rate = 48_000;
    const air = simulate(encode(token, { profile: 'fast', sampleRate: rate }), rate, {
      seed: 15, snrDb: 20, noise: 'pink', rt60: 0.2, drrDb: 12, bandLowHz: 200, bandHighHz: 14_000, clockOffset: 0.001, leadIn: 1.0, tail: 20,
    });
    const wav = join(work, 'fare.wav');
    writeFileSync(wav, writeWav(air.samples, air.rate, 'pcm16'));

    const { chromium } = await import('playwright-core');
    const browser = await chromium.launch({
      executablePath: CHROMIUM,
      args: [...LAUNCH_ARGS, ...FAKE_MEDIA, `--use-file-for-fake-audio-capture=${wav}`],
    });
    try {
      // The self-signed certificate is what a phone's user accepts on its warning page; here the context does.
      const context = await browser.newContext({ ignoreHTTPSErrors: true, permissions: ['microphone'] });
      const page = await context.newPage();
      const errors: string[] = [];
      page.on('pageerror', (e) => errors.push(String(e)));
      await page.goto(`${base}/reader?fare=2.00&currency=HKD`);
      expect(await page.evaluate(() => window.isSecureContext)).toBe(true);
      const banner = (await page.textContent('#banner')) ?? '';
      expect(banner).toContain('Issuer 9');
      expect(banner).toContain('gate 5900');
      expect(banner).not.toContain('DEMO');
      await page.waitForFunction(() => document.body.dataset.verdict !== undefined || document.body.dataset.error !== undefined, undefined, { timeout: 90_000 });
      const d = await page.evaluate(() => ({ ...document.body.dataset }));
      expect(d.error).toBeUndefined();
      expect(d).toMatchObject({ verdict: 'accepted', verdicts: '1' });
      expect(await page.textContent('#title')).toBe('Gate 5900');

      const w = await context.newPage();
      w.on('pageerror', (e) => errors.push(String(e)));
      await w.goto(`${base}/wallet`);
      await w.waitForFunction(() => document.body.dataset.ready === 'true' || document.body.dataset.error !== undefined, undefined, { timeout: 30_000 });
      expect(await w.evaluate(() => document.body.dataset.error)).toMatch(/does not certify wallets: restart it with --issue-wallets/);
      expect(errors).toEqual([]);
    } finally {
      await browser.close();
    }
  }, 240_000);
});
