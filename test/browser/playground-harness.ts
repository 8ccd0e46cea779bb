/**
 * The playground as the browser tests run it: the built CLI started as a child process (`offpay playground
 * --port 0 ...`), its address read from what it prints; and a wallet certified by its demo issuer.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { expect } from 'vitest';
import { decodeWalletCert } from '../../src/messages.js';
import { publicKeyOf, randomSecretKey } from '../../src/crypto.js';
import { MemoryCounterStore, Wallet } from '../../src/wallet.js';

/** Debian's Chromium, the browser the playground tests drive (playwright-core, no browser download). */
export const CHROMIUM = '/usr/bin/chromium';
/** The repository (vitest runs from it). */
export const ROOT = resolve('.');
/** The built CLI. */
export const CLI = join(ROOT, 'dist/src/cli/main.js');
/** Chromium is installed. */
export const haveChromium = existsSync(CHROMIUM);
/** The CLI and the page bundles are built (npm run build). */
export const haveBuild = existsSync(CLI) && existsSync(join(ROOT, 'dist/web/reader.js'));
if (process.env.CI === 'true' && !haveChromium) throw new Error(`CI: ${CHROMIUM} is missing (apt-get install chromium)`);
if (process.env.CI === 'true' && !haveBuild) throw new Error('CI: dist/ is missing (npm run build)');
/** Headless Chromium with nothing fetched from outside the machine. */
export const LAUNCH_ARGS = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'];

/** Fake camera and microphone granted without a prompt, audio allowed to start without a click. */
export const FAKE_MEDIA = ['--use-fake-device-for-media-stream', '--use-fake-ui-for-media-stream', '--autoplay-policy=no-user-gesture-required'];

/** The part of a playwright Page that waitText uses. */
export type PageLike = {
  waitForFunction(f: (a: [string, string]) => boolean, arg: [string, string], o: { timeout: number }): Promise<unknown>;
  textContent(sel: string): Promise<string | null>;
};
/** Wait until the element's text matches `re` (then return the text); the error says what it shows instead. */
export async function waitText(page: PageLike, sel: string, re: RegExp, timeout = 30_000): Promise<string> {
  await page
    .waitForFunction(([s, r]) => new RegExp(r).test(document.querySelector(s)?.textContent ?? ''), [sel, re.source], { timeout })
    .catch(async () => {
      throw new Error(`${sel} never matched ${re}: it shows ${JSON.stringify(await page.textContent(sel))}`);
    });
  return (await page.textContent(sel)) ?? '';
}

/**
 * Starts `node CLI playground --port 0 ...args` and resolves with the process and the first `scheme://127.0.0.1:PORT`
 * it prints; rejects with everything it printed if it exits first or prints no address within `timeoutMs`.
 */
export function startPlaygroundCli(cli: string, args: string[] = [], scheme: 'http' | 'https' = 'http', timeoutMs = 20_000): Promise<{ proc: ChildProcess; base: string }> {
  const proc = spawn(process.execPath, [cli, 'playground', '--port', '0', ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
  const address = new RegExp(`${scheme}://127\\.0\\.0\\.1:\\d+`);
  return new Promise((res, rej) => {
    let out = '';
    const t = setTimeout(() => rej(new Error(`playground did not start: ${out}`)), timeoutMs);
    proc.stdout!.on('data', (c: Buffer) => {
      out += c.toString();
      const m = address.exec(out);
      if (m) {
        clearTimeout(t);
        res({ proc, base: m[0] });
      }
    });
    proc.stderr!.on('data', (c: Buffer) => (out += c.toString()));
    proc.on('exit', (code) => rej(new Error(`playground exited ${code}: ${out}`)));
  });
}

/** A wallet certified by the demo issuer of the playground at `base` (POST /api/wallet-cert). */
export async function demoWallet(base: string): Promise<Wallet> {
  const sk = randomSecretKey();
  const r = await fetch(`${base}/api/wallet-cert`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ publicKey: Buffer.from(publicKeyOf(sk)).toString('hex') }) });
  expect(r.status).toBe(200);
  const cert = decodeWalletCert(Uint8Array.from(Buffer.from(((await r.json()) as { cert: string }).cert, 'hex')));
  return new Wallet({ secretKey: sk, cert, counter: new MemoryCounterStore() });
}
