/**
 * Signed webhooks from the clearing service to the merchant system (spec/clearing-api.md §9): events derived
 * from what clearing committed, queued in a durable outbox (outbox.ts) BEFORE the answer that caused them,
 * and delivered at least once by a worker with exponential backoff and jitter, each delivery signed
 * (webhook-signature.ts) and carrying its event id as idempotency key.
 *
 * Events (version 1):
 *   charge.complete     a token's payment state became `successful` (payments.ts): after the batch that
 *                       settles it (a sale, or a trip's tap-out) is committed; once per token.
 *   wallet.blocklisted  a wallet joined the clearing blocklist (double spend, or over its allowance); once per wallet.
 *   charge.refunded     clearing accepted a merchant's refund of a token (POST /v1/refunds, spec/clearing.md §13):
 *                       queued before the refund's answer (accepted, or a duplicate, which re-derives the same id;
 *                       and any other answer to a refund that verifies, which queues the HELD refund's event: a
 *                       till that signs anew, or whose refund is refused now).
 * charge.complete is also queued for a token whose state is `refunded` (it completed before it was refunded).
 *
 * Intents (spec/clearing-api.md §9.2 step 1): before a batch's clearing commit an intent naming its tokens is
 * written to the outbox, and deleted with the events; a sweep at start and every INTENT_SWEEP_MS queues the
 * events of intents a dead process left (on PostgreSQL, any node's, after INTENT_GRACE_MS).
 *
 * Event id = "evt_" + the first 16 bytes, hex, of SHA-256("offpay-webhook-v1:" + type + ":" + subject), subject
 * the token hash or wallet id in lower-case hex: the same fact always makes the same id, so re-deriving it
 * (a batch resent after a crash between the clearing commit and the outbox write) queues nothing new, and a
 * receiver drops a second delivery of an id it already processed.
 *
 * Delivery: POST to the one configured URL, body the stored JSON bytes, headers Content-Type, Offpay-Event-Id,
 * Idempotency-Key (= the event id), Offpay-Event-Type, Offpay-Signature; redirects are not followed. A 2xx
 * answer within requestTimeoutMs delivers; anything else (status, redirect, network error, timeout) is a failed
 * try k (1-based), retried after min(maxDelayMs, baseDelayMs x 2^(k-1)) x (0.5 + 0.5 x random) ms; after
 * maxAttempts tries the event is dead-lettered: kept in the outbox with its last error, logged, and listed by
 * GET /v1/webhooks (operator). Events go out one at a time, oldest due first.
 *
 * Several nodes on one outbox (PostgreSQL, outbox-pg.ts): the worker claims up to CLAIM_BATCH due events for
 * the outbox's lease, renews the claim of each just before its try (`hold`; skipped when another node took it),
 * and the outcome is recorded only while the claim is this node's. The lease must outlast a try
 * (requestTimeoutMs + LEASE_MARGIN_MS). The set of wallets already queued stays per node (the outbox drops ids
 * it holds). A node whose configuration is no longer the house's (`mayDeliver`, webhook-config.ts) claims
 * nothing until it is again.
 */
import { createHash } from 'node:crypto';
import type { Clearing, IngestResult, PaymentFacts, RefundRecord } from '../clearing/clearing.js';
import { sha256 } from '../crypto.js';
import { fromHex, toHex } from '../../base/hex.js';
import { OffpayError } from '../../base/errors.js';
import type { NewOutboxEvent, OutboxIntent, WebhookOutbox } from './outbox.js';
import { paymentState } from './payments.js';
import { webhookSignatureHeader } from '../webhook-signature.js';
import { nodeHmacSha256 } from '../node/crypto.js';

/** Events the worker claims from the outbox at a time (then tries one by one, renewing each claim first). */
export const CLAIM_BATCH = 16;
/** A shared outbox's lease must outlast one try (the request deadline) by at least this, ms. */
export const LEASE_MARGIN_MS = 1_000;

/** Event types sent in this version. */
export const WEBHOOK_EVENT_TYPES = ['charge.complete', 'wallet.blocklisted', 'charge.refunded'] as const;
export type WebhookEventType = (typeof WEBHOOK_EVENT_TYPES)[number];

/** The deterministic id of the event of `type` about `subject` (lower-case hex). */
export function eventId(type: string, subject: string): string {
  return 'evt_' + createHash('sha256').update(`offpay-webhook-v1:${type}:${subject}`, 'utf8').digest('hex').slice(0, 32);
}

