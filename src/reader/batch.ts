/**
 * The reader-signed settlement batch (message type 8): a contiguous run of journal entries for upload.
 *
 *   batch = [8, 2, readerCert, journalId, batchSeq, firstSeq, prevHead, head, entries, createdAt, signature]
 *   journalId = 8 random bytes chosen when the reader database (the journal) was created; a new journal of
 *               the same reader is a new chain (own genesis, seqs and batch numbers from 1), not a fork
 *   entries   = [* entry]  (journal entries firstSeq .. firstSeq + n - 1, see journal.ts)
 *   prevHead  = chain hash before firstSeq (the genesis hash when firstSeq = 1)
 *   head      = chain hash after the last entry (= prevHead for an empty batch)
 *   signature = Ed25519(reader key, signingInput("OFFPAY-V2-BATCH", CBOR(array without signature)))
 *
 * Batches are numbered per (reader, journal). Batches are re-creatable: the same range from the same journal gives the same bytes (Ed25519 is
 * deterministic), and clearing treats overlapping or repeated batches idempotently.
 */
import { cborHead, cborItemEnd, decodeCbor, encodeCbor, type CborValue } from '../cbor.js';
import { sign, signingInput } from '../crypto.js';
import { OffpayError } from '../../base/errors.js';
import {
  asArray,
  asBytes,
  asUint,
  MessageType,
  openMessage,
  PROTOCOL_VERSION,
  readerCertFromCbor,
  readerCertToCbor,
  SigningTag,
  type ReaderCert,
} from '../messages.js';
import { chainHash, entryFromCbor, entryToCbor, HASH_BYTES, JOURNAL_ID_BYTES, type JournalEntry } from './journal.js';
import { equalBytes } from '../../base/bytes.js';

/** Largest batch accepted: 256 MB. */
export const MAX_BATCH_BYTES = 256 * 1024 * 1024;

/**
 * The signed fields of a settlement batch (message type 8, spec/reader.md §10 and spec/reader.cddl are
 * normative): a contiguous run of one journal's entries with the chain hashes around it.
 */
export interface SettlementBatchBody {
  /** The certificate of the reader that signed the batch. */
  readerCert: ReaderCert;
  /** The journal (reader database) these entries come from: JOURNAL_ID_BYTES bytes. */
  journalId: Uint8Array;
  /** Batch number within this journal, from 1. */
  batchSeq: number;
  /** Journal seq of the first entry. */
  firstSeq: number;
  /** Chain hash before `firstSeq` (the genesis hash when `firstSeq` is 1), 32 bytes. */
  prevHead: Uint8Array;
  /** Chain hash after the last entry (= `prevHead` for an empty batch), 32 bytes. */
  head: Uint8Array;
  /** The journal entries `firstSeq` .. `firstSeq + entries.length - 1`. */
  entries: JournalEntry[];
  /** Reader time the batch was made, unix seconds. */
  createdAt: number;
}

/** A settlement batch with the reader's Ed25519 signature over {@link batchSigningInput}. */
export interface SettlementBatch extends SettlementBatchBody {
  /** Ed25519 signature by the reader key, 64 bytes. */
  signature: Uint8Array;
}

function bodyArray(b: SettlementBatchBody): CborValue[] {
  return [MessageType.SettlementBatch, PROTOCOL_VERSION, readerCertToCbor(b.readerCert), b.journalId, b.batchSeq, b.firstSeq, b.prevHead, b.head, b.entries.map(entryToCbor), b.createdAt];
}

/** The bytes a batch signature covers: signingInput("OFFPAY-V2-BATCH", CBOR(batch array without signature)). */
export function batchSigningInput(b: SettlementBatchBody): Uint8Array {
  return signingInput(SigningTag.SettlementBatch, encodeCbor(bodyArray(b)));
}

/**
 * Sign a batch body with the reader secret key (32 bytes): the batch and its deterministic CBOR bytes. The same
 * body always gives the same bytes (Ed25519 is deterministic).
 */
export function createBatch(reader: { secretKey: Uint8Array }, body: SettlementBatchBody): {
  /** The signed batch. */
  batch: SettlementBatch;
  /** Its CBOR bytes (what the reader uploads). */
  bytes: Uint8Array;
} {
  const batch: SettlementBatch = { ...body, signature: sign(batchSigningInput(body), reader.secretKey) };
  return { batch, bytes: encodeCbor([...bodyArray(body), batch.signature]) };
}

