/**
 * Clearing's database memo of verified wallet certificates (spec/clearing.md §4, remembered certificates).
 *
 * A wallet certificate is checked twice by the stateless verification of a token (spec/protocol.md §5): its
 * wallet key for prime order (one X25519 multiplication, about 70 µs here) and its issuer signature (one Ed25519
 * verification, about 110 µs). Both are pure functions of the bytes. The process remembers them for the last
 * 65,536 certificates; this memo carries them across restarts and past that many riders: after a batch
 * commits, the digest of each certificate check that passed in it is stored; before a batch's tokens are
 * verified, the certificates the process does not remember are looked up, and those found are fed to the
 * process memos, so the verification answers them from memory. The verdicts do not change: a certificate
 * whose digest is not held is verified as before, and a digest covers the issuer key, the certificate's signed
 * bytes and its signature, so no other key, field or signature can match it.
 *
 *   digest = SHA-256(signingInput("OFFPAY-V2-CERT-MEMO", issuerPublicKey || certificateBytes))
 *
 * over the certificate's CBOR bytes as the token carries them (its fields and its issuer signature: a token
 * whose certificate is not canonical is refused, so the bytes of an accepted one are its only encoding). The
 * tag is the reference implementation's, not a protocol message: a port keeps its own memo or none. A
 * certificate new to the process costs a lookup here (the digest, one index probe) and, once it verified, one
 * insert; only one found is decoded.
 */
import { cborItemEnd } from '../cbor.js';
import { signingInput } from '../crypto.js';
import { toHex } from '../../base/hex.js';
import { decodeWalletCert, MessageType, PROTOCOL_VERSION, walletCertSigningInput, type IssuerKeySet } from '../messages.js';
import { nodeSha256 } from '../node/crypto.js';
import type { CertMemoVerifier } from '../reader/verifier.js';
import { rememberPrimeOrderKey } from '../weakkeys.js';
import type { TokenCheck, TokenJob } from './pool.js';
import type { IngestSession } from './store.js';

/** The digest's signing tag. */
export const CERT_MEMO_TAG = 'OFFPAY-V2-CERT-MEMO';

/** A certificate looked up and not held: remembered after the commit if one of its tokens passed. */
export interface PendingCert {
  /** Its digest (32 bytes). */
  digest: Uint8Array;
  /** Indexes of the batch's jobs that carry it. */
  jobs: number[];
}

/** The digest of one certificate check: the issuer key and the certificate's bytes (its signature included). */
export function certMemoDigest(issuerPublicKey: Uint8Array, certBytes: Uint8Array): Uint8Array {
  const body = new Uint8Array(issuerPublicKey.length + certBytes.length);
  body.set(issuerPublicKey, 0);
  body.set(certBytes, issuerPublicKey.length);
  return nodeSha256(signingInput(CERT_MEMO_TAG, body));
}

/**
 * A token's certificate, found without decoding the token: a token is `[5, 2, cert, ...]` (a one-byte array
 * head, then 0x05 0x02), a certificate `[2, 2, keyIndex, ...]` (0x89 0x02 0x02, then the key index, one byte
 * below 24 or 0x18 and one byte) ending with its signature (0x58 0x40 and 64 bytes). Undefined for bytes of
 * another shape: their verification runs as usual.
 */
function certOf(token: Uint8Array): { bytes: Uint8Array; signature: Uint8Array; keyIndex: number } | undefined {
  if (token.length < 3 + 70 || token[1] !== 0x05 || token[2] !== PROTOCOL_VERSION) return undefined;
  if (token[3] !== 0x89 || token[4] !== MessageType.WalletCert || token[5] !== PROTOCOL_VERSION) return undefined;
  const head = token[6]!;
  const keyIndex = head < 0x18 ? head : head === 0x18 ? token[7]! : -1;
  if (keyIndex < 0) return undefined;
  let end: number;
  try {
    end = cborItemEnd(token, 3);
  } catch {
    return undefined;
  }
  if (end > token.length || end < 3 + 70 || token[end - 66] !== 0x58 || token[end - 65] !== 0x40) return undefined;
  return { bytes: token.subarray(3, end), signature: token.subarray(end - 64, end), keyIndex };
}

/**
 * Before the tokens of a batch are verified: the certificates the process memo does not hold are looked up in
 * the store; those held are fed to the process memos (certificate signature, prime order of the wallet key).
 * Returns the ones not held. A store without the memo (`knownCerts`) costs nothing here.
 */
export async function recallCerts(s: IngestSession, jobs: readonly (TokenJob | null)[], issuerKeys: IssuerKeySet, verifier: CertMemoVerifier): Promise<PendingCert[]> {
  if (!s.knownCerts || !s.rememberCerts) return [];
  const asked = new Map<string, { digest: Uint8Array; jobs: number[]; bytes: Uint8Array; issuerKey: Uint8Array }>();
  for (let i = 0; i < jobs.length; i++) {
    const job = jobs[i];
    if (!job) continue;
    const cert = certOf(job.data);
    // The common case: a wallet seen lately, its certificate in the process memo.
    if (!cert || verifier.remembers(cert.signature)) continue;
    const key = issuerKeys.keys.find((k) => k.keyIndex === cert.keyIndex);
    if (!key) continue; // the verification refuses it (unknown_issuer_key)
    const digest = certMemoDigest(key.publicKey, cert.bytes);
    const id = toHex(digest);
    const seen = asked.get(id);
    if (seen) seen.jobs.push(i);
    else asked.set(id, { digest, jobs: [i], bytes: cert.bytes, issuerKey: key.publicKey });
  }
  if (!asked.size) return [];
  const list = [...asked.values()];
  const held = await s.knownCerts(list.map((c) => c.digest));
  const pending: PendingCert[] = [];
  list.forEach((c, k) => {
    if (!held[k]) {
      pending.push({ digest: c.digest, jobs: c.jobs });
      return;
    }
    try {
      const cert = decodeWalletCert(c.bytes);
      rememberPrimeOrderKey(cert.walletPublicKey);
      verifier.rememberVerified(cert.issuerSignature, walletCertSigningInput(cert), c.issuerKey);
    } catch {
      // not a certificate after all: the verification gives the verdict
    }
  });
  return pending;
}

/**
 * After the batch committed: store the digests of the pending certificates one of whose tokens passed (a token
 * passes only if its wallet key is of prime order and its certificate's signature verified). Best effort: a
 * digest lost costs one verification later, so a failure here is not the batch's.
 */
export async function rememberCerts(s: IngestSession, pending: readonly PendingCert[], checks: readonly (TokenCheck | null)[]): Promise<void> {
  if (!pending.length || !s.rememberCerts) return;
  const passed = pending.filter((c) => c.jobs.some((i) => checks[i]?.ok === true)).map((c) => c.digest);
  if (!passed.length) return;
  try {
    await s.rememberCerts(passed);
  } catch {
    // the memo is an optimisation: the certificate is verified again next time
  }
}