export interface WebhookOptions {
  /** The merchant endpoint: http(s), at most 2,048 bytes, no user:password part. */
  url: string;
  /** The shared secret: 64 lower-case hex digits (its ASCII bytes are the HMAC key). */
  secret: string;
  outbox: WebhookOutbox;
  /** Tries per event before it is dead-lettered (default 20; 1 .. 100). */
  maxAttempts?: number;
  /** First retry delay, ms (default 1,000; 1 .. 3,600,000). */
  baseDelayMs?: number;
  /** Retry delay cap, ms (default 3,600,000; 1 .. 86,400,000). */
  maxDelayMs?: number;
  /** Per delivery deadline, ms (default 10,000; 100 .. 120,000). */
  requestTimeoutMs?: number;
  /** How often the worker looks for due events when it was not woken, ms (default 1,000; 10 .. 60,000). */
  pollMs?: number;
  /**
   * Days a delivered charge.complete or charge.refunded event is kept before the worker prunes it (default 30;
   * 1 .. 36,500). Its id no longer stops the same event from being queued again (a batch resent after that long),
   * which a receiver drops by its id as any second delivery.
   */
  retentionDays?: number;
  /**
   * A shared outbox's intent is swept only this long after it was written, ms (default INTENT_GRACE_MS, 60,000;
   * 0 .. 3,600,000). A one-process outbox (no lease) sweeps every intent not in flight here, whatever this says.
   */
  intentGraceMs?: number;
  /** Unix seconds (the signature's t and the events' created). */
  clock?: () => number;
  /** Unix ms (scheduling). */
  nowMs?: () => number;
  random?: () => number;
  fetch?: typeof fetch;
  log?: (line: string) => void;
  /**
   * Asked before each claim of due events: false stops this node delivering (it keeps queueing) until it is true
   * again. `clearing serve` passes whether the house's recorded webhook configuration is still this node's
   * (webhook-config.ts), so a node left running after the operator reconfigured the house sends nothing with
   * the old URL or secret.
   */
  mayDeliver?: () => Promise<boolean>;
}

function bounded(name: string, v: number | undefined, dflt: number, min: number, max: number): number {
  if (v === undefined) return dflt;
  if (!Number.isSafeInteger(v) || v < min || v > max) throw new OffpayError('api.bad_option', `${name} ${String(v)} must be an integer in ${min}..${max}`);
  return v;
}

/**
 * Ports the fetch standard blocks ("bad ports", https://fetch.spec.whatwg.org/#port-blocking): Node's fetch
 * refuses them without connecting, so a webhook URL naming one could never be delivered. The list as of Node
 * 20.20 (measured: a fetch to each of the 65,535 ports); spec/clearing-api.md §9 lists it.
 */
export const BLOCKED_WEBHOOK_PORTS: ReadonlySet<number> = new Set([
  1, 7, 9, 11, 13, 15, 17, 19, 20, 21, 22, 23, 25, 37, 42, 43, 53, 69, 77, 79, 87, 95, 101, 102, 103, 104, 109, 110, 111, 113, 115, 117, 119, 123, 135,
  137, 139, 143, 161, 179, 389, 427, 465, 512, 513, 514, 515, 526, 530, 531, 532, 540, 548, 554, 556, 563, 587, 601, 636, 989, 990, 993, 995, 1719,
  1720, 1723, 2049, 3659, 4045, 4190, 5060, 5061, 6000, 6566, 6665, 6666, 6667, 6668, 6669, 6679, 6697, 10080,
]);

/** Longest webhook URL, bytes, as given and once normalised (the form the house records, webhook-config.ts). */
export const MAX_WEBHOOK_URL_BYTES = 2048;

/** Check a webhook URL; throws `api.bad_webhook_url`. */
export function checkWebhookUrl(url: string): URL {
  if (Buffer.byteLength(url) > MAX_WEBHOOK_URL_BYTES) throw new OffpayError('api.bad_webhook_url', 'a webhook URL is at most 2,048 bytes');
  let u: URL;
  try {
    u = new URL(url);
  } catch {
    throw new OffpayError('api.bad_webhook_url', `'${url.slice(0, 100)}' is not a URL`);
  }
  if (u.protocol !== 'http:' && u.protocol !== 'https:') throw new OffpayError('api.bad_webhook_url', 'a webhook URL is http:// or https://');
  // Percent-encoding can make the normalised form up to three times longer than the URL as written.
  if (Buffer.byteLength(u.href) > MAX_WEBHOOK_URL_BYTES) throw new OffpayError('api.bad_webhook_url', 'a webhook URL is at most 2,048 bytes once normalised (percent-encoded)');
  if (u.username || u.password) throw new OffpayError('api.bad_webhook_url', 'a webhook URL carries no user or password (deliveries are signed instead)');
  const port = u.port === '' ? (u.protocol === 'https:' ? 443 : 80) : Number(u.port);
  if (port === 0 || BLOCKED_WEBHOOK_PORTS.has(port)) throw new OffpayError('api.bad_webhook_url', `a webhook URL cannot use port ${port} (a port fetch refuses to connect to; spec/clearing-api.md §9)`);
  return u;
}

/** The delivery options of a {@link WebhookService}, checked and with their defaults. */
export interface WebhookLimits {
  /** Tries per event before it is dead-lettered (1..100, default 20). */
  maxAttempts: number;
  /** First retry delay, ms (1..3,600,000, default 1,000). */
  baseDelayMs: number;
  /** Longest retry delay, ms (1..86,400,000, default 3,600,000). */
  maxDelayMs: number;
  /** Deadline of one try, ms (100..120,000, default 10,000). */
  requestTimeoutMs: number;
  /** Worker poll interval, ms (10..60,000, default 1,000). */
  pollMs: number;
  /** Days a delivered charge event is kept (1..36,500, default 30). */
  retentionDays: number;
}

