/**
 * ReaderStore behaviour, written once for every implementation (MemoryReaderStore in Node here;
 * IndexedDbReaderStore in real Chromium, test/browser/indexeddb.test.ts bundles this file into a page).
 * No test framework inside: each check returns the problems it found, so the same code runs in a page.
 *
 * The model check drives a store and a reference model (plain maps) with the same seeded random
 * transactions, a quarter of which throw half-way and must leave no trace, and compares every read; for a
 * durable store it reopens the store and compares again (a reload forgets nothing, keeps nothing rolled back).
 */
import type { JournalRow } from '../../src/reader/journal.js';
import type { ReaderStore, TokenRecord } from '../../src/reader/store.js';

export interface StoreHarness {
  /** A new, empty store. */
  create(): Promise<ReaderStore>;
  /** Close `s` and open the same durable state again (omit for non-durable stores). */
  reopen?(s: ReaderStore): Promise<ReaderStore>;
  /** The store refuses a transaction inside a transaction (Memory, IndexedDB; SQLite nests as savepoints). */
  refusesNesting?: boolean;
  /** Wait until committed writes are durable (IndexedDbReaderStore.flush). */
  flush?(s: ReaderStore): Promise<void>;
}

const b = (...v: number[]) => Uint8Array.from(v);
const same = (x: unknown, y: unknown): boolean => JSON.stringify(norm(x)) === JSON.stringify(norm(y));
function norm(x: unknown): unknown {
  if (x instanceof Uint8Array) return { u8: Array.from(x) };
  if (Array.isArray(x)) return x.map(norm);
  if (x && typeof x === 'object') return Object.fromEntries(Object.entries(x).sort(([a], [c]) => (a < c ? -1 : 1)).map(([k, v]) => [k, norm(v)]));
  return x;
}

function token(n: number, status: TokenRecord['status'] = 'completed'): TokenRecord {
  return { hash: b(1, n), status, walletId: b(2, n % 3), counter: n, amount: 100 * n, currency: 344, day: 20_000, certId: b(3), acceptedAt: 1000 + n, seq: n, trip: n % 2 === 0 };
}
const row = (seq: number): JournalRow => ({ seq, bytes: b(9, seq), hash: b(8, seq) });

/** Fixed-case checks; an unexpected exception is reported as a problem. */
export async function storeBasics(h: StoreHarness): Promise<string[]> {
  const out: string[] = [];
  try {
    await basics(h, out);
  } catch (e) {
    out.push(`threw: ${(e as Error).message}`);
  }
  return out;
}

async function basics(h: StoreHarness, out: string[]): Promise<void> {
  const check = (ok: boolean, what: string) => void (ok || out.push(what));
  let s = await h.create();
  s.transact((tx) => {
    check(tx.getWindow(b(1)) === undefined && tx.getTotal('x') === 0 && tx.getToken(b(1)) === undefined && tx.head() === undefined && tx.getMeta('m') === undefined, 'a new store is empty');
  });
  check(s.journal(1).length === 0, 'a new journal is empty');

  s.transact((tx) => {
    tx.putWindow(b(1), { high: 7, bitmap: b(0x80, 1) });
    tx.putTotal('day', 250);
    tx.putToken(token(1));
    tx.append(row(1));
    tx.putMeta('m', b(5));
  });
  s.transact((tx) => {
    const w = tx.getWindow(b(1))!;
    check(w.high === 7 && same(w.bitmap, b(0x80, 1)), 'a window reads back');
    w.bitmap[0] = 0; // a caller mutating what it read must not change the store
    check(same(tx.getWindow(b(1))!.bitmap, b(0x80, 1)), 'getWindow returns a copy');
    check(tx.getTotal('day') === 250, 'a total reads back');
    check(same(tx.getToken(b(1, 1)), token(1)), 'a token record reads back');
    check(tx.head()?.seq === 1, 'head is the last row');
    check(same(tx.getMeta('m'), b(5)), 'meta reads back');
  });

  // Rollback: a throwing transaction leaves nothing behind and rethrows its error.
  const boom = new Error('boom');
  let thrown: unknown;
  try {
    s.transact((tx) => {
      tx.putWindow(b(1), { high: 9, bitmap: b(0, 0) });
      tx.putWindow(b(2), { high: 1, bitmap: b(1, 0) });
      tx.putTotal('day', 999);
      tx.putToken({ ...token(1), status: 'voided' });
      tx.putToken(token(2));
      tx.append(row(2));
      tx.putMeta('m', b(6));
      tx.putMeta('n', b(7));
      throw boom;
    });
  } catch (e) {
    thrown = e;
  }
  check(thrown === boom, 'transact rethrows the error of fn');
  const after = () =>
    s.transact((tx) => [tx.getWindow(b(1)), tx.getWindow(b(2)), tx.getTotal('day'), tx.getToken(b(1, 1)), tx.getToken(b(1, 2)), tx.head()?.seq, tx.getMeta('m'), tx.getMeta('n')]);
  check(same(after(), [{ high: 7, bitmap: b(0x80, 1) }, undefined, 250, token(1), undefined, 1, b(5), undefined]), 'a failed transaction is rolled back completely');

  let duplicate = false;
  try {
    s.transact((tx) => tx.append(row(1)));
  } catch {
    duplicate = true;
  }
  check(duplicate, 'a journal row with a sequence number already used is refused');
  s.transact((tx) => [2, 3, 4].forEach((q) => tx.append(row(q))));
  check(same(s.journal(2, 3).map((r) => r.seq), [2, 3]) && same(s.journal(3).map((r) => r.seq), [3, 4]) && s.journal(5).length === 0, 'journal ranges');

  let nested = false;
  try {
    s.transact(() => s.transact(() => 0));
  } catch {
    nested = true;
  }
  if (h.refusesNesting) check(nested, 'nested transactions are refused');

  if (h.reopen) {
    if (h.flush) await h.flush(s);
    const before = after();
    s = await h.reopen(s);
    check(same(after(), before), 'a reopened store holds what was committed, nothing rolled back');
    check(same(s.journal(1).map((r) => r.seq), [1, 2, 3, 4]), 'a reopened journal is complete and ordered');
  }
  s.close();
  let closed = false;
  try {
    s.transact(() => 0);
  } catch {
    closed = true;
  }
  check(closed, 'a closed store refuses transactions');
}

