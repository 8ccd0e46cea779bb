/**
 * One test suite for every clearing store engine (store-sqlite.test.ts, store-pg.test.ts): the sequential
 * double-spend model (model-suite.ts), the adversary (adversary-suite.ts), the store's own duties (settings
 * kept, concurrent ingests on one Clearing, group commit = one by one), and, for an engine where several
 * processes share one database, the two-node race: two Clearing instances on one database ingest conflicting
 * batches at the same moment, round after round; each conflict must be recorded exactly once and the report
 * must equal a single-process ingest of the same batches (spec/clearing.md §11).
 */
import { describe, expect, it } from 'vitest';
import { toHex, walletIdOf } from '../../src/index.js';
import type { Clearing, ClearingReport } from '../../src/clearing/index.js';
import { chainHash, createBatch, encodeEntry, genesisHash, type JournalEntry } from '../../src/reader/index.js';
import { NOW, handBatch, makeIssuer, makeReader, makeWallet, signToken } from '../reader/helpers.js';
import { adversarySuite } from './adversary-suite.js';
import { modelSuite, type OpenFresh } from './model-suite.js';
import { pairingModelSuite } from './pairing-model-suite.js';
import { refundSuite } from './refund-suite.js';
import { requestSuite } from './request-suite.js';

/** An engine under test. */
export interface Engine {
  /** 'SQLite', 'PostgreSQL'. */
  name: string;
  /** A clearing on a new, empty database. */
  fresh: OpenFresh;
  /**
   * A new, empty database that several Clearing instances (nodes) may open at once; absent for an engine of
   * one process (SQLite).
   */
  shared?: () => Promise<OpenFresh>;
  /** Conflicts retried by the engine so far on this clearing (PostgreSQL), for the race test's evidence. */
  retries?: (c: Clearing) => number;
  /** Runs of the property tests (fewer where a database costs more to create). */
  runs?: { model: number; adversary: number };
  /** Delete every row of counter_firsts (a database from before that table). */
  wipeFirsts: (c: Clearing) => Promise<void>;
  /** Rows of counter_firsts by class (0 accepts, 1 conflicts, 2 tap-outs, 3 tap-ins). */
  firstsRows: (c: Clearing) => Promise<{ class: number; n: number }[]>;
}

const issuer = makeIssuer('store-suite');

/**
 * The schema upgrade that gave tap-ins and tap-outs classes of their own in counter_firsts (store-sqlite.test.ts
 * "schema 6", store-pg.test.ts "schema 3"): three batches held before it (one token tapped in at gates 61 and 62,
 * out at 61: no finding) and the one after it that completes the one-way rule (out at 63), and the SQL that makes
 * the held rows what the old schema wrote (tap-ins in class 0, the tap-outs one marker row; `empty` is the engine's
 * empty blob literal).
 */
export function oneWayUpgrade(label: string, empty: string): { issuer: ReturnType<typeof makeIssuer>; before: Uint8Array[]; after: Uint8Array; oldRows: string } {
  const iss = makeIssuer(label);
  const [a, b, c] = [61, 62, 63].map((id) => makeReader(iss, label, id, 'transit', 300));
  const t = signToken(makeWallet(iss, label, 'w'), { payee: 300, amount: 500, counter: 9 });
  const one = (m: typeof a, j: number, kind: 'tap_in' | 'tap_out', value: number) => handBatch(m!, new Uint8Array(8).fill(j), [{ kind, time: NOW, data: t, value }]);
  return {
    issuer: iss,
    before: [one(a, 1, 'tap_in', 500), one(b, 2, 'tap_in', 500), one(a, 3, 'tap_out', 300)],
    after: one(c, 4, 'tap_out', 400),
    // The rows are made from the entries, as schema 6 recorded them.
    oldRows: `DELETE FROM counter_firsts;
      INSERT INTO counter_firsts(wallet_id, counter, token_hash, reader_id, class, journal_id, seq, chain)
        SELECT e.wallet_id, e.counter, e.token_hash, c.reader_id, 0, c.journal_id, e.seq, e.chain FROM entries e JOIN chains c ON c.chain = e.chain WHERE e.kind = 2;
      INSERT INTO counter_firsts(wallet_id, counter, token_hash, reader_id, class, journal_id, seq, chain)
        SELECT e.wallet_id, e.counter, ${empty}, 0, 2, c.journal_id, e.seq, e.chain FROM entries e JOIN chains c ON c.chain = e.chain WHERE e.kind = 3 LIMIT 1;
      DROP INDEX counter_firsts_order;
      CREATE INDEX counter_firsts_order ON counter_firsts(wallet_id, counter, reader_id, journal_id, seq) WHERE class IN (0, 1)`,
  };
}
const OPERATOR = 300;
const [GATE_A, GATE_B, GATE_C] = [601, 602, 603].map((id) => makeReader(issuer, 'store-suite', id, 'transit', OPERATOR));
const WALLETS = [0, 1, 2, 3].map((i) => makeWallet(issuer, 'store-suite', `w${i}`, { offlineAllowance: 5_000, maxPerPayment: 1_000 }));
const CLOCK = () => NOW + 3600;