/**
 * Check a webhook URL and the delivery options against their ranges (and an outbox lease, when there is one,
 * against a try's deadline) without starting anything: `clearing serve` calls it before it records the house's
 * webhook configuration, so a start with a bad option changes nothing. Throws `api.bad_webhook_url` or
 * `api.bad_option`.
 */
export function checkWebhookOptions(o: Pick<WebhookOptions, 'url' | 'maxAttempts' | 'baseDelayMs' | 'maxDelayMs' | 'requestTimeoutMs' | 'pollMs' | 'retentionDays'> & { leaseMs?: number | undefined }): WebhookLimits {
  checkWebhookUrl(o.url);
  const limits: WebhookLimits = {
    maxAttempts: bounded('maxAttempts', o.maxAttempts, 20, 1, 100),
    baseDelayMs: bounded('baseDelayMs', o.baseDelayMs, 1_000, 1, 3_600_000),
    maxDelayMs: bounded('maxDelayMs', o.maxDelayMs, 3_600_000, 1, 86_400_000),
    requestTimeoutMs: bounded('requestTimeoutMs', o.requestTimeoutMs, 10_000, 100, 120_000),
    pollMs: bounded('pollMs', o.pollMs, 1_000, 10, 60_000),
    retentionDays: bounded('retentionDays', o.retentionDays, DEFAULT_RETENTION_DAYS, 1, 36_500),
  };
  if (o.leaseMs !== undefined && o.leaseMs < limits.requestTimeoutMs + LEASE_MARGIN_MS) {
    throw new OffpayError('api.bad_option', `the outbox lease ${o.leaseMs} ms must outlast a try: at least requestTimeoutMs ${limits.requestTimeoutMs} + ${LEASE_MARGIN_MS} ms`);
  }
  return limits;
}

/** The retry delay after failed try k (1-based), before jitter: min(max, base x 2^(k-1)). */
export function backoffMs(k: number, baseDelayMs: number, maxDelayMs: number): number {
  return Math.min(maxDelayMs, baseDelayMs * 2 ** Math.min(k - 1, 40));
}

const JSON_BIGINT = (_k: string, v: unknown): unknown => (typeof v === 'bigint' ? v.toString() : v);
const enc = (o: unknown) => new TextEncoder().encode(JSON.stringify(o, JSON_BIGINT));

/** Default days a delivered charge event is kept (WebhookOptions.retentionDays). */
export const DEFAULT_RETENTION_DAYS = 30;
/** The worker prunes the outbox at most this often, ms, deleting at most PRUNE_BATCH events a round. */
export const PRUNE_EVERY_MS = 3_600_000;
export const PRUNE_BATCH = 10_000;

/** How often the events of committed batches that the outbox refused are tried again, ms. */
export const DEFER_RETRY_MS = 1_000;
/** At most this many tokens' events wait in memory for the outbox (32 bytes of hash and some overhead each). */
export const MAX_DEFERRED_TOKENS = 1_048_576;
/** Deferred tokens queued in one outbox write. */
const DEFER_CHUNK = 4_096;

/** How often a server sweeps the outbox's intents (sweepIntents), ms; and once at its start. */
export const INTENT_SWEEP_MS = 60_000;
/**
 * A shared outbox's intent is swept only this long after it was written (database clock), ms: the node that wrote
 * it normally settles it first. A one-process outbox sweeps every intent not in flight in this process at once.
 */
export const INTENT_GRACE_MS = 60_000;
/** An intent whose batch clearing does not hold is dropped this long after it was written (or last renewed), ms. */
export const INTENT_EXPIRY_MS = 86_400_000;
/** Intents read a sweep round. */
const SWEEP_PAGE = 256;

function concatHashes(hashes: readonly Uint8Array[]): Uint8Array {
  const out = new Uint8Array(hashes.length * 32);
  hashes.forEach((h, i) => out.set(h, 32 * i));
  return out;
}

function hexSet(hashes: readonly Uint8Array[]): Set<string> {
  return new Set(hashes.map(toHex));
}

/** Concatenated 32-byte hashes (an intent's) as a set of hex strings. */
function splitHashes(b: Uint8Array): Set<string> {
  const out = new Set<string>();
  for (let i = 0; i + 32 <= b.length; i += 32) out.add(toHex(b.subarray(i, i + 32)));
  return out;
}

/** Let I/O run (a sweep or a large batch's events read the SQLite store synchronously underneath their awaits). */
const breathe = () => new Promise<void>((r) => setImmediate(r));
/** Tokens looked up between two breaths. */
const LOOKUPS_PER_BREATH = 256;