/** Seeded random transactions against the store and a plain model; every read compared. */
export async function storeModel(h: StoreHarness, seed: number, steps = 300): Promise<string[]> {
  let x = seed >>> 0 || 1;
  const rnd = (n: number) => {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    return (x >>> 0) % n;
  };
  const model = { windows: new Map<number, number>(), totals: new Map<string, number>(), tokens: new Map<number, TokenRecord>(), meta: new Map<string, number>(), seq: 0 };
  let s = await h.create();
  const out: string[] = [];
  const compare = (when: string) =>
    s.transact((tx) => {
      for (let k = 0; k < 6; k++) {
        const w = tx.getWindow(b(k));
        if ((w?.high ?? -1) !== (model.windows.get(k) ?? -1)) out.push(`${when}: window ${k} is ${w?.high}, model ${model.windows.get(k)}`);
        if (tx.getTotal(`t${k}`) !== (model.totals.get(`t${k}`) ?? 0)) out.push(`${when}: total t${k}`);
        if (!same(tx.getToken(b(1, k)), model.tokens.get(k))) out.push(`${when}: token ${k}`);
        if (!same(tx.getMeta(`m${k}`), model.meta.has(`m${k}`) ? b(model.meta.get(`m${k}`)!) : undefined)) out.push(`${when}: meta m${k}`);
      }
      if ((tx.head()?.seq ?? 0) !== model.seq) out.push(`${when}: head ${tx.head()?.seq}, model ${model.seq}`);
    });
  for (let i = 0; i < steps && out.length === 0; i++) {
    const fail = rnd(4) === 0;
    const staged = { windows: new Map(model.windows), totals: new Map(model.totals), tokens: new Map(model.tokens), meta: new Map(model.meta), seq: model.seq };
    try {
      s.transact((tx) => {
        const ops = 1 + rnd(5);
        for (let o = 0; o < ops; o++) {
          const k = rnd(6);
          switch (rnd(5)) {
            case 0: { const hi = rnd(1000); tx.putWindow(b(k), { high: hi, bitmap: b(rnd(256), rnd(256)) }); staged.windows.set(k, hi); break; }
            case 1: { const v = rnd(100_000); tx.putTotal(`t${k}`, v); staged.totals.set(`t${k}`, v); break; }
            case 2: { const r = { ...token(k, (['pending', 'completed', 'voided', 'conflict'] as const)[rnd(4)]), acceptedAt: rnd(1e6) }; r.hash = b(1, k); tx.putToken(r); staged.tokens.set(k, r); break; }
            case 3: { staged.seq++; tx.append(row(staged.seq)); break; }
            default: { const v = rnd(256); tx.putMeta(`m${k}`, b(v)); staged.meta.set(`m${k}`, v); }
          }
          if (fail && o === ops - 1) throw new Error('fail');
        }
      });
      Object.assign(model, staged);
    } catch (e) {
      if ((e as Error).message !== 'fail') out.push(`step ${i}: ${(e as Error).message}`);
    }
    compare(`step ${i}`);
    if (h.reopen && rnd(50) === 0) {
      if (h.flush) await h.flush(s);
      s = await h.reopen(s);
      compare(`after reopen at step ${i}`);
    }
  }
  if (h.reopen) {
    if (h.flush) await h.flush(s);
    s = await h.reopen(s);
    compare('after the final reopen');
  }
  if (s.journal(1).length !== model.seq) out.push(`journal has ${s.journal(1).length} rows, model ${model.seq}`);
  s.close();
  return out;
}

