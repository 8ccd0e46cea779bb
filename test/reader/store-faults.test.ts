/**
 * Store faults in a reader process that LIVES ON (spec/reader.md §1 Atomicity, §13): a write, a commit or a read
 * of the store throws (disk full, I/O error) in the middle of any operation, and the process keeps serving. This
 * is not the SIGKILL campaign (crash.test.ts): here the Reader object, and whatever it holds in memory, survives
 * the failure and judges the next customer.
 *
 * Model-based, with a twin. Every run drives two readers with the same certificate, key, journal id and inputs:
 * A over a {@link FailingStore} (one chosen call throws, at a random site of a random step), and B over a store of
 * the same kind that never fails. A step whose fault fired is skipped on B (it must have had no effect); every
 * other step runs on both. After every step:
 *
 * 1. a step whose fault fired THREW: never a verdict, never a void or a batch; with the SQLite store the error is
 *    an OffpayError with a code the spec lists (a full disk is `reader.store_unusable`, not an untyped error);
 * 2. A's store holds exactly what it held before that step (all or nothing);
 * 3. every other step gives the same outcome on A and B (verdict, void, batch bytes, error code), and A's store
 *    equals B's, table for table: A behaves as a reader that never saw the failure, so nothing it holds in
 *    memory went stale (a retried token pays, a replay is refused, the journal chains on);
 * 4. money, whatever B does: no token and no (wallet, counter) is accepted twice.
 *
 * At the end of a run, A's journal verifies, every batch A exported is re-created byte for byte, and clearing
 * ingests them all in order (no bad_chain, no fork).
 *
 * Three parts: the random campaign (faults at random sites of random days, over MemoryReaderStore and
 * SqliteReaderStore, a vending machine and a gate); a sweep of EVERY site of every step of a fixed day; and a real
 * full disk (SQLite's max_page_count on a database file) instead of an injected error. Faults are injected by
 * test/reader/failing-store.ts. STORE_FAULT_RUNS=n runs the campaign longer; STORE_FAULT_STATS=1 prints what it hit.
 *
 * What it found (CHANGELOG 0.2.0, "Reader: a store that fails"): SQLITE_FULL and SQLITE_IOERR reached the caller as
 * untyped SqliteErrors (now reader.store_unusable); and `export` read and signed its batches after committing
 * them, so a read failing there left batches recorded as exported that the caller never received.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { ERROR_CODES } from '../../base/error-codes.js';
import { OffpayError } from '../../base/errors.js';
import { toHex } from '../../base/hex.js';
import { Clearing } from '../../src/clearing/index.js';
import { PAYMENT_CODE_SIGNED_TIME, tokenHash, walletIdOf } from '../../src/index.js';
import { nodeEd25519 } from '../../src/node/crypto.js';
import { createBlocklist, MemoryReaderStore, Reader, type AcceptContext, type ReaderOptions, type ReaderStore } from '../../src/reader/index.js';
import { SqliteReaderStore } from '../../src/reader/sqlite.js';
import { FailingStore, InjectedFault, type FaultPlan } from './failing-store.js';
import { HKD, NOW, makeIssuer, makeReader, makeWallet, signToken, type TestWallet } from './helpers.js';

const issuer = makeIssuer('store-faults');
const VEND_ID = 4401;
const GATE_ID = 5401;
const OPERATOR = 300;
const vend = makeReader(issuer, 'store-faults', VEND_ID, 'vending');
const gate = makeReader(issuer, 'store-faults', GATE_ID, 'transit', OPERATOR);
const wallets: TestWallet[] = [
  makeWallet(issuer, 'store-faults', 'a'),
  makeWallet(issuer, 'store-faults', 'b', { maxPerPayment: 5_000, offlineAllowance: 9_000 }), // its allowance total runs out within a run
  makeWallet(issuer, 'store-faults', 'c'), // the one a blocklist may name
];
const blockedId = walletIdOf(wallets[2]!.cert.walletPublicKey);
const JOURNAL_ID = Uint8Array.from([5, 4, 0, 1, 0xfa, 0x17, 0xed, 0x01]);
const MAX_FARE = 2000;

type StoreKind = 'memory' | 'sqlite';
type Profile = 'vending' | 'transit';

type Cmd =
  | { k: 'request'; amount: number; code: boolean }
  | { k: 'close' }
  | { k: 'pay'; w: number; amount: number }
  | { k: 'tapIn'; w: number }
  | { k: 'other'; w: number; i: number }
  | { k: 'clone'; w: number; amount: number }
  | { k: 'replay'; i: number }
  | { k: 'tapOut'; i: number; fare: number }
  | { k: 'complete'; i: number }
  | { k: 'void'; i: number }
  | { k: 'blocklist'; block: boolean; step: number }
  | { k: 'export' }
  | { k: 'reexport'; n: number }
  | { k: 'reopen' }
  | { k: 'retry' }
  | { k: 'clock'; dt: number };

const amount = fc.integer({ min: 100, max: 4000 });
const cmd: fc.Arbitrary<Cmd> = fc.oneof(
  { weight: 3, arbitrary: fc.record({ k: fc.constant('request' as const), amount, code: fc.boolean() }) },
  { weight: 1, arbitrary: fc.record({ k: fc.constant('close' as const) }) },
  { weight: 6, arbitrary: fc.record({ k: fc.constant('pay' as const), w: fc.nat(2), amount }) },
  { weight: 3, arbitrary: fc.record({ k: fc.constant('tapIn' as const), w: fc.nat(2) }) },
  { weight: 1, arbitrary: fc.record({ k: fc.constant('other' as const), w: fc.nat(2), i: fc.nat(20) }) },
  { weight: 2, arbitrary: fc.record({ k: fc.constant('clone' as const), w: fc.nat(2), amount }) },
  { weight: 4, arbitrary: fc.record({ k: fc.constant('replay' as const), i: fc.nat(40) }) },
  { weight: 3, arbitrary: fc.record({ k: fc.constant('tapOut' as const), i: fc.nat(40), fare: fc.integer({ min: 1, max: MAX_FARE + 200 }) }) },
  { weight: 2, arbitrary: fc.record({ k: fc.constant('complete' as const), i: fc.nat(40) }) },
  { weight: 2, arbitrary: fc.record({ k: fc.constant('void' as const), i: fc.nat(40) }) },
  { weight: 2, arbitrary: fc.record({ k: fc.constant('blocklist' as const), block: fc.boolean(), step: fc.integer({ min: 0, max: 2 }) }) },
  { weight: 3, arbitrary: fc.record({ k: fc.constant('export' as const) }) },
  { weight: 1, arbitrary: fc.record({ k: fc.constant('reexport' as const), n: fc.nat(8) }) },
  { weight: 1, arbitrary: fc.record({ k: fc.constant('reopen' as const) }) },
  { weight: 3, arbitrary: fc.record({ k: fc.constant('retry' as const) }) },
  { weight: 3, arbitrary: fc.record({ k: fc.constant('clock' as const), dt: fc.oneof({ weight: 6, arbitrary: fc.integer({ min: -30, max: 120 }) }, { weight: 1, arbitrary: fc.integer({ min: 0, max: 2 * 86_400 }) }) }) },
);
/**
 * A fault at a random site of the step: `at` is a fraction of the most sites a command of its kind was seen to
 * pass in this run, plus two (so the last sites, after a commit, are as likely as the first); writes and commits
 * only, or reads too. With `exact`, `at` is the site's index itself (the sweep below).
 */
