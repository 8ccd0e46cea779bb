/**
 * The adversary, model-based (spec/clearing.md §2, M1-M5). fast-check drives random interleavings of what a
 * customer with a phone, a recording and a copied wallet directory can do against real Readers (the library
 * API): honest vending payments, one-way fares, tap-ins and tap-outs (several tap-outs of one trip, tap-outs
 * with no tap-in), replays of recorded tokens at the same or another reader, clones (same key and certificate,
 * a counter reused with other bytes), a modified wallet that ignores its allowance and spends at several
 * readers, voids, clock jumps, re-certification of a reader to another operator, and a faulty reader that
 * lists a token twice. The readers' batches are uploaded whole, re-created, duplicated and reordered.
 *
 * The oracle is built from the readers' verdicts alone (what each reader accepted, voided and tapped out),
 * never from clearing's tables. After every run:
 *   - every settled amount is a distinct wallet-signed token, settled once, at the charge the rules give;
 *   - per wallet certificate, settled <= offline allowance, or the wallet is flagged and on the next blocklist;
 *   - every tap-in accepted and not voided is charged exactly once;
 *   - settlement, flags and the blocklist are the same for two different arrival orders.
 * And with a database that fails at a random call of an ingest, or says it failed once the ingest committed
 * (faultyStore): the ingest throws that failure, never a verdict; a batch that was committed comes back a
 * duplicate; and once the readers resend, clearing equals one that never failed.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { toHex, walletIdOf } from '../../src/index.js';
import { tokenHash } from '../../src/messages.js';
import { nodeEd25519 } from '../../src/node/crypto.js';
import type { Clearing, SettledToken } from '../../src/clearing/index.js';
import type { IngestSession, IngestTx } from '../../src/clearing/store.js';
import { OffpayError } from '../../base/errors.js';
import type { OpenFresh } from './model-suite.js';
import { chainHash, createBatch, createBlocklist, encodeEntry, genesisHash, MemoryReaderStore, Reader, type JournalEntry } from '../../src/reader/index.js';
import { HKD, NOW, makeIssuer, makeReader, makeWallet, signToken, type TestWallet } from '../reader/helpers.js';

const issuer = makeIssuer('adversary');
const list1 = createBlocklist(issuer.keys[0]!, { issuerId: 7, version: 1, issuedAt: NOW, walletIds: [] }).bytes;
const ALLOWANCE = 4000;
const WALLETS = [0, 1, 2].map((i) => makeWallet(issuer, 'adversary', `w${i}`, { offlineAllowance: ALLOWANCE, maxPerPayment: 2000 }));
const VENDING = [701, 702];
const GATES = [711, 712, 713];
const TRANSIT_OP = 300;
const FAULTY = 790;
const FAULTY_JOURNAL = new Uint8Array(8).fill(7);

type Action =
  | { a: 'pay'; reader: number; wallet: number; amount: number; clone: boolean }
  | { a: 'fare'; gate: number; wallet: number }
  | { a: 'tapIn'; gate: number; wallet: number; maxFare: number }
  | { a: 'tapOut'; gate: number; trip: number; fare: number }
  | { a: 'tapOutOnly'; gate: number; wallet: number; maxFare: number }
  | { a: 'replay'; token: number; gate: number; reader: number }
  | { a: 'void'; sale: number }
  | { a: 'clock'; seconds: number }
  | { a: 'recertify'; reader: number }
  | { a: 'faulty'; token: number }
  | { a: 'export'; reader: number; again: boolean };

const action: fc.Arbitrary<Action> = fc.oneof(
  { weight: 5, arbitrary: fc.record({ a: fc.constant('pay' as const), reader: fc.nat(1), wallet: fc.nat(2), amount: fc.integer({ min: 1, max: 20 }).map((x) => x * 100), clone: fc.boolean() }) },
  { weight: 2, arbitrary: fc.record({ a: fc.constant('fare' as const), gate: fc.nat(2), wallet: fc.nat(2) }) },
  { weight: 3, arbitrary: fc.record({ a: fc.constant('tapIn' as const), gate: fc.nat(2), wallet: fc.nat(2), maxFare: fc.constantFrom(1500, 2000) }) },
  { weight: 6, arbitrary: fc.record({ a: fc.constant('tapOut' as const), gate: fc.nat(2), trip: fc.nat(3), fare: fc.constantFrom(300, 650, 1200, 2000) }) },
  { weight: 1, arbitrary: fc.record({ a: fc.constant('tapOutOnly' as const), gate: fc.nat(2), wallet: fc.nat(2), maxFare: fc.constantFrom(1500, 2000) }) },
  { weight: 3, arbitrary: fc.record({ a: fc.constant('replay' as const), token: fc.nat(40), gate: fc.nat(2), reader: fc.nat(4) }) },
  { weight: 2, arbitrary: fc.record({ a: fc.constant('void' as const), sale: fc.nat(30) }) },
  { weight: 2, arbitrary: fc.record({ a: fc.constant('clock' as const), seconds: fc.integer({ min: 0, max: 400 }) }) },
  { weight: 1, arbitrary: fc.record({ a: fc.constant('recertify' as const), reader: fc.nat(1) }) },
  { weight: 2, arbitrary: fc.record({ a: fc.constant('faulty' as const), token: fc.nat(40) }) },
  { weight: 2, arbitrary: fc.record({ a: fc.constant('export' as const), reader: fc.nat(4), again: fc.boolean() }) },
);

/** A journal entry the oracle knows of, from a reader's verdict. */
interface Known {
  hash: string;
  kind: 'accept' | 'tap_in' | 'tap_out';
  readerId: number;
  seq: number;
  time: number;
  value: number;
  operatorId: number;
}
interface Signed {
  bytes: Uint8Array;
  hash: string;
  wallet: number;
  amount: number;
  time: number;
  /** payee = operator, usable at any gate (fare or trip). */
  oneWay: boolean;
  trip: boolean;
}

