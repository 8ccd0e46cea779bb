/**
 * Token re-verification for clearing: one job per journal entry that carries a token, checked with the
 * stateless algorithm of src/verify.ts. `checkTokenJobs` runs in the calling thread (`checkTokenJob` is the
 * same check for one job); `VerifyPool` spreads jobs over worker threads (src/clearing/verify-worker.ts) so
 * that verification of the next batch overlaps the database writes of the current one. Each worker keeps its
 * own wallet-certificate cache.
 */
import { Worker } from 'node:worker_threads';
import { prefixKey, type SyncVerifier } from '../crypto.js';
import { encodeIssuerKeySet, PAYMENT_CODE_SIGNED_TIME, type IssuerKeySet } from '../messages.js';
import { tokenVerification, verifyToken, type SigCheck, type Verdict, type VerifyContext, type VerifyRequestContext } from '../verify.js';
import { nodeSha256 } from '../node/crypto.js';

/**
 * One token for clearing to re-verify: the token bytes, the entry's reader time (unix seconds), the payees the
 * carrying reader accepts, and its profile's age limits (seconds).
 */
export interface TokenJob {
  /** The token bytes. */
  data: Uint8Array;
  /** The entry's reader time. */
  now: number;
  /** The batch's reader id first (a request-bound token's payee), then its operator id for a transit reader. */
  payees: number[];
  /** Oldest acceptable token time before `now`, seconds (the reader profile's). */
  maxAge: number;
  /** Clock skew allowed after `now`, seconds. */
  maxFuture: number;
  /** `signed` for a tap-out: the verification context's validAt (spec/protocol.md §5: the key's end and the certificate judged at the signed time less maxFuture). */
  validAt?: 'signed' | undefined;
  /** The entry's request context, present iff the token is request-bound (spec/reader.md §9). */
  request?:
    | {
        /** The request's challenge (8 bytes). */
        challenge: Uint8Array;
        /** The request's time, unix seconds (the time the token signed). */
        time: number;
      }
    | undefined;
}

/**
 * The result of re-verifying a {@link TokenJob}: the token's fields clearing settles on, or the stateless
 * reason it failed (spec/protocol.md §7).
 */
export type TokenCheck =
  | {
      /** The token verified. */
      ok: true;
      /** SHA-256 of the token bytes (32 bytes). */
      tokenHash: Uint8Array;
      /** The wallet id (16 bytes). */
      walletId: Uint8Array;
      /** The wallet counter the token spends. */
      counter: number;
      /** The signed amount, minor units. */
      amount: number;
      /** ISO 4217 numeric currency code. */
      currency: number;
      /** The signed payee (reader or operator id). */
      payee: number;
      /** The token's signed time, unix seconds. */
      time: number;
      /** First six bytes of the wallet certificate id (its issuer signature) as an integer (prefixKey). */
      certKey: number;
      /** The wallet certificate's offlineAllowance. */
      allowance: number;
    }
  | {
      /** The token failed. */
      ok: false;
      /** Why (a stateless error code, spec/protocol.md §7). */
      reason: string;
    };

/**
 * A request-bound token is judged against the request context its entry carries and the batch's reader id
 * (the signed payee); clearing does not know the request's amount or currency (the entry value is compared with
 * the token's amount by clearing itself, spec/clearing.md §4). The decoded token's byte strings are views into the
 * job's bytes (`views`): nothing of a verdict that clearing keeps refers to them (hashes and ids are copies).
 */
const contextOf = (j: TokenJob, issuerKeys: IssuerKeySet): VerifyContext => ({
  issuerKeys, now: j.now, payees: j.payees, maxAgeSeconds: j.maxAge, maxFutureSeconds: j.maxFuture, sha256: nodeSha256, views: true,
  request: j.request ? requestOf(j, j.request) : undefined, validAt: j.validAt,
});

