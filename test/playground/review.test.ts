/**
 * From an attack review of `offpay playground` (2026-12-07), each test one defect it found (they failed on the
 * reviewed code): DNS rebinding of the loopback http server (spec/playground.md §1.4 Host), a wallet certificate
 * for another site's request, the 400 answer to a body over 4,096 bytes, the code for a key no wallet may hold.
 * (One more finding, one reader identity with a replay memory per page, is a limit spec/playground.md §1.2
 * states.) Needs `npm run build` (dist/web).
 */
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { request as httpRequest } from 'node:http';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { publicKeyOf, randomSecretKey } from '../../src/crypto.js';
import { Issuer } from '../../src/issuer.js';
import { decodeWalletCert } from '../../src/messages.js';
import { saveIssuer, saveReader } from '../../src/node/files.js';
import { startPlayground, type Playground, type PlaygroundOptions } from '../../src/playground/server.js';

const WEB = join(resolve('.'), 'dist/web');
const haveBuild = existsSync(join(WEB, 'reader.js'));
if (process.env.CI === 'true' && !haveBuild) throw new Error('CI: dist/web is missing (npm run build)');
const NOW = Math.floor(Date.now() / 1000);
const hexBytes = (h: string) => Uint8Array.from(Buffer.from(h, 'hex'));
const hexOf = (b: Uint8Array) => Buffer.from(b).toString('hex');

const dir = mkdtempSync(join(tmpdir(), 'offpay-pg-review-'));
const ISS = join(dir, 'issuer');
const GATE = join(dir, 'gate');
const VM = join(dir, 'vm');

