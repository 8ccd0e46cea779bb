/**
 * The reader journal: an append-only, hash-chained list of the events that move money or carry evidence.
 *
 *   entry   = [seq, kind, time, data, value, ? [challenge, requestTime]]   (deterministic CBOR, spec/reader.cddl)
 *   h_0     = SHA-256(signingInput("OFFPAY-V2-JOURNAL-GENESIS", CBOR([readerId, journalId])))
 *   h_n     = SHA-256(signingInput("OFFPAY-V2-JOURNAL", h_{n-1} || CBOR(entry_n)))
 *
 * Kinds: accept (data = full token bytes, value = amount charged), void (data = token hash, value = amount
 * given back), tap_in (data = full token bytes, value = maximum fare authorised), tap_out (data = full token bytes, value = fare), conflict (data = full token bytes of a token
 * that reused an accepted counter with different bytes, value = reason code). seq starts at 1 and has no gaps.
 * The sixth element is present iff `data` is a request-bound token (accept or conflict): the challenge and time
 * of the request the reader judged it against, so that clearing can rebuild the token's signed body.
 */
import { decodeCbor, encodeCbor, type CborValue } from '../cbor.js';
import { sha256, signingInput } from '../crypto.js';
import { equalBytes } from '../../base/bytes.js';
import { toHex } from '../../base/hex.js';
import { OffpayError } from '../../base/errors.js';
import { asArray, asBytes, asUint, CHALLENGE_BYTES } from '../messages.js';

/**
 * Journal entry kinds and their CBOR numbers (spec/reader.md §9, spec/reader.cddl): what `data` and `value` hold
 * depends on the kind (see the module comment).
 */
export const JournalKind = {
  /** 0: a token accepted (a sale, or a one-way payment). */
  accept: 0,
  /** 1: an accepted sale voided. */
  void: 1,
  /** 2: a transit tap-in with its maximum-fare authorisation. */
  tap_in: 2,
  /** 3: a transit tap-out with the fare charged. */
  tap_out: 3,
  /** 4: evidence of a refused token kept for clearing (spec/reader.md §2 step 3). */
  conflict: 4,
} as const;
/** The name of a journal entry kind (`accept`, `void`, `tap_in`, `tap_out`, `conflict`). */
export type JournalKindName = keyof typeof JournalKind;
const KIND_NAMES: JournalKindName[] = ['accept', 'void', 'tap_in', 'tap_out', 'conflict'];

/** Signing-input tag of a journal chain step: h_n = SHA-256(signingInput(JOURNAL_TAG, h_{n-1} || entry_n)). */
export const JOURNAL_TAG = 'OFFPAY-V2-JOURNAL';
/** Signing-input tag of the chain's genesis hash h_0, over CBOR [readerId, journalId]. */
export const JOURNAL_GENESIS_TAG = 'OFFPAY-V2-JOURNAL-GENESIS';
/** Length of a chain hash and of a token hash, bytes (SHA-256). */
export const HASH_BYTES = 32;
/** A journal id: 8 random bytes chosen when a reader database is created (one journal = one chain). */
export const JOURNAL_ID_BYTES = 8;

/** One reader journal entry, `[seq, kind, time, data, value]` in deterministic CBOR (spec/reader.md §9). */
export interface JournalEntry {
  /** Sequence number: 1 for the first entry, no gaps. */
  seq: number;
  /** What happened (see {@link JournalKind}). */
  kind: JournalKindName;
  /** Reader time, unix seconds. */
  time: number;
  /** Full token bytes, or for `void` the 32-byte token hash. */
  data: Uint8Array;
  /** Amount in minor units (charged, given back, authorised, fare), or for `conflict` the reason code. */
  value: number;
  /** The request a request-bound token was judged against (accept and conflict entries of such tokens only). */
  request?: {
    /** The request's challenge, 8 bytes. */
    challenge: Uint8Array;
    /** The time the token signed: the request's time, or PAYMENT_CODE_SIGNED_TIME for a payment-code request. */
    time: number;
  } | undefined;
}

/** A stored entry: its canonical bytes and the chain hash after it. */
export interface JournalRow {
  /** The entry's sequence number. */
  seq: number;
  /** The entry's canonical CBOR bytes. */
  bytes: Uint8Array;
  /** The chain hash after this entry, 32 bytes. */
  hash: Uint8Array;
}

/** The CBOR array of a journal entry (the kind as its number). */
export function entryToCbor(e: JournalEntry): CborValue[] {
  const a: CborValue[] = [e.seq, JournalKind[e.kind], e.time, e.data, e.value];
  if (e.request) a.push([e.request.challenge, e.request.time]);
  return a;
}

/** The deterministic CBOR bytes of a journal entry (what the chain hashes). */
export function encodeEntry(e: JournalEntry): Uint8Array {
  return encodeCbor(entryToCbor(e));
}

/**
 * A journal entry from a decoded CBOR value.
 * @throws OffpayError `message.bad_structure` (or another `message.*` code) for a malformed entry.
 */
