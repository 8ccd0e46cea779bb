/**
 * The issuer-signed blocklist (message type 7), and a compact in-memory index over it.
 *
 *   blocklist = [7, 2, issuerId, keyIndex, version, issuedAt, entries, signature]
 *   entries   = bstr: n x 16-byte wallet ids, strictly ascending (so one list has one encoding)
 *   signature = Ed25519(issuer key keyIndex, signingInput("OFFPAY-V2-BLOCKLIST", CBOR(array without signature)))
 *
 * A list is a full snapshot: version N replaces every earlier one, and a reader refuses a version lower
 * than or equal to the one it holds. Freshness is judged from `issuedAt` (the issuer's clock), not from
 * when the reader loaded it, so a reader fed an old list is still stale. Wallet ids are already hashes of
 * the wallet public key (walletIdOf), so the list names no keys (compare Cubic's hashed-id lists, S49).
 *
 * Lookup is a binary search over the sorted ids: about 20 comparisons at 10^6 entries, 16 MB of memory.
 */
import { decodeCbor, encodeCbor, type CborValue } from '../cbor.js';
import { nobleEd25519, sign, signingInput, type SyncVerifier } from '../crypto.js';
import { OffpayError } from '../../base/errors.js';
import { asBytes, asUint, MessageType, openMessage, PROTOCOL_VERSION, SigningTag, WALLET_ID_BYTES, type IssuerKeySet } from '../messages.js';

/** Largest blocklist accepted: 4,000,000 entries (64 MB). */
export const MAX_BLOCKLIST_BYTES = 4_000_000 * WALLET_ID_BYTES + 1024;

/**
 * The signed fields of a blocklist (message type 7, spec/reader.md §5 is normative): the wallet ids clearing
 * blocks, signed by an issuer key.
 */
export interface BlocklistBody {
  /** The issuer whose key signed the list. */
  issuerId: number;
  /** Which issuer key signed it (an index into the {@link IssuerKeySet}). */
  keyIndex: number;
  /** List version; a reader never loads an older version than it holds. */
  version: number;
  /** When the list was signed, unix seconds (its age decides staleness). */
  issuedAt: number;
  /** n x 16 bytes, strictly ascending. */
  entries: Uint8Array;
}

/** A blocklist with its issuer signature (Ed25519, 64 bytes) over {@link blocklistSigningInput}. */
export interface Blocklist extends BlocklistBody {
  /** Ed25519 signature by issuer key `keyIndex`, 64 bytes. */
  signature: Uint8Array;
}

function bodyArray(b: BlocklistBody): CborValue[] {
  return [MessageType.Blocklist, PROTOCOL_VERSION, b.issuerId, b.keyIndex, b.version, b.issuedAt, b.entries];
}

/** The bytes a blocklist signature covers: signingInput("OFFPAY-V2-BLOCKLIST", CBOR(list array without signature)). */
export function blocklistSigningInput(b: BlocklistBody): Uint8Array {
  return signingInput(SigningTag.Blocklist, encodeCbor(bodyArray(b)));
}

function compare(a: Uint8Array, ai: number, b: Uint8Array, bi: number): number {
  for (let k = 0; k < WALLET_ID_BYTES; k++) {
    const d = a[ai + k]! - b[bi + k]!;
    if (d !== 0) return d;
  }
  return 0;
}

/** Sort and de-duplicate wallet ids into the canonical entries form. */
export function packWalletIds(ids: Iterable<Uint8Array>): Uint8Array {
  const list = [...ids];
  for (const id of list) if (id.length !== WALLET_ID_BYTES) throw new OffpayError('blocklist.bad_entry', `a wallet id is ${WALLET_ID_BYTES} bytes`);
  list.sort((a, b) => compare(a, 0, b, 0));
  const out = new Uint8Array(list.length * WALLET_ID_BYTES);
  let n = 0;
  for (const id of list) {
    if (n > 0 && compare(out, (n - 1) * WALLET_ID_BYTES, id, 0) === 0) continue;
    out.set(id, n * WALLET_ID_BYTES);
    n++;
  }
  return out.slice(0, n * WALLET_ID_BYTES);
}

/** The deterministic CBOR bytes of a signed blocklist. */
export function encodeBlocklist(b: Blocklist): Uint8Array {
  return encodeCbor([...bodyArray(b), b.signature]);
}

