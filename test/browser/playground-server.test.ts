/**
 * The playground server without a browser: http on loopback and https elsewhere, CSP on every response, path
 * confinement, bounded and validated API input, and the CLI's exit 2 for TLS options on loopback http. Needs `npm run build` (dist/web).
 */
import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CSP, checkOptions, isLoopback, startPlayground, type Playground } from '../../src/playground/server.js';
import { decodeIssuerKeySet, decodeReaderCert, decodeWalletCert } from '../../src/messages.js';
import { verifyBlocklist } from '../../src/reader/blocklist.js';
import { publicKeyOf, randomSecretKey } from '../../src/crypto.js';

const ROOT = resolve('.');
const WEB = join(ROOT, 'dist/web');
const haveBuild = existsSync(join(WEB, 'reader.js')) && existsSync(join(ROOT, 'dist/src/cli/main.js'));
if (process.env.CI === 'true' && !haveBuild) throw new Error('CI: dist/ is missing (npm run build)');
const hexBytes = (h: string) => Uint8Array.from(Buffer.from(h, 'hex'));

let pg: Playground | undefined;
beforeAll(async () => {
  if (haveBuild) pg = await startPlayground({ port: 0, webDir: WEB });
});
afterAll(() => pg?.close());

describe('loopback is http, anything else https', () => {
  it('tells loopback names from the rest; a non-loopback host is served over TLS (no longer refused)', () => {
    for (const h of ['127.0.0.1', '127.1.2.3', 'localhost', '::1']) {
      expect(isLoopback(h)).toBe(true);
      expect(checkOptions({ host: h }).tls).toBe(false);
    }
    for (const h of ['0.0.0.0', '192.168.1.5', '::', 'example.com', '127.0.0.1.evil.com']) {
      expect(isLoopback(h)).toBe(false);
      expect(checkOptions({ host: h }).tls).toBe(true);
    }
  });
  it.skipIf(!haveBuild)('the CLI exits 2 for TLS options on a loopback http server', async () => {
    const r = await promisify(execFile)(process.execPath, [join(ROOT, 'dist/src/cli/main.js'), 'playground', '--port', '0', '--tls-cert', 'c.pem', '--tls-key', 'k.pem']).catch((e: { code: number; stderr: string }) => e);
    expect('code' in r && r.code).toBe(2);
    expect((r as { stderr: string }).stderr).toMatch(/loopback.*\[playground\.bad_options\]/);
  });
});

describe.skipIf(!haveBuild)('the server', () => {
  it('serves pages, bundles and the local wasm, every response with the CSP', async () => {
    for (const [path, type] of [['/reader', 'text/html'], ['/wallet', 'text/html'], ['/web/reader.js', 'text/javascript'], ['/web/decoder-worker.js', 'text/javascript'], ['/web/capture-worklet.js', 'text/javascript'], ['/web/zxing_full.wasm', 'application/wasm'], ['/nope', 'text/plain']] as const) {
      const r = await fetch(pg!.url + path);
      expect(r.headers.get('content-security-policy'), path).toBe(CSP);
      expect(r.headers.get('content-type'), path).toContain(type);
      expect(r.status, path).toBe(path === '/nope' ? 404 : 200);
    }
    expect(CSP).toContain("script-src 'self' 'wasm-unsafe-eval'");
    const html = await (await fetch(pg!.url + '/reader')).text();
    expect(html).toContain('DEMO');
    expect(html).not.toMatch(/<script(?![^>]*\bsrc=)/); // no inline script
  });
  it('confines paths to dist/web', async () => {
    for (const p of ['/web/..%2f..%2fpackage.json', '/web/%2e%2e/src/cli/main.js', '/web/../../package.json', '/web/reader.js.map']) {
      expect((await fetch(pg!.url + p)).status, p).toBe(404);
    }
  });
  it('/api/setup hands out the demo world: parsable key set, reader certificates, a fresh signed blocklist with rising versions', async () => {
    const a = (await (await fetch(pg!.url + '/api/setup')).json()) as { issuerKeys: string; readers: { readerId: number; cert: string }[]; blocklist: string };
    const b = (await (await fetch(pg!.url + '/api/setup')).json()) as typeof a;
    const keys = decodeIssuerKeySet(hexBytes(a.issuerKeys));
    expect(a.readers.map((r) => [r.readerId, decodeReaderCert(hexBytes(r.cert)).profile])).toEqual([[4201, 'vending'], [5001, 'transit']]);
    expect(verifyBlocklist(hexBytes(b.blocklist), keys).version).toBe(verifyBlocklist(hexBytes(a.blocklist), keys).version + 1);
  });
  it('/api/wallet-cert certifies a 32-byte key and refuses anything else, bounded', async () => {
    const post = (body: string) => fetch(pg!.url + '/api/wallet-cert', { method: 'POST', headers: { 'content-type': 'application/json' }, body });
    const ok = await post(JSON.stringify({ publicKey: Buffer.from(publicKeyOf(randomSecretKey())).toString('hex') }));
    expect(ok.status).toBe(200);
    expect(decodeWalletCert(hexBytes(((await ok.json()) as { cert: string }).cert)).maxPerPayment).toBe(20_000);
    for (const body of [JSON.stringify({ publicKey: 'ab'.repeat(31) }), JSON.stringify({ publicKey: '00'.repeat(32) }), '{', JSON.stringify({}), JSON.stringify({ publicKey: 'AB'.repeat(32) }), 'x'.repeat(5000)]) {
      const r = await post(body).catch(() => undefined);
      if (r) expect(r.status, body.slice(0, 40)).toBe(400);
    }
  });
});