/** Not allowed to deliver (mayDeliver): the worker looks again after pollMs. */
class Barred extends Error {}

/** Events, outbox and the delivery worker of one clearing server. */
export class WebhookService {
  readonly url: URL;
  private readonly o: WebhookLimits;
  private readonly clock: () => number;
  private readonly nowMs: () => number;
  private readonly random: () => number;
  private readonly doFetch: typeof fetch;
  /** Wallets (hex) whose wallet.blocklisted event this node has written to the outbox. */
  private readonly blockedQueued = new Set<string>();
  /** The whole blocklist was compared with blockedQueued since this service started (the restart catch-up). */
  private caughtUp = false;
  private running = false;
  private loop: Promise<void> | undefined;
  private wake: (() => void) | undefined;
  /** A kick that came while the worker was busy: it looks again before sleeping. */
  private kicked = false;
  private timer: ReturnType<typeof setTimeout> | undefined;
  private inflight: AbortController | undefined;
  /** mayDeliver said no at the last look (logged once per change). */
  private barred = false;
  /** Unix ms of the next prune round (the first soon after start). */
  private pruneAt = 0;
  private readonly intentGraceMs: number;

  constructor(private readonly opts: WebhookOptions) {
    this.url = checkWebhookUrl(opts.url);
    if (!/^[0-9a-f]{64}$/.test(opts.secret)) throw new OffpayError('api.bad_webhook_secret', 'the webhook secret must be 64 lower-case hex digits');
    this.o = checkWebhookOptions({ ...opts, leaseMs: opts.outbox.leaseMs });
    this.intentGraceMs = bounded('intentGraceMs', opts.intentGraceMs, INTENT_GRACE_MS, 0, 3_600_000);
    this.clock = opts.clock ?? (() => Math.floor(Date.now() / 1000));
    this.nowMs = opts.nowMs ?? Date.now;
    this.random = opts.random ?? Math.random;
    this.doFetch = opts.fetch ?? fetch;
  }

  get outbox(): WebhookOutbox {
    return this.opts.outbox;
  }

  // ---- events ----------------------------------------------------------------------------------------

  /**
   * Ingest a batch with its events (spec/clearing-api.md §9.2 step 1): once the batch passed clearing's checks
   * (a reader's, new here) and before its commit, an intent naming it and its tokens is written to the outbox
   * (refused: the ingest rejects with `clearing.store_unavailable` and nothing is committed); after the commit the
   * events are queued and the intent deleted in one outbox transaction. A rejected batch's intent is deleted. A
   * node that dies in between leaves the intent to a sweep (sweepIntents), which queues the events then.
   */
  async ingestBatch(clearing: Clearing, batchBytes: Uint8Array): Promise<IngestResult> {
    let intent: { id: string; hashes: Uint8Array[] } | undefined;
    try {
      const r = await clearing.ingest(batchBytes, {
        beforeCommit: async (b) => {
          if (!b.tokenHashes.length) return; // no token named (an empty batch): no event to lose
          intent = { id: toHex(b.digest), hashes: b.tokenHashes };
          // In flight before it is written: this process's sweep never takes it (a one-process outbox sweeps at once).
          this.batchesInFlight.set(intent.id, (this.batchesInFlight.get(intent.id) ?? 0) + 1);
          await this.opts.outbox.intend({ id: intent.id, readerId: b.readerId, journalId: b.journalId, batchSeq: b.batchSeq, hashes: concatHashes(b.tokenHashes) }, this.nowMs());
        },
      });
      if (r.outcome !== 'rejected' && intent) {
        await this.afterHashes(clearing, hexSet(intent.hashes), intent.id);
      } else if (r.outcome === 'duplicate') {
        // Found held before its commit, so no intent of this request. Its events were queued with the deletion of
        // the intent of the ingest that committed it, unless that intent is still held (its node died before the
        // outbox write, or the outbox refused the events): then they are queued now and it is settled. Nothing is
        // derived again otherwise: a resend of a held batch (anyone may send one) costs one lookup, not one per token.
        const id = toHex(sha256(batchBytes));
        const hashes = await this.opts.outbox.intentHashes(id);
        if (hashes) await this.afterHashes(clearing, splitHashes(hashes), id);
      } else if (intent && this.batchesInFlight.get(intent.id) === 1) {
        // Nothing committed. Unless another request of this process carries the same bytes, the intent goes (if
        // this delete fails, the sweep drops it a day later: clearing does not hold the batch).
        await this.opts.outbox.add([], this.nowMs(), [intent.id]).catch(() => undefined);
      }
      return r;
    } finally {
      if (intent) {
        const n = this.batchesInFlight.get(intent.id)! - 1;
        if (n) this.batchesInFlight.set(intent.id, n);
        else this.batchesInFlight.delete(intent.id);
      }
    }
  }

