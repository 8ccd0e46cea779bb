/**
 * `offpay clearing serve`: the clearing as an HTTP service (spec/clearing-api.md is normative), on node:http.
 *
 * Routes (version 1):
 *   POST /v1/batches            application/cbor reader-signed batch -> {outcome, reason, readerId, journalId, batchSeq}
 *   GET  /v1/readers/{id}       per journal: highest batch seq held contiguously from 1, and its last entry seq
 *   GET  /v1/blocklist          newest signed blocklist (application/cbor), strong ETag, If-None-Match -> 304
 *   GET  /v1/keyset             issuer-signed key set (message 9, application/cbor), strong ETag, If-None-Match -> 304
 *   GET  /v1/payments/{hash}    payment state in the card gateway's terms (payments.ts)
 *   POST /v1/refunds            application/cbor merchant-signed refund (message 10) -> {outcome, reason, refund}
 *   GET  /v1/refunds            operator only: the refunds held (the issuer's credit list), a page at a time, totals, problems
 *   GET  /v1/report             operator only (Bearer credential, operator.ts): Clearing.report()
 *   GET  /v1/webhooks           operator only: outbox counts and the dead-lettered events (webhooks.ts)
 *   GET  /v1/stats              operator only: this node's batches answered and conflict retries since it started
 *   GET  /v1/health             for a load balancer: 200 when this node can settle, else 503 (health.ts)
 * Everything but the report and the refund list authenticates itself by signatures (the batch and the refund by a
 * reader certificate chained to the issuer and the reader's signature; the blocklist by the issuer's), so no
 * password is needed.
 *
 * Bounds: URL <= 2048 bytes (414), headers <= 8 KiB (431 by node), headers within 10 s, a body within
 * bodyTimeoutMs (408), a batch body <= the clearing's maxBatchBytes before and while it is read (413,
 * body.ts), and the bodies of all requests together <= maxInflightBytes until they are answered (503
 * api.busy). Every error is JSON {error: {code, message}} with a stable code (spec/clearing-api.md §4); an
 * exception inside a handler is a 500 api.internal, never a crash.
 *
 * The answer to a batch is written only after Clearing.ingest resolved, i.e. after its transaction committed
 * (SQLite synchronous = FULL; PostgreSQL COMMIT): an acknowledged batch survives a kill -9 of the server.
 */
import { createHash } from 'node:crypto';
import { createServer, type IncomingMessage, type Server, type ServerOptions, type ServerResponse } from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import type { Socket } from 'node:net';
import type { Clearing } from '../clearing/clearing.js';
import { refundRecord } from '../clearing/refunds.js';
import { PgClearingStore } from '../clearing/store-pg.js';
import { WRITE_FAULT_HOLD_MS } from '../clearing/store.js';
import { fromHex, toHex } from '../../base/hex.js';
import { OffpayError } from '../../base/errors.js';
import type { Issuer } from '../issuer.js';
import { KEYSET_MAX_FUTURE_SECONDS, signKeySet } from '../keyset.js';
import { MAX_REFUND_BYTES } from '../refund.js';
import { BodyBudget, BUSY_RETRY_SECONDS, HttpError, readBody } from './body.js';
import { checkBearer } from './operator.js';
import { createHealthCheck, HEALTH_REUSE_MS } from './health.js';
import { paymentState } from './payments.js';
import { encodeRefundCursor, parseRefundQuery } from './refund-list.js';
import { checkTlsMaterial, type TlsMaterial } from './tls.js';
import { INTENT_SWEEP_MS, type WebhookService } from './webhooks.js';

export const MAX_URL_BYTES = 2048;
export const MAX_HEADER_BYTES = 8192;
/**
 * Requests one connection may have in flight (received, not yet answered): a client that pipelines more is
 * disconnected. Readers send one at a time; without a bound, requests pipelined behind a slow one (a batch
 * waiting for the database) each became a live handler, without limit (spec/clearing-api.md §3).
 */
export const MAX_PIPELINED = 16;
/** Requests in flight on all connections together; past it a request is answered 503 api.busy (§3). */
export const MAX_INFLIGHT_REQUESTS = 4096;
/**
 * A connection whose answer the client has not read for this long is closed (§3): a client that sends requests and
 * never reads would otherwise hold its socket and the kernel's buffers for ever.
 */
export const WRITE_STALL_MS = 60_000;

/** Where a request that asked `Expect: 100-continue` keeps the function that sends `100 Continue`. */
const CONTINUE = Symbol('offpay.continue');

/** Fixed messages for requests node's parser refuses (its own error names are not for clients). */
const CLIENT_ERRORS: Record<number, { code: string; reason: string; message: string }> = {
  400: { code: 'api.bad_request', reason: 'Bad Request', message: 'the request is not well-formed HTTP/1.1' },
  408: { code: 'api.request_timeout', reason: 'Request Timeout', message: 'the request did not arrive within the deadline' },
  431: { code: 'api.headers_too_large', reason: 'Request Header Fields Too Large', message: `the request line and headers are over ${MAX_HEADER_BYTES} bytes` },
};

