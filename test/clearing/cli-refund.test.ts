/**
 * `offpay reader refund` and `offpay clearing refund` (spec/clearing.md §13, spec/clearing-api.md §2.8): a
 * merchant's reader signs a refund with its own key and certificate (the currency from its journal), clearing
 * decides the file (exit 0 accepted or duplicate, 1 rejected), the report nets it; the same over HTTP with
 * --url (0, 0 duplicate, 1 rejected, 2 unreachable); usage errors and oversized files exit 2 or 1 as specified.
 */
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { main } from '../../src/cli/main.js';
import { Clearing } from '../../src/clearing/index.js';
import { publicKeyOf, seededSecretKey, tokenHash, toHex } from '../../src/index.js';
import { nodeEd25519 } from '../../src/node/crypto.js';
import { loadIssuer, saveReader } from '../../src/node/files.js';
import { createBlocklist, Reader } from '../../src/reader/index.js';
import { SqliteReaderStore } from '../../src/reader/sqlite.js';
import { createClearingServer } from '../../src/server/api.js';
import { HKD, makeWallet, signToken } from '../reader/helpers.js';

async function run(...argv: string[]): Promise<{ code: number; out: string; err: string; json: () => Record<string, unknown> }> {
  let out = '';
  let err = '';
  const code = await main(argv, { out: (s) => (out += s), err: (s) => (err += s) });
  return { code, out, err, json: () => JSON.parse(out) as Record<string, unknown> };
}

const d = mkdtempSync(join(tmpdir(), 'offpay-refund-cli-'));
afterAll(() => rmSync(d, { recursive: true, force: true }));
const p = (...x: string[]) => join(d, ...x);
const T0 = 1_795_000_000;