function shuffle<T>(xs: T[], seed: number): T[] {
  const out = [...xs];
  let s = seed >>> 0;
  for (let i = out.length - 1; i > 0; i--) {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    const j = s % (i + 1);
    [out[i], out[j]] = [out[j]!, out[i]!];
  }
  return out;
}

async function play(actions: Action[]) {
  let t = NOW;
  const readers = new Map<number, { reader: Reader; m: ReturnType<typeof makeReader>; store: MemoryReaderStore; operatorId: number; recertified: boolean }>();
  for (const id of VENDING) readers.set(id, { ...openReader(id, 'vending', 90), recertified: false });
  for (const id of GATES) readers.set(id, { ...openReader(id, 'transit', TRANSIT_OP), recertified: false });
  const counters = WALLETS.map(() => 0);
  const signed: Signed[] = [];
  const trips: Signed[] = [];
  const known: Known[] = [];
  const voided = new Set<string>(); // readerId|hash
  const pending: { readerId: number; hash: Uint8Array }[] = [];
  const batches: Uint8Array[] = [];
  const faulty: Omit<JournalEntry, 'seq'>[] = [];
  const sign = (w: number, p: { payee: number; amount: number; counter?: number; challenge?: Uint8Array }, kind: { oneWay: boolean; trip: boolean }) => {
    const counter = p.counter ?? ++counters[w]!;
    const bytes = signToken(WALLETS[w]!, { ...p, counter, time: t });
    const s: Signed = { bytes, hash: toHex(tokenHash(bytes)), wallet: w, amount: p.amount, time: t, ...kind };
    signed.push(s);
    return s;
  };
  const record = (v: Awaited<ReturnType<Reader['accept']>>, readerId: number, kind: Known['kind'], time: number) => {
    if (!v.accepted || v.status === 'resumed') return;
    known.push({ hash: toHex(v.tokenHash), kind, readerId, seq: v.seq, time, value: v.amount, operatorId: readers.get(readerId)!.operatorId });
  };

  function openReader(id: number, profile: 'vending' | 'transit', operatorId: number) {
    const m = makeReader(issuer, 'adversary', id, profile, operatorId);
    const store = new MemoryReaderStore();
    const reader = new Reader({ ...m, issuerKeys: issuer.keySet(), store, verifier: nodeEd25519(), clock: () => t });
    reader.loadBlocklist(list1, NOW);
    return { reader, m, store, operatorId };
  }

  for (const x of actions) {
    switch (x.a) {
      case 'pay': {
        const id = VENDING[x.reader]!;
        const r = readers.get(id)!;
        const challenge = Uint8Array.from([x.reader, x.wallet, counters[x.wallet]! & 0xff, x.amount >> 8, x.amount & 0xff, t & 0xff, (t >> 8) & 0xff, signed.length & 0xff]);
        r.reader.openRequest({ amount: x.amount, currency: HKD, now: t, challenge });
        // A clone reuses the wallet's last counter with other bytes (a copied wallet directory).
        const reuse = x.clone && counters[x.wallet]! > 0 ? counters[x.wallet]! : undefined;
        const s = sign(x.wallet, { payee: id, amount: x.amount, challenge, ...(reuse ? { counter: reuse } : {}) }, { oneWay: false, trip: false });
        const v = await r.reader.accept(s.bytes, { now: t });
        record(v, id, 'accept', t);
        if (v.accepted && v.status === 'accepted') pending.push({ readerId: id, hash: v.tokenHash });
        break;
      }
      case 'fare': {
        const s = sign(x.wallet, { payee: TRANSIT_OP, amount: 450 }, { oneWay: true, trip: false });
        record(await readers.get(GATES[x.gate]!)!.reader.accept(s.bytes, { fare: { amount: 450, currency: HKD }, now: t }), GATES[x.gate]!, 'accept', t);
        break;
      }
      case 'tapIn': {
        const s = sign(x.wallet, { payee: TRANSIT_OP, amount: x.maxFare }, { oneWay: true, trip: true });
        trips.push(s);
        record(await readers.get(GATES[x.gate]!)!.reader.accept(s.bytes, { tapIn: { maxFare: x.maxFare, currency: HKD }, now: t }), GATES[x.gate]!, 'tap_in', t);
        break;
      }
      case 'tapOut':
      case 'tapOutOnly': {
        const s = x.a === 'tapOut' ? trips[x.trip % Math.max(1, trips.length)] : sign(x.wallet, { payee: TRANSIT_OP, amount: x.maxFare }, { oneWay: true, trip: true });
        if (!s) break;
        const fare = x.a === 'tapOut' ? x.fare : Math.min(650, s.amount);
        const v = await readers.get(GATES[x.gate]!)!.reader.tapOut(s.bytes, { fare, currency: HKD, now: t });
        if (v.accepted) known.push({ hash: s.hash, kind: 'tap_out', readerId: GATES[x.gate]!, seq: v.seq, time: t, value: fare, operatorId: TRANSIT_OP });
        break;
      }
      case 'replay': {
        const s = signed[x.token % Math.max(1, signed.length)];
        if (!s) break;
        if (s.oneWay) {
          const gate = GATES[x.gate]!;
          const ctx = s.trip ? { tapIn: { maxFare: s.amount, currency: HKD } } : { fare: { amount: s.amount, currency: HKD } };
          record(await readers.get(gate)!.reader.accept(s.bytes, { ...ctx, now: t }), gate, s.trip ? 'tap_in' : 'accept', t);
        } else {
          const id = VENDING[x.reader % VENDING.length]!;
          record(await readers.get(id)!.reader.accept(s.bytes, { now: t }), id, 'accept', t);
        }
        break;
      }
      case 'void': {
        const p = pending[x.sale % Math.max(1, pending.length)];
        if (!p) break;
        const v = readers.get(p.readerId)!.reader.void(p.hash, t);
        if (v.ok) voided.add(`${p.readerId}|${toHex(p.hash)}`);
        break;
      }
      case 'clock':
        t += x.seconds;
        break;
      case 'recertify': {
        const id = VENDING[x.reader]!;
        const r = readers.get(id)!;
        // Upload what the old certificate covers, then the reader carries on under a certificate naming 91 (or back).
        batches.push(r.reader.export(t).bytes);
        const operatorId = r.operatorId === 90 ? 91 : 90;
        const cert = issuer.issueReaderCert({ ...r.m.cert, operatorId, notBefore: t, notAfter: NOW + 86400 * 30 }, t);
        const reader = new Reader({ secretKey: r.m.secretKey, cert, issuerKeys: issuer.keySet(), store: r.store, verifier: nodeEd25519(), clock: () => t });
        readers.set(id, { ...r, reader, m: { secretKey: r.m.secretKey, cert }, operatorId, recertified: true });
        break;
      }
      case 'faulty': {
        // A faulty gate of the operator lists a one-way token twice (at the token's own time).
        const s = signed.filter((y) => y.oneWay && !y.trip)[x.token % Math.max(1, signed.length)];
        if (!s) break;
        for (let k = 0; k < 2; k++) {
          faulty.push({ kind: 'accept', time: s.time, data: s.bytes, value: s.amount });
          known.push({ hash: s.hash, kind: 'accept', readerId: FAULTY, seq: faulty.length, time: s.time, value: s.amount, operatorId: TRANSIT_OP });
        }
        break;
      }
      case 'export': {
        const id = [...VENDING, ...GATES][x.reader]!;
        const r = readers.get(id)!;
        const b = r.reader.export(t);
        batches.push(b.bytes);
        // A lost upload re-created byte for byte (only under the certificate it was made with).
        if (x.again && !r.recertified) batches.push(r.reader.exportBatch(b.batch.batchSeq).bytes);
        break;
      }
    }
  }
  for (const r of readers.values()) batches.push(r.reader.export(t).bytes);
  if (faulty.length) {
    const m = makeReader(issuer, 'adversary', FAULTY, 'transit', TRANSIT_OP);
    const es = faulty.map((e, i) => ({ ...e, seq: i + 1 }));
    let h = genesisHash(FAULTY, FAULTY_JOURNAL);
    const prev = h;
    for (const e of es) h = chainHash(h, encodeEntry(e));
    batches.push(createBatch(m, { readerCert: m.cert, journalId: FAULTY_JOURNAL, batchSeq: 1, firstSeq: 1, prevHead: prev, head: h, entries: es, createdAt: t }).bytes);
  }
  return { batches, signed, known, voided, end: t };
}

