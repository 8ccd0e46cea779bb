/**
 * The clearing store: what clearing.ts needs from a database, and nothing of the clearing rules. Two engines
 * implement it: store-sqlite.ts (embedded, one process; the default) and store-pg.ts (PostgreSQL; several
 * `clearing serve` processes on one database are one clearing house). spec/clearing.md §11 is the contract
 * (tables, constraints, which operations are atomic, isolation), written so that an operator can port it.
 *
 * The rules (verify, chain, continuity, double spends, reader faults, allowance, settlement) live in
 * clearing.ts and settle.ts and run unchanged over either engine. A store only keeps rows and answers
 * queries, with three duties the rules rely on:
 *  1. `IngestSession.atomic(fn)`: everything `fn` writes is stored together or not at all, and `fn` sees the
 *     store as if no other ingest ran at the same time (serialisable). An engine that detects a conflict with
 *     a concurrent ingest (PostgreSQL: SQLSTATE 40001 / 40P01) rolls back and runs `fn` again from the start,
 *     so `fn` must have no effect outside the transaction; the SQLite store runs one at a time.
 *  2. The keys below are unique (primary keys or UNIQUE constraints), and every `put` that may meet an existing
 *     key is "insert if absent" (INSERT OR IGNORE / ON CONFLICT DO NOTHING), returning whether it inserted:
 *     chains (reader id, journal id); batches (chain, batch seq); entries (chain, seq); double_spends (kind,
 *     wallet id, counter); reader_faults (reader id, token hash); problems (reader id, kind, detail); blocklist
 *     (wallet id).
 *  3. Ordered reads: `settleRows` by (wallet key, counter); `contested` by seq; `firstMates` and
 *     `firstOtherToken` first by (reader id, journal id, seq); listings as each method says.
 */
import { OffpayError } from '../../base/errors.js';
import type { JournalKindName } from '../reader/journal.js';
import type { SettleRow } from './settle.js';

/** One journal entry as stored (spec/clearing.md §11, table entries). */
export interface EntryRow {
  /** The chain number (one reader journal: `ChainRow.chain`). */
  chain: number;
  /** The entry's sequence number in its journal. */
  seq: number;
  /** JournalKind number. */
  kind: number;
  /** Reader time of the entry, unix seconds. */
  time: number;
  /** Amount in minor units (charged, given back, authorised, fare), or for `conflict` the reason code. */
  value: number;
  /** Token amount of a valid tap-out (its value is the fare); null otherwise. */
  amount: number | null;
  /** SHA-256 of the token (token entries) or the voided token's hash (void). */
  tokenHash: Uint8Array | null;
  /** The chain hash before this entry: held for the first entry of its batch only. */
  prevHash: Uint8Array | null;
  /** The chain hash after this entry (32 bytes). */
  hash: Uint8Array;
  /** True when clearing accepted the entry (token verified, chain and certificate in order). */
  valid: boolean;
  /** Why the entry is invalid (an error code); null when valid. */
  reason: string | null;
  /** Operator named by the certificate of the batch that carried the entry. */
  operatorId: number;
  /** batch_bytes id of the batch holding the token, its offset and length there (token entries). */
  source: number | null;
  /** Byte offset of the token within the `source` batch bytes; null without a token. */
  tokenAt: number | null;
  /** Byte length of the token within the `source` batch bytes; null without a token. */
  tokenLen: number | null;
  /** Re-verified token fields, valid token entries only (the wallet-counter index covers these rows). */
  walletId: Uint8Array | null;
  /** The wallet counter the token spends. */
  counter: number | null;
  /** The token's ISO 4217 numeric currency code. */
  currency: number | null;
  /** First six bytes of the wallet certificate id, as an integer. */
  certKey: number | null;
  /** The wallet certificate's offline allowance, minor units. */
  allowance: number | null;
  /**
   * The request a valid request-bound `accept` answered (spec/clearing.md M9): its time and challenge from the
   * entry's request context; null for every other entry, a payment-code request's (time 0) included.
   */
  reqTime: number | null;
  /** The request's challenge (8 bytes), with `reqTime`. */
  reqChallenge: Uint8Array | null;
}

/**
 * A valid `accept` entry of a request-bound token (spec/clearing.md M9, one request one settlement): the request
 * it answered and whether a valid void of its journal names its token.
 */