export function entryFromCbor(v: CborValue): JournalEntry {
  const a = asArray(v, 'journal entry');
  if (a.length !== 5 && a.length !== 6) throw new OffpayError('message.bad_structure', `journal entry: expected 5 or 6 elements, got ${a.length}`);
  const k = asUint(a[1], 'journal entry kind', KIND_NAMES.length - 1);
  const kind = KIND_NAMES[k]!;
  const data = asBytes(a[3], 'journal entry data');
  if (kind === 'void' && data.length !== HASH_BYTES) throw new OffpayError('message.bad_structure', 'journal void entry: data must be a 32-byte token hash');
  const e: JournalEntry = { seq: asUint(a[0], 'journal entry seq', Number.MAX_SAFE_INTEGER, 1), kind, time: asUint(a[2], 'journal entry time'), data, value: asUint(a[4], 'journal entry value') };
  if (a.length === 6) {
    if (kind !== 'accept' && kind !== 'conflict') throw new OffpayError('message.bad_structure', `journal ${kind} entry: only accept and conflict entries carry a request`);
    const r = asArray(a[5]!, 'journal entry request');
    if (r.length !== 2) throw new OffpayError('message.bad_structure', 'journal entry request: expected [challenge, time]');
    e.request = { challenge: asBytes(r[0], 'journal entry request challenge', CHALLENGE_BYTES), time: asUint(r[1], 'journal entry request time') };
  }
  return e;
}

/**
 * Decode a journal entry from its CBOR bytes (strict deterministic CBOR, spec/protocol.md §3.4).
 * @throws OffpayError `cbor.*` or `message.*` for bytes that are not a well-formed entry.
 */
export function decodeEntry(bytes: Uint8Array): JournalEntry {
  return entryFromCbor(decodeCbor(bytes));
}

/** h(0) of the journal `journalId` of reader `readerId`: every journal of a reader is its own chain. */
export function genesisHash(readerId: number, journalId: Uint8Array): Uint8Array {
  if (journalId.length !== JOURNAL_ID_BYTES) throw new OffpayError('message.bad_structure', `a journal id is ${JOURNAL_ID_BYTES} bytes`);
  return sha256(signingInput(JOURNAL_GENESIS_TAG, encodeCbor([readerId, journalId])));
}

/** The next chain hash: SHA-256(signingInput(JOURNAL_TAG, prev || entryBytes)), 32 bytes. */
export function chainHash(prev: Uint8Array, entryBytes: Uint8Array): Uint8Array {
  const body = new Uint8Array(prev.length + entryBytes.length);
  body.set(prev, 0);
  body.set(entryBytes, prev.length);
  return sha256(signingInput(JOURNAL_TAG, body));
}

/**
 * The result of {@link verifyChain} (and `Reader.verifyJournal`): `ok`, how many entries, the head hash, and the
 * first bad entry.
 */
export interface ChainCheck {
  /** True when every entry checked. */
  ok: boolean;
  /** Entries checked. */
  count: number;
  /** The chain hash after the last good entry. */
  head: Uint8Array;
  /** First bad sequence number and why. */
  error?: {
    /** The sequence number of the first bad row. */
    seq: number;
    /** What is wrong: a missing sequence number, a hash that does not chain, an entry that does not decode, a row whose number disagrees with its entry. */
    problem: 'gap' | 'hash_mismatch' | 'bad_entry' | 'seq_mismatch';
    /** A sentence for people. */
    message: string;
  };
}

/**
 * Verify a run of stored rows against a starting hash: sequence numbers consecutive, each entry decodes
 * canonically and carries its own seq, and each stored hash equals the recomputed chain hash.
 */
export function verifyChain(rows: Iterable<JournalRow>, start: { seq: number; hash: Uint8Array }): ChainCheck {
  let prev = start.hash;
  let expect = start.seq + 1;
  let count = 0;
  for (const r of rows) {
    if (r.seq !== expect) return { ok: false, count, head: prev, error: { seq: expect, problem: 'gap', message: `expected entry ${expect}, found ${r.seq}` } };
    let e: JournalEntry;
    try {
      e = decodeEntry(r.bytes);
    } catch (err) {
      return { ok: false, count, head: prev, error: { seq: r.seq, problem: 'bad_entry', message: (err as Error).message } };
    }
    if (e.seq !== r.seq) return { ok: false, count, head: prev, error: { seq: r.seq, problem: 'seq_mismatch', message: `entry ${r.seq} says it is ${e.seq}` } };
    const h = chainHash(prev, r.bytes);
    if (!equalBytes(h, r.hash)) return { ok: false, count, head: prev, error: { seq: r.seq, problem: 'hash_mismatch', message: `entry ${r.seq}: stored hash ${toHex(r.hash)} is not ${toHex(h)}` } };
    prev = h;
    expect++;
    count++;
  }
  return { ok: true, count, head: prev };
}