interface Fault {
  at: number;
  reads: boolean;
  afterWrite: boolean;
  exact?: boolean;
}
const fault: fc.Arbitrary<Fault> = fc.record({ at: fc.nat(999).map((n) => n / 1000), reads: fc.boolean(), afterWrite: fc.boolean() });
/** A command, the fault (if any) armed while it runs, and whether a failed one is tried again at once. */
const step = fc.record({ cmd, fault: fc.option(fault, { freq: 2, nil: undefined }), again: fc.boolean() });
type Step = { cmd: Cmd; fault?: Fault | undefined; again: boolean };
/** The fault and retry of a run's first step, which is always {@link FIRST_LIST}. */
const firstStep = fc.record({ fault: fc.option(fault, { freq: 2, nil: undefined }), again: fc.boolean() });
/** The first step of every run: a new reader loads its first blocklist (version 1). */
const FIRST_LIST: Cmd = { k: 'blocklist', block: false, step: 1 };

// ----------------------------------------------------------------------------------------- store state

/** Every row of every table of a store, as plain JSON: two stores hold the same state iff their dumps are equal. */
function dump(s: ReaderStore): unknown {
  if (s instanceof SqliteReaderStore) {
    const all = (sql: string) => plain(s.db.prepare(sql).all());
    return {
      windows: all('SELECT * FROM windows ORDER BY wallet_id'),
      totals: all('SELECT * FROM totals ORDER BY key'),
      tokens: all('SELECT * FROM tokens ORDER BY hash'),
      journal: all('SELECT * FROM journal ORDER BY seq'),
      meta: all('SELECT * FROM meta ORDER BY key'),
    };
  }
  // MemoryReaderStore keeps its tables in private maps; read them as they are (a test may).
  const m = s as unknown as { windows: Map<string, unknown>; totals: Map<string, unknown>; tokens: Map<string, unknown>; rows: unknown[]; meta: Map<string, unknown> };
  const sorted = (map: Map<string, unknown>) => plain([...map.entries()].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)));
  return { windows: sorted(m.windows), totals: sorted(m.totals), tokens: sorted(m.tokens), journal: plain(m.rows), meta: sorted(m.meta) };
}

