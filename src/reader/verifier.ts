/**
 * A memo over a synchronous Ed25519 verifier for wallet-certificate signatures: a wallet presents the same
 * certificate with every token, so its issuer signature need only be checked once. Only successful checks of
 * messages under the wallet-certificate tag are remembered, keyed by signature, and the public key and the full
 * message are compared on a hit, so a hit can never accept bytes that were not verified.
 */
import { prefixKey, signingInput, type SyncVerifier } from '../crypto.js';
import { equalBytes, startsWithBytes } from '../../base/bytes.js';
import { SigningTag } from '../messages.js';

const CERT_PREFIX = signingInput(SigningTag.WalletCert, new Uint8Array(0));

/** A {@link cachingVerifier}: a SyncVerifier whose wallet-certificate memo can also be asked and fed. */
export interface CertMemoVerifier extends SyncVerifier {
  /**
   * True when a certificate signature beginning like `signature` (its first six bytes) is remembered: a hint for
   * deciding whether to look further, never an answer (verify still compares signature, key and message).
   */
  remembers(signature: Uint8Array): boolean;
  /**
   * Remember a wallet-certificate check as good without verifying it. Only for a check this implementation
   * verified before (clearing's database memo, spec/clearing.md §4, remembered certificates); a message without the
   * wallet-certificate tag is ignored.
   */
  rememberVerified(signature: Uint8Array, message: Uint8Array, publicKey: Uint8Array): void;
}

/**
 * Wrap a synchronous Ed25519 verifier so that a wallet certificate's issuer signature is verified once: up to
 * `size` successful checks are remembered (default 16 384) and a hit compares signature, public key and the
 * whole message, so the verdicts are those of `inner`. The {@link Reader} uses it by default.
 */
export function cachingVerifier(inner: SyncVerifier, size = 16_384): CertMemoVerifier {
  const memo = new Map<number, { signature: Uint8Array; publicKey: Uint8Array; message: Uint8Array }>();
  const remember = (key: number, hit: unknown, signature: Uint8Array, message: Uint8Array, publicKey: Uint8Array) => {
    if (!hit && memo.size >= size) memo.delete(memo.keys().next().value as number);
    memo.set(key, { signature: signature.slice(), publicKey: publicKey.slice(), message: message.slice() });
  };
  return {
    name: `${inner.name}+certcache`,
    verify(signature, message, publicKey) {
      if (!startsWithBytes(message, CERT_PREFIX)) return inner.verify(signature, message, publicKey);
      // Keyed by the first bytes of the signature (prefixKey); the whole signature, the public key and the full
      // message are compared on a hit. A signature sharing the prefix of a remembered one replaces it.
      const key = prefixKey(signature);
      const hit = memo.get(key);
      if (hit && equalBytes(hit.signature, signature) && equalBytes(hit.publicKey, publicKey) && equalBytes(hit.message, message)) return true;
      const ok = inner.verify(signature, message, publicKey);
      if (ok) remember(key, hit, signature, message, publicKey);
      return ok;
    },
    remembers: (signature) => memo.has(prefixKey(signature)),
    rememberVerified(signature, message, publicKey) {
      if (!startsWithBytes(message, CERT_PREFIX)) return;
      const key = prefixKey(signature);
      remember(key, memo.get(key), signature, message, publicKey);
    },
  };
}
