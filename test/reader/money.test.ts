/**
 * The money invariants of spec/reader.md §Money invariants that are not verdicts of one token: certificates
 * bind (I7), state is never silently recreated (I8), configuration is validated (I9), key rotation (I10),
 * and a resized anti-replay window lets no clone through (I1). Each test fails with its fix removed.
 */
import { closeSync, mkdtempSync, openSync, rmSync, statSync, writeFileSync, writeSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { Issuer, seededSecretKey } from '../../src/index.js';
import { nodeEd25519 } from '../../src/node/crypto.js';
import { createBlocklist, MemoryReaderStore, parsePolicy, Reader, validateProfileOverrides } from '../../src/reader/index.js';
import { SqliteReaderStore } from '../../src/reader/sqlite.js';
import { HKD, NOW, makeIssuer, makeReader, makeWallet, signToken } from './helpers.js';

const tmp = mkdtempSync(join(tmpdir(), 'offpay-money-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

const issuer = makeIssuer('money');
const gate = makeReader(issuer, 'money', 5001, 'transit', 300);
const alice = makeWallet(issuer, 'money', 'alice');
const fare = { fare: { amount: 100, currency: HKD } };
const list = (iss: Issuer, version: number, issuedAt = NOW, keyAt = 0) => createBlocklist(iss.keys[keyAt]!, { issuerId: iss.issuerId, version, issuedAt, walletIds: [] }).bytes;
const gateReader = (o: Partial<ConstructorParameters<typeof Reader>[0]> = {}) =>
  new Reader({ ...gate, issuerKeys: issuer.keySet(), store: new MemoryReaderStore(), verifier: nodeEd25519(), clock: () => NOW, ...o });

describe('certificates bind (finding 7, reader half)', () => {
  it('refuses a secret key that is not the certified one', () => {
    expect(() => gateReader({ secretKey: seededSecretKey('money', 'someone-else') })).toThrow(expect.objectContaining({ code: 'reader.key_mismatch' }));
  });

  it('refuses a certificate no issuer key in the key set signed', () => {
    const other = makeIssuer('another-issuer');
    expect(() => new Reader({ ...gate, issuerKeys: other.keySet(), store: new MemoryReaderStore(), clock: () => NOW })).toThrow(expect.objectContaining({ code: 'reader.bad_cert' }));
    const forged = { ...gate.cert, operatorId: 999 }; // the signature no longer covers the fields
    expect(() => gateReader({ cert: forged })).toThrow(expect.objectContaining({ code: 'reader.bad_cert' }));
  });

  it('refuses to accept, tap out, open a request or export outside [notBefore, notAfter]', async () => {
    const r = gateReader();
    const late = gate.cert.notAfter + 1;
    await expect(r.accept(signToken(alice, { payee: 300, amount: 100, counter: 1, time: late }), { ...fare, now: late })).rejects.toMatchObject({ code: 'reader.cert_not_valid' });
    await expect(r.tapOut(signToken(alice, { payee: 300, amount: 100, counter: 1 }), { fare: 50, currency: HKD, now: late })).rejects.toMatchObject({ code: 'reader.cert_not_valid' });
    expect(() => r.export(late)).toThrow(expect.objectContaining({ code: 'reader.cert_not_valid' }));
    expect(() => r.openRequest({ amount: 100, currency: HKD, now: gate.cert.notBefore - 1 })).toThrow(expect.objectContaining({ code: 'reader.cert_not_valid' }));
    // Two faults at once (spec/reader.md §2 and §7.2, step E): accept checks the certificate before the context,
    // a tap-out the context before the certificate; the bytes come first in both but after a tap-out's profile.
    const tok = signToken(alice, { payee: 300, amount: 100, counter: 1 });
    await expect(r.accept(tok, { fare: { amount: -1, currency: HKD }, now: late })).rejects.toMatchObject({ code: 'reader.cert_not_valid' });
    await expect(r.accept('x' as unknown as Uint8Array, { fare: { amount: -1, currency: HKD }, now: late })).rejects.toMatchObject({ code: 'reader.bad_input' });
    await expect(r.tapOut(tok, { fare: -1, currency: HKD, now: late })).rejects.toMatchObject({ code: 'reader.bad_context' });
    await expect(r.tapOut(tok, { fare: 0, currency: HKD, now: late })).rejects.toMatchObject({ code: 'reader.bad_context' });
    await expect(r.tapOut(tok, { fare: 50, currency: 0, now: late })).rejects.toMatchObject({ code: 'reader.bad_context' });
    await expect(r.tapOut('x' as unknown as Uint8Array, { fare: -1, currency: HKD, now: late })).rejects.toMatchObject({ code: 'reader.bad_input' });
    const vending = new Reader({ ...makeReader(issuer, 'money', 5002, 'vending'), issuerKeys: issuer.keySet(), store: new MemoryReaderStore(), clock: () => NOW });
    await expect(vending.tapOut('x' as unknown as Uint8Array, { fare: 50, currency: HKD, now: late })).rejects.toMatchObject({ code: 'reader.bad_context', message: expect.stringContaining('transit') });
    expect(r.entries()).toHaveLength(0);
  });
});

describe('state is never silently recreated (finding 9, finding 14)', () => {
  it('open refuses a missing database; create refuses an existing one; each new journal has its own id and genesis', () => {
    const path = join(tmp, 'lost.db');
    expect(() => SqliteReaderStore.open(path)).toThrow(expect.objectContaining({ code: 'reader.store_missing' }));
    const a = new Reader({ ...gate, issuerKeys: issuer.keySet(), store: SqliteReaderStore.create(path), clock: () => NOW });
    const idA = a.journalId;
    a.store.close();
    expect(() => SqliteReaderStore.create(path)).toThrow(expect.objectContaining({ code: 'reader.store_exists' }));
    const again = new Reader({ ...gate, issuerKeys: issuer.keySet(), store: SqliteReaderStore.open(path), clock: () => NOW });
    expect(again.journalId).toEqual(idA);
    again.store.close();
    rmSync(path);
    const b = new Reader({ ...gate, issuerKeys: issuer.keySet(), store: SqliteReaderStore.create(path), clock: () => NOW });
    expect(b.journalId).not.toEqual(idA);
    expect(b.head().hash).not.toEqual(gateReader({ journalId: idA }).head().hash);
    b.store.close();
  });

  it('a file that is not a SQLite database at all (a mistyped path) is reader.corrupt_store saying to check the path', () => {
    const path = join(tmp, 'hello.txt');
    writeFileSync(path, 'hello, this is not a database\n'.repeat(200));
    expect(() => SqliteReaderStore.open(path)).toThrow(expect.objectContaining({ code: 'reader.corrupt_store', message: expect.stringContaining('is not a SQLite database (SQLITE_NOTADB): check the path') }));
  });

  it('a zeroed database page gives reader.corrupt_store (typed), and the integrity check finds it', async () => {
    const path = join(tmp, 'zeroed.db');
    const r = new Reader({ ...gate, issuerKeys: issuer.keySet(), store: SqliteReaderStore.create(path), verifier: nodeEd25519(), clock: () => NOW, limits: { [HKD]: { staleMaxAmount: 100_000 } } });
    for (let c = 1; c <= 300; c++) await r.accept(signToken(alice, { payee: 300, amount: 100, counter: c }), { ...fare, complete: true });
    (r.store as SqliteReaderStore).db.pragma('wal_checkpoint(TRUNCATE)');
    r.store.close();
    const pages = statSync(path).size / 4096;
    expect(pages).toBeGreaterThan(4);
    const fd = openSync(path, 'r+');
    for (let p = 2; p < pages; p++) writeSync(fd, new Uint8Array(4096), 0, 4096, p * 4096); // zero every page but the first two
    closeSync(fd);
    let code: string | undefined;
    try {
      const s = SqliteReaderStore.open(path);
      const check = s.integrityCheck();
      expect(check.ok).toBe(false);
      const again = new Reader({ ...gate, issuerKeys: issuer.keySet(), store: s, verifier: nodeEd25519(), clock: () => NOW });
      again.verifyJournal();
      await again.accept(signToken(alice, { payee: 300, amount: 100, counter: 301 }), fare);
    } catch (e) {
      code = (e as { code?: string }).code;
    }
    expect(code).toBe('reader.corrupt_store');
  });
});

describe('configuration is validated (finding 10)', () => {
  it('refuses unknown keys (with a suggestion), strings for durations, inexact enums, bad windows and amounts', () => {
    const bad = (o: unknown) => () => parsePolicy(o, 'policy.json');
    expect(bad({ profile: { blocklistMaxAgeSeconds: '24h' } })).toThrow(/policy\.json\.profile\.blocklistMaxAgeSeconds is a whole number of seconds/);
    expect(bad({ profile: { voidWindowSeconds: '15min' } })).toThrow(expect.objectContaining({ code: 'reader.bad_policy' }));
    expect(bad({ profile: { whenBlocklistStale: 'Refuse' } })).toThrow(/exactly one of "refuse", "reduce"/);
    expect(bad({ profile: { voidWindowSecond: 900 } })).toThrow(/unknown key "voidWindowSecond" \(did you mean "voidWindowSeconds"\?\)/);
    expect(bad({ windw: 128 })).toThrow(/did you mean "window"/);
    for (const w of [12, 4104, 0, '128']) expect(bad({ window: w })).toThrow(expect.objectContaining({ code: 'reader.bad_policy' }));
    expect(bad({ limits: { HKD: { maxAmount: 500 } } })).toThrow(/string, such as "12.50"/);
    expect(bad({ limits: { HKD: { maxAmount: '5.001' } } })).toThrow(expect.objectContaining({ code: 'reader.bad_policy' }));
    expect(bad({ limits: { HKD: { max: '5.00' } } })).toThrow(/did you mean "maxAmount"/);
    expect(bad({ limits: { '344': { maxAmount: '10.00' }, HKD: {} } })).toThrow(/"344" and "HKD" are the same currency/); // one setting would be silently dropped
    expect(bad({ profile: { voidWindowSeconds: 10 * 86_400 } })).toThrow(/outside/);
    // Keys that Object.prototype has are unknown keys too (found by the options property test: a TypeError before).
    for (const k of ['toString', 'constructor', 'hasOwnProperty', '__proto__', 'valueOf']) {
      expect(bad(JSON.parse(`{"profile":{"${k}":[]}}`)), k).toThrow(expect.objectContaining({ code: 'reader.bad_policy' }));
    }
    expect(parsePolicy({ window: 64, limits: { HKD: { maxAmount: '30.00' } }, profile: { resumeWindowSeconds: 10, tapOutWithoutTapIn: 'refuse' } })).toEqual({
      window: 64,
      limits: { [HKD]: { maxAmount: 3000 } },
      profile: { resumeWindowSeconds: 10, tapOutWithoutTapIn: 'refuse' },
    });
  });

  it('validates ReaderOptions the same way', () => {
    expect(() => gateReader({ profile: { whenBlocklistStale: 'Refuse' as 'refuse' } })).toThrow(expect.objectContaining({ code: 'reader.bad_config' }));
    expect(() => gateReader({ profile: { blocklistMaxAgeSeconds: '24h' as unknown as number } })).toThrow(expect.objectContaining({ code: 'reader.bad_config' }));
    expect(() => gateReader({ window: 100 })).toThrow(expect.objectContaining({ code: 'reader.bad_config' }));
    expect(() => validateProfileOverrides({ name: 'vending' })).toThrow(/unknown key "name"/);
  });
});

describe('key rotation and blocklist freshness (finding 11, finding 14)', () => {
  it('opens with a stored list signed by a retired key, reports it stale, and loads a list signed by a current key', () => {
    const k1 = seededSecretKey('money', 'issuer'); // the key makeIssuer('money') uses (index 1)
    const old = Issuer.fromSecret(7, 1, k1, NOW - 86400 * 365, NOW + 86400 * 365);
    const rotated = new Issuer(7, [Issuer.fromSecret(7, 2, seededSecretKey('money', 'issuer-2'), NOW - 86400, NOW + 86400 * 365).keys[0]!]);
    const both = new Issuer(7, [...old.keys, ...rotated.keys]);
    const certBy2 = rotated.issueReaderCert({ ...gate.cert }, NOW);
    const store = new MemoryReaderStore();
    const r1 = new Reader({ ...gate, cert: both.issueReaderCert({ ...gate.cert }, NOW, 2), issuerKeys: both.keySet(), store, clock: () => NOW });
    r1.loadBlocklist(list(old, 1));
    expect(r1.blocklistStatus(NOW).stale).toBe(false);
    // The issuer retires key 1: the reader's key set no longer has it.
    const r2 = new Reader({ ...gate, cert: certBy2, issuerKeys: rotated.keySet(), store, clock: () => NOW });
    expect(r2.blocklistStatus(NOW)).toMatchObject({ loaded: true, version: 1, stale: true, staleReason: expect.stringMatching(/no longer trusts/) });
    expect(r2.loadBlocklist(list(rotated, 2))).toMatchObject({ version: 2, stale: false });
  });

  it('refuses a blocklist dated beyond maxFutureSeconds, and a held list dated in the future is stale', () => {
    const r = gateReader();
    expect(() => r.loadBlocklist(list(issuer, 1, NOW + 61), NOW)).toThrow(expect.objectContaining({ code: 'blocklist.future' }));
    r.loadBlocklist(list(issuer, 1, NOW + 60), NOW);
    expect(r.blocklistStatus(NOW).stale).toBe(false);
    expect(r.blocklistStatus(NOW - 1000)).toMatchObject({ stale: true, staleReason: expect.stringMatching(/future/) }); // the clock was set back
  });
});

describe('a transit reader told nothing to charge refuses the call (attack review, 2026-12-06)', () => {
  it('accept with no request, fare or tap-in is reader.bad_context at a reader without requireRequest: no 1-cent token for a ride', async () => {
    const r = gateReader();
    await expect(r.accept(signToken(alice, { payee: 300, amount: 1, counter: 1 }))).rejects.toMatchObject({ code: 'reader.bad_context' });
    expect(r.entries()).toHaveLength(0);
  });
});

describe('one database, two processes: the blocklist the store holds decides (attack review, 2026-12-06)', () => {
  const listOf = (version: number, walletIds: Uint8Array[], issuedAt = NOW) =>
    createBlocklist(issuer.keys[0]!, { issuerId: issuer.issuerId, version, issuedAt, walletIds }).bytes;

  it('a list another process loads takes effect at the long-running reader\'s next decision', async () => {
    const path = join(tmp, 'two-processes.db');
    const open = (store: SqliteReaderStore) => new Reader({ ...gate, issuerKeys: issuer.keySet(), store, verifier: nodeEd25519(), clock: () => NOW });
    const listening = open(SqliteReaderStore.create(path)); // reader listen, running for days
    listening.loadBlocklist(listOf(1, []));
    const { walletIdOf } = await import('../../src/messages.js');
    const caught = walletIdOf(alice.cert.walletPublicKey);
    const cron = open(SqliteReaderStore.open(path)); // reader load-blocklist (or sync) from another process
    cron.loadBlocklist(listOf(2, [caught]));
    cron.store.close();
    const v = await listening.accept(signToken(alice, { payee: 300, amount: 100, counter: 1 }), fare);
    expect([v.accepted, v.reason]).toEqual([false, 'blocklisted']);
    expect(listening.blocklistStatus(NOW).version).toBe(2);
    listening.store.close();
    // An older list in memory is no reason to take an old list over the newer one stored.
    const a = open(SqliteReaderStore.open(path));
    const b = open(SqliteReaderStore.open(path));
    a.loadBlocklist(listOf(3, [caught]));
    expect(() => b.loadBlocklist(listOf(2, []))).toThrow(expect.objectContaining({ code: 'blocklist.old_version' }));
    expect(a.isBlocklisted(caught) && b.isBlocklisted(caught)).toBe(true);
    a.store.close();
    b.store.close();
  });

  it('a key that has ended signs no new list: a back-dated list at the highest version cannot lock later lists out', () => {
    const k1 = seededSecretKey('money', 'issuer');
    const retired = Issuer.fromSecret(7, 1, k1, NOW - 86400 * 365, NOW - 86400); // key 1 ended yesterday
    const current = Issuer.fromSecret(7, 2, seededSecretKey('money', 'issuer-2'), NOW - 86400 * 2, NOW + 86400 * 365);
    const both = new Issuer(7, [...retired.keys, ...current.keys]);
    const r = new Reader({ ...gate, cert: both.issueReaderCert({ ...gate.cert }, NOW, 2), issuerKeys: both.keySet(), store: new MemoryReaderStore(), clock: () => NOW });
    r.loadBlocklist(createBlocklist(current.keys[0]!, { issuerId: 7, version: 10, issuedAt: NOW, walletIds: [] }).bytes);
    const forged = createBlocklist(retired.keys[0]!, { issuerId: 7, version: Number.MAX_SAFE_INTEGER, issuedAt: NOW - 86400 * 2, walletIds: [] }).bytes;
    expect(() => r.loadBlocklist(forged)).toThrow(expect.objectContaining({ code: 'blocklist.key_not_valid' }));
    expect(r.loadBlocklist(createBlocklist(current.keys[0]!, { issuerId: 7, version: 11, issuedAt: NOW, walletIds: [] }).bytes)).toMatchObject({ version: 11, stale: false });
  });
});

describe('a resized anti-replay window lets no clone through (finding 14)', () => {
  it('a stored window keeps its size when the reader is reconfigured wider or narrower', async () => {
    for (const [from, to] of [
      [32, 256],
      [256, 32],
    ] as const) {
      const store = new MemoryReaderStore();
      const small = gateReader({ store, window: from, limits: { [HKD]: { staleMaxAmount: 1000 } } });
      for (const c of [1, 5, 20, 40]) expect((await small.accept(signToken(alice, { payee: 300, amount: 100, counter: c }), { ...fare, complete: true })).accepted).toBe(true);
      const wide = gateReader({ store, window: to, limits: { [HKD]: { staleMaxAmount: 1000 } } });
      // Clones of accepted counters (other bytes): never accepted again.
      for (const c of [20, 5, 1]) {
        const v = await wide.accept(signToken(alice, { payee: 300, amount: 100, counter: c, time: NOW - 1 }), fare);
        expect(v.accepted, `W ${from} -> ${to}, counter ${c}`).toBe(false);
      }
      expect((await wide.accept(signToken(alice, { payee: 300, amount: 100, counter: 41 }), fare)).accepted).toBe(true);
      const c5 = await wide.accept(signToken(alice, { payee: 300, amount: 100, counter: 5, time: NOW - 2 }), fare);
      expect(c5.accepted).toBe(false);
    }
  });
});