/**
 * The entry's request context holds the time the wallet SIGNED. PAYMENT_CODE_SIGNED_TIME there means a payment-code
 * request (spec/protocol.md §4.3, rule P): the body is rebuilt with that value, and since the request's own time
 * is the reader's and not in the entry, its freshness is the entry's time (the reader's open-request window,
 * which the reader vouches for by signing its journal). Any other value is the request's time.
 */
function requestOf(j: TokenJob, r: { challenge: Uint8Array; time: number }): VerifyRequestContext {
  const readerId = j.payees[0]!;
  if (r.time === PAYMENT_CODE_SIGNED_TIME) return { readerId, challenge: r.challenge, time: j.now, code: true };
  return { readerId, challenge: r.challenge, time: r.time };
}

function checkOf(v: Verdict): TokenCheck {
  if (!v.accepted) return { ok: false, reason: v.reason };
  return {
    ok: true, tokenHash: v.tokenHash, walletId: v.walletId, counter: v.token.counter, amount: v.token.amount, currency: v.currency, payee: v.token.payee, time: v.token.time,
    certKey: prefixKey(v.token.walletCert.issuerSignature), allowance: v.token.walletCert.offlineAllowance,
  };
}

/** Re-verify one token job with the stateless algorithm of {@link verifyToken} (spec/protocol.md §5). */
export function checkTokenJob(j: TokenJob, issuerKeys: IssuerKeySet, verifier: SyncVerifier): TokenCheck {
  return checkOf(verifyToken(j.data, contextOf(j, issuerKeys), verifier));
}

/**
 * `checkTokenJob` for many jobs, with the same results, in two passes. First every verification runs to its end
 * with its token signature taken as good for the moment (certificate checks are mostly cache hits) and only
 * that signature check is kept. Then all those signatures are verified back to back; a job whose signature
 * fails is checked again from the start, one by one, which gives exactly its verdict. Keeping the Ed25519
 * verifications together keeps the verifier's code and tables in the CPU caches (interleaved with decoding and
 * database work, each was measurably slower), and finishing each job in the first pass lets its decoded token
 * die young instead of being copied by every scavenge until the batch ends.
 */
export function checkTokenJobs(jobs: readonly TokenJob[], issuerKeys: IssuerKeySet, verifier: SyncVerifier): TokenCheck[] {
  const out: TokenCheck[] = new Array<TokenCheck>(jobs.length);
  const deferredJobs: number[] = [];
  const deferred: SigCheck[] = [];
  // 1. Each verification to its end; the second check it asks for is the token signature: deferred.
  for (let i = 0; i < jobs.length; i++) {
    const gen = tokenVerification(jobs[i]!.data, contextOf(jobs[i]!, issuerKeys));
    let step = gen.next(false as never);
    let asked = 0;
    while (!step.done) {
      if (++asked === 2) {
        deferredJobs.push(i);
        deferred.push(step.value);
        step = gen.next(true);
      } else {
        step = gen.next(verifier.verify(step.value.signature, step.value.message, step.value.publicKey));
      }
    }
    out[i] = checkOf(step.value);
  }
  // 2. The token signatures, back to back. A failure is rare: that job is checked again with the real answer.
  for (let k = 0; k < deferred.length; k++) {
    const c = deferred[k]!;
    if (!verifier.verify(c.signature, c.message, c.publicKey)) out[deferredJobs[k]!] = checkTokenJob(jobs[deferredJobs[k]!]!, issuerKeys, verifier);
  }
  return out;
}

interface Pending {
  resolve: (r: TokenCheck[]) => void;
  reject: (e: unknown) => void;
}

/**
 * Jobs as a few flat typed arrays (moved to the worker, not copied or cloned object by object): the token
 * bytes back to back with their offsets, then one number per job for each scalar field, and the payee lists
 * flattened the same way.
 */
