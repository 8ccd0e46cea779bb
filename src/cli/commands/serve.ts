/**
 * `offpay clearing serve` (the clearing as an HTTP service, src/server/api.ts) and `offpay reader sync`
 * (src/reader/sync.ts). spec/clearing-api.md is normative for both.
 */
import type { AddressInfo } from 'node:net';
import { clearingDbOption, openClearingAt } from '../clearing-open.js';
import { OffpayError } from '../../errors.js';
import { isPostgresUrl } from '../../clearing/clearing.js';
import { decodeIssuerKeySet } from '../../messages.js';
import { loadIssuer } from '../../node/files.js';
import { syncReader } from '../../reader/sync.js';
import { createClearingServer } from '../../server/api.js';
import { loadOrCreateOperatorToken } from '../../server/operator.js';
import { parseNow, parseUint } from '../common.js';
import { EXIT_OK, UsageError, type Command } from '../framework.js';
import { META_KEYSET, openReader } from '../reader-open.js';

const serve: Command = {
  name: 'clearing serve',
  summary: 'serve the clearing over HTTP: readers upload batches and fetch the blocklist, merchants query payments (spec/clearing-api.md)',
  usage: '--issuer ISSUER --db (CLEARING.db|postgres://...) [--host 127.0.0.1] [--port N] [--operator-token-file F]',
  options: {
    issuer: { type: 'string', arg: 'ISSUER', help: 'issuer directory (with the secret keys: the server signs blocklists)' },
    db: { ...clearingDbOption, help: `${clearingDbOption.help}; several servers on one PostgreSQL database are one clearing house` },
    host: { type: 'string', arg: 'HOST', help: 'address to listen on', default: '127.0.0.1' },
    port: { type: 'string', arg: 'N', help: 'port (0 = any free port)', default: '8080' },
    'operator-token-file': { type: 'string', arg: 'F', help: 'operator credential (64 hex digits, mode 0600; created when missing; default CLEARING.db.operator-token)' },
    'max-batch-bytes': { type: 'string', arg: 'N', help: 'largest batch accepted, bytes (default 8388608)' },
    'body-timeout-ms': { type: 'string', arg: 'MS', help: 'deadline for a whole request body (default 30000)' },
    'blocklist-check-seconds': { type: 'string', arg: 'S', help: 'over-allowance check at most this often (default 60)' },
  },
  details: `Prints "listening on http://HOST:PORT" once it accepts connections, then serves until SIGINT or SIGTERM.
Every answer to POST /v1/batches is sent after the batch's database commit. GET /v1/report needs
"Authorization: Bearer <credential>" with the credential from the operator token file.`,
  async run(ctx) {
    const issuer = loadIssuer(ctx.need('issuer'));
    const db = ctx.need('db');
    const port = parseUint('port', ctx.opt('port'), 65_535)!;
    const maxBytes = parseUint('max-batch-bytes', ctx.opt('max-batch-bytes'), 1024 * 1024 * 1024);
    const bodyTimeoutMs = parseUint('body-timeout-ms', ctx.opt('body-timeout-ms'), 600_000);
    const check = parseUint('blocklist-check-seconds', ctx.opt('blocklist-check-seconds'), 86_400);
    const tokenFile = ctx.opt('operator-token-file') ?? (isPostgresUrl(db) ? undefined : `${db}.operator-token`);
    if (tokenFile === undefined) throw new UsageError('--operator-token-file is required with a PostgreSQL --db (every node of the clearing house reads the same credential)');
    const { token, created } = loadOrCreateOperatorToken(tokenFile);
    const clearing = await openClearingAt(db, { issuerKeys: issuer.keySet(), ...(maxBytes !== undefined ? { maxBatchBytes: maxBytes } : {}) });
    try {
      const server = createClearingServer({
        clearing,
        issuer,
        operatorToken: token,
        ...(bodyTimeoutMs !== undefined ? { bodyTimeoutMs } : {}),
        ...(check !== undefined ? { blocklistCheckSeconds: check } : {}),
        log: (l) => ctx.out(l),
      });
      await new Promise<void>((resolve, reject) => {
        server.once('error', (e: NodeJS.ErrnoException) => reject(new OffpayError('api.listen_failed', `cannot listen on ${ctx.opt('host')}:${port}: ${e.code ?? e.message}`)));
        server.listen(port, ctx.opt('host'), resolve);
      });
      const a = server.address() as AddressInfo;
      const host = a.family === 'IPv6' ? `[${a.address}]` : a.address;
      ctx.out(`operator credential ${created ? 'created in' : 'read from'} ${tokenFile}`);
      ctx.out(`listening on http://${host}:${a.port}`);
      ctx.emit({ ok: true, url: `http://${host}:${a.port}`, operatorTokenFile: tokenFile });
      await new Promise<void>((resolve) => {
        const stop = () => {
          process.off('SIGINT', stop);
          process.off('SIGTERM', stop);
          server.close(() => resolve());
          server.closeAllConnections();
        };
        process.on('SIGINT', stop);
        process.on('SIGTERM', stop);
      });
      return EXIT_OK;
    } finally {
      await clearing.close();
    }
  },
};

