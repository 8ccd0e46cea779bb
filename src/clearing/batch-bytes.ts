/**
 * Bounded reading of an untrusted settlement batch (spec/clearing.md §4, steps 1-3 and 7). A batch comes from
 * outside (a file, an upload): nothing in it is decoded until its size, its shape and the reader's signature
 * over its raw bytes have been checked, so a huge or forged batch costs a walk over CBOR heads, never memory.
 *
 *   batch = [8, 2, readerCert, journalId, batchSeq, firstSeq, prevHead, head, entries, createdAt, signature]
 *
 * `readBatchFrame` walks the heads of the top-level items only (one `cborHead` per item, plus `cborItemEnd`
 * over the reader certificate, which is a few hundred bytes) and checks each against its type and bound. The
 * entries array is located by its head: its count is checked against the bound before anything looks inside it.
 * `decodeBatchEntries` decodes the entries one by one (each a canonical CBOR item, at most the batch size)
 * after the signature has been verified.
 *
 * Every failure is an OffpayError: `clearing.too_large`, `clearing.too_many_entries` or `clearing.bad_batch`.
 */
import { cborHead, cborItemEnd, decodeCbor, MAX_MESSAGE_BYTES, type CborValue } from '../cbor.js';
import { signingInputFrame } from '../crypto.js';
import { OffpayError } from '../../base/errors.js';
import { MessageType, PROTOCOL_VERSION, readerCertFromCbor, SigningTag, type ReaderCert } from '../messages.js';
import { entryFromCbor, HASH_BYTES, JOURNAL_ID_BYTES, type JournalEntry } from '../reader/journal.js';

/**
 * Default largest batch, bytes: 8 MiB. A token entry is about 300 bytes, so this holds some 28,000 sales: several
 * days of a busy gate between uploads. A reader exports a longer backlog as several batches (spec/clearing.md §3).
 */
export const DEFAULT_MAX_BATCH_BYTES = 8 * 1024 * 1024;
/**
 * Default largest number of entries in one batch: 65,536. Decoded entries cost some 200 bytes of heap each,
 * so a full batch decodes in about 13 MB; a batch of a million 6-byte bogus entries is refused by its header.
 */
export const DEFAULT_MAX_BATCH_ENTRIES = 65_536;
/** The signature is the last item: 0x58 0x40 and 64 bytes. */
const SIGNATURE_TAIL = 66;

/**
 * The top level of a settlement batch read by {@link readBatchFrame} without decoding the entries: the signed
 * header fields, where the entries lie in the bytes, and the signing input (spec/clearing.md §4 steps 1-3).
 */
export interface BatchFrame {
  /** The signing reader's certificate. */
  readerCert: ReaderCert;
  /** The certificate's bytes as received (a view into the batch). */
  readerCertBytes: Uint8Array;
  /** The journal id, 8 bytes. */
  journalId: Uint8Array;
  /** Batch number within the journal. */
  batchSeq: number;
  /** Journal seq of the first entry. */
  firstSeq: number;
  /** Chain hash before the first entry, 32 bytes. */
  prevHead: Uint8Array;
  /** Chain hash after the last entry, 32 bytes. */
  head: Uint8Array;
  /** Number of entries (from the array head, already bounded). */
  count: number;
  /** Offset of the entries array head in the batch bytes. */
  entriesHeadAt: number;
  /** Offset of the first entry in the batch bytes. */
  entriesAt: number;
  /** Offset just past the last entry in the batch bytes. */
  entriesEnd: number;
  /** Reader time the batch was made, unix seconds. */
  createdAt: number;
  /** The reader's Ed25519 signature, 64 bytes. */
  signature: Uint8Array;
  /** signingInput("OFFPAY-V2-BATCH", CBOR(array without the signature)), formed from the raw bytes. */
  signed: Uint8Array;
}

const bad = (message: string) => new OffpayError('clearing.bad_batch', message);