export interface PackedJobs {
  /** Number of jobs. */
  n: number;
  /** Every job's token bytes, back to back. */
  data: Uint8Array;
  /** Job i's bytes are data[dataOffsets[i], dataOffsets[i + 1]) (n + 1 offsets). */
  dataOffsets: Uint32Array;
  /** Each job's `now` (reader time, unix seconds). */
  now: Float64Array;
  /** Each job's `maxAge`, seconds. */
  maxAge: Float64Array;
  /** Each job's `maxFuture`, seconds. */
  maxFuture: Float64Array;
  /** 1 where the job's `validAt` is `signed`. */
  signedValidity: Uint8Array;
  /** Every job's payees, flattened. */
  payees: Float64Array;
  /** Job i's payees are payees[payeeOffsets[i], payeeOffsets[i + 1]) (n + 1 offsets). */
  payeeOffsets: Uint32Array;
  /** 1 where the job has a request context, with its challenge (8 bytes per job) and time. */
  hasRequest: Uint8Array;
  /** Each job's request challenge, 8 bytes per job (zeros without a request). */
  requestChallenge: Uint8Array;
  /** Each job's request time, unix seconds (0 without a request). */
  requestTime: Float64Array;
}

/** Results in the same way: 1/0 per job, 32-byte hashes, 16-byte wallet ids, 7 numbers, and the failures. */
export interface PackedChecks {
  /** Number of jobs. */
  n: number;
  /** 1 where the job's token verified, 0 where it failed. */
  ok: Uint8Array;
  /** SHA-256 of each verified token, 32 bytes per job (zeros where it failed). */
  tokenHash: Uint8Array;
  /** Each token's wallet id, 16 bytes per job (zeros where it failed). */
  walletId: Uint8Array;
  /** counter, amount, currency, payee, time, certKey, allowance per job. */
  fields: Float64Array;
  /** [job index, reason] of each failed job. */
  failures: [number, string][];
}

/** Pack token jobs into a few typed arrays (see {@link PackedJobs}) to send to a worker without copying each job. */
export function packJobs(jobs: TokenJob[]): PackedJobs {
  const n = jobs.length;
  const dataOffsets = new Uint32Array(n + 1);
  const payeeOffsets = new Uint32Array(n + 1);
  for (let i = 0; i < n; i++) {
    dataOffsets[i + 1] = dataOffsets[i]! + jobs[i]!.data.length;
    payeeOffsets[i + 1] = payeeOffsets[i]! + jobs[i]!.payees.length;
  }
  const data = new Uint8Array(dataOffsets[n]!);
  const payees = new Float64Array(payeeOffsets[n]!);
  const now = new Float64Array(n);
  const maxAge = new Float64Array(n);
  const maxFuture = new Float64Array(n);
  const signedValidity = new Uint8Array(n);
  const hasRequest = new Uint8Array(n);
  const requestChallenge = new Uint8Array(8 * n);
  const requestTime = new Float64Array(n);
  for (let i = 0; i < n; i++) {
    const j = jobs[i]!;
    data.set(j.data, dataOffsets[i]!);
    payees.set(j.payees, payeeOffsets[i]!);
    now[i] = j.now;
    maxAge[i] = j.maxAge;
    maxFuture[i] = j.maxFuture;
    if (j.validAt === 'signed') signedValidity[i] = 1;
    if (j.request) {
      hasRequest[i] = 1;
      requestChallenge.set(j.request.challenge, 8 * i);
      requestTime[i] = j.request.time;
    }
  }
  return { n, data, dataOffsets, now, maxAge, maxFuture, signedValidity, payees, payeeOffsets, hasRequest, requestChallenge, requestTime };
}

/** The token jobs of {@link packJobs}, back. */
export function unpackJobs(p: PackedJobs): TokenJob[] {
  return Array.from({ length: p.n }, (_, i) => ({
    data: p.data.subarray(p.dataOffsets[i]!, p.dataOffsets[i + 1]!),
    now: p.now[i]!,
    maxAge: p.maxAge[i]!,
    maxFuture: p.maxFuture[i]!,
    ...(p.signedValidity[i] ? { validAt: 'signed' as const } : {}),
    payees: Array.from(p.payees.subarray(p.payeeOffsets[i]!, p.payeeOffsets[i + 1]!)),
    ...(p.hasRequest[i] ? { request: { challenge: p.requestChallenge.subarray(8 * i, 8 * i + 8), time: p.requestTime[i]! } } : {}),
  }));
}