/** What each token must be charged, from the verdicts (spec/clearing.md §5). */
function oracle(known: Known[], voided: Set<string>, signed: Signed[]): Map<string, { charge: number; operatorId: number; wallet: number }> {
  const byHash = new Map<string, Known[]>();
  for (const k of known) byHash.set(k.hash, [...(byHash.get(k.hash) ?? []), k]);
  const amountOf = new Map(signed.map((s) => [s.hash, s]));
  const out = new Map<string, { charge: number; operatorId: number; wallet: number }>();
  const order = (a: Known, b: Known) => a.time - b.time || a.readerId - b.readerId || a.seq - b.seq;
  for (const [hash, ks] of byHash) {
    const s = amountOf.get(hash)!;
    const sales = ks.filter((k) => k.kind !== 'tap_out' && !voided.has(`${k.readerId}|${hash}`)).sort(order);
    const outs = ks.filter((k) => k.kind === 'tap_out').sort(order);
    if (sales.length) {
      const p = sales[0]!;
      if (p.kind === 'accept') out.set(hash, { charge: p.value, operatorId: p.operatorId, wallet: s.wallet });
      else {
        const fares = outs.filter((o) => o.operatorId === p.operatorId && o.value > 0).map((o) => o.value);
        out.set(hash, { charge: fares.length ? Math.min(p.value, Math.max(...fares)) : p.value, operatorId: p.operatorId, wallet: s.wallet });
      }
    } else if (outs.length) {
      out.set(hash, { charge: s.amount, operatorId: outs[0]!.operatorId, wallet: s.wallet });
    }
  }
  return out;
}

