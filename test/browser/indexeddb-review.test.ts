/**
 * From an attack review of the reader in the browser (IndexedDbReaderStore; 2026-12-07), spec/reader.md §9.2:
 * one page at a time (a second tab got its own copy of the state: the same token taken twice, a journal row
 * overwritten, a blocklist undone), a failed write aborts those queued after it (a later write committed, and the
 * database no longer opened), flush() after every state change (a void shown and then lost), and a model
 * comparison of the IndexedDB and SQLite stores on random sequences of calls.
 *
 * Each test drives the SAME scenario (one module, written below as a string) against the durable SQLite store in
 * Node and against IndexedDbReaderStore in real Chromium (playwright-core, /usr/bin/chromium), and expects the
 * browser store to give what SQLite gives (and what spec/reader.md asks). Two tabs of one reader page are two
 * IndexedDbReaderStore.open(name, { mode: 'open' }) of one database: exactly what a second tab (a duplicated kiosk
 * tab, a reload that overlaps the old page) does: now refused (reader.store_in_use) while the first holds it.
 */
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startScratchPage, type ScratchPage } from './scratch-page.js';

const CHROMIUM = '/usr/bin/chromium';
const ROOT = resolve('.');
const haveChromium = existsSync(CHROMIUM);
if (process.env.CI === 'true' && !haveChromium) throw new Error(`CI: ${CHROMIUM} is missing (apt-get install chromium)`);