  /**
   * After a batch was committed (ingested or duplicate): queue charge.complete for every token it names that is
   * now successful, and wallet.blocklisted for every newly blocked wallet; delete the intent `intentId` in the
   * same outbox transaction. Returns how many events were new.
   */
  afterBatch(clearing: Clearing, batchBytes: Uint8Array, intentId?: string): Promise<number> {
    return this.afterHashes(clearing, hexSet(clearing.batchTokenHashes(batchBytes) ?? []), intentId);
  }

  private async afterHashes(clearing: Clearing, hashes: Set<string>, intentId: string | undefined): Promise<number> {
    // What an earlier batch could not queue is tried again too, in the background (one retry at a time: the
    // batch's answer does not wait for it).
    if (this.deferred.size) void this.retryDeferred().catch(() => undefined);
    try {
      return await this.afterTokens(clearing, hashes, intentId ? [intentId] : []);
    } catch (e) {
      // The batch is committed: its events must not depend on the reader sending it again (its next sync finds it
      // held and does not). Kept here and queued again until the outbox takes them (spec/clearing-api.md §9.2);
      // its intent, in the outbox, outlives this process if it dies first.
      this.defer(clearing, [...hashes]);
      throw e;
    }
  }

  /** Intents of this process's requests not yet settled (id -> how many requests), never swept here. */
  private readonly batchesInFlight = new Map<string, number>();
  private sweeping: Promise<number> | undefined;

  /**
   * Queue the events of intents left in the outbox (a node that died between a clearing commit and the outbox
   * write; an outbox that refused the events), written INTENT_GRACE_MS ago or more (a one-process outbox: any
   * age) and not in flight in this process, in (time, id) order, SWEEP_PAGE a read: one whose batch clearing
   * holds (Clearing.holdsBatch) gets its events queued and is deleted in one outbox transaction; one whose batch
   * clearing does not hold stays, and goes once it is INTENT_EXPIRY_MS old (unless renewed meanwhile by a request
   * carrying the batch again). One sweep at a time; resolves to how many intents it settled or dropped.
   */
  sweepIntents(clearing: Clearing): Promise<number> {
    return (this.sweeping ??= this.sweepRound(clearing).finally(() => {
      this.sweeping = undefined;
    }));
  }

  private async sweepRound(clearing: Clearing): Promise<number> {
    // The restart's catch-up (§9.1: the whole blocklist against the wallets queued) at the first sweep, whatever
    // comes first: a resent batch whose events were queued derives nothing, so it would not run it.
    if (!this.caughtUp) await this.afterTokens(clearing, new Set());
    const grace = this.opts.outbox.leaseMs === undefined ? 0 : this.intentGraceMs;
    let done = 0;
    let after: OutboxIntent | undefined;
    for (;;) {
      const page = await this.opts.outbox.intents(grace, this.nowMs(), SWEEP_PAGE, after);
      for (const it of page) {
        after = it;
        await breathe();
        if (this.batchesInFlight.has(it.id)) continue;
        if (await clearing.holdsBatch(it.readerId, it.journalId, it.batchSeq, fromHex(it.id))) {
          // The hashes are read only now (up to 2 MiB an intent): a page of intents that stay costs no memory.
          const hashes = await this.opts.outbox.intentHashes(it.id);
          if (hashes) await this.afterTokens(clearing, splitHashes(hashes), [it.id]);
          done++;
        } else if (it.ageMs >= INTENT_EXPIRY_MS && (await this.opts.outbox.dropIntent(it.id, it.created))) {
          done++;
        }
      }
      if (page.length < SWEEP_PAGE) return done;
    }
  }

  /**
   * Token hashes (hex) of committed batches whose events the outbox refused, oldest first (a Map keeps insertion
   * order), each with the generation it was last deferred at, and the clearing they came from; retried every
   * DEFER_RETRY_MS, when the next batch comes and at a stop, until the outbox takes them. A retry removes only what
   * was not deferred again while it ran (it read the token's state before that later batch: its trip's tap-out,
   * say). Bounded by MAX_DEFERRED_TOKENS: past it the oldest are dropped and logged (the node is unhealthy
   * meanwhile: the outbox's write fault, spec/clearing-api.md §2.10). A quicker path only: each batch's intent
   * stays in the outbox until its events are queued, and the sweep (sweepIntents) queues them too.
   */
  private readonly deferred = new Map<string, number>();
  private generation = 0;
  private deferredFrom: Clearing | undefined;
  private deferTimer: ReturnType<typeof setTimeout> | undefined;
  /** The retry running (one at a time: the timer, batches and stop() share it). */
  private retrying: Promise<void> | undefined;
  /** stop() was called: the timer is not armed again. */
  private stopping = false;

  private defer(clearing: Clearing, hashes: string[]): void {
    this.deferredFrom = clearing;
    let dropped = 0;
    for (const h of hashes) {
      // Moved to the end with a new generation (a batch tried again, a reader's retry, adds no entry).
      this.deferred.delete(h);
      this.deferred.set(h, ++this.generation);
      if (this.deferred.size > MAX_DEFERRED_TOKENS) {
        this.deferred.delete(this.deferred.keys().next().value as string);
        dropped++;
      }
    }
    if (dropped) this.opts.log?.(`webhooks: ${dropped} tokens' charge.complete events left to the intents' sweep: more than ${MAX_DEFERRED_TOKENS} wait for the outbox`);
    this.scheduleDeferred();
  }

