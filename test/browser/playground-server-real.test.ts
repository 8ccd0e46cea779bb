/**
 * The playground with a real issuer and readers (--issuer DIR --reader DIR), and over HTTPS, without a browser:
 * the served key set is keyset.cbor's bytes, the reader page's keys are those readers', a reader built from
 * /api/setup accepts a token from a wallet of that issuer, wallet certificates only with --issue-wallets, the
 * blocklist rules of spec/playground.md §1.2, every bad directory and option combination with its typed code,
 * and an https GET over the self-signed certificate. Needs `npm run build` (dist/web).
 */
import { execFile } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync, copyFileSync } from 'node:fs';
import { request as httpsRequest } from 'node:https';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { randomSecretKey, publicKeyOf } from '../../src/crypto.js';
import { Issuer, dayOf } from '../../src/issuer.js';
import { decodeIssuerKeySet, decodeReaderCert, decodeWalletCert, walletIdOf } from '../../src/messages.js';
import { saveIssuer, saveReader } from '../../src/node/files.js';
import { createBlocklist, verifyBlocklist } from '../../src/reader/blocklist.js';
import { Reader } from '../../src/reader/reader.js';
import { MemoryReaderStore } from '../../src/reader/store.js';
import { MemoryCounterStore, Wallet } from '../../src/wallet.js';
import { CSP, checkOptions, startPlayground, type Playground, type PlaygroundOptions } from '../../src/playground/server.js';

const ROOT = resolve('.');
const WEB = join(ROOT, 'dist/web');
const CLI = join(ROOT, 'dist/src/cli/main.js');
const haveBuild = existsSync(join(WEB, 'reader.js')) && existsSync(CLI);
if (process.env.CI === 'true' && !haveBuild) throw new Error('CI: dist/ is missing (npm run build)');
const hexBytes = (h: string) => Uint8Array.from(Buffer.from(h, 'hex'));
const NOW = Math.floor(Date.now() / 1000);

const dir = mkdtempSync(join(tmpdir(), 'offpay-pg-real-'));
const ISS = join(dir, 'issuer');
const OTHER = join(dir, 'other-issuer');
const VM = join(dir, 'vm');
const GATE = join(dir, 'gate');
const GATE2 = join(dir, 'gate2');
const FOREIGN = join(dir, 'foreign-reader');
let issuer: Issuer;

function makeReader(iss: Issuer, out: string, readerId: number, profile: 'vending' | 'transit'): void {
  const sk = randomSecretKey();
  saveReader(out, sk, iss.issueReaderCert({ readerId, readerPublicKey: publicKeyOf(sk), operatorId: 31, profile, notBefore: NOW - 60, notAfter: NOW + 86400 }, NOW));
}

beforeAll(() => {
  issuer = Issuer.fromSecret(7, 1, randomSecretKey(), NOW - 86400, NOW + 365 * 86400);
  saveIssuer(ISS, issuer);
  const other = Issuer.fromSecret(7, 1, randomSecretKey(), NOW - 86400, NOW + 365 * 86400); // same id, other key
  saveIssuer(OTHER, other);
  makeReader(issuer, VM, 4300, 'vending');
  makeReader(issuer, GATE, 5300, 'transit');
  makeReader(issuer, GATE2, 5301, 'transit');
  makeReader(other, FOREIGN, 4400, 'vending');
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const real = (o: Partial<PlaygroundOptions> = {}): PlaygroundOptions => ({ port: 0, webDir: WEB, issuerDir: ISS, readerDirs: [VM, GATE], ...o });

async function withServer<T>(o: PlaygroundOptions, f: (pg: Playground) => Promise<T>): Promise<T> {
  const pg = await startPlayground(o);
  try {
    return await f(pg);
  } finally {
    await pg.close();
  }
}

type Setup = { demo: boolean; issuerId: number; issuerKeys: string; readers: { name: 'vending' | 'gate'; readerId: number; secretKey: string; cert: string }[]; blocklist: string; issuesWallets: boolean };
const setupOf = async (pg: Playground) => (await (await fetch(pg.url + '/api/setup')).json()) as Setup;
const postKey = (pg: Playground, pk: Uint8Array) => fetch(pg.url + '/api/wallet-cert', { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ publicKey: Buffer.from(pk).toString('hex') }) });