/** JSON-comparable form of a value: bytes as hex, objects with their keys sorted, bigints as strings. */
function plain(x: unknown): unknown {
  if (x instanceof Uint8Array) return `0x${toHex(x)}`;
  if (typeof x === 'bigint') return `${x}n`;
  if (x instanceof Reader) return 'reader';
  if (Array.isArray(x)) return x.map(plain);
  if (x && typeof x === 'object') {
    return Object.fromEntries(Object.entries(x).filter(([, v]) => v !== undefined).sort(([a], [b]) => (a < b ? -1 : 1)).map(([k, v]) => [k, plain(v)]));
  }
  return x;
}

// ------------------------------------------------------------------------------------------- outcomes

type Outcome = { ok: unknown } | { error: string; thrown: unknown };

async function outcome(f: () => unknown): Promise<Outcome> {
  try {
    return { ok: plain(await f()) };
  } catch (e) {
    return { error: e instanceof OffpayError ? e.code : e instanceof InjectedFault ? 'injected' : String(e), thrown: e };
  }
}
const comparable = (o: Outcome) => ('ok' in o ? o : { error: o.error });

/**
 * Invariant 1: a failed store call ends the operation with an error, never a result; from the durable store it is
 * typed with a code the spec lists. (MemoryReaderStore has no error of its own: it rethrows its writer's.)
 */
function checkFailure(o: Outcome, kind: StoreKind, fired: InjectedFault): void {
  expect('error' in o, `the store failed (${fired.message}) and the operation still returned ${JSON.stringify('ok' in o ? o.ok : '')}`).toBe(true);
  const e = (o as { thrown: unknown }).thrown;
  if (e instanceof OffpayError) expect(ERROR_CODES as readonly string[]).toContain(e.code);
  else if (kind === 'memory') expect(e).toBe(fired);
  else expect.fail(`the SQLite store let an untyped error through: ${String(e)} (code ${(e as { code?: string }).code})`);
  if (kind === 'sqlite') expect((e as OffpayError).code).toBe('reader.store_unusable');
}

// ------------------------------------------------------------------------------------------------ a run

const lists = new Map<string, Uint8Array>();
/** A signed blocklist (memoised: signing with the issuer key is the slowest step of a run). */
function blocklist(version: number, issuedAt: number, block: boolean): Uint8Array {
  const key = `${version}:${issuedAt}:${block}`;
  let bytes = lists.get(key);
  if (!bytes) lists.set(key, (bytes = createBlocklist(issuer.keys[0]!, { issuerId: issuer.issuerId, version, issuedAt, walletIds: block ? [blockedId] : [] }).bytes));
  return bytes;
}

function newStore(kind: StoreKind): ReaderStore {
  return kind === 'memory' ? new MemoryReaderStore() : SqliteReaderStore.create(':memory:');
}

function readerOver(profile: Profile, store: ReaderStore, clock: () => number): Reader {
  const base: ReaderOptions = { ...(profile === 'vending' ? vend : gate), issuerKeys: issuer.keySet(), store, verifier: nodeEd25519(), clock, journalId: JOURNAL_ID };
  return profile === 'vending'
    ? new Reader({ ...base, limits: { [HKD]: { maxAmount: 3500, dailyTotal: 20_000 } } })
    : new Reader({ ...base, limits: { [HKD]: { dailyTotal: 15_000, staleMaxAmount: MAX_FARE } } });
}

/** A token shown to the readers: its bytes and the context it was shown with (a replay repeats both). */
interface Shown {
  bytes: Uint8Array;
  ctx: AcceptContext;
}