// ------------------------------------------------------------------------------------------ the scenarios
// Runs in Node (env = SQLite) and in Chromium (env = IndexedDB). Deterministic: fixed keys, clock and journal id.
const SCENARIOS = `
import { Issuer, seededSecretKey, publicKeyOf, dayOf, encodeToken, tokenSigningInput, sign } from '../../src/index.js';
import { walletIdOf } from '../../src/messages.js';
import { Reader, createBlocklist } from '../../src/reader/index.js';
import type { ReaderStore } from '../../src/reader/store.js';
import { toHex } from '../../base/hex.js';
import { mulberry32 } from '../../base/prng.js';

export interface Env {
  kind: string;
  open(name: string, mode: 'create' | 'open'): Promise<ReaderStore>;
  flush(s: ReaderStore): Promise<void>;
}

const NOW = 1_795_000_000;
const HKD = 344;
const issuer = Issuer.fromSecret(7, 1, seededSecretKey('zz-review', 'issuer'), NOW - 86400 * 365, NOW + 86400 * 365);
const rsk = seededSecretKey('zz-review', 'reader');
const cert = issuer.issueReaderCert({ readerId: 5001, readerPublicKey: publicKeyOf(rsk), operatorId: 300, profile: 'transit', notBefore: NOW - 86400, notAfter: NOW + 86400 * 365 }, NOW);
const fare = { fare: { amount: 100, currency: HKD } };

function wallet(label: string) {
  const secretKey = seededSecretKey('zz-review', 'wallet-' + label);
  const wcert = issuer.issueWalletCert({ walletPublicKey: publicKeyOf(secretKey), expiryDay: dayOf(NOW) + 30, maxPerPayment: 50_000, offlineAllowance: 10_000_000, currency: HKD }, NOW);
  return { secretKey, cert: wcert, id: walletIdOf(wcert.walletPublicKey) };
}
const alice = wallet('alice');
const bob = wallet('bob');

function token(w: ReturnType<typeof wallet>, counter: number, time = NOW): Uint8Array {
  const body = { walletCert: w.cert, payee: 300, amount: 100, counter, time };
  return encodeToken({ ...body, walletSignature: sign(tokenSigningInput(body), w.secretKey) });
}
const reader = (store: ReaderStore) => new Reader({ cert, secretKey: rsk, issuerKeys: issuer.keySet(), store, clock: () => NOW, journalId: new Uint8Array(8).fill(7) });
const list = (version: number, ids: Uint8Array[] = []) => createBlocklist(issuer.keys[0]!, { issuerId: 7, version, issuedAt: NOW, walletIds: ids }).bytes;
const code = (f: () => unknown) => { try { f(); return 'ok'; } catch (e) { return (e as { code?: string }).code ?? 'untyped: ' + (e as Error).message; } };
const journalOf = (r: Reader) => r.entries().map((e) => e.kind + ':' + toHex(e.data).slice(-16));

export const scenarios: Record<string, (env: Env, name: string) => Promise<unknown>> = {
  /** One token shown at two tabs of one gate, each sale completed at once (gate passed). */
  async vendOnceAcrossTabs(env, name) {
    const a = await env.open(name, 'create');
    const ra = reader(a);
    ra.loadBlocklist(list(1));
    await env.flush(a);
    const b = await env.open(name, 'open'); // the second tab
    const rb = reader(b);
    const t = token(alice, 1);
    const va = await ra.accept(t, { ...fare, complete: true });
    await env.flush(a);
    const vb = await rb.accept(t, { ...fare, complete: true });
    await env.flush(b);
    a.close();
    b.close();
    return [va.status + ':' + va.reason, vb.status + ':' + vb.reason];
  },

  /** Two honest riders (two wallets) pass two tabs of one gate; the journal must keep both sales. */
  async twoSalesTwoTabs(env, name) {
    const a = await env.open(name, 'create');
    const ra = reader(a);
    ra.loadBlocklist(list(1));
    await env.flush(a);
    const b = await env.open(name, 'open');
    const rb = reader(b);
    const va = await ra.accept(token(alice, 1), { ...fare, complete: true });
    await env.flush(a);
    const vb = await rb.accept(token(bob, 1), { ...fare, complete: true });
    await env.flush(b);
    a.close();
    b.close();
    const c = await env.open(name, 'open'); // the page reloaded
    const rc = reader(c);
    const out = { verdicts: [va.reason, vb.reason], journal: journalOf(rc), chain: rc.verifyJournal().ok, batchEntries: rc.export(NOW).batch.entries.length };
    c.close();
    return out;
  },

  /** The first tab closes, then the second opens: it sees the first's sale (vend once) and its blocklist. */
  async tabAfterClose(env, name) {
    const a = await env.open(name, 'create');
    const ra = reader(a);
    ra.loadBlocklist(list(1));
    ra.loadBlocklist(list(3, [bob.id]));
    const t = token(alice, 1);
    const va = await ra.accept(t, { ...fare, complete: true });
    await env.flush(a);
    a.close();
    const b = await env.open(name, 'open');
    const rb = reader(b);
    const vb = await rb.accept(t, { ...fare, complete: true });
    const vbob = await rb.accept(token(bob, 1), fare);
    const older = code(() => rb.loadBlocklist(list(2)));
    await env.flush(b);
    const out = { verdicts: [va.reason, vb.reason, vbob.reason], older, journal: journalOf(rb), chain: rb.verifyJournal().ok };
    b.close();
    return out;
  },

  /** spec/reader.md §5 step 10 and "One database, several processes", as test/reader/money.test.ts does for SQLite. */
  async blocklistAcrossTabs(env, name) {
    const a = await env.open(name, 'create');
    const ra = reader(a);
    ra.loadBlocklist(list(1));
    await env.flush(a);
    const b = await env.open(name, 'open'); // a long-running tab
    const rb = reader(b);
    ra.loadBlocklist(list(3, [alice.id])); // another tab loads a newer list naming alice
    await env.flush(a);
    const next = await rb.accept(token(alice, 1), fare); // must be decided by version 3
    await env.flush(b);
    const older = code(() => rb.loadBlocklist(list(2))); // must be blocklist.old_version (the store holds 3)
    await env.flush(b);
    a.close();
    b.close();
    const c = await env.open(name, 'open');
    const rc = reader(c);
    const out = { next: next.reason, older, afterReload: rc.blocklistStatus(NOW).version, aliceBlocked: rc.isBlocklisted(alice.id) };
    c.close();
    return out;
  },

  /** Model comparison: one seeded random sequence of calls, the same at every store; returns every outcome. */
  async model(env, name) {
    const seed = parseInt(name.split('#')[1] ?? '1', 10);
    const rnd = mulberry32(seed);
    const pick = <T,>(xs: T[]): T => xs[Math.floor(rnd() * xs.length)]!;
    const wallets = [alice, bob, wallet('carol')];
    let s = await env.open(name, 'create');
    let r = reader(s);
    let now = NOW;
    let version = 1;
    r.loadBlocklist(list(version), now);
    const hashes: Uint8Array[] = [];
    const tapIns: Uint8Array[] = [];
    const out: unknown[] = [];
    const typed = async (f: () => unknown) => { try { return await f(); } catch (e) { return 'throw:' + ((e as { code?: string }).code ?? 'untyped ' + (e as Error).message); } };
    for (let i = 0; i < 60; i++) {
      now += Math.floor(rnd() * 400);
      const op = rnd();
      if (op < 0.45) {
        const w = pick(wallets);
        const body = { walletCert: w.cert, payee: 300, amount: 100, counter: 1 + Math.floor(rnd() * 6), time: now - Math.floor(rnd() * 2) };
        const t = encodeToken({ ...body, walletSignature: sign(tokenSigningInput(body), w.secretKey) });
        const trip = rnd() < 0.3;
        const v = await typed(() => r.accept(rnd() < 0.2 && hashes.length ? t : t, trip ? { tapIn: { maxFare: 100, currency: HKD }, now } : { ...fare, now, complete: rnd() < 0.3 }));
        if (typeof v === 'object' && v && 'tokenHash' in v) { hashes.push((v as { tokenHash: Uint8Array }).tokenHash); if (trip) tapIns.push(t); }
        out.push(['accept', typeof v === 'string' ? v : [(v as { status: string }).status, (v as { reason: string }).reason, (v as { seq?: number }).seq ?? null]]);
      } else if (op < 0.55 && hashes.length) {
        const v = await typed(() => r.void(pick(hashes), now));
        out.push(['void', typeof v === 'string' ? v : (v as { ok: boolean; reason?: string; seq?: number }).ok ? (v as { seq: number }).seq : (v as { reason: string }).reason]);
      } else if (op < 0.62 && hashes.length) {
        out.push(['complete', await typed(() => r.complete(pick(hashes)))]);
      } else if (op < 0.7 && tapIns.length) {
        const v = await typed(() => r.tapOut(pick(tapIns), { fare: 50, currency: HKD, now }));
        out.push(['tapOut', typeof v === 'string' ? v : (v as { reason: string }).reason]);
      } else if (op < 0.78) {
        const v = await typed(() => r.export(now));
        out.push(['export', typeof v === 'string' ? v : toHex((v as { bytes: Uint8Array }).bytes).slice(-32)]);
      } else if (op < 0.84) {
        version += rnd() < 0.2 ? 0 : 1;
        const v = await typed(() => r.loadBlocklist(list(version, rnd() < 0.3 ? [pick(wallets).id] : []), now));
        out.push(['blocklist', typeof v === 'string' ? v : (v as { version: number }).version]);
      } else if (op < 0.9) {
        await env.flush(s);
        s.close();
        s = await env.open(name, 'open');
        r = reader(s);
        out.push(['reopen']);
      } else {
        const w = pick(wallets);
        const body = { walletCert: w.cert, payee: 300, amount: 100, counter: 1 + Math.floor(rnd() * 6), time: now };
        const t = encodeToken({ ...body, walletSignature: sign(tokenSigningInput(body), w.secretKey) });
        const v = await typed(() => r.accept(t, { ...fare, now }));
        out.push(['again', typeof v === 'string' ? v : (v as { reason: string }).reason]);
      }
    }
    await env.flush(s);
    out.push(['journal', s.journal(1).map((row) => toHex(row.hash).slice(0, 16)), r.verifyJournal().ok]);
    s.close();
    return out;
  },
};
`;