export interface RequestSaleRow {
  /** The reader that journaled the entry (the request's reader). */
  readerId: number;
  /** The operator named by the certificate of the batch that carried the entry. */
  operatorId: number;
  /** The reader journal's id. */
  journalId: Uint8Array;
  /** The entry's seq in that journal. */
  seq: number;
  /** Reader time of the entry, unix seconds. */
  time: number;
  /** SHA-256 of the token bytes. */
  tokenHash: Uint8Array;
  /** The request's time, unix seconds. */
  reqTime: number;
  /** The request's challenge, 8 bytes. */
  reqChallenge: Uint8Array;
  /** A valid void entry of the same journal names the token. */
  voided: boolean;
}

/**
 * A held valid token entry of one wallet counter, found for the pairing of spec/clearing.md §4 step 10: the first
 * such entry, in (reader id, journal id, seq) order, of what the query asked for.
 */
export interface CounterMate {
  /** SHA-256 of its token bytes. */
  tokenHash: Uint8Array;
  /** Its JournalKind number. */
  kind: number;
  /** Its chain number. */
  chain: number;
  /** Reader id of its chain. */
  readerId: number;
  /** Journal id of its chain. */
  journalId: Uint8Array;
  /** Its seq in the chain. */
  seq: number;
}

/**
 * The class of a token entry in counter_firsts (spec/clearing.md §11.1): 0 an accept, 1 a conflict, 2 a tap-out,
 * 3 a tap-in. Sales are classes 0 and 3; the one-way rule of §4 step 10 reads the tap-ins (3) and the tap-outs (2)
 * of a token.
 */
export function firstsClass(kind: number): number {
  return kind === 0 ? 0 : kind === 2 ? 3 : kind === 4 ? 1 : 2;
}

/** The kind (JournalKind number) of a counter_firsts class: the first kind of the class (a sale of class 0 is an accept). */
export function classKind(cls: number): number {
  return cls === 0 ? 0 : cls === 3 ? 2 : cls === 1 ? 4 : 3;
}

/** What the one-way rule reads of one token of a wallet counter (`IngestTx.tokenTrips`). */
export interface TokenTrips {
  /** The first held tap-in of each of the (at most two) lowest reader ids that took the token as a tap-in, by reader id. */
  tapIns: CounterMate[];
  /** The (at most two) lowest reader ids that took the token as a tap-out, ascending. */
  tapOutReaders: number[];
}

/** Findings held for one wallet counter and one reader (`IngestTx.heldFindings`). */
export interface HeldFindings {
  /** Double-spend kinds held for the wallet counter. */
  doubleSpends: ('counter_reuse' | 'same_token_twice')[];
  /** Token hashes (of those asked) with a `token_listed_twice` finding of the reader. */
  listed: Uint8Array[];
}

/** Which held entries of one wallet counter a pairing query reads (`IngestTx.firstMates`, `firstOtherToken`). */
export interface CounterQuery {
  /** The wallet id (16 bytes). */
  walletId: Uint8Array;
  /** The wallet counter. */
  counter: number;
  /** The chain of the batch being ingested. */
  chain: number;
  /** Seqs of that chain written by this batch: not held before it, so left out. */
  fresh: number[];
}

/** A double-spend record: a = the entry held first, b = the entry that conflicts with it. */
export interface DoubleSpendRow {
  /** `counter_reuse`: same wallet and counter, different token bytes; `same_token_twice`: same token at two readers. */
  kind: 'counter_reuse' | 'same_token_twice';
  /** The wallet id (16 bytes). */
  walletId: Uint8Array;
  /** The wallet counter involved. */
  counter: number;
  /** Token hash (SHA-256 of the token bytes) of the entry held first. */
  aHash: Uint8Array;
  /** Chain number of the entry held first. */
  aChain: number;
  /** Seq of the entry held first. */
  aSeq: number;
  /** Token hash of the conflicting entry. */
  bHash: Uint8Array;
  /** Chain number of the conflicting entry. */
  bChain: number;
  /** Seq of the conflicting entry. */
  bSeq: number;
  /** Clearing time of the detection, unix seconds. */
  detectedAt: number;
}

/** A reader-fault record (one reader listed one token as a sale twice). */
export interface ReaderFaultRow {
  /** Always `token_listed_twice`. */
  kind: 'token_listed_twice';
  /** The reader at fault. */
  readerId: number;
  /** SHA-256 of the token bytes. */
  tokenHash: Uint8Array;
  /** Chain number of the first listing. */
  aChain: number;
  /** Seq of the first listing. */
  aSeq: number;
  /** Chain number of the second listing. */
  bChain: number;
  /** Seq of the second listing. */
  bSeq: number;
  /** Clearing time of the detection, unix seconds. */
  detectedAt: number;
}