interface Stats {
  steps: number;
  fired: number;
  firedBy: Record<string, number>;
  accepted: number;
  retriedAccepted: number;
  /** Outcomes by command and verdict (accepted, a reason, an error code), printed with STORE_FAULT_STATS=1. */
  outcomes: Record<string, number>;
}

async function run(kind: StoreKind, profile: Profile, steps: Step[], stats: Stats): Promise<void> {
  let now = NOW;
  const clock = () => now;
  const failing = new FailingStore(newStore(kind));
  const twinStore = newStore(kind);
  let a = readerOver(profile, failing, clock);
  let b = readerOver(profile, twinStore, clock);
  const vending = profile === 'vending';
  const counters = [0, 0, 0];
  const requests: { challenge: Uint8Array; amount: number; time: number; code: boolean }[] = [];
  const shown: Shown[] = [];
  const accepted = new Set<string>(); // token hashes A charged
  const counterUsed = new Set<string>(); // wallet:counter A charged
  const batches = new Map<number, Uint8Array>(); // batch seq -> bytes, as A exported them
  let lastFailed: ((r: Reader) => unknown) | undefined;
  let nChallenge = 0;
  /** The most sites (writes and commits; all) a command of each kind passed so far. */
  const span = new Map<string, { writes: number; all: number }>();
  const plan = (k: string, f: Fault): FaultPlan => {
    const seen = span.get(k);
    const n = seen ? (f.reads ? seen.all : seen.writes) + 2 : 12;
    return { at: f.exact ? f.at : Math.floor(f.at * n), reads: f.reads, afterWrite: f.afterWrite };
  };

  /** A fresh token of wallet `w` (counter `counter`, default the next one). */
  const token = (w: number, p: { amount: number; time: number; challenge?: Uint8Array; payee: number }, counter = ++counters[w]!) =>
    signToken(wallets[w]!, { payee: p.payee, amount: p.amount, counter, time: p.time, ...(p.challenge ? { challenge: p.challenge } : {}) });
  const forRequest = (w: number, req: (typeof requests)[number], counter?: number): Shown => ({
    bytes: token(w, { amount: req.amount, time: req.code ? PAYMENT_CODE_SIGNED_TIME : req.time, challenge: req.challenge, payee: VEND_ID }, counter),
    ctx: {},
  });
  /** The request open at the twin (which never failed), else the last one issued. */
  const current = () => {
    const open = b.openRequestInfo();
    return open ? requests.find((r) => toHex(r.challenge) === toHex(open.request.challenge)) : requests.at(-1);
  };
  const present = (s: Shown) => {
    shown.push(s);
    return (r: Reader) => r.accept(s.bytes, { ...s.ctx, now });
  };

  /** The operation a command stands for, as a function of the reader it runs on (undefined: nothing to do). */
  const opOf = (c: Cmd): ((r: Reader) => unknown) | undefined => {
    switch (c.k) {
      case 'request': {
        if (!vending) return undefined;
        const challenge = new Uint8Array(8);
        // A payment code's challenge has 21 significant bits; an ordinary one any 8 bytes.
        new DataView(challenge.buffer).setUint32(4, c.code ? ++nChallenge : 0x5a000000 + ++nChallenge);
        const req = { challenge, amount: c.amount, time: now, code: c.code };
        requests.push(req);
        return (r) => r.openRequest({ amount: req.amount, currency: HKD, now: req.time, challenge, code: req.code });
      }
      case 'close':
        return vending ? (r) => r.closeRequest() : undefined;
      case 'pay': {
        if (!vending) return present({ bytes: token(c.w, { amount: c.amount, time: now, payee: OPERATOR }), ctx: { fare: { amount: c.amount, currency: HKD } } });
        // The customer pays the price on the screen; a machine whose request is paid or old shows the next one first.
        const open = b.openRequestInfo();
        if (!open || open.paidBy || now - open.request.time > b.profile.maxAgeSeconds) return opOf({ k: 'request', amount: c.amount, code: c.w === 1 });
        return present(forRequest(c.w, current()!));
      }
      case 'tapIn': {
        if (!vending) return present({ bytes: token(c.w, { amount: MAX_FARE, time: now, payee: OPERATOR }), ctx: { tapIn: { maxFare: MAX_FARE, currency: HKD } } });
        const req = current();
        return req && present({ ...forRequest(c.w, req), ctx: { complete: true } }); // a sale with nothing left to dispense
      }
      case 'other': {
        if (!vending) {
          // Tapped in at another gate: this gate first sees it at its tap-out.
          shown.push({ bytes: token(c.w, { amount: MAX_FARE, time: now, payee: OPERATOR }), ctx: { tapIn: { maxFare: MAX_FARE, currency: HKD } } });
          return undefined;
        }
        const req = requests[c.i % Math.max(1, requests.length)];
        return req && present(forRequest(c.w, req)); // for a closed or superseded request
      }
      case 'clone': {
        if (counters[c.w] === 0) return undefined;
        if (!vending) return present({ bytes: token(c.w, { amount: c.amount, time: now, payee: OPERATOR }, counters[c.w]), ctx: { fare: { amount: c.amount, currency: HKD } } });
        const req = current();
        return req && present(forRequest(c.w, req, counters[c.w]));
      }
      case 'replay': {
        const s = shown[c.i % Math.max(1, shown.length)];
        return s && ((r) => r.accept(s.bytes, { ...s.ctx, now }));
      }
      case 'tapOut': {
        const s = shown[c.i % Math.max(1, shown.length)];
        return s && !vending ? (r) => r.tapOut(s.bytes, { fare: c.fare, currency: HKD, now }) : undefined;
      }
      case 'complete':
      case 'void': {
        const s = shown[c.i % Math.max(1, shown.length)];
        if (!s) return undefined;
        const h = tokenHash(s.bytes);
        return c.k === 'complete' ? (r) => r.complete(h) : (r) => r.void(h, now);
      }
      case 'blocklist': {
        const version = b.blocklistStatus(now).version + c.step; // step 0: the version held again (old_version)
        const list = blocklist(Math.max(1, version), now, c.block);
        return (r) => r.loadBlocklist(list, now);
      }
      case 'export':
        return (r) => r.export(now);
      case 'reexport':
        return (r) => r.exportBatch(1 + (c.n % (b.exportedBatches() + 1)));
      case 'reopen':
        return (r) => (r === a ? (a = readerOver(profile, failing, clock)) : (b = readerOver(profile, twinStore, clock)));
      case 'retry':
        return lastFailed;
      case 'clock':
        now += c.dt;
        return undefined;
    }
  };

  try {
    const queue = [...steps];
    for (let next = queue.shift(); next; next = queue.shift()) {
      const { cmd: c, fault: f } = next;
      const op = opOf(c);
      if (!op) continue;
      stats.steps++;
      const before = dump(failing.inner);
      if (f) failing.arm(plan(c.k, f));
      failing.count();
      const ra = await outcome(() => op(a));
      failing.disarm();
      const seen = span.get(c.k) ?? { writes: 0, all: 0 };
      span.set(c.k, { writes: Math.max(seen.writes, failing.passed.writes), all: Math.max(seen.all, failing.passed.writes + failing.passed.reads) });
      const fired = failing.fired;
      failing.fired = undefined;
      if (fired) {
        stats.fired++;
        stats.firedBy[`${c.k}:${fired.site}`] = (stats.firedBy[`${c.k}:${fired.site}`] ?? 0) + 1;
        checkFailure(ra, kind, fired); // 1. an error, typed
        expect(dump(failing.inner), `after a failed ${c.k} (${fired.message}) the store changed`).toEqual(before); // 2. all or nothing
        lastFailed = op;
        if (next.again) queue.unshift({ cmd: { k: 'retry' }, again: false }); // the customer tries again at once
      } else {
        const rb = await outcome(() => op(b));
        expect(comparable(ra), `${c.k}: the reader that met a store fault differs from one that never did`).toEqual(comparable(rb)); // 3.
        // 4. money: A never charges a token or a counter twice
        const v = 'ok' in ra ? (ra.ok as { status?: string; tokenHash?: string; walletId?: string; counter?: number } | undefined) : undefined;
        if (c.k === 'retry' && v?.status === 'accepted') stats.retriedAccepted++;
        const label = `${c.k}:${'error' in ra ? ra.error : ((v as { reason?: string } | undefined)?.reason ?? 'ok')}`;
        stats.outcomes[label] = (stats.outcomes[label] ?? 0) + 1;
        if (c.k === 'retry') lastFailed = undefined;
        if (v?.status === 'accepted') {
          stats.accepted++;
          expect(accepted.has(v.tokenHash!), 'a token charged twice').toBe(false);
          expect(counterUsed.has(`${v.walletId}:${v.counter}`), 'a wallet counter charged twice').toBe(false);
          accepted.add(v.tokenHash!);
          counterUsed.add(`${v.walletId}:${v.counter}`);
        }
        const exported = 'ok' in ra && (c.k === 'export' || c.k === 'retry') ? (ra.ok as { batches?: { batch: { batchSeq: number }; bytes: string }[] } | undefined)?.batches : undefined;
        for (const x of exported ?? []) batches.set(x.batch.batchSeq, fromPlain(x.bytes));
      }
      expect(dump(failing.inner), `after ${c.k}${fired ? ' (failed)' : ''}: the store of the reader that met faults differs from the twin's`).toEqual(dump(twinStore));
    }

    // The journal chains, every batch re-creates byte for byte, and clearing takes them all in order.
    expect(a.verifyJournal().ok).toBe(true);
    const last = a.export(now).batches.at(-1)!;
    batches.set(last.batch.batchSeq, last.bytes);
    const clearing = new Clearing({ issuerKeys: issuer.keySet(), clock: () => now + 3600 });
    try {
      for (let n = 1; n <= a.exportedBatches(); n++) {
        const again = a.exportBatch(n).bytes;
        if (batches.has(n)) expect(toHex(again), `batch ${n} re-created`).toBe(toHex(batches.get(n)!));
        const ing = await clearing.ingest(again);
        expect(ing.error, `clearing refused batch ${n}`).toBeUndefined();
        expect(ing.outcome).toBe('ingested');
      }
    } finally {
      await clearing.close();
    }
  } finally {
    a.store.close();
    twinStore.close();
  }
}

