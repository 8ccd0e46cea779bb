/**
 * `clearing serve` over HTTPS (spec/clearing-api.md §1.1) with throwaway certificates from openssl: a reader
 * syncs through a private CA given with --ca; the default roots and another CA refuse the server at once
 * (sync.tls_untrusted, no retries); bad certificate, key and CA files are typed errors, exit 2.
 */
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { Clearing } from '../../src/clearing/index.js';
import { main } from '../../src/cli/main.js';
import { caFetch, loadCaFile } from '../../src/node/tls-fetch.js';
import { nodeEd25519 } from '../../src/node/crypto.js';
import { saveIssuer } from '../../src/node/files.js';
import { createBlocklist, MemoryReaderStore, Reader } from '../../src/reader/index.js';
import { syncReader } from '../../src/reader/sync.js';
import { createClearingServer } from '../../src/server/api.js';
import { loadTlsMaterial } from '../../src/server/tls.js';
import { HKD, NOW, makeIssuer, makeReader, makeWallet, signToken } from '../reader/helpers.js';
import { hasOpenssl, makePki } from './tls-certs.js';

const dir = mkdtempSync(join(tmpdir(), 'offpay-tls-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
const issuer = makeIssuer('tls');
const CLOCK = () => NOW + 3600;
const withOpenssl = hasOpenssl() ? describe : describe.skip;

async function run(...argv: string[]): Promise<{ code: number; out: string; err: string }> {
  let out = '';
  let err = '';
  const code = await main(argv, { out: (s) => (out += s), err: (s) => (err += s) });
  return { code, out, err };
}
const stop = (s: Server) => new Promise<void>((res) => { s.close(() => res()); s.closeAllConnections(); });

withOpenssl('clearing serve over TLS', () => {
  const pki = makePki(dir);

  it('a reader syncs over HTTPS trusting only the private CA; default roots and another CA refuse the server without retrying', async () => {
    const clearing = new Clearing({ issuerKeys: issuer.keySet(), clock: CLOCK });
    const server = createClearingServer({ clearing, issuer, operatorToken: 'cd'.repeat(32), clock: CLOCK, blocklistCheckSeconds: 0, tls: loadTlsMaterial(pki.serverCert, pki.serverKey) });
    await new Promise<void>((res) => server.listen(0, '127.0.0.1', res));
    const url = `https://127.0.0.1:${(server.address() as AddressInfo).port}`;
    try {
      const m = makeReader(issuer, 'tls', 301, 'vending', 90);
      const r = new Reader({ ...m, issuerKeys: issuer.keySet(), store: new MemoryReaderStore(), verifier: nodeEd25519(), clock: () => NOW });
      r.loadBlocklist(createBlocklist(issuer.keys[0]!, { issuerId: 7, version: 1, issuedAt: NOW, walletIds: [] }).bytes);
      const w = makeWallet(issuer, 'tls', 'a');
      const { request } = r.openRequest({ amount: 250, currency: HKD, now: NOW });
      expect((await r.accept(signToken(w, { payee: 301, amount: 250, counter: 1, challenge: request.challenge }), { complete: true })).accepted).toBe(true);

      // The default roots do not know the private CA, nor does another CA: refused on the first try.
      await expect(syncReader(r, { url, now: NOW + 3600, issuerKeys: issuer.keySet(), attempts: 5, baseDelayMs: 10 })).rejects.toMatchObject({ code: 'sync.tls_untrusted' });
      await expect(syncReader(r, { url, now: NOW + 3600, issuerKeys: issuer.keySet(), attempts: 5, baseDelayMs: 10, fetch: caFetch(loadCaFile(pki.otherCaCert)) })).rejects.toMatchObject({ code: 'sync.tls_untrusted' });
      const ok = await syncReader(r, { url, now: NOW + 3600, issuerKeys: issuer.keySet(), fetch: caFetch(loadCaFile(pki.caCert)) });
      expect(ok).toMatchObject({ heldBefore: 0, held: 1, retries: 0, sent: [{ batchSeq: 1, outcome: 'ingested', entries: 1 }] });
      expect((await clearing.report()).settlement[0]).toMatchObject({ operatorId: 90, count: 1, gross: 250n });
    } finally {
      await stop(server);
      clearing.close();
    }
  });

  it('refuses missing, oversized, non-PEM and mismatched TLS files with api.bad_tls, and bad CA files with sync.bad_ca (exit 2)', async () => {
    const notPem = join(dir, 'not.pem');
    writeFileSync(notPem, 'hello');
    const big = join(dir, 'big.pem');
    writeFileSync(big, Buffer.alloc(1024 * 1024 + 1, 0x41));
    for (const [cert, key, msg] of [
      [join(dir, 'missing.pem'), pki.serverKey, /ENOENT/],
      [notPem, pki.serverKey, /not PEM/],
      [big, pki.serverKey, /over the limit/],
      [pki.serverCert, notPem, /not PEM/],
      [pki.serverCert, pki.otherKey, /key values mismatch|mismatch/i],
    ] as const) {
      expect(() => loadTlsMaterial(cert, key)).toThrow(expect.objectContaining({ code: 'api.bad_tls', message: expect.stringMatching(msg) }));
    }
    for (const f of [join(dir, 'missing.pem'), notPem, big]) expect(() => loadCaFile(f)).toThrow(expect.objectContaining({ code: 'sync.bad_ca' }));

    saveIssuer(join(dir, 'issuer'), issuer);
    const serve = await run('clearing', 'serve', '--issuer', join(dir, 'issuer'), '--db', join(dir, 'c.db'), '--port', '0', '--tls-cert', pki.serverCert, '--tls-key', pki.otherKey);
    expect(serve.code).toBe(2);
    expect(serve.err).toContain('api.bad_tls');
    const half = await run('clearing', 'serve', '--issuer', join(dir, 'issuer'), '--db', join(dir, 'c.db'), '--port', '0', '--tls-cert', pki.serverCert);
    expect(half.code).toBe(2);
    expect(half.err).toContain('--tls-cert and --tls-key go together');
    const sync = await run('reader', 'sync', '--reader', join(dir, 'nope'), '--db', join(dir, 'nope.db'), '--url', 'https://127.0.0.1:9', '--ca', notPem);
    expect(sync.code).toBe(2);
    expect(sync.err).toContain('sync.bad_ca');
  });

  it('the built CLI serves HTTPS (listening on https://...) and stops on SIGTERM', async () => {
    const CLI = join(import.meta.dirname, '../../dist/src/cli/main.js');
    saveIssuer(join(dir, 'issuer2'), issuer);
    const child = spawn(process.execPath, [CLI, 'clearing', 'serve', '--issuer', join(dir, 'issuer2'), '--db', join(dir, 'c2.db'), '--port', '0', '--tls-cert', pki.serverCert, '--tls-key', pki.serverKey], { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    const exited = new Promise<number | null>((res) => child.on('exit', (c) => res(c)));
    const url = await new Promise<string>((resolve, reject) => {
      child.stdout.on('data', (b: Buffer) => {
        out += b.toString();
        const m = /listening on (https:\/\/\S+)/.exec(out);
        if (m) resolve(m[1]!);
      });
      child.on('exit', (c) => reject(new Error(`exited ${c}: ${out}`)));
    });
    try {
      const r = await caFetch(loadCaFile(pki.caCert))(`${url}/v1/keyset`);
      expect(r.status).toBe(200);
      expect(r.headers.get('content-type')).toBe('application/cbor');
    } finally {
      child.kill('SIGTERM');
    }
    expect(await exited).toBe(0);
  }, 30_000);
});