  private scheduleDeferred(): void {
    if (this.deferTimer || this.stopping || !this.deferred.size) return;
    this.deferTimer = setTimeout(() => {
      this.deferTimer = undefined;
      if (this.stopping) return;
      void this.retryDeferred()
        .catch(() => undefined)
        .finally(() => this.scheduleDeferred());
    }, DEFER_RETRY_MS);
    this.deferTimer.unref?.();
  }

  /**
   * Queue the events of deferred tokens, oldest first, DEFER_CHUNK at a time; a refusal of the outbox is rethrown.
   * One retry at a time: a call while one runs gets that one.
   */
  retryDeferred(): Promise<void> {
    return (this.retrying ??= this.retryRound().finally(() => {
      this.retrying = undefined;
    }));
  }

  private async retryRound(): Promise<void> {
    while (this.deferred.size && this.deferredFrom) {
      const chunk: [string, number][] = [];
      for (const e of this.deferred) {
        chunk.push(e);
        if (chunk.length === DEFER_CHUNK) break;
      }
      await this.afterTokens(this.deferredFrom, new Set(chunk.map(([h]) => h)));
      // Only what no later batch deferred again meanwhile (its state was read before that batch).
      for (const [h, g] of chunk) if (this.deferred.get(h) === g) this.deferred.delete(h);
    }
  }

  /** Tokens whose events wait for the outbox (of committed batches whose events it refused). */
  get deferredCount(): number {
    return this.deferred.size;
  }

  /**
   * charge.complete of the tokens `hashes` (hex) that are now successful, and wallet.blocklisted as afterBatch;
   * the intents `settle` deleted in the same outbox write. Resolves to how many events were new.
   */
  private async afterTokens(clearing: Clearing, hashes: ReadonlySet<string>, settle: readonly string[] = []): Promise<number> {
    const now = this.clock();
    const events: NewOutboxEvent[] = [];
    const blocked = new Set<string>();
    // LOOKUPS_PER_BREATH tokens at a time, each wallet among them settled once (paymentFactsMany), other work let
    // run between the chunks.
    const all = [...hashes];
    const found: (PaymentFacts | undefined)[] = [];
    for (let i = 0; i < all.length; i += LOOKUPS_PER_BREATH) {
      if (i) await breathe();
      found.push(...(await clearing.paymentFactsMany(all.slice(i, i + LOOKUPS_PER_BREATH).map(fromHex))));
    }
    // One request, one settlement (spec/clearing.md M9): a batch that voids a request's settling sale (or brings an
    // earlier one) hands the request to another of its tokens, which no entry of this batch names. The tokens here
    // that do not settle (a void names its token: it is among them) name their request's settling token, once.
    // (A refunded token counts by its settlement too: voided after its refund, it settles no more.) The settlers are
    // looked up as the batch's own tokens are, LOOKUPS_PER_BREATH at a time, each wallet settled once per chunk: a
    // batch voiding the settling sale of many requests costs what a batch of as many sales does.
    const idle = all.filter((_, k) => found[k] && !found[k]!.settled);
    if (idle.length) {
      const named = new Set(all);
      const settlers: string[] = [];
      for (let i = 0; i < idle.length; i += LOOKUPS_PER_BREATH) {
        await breathe();
        for (const h of await clearing.requestSettlers(idle.slice(i, i + LOOKUPS_PER_BREATH).map(fromHex))) {
          const x = toHex(h);
          if (!named.has(x)) {
            named.add(x);
            settlers.push(x);
          }
        }
      }
      for (let i = 0; i < settlers.length; i += LOOKUPS_PER_BREATH) {
        await breathe();
        const chunk = settlers.slice(i, i + LOOKUPS_PER_BREATH);
        all.push(...chunk);
        found.push(...(await clearing.paymentFactsMany(chunk.map(fromHex))));
      }
    }
    for (const [k, h] of all.entries()) {
      const facts = found[k];
      if (!facts) continue;
      if (facts.blocked && facts.walletId !== undefined) blocked.add(facts.walletId);
      const st = paymentState(h, facts);
      if (st.state !== 'successful' && st.state !== 'refunded') continue;
      const id = eventId('charge.complete', h);
      const e = st.evidence.entry;
      const data = { tokenHash: h, amount: st.amount, currency: st.currency, operatorId: st.operatorId, settledAs: st.settledAs, walletBlocked: st.walletBlocked, entry: e ? { readerId: e.readerId, journalId: e.journalId, seq: e.seq, kind: e.kind, time: e.time } : null };
      events.push({ id, type: 'charge.complete', created: now, body: enc({ id, type: 'charge.complete', created: now, data }) });
    }
    // The batch's own blocked wallets (a double spend it completed); the whole blocklist only at catch-up (the
    // first look after a start), never per batch: a resent duplicate must not cost a read of every blocked wallet.
    const wallets = this.caughtUp ? [...blocked] : [...blocked, ...(await clearing.blockedWalletIds()).map(toHex)];
    const fresh = this.blockedEvents(wallets, now);
    const n = await this.queue([...events, ...fresh.events], settle);
    this.markQueued(fresh.wallets, !this.caughtUp);
    return n;
  }