function fromPlain(hex: string): Uint8Array {
  return Uint8Array.from(Buffer.from(hex.slice(2), 'hex'));
}

describe('reader store faults: a failed read, write or commit leaves the reader as if the operation never ran', () => {
  it.each([
    ['memory', 'vending'],
    ['memory', 'transit'],
    ['sqlite', 'vending'],
    ['sqlite', 'transit'],
  ] as const)('%s store, %s reader', async (kind, profile) => {
    const stats: Stats = { steps: 0, fired: 0, firedBy: {}, accepted: 0, retriedAccepted: 0, outcomes: {} };
    await fc.assert(
      // A reader starts with no blocklist: its first step loads one (and may fail too).
      fc.asyncProperty(firstStep, fc.array(step, { minLength: 5, maxLength: 60 }), (first, steps) => run(kind, profile, [{ ...first, cmd: FIRST_LIST }, ...steps], stats)),
      { numRuns: Number(process.env.STORE_FAULT_RUNS ?? 100), seed: 20261207 + kind.length * 7 + profile.length },
    );
    if (process.env.STORE_FAULT_STATS) console.log(kind, profile, JSON.stringify(stats));
    // The campaign must exercise something: faults in writes, commits and reads of the money paths, failed
    // payments that pay when retried.
    const by = (site: string) => Object.entries(stats.firedBy).filter(([k]) => k.endsWith(`:${site}`)).reduce((n, [, v]) => n + v, 0);
    expect(stats.fired).toBeGreaterThan(150);
    expect(Math.min(by('write'), by('commit'), by('read'))).toBeGreaterThan(8);
    expect((stats.firedBy['export:read'] ?? 0) + (stats.firedBy['export:commit'] ?? 0)).toBeGreaterThan(3);
    expect(stats.retriedAccepted).toBeGreaterThan(10);
  }, 120_000);
});