/**
 * Pruning (spec/reader.md §9.3): a plan deletes exactly the journal rows, token records, totals and metadata it
 * names, never the newest journal row; the journal stays contiguous from its oldest row kept, takes the next row
 * after it, and (for a durable store) reopens the same. A store without `prune` reports that it has none.
 */
export async function storePrune(h: StoreHarness): Promise<string[]> {
  const out: string[] = [];
  const check = (ok: boolean, what: string) => void (ok || out.push(what));
  try {
    let s = await h.create();
    if (!s.prune) return ['the store has no prune'];
    s.transact((tx) => {
      for (let n = 1; n <= 10; n++) {
        tx.append(row(n));
        tx.putToken(token(n, n % 4 === 0 ? 'pending' : 'completed'));
        tx.putTotal(`d:${n}`, n);
        tx.putTotal(`c:${n}`, n);
        tx.putMeta(`x:${n}`, b(n));
        tx.putMeta(`y:${n}`, b(n));
      }
      tx.putWindow(b(1), { high: 10, bitmap: b(0xff) });
    });
    const counts = s.prune({
      journalBefore: 4,
      acceptedBefore: 1006, // tokens 1..5 (acceptedAt 1001..1005), but token 2
      keepTokens: [b(1, 2), b(7, 7)],
      totals: { prefix: 'd:', drop: (k) => Number(k.slice(2)) % 2 === 0 },
      meta: { prefix: 'x:', drop: (_k, v) => v[0]! > 7 },
    });
    await h.flush?.(s);
    check(same(counts, { journal: 3, tokens: 4, totals: 5, meta: 3 }), `counts ${JSON.stringify(counts)}`);
    const expectState = (when: string) => {
      const rows = s.journal(1);
      check(same(rows.map((r) => r.seq), [4, 5, 6, 7, 8, 9, 10]), `${when}: journal holds ${rows.map((r) => r.seq).join(',')}, not 4..10`);
      check(s.journal(1, 3).length === 0 && same(s.journal(2, 5).map((r) => r.seq), [4, 5]), `${when}: journal ranges over pruned rows`);
      s.transact((tx) => {
        for (let n = 1; n <= 10; n++) {
          check((tx.getToken(b(1, n)) !== undefined) === (n > 5 || n === 2), `${when}: token ${n}`);
          check(tx.getTotal(`d:${n}`) === (n % 2 === 0 ? 0 : n), `${when}: total d:${n}`);
          check(tx.getTotal(`c:${n}`) === n, `${when}: total c:${n} (another prefix) is kept`);
          check((tx.getMeta(`x:${n}`) !== undefined) === n <= 7, `${when}: meta x:${n}`);
          check(tx.getMeta(`y:${n}`) !== undefined, `${when}: meta y:${n} (another prefix) is kept`);
        }
        check(tx.getWindow(b(1))?.high === 10, `${when}: windows are kept`);
        check(tx.head()?.seq === 10, `${when}: head`);
      });
    };
    expectState('after prune');
    if (h.reopen) {
      s = await h.reopen(s);
      expectState('after reopen');
    }
    s.transact((tx) => tx.append(row(11)));
    check(same(s.journal(9).map((r) => r.seq), [9, 10, 11]), 'append after a prune');
    // Asked to delete past the head, the newest row stays.
    const again = s.prune!({ journalBefore: 99, acceptedBefore: 0, keepTokens: [], totals: { prefix: 'd:', drop: () => false }, meta: { prefix: 'x:', drop: () => false } });
    await h.flush?.(s);
    check(again.journal === 7 && same(s.journal(1).map((r) => r.seq), [11]), `past the head: deleted ${again.journal}, holds ${s.journal(1).map((r) => r.seq).join(',')}`);
    if (h.reopen) {
      s = await h.reopen(s);
      check(same(s.journal(1).map((r) => r.seq), [11]) && s.transact((tx) => tx.head()?.seq) === 11, 'reopened with one row');
    }
    s.transact((tx) => tx.append(row(12)));
    check(same(s.journal(1).map((r) => r.seq), [11, 12]), 'append after pruning to the head');
    s.close();
  } catch (e) {
    out.push(`threw: ${(e as Error).message}`);
  }
  return out;
}