  /**
   * After a refund was stored (accepted) or found held (duplicate; or a refund of the token held when another that
   * verifies was refused, the caller passing the held one): queue charge.refunded for its token, data
   * {tokenHash, amount (refunded, a decimal string), currency, operatorId, readerId, partial, time, acceptedAt}.
   * The id depends on the token alone, so a resent refund queues nothing new. Returns how many events were new.
   */
  async afterRefund(refund: RefundRecord): Promise<number> {
    const id = eventId('charge.refunded', refund.tokenHash);
    const created = this.clock();
    const data = {
      tokenHash: refund.tokenHash, amount: String(refund.amount), currency: refund.currency, operatorId: refund.operatorId, readerId: refund.readerId,
      partial: refund.partial, time: refund.time, acceptedAt: refund.acceptedAt,
    };
    return this.queue([{ id, type: 'charge.refunded', created, body: enc({ id, type: 'charge.refunded', created, data }) }]);
  }

  /**
   * At a blocklist check (at most once per check interval, after the over-allowance pass): compare the whole
   * clearing blocklist with the wallets this node queued, and queue wallet.blocklisted for the others (blocked
   * by an over-allowance pass, by hand, or by another node).
   */
  async afterBlocklist(clearing: Clearing): Promise<number> {
    const fresh = this.blockedEvents((await clearing.blockedWalletIds()).map(toHex), this.clock());
    const n = await this.queue(fresh.events);
    this.markQueued(fresh.wallets, true);
    return n;
  }

  /** wallet.blocklisted for each wallet (hex) not yet queued by this node. */
  private blockedEvents(wallets: readonly string[], now: number): { events: NewOutboxEvent[]; wallets: string[] } {
    const events: NewOutboxEvent[] = [];
    const fresh: string[] = [];
    for (const hex of new Set(wallets)) {
      if (this.blockedQueued.has(hex)) continue;
      fresh.push(hex);
      const id = eventId('wallet.blocklisted', hex);
      events.push({ id, type: 'wallet.blocklisted', created: now, body: enc({ id, type: 'wallet.blocklisted', created: now, data: { walletId: hex } }) });
    }
    return { events, wallets: fresh };
  }

  /**
   * Remember wallets as queued, only once the outbox holds their events (a failed write leaves them to be offered
   * again, by the resent batch or the next check); `whole`: that look covered the whole blocklist (catch-up done).
   */
  private markQueued(wallets: readonly string[], whole: boolean): void {
    for (const w of wallets) this.blockedQueued.add(w);
    if (whole) this.caughtUp = true;
  }

  private async queue(events: NewOutboxEvent[], settle: readonly string[] = []): Promise<number> {
    if (!events.length && !settle.length) return 0;
    const n = await this.opts.outbox.add(events, this.nowMs(), settle);
    if (n) this.kick();
    return n;
  }

  // ---- delivery worker -------------------------------------------------------------------------------

  /** Start the worker (it resumes every pending event of the outbox, e.g. after a restart). */
  start(): void {
    if (this.running) return;
    this.running = true;
    this.stopping = false;
    this.scheduleDeferred();
    this.loop = this.run();
  }

  /** Wake the worker now. */
  kick(): void {
    if (this.wake) this.wake();
    else this.kicked = true;
  }

  /** Stop the worker: abort a delivery in flight (it stays pending) and wait for the loop to end. */
  async stop(): Promise<void> {
    this.stopping = true;
    if (this.deferTimer) clearTimeout(this.deferTimer);
    this.deferTimer = undefined;
    // A last try for the events of committed batches the outbox refused (after the one running, if any); what is
    // still refused stays in the batches' intents for the next start's sweep.
    await this.retrying?.catch(() => undefined);
    await this.retryDeferred().catch(() => undefined);
    if (this.deferred.size) this.opts.log?.(`webhooks: stopping with ${this.deferred.size} tokens' charge.complete events the outbox never took (their intents stay: the next start queues them)`);
    this.running = false;
    this.inflight?.abort();
    this.kick();
    await this.loop;
  }