describe.skipIf(!haveBuild)('--issuer and --reader', () => {
  it("serves the issuer's keyset.cbor byte for byte, those readers' keys and certificates, and no DEMO banner", async () => {
    await withServer(real(), async (pg) => {
      const s = await setupOf(pg);
      expect(hexBytes(s.issuerKeys)).toEqual(new Uint8Array(readFileSync(join(ISS, 'keyset.cbor'))));
      expect(s).toMatchObject({ demo: false, issuerId: 7, issuesWallets: false });
      const files = [VM, GATE].map((d) => JSON.parse(readFileSync(join(d, 'reader.json'), 'utf8')) as { secretKey: string; cert: string });
      expect(s.readers).toEqual([
        { name: 'vending', readerId: 4300, secretKey: files[0]!.secretKey, cert: files[0]!.cert },
        { name: 'gate', readerId: 5300, secretKey: files[1]!.secretKey, cert: files[1]!.cert },
      ]);
      for (const page of ['/', '/reader', '/wallet']) {
        const r = await fetch(pg.url + page);
        expect(r.headers.get('content-security-policy')).toBe(CSP);
        const html = await r.text();
        expect(html, page).not.toContain('DEMO');
        expect(html, page).toMatch(/Issuer 7 — the reader page holds the secret keys of vending machine 4300 and gate 5300/);
      }
      expect(pg.world).toMatchObject({ demo: false, issuerId: 7 });
    });
  });

  it('a reader built from /api/setup accepts a fare paid by a wallet of that issuer (not one certified elsewhere), and refuses the replay', async () => {
    await withServer(real(), async (pg) => {
      const s = await setupOf(pg);
      const gate = s.readers.find((r) => r.name === 'gate')!;
      const reader = new Reader({ cert: decodeReaderCert(hexBytes(gate.cert)), secretKey: hexBytes(gate.secretKey), issuerKeys: decodeIssuerKeySet(hexBytes(s.issuerKeys)), store: new MemoryReaderStore() });
      reader.loadBlocklist(hexBytes(s.blocklist));
      const walletOf = (iss: Issuer) => {
        const sk = randomSecretKey();
        const cert = iss.issueWalletCert({ walletPublicKey: publicKeyOf(sk), expiryDay: dayOf(NOW) + 5, maxPerPayment: 10_000, offlineAllowance: 20_000, currency: 344 }, NOW);
        return new Wallet({ secretKey: sk, cert, counter: new MemoryCounterStore() });
      };
      const token = await walletOf(issuer).payTo({ payee: gate.readerId, amount: 200 });
      expect(await reader.accept(token, { fare: { amount: 200, currency: 344 }, complete: true })).toMatchObject({ accepted: true, amount: 200 });
      expect(await reader.accept(token, { fare: { amount: 200, currency: 344 }, complete: true })).toMatchObject({ accepted: false, reason: 'replayed' });
      const { loadIssuer } = await import('../../src/node/files.js');
      const foreign = await walletOf(loadIssuer(OTHER)).payTo({ payee: gate.readerId, amount: 200 });
      expect(await reader.accept(foreign, { fare: { amount: 200, currency: 344 }, complete: true })).toMatchObject({ accepted: false, reason: 'bad_certificate_signature' });
    });
  });

  it('wallet certificates: 403 playground.no_wallet_certs without --issue-wallets (with a message saying how), certificates of that issuer with it', async () => {
    const pk = publicKeyOf(randomSecretKey());
    await withServer(real(), async (pg) => {
      const r = await postKey(pg, pk);
      expect(r.status).toBe(403);
      const body = (await r.json()) as { error: string; message: string };
      expect(body.error).toBe('playground.no_wallet_certs');
      expect(body.message).toMatch(/--issue-wallets/);
    });
    await withServer(real({ issueWallets: true }), async (pg) => {
      const r = await postKey(pg, pk);
      expect(r.status).toBe(200);
      expect(decodeWalletCert(hexBytes(((await r.json()) as { cert: string }).cert)).walletPublicKey).toEqual(pk);
      // The certificate is the issuer's: a reader of that issuer accepts a token of a wallet certified this way.
      const sk = randomSecretKey();
      const own = decodeWalletCert(hexBytes(((await (await postKey(pg, publicKeyOf(sk))).json()) as { cert: string }).cert));
      expect(own).toMatchObject({ currency: 344, maxPerPayment: 20_000, offlineAllowance: 50_000 });
      const s = await setupOf(pg);
      expect(s.issuesWallets).toBe(true);
      const gate = s.readers.find((x) => x.name === 'gate')!;
      const reader = new Reader({ cert: decodeReaderCert(hexBytes(gate.cert)), secretKey: hexBytes(gate.secretKey), issuerKeys: issuer.keySet(), store: new MemoryReaderStore() });
      reader.loadBlocklist(hexBytes(s.blocklist));
      const token = await new Wallet({ secretKey: sk, cert: own, counter: new MemoryCounterStore() }).payTo({ payee: 5300, amount: 200 });
      expect(await reader.accept(token, { fare: { amount: 200, currency: 344 }, complete: true })).toMatchObject({ accepted: true });
    });
  });

  it('blocklist: with none in ISSUER, one empty list version 1 signed at start (the same bytes on every request); else the highest version found', async () => {
    await withServer(real(), async (pg) => {
      const [a, b] = [await setupOf(pg), await setupOf(pg)];
      expect(a.blocklist).toBe(b.blocklist);
      expect(verifyBlocklist(hexBytes(a.blocklist), issuer.keySet())).toMatchObject({ version: 1, entries: new Uint8Array(0) });
      expect(pg.world.blocklistSource).toMatchObject({ kind: 'signed-at-start', version: 1 });
    });
    const d = join(dir, 'with-lists');
    mkdirSync(d);
    for (const f of ['issuer.json', 'keyset.cbor']) copyFileSync(join(ISS, f), join(d, f));
    const blocked = walletIdOf(publicKeyOf(randomSecretKey()));
    const list = (version: number) => createBlocklist(issuer.currentKey(NOW), { issuerId: 7, version, issuedAt: NOW - version, walletIds: [blocked] }).bytes;
    writeFileSync(join(d, 'list-2.cbor'), list(2));
    writeFileSync(join(d, 'list-9.cbor'), list(9));
    writeFileSync(join(d, 'list-3.cbor'), list(3));
    writeFileSync(join(d, 'notes.cbor'), 'not cbor at all'); // not an offpay message: ignored
    await withServer(real({ issuerDir: d }), async (pg) => {
      expect(hexBytes((await setupOf(pg)).blocklist)).toEqual(list(9));
      expect(pg.world.blocklistSource).toMatchObject({ kind: 'file', path: join(d, 'list-9.cbor'), version: 9, entries: 1 });
    });
    // With a list present, issuer.json is not needed (nothing to sign) unless --issue-wallets.
    rmSync(join(d, 'issuer.json'));
    await withServer(real({ issuerDir: d }), async (pg) => expect(pg.world.blocklistSource).toMatchObject({ version: 9 }));
    await expect(startPlayground(real({ issuerDir: d, issueWallets: true }))).rejects.toMatchObject({ code: 'playground.bad_issuer', message: expect.stringMatching(/issuer\.json/) });
  });

  it('bad blocklists in ISSUER: a forged one and two different lists of one version are playground.bad_blocklist', async () => {
    const d = join(dir, 'bad-lists');
    mkdirSync(d);
    for (const f of ['issuer.json', 'keyset.cbor']) copyFileSync(join(ISS, f), join(d, f));
    const good = createBlocklist(issuer.currentKey(NOW), { issuerId: 7, version: 4, issuedAt: NOW, walletIds: [] }).bytes;
    const forged = Uint8Array.from(good);
    forged[forged.length - 1]! ^= 1;
    writeFileSync(join(d, 'forged.cbor'), forged);
    await expect(startPlayground(real({ issuerDir: d }))).rejects.toMatchObject({ code: 'playground.bad_blocklist', message: expect.stringMatching(/forged\.cbor.*bad_signature/) });
    rmSync(join(d, 'forged.cbor'));
    writeFileSync(join(d, 'a.cbor'), good);
    writeFileSync(join(d, 'b.cbor'), createBlocklist(issuer.currentKey(NOW), { issuerId: 7, version: 4, issuedAt: NOW - 1, walletIds: [] }).bytes);
    await expect(startPlayground(real({ issuerDir: d }))).rejects.toMatchObject({ code: 'playground.bad_blocklist', message: expect.stringMatching(/two different blocklists with version 4/) });
    writeFileSync(join(d, 'b.cbor'), good); // a copy of the same list is fine
    await withServer(real({ issuerDir: d }), async (pg) => expect(pg.world.blocklistSource).toMatchObject({ version: 4 }));
  });

  it('bad directories: typed codes', async () => {
    const cases: [Partial<PlaygroundOptions>, string, RegExp][] = [
      [{ issuerDir: join(dir, 'nope') }, 'playground.bad_issuer', /not a directory/],
      [{ issuerDir: VM }, 'playground.bad_issuer', /key set/],
      [{ readerDirs: [join(dir, 'nope')] }, 'playground.bad_reader', /no readable reader/],
      [{ readerDirs: [FOREIGN] }, 'playground.bad_reader', /cannot serve issuer 7.*reader\.bad_cert/],
      [{ readerDirs: [GATE, GATE2] }, 'playground.bad_reader', /both transit readers/],
    ];
    for (const [o, code, msg] of cases) await expect(startPlayground(real(o)), code).rejects.toMatchObject({ code, message: expect.stringMatching(msg) });
    // keyset.cbor of one issuer beside issuer.json of another.
    const mixed = join(dir, 'mixed');
    mkdirSync(mixed);
    copyFileSync(join(ISS, 'issuer.json'), join(mixed, 'issuer.json'));
    copyFileSync(join(OTHER, 'keyset.cbor'), join(mixed, 'keyset.cbor'));
    await expect(startPlayground(real({ issuerDir: mixed }))).rejects.toMatchObject({ code: 'playground.bad_issuer', message: expect.stringMatching(/not the key set of issuer\.json/) });
    // Only the public key set and no blocklist: an empty list would have to be signed.
    const pub = join(dir, 'public-only');
    mkdirSync(pub);
    copyFileSync(join(ISS, 'keyset.cbor'), join(pub, 'keyset.cbor'));
    await expect(startPlayground(real({ issuerDir: pub }))).rejects.toMatchObject({ code: 'playground.bad_issuer', message: expect.stringMatching(/no issuer\.json.*blocklist/) });
    // An expired reader certificate.
    const expired = join(dir, 'expired');
    const sk = randomSecretKey();
    saveReader(expired, sk, issuer.issueReaderCert({ readerId: 4301, readerPublicKey: publicKeyOf(sk), operatorId: 1, profile: 'vending', notBefore: NOW - 7200, notAfter: NOW - 3600 }, NOW));
    await expect(startPlayground(real({ readerDirs: [expired] }))).rejects.toMatchObject({ code: 'playground.bad_reader', message: expect.stringMatching(/not now/) });
  });

  it('one reader serves one role: the index links only it', async () => {
    await withServer(real({ readerDirs: [GATE] }), async (pg) => {
      const html = await (await fetch(pg.url + '/')).text();
      expect(html).toContain('Gate 5300');
      expect(html).not.toContain('Vending');
      expect((await setupOf(pg)).readers.map((r) => r.readerId)).toEqual([5300]);
    });
  });
});