const PAGE = `
import { scenarios, type Env } from './scenarios.js';
import { IndexedDbReaderStore } from '../../src/reader/indexeddb.js';
import { Issuer, seededSecretKey, publicKeyOf, dayOf, encodeToken, tokenSigningInput, sign } from '../../src/index.js';
import { Reader, createBlocklist } from '../../src/reader/index.js';

const env: Env = {
  kind: 'indexeddb',
  open: (name, mode) => IndexedDbReaderStore.open(name, { mode }),
  flush: (s) => (s as IndexedDbReaderStore).flush(),
};

const NOW = 1_795_000_000;
const issuer = Issuer.fromSecret(7, 1, seededSecretKey('zz-review', 'issuer'), NOW - 86400 * 365, NOW + 86400 * 365);
const rsk = seededSecretKey('zz-review', 'reader');
const cert = issuer.issueReaderCert({ readerId: 5001, readerPublicKey: publicKeyOf(rsk), operatorId: 300, profile: 'transit', notBefore: NOW - 86400, notAfter: NOW + 86400 * 365 }, NOW);
function token(label: string, counter: number): Uint8Array {
  const secretKey = seededSecretKey('zz-review', 'wallet-' + label);
  const wcert = issuer.issueWalletCert({ walletPublicKey: publicKeyOf(secretKey), expiryDay: dayOf(NOW) + 30, maxPerPayment: 50_000, offlineAllowance: 10_000_000, currency: 344 }, NOW);
  const body = { walletCert: wcert, payee: 300, amount: 100, counter, time: NOW };
  return encodeToken({ ...body, walletSignature: sign(tokenSigningInput(body), secretKey) });
}

/** IndexedDB-only: the browser aborts ONE queued write (QuotaExceededError, an I/O error) while a later one commits. */
async function abortedWrite(name: string) {
  const a = await IndexedDbReaderStore.open(name, { mode: 'create' });
  const r = new Reader({ cert, secretKey: rsk, issuerKeys: issuer.keySet(), store: a, clock: () => NOW, journalId: new Uint8Array(8).fill(7) });
  r.loadBlocklist(createBlocklist(issuer.keys[0]!, { issuerId: 7, version: 1, issuedAt: NOW, walletIds: [] }).bytes);
  await a.flush();
  // Fault injection at the IndexedDB layer (as test/reader/failing-store.ts does for SQLite): the next write
  // transaction the store creates is aborted by the browser before it commits.
  const db = (a as unknown as { db: IDBDatabase }).db;
  const orig = db.transaction.bind(db);
  let k = 0;
  (db as unknown as { transaction: unknown }).transaction = (...args: Parameters<IDBDatabase['transaction']>) => {
    const tx = orig(...args);
    if (k++ === 0) queueMicrotask(() => { try { tx.abort(); } catch { /* already finished */ } });
    return tx;
  };
  // Two tokens judged together (two readers on one gate page, or accept() calls that overlap).
  const fare = { fare: { amount: 100, currency: 344 } };
  const [v1, v2] = await Promise.all([r.accept(token('alice', 1), fare), r.accept(token('bob', 1), fare)]);
  const flushed = await a.flush().then(() => 'ok', (e: { code?: string }) => e.code ?? String(e));
  a.close();
  let reopened: Record<string, unknown>;
  try {
    const s = await IndexedDbReaderStore.open(name, { mode: 'open' });
    const r2 = new Reader({ cert, secretKey: rsk, issuerKeys: issuer.keySet(), store: s, clock: () => NOW });
    reopened = { opened: true, chain: r2.verifyJournal().ok, seqs: r2.entries().map((e) => e.seq) };
    s.close();
  } catch (e) {
    reopened = { opened: false, error: (e as { code?: string }).code ?? 'untyped Error: ' + (e as Error).message };
  }
  return { verdicts: [v1.reason, v2.reason], flushed, reopened };
}


/**
 * A void, then the tab closes (a slow disk is simulated by another connection holding the database for 200 ms:
 * the store's write waits behind it). Before the fix spec/reader.md §9.2 item 3 asked for flush() after accept()
 * only, and a caller that said "refunded" right after void() lost the void with the tab; item 3 now asks for
 * flush() after every state change, and this caller does so before it says it.
 */
async function voidThenTabCloses(name: string) {
  const a = await IndexedDbReaderStore.open(name, { mode: 'create' });
  const r = new Reader({ cert, secretKey: rsk, issuerKeys: issuer.keySet(), store: a, clock: () => NOW, journalId: new Uint8Array(8).fill(7) });
  r.loadBlocklist(createBlocklist(issuer.keys[0]!, { issuerId: 7, version: 1, issuedAt: NOW, walletIds: [] }).bytes);
  const v = await r.accept(token('alice', 1), { fare: { amount: 100, currency: 344 } });
  await a.flush(); // the gate acts on the verdict only now (§9.2 item 3)
  const busy = await new Promise<IDBDatabase>((res, rej) => { const o = indexedDB.open(name); o.onsuccess = () => res(o.result); o.onerror = () => rej(o.error); });
  const hold = busy.transaction(['windows', 'totals', 'tokens', 'journal', 'meta'], 'readwrite');
  let slow = true;
  const spin = () => { if (slow) hold.objectStore('meta').get('x').onsuccess = spin; };
  spin();
  setTimeout(() => (slow = false), 200); // the slow commit ends
  const voided = r.void((v as { tokenHash: Uint8Array }).tokenHash, NOW + 10); // the machine jammed: give the fare back
  await a.flush(); // §9.2 item 3: flush after void, before saying "refunded"
  busy.close();
  return { accepted: v.reason, voided: voided.ok }; // the tab closes now
}

async function afterReload(name: string) {
  const s = await IndexedDbReaderStore.open(name, { mode: 'open' });
  const r = new Reader({ cert, secretKey: rsk, issuerKeys: issuer.keySet(), store: s, clock: () => NOW });
  const out = { kinds: r.entries().map((e) => e.kind), batch: r.export(NOW + 20).batch.entries.map((e) => e.kind) };
  s.close();
  return out;
}

let n = 0;
const w = window as unknown as Record<string, unknown>;
w.__run = async (scenario: string) => {
  const name = 'zz-' + scenario + '-' + n++;
  try {
    if (scenario.startsWith('voidThenTabCloses:')) return { ok: await voidThenTabCloses(scenario.slice(18)) };
    if (scenario.startsWith('afterReload:')) return { ok: await afterReload(scenario.slice(12)) };
    return { ok: scenario === 'abortedWrite' ? await abortedWrite(name) : await scenarios[scenario.split('#')[0]!]!(env, name) };
  } catch (e) {
    return { error: (e as { code?: string }).code ?? String((e as Error)?.stack ?? e) };
  }
};
w.__ready = true;
`;