/** A reader's journal cut into one batch per round. */
class Journal {
  private readonly entries: JournalEntry[] = [];
  private readonly heads: Uint8Array[];
  private batchSeq = 0;
  constructor(private readonly r: ReturnType<typeof makeReader>) {
    this.heads = [genesisHash(r.cert.readerId, new Uint8Array(8).fill(r.cert.readerId & 0xff))];
  }
  /** Append accepts of these tokens and return them as the next batch. */
  batch(tokens: Uint8Array[], amounts: number[]): Uint8Array {
    return this.batchOf(tokens.map((data, i) => ({ kind: 'accept', data, value: amounts[i]! })));
  }
  /** Append these entries and return them as the next batch. */
  batchOf(entries: Pick<JournalEntry, 'kind' | 'data' | 'value'>[]): Uint8Array {
    const from = this.entries.length;
    entries.forEach((x) => {
      const e: JournalEntry = { seq: this.entries.length + 1, time: NOW, ...x };
      this.entries.push(e);
      this.heads.push(chainHash(this.heads[this.heads.length - 1]!, encodeEntry(e)));
    });
    return createBatch(this.r, {
      readerCert: this.r.cert, journalId: new Uint8Array(8).fill(this.r.cert.readerId & 0xff), batchSeq: ++this.batchSeq, firstSeq: from + 1,
      prevHead: this.heads[from]!, head: this.heads[this.entries.length]!, entries: this.entries.slice(from), createdAt: NOW + 60,
    }).bytes;
  }
}

/**
 * Round k: a clone spends wallet counter k with other bytes at gate A (token a) and gate B (token b), and one
 * operator-bound token c is shown at both gates. Gate A's batch and gate B's batch of the round are the pair
 * that must race. Two conflicts a round: counter_reuse (a, b) and same_token_twice (c at A, c at B).
 */
function raceRounds(rounds: number): [Uint8Array, Uint8Array][] {
  const a = new Journal(GATE_A!);
  const b = new Journal(GATE_B!);
  const out: [Uint8Array, Uint8Array][] = [];
  for (let k = 1; k <= rounds; k++) {
    const w = WALLETS[k % 2]!;
    const other = WALLETS[2 + (k % 2)]!;
    const ta = signToken(w, { payee: OPERATOR, amount: 100, counter: k });
    const tb = signToken(w, { payee: OPERATOR, amount: 101, counter: k });
    const tc = signToken(other, { payee: OPERATOR, amount: 50, counter: k });
    out.push([a.batch([ta, tc], [100, 50]), b.batch([tb, tc], [101, 50])]);
  }
  return out;
}

/** A double-spend pair without the order of detection (which commit came first is the race's to decide). */
const pairsOf = async (c: Clearing) =>
  (await c.doubleSpends()).map((d) => `${d.kind}|${[`${d.first.readerId}:${d.first.seq}`, `${d.second.readerId}:${d.second.seq}`].sort().join('|')}`).sort();
/** The parts of the report that do not depend on arrival order. */
const moneyOf = (r: ClearingReport) => ({
  settlement: r.settlement, totals: r.totals, overAllowance: r.overAllowance, exposure: r.exposure, invalidTokens: r.invalidTokens, readers: r.readers,
  doubleSpends: r.doubleSpends.length, readerFaults: r.readerFaults.length, blocklist: r.blocklist.entries,
});