describe('option combinations (playground.bad_options, checked before anything is read)', () => {
  it('each bad combination has its code', () => {
    const bad: PlaygroundOptions[] = [
      { issuerDir: ISS },
      { readerDirs: [VM] },
      { issuerDir: ISS, readerDirs: [VM, GATE, GATE2] },
      { issueWallets: true },
      { https: true, tlsCert: 'c.pem' },
      { https: true, tlsKey: 'k.pem' },
      { https: true, tlsCert: 'c.pem', tlsKey: 'k.pem', tlsDir: dir },
      { tlsDir: dir },
      { host: '127.0.0.1', tlsCert: 'c.pem', tlsKey: 'k.pem' },
    ];
    for (const o of bad) expect(() => checkOptions(o), JSON.stringify(o)).toThrow(expect.objectContaining({ code: 'playground.bad_options' }));
    expect(() => checkOptions({ port: 70000 })).toThrow(expect.objectContaining({ code: 'playground.bad_port' }));
    expect(checkOptions({ host: '0.0.0.0' }).tls).toBe(true);
    expect(checkOptions({ host: '192.168.1.5', tlsDir: dir }).tls).toBe(true);
    expect(checkOptions({ host: '127.0.0.1' }).tls).toBe(false);
    expect(checkOptions({ host: '::1', https: true }).tls).toBe(true);
  });
  it.skipIf(!haveBuild)('the CLI exits 2 naming the code', async () => {
    const run = (...args: string[]) => promisify(execFile)(process.execPath, [CLI, 'playground', '--port', '0', ...args]).catch((e: { code: number; stderr: string }) => e);
    for (const [args, code] of [
      [['--issuer', ISS], 'playground.bad_options'],
      [['--tls-dir', dir], 'playground.bad_options'],
      [['--issuer', ISS, '--reader', FOREIGN], 'playground.bad_reader'],
      [['--issuer', join(dir, 'nope'), '--reader', VM], 'playground.bad_issuer'],
    ] as const) {
      const r = await run(...args);
      expect('code' in r && r.code, args.join(' ')).toBe(2);
      expect((r as { stderr: string }).stderr, args.join(' ')).toContain(`[${code}]`);
    }
  });
});

