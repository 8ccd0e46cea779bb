/**
 * The signed issuer key set (message 9, spec/protocol.md §4.4; spec/clearing-api.md §2.3, §8 step 4): the
 * vectors in fixtures/keyset/ give their declared outcome with two Ed25519 backends; no mutation of a signed
 * set verifies; GET /v1/keyset serves a set signed by the issuer's oldest valid key; `reader sync` loads a
 * rotation signed by a key it trusts and refuses a set signed by anyone else, or older than the one it holds.
 */
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { main } from '../../src/cli/main.js';
import { saveIssuer } from '../../src/node/files.js';
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import fc from 'fast-check';
import { afterAll, describe, expect, it } from 'vitest';
import { Clearing } from '../../src/clearing/index.js';
import { nobleEd25519, seededSecretKey, publicKeyOf } from '../../src/crypto.js';
import { fromHex, toHex } from '../../base/hex.js';
import { Issuer } from '../../src/issuer.js';
import { decodeSignedKeySet, encodeSignedKeySet, signedKeySetSigningInput, signKeySet, verifySignedKeySet } from '../../src/keyset.js';
import { decodeIssuerKeySet, encodeIssuerKeySet, type IssuerKeySet } from '../../src/messages.js';
import { nodeEd25519 } from '../../src/node/crypto.js';
import { createBlocklist, MemoryReaderStore, Reader } from '../../src/reader/index.js';
import { syncReader } from '../../src/reader/sync.js';
import { createClearingServer, signedKeySetOf } from '../../src/server/api.js';
import { HKD, NOW, makeReader, makeWallet, signToken } from '../reader/helpers.js';

interface Vector { tcId: number; comment: string; result: string; code?: string; message: string; context: { trustedKeySet: string; now: number; heldIssuedAt: number; maxFutureSeconds: number }; signedInput?: string; signerPublicKey?: string }
const file = JSON.parse(readFileSync('fixtures/keyset/keyset_verify.json', 'utf8')) as { numberOfTests: number; tests: Vector[] };

describe('signed key set vectors (fixtures/keyset/keyset_verify.json)', () => {
  it('every case gives its declared outcome with noble and node:crypto, and covers every keyset.* code', () => {
    expect(file.tests.length).toBe(file.numberOfTests);
    for (const verifier of [nobleEd25519, nodeEd25519()]) {
      for (const t of file.tests) {
        const c = { trusted: decodeIssuerKeySet(fromHex(t.context.trustedKeySet)), now: t.context.now, heldIssuedAt: t.context.heldIssuedAt, maxFutureSeconds: t.context.maxFutureSeconds, verifier };
        let got: { result: string; code?: string };
        try {
          got = { result: verifySignedKeySet(fromHex(t.message), c).outcome };
        } catch (e) {
          got = { result: 'invalid', code: (e as { code: string }).code };
        }
        expect([t.tcId, got]).toEqual([t.tcId, { result: t.result, ...(t.code ? { code: t.code } : {}) }]);
        // The signing input is the message's own body bytes, for every case that frames.
        if (t.signedInput && t.result !== 'invalid') {
          const s = decodeSignedKeySet(fromHex(t.message));
          expect(toHex(signedKeySetSigningInput(s))).toBe(t.signedInput);
          expect(verifier.verify(s.signature, fromHex(t.signedInput), fromHex(t.signerPublicKey!))).toBe(true);
        }
      }
    }
    const codes = new Set(file.tests.map((t) => t.code).filter(Boolean));
    for (const c of ['keyset.wrong_issuer', 'keyset.unknown_key', 'keyset.key_not_valid', 'keyset.bad_signature', 'keyset.future', 'keyset.rollback']) expect(codes).toContain(c);
    const spec = readFileSync('spec/protocol.md', 'utf8');
    for (const c of codes) expect(spec).toContain(`\`${c!}\``);
  });

  it('no change of one byte of a signed rotation is loaded (fast-check)', () => {
    const sk1 = seededSecretKey('ks-prop', '1');
    const trusted: IssuerKeySet = { issuerId: 7, keys: [{ keyIndex: 1, publicKey: publicKeyOf(sk1), notBefore: NOW - 1000, notAfter: NOW + 100_000 }] };
    const next: IssuerKeySet = { issuerId: 7, keys: [...trusted.keys, { keyIndex: 2, publicKey: publicKeyOf(seededSecretKey('ks-prop', '2')), notBefore: NOW, notAfter: NOW + 200_000 }] };
    const { bytes } = signKeySet({ keyIndex: 1, secretKey: sk1 }, next, NOW);
    expect(verifySignedKeySet(bytes, { trusted, now: NOW }).outcome).toBe('newer');
    fc.assert(
      fc.property(fc.nat(bytes.length - 1), fc.integer({ min: 1, max: 255 }), (i, x) => {
        const m = bytes.slice();
        m[i]! ^= x;
        expect(() => verifySignedKeySet(m, { trusted, now: NOW })).toThrow();
      }),
      { numRuns: 200, seed: 16 },
    );
  });
});