/**
 * Every site of every operation of a fixed day of work, one at a time: the fault at site k of step i, the customer
 * (or the operator) trying again at once, then the rest of the day; on with k until the step passes k sites.
 */
const DAY: Record<Profile, Cmd[]> = {
  vending: [
    FIRST_LIST,
    { k: 'request', amount: 1200, code: false },
    { k: 'pay', w: 0, amount: 1200 }, // accepted
    { k: 'replay', i: 0 }, // resumed
    { k: 'void', i: 0 },
    { k: 'request', amount: 800, code: true },
    { k: 'pay', w: 1, amount: 800 }, // a payment code, accepted
    { k: 'complete', i: 1 },
    { k: 'blocklist', block: true, step: 1 },
    { k: 'pay', w: 2, amount: 500 }, // no request open: the machine opens one
    { k: 'pay', w: 2, amount: 500 }, // blocklisted
    { k: 'clone', w: 0, amount: 500 }, // counter 1 again: conflict evidence
    { k: 'export' },
    { k: 'pay', w: 0, amount: 500 }, // accepted
    { k: 'close' },
    { k: 'export' },
    { k: 'reexport', n: 0 },
    { k: 'reopen' },
    { k: 'pay', w: 1, amount: 700 },
    { k: 'pay', w: 1, amount: 700 },
  ],
  transit: [
    FIRST_LIST,
    { k: 'pay', w: 0, amount: 300 }, // a fixed fare
    { k: 'tapIn', w: 1 },
    { k: 'replay', i: 1 }, // the gate re-reads the tap-in: resumed
    { k: 'tapOut', i: 1, fare: 450 },
    { k: 'other', w: 0, i: 0 }, // tapped in at another gate
    { k: 'tapOut', i: 2, fare: 600 }, // its tap-out here
    { k: 'replay', i: 2 }, // already_tapped_out
    { k: 'void', i: 0 },
    { k: 'clone', w: 1, amount: 300 }, // counter of the tap-in again: conflict evidence
    { k: 'blocklist', block: true, step: 1 },
    { k: 'tapIn', w: 2 }, // blocklisted
    { k: 'export' },
    { k: 'tapIn', w: 0 },
    { k: 'complete', i: 5 },
    { k: 'export' },
    { k: 'reopen' },
    { k: 'pay', w: 1, amount: 250 },
  ],
};