/** Decode and check the shape (not the signature). Throws OffpayError `blocklist.*`, `message.*`, `cbor.*`. */
export function decodeBlocklist(bytes: Uint8Array): Blocklist {
  const a = openMessage(decodeCbor(bytes, MAX_BLOCKLIST_BYTES), MessageType.Blocklist, 'blocklist', 8);
  const entries = asBytes(a[6], 'blocklist entries');
  if (entries.length % WALLET_ID_BYTES !== 0) throw new OffpayError('blocklist.bad_entry', `blocklist entries: length ${entries.length} is not a multiple of ${WALLET_ID_BYTES}`);
  for (let i = WALLET_ID_BYTES; i < entries.length; i += WALLET_ID_BYTES) {
    if (compare(entries, i - WALLET_ID_BYTES, entries, i) >= 0) throw new OffpayError('blocklist.not_sorted', `blocklist entries must be strictly ascending (entry ${i / WALLET_ID_BYTES})`);
  }
  return {
    issuerId: asUint(a[2], 'blocklist issuerId'),
    keyIndex: asUint(a[3], 'blocklist keyIndex', 255),
    version: asUint(a[4], 'blocklist version', Number.MAX_SAFE_INTEGER, 1),
    issuedAt: asUint(a[5], 'blocklist issuedAt'),
    entries,
    signature: asBytes(a[7], 'blocklist signature', 64),
  };
}

/** Sign a blocklist with an issuer key (clearing does this). */
export function createBlocklist(key: { keyIndex: number; secretKey: Uint8Array }, p: { issuerId: number; version: number; issuedAt: number; walletIds: Iterable<Uint8Array> }): {
  /** The signed blocklist. */
  blocklist: Blocklist;
  /** Its CBOR bytes (what readers load). */
  bytes: Uint8Array;
} {
  const body: BlocklistBody = { issuerId: p.issuerId, keyIndex: key.keyIndex, version: p.version, issuedAt: p.issuedAt, entries: packWalletIds(p.walletIds) };
  const blocklist: Blocklist = { ...body, signature: sign(blocklistSigningInput(body), key.secretKey) };
  return { blocklist, bytes: encodeBlocklist(blocklist) };
}

/**
 * Decode and verify a blocklist against the issuer key set: the key exists, was valid when the list was
 * issued, and signed it. Throws OffpayError `blocklist.unknown_key`, `blocklist.bad_signature`, etc.
 */
export function verifyBlocklist(bytes: Uint8Array, issuerKeys: IssuerKeySet, verifier: SyncVerifier = nobleEd25519): Blocklist {
  const b = decodeBlocklist(bytes);
  if (b.issuerId !== issuerKeys.issuerId) throw new OffpayError('blocklist.wrong_issuer', `blocklist from issuer ${b.issuerId}, the reader trusts issuer ${issuerKeys.issuerId}`);
  const key = issuerKeys.keys.find((k) => k.keyIndex === b.keyIndex);
  if (!key) throw new OffpayError('blocklist.unknown_key', `blocklist signed with unknown issuer key ${b.keyIndex}`);
  if (b.issuedAt < key.notBefore || b.issuedAt > key.notAfter) throw new OffpayError('blocklist.key_not_valid', `issuer key ${b.keyIndex} was not valid at ${b.issuedAt}`);
  if (!verifier.verify(b.signature, blocklistSigningInput(b), key.publicKey)) throw new OffpayError('blocklist.bad_signature', 'the issuer signature on the blocklist does not verify');
  return b;
}

/** Binary search over the sorted entries. */
export class BlocklistIndex {
  /** Number of wallet ids. */
  readonly count: number;
  constructor(
    /** The list's wallet ids: n x 16 bytes, strictly ascending (a signed blocklist's `entries`). */
    readonly entries: Uint8Array,
  ) {
    this.count = entries.length / WALLET_ID_BYTES;
  }
  /** True when the 16-byte wallet id is in the list (false for an id of any other length). O(log n). */
  has(walletId: Uint8Array): boolean {
    if (walletId.length !== WALLET_ID_BYTES) return false;
    let lo = 0;
    let hi = this.count - 1;
    while (lo <= hi) {
      const mid = (lo + hi) >>> 1;
      const c = compare(this.entries, mid * WALLET_ID_BYTES, walletId, 0);
      if (c === 0) return true;
      if (c < 0) lo = mid + 1;
      else hi = mid - 1;
    }
    return false;
  }
}