/** A batch as recorded once its entries are held. */
export interface BatchRow {
  /** The chain number (reader journal) of the batch. */
  chain: number;
  /** The batch's number in its journal. */
  batchSeq: number;
  /** Seq of the batch's first entry. */
  firstSeq: number;
  /** Number of entries in the batch. */
  entries: number;
  /** The chain hash after the batch's last entry (32 bytes). */
  head: Uint8Array;
  /** SHA-256 of the signed batch bytes (duplicate detection). */
  digest: Uint8Array;
  /** When the reader made the batch (reader time, unix seconds). */
  createdAt: number;
}

/** A held entry's links (IngestTx.entryLink). */
export interface EntryLink {
  /** The chain hash after the entry (32 bytes). */
  hash: Uint8Array;
  /** The chain hash before it: held for the first entry of its batch only, else null. */
  prevHash: Uint8Array | null;
}

/** A reader as first recorded (IngestTx.reader). */
export interface ReaderRecord {
  /** Operator named by the reader's first certificate. */
  operatorId: number;
  /** Reader profile named by that certificate. */
  profile: string;
}

/** A held entry of a batch's range (IngestTx.heldEntries). */
export interface HeldEntry {
  /** The entry's chain hash (32 bytes). */
  hash: Uint8Array;
  /** Why it was stored invalid (an error code); null when valid. */
  reason: string | null;
}

/**
 * Everything an atomic unit reads about a batch's place before it writes (spec/clearing.md §4 steps 8-9), as
 * {@link readBatchView} composes it from the single reads of {@link IngestTx}.
 */
export interface BatchView {
  /** The chain number of (reader id, journal id), if held. */
  chain: number | undefined;
  /** SHA-256 of the batch held as (chain, batch seq), if any. */
  digest: Uint8Array | undefined;
  /** The held entry just before the batch (firstSeq - 1), when firstSeq > 1. */
  before: EntryLink | undefined;
  /** The held entry just after the batch (lastSeq + 1). */
  after: EntryLink | undefined;
  /** The reader as first recorded. */
  reader: ReaderRecord | undefined;
  /** Entries held in [firstSeq, lastSeq], by seq. */
  held: Map<number, HeldEntry>;
}

/** Where a batch goes: its reader and journal, its number and its entries' seq range. */
export interface BatchPlace {
  /** The reader that signed the batch. */
  readerId: number;
  /** Its journal id. */
  journalId: Uint8Array;
  /** The batch number within that journal. */
  batchSeq: number;
  /** Seq of its first entry. */
  firstSeq: number;
  /** Seq of its last entry. */
  lastSeq: number;
}

/** A batch's writes in one call (IngestTx.putBatchWrites), as {@link writeBatch} makes them one by one. */
export interface BatchWrites {
  /** The chain number. */
  chain: number;
  /** The batch number. */
  batchSeq: number;
  /** The signed batch bytes, kept when a row names a token in them (rows with `tokenAt` point into them); else null. */
  bytes: Uint8Array | null;
  /** The new entry rows. */
  rows: EntryRow[];
  /** The batch record. */
  batch: BatchRow;
}