export function storeSuite(e: Engine): void {
  describe(`clearing store: ${e.name}`, () => {
    modelSuite(e.fresh, e.runs?.model);
    pairingModelSuite(e.fresh, e.wipeFirsts, e.runs?.model);
    adversarySuite(e.fresh, e.runs?.adversary);
    refundSuite(e);
    requestSuite(e);

    it('counter_firsts: tap-outs are one row a token and reader, which no pairing of another token reads (a copied wallet key\'s flood of tap-out tokens finds nothing)', async () => {
      const w = WALLETS[1]!;
      const a = new Journal(GATE_A!);
      const b = new Journal(GATE_B!);
      const cl = await e.fresh({ issuerKeys: issuer.keySet(), clock: CLOCK });
      try {
        const sale = signToken(w, { payee: OPERATOR, amount: 300, counter: 7 });
        expect((await cl.ingest(a.batch([sale], [300]))).outcome).toBe('ingested');
        // 40 tap-outs of 40 distinct tokens of that counter at gate B (never a finding), in two batches.
        const outs = Array.from({ length: 40 }, (_, i) => signToken(w, { payee: OPERATOR, amount: 400 + i, counter: 7 }));
        for (const half of [outs.slice(0, 20), outs.slice(20)]) {
          expect(await cl.ingest(b.batchOf(half.map((data) => ({ kind: 'tap_out', data, value: 100 }))))).toMatchObject({ outcome: 'ingested', invalidTokens: 0, doubleSpends: 0 });
        }
        expect(await e.firstsRows(cl)).toEqual([
          { class: 0, n: 1 },
          { class: 2, n: 40 },
        ]);
        expect(await cl.doubleSpends()).toEqual([]);
      } finally {
        await cl.close();
      }
    });

    it('the one-way rule (spec/clearing.md §4 step 10): a tap-in taken at a second gate blocks nobody; with tap-outs at two gates it is same_token_twice, in every arrival order', async () => {
      const w = WALLETS[2]!;
      const t = signToken(w, { payee: OPERATOR, amount: 500, counter: 41 });
      const perms = (xs: number[]): number[][] => (xs.length <= 1 ? [xs] : xs.flatMap((x) => perms(xs.filter((y) => y !== x)).map((p) => [x, ...p])));
      // Every order on an engine of one process; every third on a shared one (a database each costs more there).
      for (const order of perms([0, 1, 2, 3]).filter((_, i) => !e.shared || i % 3 === 0)) {
        const [a, b, c] = [new Journal(GATE_A!), new Journal(GATE_B!), new Journal(GATE_C!)];
        // 0: the rider's tap-in at A; 1: the same token heard at B; 2: her tap-out at A; 3: a tap-out of it at C.
        const batches = [a.batchOf([{ kind: 'tap_in', data: t, value: 500 }]), b.batchOf([{ kind: 'tap_in', data: t, value: 500 }])];
        batches.push(a.batchOf([{ kind: 'tap_out', data: t, value: 300 }]), c.batchOf([{ kind: 'tap_out', data: t, value: 400 }]));
        const cl = await e.fresh({ issuerKeys: issuer.keySet(), clock: CLOCK });
        try {
          const seen = new Set<number>();
          for (const i of order) {
            seen.add(i);
            const r = await cl.ingest(batches[i]!);
            const complete = seen.size === 4;
            expect(r, `order ${order.join('')}, after ${[...seen].join('')}`).toMatchObject({ outcome: 'ingested', invalidTokens: 0, doubleSpends: complete ? 1 : 0 });
            expect((await cl.blocklistEntries()).length, `order ${order.join('')}`).toBe(complete ? 1 : 0);
          }
          const ev = (x: { readerId: number; seq: number }) => `${x.readerId}:${x.seq}`;
          expect((await cl.doubleSpends()).map((d) => `${d.kind}|${ev(d.first)}|${ev(d.second)}`)).toEqual(['same_token_twice|601:1|602:1']);
          expect((await cl.blocklistEntries()).map((x) => x.reason)).toEqual(['same_token_twice']);
        } finally {
          await cl.close();
        }
      }
      // Two tap-ins and tap-outs at one gate only (the rider's own exit, listed twice): nobody blocked.
      const [a, b] = [new Journal(GATE_A!), new Journal(GATE_B!)];
      const cl = await e.fresh({ issuerKeys: issuer.keySet(), clock: CLOCK });
      try {
        for (const bytes of [
          a.batchOf([{ kind: 'tap_in', data: t, value: 500 }]),
          b.batchOf([{ kind: 'tap_in', data: t, value: 500 }]),
          a.batchOf([{ kind: 'tap_out', data: t, value: 300 }, { kind: 'tap_out', data: t, value: 300 }]),
        ]) {
          expect(await cl.ingest(bytes)).toMatchObject({ outcome: 'ingested', doubleSpends: 0 });
        }
        expect(await cl.blocklistEntries()).toEqual([]);
        // An accept of the token at a third gate is a sale at two readers as before: blocked.
        const c = new Journal(GATE_C!);
        expect(await cl.ingest(c.batch([t], [500]))).toMatchObject({ outcome: 'ingested', doubleSpends: 1 });
        expect((await cl.doubleSpends()).map((d) => `${d.kind}|${d.first.readerId}:${d.first.seq}|${d.second.readerId}:${d.second.seq}`)).toEqual(['same_token_twice|601:1|603:1']);
      } finally {
        await cl.close();
      }
    });

    it('a counter whose firsts are not held (a database from before counter_firsts) has them recorded by its next batch: the same findings', async () => {
      const w = WALLETS[0]!;
      const t = (amount: number, counter: number) => signToken(w, { payee: OPERATOR, amount, counter });
      const [t1, t1b, t1c, t2] = [t(100, 1), t(101, 1), t(102, 1), t(200, 2)];
      const report = async (wipe: boolean) => {
        const [a, b, c] = [new Journal(GATE_A!), new Journal(GATE_B!), new Journal(GATE_C!)];
        const cl = await e.fresh({ issuerKeys: issuer.keySet(), clock: CLOCK });
        try {
          const counts: number[] = [];
          const ingest = async (bytes: Uint8Array) => {
            const r = await cl.ingest(bytes);
            expect(r.outcome).toBe('ingested');
            counts.push(r.doubleSpends, r.readerFaults);
          };
          await ingest(a.batch([t1, t2], [100, 200]));
          await ingest(b.batch([t1b], [101])); // counter_reuse
          if (wipe) await e.wipeFirsts(cl);
          await ingest(a.batch([t1], [100])); // listed twice at A
          await ingest(b.batch([t2], [200])); // same token twice
          await ingest(c.batch([t1c, t1], [102, 100])); // a third token of counter 1; t1 at a third gate
          const ev = (x: { readerId: number; seq: number }) => `${x.readerId}:${x.seq}`;
          return {
            counts,
            doubleSpends: (await cl.doubleSpends()).map((d) => `${d.kind} ${d.counter} ${ev(d.first)} ${ev(d.second)}`),
            readerFaults: (await cl.readerFaults()).map((f) => `${f.readerId} ${ev(f.first)} ${ev(f.second)}`),
            blocked: (await cl.blocklistEntries()).map((x) => x.reason),
          };
        } finally {
          await cl.close();
        }
      };
      const want = await report(false);
      expect(want.doubleSpends).toEqual(['counter_reuse 1 601:1 602:1', 'same_token_twice 1 601:1 603:2', 'same_token_twice 2 601:2 602:2']);
      expect(want.readerFaults).toEqual(['601 601:1 601:3']);
      expect(await report(true)).toEqual(want);
    });

    it('keeps the issuer key set and fee; refuses a database of another issuer', async () => {
      const shared = e.shared ? await e.shared() : undefined;
      if (!shared) return; // one process per SQLite file: reopening is covered in clearing.test.ts
      const c = await shared({ issuerKeys: issuer.keySet(), feeBps: 200, clock: CLOCK });
      await c.close();
      const again = await shared({ clock: CLOCK });
      expect(again.feeBps).toBe(200);
      expect(again.issuerKeys.issuerId).toBe(issuer.issuerId);
      await again.close();
      await expect(shared({ issuerKeys: { ...issuer.keySet(), issuerId: issuer.issuerId + 1 }, clock: CLOCK })).rejects.toMatchObject({ code: 'clearing.wrong_issuer' });
    });

    it('concurrent ingests on one Clearing, group commit and one-by-one ingest hold the same', async () => {
      const rounds = raceRounds(8);
      const flat = rounds.flat();
      const one = await e.fresh({ issuerKeys: issuer.keySet(), clock: CLOCK });
      const group = await e.fresh({ issuerKeys: issuer.keySet(), clock: CLOCK });
      const together = await e.fresh({ issuerKeys: issuer.keySet(), clock: CLOCK });
      try {
        const r1 = [];
        for (const b of flat) r1.push(await one.ingest(b));
        expect(r1.every((r) => r.outcome === 'ingested')).toBe(true);
        expect(await group.ingestAll(flat)).toEqual(r1);
        // Every pair of a round at once on one instance (SQLite: its lock; PostgreSQL: two pooled connections).
        for (const [a, b] of rounds) await Promise.all([together.ingest(a), together.ingest(b)]);
        const want = moneyOf(await one.report());
        expect(want.doubleSpends).toBe(16);
        expect(moneyOf(await group.report())).toEqual(want);
        expect(moneyOf(await together.report())).toEqual(want);
        expect(await pairsOf(together)).toEqual(await pairsOf(one));
      } finally {
        await Promise.all([one.close(), group.close(), together.close()]);
      }
    });

    // Only engines where several processes share one database register this test (no skipped placeholder).
    if (e.shared !== undefined) it('two nodes on one database, conflicting batches at the same moment: each conflict once, the report a single node\'s', async () => {
      const ROUNDS = 30;
      const rounds = raceRounds(ROUNDS);
      const open = await e.shared!();
      const nodeA = await open({ issuerKeys: issuer.keySet(), clock: CLOCK });
      const nodeB = await open({ clock: CLOCK });
      const single = await e.fresh({ issuerKeys: issuer.keySet(), clock: CLOCK });
      try {
        let reported = 0;
        for (const [i, [a, b]] of rounds.entries()) {
          // Alternate which node gets which gate, so both orders of commit are raced.
          const [x, y] = i % 2 ? [nodeA.ingest(a), nodeB.ingest(b)] : [nodeB.ingest(a), nodeA.ingest(b)];
          const rs = await Promise.all([x, y]);
          for (const r of rs) {
            expect(r.outcome).toBe('ingested');
            reported += r.doubleSpends;
          }
          // The same batches again, crossed, at the same moment: duplicates, nothing recorded twice.
          const again = await Promise.all([nodeA.ingest(b), nodeB.ingest(a)]);
          expect(again.map((r) => r.outcome)).toEqual(['duplicate', 'duplicate']);
        }
        for (const b of rounds.flat()) await single.ingest(b);
        // Exactly one record per conflict, and each found by exactly one of the racing commits.
        const pairs = await pairsOf(nodeA);
        expect(pairs).toHaveLength(2 * ROUNDS);
        expect(new Set(pairs).size).toBe(2 * ROUNDS);
        expect(reported).toBe(2 * ROUNDS);
        expect(pairs).toEqual(await pairsOf(single));
        expect(await pairsOf(nodeB)).toEqual(pairs);
        // Settlement, allowance, blocklist: a single node's.
        const want = moneyOf(await single.report());
        expect(moneyOf(await nodeA.report())).toEqual(want);
        expect(moneyOf(await nodeB.report())).toEqual(want);
        expect((await nodeA.blocklistEntries()).map((b) => b.walletId)).toEqual((await single.blocklistEntries()).map((b) => b.walletId));
        // Every wallet of the round: the clones (counter_reuse) and the token shown at two gates (same_token_twice).
        expect((await nodeA.blocklistEntries()).map((b) => b.walletId)).toEqual(WALLETS.map((w) => toHex(walletIdOf(w.cert.walletPublicKey))).sort());
        // The race happened: the engine had to run conflicting transactions again.
        if (e.retries) expect(e.retries(nodeA) + e.retries(nodeB)).toBeGreaterThan(0);
      } finally {
        await Promise.all([nodeA.close(), nodeB.close(), single.close()]);
      }
    });
  });
}


