/**
 * `offpay clearing serve` (the clearing as an HTTP service, src/server/api.ts) and `offpay reader sync`
 * (src/reader/sync.ts). spec/clearing-api.md is normative for both.
 */
import type { AddressInfo } from 'node:net';
import { clearingDbOption, openClearingAt, replaceSettingsOpt } from '../clearing-open.js';
import { OffpayError } from '../../../base/errors.js';
import { DEFAULT_MAX_BATCH_BYTES } from '../../clearing/batch-bytes.js';
import { isPostgresUrl } from '../../clearing/clearing.js';
import { DEFAULT_PG_POOL_SIZE, PgClearingStore } from '../../clearing/store-pg.js';
import { decodeIssuerKeySet } from '../../messages.js';
import { loadIssuer } from '../../node/files.js';
import { syncReader } from '../../reader/sync.js';
import { createClearingServer } from '../../server/api.js';
import { loadOrCreateOperatorToken, loadOrCreateSecretFile } from '../../server/operator.js';
import { SqliteWebhookOutbox, type WebhookOutbox } from '../../server/outbox.js';
import { DEFAULT_LEASE_MS, MIN_LEASE_MS, openPgWebhookOutbox } from '../../server/outbox-pg.js';
import { checkWebhookOptions, WebhookService } from '../../server/webhooks.js';
import { claimWebhookConfig, describeWebhookConfig, isCurrentWebhookConfig, webhookConfigOf } from '../../server/webhook-config.js';
import { loadTlsMaterial } from '../../server/tls.js';
import { caFetch, loadCaFile } from '../../node/tls-fetch.js';
import { parseNow, parseUint } from '../common.js';
import { EXIT_OK, UsageError, type Command } from '../framework.js';
import { isLoopback } from '../../loopback.js';
import { encodeIssuerKeySet } from '../../messages.js';
import { META_KEYSET, META_SIGNED_KEYSET, openReader, readerWithKeys } from '../reader-open.js';