export interface ClearingServerOptions {
  clearing: Clearing;
  /** The issuer (with its secret keys): signs the blocklists the server hands out. */
  issuer: Issuer;
  /** Operator credential, 64 hex digits (operator.ts). */
  operatorToken: string;
  /** Deadline for a whole request body, ms (default 30,000; 100 .. 600,000). */
  bodyTimeoutMs?: number;
  /** Deadline for the request headers, ms (default 10,000; 100 .. 600,000). */
  headersTimeoutMs?: number;
  /**
   * Bytes of request bodies held at once, all requests together (default 268,435,456 = 256 MiB; at least the
   * clearing's maxBatchBytes, at most 2^34): past it a body is answered 503 api.busy (body.ts, BodyBudget).
   */
  maxInflightBytes?: number;
  /**
   * The budget itself, instead of maxInflightBytes: servers given the same one (an HTTP and an HTTPS listener of
   * one process, say) share it. Its max must be at least the clearing's maxBatchBytes.
   */
  bodyBudget?: BodyBudget;
  /** The over-allowance check (a settlement pass) runs at most once per this many seconds (default 60; 0 .. 86,400). */
  blocklistCheckSeconds?: number;
  /** A new blocklist version is signed at least this often even when nothing changed (default 3,600; 1 .. 86,400). */
  blocklistRefreshSeconds?: number;
  /**
   * PostgreSQL: how often the node checks that the house's recorded issuer key set and fee are still its own
   * (ms, default 2,000; 0 = never). Once another node replaced them (--replace-settings), this one answers
   * batches and refunds 503 clearing.settings_mismatch instead of settling by rules that are no longer the
   * house's (spec/clearing.md §11.2).
   */
  settingsCheckMs?: number;
  /**
   * GET /v1/health reuses a verdict this long, ms (default 1,000, 0..60,000: the database is read at most once in
   * it, whoever polls; spec/clearing-api.md §2.10).
   */
  healthReuseMs?: number;
  /** Signed webhooks (webhooks.ts): events are queued before the answer that caused them. */
  webhooks?: WebhookService;
  /** Serve HTTPS with this certificate chain and key (tls.ts, loadTlsMaterial); plain HTTP when absent. */
  tls?: TlsMaterial;
  clock?: () => number;
  log?: (line: string) => void;
}

function bounded(name: string, v: number | undefined, dflt: number, min: number, max: number): number {
  if (v === undefined) return dflt;
  if (!Number.isSafeInteger(v) || v < min || v > max) throw new OffpayError('api.bad_option', `${name} ${String(v)} must be an integer in ${min}..${max}`);
  return v;
}

/** Strong ETag of a body: the first 16 bytes of its SHA-256, quoted. */
export function etagOf(bytes: Uint8Array): string {
  return `"${createHash('sha256').update(bytes).digest('hex').slice(0, 32)}"`;
}

/** If-None-Match matches (RFC 9110 §13.1.2: weak comparison, `*` matches any). */
function notModified(req: IncomingMessage, etag: string): boolean {
  const h = req.headers['if-none-match'];
  if (!h) return false;
  return h.split(',').some((t) => {
    const x = t.trim();
    return x === '*' || x === etag || x === `W/${etag}`;
  });
}

const jsonReplacer = (_k: string, v: unknown): unknown => (typeof v === 'bigint' ? v.toString() : v instanceof Uint8Array ? toHex(v) : v);

function send(res: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}, close = false): void {
  const text = JSON.stringify(body, jsonReplacer);
  res.writeHead(status, { 'content-type': 'application/json; charset=utf-8', 'cache-control': 'no-store', ...(close ? { connection: 'close' } : {}), ...headers });
  res.end(text, () => {
    if (close) res.req.destroy();
  });
}

function sendError(res: ServerResponse, e: HttpError, headers: Record<string, string> = {}): void {
  send(res, e.status, { error: { code: e.code, message: e.message } }, { ...e.headers, ...headers }, e.close);
}

/** Default of ClearingServerOptions.maxInflightBytes: 256 MiB. */
export const DEFAULT_MAX_INFLIGHT_BYTES = 256 * 1024 * 1024;

function sendBytes(req: IncomingMessage, res: ServerResponse, bytes: Uint8Array, extra: Record<string, string>): void {
  const etag = etagOf(bytes);
  const headers = { etag, 'cache-control': 'no-cache', ...extra };
  if (notModified(req, etag)) {
    res.writeHead(304, headers);
    res.end();
    return;
  }
  res.writeHead(200, { ...headers, 'content-type': 'application/cbor', 'content-length': String(bytes.length) });
  res.end(req.method === 'HEAD' ? undefined : bytes);
}