/** The writes and reads of one batch's ingest, inside one atomic unit (`IngestSession.atomic`). */
export interface IngestTx {
  /**
   * Optional: the {@link BatchView} of a batch in one call, equal to what {@link readBatchView} composes from the
   * reads below (an engine with a round trip a statement answers it with one statement). Without it clearing
   * makes those reads one by one.
   */
  batchView?(place: BatchPlace): Promise<BatchView>;
  /**
   * Optional: a batch's writes in one call, with the effect of {@link writeBatch}'s single writes (its bytes,
   * its rows pointing into them, its record). Without it clearing makes those writes one by one.
   */
  putBatchWrites?(w: BatchWrites): Promise<void>;
  /** The chain number of (reader id, journal id), if held. */
  chainOf(readerId: number, journalId: Uint8Array): Promise<number | undefined>;
  /** The chain number of (reader id, journal id), numbered now if new. */
  addChain(readerId: number, journalId: Uint8Array): Promise<number>;
  /** SHA-256 of the batch held as (chain, batch seq), if any. */
  batchDigest(chain: number, batchSeq: number): Promise<Uint8Array | undefined>;
  /** Chain hash and (first of its batch) prev hash of a held entry. */
  entryLink(chain: number, seq: number): Promise<EntryLink | undefined>;
  /** The reader as first recorded. */
  reader(readerId: number): Promise<ReaderRecord | undefined>;
  /** Record a reader (insert if absent). */
  putReader(readerId: number, operatorId: number, profile: string, cert: Uint8Array): Promise<void>;
  /** Entries held in seq range [from, to] of a chain: chain hash and invalidity reason by seq. */
  heldEntries(chain: number, from: number, to: number): Promise<Map<number, HeldEntry>>;
  /** Remove held entries (an entry stored invalid for its certificate, judged again under a covering one). */
  dropEntries(chain: number, seqs: number[]): Promise<void>;
  /** Keep a signed batch's bytes; returns its id (entries point into it). */
  putBatchBytes(chain: number, batchSeq: number, bytes: Uint8Array): Promise<number>;
  /** Store entries (their keys are new: the caller checked with heldEntries and dropped what it replaces). */
  putEntries(rows: EntryRow[]): Promise<void>;
  /**
   * Seqs, ascending, of the valid token entries of chain in [from, to] that share their wallet id and counter
   * with another valid entry (held or of this batch): the only ones that can pair (spec/clearing.md §4 step 10).
   */
  contested(chain: number, from: number, to: number): Promise<number[]>;
  /**
   * Make sure the counter's firsts are held (table counter_firsts, spec/clearing.md §11.1): when the store holds
   * none for it, record them from its valid entries held before this batch (not `fresh`). Walks those entries
   * once in the counter's life (the batch that first shares it); afterwards every entry of the counter passes
   * through `putCounterFirsts`.
   */
  counterFirsts(q: CounterQuery): Promise<void>;
  /**
   * For each token hash in `tokenHashes`, from counter_firsts: of each sale kind (accept, tap-in), the first held
   * entry of it at `readerId` and the first at another reader (the lowest reader id; one row a reader and kind): at
   * most four rows a token, however many readers sold it, each with its kind.
   */
  firstMates(q: CounterQuery, readerId: number, tokenHashes: Uint8Array[]): Promise<CounterMate[]>;
  /**
   * The one-way rule of spec/clearing.md §4 step 10, for one token of the counter, from counter_firsts: its first
   * held tap-ins at the two lowest reader ids that took it as a tap-in (one row a reader, by reader id), and the
   * two lowest reader ids that took it as a tap-out.
   */
  tokenTrips(q: CounterQuery, tokenHash: Uint8Array): Promise<TokenTrips>;
  /**
   * The first held entry of the counter that is a sale or a conflict and whose token hash is not `notHash` (any,
   * when null), in (reader id, journal id, seq) order, from counter_firsts.
   */
  firstOtherToken(q: CounterQuery, notHash: Uint8Array | null): Promise<CounterMate | undefined>;
  /** Record the batch's valid token entries of the counter in counter_firsts (each kept where it is the first of its place). */
  putCounterFirsts(q: CounterQuery, entries: CounterMate[]): Promise<void>;
  /**
   * The findings already held that the counter's new entries could make (so their walks are skipped): the
   * double-spend kinds held for (wallet id, counter), and which of `tokenHashes` have a reader fault of `readerId`.
   */
  heldFindings(q: CounterQuery, readerId: number, tokenHashes: Uint8Array[]): Promise<HeldFindings>;
  /** Insert if absent; true when inserted. */
  putDoubleSpend(d: DoubleSpendRow): Promise<boolean>;
  /** Insert if absent; true when inserted. */
  putReaderFault(f: ReaderFaultRow): Promise<boolean>;
  /** Put a wallet on the blocklist (insert if absent: the first reason stays); true when inserted. */
  block(walletId: Uint8Array, reason: string, at: number): Promise<boolean>;
  /** Record a per-reader problem (insert if absent). */
  problem(readerId: number, kind: string, detail: string, at: number): Promise<void>;
  /** Record the batch (replacing a held batch of the same number: a re-export that overlaps). */
  putBatch(b: BatchRow): Promise<void>;
}

/** A run of ingests (one `ingest`, or an `ingestAll`). */
export interface IngestSession {
  /** Run `fn` as one serialisable atomic unit (module comment, duty 1); it may run more than once. */
  atomic<T>(fn: (tx: IngestTx) => Promise<T>): Promise<T>;
  /** True when (reader id, journal id, batch seq) is held with this SHA-256 digest. */
  isDuplicate(readerId: number, journalId: Uint8Array, batchSeq: number, digest: Uint8Array): Promise<boolean>;
  /** Record a per-reader problem outside any atomic unit (a rejected batch). */
  problem(readerId: number, kind: string, detail: string, at: number): Promise<void>;
  /** Make durable everything written so far in this session (a group-commit boundary; may be a no-op). */
  checkpoint(): Promise<void>;
  /**
   * Optional (spec/clearing.md §4, remembered certificates; §11.1 `verified_certs`): for each digest of a wallet certificate's
   * check, whether it is held. Without it (with `rememberCerts`) clearing remembers verified certificates in
   * its process only.
   */
  knownCerts?(digests: Uint8Array[]): Promise<boolean[]>;
  /** Optional, with `knownCerts`: hold these digests (insert if absent; losing them only costs a verification). */
  rememberCerts?(digests: Uint8Array[]): Promise<void>;
}