// ------------------------------------------------------------------------------------------ the harness
let scratch: ScratchPage | undefined;
const dbDir = mkdtempSync(join(tmpdir(), 'offpay-idb-review-'));
beforeAll(async () => {
  if (haveChromium) scratch = await startScratchPage(ROOT, CHROMIUM, { 'scenarios.ts': SCENARIOS, 'page.ts': PAGE }, 'idb-review-');
}, 120_000);
afterAll(async () => {
  await scratch?.close();
  rmSync(dbDir, { recursive: true, force: true });
});

const inBrowser = (scenario: string): Promise<unknown> => scratch!.run(scenario);

let dbn = 0;
async function inSqlite(scenario: string): Promise<unknown> {
  const { SqliteReaderStore } = await import('../../src/reader/sqlite.js');
  const mod = (await import(/* @vite-ignore */ join(scratch!.dir, 'scenarios.ts'))) as { scenarios: Record<string, (env: unknown, name: string) => Promise<unknown>> };
  const env = {
    kind: 'sqlite',
    open: async (name: string, mode: 'create' | 'open') => (mode === 'create' ? SqliteReaderStore.create(join(dbDir, name + '.db')) : SqliteReaderStore.open(join(dbDir, name + '.db'))),
    flush: async () => {},
  };
  return mod.scenarios[scenario.split('#')[0]!]!(env, `${scenario}-${dbn++}`);
}