/**
 * A fault planned for one ingest: its store fails at its k-th call (session or unit), instead of the call or
 * after it ran; or, `committed`, the ingest's whole session commits and then reports a failure (a connection
 * lost while the COMMIT's answer was on its way: the batch is durable, but nobody was told).
 */
interface Fault {
  /** Index of the ingest (in arrival order, modulo their number) it hits. */
  at: number;
  /** Which call of the store fails, from 1 (a number above the ingest's calls: it never fires). Not for `committed`. */
  k: number;
  /** `instead` of the k-th call; `after` it ran (its writes made, so they must be rolled back); `committed`: after the commit. */
  when: 'instead' | 'after' | 'committed';
  /** As a lost PostgreSQL connection does (clearing.store_unavailable), else as SQLite does (a plain Error). */
  lost: boolean;
}

const fault: fc.Arbitrary<Fault> = fc.record({
  at: fc.nat(60),
  k: fc.integer({ min: 1, max: 20 }),
  when: fc.constantFrom('instead' as const, 'after' as const, 'committed' as const),
  lost: fc.boolean(),
});

/**
 * Arm `c`'s store so that, while `plan.armed` holds a fault, the k-th call to the ingest session or its units
 * throws (the session's own methods and every IngestTx method count), or the first session to end after it
 * was armed throws once it committed. Returns the plan; `fired` counts.
 */
