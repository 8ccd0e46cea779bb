/**
 * Token re-verification for clearing: one job per journal entry that carries a token, checked with the
 * stateless algorithm of src/verify.ts. `checkTokenJob` runs in the calling thread; `VerifyPool` spreads
 * jobs over worker threads (src/clearing/verify-worker.ts) so that verification of the next batch overlaps
 * the database writes of the current one. Each worker keeps its own wallet-certificate cache.
 */
import { Worker } from 'node:worker_threads';
import type { SyncVerifier } from '../crypto.js';
import { encodeIssuerKeySet, type IssuerKeySet } from '../messages.js';
import { verifyToken } from '../verify.js';
import { nodeSha256 } from '../node/crypto.js';

export interface TokenJob {
  data: Uint8Array;
  /** The entry's reader time. */
  now: number;
  payees: number[];
  maxAge: number;
  maxFuture: number;
}

export type TokenCheck =
  | { ok: true; tokenHash: Uint8Array; walletId: Uint8Array; counter: number; amount: number; currency: number; payee: number; time: number }
  | { ok: false; reason: string };


export function checkTokenJob(j: TokenJob, issuerKeys: IssuerKeySet, verifier: SyncVerifier): TokenCheck {
  const v = verifyToken(j.data, { issuerKeys, now: j.now, payees: j.payees, maxAgeSeconds: j.maxAge, maxFutureSeconds: j.maxFuture, sha256: nodeSha256 }, verifier);
  if (!v.accepted) return { ok: false, reason: v.reason };
  return { ok: true, tokenHash: v.tokenHash, walletId: v.walletId, counter: v.token.counter, amount: v.token.amount, currency: v.currency, payee: v.token.payee, time: v.token.time };
}

interface Pending {
  resolve: (r: TokenCheck[]) => void;
  reject: (e: unknown) => void;
}

export class VerifyPool {
  private readonly workers: Worker[];
  private readonly pending = new Map<number, Pending>();
  private nextId = 1;
  private rr = 0;

  /** `threads` worker threads (default 2). `workerUrl` defaults to the compiled verify-worker.js next to this module. */
  constructor(issuerKeys: IssuerKeySet, threads = 2, workerUrl: URL = new URL('./verify-worker.js', import.meta.url)) {
    const keyset = encodeIssuerKeySet(issuerKeys);
    this.workers = Array.from({ length: Math.max(1, threads) }, () => {
      const w = new Worker(workerUrl, { workerData: { keyset } });
      w.on('message', (m: { id: number; results?: TokenCheck[]; error?: string }) => {
        const p = this.pending.get(m.id);
        if (!p) return;
        this.pending.delete(m.id);
        if (m.error !== undefined) p.reject(new Error(m.error));
        else p.resolve((m.results ?? []).map(fixBytes));
      });
      w.on('error', (e) => {
        for (const p of this.pending.values()) p.reject(e);
        this.pending.clear();
      });
      return w;
    });
  }

  get threads(): number {
    return this.workers.length;
  }

  private send(jobs: TokenJob[]): Promise<TokenCheck[]> {
    const id = this.nextId++;
    const w = this.workers[this.rr++ % this.workers.length]!;
    return new Promise((resolve, reject) => {
      this.pending.set(id, { resolve, reject });
      w.postMessage({ id, jobs });
    });
  }

  /** Check the jobs (nulls pass through), split across the workers; results in job order. */
  async check(jobs: (TokenJob | null)[]): Promise<(TokenCheck | null)[]> {
    const idx: number[] = [];
    const real: TokenJob[] = [];
    jobs.forEach((j, i) => {
      if (j) {
        idx.push(i);
        real.push(j);
      }
    });
    const n = this.workers.length;
    const size = Math.ceil(real.length / n) || 1;
    const parts: Promise<TokenCheck[]>[] = [];
    for (let k = 0; k < real.length; k += size) parts.push(this.send(real.slice(k, k + size)));
    const results = (await Promise.all(parts)).flat();
    const out: (TokenCheck | null)[] = jobs.map(() => null);
    idx.forEach((i, k) => (out[i] = results[k]!));
    return out;
  }

  async close(): Promise<void> {
    await Promise.all(this.workers.map((w) => w.terminate()));
  }
}

function fixBytes(r: TokenCheck): TokenCheck {
  return r.ok ? { ...r, tokenHash: new Uint8Array(r.tokenHash), walletId: new Uint8Array(r.walletId) } : r;
}