/** Numbers per packed result. */
const FIELDS = 7;

/** Pack token checks into typed arrays (see {@link PackedChecks}) to send back from a worker. */
export function packChecks(checks: TokenCheck[]): PackedChecks {
  const n = checks.length;
  const out: PackedChecks = { n, ok: new Uint8Array(n), tokenHash: new Uint8Array(32 * n), walletId: new Uint8Array(16 * n), fields: new Float64Array(FIELDS * n), failures: [] };
  checks.forEach((c, i) => {
    if (!c.ok) {
      out.failures.push([i, c.reason]);
      return;
    }
    out.ok[i] = 1;
    out.tokenHash.set(c.tokenHash, 32 * i);
    out.walletId.set(c.walletId, 16 * i);
    out.fields.set([c.counter, c.amount, c.currency, c.payee, c.time, c.certKey, c.allowance], FIELDS * i);
  });
  return out;
}

/** The token checks of {@link packChecks}, back. */
export function unpackChecks(p: PackedChecks): TokenCheck[] {
  const reasons = new Map(p.failures);
  return Array.from({ length: p.n }, (_, i): TokenCheck => {
    if (!p.ok[i]) return { ok: false, reason: reasons.get(i) ?? 'malformed' };
    const f = p.fields;
    return {
      ok: true,
      tokenHash: p.tokenHash.subarray(32 * i, 32 * i + 32),
      walletId: p.walletId.subarray(16 * i, 16 * i + 16),
      counter: f[FIELDS * i]!,
      amount: f[FIELDS * i + 1]!,
      currency: f[FIELDS * i + 2]!,
      payee: f[FIELDS * i + 3]!,
      time: f[FIELDS * i + 4]!,
      certKey: f[FIELDS * i + 5]!,
      allowance: f[FIELDS * i + 6]!,
    };
  });
}

/** The buffers of packed jobs or results, for a postMessage transfer list. */
export function buffersOf(p: PackedJobs | PackedChecks): ArrayBuffer[] {
  const views = 'data' in p ? [p.data, p.dataOffsets, p.now, p.maxAge, p.maxFuture, p.payees, p.payeeOffsets, p.hasRequest, p.requestChallenge, p.requestTime] : [p.ok, p.tokenHash, p.walletId, p.fields];
  return views.map((v) => v.buffer as ArrayBuffer);
}

/**
 * A pool of worker threads (Node `worker_threads`) that re-verify token jobs for {@link Clearing.ingestAll},
 * each with its own wallet-certificate cache; results equal {@link checkTokenJobs} on the calling thread.
 * Call {@link VerifyPool.close} when done, or the workers keep the process alive.
 */
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
      w.on('message', (m: { id: number; results?: PackedChecks; error?: string }) => {
        const p = this.pending.get(m.id);
        if (!p) return;
        this.pending.delete(m.id);
        if (m.error !== undefined || !m.results) p.reject(new Error(m.error ?? 'verification worker sent no results'));
        else p.resolve(unpackChecks(m.results));
      });
      w.on('error', (e) => {
        for (const p of this.pending.values()) p.reject(e);
        this.pending.clear();
      });
      return w;
    });
  }

  /** Number of worker threads. */
  get threads(): number {
    return this.workers.length;
  }

  private send(jobs: TokenJob[]): Promise<TokenCheck[]> {
    const id = this.nextId++;
    const w = this.workers[this.rr++ % this.workers.length]!;
    const packed = packJobs(jobs);
    return new Promise((resolve, reject) => {
      this.pending.set(id, { resolve, reject });
      w.postMessage({ id, jobs: packed }, buffersOf(packed));
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

  /** Terminate the worker threads. */
  async close(): Promise<void> {
    await Promise.all(this.workers.map((w) => w.terminate()));
  }
}