const sync: Command = {
  name: 'reader sync',
  summary: 'upload every batch the clearing service lacks, then fetch and load the newest blocklist (exit 0 when in sync)',
  usage: '--reader READER --db READER.db --url URL [--attempts N] [--deadline-ms MS] [--now TIME]',
  options: {
    reader: { type: 'string', arg: 'READER', help: 'reader directory (offpay reader new)' },
    db: { type: 'string', arg: 'READER.db', help: 'reader database' },
    url: { type: 'string', arg: 'URL', help: 'clearing service, e.g. http://127.0.0.1:8080' },
    policy: { type: 'string', arg: 'FILE', help: 'reader policy JSON (default READER/policy.json if present)' },
    attempts: { type: 'string', arg: 'N', help: 'tries per request on network errors and 5xx (default 8)' },
    'deadline-ms': { type: 'string', arg: 'MS', help: 'give up after this long (default 120000)' },
    'retry-base-ms': { type: 'string', arg: 'MS', help: 'first retry delay, doubled each retry (default 250)' },
    now: { type: 'string', arg: 'TIME', help: 'the reader clock, unix seconds or ISO 8601 (default: system time)' },
  },
  details: `Exit codes: 0 in sync; 2 a batch was refused by clearing (sync.batch_rejected with the server's reason:
resending cannot help, the operator must look), clearing unreachable after the retries (sync.unreachable),
or a usage error. Run it again at any time: it resumes.`,
  async run(ctx) {
    const url = ctx.need('url');
    const now = parseNow(ctx.opt('now'));
    const attempts = parseUint('attempts', ctx.opt('attempts'), 100);
    const deadlineMs = parseUint('deadline-ms', ctx.opt('deadline-ms'), 86_400_000);
    const baseDelayMs = parseUint('retry-base-ms', ctx.opt('retry-base-ms'), 60_000);
    if (attempts === 0) throw new UsageError('--attempts must be at least 1');
    const { reader, store } = openReader(ctx, now);
    try {
      const keys = store.transact((tx) => tx.getMeta(META_KEYSET));
      const r = await syncReader(reader, {
        url,
        now,
        ...(keys ? { issuerKeys: decodeIssuerKeySet(keys) } : {}),
        ...(attempts !== undefined ? { attempts } : {}),
        ...(deadlineMs ? { deadlineMs } : {}),
        ...(baseDelayMs ? { baseDelayMs } : {}),
        log: (l) => ctx.out(l),
      });
      ctx.out(
        `reader ${r.readerId} journal ${r.journalId}: clearing held ${r.heldBefore} batches, now ${r.held}${r.exported ? ` (batch ${r.exported} exported)` : ''}; ` +
          `blocklist version ${r.blocklist.version}${r.blocklist.loaded ? ' loaded' : ' already held'}${r.retries ? `; ${r.retries} retries` : ''}`,
      );
      if (r.keysetChanged) ctx.out('WARNING: the clearing serves another issuer key set; install it from a trusted source with --issuer (it is not loaded from the network)');
      ctx.emit({ ok: true, ...r });
      return EXIT_OK;
    } finally {
      store.close();
    }
  },
};

export const commands: Command[] = [serve, sync];