/** Length in bytes of the shortest CBOR head for argument `v` (canonical encoding). */
function headLength(v: number): number {
  return v < 24 ? 1 : v < 0x100 ? 2 : v < 0x10000 ? 3 : v < 0x100000000 ? 5 : 9;
}

/** The head at `pos`: of major type `major`, in its shortest form, with the argument at most `max`. */
function head(bytes: Uint8Array, pos: number, major: number, what: string, max = Number.MAX_SAFE_INTEGER): { value: number; next: number } {
  let h: ReturnType<typeof cborHead>;
  try {
    h = cborHead(bytes, pos);
  } catch {
    throw bad(`batch ${what}: cut short`);
  }
  if (h.major !== major) throw bad(`batch ${what}: wrong CBOR type`);
  if (!Number.isSafeInteger(h.value) || h.value > max) throw bad(`batch ${what}: ${h.value} is out of range`);
  if (h.next - pos !== headLength(h.value)) throw bad(`batch ${what}: not in canonical (shortest) form`);
  return h;
}

function uint(bytes: Uint8Array, pos: number, what: string, min = 0): { value: number; next: number } {
  const h = head(bytes, pos, 0, what);
  if (h.value < min) throw bad(`batch ${what}: ${h.value} is below ${min}`);
  return h;
}

function byteString(bytes: Uint8Array, pos: number, what: string, length: number): { value: Uint8Array; next: number } {
  const h = head(bytes, pos, 2, what, length);
  if (h.value !== length || h.next + length > bytes.length) throw bad(`batch ${what}: expected ${length} bytes`);
  return { value: bytes.subarray(h.next, h.next + length), next: h.next + length };
}

/**
 * Check the size, then walk the top-level items of a batch, bounded: the frame needed to verify it (reader
 * certificate, signature, signing input) and where its entries lie. Decodes nothing inside the entries.
 */
