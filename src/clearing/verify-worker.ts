/** Worker thread for VerifyPool (src/clearing/pool.ts): checks token jobs with node:crypto Ed25519. */
import { parentPort, workerData } from 'node:worker_threads';
import { decodeIssuerKeySet } from '../messages.js';
import { nodeEd25519 } from '../node/crypto.js';
import { cachingVerifier } from '../reader/verifier.js';
import { buffersOf, checkTokenJobs, packChecks, unpackJobs, type PackedJobs } from './pool.js';

const keys = decodeIssuerKeySet(new Uint8Array((workerData as { keyset: Uint8Array }).keyset));
// The key cache as large as the certificate memo: a night of more wallets than nodeEd25519's default 4,096 would
// otherwise import each wallet's key again for every token (about 9 µs).
const verifier = cachingVerifier(nodeEd25519(65_536), 65_536);

parentPort?.on('message', (m: { id: number; jobs: PackedJobs }) => {
  try {
    const results = packChecks(checkTokenJobs(unpackJobs(m.jobs), keys, verifier));
    parentPort!.postMessage({ id: m.id, results }, buffersOf(results));
  } catch (e) {
    parentPort!.postMessage({ id: m.id, error: (e as Error).message });
  }
});