function faultyStore(c: Clearing): { armed: Fault | undefined; calls: number; fired: number; error: Error | undefined } {
  const plan = { armed: undefined as Fault | undefined, calls: 0, fired: 0, error: undefined as Error | undefined };
  const fire = (f: Fault): Error => {
    plan.fired++;
    plan.armed = undefined;
    plan.error = f.lost ? new OffpayError('clearing.store_unavailable', 'injected: the connection was lost') : new Error('injected: disk I/O error');
    return plan.error;
  };
  const call = (fn: (...a: unknown[]) => unknown, self: object, args: unknown[]): unknown => {
    const f = plan.armed;
    if (!f || f.when === 'committed' || ++plan.calls !== f.k) return fn.apply(self, args);
    if (f.when === 'instead') throw fire(f);
    // After the call ran. A call that fails by itself (PostgreSQL: a serialisation conflict, which the store runs
    // again) spends the fault without firing it.
    plan.armed = undefined;
    return Promise.resolve(fn.apply(self, args)).then(() => {
      throw fire(f);
    });
  };
  const wrap = <T extends object>(o: T, inner?: (key: string | symbol, v: (...a: unknown[]) => unknown) => unknown): T =>
    new Proxy(o, {
      get(target, key, receiver) {
        const v = Reflect.get(target, key, receiver) as unknown;
        if (typeof v !== 'function') return v;
        return inner?.(key, v as (...a: unknown[]) => unknown) ?? ((...args: unknown[]) => call(v as (...a: unknown[]) => unknown, target, args));
      },
    });
  const store = c.store;
  const session = store.session.bind(store);
  store.session = (async (fn, o) => {
    const r = await session(
      (s) =>
        fn(
          wrap(s, (key, v) =>
            key === 'atomic' ? (f: (tx: IngestTx) => Promise<unknown>) => (v as IngestSession['atomic']).call(s, (tx) => f(wrap(tx))) : undefined,
          ),
        ),
      o,
    );
    // Durable now: a failure reported from here on is the ambiguous kind (the work is done, the caller is not told).
    if (plan.armed?.when === 'committed') throw fire(plan.armed);
    return r;
  }) as typeof store.session;
  return plan;
}

