/**
 * `offpay clearing ingest|report|blocklist` on the issue 11 findings (clearing half): bounded input refused with
 * exit 2 and a typed code, amounts as decimal strings in JSON, trips at the highest tap-out fare, the global
 * allowance flagged and blocklisted. Batches are built with the library (reader-signed, as readers upload them).
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { main } from '../../src/cli/main.js';
import { encodeCbor } from '../../src/cbor.js';
import { dayOf, publicKeyOf, seededSecretKey, tokenHash, toHex, walletIdOf } from '../../src/index.js';
import { readerCertToCbor } from '../../src/messages.js';
import { loadIssuer } from '../../src/node/files.js';
import { chainHash, createBatch, decodeBlocklist, encodeEntry, genesisHash, type JournalEntry } from '../../src/reader/index.js';
import { existsSync, readFileSync } from 'node:fs';
import { loadSqliteDriver } from '../../src/node/sqlite.js';
import { SqliteReaderStore } from '../../src/reader/sqlite.js';
import { HKD, signToken } from '../reader/helpers.js';

async function run(...argv: string[]): Promise<{ code: number; out: string; err: string; json: () => Record<string, unknown> }> {
  let out = '';
  let err = '';
  const code = await main(argv, { out: (s) => (out += s), err: (s) => (err += s) });
  return { code, out, err, json: () => JSON.parse(out) as Record<string, unknown> };
}

const d = mkdtempSync(join(tmpdir(), 'offpay-clearing-cli-'));
afterAll(() => rmSync(d, { recursive: true, force: true }));
const T0 = 1_795_000_000;
const p = (...x: string[]) => join(d, ...x);
const J = new Uint8Array(8).fill(9);

describe('offpay clearing CLI (issue 11)', () => {
  it('report and refund on a clearing database that is not there: clearing.store_missing, exit 2, and no file is made', async () => {
    expect((await run('issuer', 'init', '--dir', p('issuer-missing'), '--seed', 'clearing-cli-missing', `--now=${T0 - 86400}`)).code).toBe(0);
    const db = p('no-such-clearing.db');
    for (const argv of [
      ['clearing', 'report', '--db', db],
      ['clearing', 'report', '--db', db, '--issuer', p('issuer-missing')],
      ['clearing', 'refund', '--db', db, p('no-such-refund.cbor')],
    ]) {
      const r = await run(...argv);
      expect([r.code, r.out], argv.join(' ')).toEqual([2, '']);
      expect(r.err, argv.join(' ')).toContain('clearing.store_missing');
      expect(existsSync(db), argv.join(' ')).toBe(false);
    }
  });

  it('report and refund on an empty file: clearing.store_missing and the file stays empty; any clearing command on a SQLite database of something else (a reader database too): clearing.store_unusable, and nothing is written to it', async () => {
    expect((await run('issuer', 'init', '--dir', p('issuer-empty'), '--seed', 'clearing-cli-empty', `--now=${T0 - 86400}`)).code).toBe(0);
    const empty = p('empty.db');
    writeFileSync(empty, '');
    for (const argv of [
      ['clearing', 'report', '--db', empty, '--issuer', p('issuer-empty')],
      ['clearing', 'refund', '--db', empty, p('no-such-refund.cbor')],
    ]) {
      const r = await run(...argv);
      expect([r.code, r.out], argv.join(' ')).toEqual([2, '']);
      expect(r.err, argv.join(' ')).toContain('clearing.store_missing');
      expect(readFileSync(empty).length, argv.join(' ')).toBe(0);
    }
    const Database = loadSqliteDriver('clearing');
    const other = p('app.sqlite');
    const x = new Database(other);
    x.exec('CREATE TABLE customers(id INTEGER PRIMARY KEY, name TEXT)');
    x.close();
    const readerDb = p('reader.db');
    SqliteReaderStore.create(readerDb).close();
    for (const [db, tables] of [[other, /customers\)/], [readerDb, /meta, windows, totals, tokens, journal/]] as const) {
      const before = readFileSync(db);
      for (const argv of [
        ['clearing', 'report', '--db', db, '--issuer', p('issuer-empty')],
        ['clearing', 'ingest', '--db', db, '--issuer', p('issuer-empty'), p('no-such-batch.cbor')],
        ['clearing', 'blocklist', '--db', db, '--issuer', p('issuer-empty'), '--out', p('bl.cbor')],
      ]) {
        const r = await run(...argv);
        expect(r.code, argv.join(' ')).toBe(2);
        expect(r.err, argv.join(' ')).toMatch(/is a SQLite database but not a clearing database \(its tables: .*: check the path \[clearing\.store_unusable\]/);
        expect(r.err, argv.join(' ')).toMatch(tables);
        expect(readFileSync(db).equals(before), argv.join(' ')).toBe(true);
      }
    }
  });

  it('refuses oversized batches with exit 2, settles trips and sales once, flags the global allowance, prints amounts as strings', async () => {
    expect((await run('issuer', 'init', '--dir', p('issuer'), '--seed', 'clearing-cli', `--now=${T0 - 86400}`)).code).toBe(0);
    const issuer = loadIssuer(p('issuer'));
    const readerOf = (id: number, profile: 'vending' | 'transit', operatorId: number) => {
      const secretKey = seededSecretKey('clearing-cli', `reader-${id}`);
      return { secretKey, cert: issuer.issueReaderCert({ readerId: id, readerPublicKey: publicKeyOf(secretKey), operatorId, profile, notBefore: T0 - 86400, notAfter: T0 + 86400 * 30 }, T0) };
    };
    const walletOf = (label: string, allowance: number) => {
      const secretKey = seededSecretKey('clearing-cli', label);
      return { secretKey, cert: issuer.issueWalletCert({ walletPublicKey: publicKeyOf(secretKey), expiryDay: dayOf(T0) + 30, maxPerPayment: allowance, offlineAllowance: allowance, currency: HKD }, T0) };
    };
    const batch = (m: ReturnType<typeof readerOf>, entries: Omit<JournalEntry, 'seq'>[], file: string) => {
      const es = entries.map((e, i) => ({ ...e, seq: i + 1 }));
      const g = genesisHash(m.cert.readerId, J);
      let h = g;
      for (const e of es) h = chainHash(h, encodeEntry(e));
      writeFileSync(p(file), createBatch(m, { readerCert: m.cert, journalId: J, batchSeq: 1, firstSeq: 1, prevHead: g, head: h, entries: es, createdAt: T0 + 3000 }).bytes);
      return p(file);
    };
    // A trip: tap in at A (maximum 35.00), tap out at C for 4.00, ride on, tap out at B for 35.00.
    const rider = walletOf('rider', 100_000);
    const trip = signToken(rider, { payee: 300, amount: 3500, counter: 1, time: T0 });
    const files = [
      batch(readerOf(801, 'transit', 300), [{ kind: 'tap_in', time: T0, data: trip, value: 3500 }], 'a.batch'),
      batch(readerOf(802, 'transit', 300), [{ kind: 'tap_out', time: T0 + 600, data: trip, value: 400 }], 'c.batch'),
      batch(readerOf(803, 'transit', 300), [{ kind: 'tap_out', time: T0 + 2400, data: trip, value: 3500 }], 'b.batch'),
    ];
    // A modified wallet: an allowance of 500.00 spent in full at 4 vending machines.
    const modified = walletOf('modified', 50_000);
    for (let i = 0; i < 4; i++) {
      const t = signToken(modified, { payee: 811 + i, amount: 50_000, counter: i + 1, time: T0, challenge: new Uint8Array(8).fill(i + 1) });
      files.push(batch(readerOf(811 + i, 'vending', 90), [{ kind: 'accept', time: T0, data: t, value: 50_000, request: { challenge: new Uint8Array(8).fill(i + 1), time: T0 } }], `v${i}.batch`));
    }
    // A hostile machine that took two tokens of one wallet for one request (spec/clearing.md M9): one settles.
    const twice = walletOf('twice', 10_000);
    const req = { challenge: new Uint8Array(8).fill(0x77), time: T0 };
    const paidTwice = [1, 2].map((counter) => signToken(twice, { payee: 820, amount: 1_000, counter, time: T0, challenge: req.challenge }));
    files.push(batch(readerOf(820, 'vending', 90), paidTwice.map((data, i) => ({ kind: 'accept' as const, time: T0 + i, data, value: 1_000, request: req })), 'twice.batch'));
    // 40 MB of nothing, and a million 6-byte bogus entries behind a real reader certificate (under 8 MiB).
    writeFileSync(p('big.batch'), new Uint8Array(40 * 1024 * 1024));
    const one = encodeCbor([1, 0, 0, new Uint8Array(0), 0]);
    const head = encodeCbor([8, 2, readerCertToCbor(readerOf(801, 'transit', 300).cert), J, 2, 2, new Uint8Array(32), new Uint8Array(32)]).subarray(1);
    const many = Buffer.concat([Uint8Array.of(0x8b), head, Uint8Array.of(0x9a, 0x00, 0x0f, 0x42, 0x40), Buffer.alloc(0), ...Array.from({ length: 1_000_000 }, () => one), encodeCbor([T0, new Uint8Array(64)]).subarray(1)]);
    writeFileSync(p('many.batch'), many);

    const db = p('clearing.db');
    const big = await run('clearing', 'ingest', '--issuer', p('issuer'), '--db', db, p('big.batch'), files[0]!, '--json');
    expect(big.code).toBe(2);
    expect((big.json().results as { outcome: string; error?: { code: string } }[]).map((r) => [r.outcome, r.error?.code])).toEqual([
      ['rejected', 'clearing.too_large'],
      ['ingested', undefined],
    ]);
    const manyRun = await run('clearing', 'ingest', '--db', db, p('many.batch'));
    expect(manyRun.code).toBe(2);
    expect(manyRun.out).toContain('clearing.too_many_entries');
    // Raising the size limit lets the 40 MB file be read, and it is still refused, by its shape, with a typed code.
    const raised = await run('clearing', 'ingest', '--db', db, '--max-batch-bytes', String(64 * 1024 * 1024), p('big.batch'), '--json');
    expect(raised.code).toBe(1);
    expect((raised.json().results as { error: { code: string } }[])[0]!.error.code).toBe('clearing.bad_batch');

    const rest = await run('clearing', 'ingest', '--db', db, ...files.slice(1).reverse());
    expect(rest.code).toBe(0);
    const rep = await run('clearing', 'report', '--db', db, '--json');
    expect(rep.code).toBe(0);
    const r = rep.json() as {
      settlement: { operatorId: number; count: number; gross: string; fee: string; net: string }[];
      overAllowance: { walletId: string; settled: string; allowance: string; exposure: string; tokens: unknown[] }[];
      exposure: { currency: number; amount: string }[];
      multipleTapOuts: unknown[];
    };
    expect(r.settlement).toEqual([
      { operatorId: 90, currency: HKD, count: 5, gross: '201000', feeBps: 150, fee: '3015', refunds: 0, refunded: '0', net: '197985' },
      { operatorId: 300, currency: HKD, count: 1, gross: '3500', feeBps: 150, fee: '52', refunds: 0, refunded: '0', net: '3448' }, // 52.5 -> 52
    ]);
    expect(r.multipleTapOuts).toHaveLength(1);
    expect(r.overAllowance).toEqual([
      expect.objectContaining({ walletId: toHex(walletIdOf(modified.cert.walletPublicKey)), allowance: '50000', settled: '200000', exposure: '150000' }),
    ]);
    expect(r.overAllowance[0]!.tokens).toHaveLength(4);
    expect(r.exposure).toEqual([{ currency: HKD, amount: '150000' }]);
    const human = await run('clearing', 'report', '--db', db);
    expect(human.out).toContain('exposure HKD 1500.00');
    expect((rep.json() as { requestsPaidTwice: unknown[] }).requestsPaidTwice).toEqual([
      expect.objectContaining({ readerId: 820, requestTime: T0, challenge: '77'.repeat(8), unsettled: [expect.objectContaining({ tokenHash: toHex(tokenHash(paidTwice[1]!)), seq: 2 })] }),
    ]);
    expect(human.out).toContain(`Request paid twice (a reader fault: one token settles, not the customer's doing): reader 820 request ${'77'.repeat(8)} of ${T0}: settled token ${toHex(tokenHash(paidTwice[0]!)).slice(0, 16)} (entry 1); not charged: ${toHex(tokenHash(paidTwice[1]!)).slice(0, 16)} (entry 2)`);
    const bl = await run('clearing', 'blocklist', '--issuer', p('issuer'), '--db', db, '--out', p('list.cbor'), `--now=${T0 + 7200}`, '--json');
    expect(bl.json()).toMatchObject({ version: 1, entries: 1 });
    expect(decodeBlocklist(new Uint8Array(readFileSync(p('list.cbor')))).entries.length).toBe(16);
  });
});