describe('GET /v1/keyset and reader sync', () => {
  const sk1 = seededSecretKey('ks-sync', 'issuer-1');
  const sk2 = seededSecretKey('ks-sync', 'issuer-2');
  const old = Issuer.fromSecret(7, 1, sk1, NOW - 86400 * 365, NOW + 86400 * 365);
  // The rotated issuer: key 2 added (and current: it signs the blocklists), key 1 still valid.
  const rotated = new Issuer(7, [...old.keys, { keyIndex: 2, secretKey: sk2, publicKey: publicKeyOf(sk2), notBefore: NOW - 60, notAfter: NOW + 86400 * 730 }]);
  const CLOCK = () => NOW + 3600;

  async function serve(issuer: Issuer): Promise<{ server: Server; url: string; clearing: Clearing }> {
    const clearing = new Clearing({ issuerKeys: issuer.keySet(), clock: CLOCK });
    clearing.issueBlocklist(issuer, NOW); // version 1, as the readers hold: the server's next is version 2
    const server = createClearingServer({ clearing, issuer, operatorToken: 'ef'.repeat(32), clock: CLOCK, blocklistCheckSeconds: 0 });
    await new Promise<void>((res) => server.listen(0, '127.0.0.1', res));
    return { server, clearing, url: `http://127.0.0.1:${(server.address() as AddressInfo).port}` };
  }
  const stop = async (s: { server: Server; clearing: Clearing }) => {
    await new Promise<void>((res) => { s.server.close(() => res()); s.server.closeAllConnections(); });
    s.clearing.close();
  };
  function reader(keys: IssuerKeySet, id: number) {
    const m = makeReader(old, 'ks-sync', id);
    const store = new MemoryReaderStore();
    const r = new Reader({ ...m, issuerKeys: keys, store, verifier: nodeEd25519(), clock: () => NOW });
    r.loadBlocklist(createBlocklist(old.keys[0]!, { issuerId: 7, version: 1, issuedAt: NOW, walletIds: [] }).bytes);
    return { r, m, store };
  }

  it('serves a key set signed by the oldest valid issuer key, with an ETag', async () => {
    const s = await serve(rotated);
    try {
      const res = await fetch(`${s.url}/v1/keyset`);
      expect(res.headers.get('content-type')).toBe('application/cbor');
      const bytes = new Uint8Array(await res.arrayBuffer());
      const v = verifySignedKeySet(bytes, { trusted: old.keySet(), now: NOW + 3600 });
      expect(v).toMatchObject({ outcome: 'newer', signed: { keyIndex: 1, issuedAt: NOW + 3600 } });
      expect(toHex(encodeIssuerKeySet(v.signed.keySet))).toBe(toHex(encodeIssuerKeySet(rotated.keySet())));
      expect(toHex(bytes)).toBe(toHex(signedKeySetOf(rotated, NOW + 3600)));
    } finally {
      await stop(s);
    }
  });

  it('signs the served set again, with a key that is not ending, once its signing key is within 60 s of its end (spec/clearing-api.md §2.3)', async () => {
    // Key 1 ends at NOW + 7200; key 2 is valid throughout. The server starts at NOW + 3600 (key 1 signs).
    const ending = new Issuer(7, [{ ...old.keys[0]!, notAfter: NOW + 7200 }, rotated.keys[1]!]);
    let t = NOW + 3600;
    const clearing = new Clearing({ issuerKeys: ending.keySet(), clock: () => t });
    const server = createClearingServer({ clearing, issuer: ending, operatorToken: 'ef'.repeat(32), clock: () => t, blocklistCheckSeconds: 0 });
    await new Promise<void>((res) => server.listen(0, '127.0.0.1', res));
    const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/v1/keyset`;
    const get = async () => new Uint8Array(await (await fetch(url)).arrayBuffer());
    try {
      const first = await get();
      expect(verifySignedKeySet(first, { trusted: ending.keySet(), now: t })).toMatchObject({ outcome: 'unchanged', signed: { keyIndex: 1, issuedAt: NOW + 3600 } });
      t = NOW + 7200 - 60; // key 1 ends in 60 s, a reader clock's allowed lead: the same bytes
      expect(toHex(await get())).toBe(toHex(first));
      t = NOW + 7200 - 59; // less than 60 s left: signed again by key 2, which a reader 60 s ahead still takes
      const again = await get();
      expect(verifySignedKeySet(again, { trusted: ending.keySet(), now: t + 60 })).toMatchObject({ outcome: 'unchanged', signed: { keyIndex: 2, issuedAt: NOW + 7200 - 59 } });
      t = NOW + 7201; // key 1 has ended: a reader refuses the old bytes; the server keeps the set key 2 signed
      expect(() => verifySignedKeySet(first, { trusted: ending.keySet(), now: t })).toThrow(expect.objectContaining({ code: 'keyset.key_not_valid' }));
      expect(toHex(await get())).toBe(toHex(again));
    } finally {
      await new Promise<void>((res) => { server.close(() => res()); server.closeAllConnections(); });
      await clearing.close();
    }
  });

  it('a reader trusting key 1 loads the rotation {1, 2} and then the blocklist signed by key 2', async () => {
    const s = await serve(rotated);
    try {
      const { r, m, store } = reader(old.keySet(), 501);
      const w = makeWallet(old, 'ks-sync', 'a');
      const { request } = r.openRequest({ amount: 300, currency: HKD, now: NOW });
      expect((await r.accept(signToken(w, { payee: 501, amount: 300, counter: 1, challenge: request.challenge }), { complete: true })).accepted).toBe(true);
      let stored: { keys: IssuerKeySet; signed: Uint8Array } | undefined;
      const res = await syncReader(r, {
        url: s.url,
        now: NOW + 3600,
        issuerKeys: old.keySet(),
        reopen: (keys, signed) => {
          stored = { keys, signed };
          return new Reader({ ...m, issuerKeys: keys, store, verifier: nodeEd25519(), clock: () => NOW + 3600 });
        },
      });
      expect(res.keyset).toMatchObject({ outcome: 'newer', loaded: true, keyIndex: 1 });
      expect(stored!.keys.keys.map((k) => k.keyIndex)).toEqual([1, 2]);
      // The blocklist the server signs with its current key 2 loads only because the reader took key 2 first.
      expect(res.blocklist.loaded).toBe(true);
      // Without reopen the reader keeps its keys and refuses that blocklist: the order matters.
      const plain = reader(old.keySet(), 502);
      await expect(syncReader(plain.r, { url: s.url, now: NOW + 3600, issuerKeys: old.keySet() })).rejects.toMatchObject({ code: 'blocklist.unknown_key' });
      // Holding that signed set, a rollback to an older one is refused.
      const older = signKeySet(old.keys[0]!, { issuerId: 7, keys: [old.keys[0]!] }, NOW).bytes;
      expect(() => verifySignedKeySet(older, { trusted: rotated.keySet(), now: NOW + 3600, heldIssuedAt: decodeSignedKeySet(stored!.signed).issuedAt })).toThrow(expect.objectContaining({ code: 'keyset.rollback' }));
    } finally {
      await stop(s);
    }
  });

  it('refuses a key set no trusted key signed (a server with another issuer key), before touching the blocklist', async () => {
    const rogue = Issuer.fromSecret(7, 1, seededSecretKey('ks-sync', 'rogue'), NOW - 86400, NOW + 86400 * 365);
    const s = await serve(rogue);
    try {
      const { r } = reader(old.keySet(), 503);
      const before = r.blocklistStatus(NOW + 3600);
      await expect(syncReader(r, { url: s.url, now: NOW + 3600, issuerKeys: old.keySet(), reopen: () => { throw new Error('must not be called'); } })).rejects.toMatchObject({ code: 'keyset.bad_signature' });
      expect(r.blocklistStatus(NOW + 3600)).toEqual(before);
      // The same rogue set re-signed under an unknown index is keyset.unknown_key.
      const rogue9 = signKeySet({ keyIndex: 9, secretKey: seededSecretKey('ks-sync', 'rogue') }, rogue.keySet(), NOW).bytes;
      expect(() => verifySignedKeySet(rogue9, { trusted: old.keySet(), now: NOW })).toThrow(expect.objectContaining({ code: 'keyset.unknown_key' }));
      expect(encodeSignedKeySet(decodeSignedKeySet(rogue9))).toEqual(rogue9);
    } finally {
      await stop(s);
    }
  });

  it('the CLI: reader sync stores a rotation its trusted key signed (then it is unchanged), and exits 2 on a set no trusted key signed', async () => {
    const d = mkdtempSync(join(tmpdir(), 'offpay-keyset-cli-'));
    afterAll(() => rmSync(d, { recursive: true, force: true }));
    const run = async (...argv: string[]) => {
      let out = '';
      let err = '';
      const code = await main(argv, { out: (x) => (out += x), err: (x) => (err += x) });
      return { code, out, err };
    };
    saveIssuer(join(d, 'old'), old);
    expect((await run('reader', 'new', '--issuer', join(d, 'old'), '--id', '4301', '--operator', '90', '--out', join(d, 'vm'), '--seed', 'ks-cli', `--now=${NOW}`)).code).toBe(0);
    expect((await run('reader', 'init', '--reader', join(d, 'vm'), '--db', join(d, 'vm.db'), '--issuer', join(d, 'old'), `--now=${NOW}`)).code).toBe(0);
    const s = await serve(rotated);
    try {
      const sync = (url: string) => run('reader', 'sync', '--reader', join(d, 'vm'), '--db', join(d, 'vm.db'), '--url', url, `--now=${NOW + 3600}`, '--json');
      const first = await sync(s.url);
      expect([first.code, first.err]).toEqual([0, '']);
      expect(JSON.parse(first.out)).toMatchObject({ ok: true, keyset: { outcome: 'newer', loaded: true, keyIndex: 1 }, blocklist: { loaded: true } });
      const second = await sync(s.url);
      expect(second.code).toBe(0);
      expect(JSON.parse(second.out)).toMatchObject({ keyset: { outcome: 'unchanged', loaded: false } });
      const rogue = await serve(Issuer.fromSecret(7, 1, seededSecretKey('ks-sync', 'rogue'), NOW - 86400, NOW + 86400 * 365));
      try {
        const refused = await sync(rogue.url);
        expect(refused.code).toBe(2);
        expect(refused.err).toContain('keyset.bad_signature');
      } finally {
        await stop(rogue);
      }
    } finally {
      await stop(s);
    }
  });
});
