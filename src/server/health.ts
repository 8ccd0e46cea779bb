/**
 * The health check of `GET /v1/health` (spec/clearing-api.md §2.10): can this node settle now? It reads the
 * clearing database (the house settings, spec/clearing.md §11.2) and answers from that read.
 *
 * The endpoint needs no credential, so anyone may poll it: the database is read at most once every `reuseMs`
 * (default 1,000 ms) whatever the number of callers. Checks that come while a read is under way, or within
 * `reuseMs` of its start, share its verdict. A read that has not answered after `timeoutMs` (default 2,000 ms)
 * is a verdict of its own (`clearing.store_unavailable`), so a load balancer hears "unavailable" within the
 * timeout even when the database hangs (a network partition); no other read starts until that one has ended,
 * so a hung database holds at most one connection for the checks.
 */
import { OffpayError } from '../../base/errors.js';

/** What a check found. */
export type HealthVerdict =
  | { ok: true }
  | {
      ok: false;
      code: 'clearing.store_unavailable' | 'clearing.settings_mismatch';
      /** For the answer: says what, never where (no database host or name to an unauthenticated caller). */
      message: string;
      /** For the node's log: the failure as the store gave it (its message names the database, redacted). */
      detail?: string;
    };

/** Options of {@link createHealthCheck}. */
export interface HealthCheckOptions {
  /** How long a verdict is reused, ms (default 1,000; 0 = every check reads). */
  reuseMs?: number;
  /** How long a read may take before it counts as unavailable, ms (default 2,000). */
  timeoutMs?: number;
  /** Milliseconds now (tests). */
  now?: () => number;
}

/** The default verdict reuse: at most one database read a second per node. */
export const HEALTH_REUSE_MS = 1_000;
/** The default deadline of one read. */
export const HEALTH_TIMEOUT_MS = 2_000;

/**
 * A health check over `read`, which resolves true when the node's settings are the house's, false when another
 * node replaced them, and rejects when the database cannot be read.
 */
export function createHealthCheck(read: () => Promise<boolean>, o: HealthCheckOptions = {}): () => Promise<HealthVerdict> {
  const reuseMs = o.reuseMs ?? HEALTH_REUSE_MS;
  const timeoutMs = o.timeoutMs ?? HEALTH_TIMEOUT_MS;
  const now = o.now ?? Date.now;
  let verdict: Promise<HealthVerdict> | undefined;
  let at = 0;
  /** A read is under way (perhaps past its deadline): no second one is started meanwhile. */
  let reading = false;
  const check = (): Promise<HealthVerdict> => {
    reading = true;
    let reading$: Promise<boolean>;
    try {
      reading$ = read();
    } catch (e) {
      reading$ = Promise.reject(e); // a read that throws at once is a failed read
    }
    const answer = reading$.then(
      (current): HealthVerdict =>
        current ? { ok: true } : { ok: false, code: 'clearing.settings_mismatch', message: "this node's issuer key set or fee is no longer the clearing house's: restart it with the house's settings" },
      (e: unknown): HealthVerdict => ({
        ok: false,
        code: 'clearing.store_unavailable',
        message: 'the clearing database cannot be read',
        detail: e instanceof OffpayError ? e.message : String((e as Error)?.message ?? e),
      }),
    );
    void answer.then(() => {
      reading = false;
    });
    let timer: ReturnType<typeof setTimeout> | undefined;
    const late = new Promise<HealthVerdict>((resolve) => {
      timer = setTimeout(() => resolve({ ok: false, code: 'clearing.store_unavailable', message: `the clearing database did not answer within ${timeoutMs} ms` }), timeoutMs);
    });
    return Promise.race([answer, late]).finally(() => clearTimeout(timer));
  };
  return () => {
    const t = now();
    if (verdict && (reading || (t >= at && t - at < reuseMs))) return verdict;
    at = t;
    verdict = check();
    return verdict;
  };
}