/** The adversary test over one engine: `fresh` opens a clearing on a new, empty database each time. */
export function adversarySuite(fresh: OpenFresh, numRuns = 40): void {
  async function ingestAll(batches: Uint8Array[], end: number): Promise<Clearing> {
    const c = await fresh({ issuerKeys: issuer.keySet(), clock: () => end + 60 });
    for (const b of batches) expect((await c.ingest(b)).outcome).not.toBe('rejected');
    return c;
  }

  describe('clearing against an adversary (model-based)', () => {
    it('pays each wallet-signed token once at its rule charge, flags and blocks every wallet over its allowance, charges every trip once, whatever the arrival order', async () => {
      await fc.assert(
        fc.asyncProperty(fc.array(action, { minLength: 5, maxLength: 40 }), fc.nat(), fc.nat(), async (actions, seedA, seedB) => {
          const { batches, signed, known, voided, end } = await play(actions);
          const want = oracle(known, voided, signed);
          const signedHashes = new Set(signed.map((s) => s.hash));
          const dup = [...batches, ...batches.filter((_, i) => i % 3 === 0)]; // duplicates too
          const a = await ingestAll(shuffle(dup, seedA), end);
          const b = await ingestAll(shuffle(dup, seedB ^ 0x5bd1e995), end);
          try {
            const sa = await a.settle(true);
            // Every settled amount is a distinct wallet-signed token, settled once, at the charge the rules give.
            const hashes = sa.tokens.map((x) => x.tokenHash);
            expect(new Set(hashes).size).toBe(hashes.length);
            for (const h of hashes) expect(signedHashes.has(h)).toBe(true);
            const got = new Map(sa.tokens.map((x: SettledToken) => [x.tokenHash, { charge: Number(x.charge), operatorId: x.operatorId }]));
            expect(new Map([...got].sort())).toEqual(new Map([...want].map(([h, w]) => [h, { charge: w.charge, operatorId: w.operatorId }] as const).sort()));
            // Per wallet certificate: within the allowance, or flagged and on the next blocklist.
            const spent = new Map<number, number>();
            for (const w of want.values()) spent.set(w.wallet, (spent.get(w.wallet) ?? 0) + w.charge);
            const flagged = new Set(sa.overAllowance.map((o) => o.walletId));
            await a.issueBlocklist(issuer, end + 120);
            const blocked = new Set((await a.blockedWalletIds()).map(toHex));
            WALLETS.forEach((w: TestWallet, i) => {
              const id = toHex(walletIdOf(w.cert.walletPublicKey));
              const over = (spent.get(i) ?? 0) > ALLOWANCE;
              expect(flagged.has(id)).toBe(over);
              if (over) expect(blocked.has(id)).toBe(true);
            });
            // Blocked only for the customer's own doing: over the allowance, or a double spend across readers (a
            // token listed twice by one reader is that reader's fault and blocks nobody).
            const ds = await a.doubleSpends();
            for (const d of ds) if (d.kind === 'same_token_twice') expect(d.first.readerId).not.toBe(d.second.readerId);
            const culprits = new Set([...flagged, ...ds.map((d) => d.walletId), ...(await a.readerReportedConflicts())]);
            for (const id of blocked) expect(culprits.has(id)).toBe(true);
            // Every tap-in accepted and not voided is charged exactly once.
            for (const k of known) {
              if (k.kind === 'tap_in' && !voided.has(`${k.readerId}|${k.hash}`)) expect(hashes.filter((h) => h === k.hash)).toHaveLength(1);
            }
            // Independent of arrival order.
            const ra = await a.report();
            const rb = await b.report();
            for (const f of ['settlement', 'totals', 'overAllowance', 'exposure', 'openTrips', 'multipleTapOuts', 'tapOutsWithoutTapIn', 'zeroFareTapOuts', 'invalidTokens'] as const) {
              expect(rb[f]).toEqual(ra[f]);
            }
            await b.issueBlocklist(issuer, end + 120);
            expect(new Set((await b.blockedWalletIds()).map(toHex))).toEqual(blocked);
          } finally {
            await a.close();
            await b.close();
          }
        }),
        { numRuns, seed: 1111 },
      );
    });

    it('a database that fails at any call of an ingest, or reports a failure after its commit: the ingest fails with that error (never a verdict on the batch) and leaves nothing, or the batch is held and comes back a duplicate; the readers resend and clearing is as if nothing failed', async () => {
      const seen = { fired: 0, thrown: 0, after: 0, committed: 0 };
      const runs = Math.max(10, Math.round(numRuns / 2));
      await fc.assert(
        fc.asyncProperty(fc.array(action, { minLength: 5, maxLength: 30 }), fc.array(fault, { minLength: 1, maxLength: 12 }), fc.nat(), fc.boolean(), async (actions, faults, seed, together) => {
          const { batches, end } = await play(actions);
          const order = shuffle([...batches, ...batches.filter((_, i) => i % 3 === 0)], seed);
          const want = await ingestAll(order, end);
          const c = await fresh({ issuerKeys: issuer.keySet(), clock: () => end + 60 });
          try {
            const plan = faultyStore(c);
            const resend: Uint8Array[] = [];
            const durable = new Set<Uint8Array>(); // batches whose ingest failed after their commit
            // Two at a time when `together` (SQLite: the second joins the first's open transaction, group commit).
            const step = together ? 2 : 1;
            for (let i = 0; i < order.length; i += step) {
              const group = order.slice(i, i + step);
              const planned = faults.find((f) => Math.floor((f.at % order.length) / step) * step === i);
              plan.armed = planned;
              plan.calls = 0;
              plan.error = undefined;
              const fired = plan.fired;
              const rs = await Promise.all(group.map((b) => c.ingest(b).then((x) => x, (e: unknown) => e as Error)));
              plan.armed = undefined;
              for (const [j, r] of rs.entries()) {
                if (r instanceof Error) {
                  // Only the injected failure, thrown as it was: no verdict, and the reader sends the batch again.
                  expect(plan.fired).toBe(fired + 1);
                  expect(r).toBe(plan.error);
                  seen.thrown++;
                  resend.push(group[j]!);
                  if (planned!.when === 'committed') durable.add(group[j]!);
                } else {
                  expect(r.outcome).not.toBe('rejected');
                }
              }
              if (plan.fired > fired) {
                seen.fired++;
                if (planned!.when === 'after') seen.after++;
                if (planned!.when === 'committed') seen.committed++;
              }
            }
            // A batch whose commit was durable although its ingest failed is held: sent again, it is a duplicate.
            for (const b of resend) {
              const r = await c.ingest(b);
              if (durable.has(b)) expect(r.outcome).toBe('duplicate');
              else expect(r.outcome).not.toBe('rejected');
            }
            // Everything the failures touched was rolled back: the same clearing as one that never failed.
            const [ra, rb] = [await want.report(), await c.report()];
            for (const f of ['settlement', 'totals', 'overAllowance', 'exposure', 'openTrips', 'multipleTapOuts', 'tapOutsWithoutTapIn', 'zeroFareTapOuts', 'invalidTokens'] as const) {
              expect(rb[f]).toEqual(ra[f]);
            }
            const keys = async (x: Clearing) => (await x.doubleSpends()).map((d) => `${d.kind}|${d.walletId}|${d.counter}`).sort();
            expect(await keys(c)).toEqual(await keys(want));
            expect((await c.store.problems()).length).toBe((await want.store.problems()).length);
            expect((await c.heldBatches(VENDING[0]!))).toEqual(await want.heldBatches(VENDING[0]!));
            await want.issueBlocklist(issuer, end + 120);
            await c.issueBlocklist(issuer, end + 120);
            expect((await c.blockedWalletIds()).map(toHex)).toEqual((await want.blockedWalletIds()).map(toHex));
          } finally {
            await want.close();
            await c.close();
          }
        }),
        { numRuns: runs, seed: 2222 },
      );
      // The property must have met failures, thrown ones, ones after a write and ones after a commit.
      expect(seen.fired).toBeGreaterThanOrEqual(runs);
      expect(seen.thrown).toBeGreaterThanOrEqual(seen.fired); // a failed group COMMIT fails every ingest it held
      expect(seen.after).toBeGreaterThanOrEqual(3);
      expect(seen.committed).toBeGreaterThanOrEqual(3);
    });
  });
}