const serve: Command = {
  name: 'clearing serve',
  summary: 'serve the clearing over HTTP: readers upload batches and fetch the blocklist, merchants query payments (spec/clearing-api.md)',
  usage: '--issuer ISSUER --db (CLEARING.db|postgres://...) [--host 127.0.0.1] [--port N] [--tls-cert F --tls-key F] [--operator-token-file F] [--webhook-url URL [--webhook-secret-file F] [--webhook-lease-ms MS]] [--webhook-reconfigure] [--replace-settings] [--pool-size N]',
  options: {
    issuer: { type: 'string', arg: 'ISSUER', help: 'issuer directory (with the secret keys: the server signs blocklists)' },
    db: { ...clearingDbOption, help: `${clearingDbOption.help}; several servers on one PostgreSQL database are one clearing house` },
    host: { type: 'string', arg: 'HOST', help: 'address to listen on', default: '127.0.0.1' },
    port: { type: 'string', arg: 'N', help: 'port (0 = any free port)', default: '8080' },
    'tls-cert': { type: 'string', arg: 'F', help: 'serve HTTPS: certificate chain, PEM (with --tls-key)' },
    'tls-key': { type: 'string', arg: 'F', help: 'serve HTTPS: private key of the certificate, PEM (with --tls-cert)' },
    'operator-token-file': { type: 'string', arg: 'F', help: 'operator credential (64 hex digits, mode 0600; created when missing; default CLEARING.db.operator-token)' },
    'webhook-url': { type: 'string', arg: 'URL', help: 'send signed events (charge.complete, wallet.blocklisted) to this http(s) URL' },
    'webhook-secret-file': { type: 'string', arg: 'F', help: 'webhook HMAC secret (64 hex digits, mode 0600; created when missing; default CLEARING.db.webhook-secret; required with PostgreSQL: the same file on every node)' },
    'webhook-max-attempts': { type: 'string', arg: 'N', help: 'tries per event before it is dead-lettered (default 20)' },
    'webhook-retry-base-ms': { type: 'string', arg: 'MS', help: 'first webhook retry delay, doubled per try with jitter (default 1000)' },
    'webhook-timeout-ms': { type: 'string', arg: 'MS', help: 'deadline of one webhook delivery (default 10000)' },
    'webhook-lease-ms': { type: 'string', arg: 'MS', help: 'PostgreSQL: how long a node\'s claim on an event holds before another node may take it (default 60000)' },
    'webhook-retention-days': { type: 'string', arg: 'N', help: 'days a delivered charge event stays in the outbox before it is pruned (default 30)' },
    'replace-settings': replaceSettingsOpt,
    'webhook-reconfigure': { type: 'boolean', help: 'make this node\'s webhook URL and secret (or no webhooks, without --webhook-url) the clearing house\'s, replacing the one the database records; stop every other node first' },
    'max-batch-bytes': { type: 'string', arg: 'N', help: 'largest batch accepted, bytes (default 8388608)' },
    'max-inflight-bytes': { type: 'string', arg: 'N', help: 'request bodies held at once, all requests together, bytes; past it 503 api.busy (default 268435456, at least --max-batch-bytes)' },
    'body-timeout-ms': { type: 'string', arg: 'MS', help: 'deadline for a whole request body (default 30000)' },
    'blocklist-check-seconds': { type: 'string', arg: 'S', help: 'over-allowance check at most this often (default 60)' },
    'pool-size': {
      type: 'string',
      arg: 'N',
      help: `PostgreSQL: connections of this node's clearing pool, so the batches it has in a transaction at once (default ${DEFAULT_PG_POOL_SIZE}, 1..100; fewer on a small house means fewer batches run again after a conflict, spec/clearing.md §11.2; with --webhook-url the outbox holds 2 more)`,
    },
  },
  details: `Prints "listening on http(s)://HOST:PORT" once it accepts connections, then serves until SIGINT or SIGTERM.
With --tls-cert and --tls-key it serves HTTPS (TLS 1.2 or later); a missing, oversized or non-PEM file, or a
key that is not the certificate's, is api.bad_tls (exit 2).
With --webhook-url, events wait in a durable outbox (CLEARING.db.webhooks; with PostgreSQL the table
webhook_events of the clearing database, shared by every node: each event is claimed by one node at a time,
and taken by another when the claim's lease ends) and are POSTed at least once,
signed "Offpay-Signature: t=..,v1=.." (HMAC-SHA256 of "t.body" with the secret file's 64 hex digits as key);
GET /v1/webhooks (operator credential) lists the outbox counts and dead-lettered events.
The clearing database records the house's webhook configuration (the URL and a SHA-256 fingerprint of the
secret, never the secret; or "no webhooks") when a node first serves it; a node started with another URL or
secret, with webhooks when the house has none, or without when it has, refuses to start (api.webhook_mismatch,
exit 2, naming what differs). To change it on purpose: stop every node, start one with --webhook-reconfigure
and the new --webhook-url/--webhook-secret-file (or no --webhook-url to turn webhooks off), then the others
with the same options (without --webhook-reconfigure). A node still running with the old configuration stops
delivering (it keeps queueing).
Every answer to POST /v1/batches is sent after the batch's database commit. GET /v1/report needs
"Authorization: Bearer <credential>" with the credential from the operator token file.`,
  async run(ctx) {
    const issuer = loadIssuer(ctx.need('issuer'));
    const db = ctx.need('db');
    const port = parseUint('port', ctx.opt('port'), 65_535)!;
    const maxBytes = parseUint('max-batch-bytes', ctx.opt('max-batch-bytes'), 1024 * 1024 * 1024);
    const bodyTimeoutMs = parseUint('body-timeout-ms', ctx.opt('body-timeout-ms'), 600_000);
    const maxInflightBytes = parseUint('max-inflight-bytes', ctx.opt('max-inflight-bytes'), 2 ** 34);
    const batchLimit = maxBytes ?? DEFAULT_MAX_BATCH_BYTES;
    if (maxInflightBytes !== undefined && maxInflightBytes < batchLimit) {
      throw new UsageError(`--max-inflight-bytes ${maxInflightBytes} is less than the largest batch (${batchLimit} bytes, --max-batch-bytes): such a batch could never be read`);
    }
    const check = parseUint('blocklist-check-seconds', ctx.opt('blocklist-check-seconds'), 86_400);
    const poolSize = parseUint('pool-size', ctx.opt('pool-size'), 100);
    const certPath = ctx.opt('tls-cert');
    const keyPath = ctx.opt('tls-key');
    if ((certPath === undefined) !== (keyPath === undefined)) throw new UsageError('--tls-cert and --tls-key go together');
    const tls = certPath !== undefined && keyPath !== undefined ? loadTlsMaterial(certPath, keyPath) : undefined;
    const scheme = tls ? 'https' : 'http';
    const pg = isPostgresUrl(db);
    if (poolSize !== undefined && !pg) throw new UsageError('--pool-size is for a PostgreSQL --db (a SQLite clearing has one connection)');
    if (poolSize === 0) throw new UsageError('--pool-size is at least 1');
    const tokenFile = ctx.opt('operator-token-file') ?? (pg ? undefined : `${db}.operator-token`);
    if (tokenFile === undefined) throw new UsageError('--operator-token-file is required with a PostgreSQL --db (every node of the clearing house reads the same credential)');
    const { token, created } = loadOrCreateOperatorToken(tokenFile);
    const webhookUrl = ctx.opt('webhook-url');
    const hookAttempts = parseUint('webhook-max-attempts', ctx.opt('webhook-max-attempts'), 100);
    const hookBase = parseUint('webhook-retry-base-ms', ctx.opt('webhook-retry-base-ms'), 3_600_000);
    const hookTimeout = parseUint('webhook-timeout-ms', ctx.opt('webhook-timeout-ms'), 120_000);
    const hookLease = parseUint('webhook-lease-ms', ctx.opt('webhook-lease-ms'), 3_600_000);
    const hookRetention = parseUint('webhook-retention-days', ctx.opt('webhook-retention-days'), 36_500);
    if (webhookUrl === undefined && (ctx.opt('webhook-secret-file') ?? hookAttempts ?? hookBase ?? hookTimeout ?? hookLease ?? hookRetention) !== undefined) throw new UsageError('the --webhook-* options need --webhook-url');
    if (hookLease !== undefined && !pg) throw new UsageError('--webhook-lease-ms is for a PostgreSQL --db (a SQLite outbox has one node, nothing to lease)');
    if (hookLease !== undefined && hookLease < MIN_LEASE_MS) throw new UsageError(`--webhook-lease-ms is at least ${MIN_LEASE_MS}`);
    // Every webhook option is checked before anything is created or recorded (the secret file, the house's
    // webhook configuration): a start refused for a bad option leaves the house as it was.
    if (webhookUrl !== undefined) {
      checkWebhookOptions({ url: webhookUrl, maxAttempts: hookAttempts, baseDelayMs: hookBase, requestTimeoutMs: hookTimeout, retentionDays: hookRetention, leaseMs: pg ? (hookLease ?? DEFAULT_LEASE_MS) : undefined });
    }
    // With PostgreSQL the outbox is shared by every node of the house, so every node must sign with the same
    // secret: its file is named explicitly, never derived from the URL.
    if (webhookUrl !== undefined && pg && ctx.opt('webhook-secret-file') === undefined) {
      throw new UsageError('--webhook-secret-file is required with a PostgreSQL --db (every node of the clearing house signs with the same secret)');
    }
    const secretFile = ctx.opt('webhook-secret-file') ?? `${db}.webhook-secret`;
    const secret = webhookUrl !== undefined ? loadOrCreateSecretFile(secretFile, 'api.bad_webhook_secret', 'webhook secret') : undefined;
    // The merchant is given the webhook secret (spec/clearing-api.md §9.4): were it the operator credential, the
    // merchant could read every wallet's payments (the report) and the refunds of every merchant.
    if (secret && secret.token === token) {
      throw new OffpayError('api.bad_webhook_secret', `the webhook secret (${secretFile}) is the operator credential (${tokenFile}): the merchant is given the webhook secret. Give --webhook-secret-file another file (a missing one is created)`);
    }
    const reconfigure = ctx.flag('webhook-reconfigure');
    const mine = webhookConfigOf(webhookUrl, secret?.token);
    const clearing = await openClearingAt(db, { issuerKeys: issuer.keySet(), ...(maxBytes !== undefined ? { maxBatchBytes: maxBytes } : {}), ...(ctx.flag('replace-settings') ? { replaceSettings: true } : {}), ...(poolSize !== undefined ? { poolSize } : {}) });
    let webhooks: WebhookService | undefined;
    let outbox: WebhookOutbox | undefined;
    try {
      // A database this node can read but not write (a read-only file, a standby) would answer 503 to every batch
      // while the node looked up: refused at the start instead (spec/clearing-api.md §2.10).
      await clearing.store.writeProbe();
      // One webhook configuration per house (spec/clearing-api.md §9.5): checked before the worker starts.
      const claim = await claimWebhookConfig(clearing.store, mine, {
        replace: reconfigure,
        ...(secret ? { hint: `this node's secret ${secret.created ? 'was created just now in' : 'is read from'} ${secretFile}` } : {}),
      });
      if (claim.outcome === 'replaced') ctx.out(`webhook configuration of the house replaced: ${claim.previous !== undefined ? describeWebhookConfig(claim.previous) : 'none recorded'} -> ${describeWebhookConfig(mine)}`);
      else if (claim.outcome === 'recorded') ctx.out(`webhook configuration of the house recorded: ${describeWebhookConfig(mine)}`);
      if (webhookUrl !== undefined && secret) {
        const pgOutbox = pg ? await openPgWebhookOutbox({ url: db, ...(hookLease !== undefined ? { leaseMs: hookLease } : {}) }) : undefined;
        outbox = pgOutbox ?? new SqliteWebhookOutbox(`${db}.webhooks`);
        webhooks = new WebhookService({
          url: webhookUrl,
          secret: secret.token,
          outbox,
          ...(hookAttempts !== undefined ? { maxAttempts: hookAttempts } : {}),
          ...(hookBase !== undefined ? { baseDelayMs: hookBase } : {}),
          ...(hookTimeout !== undefined ? { requestTimeoutMs: hookTimeout } : {}),
          ...(hookRetention !== undefined ? { retentionDays: hookRetention } : {}),
          mayDeliver: () => isCurrentWebhookConfig(clearing.store, mine),
          log: (l) => ctx.out(l),
        });
        webhooks.start(); // resumes what a previous run (or, with PostgreSQL, any node) left undelivered
        const where = pgOutbox ? `table webhook_events of ${pgOutbox.location}, node ${pgOutbox.node}, lease ${pgOutbox.leaseMs} ms` : `${db}.webhooks`;
        ctx.out(`webhooks to ${webhooks.url.href}, secret ${secret.created ? 'created in' : 'read from'} ${secretFile}, outbox ${where}`);
      }
      const server = createClearingServer({
        clearing,
        issuer,
        operatorToken: token,
        ...(tls ? { tls } : {}),
        ...(webhooks ? { webhooks } : {}),
        ...(bodyTimeoutMs !== undefined ? { bodyTimeoutMs } : {}),
        ...(maxInflightBytes !== undefined ? { maxInflightBytes } : {}),
        ...(check !== undefined ? { blocklistCheckSeconds: check } : {}),
        log: (l) => ctx.out(l),
      });
      await new Promise<void>((resolve, reject) => {
        server.once('error', (e: NodeJS.ErrnoException) => reject(new OffpayError('api.listen_failed', `cannot listen on ${ctx.opt('host')}:${port}: ${e.code ?? e.message}`)));
        server.listen(port, ctx.opt('host'), resolve);
      });
      const a = server.address() as AddressInfo;
      const host = a.family === 'IPv6' ? `[${a.address}]` : a.address;
      // The signal handlers are in place before "listening" is printed: a supervisor that stops the server as
      // soon as it reads that line gets the orderly stop (claims given back, databases closed), not a kill.
      const stopped = new Promise<void>((resolve) => {
        const stop = () => {
          process.off('SIGINT', stop);
          process.off('SIGTERM', stop);
          server.close(() => resolve());
          server.closeAllConnections();
        };
        process.on('SIGINT', stop);
        process.on('SIGTERM', stop);
      });
      if (clearing.store instanceof PgClearingStore) ctx.out(`clearing database ${clearing.store.location}, ${clearing.store.poolSize} connection${clearing.store.poolSize === 1 ? '' : 's'}`);
      ctx.out(`operator credential ${created ? 'created in' : 'read from'} ${tokenFile}`);
      ctx.out(`listening on ${scheme}://${host}:${a.port}`);
      ctx.emit({ ok: true, url: `${scheme}://${host}:${a.port}`, operatorTokenFile: tokenFile });
      await stopped;
      return EXIT_OK;
    } finally {
      await webhooks?.stop();
      await outbox?.close();
      await clearing.close();
    }
  },
};