/**
 * The {@link BatchView} of a batch: the transaction's `batchView` when the engine has one, else its single reads
 * in this order (a chain not held has no batch, links or entries yet).
 */
export async function readBatchView(tx: IngestTx, place: BatchPlace): Promise<BatchView> {
  if (tx.batchView) return tx.batchView(place);
  const chain = await tx.chainOf(place.readerId, place.journalId);
  if (chain === undefined) return { chain, digest: undefined, before: undefined, after: undefined, reader: await tx.reader(place.readerId), held: new Map() };
  const digest = await tx.batchDigest(chain, place.batchSeq);
  const before = place.firstSeq > 1 ? await tx.entryLink(chain, place.firstSeq - 1) : undefined;
  const after = await tx.entryLink(chain, place.lastSeq + 1);
  const reader = await tx.reader(place.readerId);
  const held = await tx.heldEntries(chain, place.firstSeq, place.lastSeq);
  return { chain, digest, before, after, reader, held };
}

/**
 * Write a batch: the transaction's `putBatchWrites` when the engine has one, else its bytes (when given; the
 * rows that name a token get their id as `source`), its rows and its record, one by one.
 */
export async function writeBatch(tx: IngestTx, w: BatchWrites): Promise<void> {
  if (tx.putBatchWrites) return tx.putBatchWrites(w);
  if (w.bytes) {
    const source = await tx.putBatchBytes(w.chain, w.batchSeq, w.bytes);
    for (const r of w.rows) if (r.tokenAt !== null) r.source = source;
  }
  if (w.rows.length) await tx.putEntries(w.rows);
  await tx.putBatch(w.batch);
}

/** One entry naming a token (payment facts). */
export interface TokenEntryRow {
  /** The reader that journaled the entry. */
  readerId: number;
  /** The reader journal's id. */
  journalId: Uint8Array;
  /** The entry's seq in that journal. */
  seq: number;
  /** JournalKind number. */
  kind: number;
  /** Reader time of the entry, unix seconds. */
  time: number;
  /** Amount in minor units (charged, given back, authorised, fare), or for `conflict` the reason code. */
  value: number;
  /** True when clearing accepted the entry. */
  valid: boolean;
  /** Why the entry is invalid (an error code); null when valid. */
  reason: string | null;
  /** Operator named by the certificate of the batch that carried the entry. */
  operatorId: number;
  /** The wallet id's first six bytes as a little-endian integer (settlement index); null without a wallet. */
  walletKey: number | null;
  /** The wallet id (16 bytes); null unless a valid token entry. */
  walletId: Uint8Array | null;
  /** ISO 4217 numeric currency code of the token; null unless a valid token entry. */
  currency: number | null;
  /** The request a valid request-bound accept answered (`EntryRow.reqTime`); null otherwise. */
  reqTime: number | null;
  /** Its challenge, 8 bytes; null otherwise. */
  reqChallenge: Uint8Array | null;
}

/** A held chain (reader journal) with what the report needs. */
export interface ChainRow {
  /** The chain number (store-local id of the journal). */
  chain: number;
  /** The reader id. */
  readerId: number;
  /** The reader journal's id. */
  journalId: Uint8Array;
  /** Operator named by the reader's first certificate. */
  operatorId: number;
  /** The reader profile named by its first certificate. */
  profile: string;
  /** Number of batches held for the chain. */
  batches: number;
}

/** A blocklist row (ClearingStore.blocklist). */
export interface BlocklistRow {
  /** The blocked wallet id (16 bytes). */
  walletId: Uint8Array;
  /** Why it was blocked (the first reason recorded). */
  reason: string;
  /** Clearing time it was blocked, unix seconds. */
  addedAt: number;
}

/** One journal of a reader with the batches clearing holds of it (ClearingStore.heldBatches). */
export interface HeldJournal {
  /** The journal's id. */
  journalId: Uint8Array;
  /** Its held batches, by batch seq. */
  batches: {
    /** The batch's number in the journal. */
    batchSeq: number;
    /** Seq of its first entry. */
    firstSeq: number;
    /** Number of entries in it. */
    entries: number;
    /** The chain hash after its last entry (its prevHead for an empty batch), 32 bytes. */
    head: Uint8Array;
  }[];
}