describe('offpay reader refund / clearing refund', () => {
  it('signs with the reader key, decides the file, nets the report; posts over HTTP; exit codes 0, 1, 2', async () => {
    expect((await run('issuer', 'init', '--dir', p('issuer'), '--seed', 'refund-cli', `--now=${T0 - 86400}`)).code).toBe(0);
    const issuer = loadIssuer(p('issuer'));
    const merchant = (id: number, operatorId: number) => {
      const secretKey = seededSecretKey('refund-cli', `reader-${id}`);
      const cert = issuer.issueReaderCert({ readerId: id, readerPublicKey: publicKeyOf(secretKey), operatorId, profile: 'vending', notBefore: T0 - 86400, notAfter: T0 + 86400 * 30 }, T0);
      mkdirSync(p(`r${id}`), { recursive: true });
      saveReader(p(`r${id}`), secretKey, cert);
      return { secretKey, cert };
    };
    const m = merchant(701, 90);
    merchant(702, 91);
    // The merchant's reader takes a sale of HKD 12.50 and exports its batch; its database remembers the token.
    const store = SqliteReaderStore.create(p('r701.db'));
    const reader = new Reader({ ...m, issuerKeys: issuer.keySet(), store, verifier: nodeEd25519(), clock: () => T0 });
    reader.loadBlocklist(createBlocklist(issuer.keys[0]!, { issuerId: issuer.issuerId, version: 1, issuedAt: T0, walletIds: [] }).bytes);
    const { request } = reader.openRequest({ amount: 1250, currency: HKD, now: T0 });
    const w = makeWallet(issuer, 'refund-cli', 'a');
    const token = signToken(w, { payee: 701, amount: 1250, counter: 1, time: T0, challenge: request.challenge });
    expect((await reader.accept(token, { complete: true, now: T0 })).accepted).toBe(true);
    writeFileSync(p('b1.batch'), reader.export(T0 + 60).bytes);
    store.close();
    const hash = toHex(tokenHash(token));
    const db = p('clearing.db');
    expect((await run('clearing', 'ingest', '--issuer', p('issuer'), '--db', db, p('b1.batch'))).code).toBe(0);

    const at = String(T0 + 600);
    const signed = await run('reader', 'refund', '--reader', p('r701'), '--db', p('r701.db'), '--token', hash, '--amount', '5.00', '--time', at, '--out', p('f1.refund'), '--json');
    expect(signed.code).toBe(0);
    expect(signed.json()).toMatchObject({ ok: true, tokenHash: hash, amount: 500, currency: HKD, operatorId: 90, readerId: 701 });
    const shown = await run('inspect', p('f1.refund'), '--json');
    expect(shown.code).toBe(0);
    expect(shown.json()).toMatchObject({ type: 'Refund', bytes: 234, amount: 500, currency: HKD, merchant: 90, tokenHash: hash, amountText: 'HKD 5.00' });
    const decide = (f: string) => run('clearing', 'refund', '--db', db, f, `--now=${T0 + 700}`, '--json');
    const first = await decide(p('f1.refund'));
    expect(first.code).toBe(0);
    expect(first.json()).toMatchObject({ outcome: 'accepted', refund: { amount: '500', partial: true, operatorId: 90, readerId: 701, walletId: expect.any(String) } });
    expect((await decide(p('f1.refund'))).json()).toMatchObject({ outcome: 'duplicate' });
    expect((await decide(p('f1.refund'))).code).toBe(0);
    // A second refund of the token (other bytes), and one by another merchant: exit 1 with the code.
    expect((await run('reader', 'refund', '--reader', p('r701'), '--token', hash, '--amount', '1.00', '--currency', 'HKD', '--time', at, '--out', p('f2.refund'))).code).toBe(0);
    const second = await decide(p('f2.refund'));
    expect([second.code, second.json().reason]).toEqual([1, 'refund.already_refunded']);
    expect((await run('reader', 'refund', '--reader', p('r702'), '--token', hash, '--amount', '1.00', '--currency', '344', '--time', at, '--out', p('f3.refund'))).code).toBe(0);
    expect((await decide(p('f3.refund'))).json()).toMatchObject({ outcome: 'rejected', reason: 'refund.wrong_merchant' }); // step 5 before step 8
    // The report nets it: net = gross - fee - refunded, as decimal strings.
    const rep = await run('clearing', 'report', '--db', db, '--json');
    expect((rep.json().settlement as unknown[])[0]).toEqual({ operatorId: 90, currency: HKD, count: 1, gross: '1250', feeBps: 150, fee: '19', refunds: 1, refunded: '500', net: '731' });
    expect(rep.json().refunds).toEqual([expect.objectContaining({ tokenHash: hash, amount: '500', operatorId: 90, readerId: 701 })]);

    // Usage and input errors: exit 2; a file over 4,096 bytes is a rejected refund (exit 1), never read.
    expect((await run('reader', 'refund', '--reader', p('r701'), '--token', hash, '--amount', '1.00', '--out', p('x'))).code).toBe(2); // no currency, no --db
    expect((await run('reader', 'refund', '--reader', p('r701'), '--token', 'abc', '--amount', '1.00', '--currency', 'HKD', '--out', p('x'))).code).toBe(2);
    expect((await run('reader', 'refund', '--reader', p('r701'), '--token', hash, '--amount', '1.00', '--currency', 'HKD')).code).toBe(2); // neither --out nor --url
    expect((await run('reader', 'refund', '--reader', p('r701'), '--db', p('r701.db'), '--token', '00'.repeat(32), '--amount', '1.00', '--out', p('x'))).code).toBe(2); // not taken here
    writeFileSync(p('big.refund'), new Uint8Array(4097));
    const big = await decide(p('big.refund'));
    expect([big.code, big.json().reason]).toEqual([1, 'cbor.too_large']);
    expect((await decide(p('missing.refund'))).code).toBe(2);

    // Over HTTP: a served clearing holding the same batch.
    const served = new Clearing({ issuerKeys: issuer.keySet(), clock: () => T0 + 700 });
    expect((await served.ingest(new Uint8Array(readFileSync(p('b1.batch'))))).outcome).toBe('ingested');
    const server = createClearingServer({ clearing: served, issuer, operatorToken: 'ab'.repeat(32), clock: () => T0 + 700 });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    try {
      const post = (amount: string, time = at) => run('reader', 'refund', '--reader', p('r701'), '--db', p('r701.db'), '--token', hash, '--amount', amount, '--time', time, '--url', url, '--json');
      const ok = await post('12.50');
      expect([ok.code, ok.json().outcome]).toEqual([0, 'accepted']);
      const again = await post('12.50');
      expect([again.code, again.json().outcome]).toEqual([0, 'duplicate']);
      const over = await post('12.51', String(T0 + 601));
      expect([over.code, over.json().reason]).toEqual([1, 'refund.too_much']); // step 7 before step 8
      const more = await post('1.00', String(T0 + 601));
      expect([more.code, more.json().reason]).toEqual([1, 'refund.already_refunded']);
    } finally {
      await new Promise<void>((r) => { server.close(() => r()); server.closeAllConnections(); });
      await served.close();
    }
    const down = await run('reader', 'refund', '--reader', p('r701'), '--db', p('r701.db'), '--token', hash, '--amount', '1.00', '--url', url, '--attempts', '1');
    expect(down.code).toBe(2);
    expect(down.err).toContain('sync.unreachable');

    // A server whose answers are scripted: the till reads them as spec/clearing-api.md §2.8 says (refundAnswer).
    const record = { tokenHash: hash, walletId: '00112233445566778899aabbccddeeff', amount: '100', currency: 344, operatorId: 90, readerId: 701, time: T0, acceptedAt: T0 + 1, charge: '1250', partial: true };
    let next: { status: number; body: string } = { status: 200, body: '{}' };
    const fake = createServer((req, res) => {
      req.resume();
      req.on('end', () => res.writeHead(next.status, { 'content-type': 'application/json' }).end(next.body));
    });
    await new Promise<void>((r) => fake.listen(0, '127.0.0.1', r));
    const fakeUrl = `http://127.0.0.1:${(fake.address() as AddressInfo).port}`;
    try {
      const answer = async (status: number, body: unknown) => {
        next = { status, body: JSON.stringify(body) };
        return run('reader', 'refund', '--reader', p('r701'), '--db', p('r701.db'), '--token', hash, '--amount', '1.00', '--time', at, '--url', fakeUrl, '--attempts', '1');
      };
      const good = await answer(200, { outcome: 'accepted', reason: null, tokenHash: hash, refund: record });
      expect([good.code, good.out]).toEqual([0, expect.stringContaining('ACCEPTED refund of HKD 1.00 (partial; charge HKD 12.50)')]);
      // An amount that is not a decimal string: before, BigInt('5.00') threw a SyntaxError out of the CLI.
      const notDecimal = await answer(200, { outcome: 'accepted', reason: null, tokenHash: hash, refund: { ...record, amount: '5.00' } });
      expect([notDecimal.code, notDecimal.err]).toEqual([2, expect.stringContaining('sync.bad_answer')]);
      // A 200 about another token is not this refund's acceptance.
      const other = await answer(200, { outcome: 'accepted', reason: null, tokenHash: 'ff'.repeat(32), refund: { ...record, tokenHash: 'ff'.repeat(32) } });
      expect([other.code, other.err]).toEqual([2, expect.stringContaining('another token')]);
      const refused = await answer(409, { outcome: 'rejected', reason: 'refund.already_refunded', error: { code: 'refund.already_refunded', message: 'held' } });
      expect([refused.code, refused.out]).toEqual([1, expect.stringContaining('REJECTED refund.already_refunded: held')]);
      const noReason = await answer(422, { outcome: 'rejected' });
      expect([noReason.code, noReason.err]).toEqual([2, expect.stringContaining('sync.bad_answer')]);
      const notRefusal = await answer(415, { error: { code: 'api.unsupported_media_type' } });
      expect([notRefusal.code, notRefusal.err]).toEqual([2, expect.stringContaining('api.unsupported_media_type')]);
    } finally {
      await new Promise<void>((r) => { fake.close(() => r()); fake.closeAllConnections(); });
    }
  }, 60_000);
});
