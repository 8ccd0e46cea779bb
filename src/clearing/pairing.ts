/**
 * Double spends and reader faults of one batch (spec/clearing.md §4 step 10): which findings its new entries
 * make, each with the pair of entries that shows it.
 *
 * A finding is recorded once per key, not once per pair of entries:
 *  - `counter_reuse` per (wallet id, counter): two valid entries of the counter with different token bytes,
 *    neither a tap-out;
 *  - `same_token_twice` per (wallet id, counter): one token taken as a sale (accept or tap-in) at two readers,
 *    except two tap-ins (the one-way rule): two tap-ins of a token at two readers do not pair; they are the
 *    customer's only when the token was also taken as a tap-out at two readers (two travellers left with it),
 *    a second tap-in alone being perhaps a gate that heard the phone meant for the next one (an accept still
 *    pairs with a sale of its token at another reader at once);
 *  - `token_listed_twice` per (reader id, token hash): one reader lists one token as a sale twice.
 * Which keys are held after any set of batches is a function of the entries held, not of the order they came
 * in. A reader that lists one token (or one counter) N times makes one finding, not N(N-1)/2 (the rows that
 * ran clearing out of memory, M5).
 *
 * The pair recorded is the first that the sequential judgment finds: the new entries of the batch are taken
 * in seq order, each against everything held before the batch and the earlier entries of the batch, and the
 * first entry that pairs is `second` (b); its partner (a) is the first of the entries it pairs with, in
 * (reader id, journal id, seq) order. That is exactly the first pair of each key the per-pair rule found
 * before, so the blocklist reasons are unchanged.
 *
 * Cost: one probe per batch (`contested`, one index probe per new entry); only a wallet counter with another
 * valid entry is read further, and never by walking its entries: the findings already held for it (unique-key
 * lookups), then, for the keys not held, its firsts (table counter_firsts: per (token hash, reader id, class)
 * the first entry), by key: the first sale of each of the batch's sale tokens at each reader, and at most two
 * "first entry of another token". The firsts are recorded from the counter's entries once, by the first batch
 * that shares it (the only walk, over what was held before that batch), and every batch of the counter updates
 * them. So a batch costs time and memory in proportion to its own entries and to the readers that sold its
 * tokens, never to how often a token or counter was listed before (spec/clearing.md M5).
 */
import { toHex } from '../../base/hex.js';
import { JournalKind } from '../reader/journal.js';
import type { CounterMate, CounterQuery, DoubleSpendRow, EntryRow, IngestTx, ReaderFaultRow, TokenTrips } from './store.js';

/** The new entries of a batch and where they sit. */
export interface PairingInput {
  /** The batch's chain number. */
  chain: number;
  /** Its reader id. */
  readerId: number;
  /** Its journal id. */
  journalId: Uint8Array;
  /** Seq range the batch covers (its entries, held before or new). */
  from: number;
  /** Last seq of the batch. */
  to: number;
  /** The rows this batch writes, in seq order (valid token entries carry walletId, counter, tokenHash). */
  rows: readonly EntryRow[];
  /** Clearing time, unix seconds. */
  now: number;
}

/** What the pairing found. */
export interface PairingResult {
  /** Double-spend findings, in the order the sequential judgment finds them (by b's seq; counter_reuse first). */
  doubleSpends: DoubleSpendRow[];
  /** Reader-fault findings, in the same order. */
  readerFaults: ReaderFaultRow[];
}

/** An entry as the pairing compares them: its place in (reader id, journal id, seq) order and its token. */
interface Party {
  chain: number;
  readerId: number;
  journalId: Uint8Array;
  seq: number;
  tokenHash: Uint8Array;
}

const isSale = (kind: number): boolean => kind === JournalKind.accept || kind === JournalKind.tap_in;

/** (reader id, journal id bytes, seq) order; negative when x comes first. */
function order(x: Party, y: Party): number {
  if (x.readerId !== y.readerId) return x.readerId < y.readerId ? -1 : 1;
  const a = x.journalId;
  const b = y.journalId;
  for (let i = 0; i < Math.min(a.length, b.length); i++) if (a[i] !== b[i]) return a[i]! - b[i]!;
  if (a.length !== b.length) return a.length - b.length;
  return x.seq - y.seq;
}