/** GET over https trusting only `ca`. */
function httpsGet(url: string, ca: string | undefined): Promise<{ status: number; headers: Record<string, string | string[] | undefined>; body: string }> {
  return new Promise((res, rej) => {
    const req = httpsRequest(url, ca === undefined ? {} : { ca }, (r) => {
      let body = '';
      r.on('data', (c: Buffer) => (body += c.toString()));
      r.on('end', () => res({ status: r.statusCode ?? 0, headers: r.headers, body }));
    });
    req.on('error', rej);
    req.end();
  });
}

describe.skipIf(!haveBuild)('https (--https on loopback; a non-loopback --host uses the same path)', () => {
  it('serves /reader over the self-signed certificate to a client trusting it, with the CSP; a client trusting nothing refuses', async () => {
    const tlsDir = join(dir, 'tls');
    await withServer({ port: 0, webDir: WEB, https: true, tlsDir }, async (pg) => {
      expect(pg.url).toMatch(/^https:\/\/127\.0\.0\.1:\d+$/);
      expect(pg.tls).toMatchObject({ source: 'created', certPath: join(tlsDir, 'cert.pem') });
      const ca = readFileSync(join(tlsDir, 'cert.pem'), 'utf8');
      const r = await httpsGet(pg.url + '/reader', ca);
      expect(r.status).toBe(200);
      expect(r.headers['content-security-policy']).toBe(CSP);
      expect(r.body).toContain('/web/reader.js');
      const viaName = await httpsGet(pg.url.replace('127.0.0.1', 'localhost') + '/wallet', ca);
      expect(viaName.status).toBe(200);
      await expect(httpsGet(pg.url + '/reader', undefined)).rejects.toMatchObject({ code: 'DEPTH_ZERO_SELF_SIGNED_CERT' });
    });
    // The next start reuses the kept certificate: the phone accepted it once.
    const first = readFileSync(join(tlsDir, 'cert.pem'), 'utf8');
    await withServer({ port: 0, webDir: WEB, https: true, tlsDir }, async (pg) => {
      expect(pg.tls?.source).toBe('reused');
      expect((await httpsGet(pg.url + '/api/setup', first)).status).toBe(200);
    });
  });
  it('the CLI prints the https URL and the certificate fingerprint', async () => {
    const tlsDir = join(dir, 'tls-cli');
    const { spawn } = await import('node:child_process');
    const p = spawn(process.execPath, [CLI, 'playground', '--port', '0', '--https', '--tls-dir', tlsDir], { stdio: ['ignore', 'pipe', 'pipe'] });
    try {
      const out = await new Promise<string>((res, rej) => {
        let text = '';
        const t = setTimeout(() => rej(new Error(`no fingerprint line: ${text}`)), 20_000);
        p.stdout.on('data', (c: Buffer) => {
          text += c.toString();
          if (/([0-9A-F]{2}:){31}[0-9A-F]{2}/.test(text)) {
            clearTimeout(t);
            res(text);
          }
        });
        p.stderr.on('data', (c: Buffer) => (text += c.toString()));
      });
      const { X509Certificate } = await import('node:crypto');
      expect(out).toMatch(/at https:\/\/127\.0\.0\.1:\d+/);
      expect(out).toContain(new X509Certificate(readFileSync(join(tlsDir, 'cert.pem'))).fingerprint256);
    } finally {
      p.kill('SIGTERM');
    }
  });
});
