/**
 * node:crypto Ed25519 verifier (OpenSSL): synchronous and about 15x faster than noble on Node.
 * Node-only; readers and clearing on Node use it. Agrees with noble (RFC 8032 strict) on every vector.
 */
import * as nodeCrypto from 'node:crypto';
import { createHash, createPublicKey, verify as nodeVerify, type KeyObject } from 'node:crypto';
import { PUBLIC_KEY_BYTES, SIGNATURE_BYTES, type SyncVerifier } from '../crypto.js';

const SPKI_PREFIX = Buffer.from('302a300506032b6570032100', 'hex');

export function nodeEd25519(cacheSize = 4096): SyncVerifier {
  const cache = new Map<string, KeyObject | null>();
  const keyFor = (pk: Uint8Array): KeyObject | null => {
    const id = Buffer.from(pk.buffer, pk.byteOffset, pk.byteLength).toString('latin1'); // a view: no copy
    let k = cache.get(id);
    if (k === undefined) {
      try {
        k = createPublicKey({ key: Buffer.concat([SPKI_PREFIX, pk]), format: 'der', type: 'spki' });
      } catch {
        k = null;
      }
      if (cache.size >= cacheSize) cache.delete(cache.keys().next().value as string);
      cache.set(id, k);
    }
    return k;
  };
  return {
    name: 'node',
    verify(signature, message, publicKey) {
      if (signature.length !== SIGNATURE_BYTES || publicKey.length !== PUBLIC_KEY_BYTES) return false;
      const key = keyFor(publicKey);
      if (!key) return false;
      try {
        return nodeVerify(null, message, key, signature);
      } catch {
        return false;
      }
    },
  };
}

/** One-shot `crypto.hash` (Node 20.12 and later), else `createHash`. */
const oneShot = (nodeCrypto as { hash?: (algorithm: string, data: Uint8Array, encoding: 'buffer') => Buffer }).hash;

/**
 * SHA-256 with node:crypto: the same bytes as noble's `sha256`, several times faster on the short inputs of
 * token hashes, wallet ids and journal chains. The result is a view of a fresh buffer (no copy).
 */
export function nodeSha256(data: Uint8Array): Uint8Array {
  const d = oneShot ? oneShot('sha256', data, 'buffer') : createHash('sha256').update(data).digest();
  return new Uint8Array(d.buffer, d.byteOffset, d.byteLength);
}