/**
 * Rows of a database from before one finding per key (a pre-release 0.2.0: one row per pair): three double-spend pairs of one
 * key and one of another, two reader-fault pairs of one key. Each row: the values of the table's columns in order.
 */
export const PAIR_ROWS = {
  doubleSpends: [
    // kind, wallet id fill, counter, a hash fill, a chain, a seq, b hash fill, b chain, b seq, detected at
    ['counter_reuse', 1, 5, 1, 1, 1, 2, 2, 1, 100],
    ['counter_reuse', 1, 5, 1, 1, 1, 3, 3, 1, 200],
    ['counter_reuse', 1, 5, 2, 2, 1, 3, 3, 1, 200],
    ['same_token_twice', 1, 5, 1, 1, 1, 1, 4, 1, 300],
  ] as const,
  readerFaults: [
    // kind, reader id, token hash fill, a chain, a seq, b chain, b seq, detected at
    ['token_listed_twice', 7, 9, 1, 1, 1, 2, 50],
    ['token_listed_twice', 7, 9, 1, 1, 1, 3, 60],
  ] as const,
};

/** What a store opened over PAIR_ROWS holds: of each key the row detected first; a second row of a key is refused. */
export async function expectOneFindingPerKey(c: Clearing): Promise<void> {
  const ds = await c.store.doubleSpendRows();
  expect(ds.map((d) => [d.kind, d.aChain, d.bChain, d.detectedAt])).toEqual([
    ['counter_reuse', 1, 2, 100],
    ['same_token_twice', 1, 4, 300],
  ]);
  expect((await c.store.readerFaultRows()).map((f) => [f.bSeq, f.detectedAt])).toEqual([[2, 50]]);
  const again = await c.store.session((s) =>
    s.atomic(async (tx) => [
    await tx.putDoubleSpend({ ...ds[0]!, bChain: 9, bSeq: 9 }),
    await tx.putReaderFault({ kind: 'token_listed_twice', readerId: 7, tokenHash: new Uint8Array(32).fill(9), aChain: 1, aSeq: 5, bChain: 1, bSeq: 6, detectedAt: 70 }),
    await tx.putReaderFault({ kind: 'token_listed_twice', readerId: 8, tokenHash: new Uint8Array(32).fill(9), aChain: 5, aSeq: 1, bChain: 5, bSeq: 2, detectedAt: 70 }),
    ]),
  );
  expect(again).toEqual([false, false, true]);
}