export function readBatchFrame(bytes: Uint8Array, limits: { maxBytes: number; maxEntries: number }): BatchFrame {
  if (!(bytes instanceof Uint8Array)) throw bad('a batch is a byte array');
  if (bytes.length > limits.maxBytes) throw new OffpayError('clearing.too_large', `batch of ${bytes.length} bytes is over the limit of ${limits.maxBytes} bytes`);
  if (bytes.length < SIGNATURE_TAIL + 12) throw bad(`batch of ${bytes.length} bytes is too short`);
  let pos = head(bytes, 0, 4, 'array', 64).next;
  if (bytes[0] !== 0x8b) throw bad('not an 11-element settlement batch');
  const type = uint(bytes, pos, 'message type');
  if (type.value !== MessageType.SettlementBatch) throw bad(`message type ${type.value} is not a settlement batch (8)`);
  const version = uint(bytes, type.next, 'version');
  if (version.value !== PROTOCOL_VERSION) throw bad(`protocol version ${version.value} is not ${PROTOCOL_VERSION}`);
  pos = version.next;
  // The reader certificate: one small item. Its end is found by walking its heads, bounded by the bytes.
  let certEnd: number;
  try {
    certEnd = cborItemEnd(bytes, pos);
  } catch {
    throw bad('batch reader certificate: cut short');
  }
  if (certEnd - pos > MAX_MESSAGE_BYTES) throw bad('batch reader certificate: too long');
  let readerCert: ReaderCert;
  try {
    readerCert = readerCertFromCbor(decodeCbor(bytes.subarray(pos, certEnd)));
  } catch (e) {
    throw bad(`batch reader certificate: ${(e as Error).message}`);
  }
  const journalId = byteString(bytes, certEnd, 'journalId', JOURNAL_ID_BYTES);
  const batchSeq = uint(bytes, journalId.next, 'batchSeq', 1);
  const firstSeq = uint(bytes, batchSeq.next, 'firstSeq', 1);
  const prevHead = byteString(bytes, firstSeq.next, 'prevHead', HASH_BYTES);
  const headHash = byteString(bytes, prevHead.next, 'head', HASH_BYTES);
  const entries = head(bytes, headHash.next, 4, 'entries', Number.MAX_SAFE_INTEGER);
  if (entries.value > limits.maxEntries) {
    throw new OffpayError('clearing.too_many_entries', `batch holds ${entries.value} entries, over the limit of ${limits.maxEntries}`);
  }
  if (firstSeq.value + entries.value - 1 > Number.MAX_SAFE_INTEGER) throw bad('batch seqs run past 2^53 - 1');
  // The entries end where createdAt and the signature begin: the last 66 bytes are the signature, and
  // createdAt is the one uint just before it. Walk the entries' heads (each entry takes at least one byte of
  // input per head, so the walk is bounded by the batch size) to find their end exactly.
  let end = entries.next;
  try {
    for (let i = 0; i < entries.value; i++) end = cborItemEnd(bytes, end);
  } catch {
    throw bad('batch entries: cut short');
  }
  const createdAt = uint(bytes, end, 'createdAt');
  const signature = byteString(bytes, createdAt.next, 'signature', 64);
  if (signature.next !== bytes.length || createdAt.next !== bytes.length - SIGNATURE_TAIL) throw bad('bytes after the batch signature');
  // The signed array: the same items without the signature, written straight into the signing input (one copy).
  const { input: signed, at: bodyAt } = signingInputFrame(SigningTag.SettlementBatch, bytes.length - SIGNATURE_TAIL);
  signed[bodyAt] = 0x8a;
  signed.set(bytes.subarray(1, bytes.length - SIGNATURE_TAIL), bodyAt + 1);
  return {
    readerCert,
    readerCertBytes: bytes.subarray(pos, certEnd),
    journalId: journalId.value,
    batchSeq: batchSeq.value,
    firstSeq: firstSeq.value,
    prevHead: prevHead.value,
    head: headHash.value,
    count: entries.value,
    entriesHeadAt: headHash.next,
    entriesAt: entries.next,
    entriesEnd: end,
    createdAt: createdAt.value,
    signature: signature.value,
    signed,
  };
}

/**
 * Decode the entries of a verified frame: each entry's canonical bytes (a view into the batch, what the chain
 * hashes) and the decoded entry (its data a view too). Seqs must run from firstSeq without gaps.
 */
export function decodeBatchEntries(
  bytes: Uint8Array,
  f: BatchFrame,
): {
  /** Each entry's canonical bytes (views into the batch): what the chain hashes. */
  raw: Uint8Array[];
  /** The decoded entries, in seq order. */
  entries: JournalEntry[];
} {
  let decoded: CborValue;
  try {
    // One decode of the whole (bounded, signature-checked) entries array, data as views into the batch.
    decoded = decodeCbor(bytes.subarray(f.entriesHeadAt, f.entriesEnd), f.entriesEnd - f.entriesHeadAt, { views: true });
  } catch (err) {
    throw bad(`batch entries: ${(err as Error).message}`);
  }
  const list = decoded as CborValue[];
  const raw: Uint8Array[] = new Array<Uint8Array>(f.count);
  const entries: JournalEntry[] = new Array<JournalEntry>(f.count);
  let pos = f.entriesAt;
  for (let i = 0; i < f.count; i++) {
    const end = cborItemEnd(bytes, pos);
    let e: JournalEntry;
    try {
      e = entryFromCbor(list[i]!);
    } catch (err) {
      throw bad(`batch entry ${i}: ${(err as Error).message}`);
    }
    if (e.seq !== f.firstSeq + i) throw bad(`batch entry ${i} has seq ${e.seq}, expected ${f.firstSeq + i}`);
    raw[i] = bytes.subarray(pos, end);
    entries[i] = e;
    pos = end;
  }
  return { raw, entries };
}