/** A recorded problem other than invalid_entry (ClearingStore.problems). */
export interface ProblemRow {
  /** The reader concerned. */
  readerId: number;
  /** The problem's kind (such as `fork` or `reader_cert_changed`). */
  kind: string;
  /** Human-readable detail. */
  detail: string;
}

/** An entry clearing refused (ClearingStore.invalidEntries). */
export interface InvalidEntryRow {
  /** The reader that journaled the entry. */
  readerId: number;
  /** The reader journal's id. */
  journalId: Uint8Array;
  /** The entry's seq in that journal. */
  seq: number;
  /** Why it is invalid (an error code). */
  reason: string;
}

/**
 * A refund clearing accepted (spec/clearing.md §13; table refunds, unique key token hash): at most one per token,
 * whoever races to store it.
 */
export interface RefundRow {
  /** SHA-256 of the refunded token's bytes (32 bytes): the unique key. */
  tokenHash: Uint8Array;
  /** The signed refund, byte for byte as received (a resend of the same bytes is a duplicate). */
  bytes: Uint8Array;
  /** The merchant: the operatorId of the signing reader certificate (the token's operator at acceptance). */
  operatorId: number;
  /** The reader id of the signing certificate. */
  readerId: number;
  /** The wallet to credit (16 bytes). */
  walletId: Uint8Array;
  /** Amount refunded, minor units. */
  amount: number;
  /** ISO 4217 numeric currency code (the payment's). */
  currency: number;
  /** The token's charge when the refund was accepted, minor units. */
  charge: number;
  /** The refund's signed time (the merchant's clock), unix seconds. */
  time: number;
  /** Clearing time of acceptance, unix seconds. */
  acceptedAt: number;
}

/** What {@link ClearingStore.claimMeta} found: whether this call stored the value, and the value held now. */
export interface ClaimedMeta {
  /** True when this call stored `value`. */
  inserted: boolean;
  /** The value held under the key now. */
  value: Uint8Array | number;
}

/** A held refund with its place in the store's order (ClearingStore.refundsAfter). */
export interface HeldRefund extends RefundRow {
  /**
   * The refund's number in the order refunds were stored: 1, 2, ... ascending in commit order (a row committed
   * later has a higher number than every row committed before it; numbers may skip).
   */
  seq: number;
}

/** Refunds held in one currency (ClearingStore.refundTotals). */
export interface RefundTotal {
  /** ISO 4217 numeric currency code. */
  currency: number;
  /** Refunds held in it. */
  count: number;
  /** Their sum, minor units. */
  amount: bigint;
}

/** The refund totals and the highest refund number they count (ClearingStore.refundTotals). */
export interface RefundTotals {
  /** Per currency, ascending. */
  totals: RefundTotal[];
  /** The highest refund `seq` held (0 when none): the totals count exactly the refunds numbered up to it. */
  lastSeq: number;
}

/** The next blocklist's version and entries (ClearingStore.nextBlocklist). */
export interface NextBlocklist {
  /** One more than the last version issued. */
  version: number;
  /** Every blocked wallet id (16 bytes each), ascending. */
  walletIds: Uint8Array[];
}

/**
 * The rows of a refund totals statement (`currency`, `n` = count, `amount` = sum as text, `last` = max seq, one
 * per currency) as ClearingStore.refundTotals gives them: both engines' statements end here.
 */
export function refundTotalsOf(rows: readonly Record<string, unknown>[]): RefundTotals {
  return {
    totals: rows.map((r) => ({ currency: Number(r.currency), count: Number(r.n), amount: BigInt(String(r.amount)) })),
    lastSeq: rows.reduce((m, r) => Math.max(m, Number(r.last)), 0),
  };
}

/** Evidence for one entry (ClearingStore.evidence): who journaled it, what, and the token bytes. */
export interface EntryEvidence {
  /** The reader that journaled the entry. */
  readerId: number;
  /** The reader journal's id. */
  journalId: Uint8Array;
  /** The entry's kind. */
  kind: JournalKindName;
  /** Amount in minor units, or for `conflict` the reason code. */
  value: number;
  /** The signed token bytes; null for an entry without a token. */
  token: Uint8Array | null;
}

/**
 * `clearing.schema_changed`: a newer offpay upgraded the database `where` since this node opened it (the writer
 * fence refused its entries, or its settings check read another schema version: spec/clearing.md §11.2).
 */
export function schemaChangedError(where: string): OffpayError {
  return new OffpayError('clearing.schema_changed', `the clearing database ${where} was upgraded by a newer offpay: this node may no longer write to it; upgrade it and restart`);
}