/**
 * The signing input of a batch straight from its canonical bytes, without re-encoding: the signed array is
 * the batch array minus its last element, so its encoding is 0x8a followed by the batch bytes between the
 * 11-element array header (0x8b) and the final 66 bytes (0x58 0x40 and the 64-byte signature). Valid only
 * for bytes that `decodeBatch` accepted (canonical, 11 elements, 64-byte signature last).
 */
export function batchSigningInputFromBytes(bytes: Uint8Array): Uint8Array {
  if (bytes.length < 67 || bytes[0] !== 0x8b || bytes[bytes.length - 66] !== 0x58 || bytes[bytes.length - 65] !== 0x40) {
    throw new OffpayError('batch.bad_structure', 'not the canonical encoding of a settlement batch');
  }
  const body = new Uint8Array(bytes.length - 66);
  body[0] = 0x8a;
  body.set(bytes.subarray(1, bytes.length - 66), 1);
  return signingInput(SigningTag.SettlementBatch, body);
}

/**
 * Decode a batch and check its shape: entry seqs consecutive from firstSeq. Signatures and the chain are
 * checked by `verifyBatchChain` and by clearing. Throws OffpayError `batch.*`, `message.*`, `cbor.*`.
 */
export function decodeBatch(bytes: Uint8Array): SettlementBatch {
  // Entry data as views into the batch bytes: one batch holds thousands of tokens, copied for nothing otherwise.
  const a = openMessage(decodeCbor(bytes, MAX_BATCH_BYTES, { views: true }), MessageType.SettlementBatch, 'settlement batch', 11);
  const firstSeq = asUint(a[5], 'batch firstSeq', Number.MAX_SAFE_INTEGER, 1);
  const entries = asArray(a[8]!, 'batch entries').map(entryFromCbor);
  entries.forEach((e, i) => {
    if (e.seq !== firstSeq + i) throw new OffpayError('batch.bad_sequence', `batch entry ${i} has seq ${e.seq}, expected ${firstSeq + i}`);
  });
  return {
    readerCert: readerCertFromCbor(a[2]!),
    journalId: asBytes(a[3], 'batch journalId', JOURNAL_ID_BYTES),
    batchSeq: asUint(a[4], 'batchSeq', Number.MAX_SAFE_INTEGER, 1),
    firstSeq,
    prevHead: asBytes(a[6], 'batch prevHead', HASH_BYTES),
    head: asBytes(a[7], 'batch head', HASH_BYTES),
    entries,
    createdAt: asUint(a[9], 'batch createdAt'),
    signature: asBytes(a[10], 'batch signature', 64),
  };
}

/**
 * Each entry's canonical bytes, as views into the batch bytes (what the chain hashes), without re-encoding.
 * Valid only for bytes that `decodeBatch` accepted.
 */
export function batchEntryBytes(bytes: Uint8Array): Uint8Array[] {
  // [8, 2, readerCert, journalId, batchSeq, firstSeq, prevHead, head, entries, ...]: skip the header and 8 items.
  let pos = 1;
  for (let i = 0; i < 8; i++) pos = cborItemEnd(bytes, pos);
  const { major, value: count, next } = cborHead(bytes, pos);
  if (major !== 4) throw new OffpayError('batch.bad_structure', 'batch entries are not an array');
  pos = next;
  const out: Uint8Array[] = new Array<Uint8Array>(count);
  for (let i = 0; i < count; i++) {
    const end = cborItemEnd(bytes, pos);
    out[i] = bytes.subarray(pos, end);
    pos = end;
  }
  return out;
}

/**
 * Recompute the chain over the batch entries from prevHead. Returns the hash after each entry, or the
 * index of the first entry where the recomputed head no longer matches (a forged or altered entry shows
 * as a head mismatch: the batch head commits to every entry).
 */
export function batchChainHashes(b: SettlementBatch): {
  /** The chain hash after each entry, in order. */
  hashes: Uint8Array[];
  /** True when the last hash equals the batch's signed head. */
  headMatches: boolean;
} {
  const hashes: Uint8Array[] = [];
  let h = b.prevHead;
  for (const e of b.entries) {
    h = chainHash(h, encodeCbor(entryToCbor(e)));
    hashes.push(h);
  }
  return { hashes, headMatches: equalBytes(h, b.head) };
}