/** The blocklist the server hands out and when it signs a new version (spec/clearing-api.md §2.4). */
class BlocklistIssuer {
  private held: { bytes: Uint8Array; version: number; issuedAt: number; setDigest: string } | undefined;
  private checkedAt = Number.NEGATIVE_INFINITY;
  constructor(
    private readonly clearing: Clearing,
    private readonly issuer: Issuer,
    private readonly checkSeconds: number,
    private readonly refreshSeconds: number,
    private readonly webhooks: WebhookService | undefined,
  ) {}

  private pending: Promise<Uint8Array> | undefined;

  /** The list to hand out; concurrent requests share one check (and at most one new version). */
  current(now: number): Promise<Uint8Array> {
    if (this.held && now - this.checkedAt < this.checkSeconds && now - this.held.issuedAt < this.refreshSeconds) return Promise.resolve(this.held.bytes);
    this.pending ??= this.refresh(now).finally(() => (this.pending = undefined));
    return this.pending;
  }

  private async refresh(now: number): Promise<Uint8Array> {
    this.checkedAt = now;
    await this.clearing.blockOverAllowance(now);
    await this.webhooks?.afterBlocklist(this.clearing);
    const h = createHash('sha256');
    for (const id of await this.clearing.blockedWalletIds()) h.update(id);
    const setDigest = h.digest('hex');
    if (this.held && this.held.setDigest === setDigest && now - this.held.issuedAt < this.refreshSeconds) return this.held.bytes;
    const r = await this.clearing.issueBlocklist(this.issuer, now);
    this.held = { bytes: r.bytes, version: r.version, issuedAt: now, setDigest };
    return r.bytes;
  }
}

/** What a node of an upgraded database answers (clearing.schema_changed), without naming the database. */
const SCHEMA_CHANGED = 'a newer offpay upgraded the clearing database: this node may no longer write to it; upgrade it and restart it';

/**
 * The signed key set served at GET /v1/keyset (spec/clearing-api.md §2.3): the issuer's key set signed at start
 * with its OLDEST valid key (lowest index valid now), the one readers provisioned before a rotation hold.
 */
export function signedKeySetOf(issuer: Issuer, now: number): Uint8Array {
  return signKeySetNow(issuer, now).bytes;
}

/**
 * {@link signedKeySetOf} with the signing key's end: a verifier refuses the set once that key has ended (spec/protocol.md
 * §4.4 step 6). With `margin`, the oldest key valid now that is still valid `margin` seconds from now, if any (a
 * reader whose clock runs up to `margin` ahead must not see the key as ended); else the oldest valid now.
 */
function signKeySetNow(issuer: Issuer, now: number, margin = 0): { bytes: Uint8Array; signerEnds: number } {
  const valid = issuer.keys.filter((k) => k.notBefore <= now && now <= k.notAfter).sort((a, b) => a.keyIndex - b.keyIndex);
  const signer = valid.find((k) => now + margin <= k.notAfter) ?? valid[0];
  if (!signer) throw new OffpayError('api.no_issuer_key', `no issuer key is valid at ${now}: the key set cannot be signed`);
  return { bytes: signKeySet(signer, issuer.keySet(), now).bytes, signerEnds: signer.notAfter };
}

type Handler = (req: IncomingMessage, res: ServerResponse, m: RegExpExecArray) => Promise<void> | void;

