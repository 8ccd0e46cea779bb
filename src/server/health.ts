/**
 * The health check of `GET /v1/health` (spec/clearing-api.md §2.10): can this node settle now? It reads the
 * clearing database (the house settings, spec/clearing.md §11.2) and answers from that read. The node's periodic
 * settings check reads through it too, so one node never has two such reads of its own at once.
 *
 * The endpoint needs no credential, so anyone may poll it: the database is read at most once every `reuseMs`
 * (default 1,000 ms) whatever the number of callers. Checks that come within `reuseMs` of a read's start, or
 * while it is under way, share its verdict. A read that has not answered after `timeoutMs` (default 2,000 ms) is
 * a verdict of its own (`clearing.store_unavailable`), so a load balancer hears "unavailable" within the timeout
 * even when the database hangs (a network partition). A read still under way after `abandonMs` (default
 * 10,000 ms) is given up: the next check starts another, so a read lost on the way (its connection half-open)
 * keeps a working node out of rotation for 10 s at most. So a hung database has at most one read of the checks
 * started every 10 s, each waiting for one of the node's pooled connections.
 *
 * Every failed read is reported once to `onFailure` (the node's log), never once per poll: a caller polling a
 * node whose database is down makes no log line of its own.
 */

import { OffpayError } from '../../base/errors.js';

/** What a check found. */
export type HealthVerdict = { ok: true } | HealthFailure;

/** A check that failed. */
export interface HealthFailure {
  ok: false;
  code: 'clearing.store_unavailable' | 'clearing.settings_mismatch' | 'clearing.schema_changed';
  /** For the answer: says what, never where (no database host or name to an unauthenticated caller). */
  message: string;
  /** For the node's log: the failure as the store gave it (its message names the database, redacted). */
  detail?: string;
}

/** Options of {@link createHealthCheck}. */
export interface HealthCheckOptions {
  /** How long a verdict is reused, ms (default 1,000; 0 = every check reads, unless a read is under way). */
  reuseMs?: number;
  /** How long a read may take before it counts as unavailable, ms (default 2,000). */
  timeoutMs?: number;
  /** How long a read under way holds off the next one, ms (default 10,000; at least `timeoutMs`). */
  abandonMs?: number;
  /** Each failed read, once (the node's log). */
  onFailure?: (f: HealthFailure) => void;
  /** Milliseconds now (tests). */
  now?: () => number;
}

/** The default verdict reuse: at most one database read a second per node. */
export const HEALTH_REUSE_MS = 1_000;
/** The default deadline of one read. */
export const HEALTH_TIMEOUT_MS = 2_000;
/** The default time after which a read still under way no longer holds off the next. */
export const HEALTH_ABANDON_MS = 10_000;

/** A thrown value as text, whatever it is (a value String() cannot convert included). */
function describe(e: unknown): string {
  try {
    return e instanceof Error ? e.message : String(e);
  } catch {
    return 'an error that cannot be printed';
  }
}

/**
 * A health check over `read`, which resolves true when the node's settings are the house's, false when another
 * node replaced them, and rejects with `clearing.schema_changed` when a newer offpay upgraded the database, or
 * with anything else when the database cannot be read.
 */
export function createHealthCheck(read: () => Promise<boolean>, o: HealthCheckOptions = {}): () => Promise<HealthVerdict> {
  const reuseMs = o.reuseMs ?? HEALTH_REUSE_MS;
  const timeoutMs = o.timeoutMs ?? HEALTH_TIMEOUT_MS;
  const abandonMs = Math.max(timeoutMs, o.abandonMs ?? HEALTH_ABANDON_MS);
  const now = o.now ?? Date.now;
  let verdict: Promise<HealthVerdict> | undefined;
  /** When the last read started. */
  let at = 0;
  /** The last read has not ended yet. */
  let reading = false;
  /** Which read is the last (an abandoned read that ends late changes nothing). */
  let generation = 0;
  const check = (): Promise<HealthVerdict> => {
    const mine = ++generation;
    reading = true;
    let started: Promise<boolean>;
    try {
      started = read();
    } catch (e) {
      started = Promise.reject(e); // a read that throws at once is a failed read
    }
    const answer = started.then(
      (current): HealthVerdict =>
        current ? { ok: true } : { ok: false, code: 'clearing.settings_mismatch', message: "this node's issuer key set or fee is no longer the clearing house's: restart it with the house's settings" },
      (e: unknown): HealthVerdict =>
        e instanceof OffpayError && e.code === 'clearing.schema_changed'
          ? { ok: false, code: e.code, message: 'a newer offpay upgraded the clearing database: upgrade this node and restart it', detail: e.message }
          : e instanceof OffpayError && e.code === 'clearing.store_unavailable' && e.detail?.write === true
            ? { ok: false, code: e.code, message: 'the clearing database refuses writes (read-only, full or failing)', detail: e.message }
            : { ok: false, code: 'clearing.store_unavailable', message: 'the clearing database cannot be read', detail: describe(e) },
    );
    void answer.then(() => {
      if (mine === generation) reading = false;
    });
    let timer: ReturnType<typeof setTimeout> | undefined;
    const late = new Promise<HealthVerdict>((resolve) => {
      timer = setTimeout(
        () => resolve({ ok: false, code: 'clearing.store_unavailable', message: 'the clearing database cannot be read', detail: `the clearing database did not answer within ${timeoutMs} ms` }),
        timeoutMs,
      );
    });
    return Promise.race([answer, late]).then((v) => {
      clearTimeout(timer);
      if (!v.ok) o.onFailure?.(v);
      return v;
    });
  };
  return () => {
    const t = now();
    const since = t - at;
    // A clock that went back (since < 0) starts a read rather than trusting a verdict from the future.
    if (verdict && since >= 0 && (since < reuseMs || (reading && since < abandonMs))) return verdict;
    at = t;
    verdict = check();
    return verdict;
  };
}