  private async run(): Promise<void> {
    while (this.running) {
      let wait = this.o.pollMs;
      this.kicked = false;
      try {
        const may = this.opts.mayDeliver ? await this.opts.mayDeliver() : true;
        if (may === this.barred) {
          this.barred = !may;
          this.opts.log?.(may ? 'webhook worker: delivering again (the configuration is this node\'s)' : 'webhook worker: NOT DELIVERING: this node\'s webhook URL or secret is no longer the clearing house\'s (reconfigured by another node); events are still queued; restart this node with the house\'s configuration');
        }
        if (may) await this.pruneRound();
        const due = may ? await this.opts.outbox.due(this.nowMs(), CLAIM_BATCH) : [];
        for (const e of due) {
          if (!this.running) return;
          // Another node may have taken the event since the claim (its lease ended while earlier ones were tried).
          if (!(await this.opts.outbox.hold(e.id))) continue;
          await this.deliver(e.id, e.body, e.type, e.attempts);
        }
        if (due.length) continue;
        if (!may) throw new Barred();
        // Nothing claimable: sleep until the next try is due, at most pollMs. A next_at already past means
        // another node holds that event (a shared outbox): look again after pollMs, when its lease may have ended.
        const next = await this.opts.outbox.nextDue();
        const now = this.nowMs();
        if (next !== undefined) wait = next > now ? Math.min(this.o.pollMs, next - now) : this.opts.outbox.leaseMs === undefined ? 0 : this.o.pollMs;
      } catch (e) {
        // The outbox is unreachable (a PostgreSQL restart, a full disk): nothing was marked; look again after pollMs.
        if (!this.running) return;
        if (!(e instanceof Barred)) this.opts.log?.(`webhook worker: ${(e as Error).message}; again in ${this.o.pollMs} ms`);
      }
      if (this.kicked) continue;
      await new Promise<void>((resolve) => {
        this.wake = resolve;
        this.timer = setTimeout(resolve, wait);
      });
      clearTimeout(this.timer);
      this.wake = undefined;
    }
  }

  /**
   * When due, one round of pruning: up to PRUNE_BATCH delivered charge events older than the retention; the next
   * round follows at once while rounds are full, else after PRUNE_EVERY_MS. A failure waits for the next round.
   */
  private async pruneRound(): Promise<void> {
    const now = this.nowMs();
    if (now < this.pruneAt) return;
    this.pruneAt = now + PRUNE_EVERY_MS;
    const n = await this.opts.outbox.prune(Math.floor(now / 1000) - this.o.retentionDays * 86_400, PRUNE_BATCH);
    if (n === PRUNE_BATCH) this.pruneAt = now;
    if (n) this.opts.log?.(`webhook outbox: pruned ${n} delivered charge events older than ${this.o.retentionDays} days`);
  }

  /** One try of one event; records the outcome in the outbox. */
  private async deliver(id: string, body: Uint8Array, type: string, attemptsBefore: number): Promise<void> {
    const attempts = attemptsBefore + 1;
    let error: string | undefined;
    this.inflight = new AbortController();
    const timeout = setTimeout(() => this.inflight?.abort(), this.o.requestTimeoutMs);
    try {
      const r = await this.doFetch(this.url, {
        method: 'POST',
        redirect: 'manual',
        signal: this.inflight.signal,
        headers: {
          'content-type': 'application/json',
          'user-agent': 'offpay-clearing-webhooks/1',
          'offpay-event-id': id,
          'offpay-event-type': type,
          'idempotency-key': id,
          'offpay-signature': webhookSignatureHeader(this.opts.secret, this.clock(), body, nodeHmacSha256),
        },
        body: body as Uint8Array<ArrayBuffer>,
      });
      await r.body?.cancel().catch(() => undefined);
      error = r.status >= 200 && r.status < 300 ? undefined : `HTTP ${r.status}`;
    } catch (e) {
      if (!this.running) return; // stopping: the event stays pending, untouched
      // fetch says only "fetch failed"; the cause says why (a code such as ECONNREFUSED, else its message).
      const cause = (e as { cause?: { code?: string; message?: string } }).cause;
      const why = cause?.code ?? cause?.message;
      error = `${(e as Error).name === 'AbortError' ? `no answer within ${this.o.requestTimeoutMs} ms` : (e as Error).message}${why ? ` (${why})` : ''}`;
    } finally {
      clearTimeout(timeout);
      this.inflight = undefined;
    }
    if (error === undefined) {
      // Recorded outside the try: an outbox error here is not a failed try (the loop logs it; the event stays
      // pending and is delivered again: at least once).
      const kept = await this.opts.outbox.delivered(id, attempts);
      this.opts.log?.(`webhook ${type} ${id} delivered (try ${attempts})${kept ? '' : ', but its claim had passed to another node'}`);
      return;
    }
    const dead = attempts >= this.o.maxAttempts;
    const delay = Math.floor(backoffMs(attempts, this.o.baseDelayMs, this.o.maxDelayMs) * (0.5 + 0.5 * this.random()));
    if (!(await this.opts.outbox.failed(id, attempts, error, this.nowMs() + delay, dead))) {
      this.opts.log?.(`webhook ${type} ${id} try ${attempts} failed: ${error}; its claim passed to another node`);
      return;
    }
    this.opts.log?.(dead ? `webhook ${type} ${id} DEAD-LETTERED after ${attempts} tries: ${error}` : `webhook ${type} ${id} try ${attempts} failed: ${error}; next in ${delay} ms`);
  }
}