describe('reader store faults: every site of every operation of a day of work', () => {
  it.each([
    ['sqlite', 'vending'],
    ['memory', 'transit'],
  ] as const)('%s store, %s reader', async (kind, profile) => {
    const day = DAY[profile];
    let swept = 0;
    for (let i = 0; i < day.length; i++) {
      for (let k = 0; k < 80; k++) {
        const stats: Stats = { steps: 0, fired: 0, firedBy: {}, accepted: 0, retriedAccepted: 0, outcomes: {} };
        // Tried again at once, or not (the next customer comes); a write failing before or after it reached the store.
        const f: Fault = { at: k, exact: true, reads: true, afterWrite: k % 4 >= 2 };
        const steps: Step[] = day.map((cmd, j) => ({ cmd, again: j === i && k % 2 === 0, ...(j === i ? { fault: f } : {}) }));
        await run(kind, profile, steps, stats);
        if (stats.fired === 0) break; // step i passes fewer than k + 1 sites
        swept++;
      }
    }
    if (process.env.STORE_FAULT_STATS) console.log(kind, profile, 'sites swept', swept);
    expect(swept).toBeGreaterThan(100);
  }, 120_000);
});

describe('reader store faults: a real full disk (SQLite max_page_count, a database file in WAL mode)', () => {
  it('an accept that finds the disk full is reader.store_unusable and records nothing; once there is room, the same token pays', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'offpay-full-'));
    try {
      const path = join(dir, 'reader.db');
      let now = NOW;
      const fare = { fare: { amount: 1, currency: HKD } };
      let store = SqliteReaderStore.create(path);
      let r = readerOver('transit', store, () => now);
      r.loadBlocklist(blocklist(1, now, false), now);
      store.db.pragma(`max_page_count = ${store.db.pragma('page_count', { simple: true }) as number}`); // not one page more
      const paid: Uint8Array[] = [];
      let full: Uint8Array | undefined;
      for (let counter = 1; counter <= 300 && !full; counter++) {
        const bytes = signToken(wallets[0]!, { payee: OPERATOR, amount: 1, counter, time: now });
        const before = dump(store);
        const o = await outcome(() => r.accept(bytes, { ...fare, now }));
        if ('ok' in o) {
          expect(o.ok).toMatchObject({ accepted: true, status: 'accepted' });
          paid.push(bytes);
          continue;
        }
        expect(o.thrown).toBeInstanceOf(OffpayError);
        expect(o.thrown).toMatchObject({ code: 'reader.store_unusable', detail: { sqlite: 'SQLITE_FULL' } });
        expect(dump(store)).toEqual(before); // nothing of it
        full = bytes;
      }
      expect(full, 'the disk never filled').toBeDefined();
      expect(paid.length).toBeGreaterThan(0);
      // Still full: what needs no write is still judged (a paid token is not paid again), what needs one is refused.
      now += 60;
      expect(await r.accept(paid[0]!, { ...fare, now })).toMatchObject({ accepted: false, reason: 'already_accepted' });
      await expect(r.accept(full!, { ...fare, now })).rejects.toMatchObject({ code: 'reader.store_unusable' });
      // Room again: the same token pays, once; the journal chains and clearing takes it all.
      store.db.pragma('max_page_count = 1073741823');
      expect(await r.accept(full!, { ...fare, now })).toMatchObject({ accepted: true, status: 'accepted', charged: true });
      expect(await r.accept(full!, { ...fare, now })).toMatchObject({ accepted: true, status: 'resumed', charged: false });
      const batch = r.export(now);
      store.close();
      store = SqliteReaderStore.open(path); // and a reader opened afresh agrees
      r = readerOver('transit', store, () => now);
      expect(r.verifyJournal().ok).toBe(true);
      expect(r.head().seq).toBe(paid.length + 1);
      expect(await r.accept(full!, { ...fare, now: now + 60 })).toMatchObject({ accepted: false, reason: 'already_accepted' });
      const clearing = new Clearing({ issuerKeys: issuer.keySet(), clock: () => now + 3600 });
      try {
        expect(await clearing.ingest(batch.bytes)).toMatchObject({ outcome: 'ingested', entries: paid.length + 1, invalidTokens: 0 });
      } finally {
        await clearing.close();
      }
      store.close();
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('reader store faults: a SQLite error that is not the machine\'s', () => {
  it('a constraint violation (a bug: a journal seq written twice) is thrown as it is, not reader.store_unusable "try again", and the transaction is rolled back', () => {
    const store = SqliteReaderStore.create(':memory:');
    try {
      store.transact((tx) => tx.append({ seq: 1, bytes: new Uint8Array([1]), hash: new Uint8Array(32) }));
      let err: unknown;
      try {
        store.transact((tx) => tx.append({ seq: 1, bytes: new Uint8Array([2]), hash: new Uint8Array(32) }));
      } catch (e) {
        err = e;
      }
      expect(err).toMatchObject({ code: expect.stringMatching(/^SQLITE_CONSTRAINT/) });
      expect(err).not.toBeInstanceOf(OffpayError);
      expect(store.db.inTransaction).toBe(false);
      expect(store.journal(1, 1).map((e) => e.bytes)).toEqual([new Uint8Array([1])]);
    } finally {
      store.close();
    }
  });
});

describe('export beside another process of the same database', () => {
  it('another export recorded between this one\'s plan and its record: this one plans again from where that one ended (no entry in two batches, none skipped)', async () => {
    const shared = new MemoryReaderStore();
    let now = NOW;
    const a = readerOver('transit', shared, () => now);
    const fare = { fare: { amount: 100, currency: HKD } };
    for (let c = 1; c <= 3; c++) expect(await a.accept(signToken(wallets[0]!, { payee: OPERATOR, amount: 100, counter: c }), fare)).toMatchObject({ accepted: true });
    // The other process: the same database, its export runs when this one opens the transaction that records.
    const b = readerOver('transit', shared, () => now);
    let transacts = 0;
    let armed = false;
    let theirs: ReturnType<Reader['export']> | undefined;
    const hooked = Object.create(shared) as MemoryReaderStore;
    hooked.transact = <T>(fn: Parameters<ReaderStore['transact']>[0]) => {
      if (++transacts === 2 && theirs === undefined && armed) theirs = b.export(now);
      return shared.transact(fn as (tx: Parameters<Parameters<ReaderStore['transact']>[0]>[0]) => T);
    };
    const r = readerOver('transit', hooked, () => now);
    expect(await r.accept(signToken(wallets[1]!, { payee: OPERATOR, amount: 100, counter: 1 }), fare)).toMatchObject({ accepted: true });
    now += 60;
    transacts = 0;
    armed = true;
    const mine = r.export(now);
    expect(transacts).toBe(4); // plan, record (refused: theirs came first), plan again, record
    expect(theirs!.batch.batchSeq).toBe(1);
    expect([theirs!.batch.firstSeq, theirs!.batch.entries.length]).toEqual([1, 4]);
    expect([mine.batch.batchSeq, mine.batch.firstSeq, mine.batch.entries.length]).toEqual([2, 5, 0]);
    const clearing = new Clearing({ issuerKeys: issuer.keySet(), clock: () => now + 3600 });
    try {
      for (const x of [theirs!, mine]) expect(await clearing.ingest(x.bytes)).toMatchObject({ outcome: 'ingested', invalidTokens: 0 });
    } finally {
      await clearing.close();
    }
  });
});