export function createClearingServer(o: ClearingServerOptions): Server {
  const bodyTimeoutMs = bounded('bodyTimeoutMs', o.bodyTimeoutMs, 30_000, 100, 600_000);
  const headersTimeoutMs = bounded('headersTimeoutMs', o.headersTimeoutMs, 10_000, 100, 600_000);
  if (o.bodyBudget && o.maxInflightBytes !== undefined) throw new OffpayError('api.bad_option', 'give maxInflightBytes or bodyBudget, not both');
  const budget = o.bodyBudget ?? new BodyBudget(bounded('maxInflightBytes', o.maxInflightBytes, Math.max(DEFAULT_MAX_INFLIGHT_BYTES, o.clearing.maxBatchBytes), o.clearing.maxBatchBytes, 2 ** 34));
  if (budget.max < o.clearing.maxBatchBytes) throw new OffpayError('api.bad_option', `the body budget (${budget.max} bytes) is less than the clearing's largest batch (${o.clearing.maxBatchBytes} bytes)`);
  const lists = new BlocklistIssuer(
    o.clearing,
    o.issuer,
    bounded('blocklistCheckSeconds', o.blocklistCheckSeconds, 60, 0, 86_400),
    bounded('blocklistRefreshSeconds', o.blocklistRefreshSeconds, 3_600, 1, 86_400),
    o.webhooks,
  );
  if (o.issuer.issuerId !== o.clearing.issuerKeys.issuerId) throw new OffpayError('clearing.wrong_issuer', `issuer ${o.issuer.issuerId} is not the clearing's issuer ${o.clearing.issuerKeys.issuerId}`);
  if (!/^[0-9a-f]{64}$/.test(o.operatorToken)) throw new OffpayError('api.bad_operator_token', 'the operator credential must be 64 lower-case hex digits');
  const clock = o.clock ?? (() => Math.floor(Date.now() / 1000));
  // GET /v1/stats: this node's counters since it started (spec/clearing-api.md §2.7).
  const startedAt = clock();
  const answered = { ingested: 0, duplicate: 0, rejected: 0 };
  // Signed at start, and again once its signing key is within KEYSET_MAX_FUTURE_SECONDS of its end (a reader clock
  // may run that far ahead, and readers refuse a set whose key has ended), by the oldest key that is not ending,
  // when there is one; with no key valid at all, the old bytes are served and readers refuse them.
  let keyset = signKeySetNow(o.issuer, clock(), KEYSET_MAX_FUTURE_SECONDS);
  const currentKeySet = (): Uint8Array => {
    // A node whose house settings were replaced serves no key set (it would sign its old one afresh: a rollback).
    refuseIfStale();
    const now = clock();
    if (now + KEYSET_MAX_FUTURE_SECONDS > keyset.signerEnds) {
      try {
        const next = signKeySetNow(o.issuer, now, KEYSET_MAX_FUTURE_SECONDS);
        if (next.signerEnds !== keyset.signerEnds || now > keyset.signerEnds) keyset = next;
      } catch {
        // no issuer key valid now: nothing can be signed
      }
    }
    return keyset.bytes;
  };
  // House settings (PostgreSQL, several nodes): a node whose key set or fee the house replaced stops settling.
  const settingsCheckMs = bounded('settingsCheckMs', o.settingsCheckMs, 2_000, 0, 3_600_000);
  /** Set once the house's settings or schema are no longer this node's: what it answers batches and refunds. */
  let stale: HttpError | undefined;
  // GET /v1/health: whether this node can settle now (its database answers, its settings are the house's). The
  // database is read at most once a second whoever polls, and not again while a read is out (for up to 10 s,
  // health.ts); the settings check below reads through it too. A failed read is logged once, not once per poll.
  // A database that can be read but refused this node's last write for good (a read-only file or standby, a full
  // disk: ClearingStore.writeFault) is not healthy either: while the fault stands, each read also tries a write
  // that is rolled back, and the node is healthy again once one goes through.
  const health = createHealthCheck(async () => {
    const current = await o.clearing.settingsCurrent();
    if (o.clearing.store.writeFault !== undefined) await o.clearing.store.writeProbe();
    // The webhook outbox (its own database): a batch whose events it refused was answered 503 too.
    const hooks = o.webhooks?.outbox.writeFault;
    if (hooks && Date.now() - hooks.atMs < WRITE_FAULT_HOLD_MS) {
      throw new OffpayError('clearing.store_unavailable', `the webhook outbox refused a write ${Math.round((Date.now() - hooks.atMs) / 1000)} s ago (${hooks.code})`, { write: true, code: hooks.code });
    }
    return current;
  }, {
    reuseMs: bounded('healthReuseMs', o.healthReuseMs, HEALTH_REUSE_MS, 0, 60_000),
    onFailure: (f) => {
      if (f.code === 'clearing.store_unavailable') o.log?.(`health: database unavailable: ${f.detail ?? f.message}`);
    },
  });
  const checkSettings = (): void => {
    void health().then((h) => {
      if (h.ok) stale = undefined;
      else if (h.code === 'clearing.settings_mismatch') {
        if (!stale) o.log?.('the clearing house\'s issuer key set or fee is no longer this node\'s: refusing batches and refunds (restart it with the house\'s settings)');
        stale = new HttpError(503, h.code, "this node's issuer key set or fee is no longer the clearing house's (another node replaced them): restart it with the house's settings", true, { 'retry-after': '1' });
      } else if (h.code === 'clearing.schema_changed') {
        if (!stale) o.log?.('a newer offpay upgraded the clearing database: refusing batches and refunds (upgrade this node and restart it)');
        stale = new HttpError(503, h.code, SCHEMA_CHANGED, true, { 'retry-after': '1' });
      } // the database unreachable: the requests say so themselves
    });
  };
  const settingsTimer = o.clearing.store.engine === 'postgres' && settingsCheckMs > 0 ? setInterval(checkSettings, settingsCheckMs) : undefined;
  settingsTimer?.unref();
  // Intents a process that died left in the outbox: at start and every INTENT_SWEEP_MS (webhooks.ts sweepIntents).
  const sweep = (): void => {
    o.webhooks?.sweepIntents(o.clearing).catch((e: unknown) => o.log?.(`webhook intents: ${(e as Error).message}`));
  };
  const sweepTimer = o.webhooks ? setInterval(sweep, INTENT_SWEEP_MS) : undefined;
  sweepTimer?.unref();
  if (o.webhooks) setImmediate(sweep);
  const refuseIfStale = (): void => {
    if (stale) throw stale;
  };

  // The payment index is built once, from now (async on PostgreSQL); payment lookups wait for it, and a failed
  // build is theirs and is tried again by the next lookup (Clearing.indexPayments).
  o.clearing.indexPayments().catch(() => {});

  /** Read a body within the in-flight budget, answer with `answer`, and give the body's bytes back after it. */
  const withBody = async (req: IncomingMessage, maxBytes: number, tooLargeCode: string, answer: (bytes: Uint8Array) => Promise<void>): Promise<void> => {
    // Expect: 100-continue: the route, method and type passed; readBody sends the 100 once the declared length
    // has too (a body over the limit is refused without it: the client then never sends the body).
    const bytes = await readBody(req, maxBytes, bodyTimeoutMs, tooLargeCode, budget, (req as IncomingMessage & { [CONTINUE]?: () => void })[CONTINUE]);
    try {
      await answer(bytes); // the ingest (or refund) works on the bytes until it has answered
    } finally {
      budget.give(bytes.length);
    }
  };
  const postBatch: Handler = async (req, res) => {
    const type = (req.headers['content-type'] ?? '').split(';')[0]!.trim().toLowerCase();
    if (type !== 'application/cbor') throw new HttpError(415, 'api.unsupported_media_type', 'a batch is sent as application/cbor', true);
    refuseIfStale();
    await withBody(req, o.clearing.maxBatchBytes, 'clearing.too_large', (bytes) => ingestAndAnswer(res, bytes));
  };
  const ingestAndAnswer = async (res: ServerResponse, bytes: Uint8Array): Promise<void> => {
    // Resolves after the commit. With webhooks, the batch's events are queued (durably) before the answer, and an
    // intent written before the commit keeps them should this process die in between (spec/clearing-api.md §9.2).
    const r = o.webhooks ? await o.webhooks.ingestBatch(o.clearing, bytes) : await o.clearing.ingest(bytes);
    const answer = {
      outcome: r.outcome,
      reason: r.error?.code ?? null,
      readerId: r.readerId ?? null,
      journalId: r.journalId ?? null,
      batchSeq: r.batchSeq ?? null,
      entries: r.entries,
      alreadyHeld: r.alreadyHeld,
      invalidTokens: r.invalidTokens,
      doubleSpends: r.doubleSpends,
      readerFaults: r.readerFaults,
      ...(r.error ? { error: r.error } : {}),
    };
    answered[r.outcome]++;
    const status = r.outcome !== 'rejected' ? 200 : r.error?.code === 'clearing.too_large' || r.error?.code === 'clearing.too_many_entries' ? 413 : 422;
    o.log?.(`batch reader ${r.readerId ?? '?'} journal ${r.journalId ?? '?'} #${r.batchSeq ?? '?'}: ${r.outcome}${r.error ? ` ${r.error.code}` : ''}`);
    send(res, status, answer);
  };
  const getReader: Handler = async (_req, res, m) => {
    // Canonical decimal only (no sign, no leading zero, no other base), as every reader id is written.
    const id = /^(0|[1-9][0-9]{0,9})$/.test(m[1]!) ? Number(m[1]) : NaN;
    if (!(id <= 0xffffffff)) throw new HttpError(400, 'api.bad_reader_id', 'a reader id is a decimal integer 0 .. 4294967295 without sign or leading zeros');
    send(res, 200, { readerId: id, journals: await o.clearing.heldBatches(id) });
  };
  const getPayment: Handler = async (_req, res, m) => {
    const hex = m[1]!;
    if (!/^[0-9a-f]{64}$/.test(hex)) throw new HttpError(400, 'api.bad_token_hash', 'a token hash is 64 lower-case hex digits (SHA-256 of the token bytes)');
    await o.clearing.indexPayments();
    const facts = await o.clearing.paymentFacts(fromHex(hex));
    if (!facts) throw new HttpError(404, 'api.unknown_payment', 'clearing holds no entry naming this token: not uploaded yet, or never taken');
    send(res, 200, paymentState(hex, facts));
  };
  const postRefund: Handler = async (req, res) => {
    const type = (req.headers['content-type'] ?? '').split(';')[0]!.trim().toLowerCase();
    if (type !== 'application/cbor') throw new HttpError(415, 'api.unsupported_media_type', 'a refund is sent as application/cbor', true);
    refuseIfStale();
    // At most 4,096 bytes, checked before and while the body is read (413 cbor.too_large, as for batches).
    await withBody(req, MAX_REFUND_BYTES, 'cbor.too_large', (bytes) => refundAndAnswer(res, bytes));
  };
  const refundAndAnswer = async (res: ServerResponse, bytes: Uint8Array): Promise<void> => {
    const r = await o.clearing.refund(bytes); // resolves after the store committed
    // Queued durably before the answer, like a batch's events; a duplicate re-derives the same id. So is the HELD
    // refund's event whatever the verdict on a refund that verifies (W1, spec/clearing-api.md §9.1): a refund
    // stored whose event the outbox refused (503) may come back signed anew (other bytes: 409), or refused for a
    // reason of its own (a charge that fell since: 422), and the event id is the token's alone. Not for bytes that
    // do not verify (`tokenHash` absent): anyone could then queue a pruned event again.
    if (o.webhooks) {
      let held = r.refund;
      if (!held && r.tokenHash) {
        const row = await o.clearing.store.refundOf(fromHex(r.tokenHash));
        if (row) held = refundRecord(row);
      }
      if (held) await o.webhooks.afterRefund(held);
    }
    const status = r.outcome !== 'rejected' ? 200 : r.reason === 'refund.already_refunded' ? 409 : 422;
    o.log?.(`refund ${r.tokenHash ?? '?'}: ${r.outcome}${r.reason ? ` ${r.reason}` : ''}`);
    send(res, status, {
      outcome: r.outcome,
      reason: r.reason,
      tokenHash: r.tokenHash ?? null,
      refund: r.refund ?? null,
      ...(r.outcome === 'rejected' ? { error: { code: r.reason, message: r.message ?? '' } } : {}),
    });
  };
  const getRefunds: Handler = async (req, res) => {
    if (!operator(req, res, 'the refund list')) return;
    // Keyset paging (refund-list.ts, spec/clearing-api.md §2.9): one LIMIT query in the store per page.
    const q = parseRefundQuery((req.url ?? '').split('?').slice(1).join('?'));
    const r = await o.clearing.refundPage(q.after, q.limit);
    const cursor = (seq: number | undefined) => (seq === undefined ? null : encodeRefundCursor(seq));
    send(res, 200, { refunds: r.refunds, next: cursor(r.nextAfter), last: cursor(r.lastSeq), totals: r.totals, problems: r.problems });
  };
  /** The operator credential of an operator endpoint (spec/clearing-api.md §7): false after answering 401. */
  const operator = (req: IncomingMessage, res: ServerResponse, what: string): boolean => {
    if (checkBearer(req.headers.authorization, o.operatorToken)) return true;
    sendError(res, new HttpError(401, 'api.unauthorized', `${what} needs the operator credential (Authorization: Bearer ...)`), { 'www-authenticate': 'Bearer realm="offpay-clearing"' });
    return false;
  };
  const getStats: Handler = (req, res) => {
    if (!operator(req, res, 'the node statistics')) return;
    const store = o.clearing.store;
    send(res, 200, {
      startedAt,
      engine: store.engine,
      poolSize: store instanceof PgClearingStore ? store.poolSize : null,
      batches: { ...answered },
      retries: store instanceof PgClearingStore ? store.retries : null,
    });
  };
  const getReport: Handler = async (req, res) => {
    if (!operator(req, res, 'the report')) return;
    send(res, 200, await o.clearing.report());
  };
  const getWebhooks: Handler = async (req, res) => {
    if (!operator(req, res, 'the webhook status')) return;
    if (!o.webhooks) throw new HttpError(404, 'api.not_found', 'webhooks are not configured on this server');
    const dead = (await o.webhooks.outbox.dead(100)).map((e) => ({ id: e.id, type: e.type, created: e.created, attempts: e.attempts, lastError: e.lastError }));
    send(res, 200, { url: o.webhooks.url.href, counts: await o.webhooks.outbox.counts(), intents: await o.webhooks.outbox.intentCount(), dead });
  };
  const getHealth: Handler = async (_req, res) => {
    const h = await health();
    if (!h.ok) throw new HttpError(503, h.code, h.message, false, { 'retry-after': '1' });
    send(res, 200, { status: 'ok', engine: o.clearing.store.engine });
  };
  const routes: { re: RegExp; methods: Record<string, Handler> }[] = [
    { re: /^\/v1\/health$/, methods: { GET: getHealth } },
    { re: /^\/v1\/webhooks$/, methods: { GET: getWebhooks } },
    { re: /^\/v1\/stats$/, methods: { GET: getStats } },
    { re: /^\/v1\/batches$/, methods: { POST: postBatch } },
    { re: /^\/v1\/readers\/([^/]*)$/, methods: { GET: getReader } },
    { re: /^\/v1\/blocklist$/, methods: { GET: async (req, res) => sendBytes(req, res, await lists.current(clock()), {}) } },
    { re: /^\/v1\/keyset$/, methods: { GET: (req, res) => sendBytes(req, res, currentKeySet(), {}) } },
    { re: /^\/v1\/payments\/([^/]*)$/, methods: { GET: getPayment } },
    { re: /^\/v1\/refunds$/, methods: { GET: getRefunds, POST: postRefund } },
    { re: /^\/v1\/report$/, methods: { GET: getReport } },
  ];

  const handle = async (req: IncomingMessage, res: ServerResponse): Promise<void> => {
    const target = req.url ?? '/';
    if (Buffer.byteLength(target) > MAX_URL_BYTES) throw new HttpError(414, 'api.url_too_long', `the URL is over ${MAX_URL_BYTES} bytes`, true);
    // The request line and header block as sent, separators included: node 20's parser counts only names and values
    // against maxHeaderSize (1,500 one-letter headers, about 13,900 bytes, passed it), later versions more.
    let headerBytes = (req.method ?? '').length + 1 + Buffer.byteLength(target) + 1 + 8 + 2;
    for (let i = 0; i + 1 < req.rawHeaders.length; i += 2) headerBytes += req.rawHeaders[i]!.length + 2 + req.rawHeaders[i + 1]!.length + 2;
    if (headerBytes > MAX_HEADER_BYTES) throw new HttpError(431, 'api.headers_too_large', `the request line and headers are over ${MAX_HEADER_BYTES} bytes`, true);
    // An absolute-form target (`GET http://host/v1/...`), which a server must accept (RFC 9112 §3.2.2): its path.
    const url = /^https?:\/\//i.test(target) ? target.replace(/^https?:\/\/[^/?#]*/i, '') || '/' : target;
    const path = url.split('?')[0]!;
    // A body announced either way (a length, or chunks: Transfer-Encoding).
    const announced = (req.headers['content-length'] !== undefined && req.headers['content-length'] !== '0') || req.headers['transfer-encoding'] !== undefined;
    for (const r of routes) {
      const m = r.re.exec(path);
      if (!m) continue;
      const method = req.method === 'HEAD' && r.methods.GET ? 'GET' : (req.method ?? '');
      const h = r.methods[method];
      if (!h) {
        // HEAD is answered wherever GET is (the same headers, no body).
        const allow = Object.keys(r.methods).flatMap((k) => (k === 'GET' ? ['GET', 'HEAD'] : [k]));
        sendError(res, new HttpError(405, 'api.method_not_allowed', `${req.method} is not allowed on ${path}`, true), { allow: allow.join(', ') });
        return;
      }
      // A body is refused on a GET or HEAD.
      if (method !== 'POST' && announced) throw new HttpError(400, 'api.bad_request', `${method} takes no body`, true);
      await h(req, res, m);
      return;
    }
    // With a body announced, the connection closes after the answer (the body is not read).
    throw new HttpError(404, 'api.not_found', `no such resource: ${path.slice(0, 200)}`, announced);
  };

  // connectionsCheckingInterval: how often node enforces headersTimeout and requestTimeout (default 30 s).
  const httpOptions: ServerOptions = { maxHeaderSize: MAX_HEADER_BYTES, headersTimeout: headersTimeoutMs, requestTimeout: bodyTimeoutMs + headersTimeoutMs, keepAliveTimeout: 5_000, connectionsCheckingInterval: 1_000 };
  if (o.tls) checkTlsMaterial(o.tls);
  // node:https takes the same request handling options; TLS handshakes must finish within the headers deadline.
  // The answers each connection owes. A response queued behind another is not closed when its socket goes (node
  // emits no 'close' for it), so a socket's close releases whatever it still owed: counted per response, the
  // global count leaked until every request was 503.
  const owed = new WeakMap<Socket, Set<ServerResponse>>();
  let inflight = 0;
  const listener = (req: IncomingMessage, res: ServerResponse): void => {
    const socket = req.socket;
    let mine = owed.get(socket);
    if (!mine) {
      const set = new Set<ServerResponse>();
      owed.set(socket, set);
      socket.once('close', () => {
        inflight -= set.size;
        set.clear();
      });
      mine = set;
    }
    if (mine.size >= MAX_PIPELINED || socket.destroyed) {
      socket.destroy();
      return;
    }
    mine.add(res);
    inflight++;
    const set = mine;
    res.once('close', () => {
      if (set.delete(res)) inflight--;
    });
    if (inflight > MAX_INFLIGHT_REQUESTS) {
      sendError(res, new HttpError(503, 'api.busy', `the server has ${MAX_INFLIGHT_REQUESTS} requests in flight; retry later`, true), { 'retry-after': String(BUSY_RETRY_SECONDS) });
      return;
    }
    // Expect: 100-continue is answered when the handler starts reading the body (readBody), after every check
    // that could refuse it (route, method, type, declared length): a refused body is never sent.
    handle(req, res).catch((e: unknown) => {
      if (res.headersSent) {
        res.destroy();
        return;
      }
      if (e instanceof HttpError) return sendError(res, e);
      // The database went away (a PostgreSQL restart or failover): nothing of this request was committed.
      if (e instanceof OffpayError && e.code === 'clearing.store_unavailable') {
        o.log?.(`database unavailable: ${e.message}`);
        return sendError(res, new HttpError(503, e.code, 'the clearing database is unavailable; try again', false), { 'retry-after': '1' });
      }
      // A newer offpay upgraded the database: the writer fence refused this node's entries, nothing was committed.
      if (e instanceof OffpayError && e.code === 'clearing.schema_changed') {
        o.log?.(e.message);
        return sendError(res, new HttpError(503, e.code, SCHEMA_CHANGED, false), { 'retry-after': '1' });
      }
      o.log?.(`internal error: ${(e as Error)?.stack ?? String(e)}`);
      sendError(res, new HttpError(500, 'api.internal', 'internal error', true));
    });
  };
  const server: Server = o.tls
    ? createHttpsServer({ ...httpOptions, cert: o.tls.cert, key: o.tls.key, minVersion: 'TLSv1.2', handshakeTimeout: headersTimeoutMs }, listener)
    : createServer(httpOptions, listener);
  // Malformed requests and oversized headers never reach a handler: answer (node's 400/431) and drop. A TLS
  // connection whose handshake never finished is dropped without a word (a plaintext answer would wait for the
  // handshake for ever, holding the socket and the server's close).
  server.on('clientError', (err: NodeJS.ErrnoException, socket: Socket) => {
    const tlsPending = (socket as { encrypted?: boolean }).encrypted === true && (socket as { _secureEstablished?: boolean })._secureEstablished !== true;
    if (!socket.writable || tlsPending || err.code?.startsWith('ERR_TLS') === true) return socket.destroy();
    const status = err.code === 'HPE_HEADER_OVERFLOW' ? 431 : err.code === 'ERR_HTTP_REQUEST_TIMEOUT' ? 408 : 400;
    const e = CLIENT_ERRORS[status]!;
    const body = JSON.stringify({ error: { code: e.code, message: e.message } });
    const reply = () => socket.end(`HTTP/1.1 ${status} ${e.reason}\r\ncontent-type: application/json\r\nconnection: close\r\ncontent-length: ${Buffer.byteLength(body)}\r\n\r\n${body}`);
    // A request before this one is still being answered (a batch being ingested, pipelined ahead): its answer
    // goes out first, then this error, then the connection closes. Written now, the error would be the only answer
    // on the wire to a batch that was committed.
    // Only when that request was whole: a body the client cut off (its side closed mid-body) is this error's own
    // request, whose answer would wait for a body that never comes.
    const pending = (socket as { _httpMessage?: ServerResponse | null })._httpMessage;
    if (pending && !pending.writableFinished && pending.req.complete) {
      pending.once('finish', reply);
      pending.once('close', () => {
        if (!pending.writableFinished) socket.destroy();
      });
      return;
    }
    reply();
  });
  // CONNECT is no method of this API: a JSON 405, then the connection closes (node hands it to no handler).
  server.on('connect', (_req: IncomingMessage, socket: Socket) => {
    const body = JSON.stringify({ error: { code: 'api.method_not_allowed', message: 'CONNECT is not allowed' } });
    socket.end(`HTTP/1.1 405 Method Not Allowed\r\ncontent-type: application/json\r\nconnection: close\r\ncontent-length: ${Buffer.byteLength(body)}\r\n\r\n${body}`);
  });
  // Expect: 100-continue: the request goes to the handler like any other; readBody sends 100 Continue when it
  // starts reading, after the checks that may refuse the body.
  server.on('checkContinue', (req: IncomingMessage, res: ServerResponse) => {
    (req as IncomingMessage & { [CONTINUE]?: () => void })[CONTINUE] = () => res.writeContinue();
    listener(req, res);
  });
  // A client that does not read its answer: closed once its socket has made no progress for WRITE_STALL_MS while
  // bytes wait to be sent (a socket waiting on the server, with nothing to send, is left alone). A listener here
  // stops node from closing timed-out sockets itself, and node's keep-alive timeout comes the same way: a socket
  // that owes no answer is closed too, as node would.
  const progress = new WeakMap<Socket, { written: number; atMs: number }>();
  server.setTimeout(WRITE_STALL_MS, (socket: Socket) => {
    if (socket.writableLength > 0) {
      // Bytes wait to be sent. Node also comes here at its keep-alive timeout (about 6 s) after a last answer
      // that is still being flushed: closed only after WRITE_STALL_MS without one byte of progress.
      const now = Date.now();
      const seen = progress.get(socket);
      if (seen && seen.written === socket.bytesWritten && now - seen.atMs >= WRITE_STALL_MS) return socket.destroy();
      if (!seen || seen.written !== socket.bytesWritten) progress.set(socket, { written: socket.bytesWritten, atMs: now });
      const since = progress.get(socket)!.atMs;
      socket.setTimeout(Math.max(1, since + WRITE_STALL_MS - now));
      return;
    }
    if (!owed.get(socket)?.size) socket.destroy();
  });
  // Every raw connection, for a stop that ends them all (closeAllConnections knows HTTP connections only, not
  // a TLS handshake in progress).
  const sockets = new Set<Socket>();
  server.on('connection', (socket: Socket) => {
    sockets.add(socket);
    socket.once('close', () => sockets.delete(socket));
  });
  const closeAll = server.closeAllConnections.bind(server);
  server.closeAllConnections = () => {
    closeAll();
    for (const socket of sockets) socket.destroy();
  };
  server.on('close', () => {
    clearInterval(settingsTimer);
    clearInterval(sweepTimer);
  });
  return server;
}