/**
 * How long a write fault the health check's probe cannot see holds the node unhealthy after the last write the
 * database refused so (spec/clearing-api.md §2.10): a rolled-back write touches no disk, so a full or failing disk
 * passes it. After the hold the probe lets batches come again, and the next refused one sets the fault again.
 */
export const WRITE_FAULT_HOLD_MS = 30_000;

/** A write fault of the disk (SQLite SQLITE_FULL, SQLITE_IOERR*; PostgreSQL 53100, 58030): the probe cannot see it. */
export function isSpaceFault(code: string): boolean {
  return /^SQLITE_(FULL|IOERR)/.test(code) || code === '53100' || code === '58030';
}

/** `clearing.store_unavailable` (detail `write: true`) for a space fault still held (ClearingStore.writeProbe). */
export function heldFaultError(where: string, code: string, agoMs: number): OffpayError {
  return new OffpayError(
    'clearing.store_unavailable',
    `the clearing database ${where} refused a write ${Math.round(agoMs / 1000)} s ago (${code}: a full or failing disk, which a rolled-back write cannot see): held as refusing writes for ${WRITE_FAULT_HOLD_MS / 1000} s after the last such refusal`,
    { write: true, code },
  );
}

/** The database behind a Clearing. */
export interface ClearingStore {
  /** 'sqlite' or 'postgres'. */
  readonly engine: 'sqlite' | 'postgres';
  /** Where it is (file path, or the PostgreSQL URL without its password). */
  readonly location: string;
  /**
   * Run ingests. The promise settles only once everything `fn` wrote is durable (committed). `group`: the
   * session's units may be committed together, at its `checkpoint`s and its end (`ingestAll`). An engine may
   * also commit the units of concurrent sessions together (SQLite: sessions that wait for its lock share the
   * open transaction, one COMMIT for up to 16 of them); a unit that fails still rolls back alone, and a COMMIT
   * that fails fails every session whose writes it held.
   */
  session<T>(fn: (s: IngestSession) => Promise<T>, o?: { group?: boolean }): Promise<T>;
  /** Whether the database is still of this store's schema version (false: a newer offpay upgraded it since it opened). */
  schemaCurrent(): Promise<boolean>;
  /**
   * Why the database refused this store's last write for good, until a write succeeds (undefined: the last
   * write succeeded, or none failed so). Set by failures that retrying alone does not heal: SQLite SQLITE_READONLY,
   * SQLITE_CANTOPEN, SQLITE_IOERR, SQLITE_FULL; PostgreSQL 25006 (a read-only transaction: a standby, or
   * default_transaction_read_only), 53100 (disk full), 58030 (I/O error). Not by a lock held past the busy
   * timeout, a serialisation conflict or a lost connection. The health check reads it (spec/clearing-api.md §2.10).
   */
  readonly writeFault: string | undefined;
  /**
   * Try a write and roll it back (nothing is stored): resolves when the database takes writes (and clears
   * `writeFault`), rejects `clearing.store_unavailable` (detail `write: true`) when it refuses them. A fault the
   * rolled-back write cannot see (a full or failing disk: `isSpaceFault`) is held instead for `holdMs` (default
   * WRITE_FAULT_HOLD_MS) after the last write it refused: the probe rejects until then, and passes after.
   */
  writeProbe(o?: { holdMs?: number; nowMs?: number }): Promise<void>;
  /** A stored setting (issuer_keyset bytes; fee_bps, blocklist_version numbers). */
  getMeta(key: string): Promise<Uint8Array | number | undefined>;
  /** Store a setting (the keys of getMeta), replacing any earlier value. */
  setMeta(key: string, value: Uint8Array | number): Promise<void>;
  /**
   * The next blocklist version and its entries, in one atomic step: add 1 to the setting `blocklist_version`
   * (absent = 0) and read the blocklist (wallet ids ascending) after it. Of several issuers (nodes), the one
   * that takes a higher version reads the blocklist after the one that took a lower version committed, so
   * version n + 1 lists every wallet version n lists (blocked wallets are never removed): a reader that loads
   * n, then n + 1, never unblocks a wallet (spec/clearing.md §11.2).
   */
  nextBlocklist(): Promise<NextBlocklist>;
  /** Put a wallet on the blocklist (insert if absent); true when inserted. */
  block(walletId: Uint8Array, reason: string, at: number): Promise<boolean>;
  /** The blocklist, by wallet id ascending. */
  blocklist(): Promise<BlocklistRow[]>;
  /** Wallet ids named by a valid conflict entry (a reader saw the wallet reuse a counter). */
  conflictWallets(): Promise<Uint8Array[]>;
  /** Per journal of a reader (by journal id): its batches by batch seq. */
  heldBatches(readerId: number): Promise<HeldJournal[]>;
  /** An index over token hashes (payment lookups); idempotent. */
  indexPayments(): Promise<void>;
  /** The non-void entries naming a token, by (time, reader id, journal id, seq). */
  tokenEntries(tokenHash: Uint8Array): Promise<TokenEntryRow[]>;
  /**
   * Every request sale (valid accept with `reqTime`) of the requests that more than one token hash answered, a
   * request being (reader id, request time, challenge), in any order: what M9 decides over (spec/clearing.md §5
   * step 0).
   */
  contestedRequestSales(): Promise<RequestSaleRow[]>;
  /**
   * The first request sale of one request (reader id, request time, challenge) that no valid void of its journal
   * names, by (dated before its request time, time, journal id bytewise, seq): of any token, or of `tokenHash`
   * only. One row or none, whatever number of tokens the request has (M5: a lookup hands no row per token of a
   * request a reader flooded).
   */
  firstRequestSale(readerId: number, reqTime: number, reqChallenge: Uint8Array, tokenHash?: Uint8Array): Promise<RequestSaleRow | undefined>;
  /** True when the wallet is on the blocklist. */
  isBlocked(walletId: Uint8Array): Promise<boolean>;
  /**
   * Every valid accept, tap_in and tap_out entry with a wallet (one wallet key's only, or those of a list of at
   * most 1,000 keys, when given), as settle() rows, pushed to `sink` in (wallet key, counter) order; `voided` set
   * from the valid voids of the same chain.
   */
  settleRows(sink: (r: SettleRow) => void, walletKey?: number | readonly number[]): Promise<void>;
  /** Evidence for one entry: its reader, journal, kind, value and the token bytes (sliced from its batch). */
  evidence(chain: number, seq: number): Promise<EntryEvidence>;
  /** The token bytes of the entry (reader id, journal id, seq). */
  tokenBytes(readerId: number, journalId: Uint8Array, seq: number): Promise<Uint8Array | undefined>;
  /** Double spends by (detected at, wallet id bytes, counter, kind bytes): one per (kind, wallet id, counter). */
  doubleSpendRows(): Promise<DoubleSpendRow[]>;
  /** Reader faults by (detected at, reader id, token hash bytes): one per (reader id, token hash). */
  readerFaultRows(): Promise<ReaderFaultRow[]>;
  /** Every chain, by (reader id, journal id). */
  chains(): Promise<ChainRow[]>;
  /** The held seqs of a chain as maximal runs [from, to], ascending. */
  seqRuns(chain: number): Promise<[number, number][]>;
  /** Problems other than invalid_entry, by (at, reader id, kind, detail). */
  problems(): Promise<ProblemRow[]>;
  /** Invalid entries, by (reader id, journal id, seq). */
  invalidEntries(): Promise<InvalidEntryRow[]>;
  /** Valid void entries. */
  voidCount(): Promise<number>;
  /** The refund held for a token, if any (spec/clearing.md §13). */
  refundOf(tokenHash: Uint8Array): Promise<RefundRow | undefined>;
  /**
   * Store a refund: insert if absent under the unique key token hash, as one statement (two nodes racing: exactly
   * one inserts). True when this call inserted it.
   */
  putRefund(r: RefundRow): Promise<boolean>;
  /** Every refund held, by (wallet id, token hash). */
  refunds(): Promise<RefundRow[]>;
  /**
   * At most `limit` refunds with seq above `after` (0: from the first) and, when `upTo` is given, at most `upTo`,
   * by seq ascending: one query with a LIMIT (keyset paging; a refund stored later comes after every one
   * already listed).
   */
  refundsAfter(after: number, limit: number, upTo?: number): Promise<HeldRefund[]>;
  /**
   * Per currency (ascending): the refunds held and their sum, and the highest seq held (0 when none), computed by
   * the database in one statement: one consistent view. As seq ascends in commit order, the refunds with seq up
   * to `lastSeq` are exactly the ones these totals count.
   */
  refundTotals(): Promise<RefundTotals>;
  /**
   * Store a bytes setting if none is held under `key` (insert if absent, one atomic step: of processes racing,
   * exactly one inserts) and return whether this call inserted it and the value held afterwards (`value` when
   * inserted, else the earlier one).
   */
  claimMeta(key: string, value: Uint8Array): Promise<ClaimedMeta>;
  /** Close (idempotent). */
  close(): Promise<void>;
}