const sync: Command = {
  name: 'reader sync',
  summary: 'upload every batch the clearing service lacks, then fetch, verify and load the newest signed key set and blocklist (exit 0 when in sync)',
  usage: '--reader READER --db READER.db --url URL [--ca F] [--attempts N] [--deadline-ms MS] [--now TIME] [--prune]',
  options: {
    reader: { type: 'string', arg: 'READER', help: 'reader directory (offpay reader new)' },
    db: { type: 'string', arg: 'READER.db', help: 'reader database' },
    url: { type: 'string', arg: 'URL', help: 'clearing service, e.g. http://127.0.0.1:8080 or https://clearing.example' },
    ca: { type: 'string', arg: 'F', help: 'https: trust only this CA certificate (PEM) for the server, instead of the default roots' },
    policy: { type: 'string', arg: 'FILE', help: 'reader policy JSON (default READER/policy.json if present)' },
    attempts: { type: 'string', arg: 'N', help: 'tries per request on network errors and 5xx (default 8)' },
    'deadline-ms': { type: 'string', arg: 'MS', help: 'give up after this long (default 120000)' },
    'retry-base-ms': { type: 'string', arg: 'MS', help: 'first retry delay, doubled each retry (default 250)' },
    now: { type: 'string', arg: 'TIME', help: 'the reader clock, unix seconds or ISO 8601 (default: system time)' },
    prune: { type: 'boolean', help: 'once in sync, prune the reader: journal rows clearing holds, records older than 7 days (offpay reader prune; spec/reader.md §9.3)' },
  },
  details: `The served key set is loaded only when an issuer key the reader already trusts signed it, it is not
future-dated and not older than the one loaded last; otherwise the sync stops with keyset.* (exit 2).
Exit codes: 0 in sync; 2 a batch was refused by clearing (sync.batch_rejected with the server's reason:
resending cannot help, the operator must look), clearing unreachable after the retries (sync.unreachable),
the newest blocklist clearing serves is stale for this reader (sync.blocklist_stale: every batch was
delivered), or a usage error. Run it again at any time: it resumes.`,
  async run(ctx) {
    const url = ctx.need('url');
    const now = parseNow(ctx.opt('now'));
    const attempts = parseUint('attempts', ctx.opt('attempts'), 100);
    const deadlineMs = parseUint('deadline-ms', ctx.opt('deadline-ms'), 86_400_000);
    const baseDelayMs = parseUint('retry-base-ms', ctx.opt('retry-base-ms'), 60_000);
    if (attempts === 0) throw new UsageError('--attempts must be at least 1');
    if (deadlineMs === 0) throw new UsageError('--deadline-ms must be at least 1');
    if (baseDelayMs === 0) throw new UsageError('--retry-base-ms must be at least 1');
    // Over plain http off this machine, a man in the middle can answer that clearing holds batches it never got
    // (copying their heads from the uploads it dropped): a prune would then delete them (spec/reader.md §9.3).
    if (ctx.flag('prune') && /^http:/i.test(url) && !isLoopbackUrl(url)) {
      throw new UsageError('--prune needs an https:// URL (or a loopback one): over plain http a man in the middle could make the reader forget batches clearing never received');
    }
    const caPath = ctx.opt('ca');
    const ca = caPath !== undefined ? loadCaFile(caPath) : undefined;
    if (ca && !/^https:/i.test(url)) throw new UsageError('--ca is for an https:// URL');
    const { reader, store } = openReader(ctx, now);
    try {
      const held = store.transact((tx) => ({ keys: tx.getMeta(META_KEYSET), signed: tx.getMeta(META_SIGNED_KEYSET) }));
      if (!held.keys) throw new OffpayError('reader.corrupt_store', 'the reader database holds no issuer key set (offpay reader init stores it)');
      const r = await syncReader(reader, {
        url,
        now,
        issuerKeys: decodeIssuerKeySet(held.keys),
        ...(held.signed && held.signed.length ? { heldKeySet: held.signed } : {}),
        reopen: (keys, signed) => {
          const next = readerWithKeys(ctx, now, store, keys); // reader.bad_cert if the new set drops this reader's key
          store.transact((tx) => {
            tx.putMeta(META_KEYSET, encodeIssuerKeySet(keys));
            tx.putMeta(META_SIGNED_KEYSET, signed);
          });
          return next;
        },
        ...(ca ? { fetch: caFetch(ca) } : {}),
        ...(attempts !== undefined ? { attempts } : {}),
        ...(deadlineMs !== undefined ? { deadlineMs } : {}),
        ...(baseDelayMs !== undefined ? { baseDelayMs } : {}),
        log: (l) => ctx.out(l),
      });
      ctx.out(
        `reader ${r.readerId} journal ${r.journalId}: clearing held ${r.heldBefore} batches, now ${r.held}${r.exported ? ` (batch ${r.exported} exported)` : ''}; ` +
          `blocklist version ${r.blocklist.version}${r.blocklist.loaded ? ' loaded' : r.blocklist.served === r.blocklist.version ? ' already held' : ` held (clearing served version ${r.blocklist.served}, not newer)`}${r.retries ? `; ${r.retries} retries` : ''}`,
      );
      if (!r.delivered.authenticated) {
        ctx.out(`plain http: clearing's answers are unsigned, so the count of batches a prune may delete stays at ${r.delivered.batches} (it is taken over https or loopback only; or give offpay reader prune --delivered N from what clearing confirmed)`);
      }
      if (r.keyset.loaded) ctx.out(`issuer key set issued at ${r.keyset.issuedAt} (signed by issuer key ${r.keyset.keyIndex}, which this reader trusted) loaded`);
      // Every batch is up, but the reader is not in sync: the newest list clearing has is too old for it (a vending
      // reader refuses every payment, a gate takes only small ones). Clearing must issue a fresh one.
      if (r.blocklist.stale) {
        throw new OffpayError('sync.blocklist_stale', `every batch is delivered, but the newest blocklist clearing serves is stale for this reader: ${r.blocklist.staleReason ?? 'stale'}; clearing must issue a fresh one (offpay clearing blocklist, or a running clearing serve re-signs hourly)`, {
          heldBefore: r.heldBefore, held: r.held, sent: r.sent.length, blocklist: r.blocklist,
        });
      }
      // In sync: what clearing holds is recorded (syncReader), so a prune may delete its rows.
      const pruned = ctx.flag('prune') ? reader.prune({ now }) : undefined;
      if (pruned) {
        ctx.out(`pruned: ${pruned.journal} journal rows of the ${pruned.deliveredBatches} batches clearing holds, ${pruned.tokens} token records, ${pruned.totals} daily totals, ${pruned.tapOuts} tap-out records older than ${new Date(pruned.cutoff * 1000).toISOString()}`);
      }
      ctx.emit({ ok: true, ...r, ...(pruned ? { pruned } : {}) });
      return EXIT_OK;
    } finally {
      store.close();
    }
  },
};

export const commands: Command[] = [serve, sync];

/** True for an http(s) URL whose host is this machine (isLoopback). */
function isLoopbackUrl(url: string): boolean {
  try {
    return isLoopback(new URL(url).hostname);
  } catch {
    return false;
  }
}