describe.skipIf(!haveChromium)('the reader in the browser: IndexedDbReaderStore against SQLite (attack review)', () => {
  // SQLite allows several handles on one database (several processes, spec/reader.md §5); a browser page works
  // from a copy in memory, so a second page is refused while the first holds the database (§9.2 item 1).
  it('a second tab of one gate cannot open its database while the first holds it (it took the same token again: vend once, I1)', async () => {
    expect(await inSqlite('vendOnceAcrossTabs')).toEqual(['accepted:ok', 'rejected:replayed']);
    expect(await inBrowser('vendOnceAcrossTabs')).toEqual({ error: 'reader.store_in_use' });
  }, 120_000);

  it('a second tab cannot open it to write its own sale as the same journal row (one accepted sale was lost)', async () => {
    const sqlite = (await inSqlite('twoSalesTwoTabs')) as { journal: string[] };
    expect(sqlite.journal).toHaveLength(2);
    expect(await inBrowser('twoSalesTwoTabs')).toEqual({ error: 'reader.store_in_use' });
  }, 120_000);

  it('a second tab cannot open it to undo a blocklist (it did not see a newer list and loaded an older one)', async () => {
    expect(await inSqlite('blocklistAcrossTabs')).toEqual({ next: 'blocklisted', older: 'blocklist.old_version', afterReload: 3, aliceBlocked: true });
    expect(await inBrowser('blocklistAcrossTabs')).toEqual({ error: 'reader.store_in_use' });
  }, 120_000);

  it('once the first tab closes, the next one opens and sees its sale and blocklist, as SQLite does', async () => {
    const sqlite = await inSqlite('tabAfterClose');
    expect(sqlite).toMatchObject({ verdicts: ['ok', 'replayed', 'blocklisted'], older: 'blocklist.old_version', chain: true });
    expect(await inBrowser('tabAfterClose')).toEqual(sqlite);
  }, 120_000);

  it('one aborted IndexedDB write aborts those queued after it: the disk is a prefix and the database opens (it held seq 2 without seq 1, and failed untyped)', async () => {
    const r = (await inBrowser('abortedWrite')) as { verdicts: string[]; flushed: string; reopened: Record<string, unknown> };
    expect(r.verdicts).toEqual(['ok', 'ok']);
    expect(r.flushed).toBe('reader.store_unusable'); // fails closed in memory, as §9.2 item 4 says
    // §9.2 item 2: "the disk always holds the state after a prefix of the committed transactions": a reload must
    // open, and find a journal that chains from seq 1 (here: nothing of the two sales, or both).
    expect(r.reopened).toEqual({ opened: true, chain: true, seqs: expect.any(Array) });
    expect([[], [1], [1, 2]]).toContainEqual(r.reopened.seqs);
  }, 120_000);

  it('a void flushed before the tab closes is kept: clearing is sent the sale with its void (§9.2 item 3)', async () => {
    const first = await inBrowser('voidThenTabCloses:zz-void');
    expect(first).toEqual({ accepted: 'ok', voided: true });
    await scratch!.reopen(); // the tab is closed right after the void was shown, and opened again (same IndexedDB)
    expect(await inBrowser('afterReload:zz-void')).toEqual({ kinds: ['accept', 'void'], batch: ['accept', 'void'] });
  }, 120_000);

  it('model: seeded random sequences of accept, void, complete, tap-out, export, blocklist and reopen give the same outcomes and journal in IndexedDB as in SQLite', async () => {
    for (const seed of [1, 2, 3, 4]) {
      const sqlite = await inSqlite(`model#${seed}`);
      expect(await inBrowser(`model#${seed}`)).toEqual(sqlite);
    }
  }, 240_000);
});