/**
 * Many old rows (the upgrade in one pass, not a self-join: 16,000 rows took 16 s on SQLite and 28,680 rows of one key
 * 159 s on PostgreSQL before): 6,000 reader-fault keys of two rows each, and one double-spend key of 5,000 rows (a
 * token listed 101 times by two readers). Values in column order.
 */
export function bulkPairRows(): { doubleSpends: unknown[][]; readerFaults: unknown[][] } {
  const hash = (n: number) => {
    const h = new Uint8Array(32);
    new DataView(h.buffer).setUint32(0, n);
    return h;
  };
  const doubleSpends: unknown[][] = [];
  for (let i = 0; i < 5_000; i++) doubleSpends.push(['same_token_twice', new Uint8Array(16).fill(3), 9, hash(1), 10, i + 1, hash(1), 11, i + 1, 5_000 - i]);
  const readerFaults: unknown[][] = [];
  for (let k = 0; k < 6_000; k++) for (const j of [1, 2]) readerFaults.push(['token_listed_twice', 100 + (k % 7), hash(k), 20, 2 * k + 1, 20, 2 * k + 1 + j, 100 * j]);
  return { doubleSpends, readerFaults };
}

/** What a store opened over bulkPairRows holds: one row per key, the one detected first. */
export async function expectBulkUpgrade(c: Clearing): Promise<void> {
  const ds = await c.store.doubleSpendRows();
  expect(ds.map((d) => [d.kind, d.aSeq, d.detectedAt])).toEqual([['same_token_twice', 5_000, 1]]);
  const rf = await c.store.readerFaultRows();
  expect(rf).toHaveLength(6_000);
  expect(rf.every((f) => f.detectedAt === 100 && f.bSeq === f.aSeq + 1)).toBe(true);
}