/** The first of the parties given (undefined ones skipped). */
function first(...xs: (Party | undefined)[]): Party | undefined {
  let best: Party | undefined;
  for (const x of xs) if (x && (!best || order(x, best) < 0)) best = x;
  return best;
}

/**
 * The findings of one batch whose rows are already written in `tx` (so `contested` sees them). It writes only
 * counter_firsts (the counters' firsts, derived data); the caller stores the findings it returns.
 */
export async function findPairs(tx: IngestTx, b: PairingInput): Promise<PairingResult> {
  const out: PairingResult = { doubleSpends: [], readerFaults: [] };
  if (b.rows.length === 0) return out;
  const contested = await tx.contested(b.chain, b.from, b.to);
  if (contested.length === 0) return out;
  // The batch's new valid token entries that share a counter, grouped by (wallet id, counter), each group in
  // seq order and the groups in the order of their first entry.
  const bySeq = new Map<number, EntryRow>();
  for (const r of b.rows) if (r.walletId) bySeq.set(r.seq, r);
  const groups = new Map<string, EntryRow[]>();
  for (const seq of contested) {
    const r = bySeq.get(seq);
    if (!r) continue; // held before this batch: judged when it came
    const key = `${toHex(r.walletId!)}:${r.counter}`;
    const g = groups.get(key);
    if (g) g.push(r);
    else groups.set(key, [r]);
  }
  const found: { seq: number; rank: number; d: DoubleSpendRow }[] = [];
  for (const g of groups.values()) {
    const walletId = g[0]!.walletId!;
    const counter = g[0]!.counter!;
    const q: CounterQuery = { walletId, counter, chain: b.chain, fresh: g.map((r) => r.seq) };
    const party = (r: EntryRow): Party => ({ chain: b.chain, readerId: b.readerId, journalId: b.journalId, seq: r.seq, tokenHash: r.tokenHash! });
    // What is held of this counter is read from its firsts (counter_firsts: the first entry of each (token, reader,
    // class)), recorded from its entries the first time a batch shares it, and kept up by every batch since.
    await tx.counterFirsts(q);
    const saleHashes = new Map<string, Uint8Array>();
    for (const r of g) if (isSale(r.kind)) saleHashes.set(toHex(r.tokenHash!), r.tokenHash!);
    // Findings already held need no read (their keys are held whatever the pair this batch would show).
    const held = await tx.heldFindings(q, b.readerId, [...saleHashes.values()]);
    let reuseDone = held.doubleSpends.includes('counter_reuse');
    let twiceDone = held.doubleSpends.includes('same_token_twice');
    const listedDone = new Set<string>(held.listed.map(toHex));
    const wanted = twiceDone ? [...saleHashes].filter(([h]) => !listedDone.has(h)).map(([, v]) => v) : [...saleHashes.values()];
    // The first held sale of each of those tokens at this reader and at another (same token twice, listed twice).
    const mates = wanted.length > 0 ? await tx.firstMates(q, b.readerId, wanted) : [];
    // Per token: the first held sale at this reader (either kind), the first held accept at another reader and
    // the first held tap-in at another reader.
    const heldSale = new Map<string, { here?: CounterMate; accept?: CounterMate; tapIn?: CounterMate }>();
    for (const m of mates) {
      if (!isSale(m.kind)) continue;
      const k = toHex(m.tokenHash);
      const s = heldSale.get(k) ?? {};
      const slot = m.readerId === b.readerId ? 'here' : m.kind === JournalKind.accept ? 'accept' : 'tapIn';
      const cur = s[slot];
      if (!cur || order(m, cur) < 0) s[slot] = m;
      heldSale.set(k, s);
    }
    // The one-way rule (tap-ins at two readers and tap-outs at two readers): what is held of each token, read once
    // (counter_firsts does not change during the loop: the batch's entries are put after it).
    const trips = new Map<string, TokenTrips>();
    const batchTapIn = new Map<string, Party>(); // the batch's first tap-in of each token so far (seq order)
    const batchTapOut = new Set<string>(); // the tokens the batch took as a tap-out so far
    /** The tap-in pair that makes the token's one-way finding once the batch's entries up to now are counted, if any. */
    const tripPair = async (h: string, hash: Uint8Array): Promise<[Party, Party] | undefined> => {
      let t = trips.get(h);
      if (!t) {
        t = await tx.tokenTrips(q, hash);
        trips.set(h, t);
      }
      const outs = new Set(t.tapOutReaders);
      if (batchTapOut.has(h)) outs.add(b.readerId);
      if (outs.size < 2) return undefined;
      // The first tap-in of each reader, by reader id: the held ones (the two lowest readers) and the batch's.
      const ins: Party[] = t.tapIns.filter((m) => m.readerId !== b.readerId);
      const here = first(t.tapIns.find((m) => m.readerId === b.readerId), batchTapIn.get(h));
      if (here) ins.push(here);
      ins.sort((x, y) => x.readerId - y.readerId);
      return ins.length >= 2 ? [ins[0]!, ins[1]!] : undefined;
    };
    // Counter reuse: the first held entry that is not a tap-out, and (read only when needed) the first of
    // another token than that one.
    let heldX: CounterMate | undefined | null = null;
    let heldY: CounterMate | undefined | null = null;
    let batchX: Party | undefined; // the first entry of the batch so far that is not a tap-out
    let batchY: Party | undefined; // the first of another token than batchX's
    const batchSale = new Map<string, Party>();
    for (const r of g) {
      const h = toHex(r.tokenHash!);
      const me = party(r);
      const pair = (kind: DoubleSpendRow['kind'], a: Party, second: Party = me) =>
        found.push({
          seq: r.seq,
          rank: kind === 'counter_reuse' ? 0 : 1,
          d: { kind, walletId, counter, aHash: a.tokenHash, aChain: a.chain, aSeq: a.seq, bHash: second.tokenHash, bChain: second.chain, bSeq: second.seq, detectedAt: b.now },
        });
      if (r.kind === JournalKind.tap_in && !batchTapIn.has(h)) batchTapIn.set(h, me);
      if (r.kind === JournalKind.tap_out) batchTapOut.add(h);
      if (r.kind !== JournalKind.tap_out) {
        if (!reuseDone) {
          if (heldX === null) heldX = await tx.firstOtherToken(q, null);
          let held: Party | undefined;
          if (heldX && toHex(heldX.tokenHash) !== h) held = heldX;
          else if (heldX) {
            if (heldY === null) heldY = await tx.firstOtherToken(q, heldX.tokenHash);
            held = heldY;
          }
          const inBatch = batchX && toHex(batchX.tokenHash) !== h ? batchX : batchY;
          const a = first(held, inBatch);
          if (a) {
            pair('counter_reuse', a);
            reuseDone = true;
          }
        }
        if (!batchX) batchX = me;
        else if (!batchY && toHex(batchX.tokenHash) !== h) batchY = me;
      }
      if (!twiceDone && (r.kind === JournalKind.tap_in || r.kind === JournalKind.tap_out)) {
        // An accept of this token at another reader pairs at once (below); without one, two tap-ins need two tap-outs.
        const accepted = r.kind === JournalKind.tap_in && heldSale.get(h)?.accept;
        const p = accepted ? undefined : await tripPair(h, r.tokenHash!);
        if (p) {
          pair('same_token_twice', p[0], p[1]);
          twiceDone = true;
        }
      }
      if (isSale(r.kind)) {
        const mate = heldSale.get(h);
        // An accept pairs with the first held sale of its token at another reader; a tap-in with the first accept.
        const there = r.kind === JournalKind.accept ? first(mate?.accept, mate?.tapIn) : mate?.accept;
        if (!twiceDone && there) {
          pair('same_token_twice', there);
          twiceDone = true;
        }
        if (!listedDone.has(h)) {
          const a = first(mate?.here, batchSale.get(h));
          if (a) {
            out.readerFaults.push({ kind: 'token_listed_twice', readerId: b.readerId, tokenHash: r.tokenHash!, aChain: a.chain, aSeq: a.seq, bChain: b.chain, bSeq: r.seq, detectedAt: b.now });
            listedDone.add(h);
          }
        }
        if (!batchSale.has(h)) batchSale.set(h, me);
      }
    }
    await tx.putCounterFirsts(q, g.map((r) => ({ tokenHash: r.tokenHash!, kind: r.kind, chain: b.chain, readerId: b.readerId, journalId: b.journalId, seq: r.seq })));
  }
  found.sort((x, y) => x.seq - y.seq || x.rank - y.rank);
  out.doubleSpends = found.map((f) => f.d);
  return out;
}