beforeAll(() => {
  const issuer = Issuer.fromSecret(9, 1, randomSecretKey(), NOW - 86400, NOW + 365 * 86400);
  saveIssuer(ISS, issuer);
  for (const [out, readerId, profile] of [[GATE, 5900, 'transit'], [VM, 4900, 'vending']] as const) {
    const sk = randomSecretKey();
    saveReader(out, sk, issuer.issueReaderCert({ readerId, readerPublicKey: publicKeyOf(sk), operatorId: 12, profile, notBefore: NOW - 60, notAfter: NOW + 86400 }, NOW));
  }
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const real = (o: Partial<PlaygroundOptions> = {}): PlaygroundOptions => ({ port: 0, host: '127.0.0.1', webDir: WEB, issuerDir: ISS, readerDirs: [VM, GATE], ...o });

async function withServer<T>(o: PlaygroundOptions, f: (pg: Playground, port: number) => Promise<T>): Promise<T> {
  const pg = await startPlayground(o);
  try {
    return await f(pg, (pg.server.address() as AddressInfo).port);
  } finally {
    await pg.close();
  }
}

type Answer = { status?: number; body?: string; err?: string };
/** A raw HTTP request to 127.0.0.1:port with headers we choose (fetch will not let us set Host). */
function raw(port: number, method: string, path: string, headers: Record<string, string | number>, body?: string): Promise<Answer> {
  return new Promise((res) => {
    const r = httpRequest({ host: '127.0.0.1', port, method, path, headers: { connection: 'close', ...headers } }, (m) => {
      let d = '';
      m.setEncoding('utf8');
      m.on('data', (c: string) => (d += c));
      m.on('end', () => res({ status: m.statusCode, body: d }));
      m.on('error', (e) => res({ err: String(e) }));
    });
    r.on('error', (e) => res({ err: String(e) }));
    if (body !== undefined) r.write(body);
    r.end();
  });
}

type Setup = { readers: { name: string; readerId: number; secretKey: string; cert: string }[]; issuerKeys: string; blocklist: string };

describe.skipIf(!haveBuild)('playground attack review', () => {
  it('DNS rebinding: the loopback http server refuses a foreign Host (421 playground.bad_host; it answered /api/setup with the readers\' secret keys)', async () => {
    // A page on http://rebind.attacker.example:PORT whose name re-resolves to 127.0.0.1 is same-origin with its own
    // name: the browser sends Host: rebind.attacker.example:PORT and lets the page read the answer. The server
    // never looks at Host, so a real issuer's reader keys served "only on loopback" reach any web page the
    // operator visits.
    await withServer(real(), async (_pg, port) => {
      const r = await raw(port, 'GET', '/api/setup', { host: `rebind.attacker.example:${port}` });
      const leaked = r.status === 200 && (JSON.parse(r.body!) as Setup).readers.some((x) => /^[0-9a-f]{64}$/.test(x.secretKey));
      expect(leaked, `status ${r.status}: ${r.body?.slice(0, 120)}`).toBe(false);
    });
  });

  it('DNS rebinding / foreign origin: /api/wallet-cert refuses a request from another site (it issued a real wallet certificate)', async () => {
    // With --issue-wallets on loopback, a rebinding page (Host and Origin its own name, text/plain: no preflight)
    // gets real spending power from the operator's issuer.
    await withServer(real({ issueWallets: true }), async (_pg, port) => {
      const origin = `http://rebind.attacker.example:${port}`;
      const r = await raw(port, 'POST', '/api/wallet-cert', { host: `rebind.attacker.example:${port}`, origin, 'content-type': 'text/plain;charset=UTF-8' }, JSON.stringify({ publicKey: hexOf(publicKeyOf(randomSecretKey())) }));
      const issued = r.status === 200 && decodeWalletCert(hexBytes((JSON.parse(r.body!) as { cert: string }).cert)).offlineAllowance > 0;
      expect(issued, `status ${r.status}: ${r.body?.slice(0, 120)}`).toBe(false);
    });
  });

  it('loopback names are still served (127.0.0.1, localhost, [::1] with any port), and the wallet page\'s own JSON request gets its certificate', async () => {
    await withServer(real({ issueWallets: true }), async (_pg, port) => {
      for (const host of [`127.0.0.1:${port}`, `localhost:${port}`, `LOCALHOST`, `127.0.0.2:${port}`, `[::1]:${port}`]) {
        expect((await raw(port, 'GET', '/api/setup', { host })).status, host).toBe(200);
      }
      for (const host of [`127.0.0.1.attacker.example:${port}`, 'localhost.attacker.example', `[::2]:${port}`]) {
        expect((await raw(port, 'GET', '/', { host })).status, host).toBe(421);
      }
      const body = JSON.stringify({ publicKey: hexOf(publicKeyOf(randomSecretKey())) });
      const ok = await raw(port, 'POST', '/api/wallet-cert', { host: `127.0.0.1:${port}`, origin: `http://127.0.0.1:${port}`, 'content-type': 'application/json' }, body);
      expect(ok.status).toBe(200);
      const other = await raw(port, 'POST', '/api/wallet-cert', { host: `127.0.0.1:${port}`, origin: 'http://evil.example', 'content-type': 'application/json' }, body);
      expect(JSON.parse(other.body!)).toMatchObject({ error: 'playground.bad_request' });
    });
  });

  it('a body over 4,096 bytes gets HTTP 400 playground.bad_request (it got a connection reset; spec §1.4)', async () => {
    await withServer({ port: 0, webDir: WEB }, async (_pg, port) => {
      const r = await raw(port, 'POST', '/api/wallet-cert', { 'content-type': 'application/json' }, JSON.stringify({ publicKey: 'ab'.repeat(32), pad: 'x'.repeat(5000) }));
      expect(r.err, 'the server dropped the connection').toBeUndefined();
      expect(r.status).toBe(400);
      expect(JSON.parse(r.body!)).toMatchObject({ error: 'playground.bad_request' });
    });
  });

  it('a bad (small-order) wallet key is playground.bad_request (it was issuer.weak_public_key, a code this API does not list)', async () => {
    await withServer({ port: 0, webDir: WEB }, async (_pg, port) => {
      const r = await raw(port, 'POST', '/api/wallet-cert', { 'content-type': 'application/json' }, JSON.stringify({ publicKey: '01' + '00'.repeat(31) }));
      expect(r.status).toBe(400);
      expect(JSON.parse(r.body!)).toMatchObject({ error: 'playground.bad_request' });
    });
  });
});
