/**
 * `offpay clearing serve` as its own process (the built CLI, dist/) and `offpay reader sync` through the CLI:
 * the credential file created 0600, a sync uploading the reader's journal and loading the blocklist (exit 0),
 * nothing to do on a second run, exit 2 for a refused batch and for an unreachable server, SIGTERM stops the
 * server with exit 0.
 */
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { main } from '../../src/cli/main.js';
import { nodeEd25519 } from '../../src/node/crypto.js';
import { loadIssuer, loadReader } from '../../src/node/files.js';
import { Reader } from '../../src/reader/index.js';
import { openSqliteReaderStore } from '../../src/reader/sqlite.js';
import { dayOf, publicKeyOf, seededSecretKey } from '../../src/index.js';
import { HKD, signToken } from '../reader/helpers.js';

/** The server runs on the system clock, so the story does too. */
const T0 = Math.floor(Date.now() / 1000);
const d = mkdtempSync(join(tmpdir(), 'offpay-serve-cli-'));
afterAll(() => rmSync(d, { recursive: true, force: true }));
const p = (...x: string[]) => join(d, ...x);
const CLI = join(import.meta.dirname, '../../dist/src/cli/main.js');

async function run(...argv: string[]): Promise<{ code: number; out: string; err: string }> {
  let out = '';
  let err = '';
  const code = await main(argv, { out: (s) => (out += s), err: (s) => (err += s) });
  return { code, out, err };
}

function serve(...extra: string[]) {
  const child = spawn(process.execPath, [CLI, 'clearing', 'serve', '--issuer', p('issuer'), '--db', p('clearing.db'), '--port', '0', ...extra], { stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  const url = new Promise<string>((resolve, reject) => {
    child.stdout.on('data', (b: Buffer) => {
      out += b.toString();
      const m = /listening on (http:\/\/\S+)/.exec(out);
      if (m) resolve(m[1]!);
    });
    child.on('exit', (c) => reject(new Error(`clearing serve exited ${c}: ${out}`)));
  });
  const exited = new Promise<number | null>((resolve) => child.on('exit', (c) => resolve(c)));
  return { child, url, exited, out: () => out };
}

describe('offpay clearing serve / reader sync (CLI)', () => {
  it('syncs a reader over HTTP with the exit codes of spec/clearing-api.md §8', async () => {
    expect(existsSync(CLI), 'run `npm run build` first: this test spawns the built CLI').toBe(true);
    expect((await run('issuer', 'init', '--dir', p('issuer'), '--seed', 'serve-cli', `--now=${T0 - 86400}`)).code).toBe(0);
    expect((await run('reader', 'new', '--issuer', p('issuer'), '--id', '4201', '--operator', '90', '--out', p('vm'), '--seed', 'serve-cli', `--now=${T0}`)).code).toBe(0);
    expect((await run('reader', 'init', '--reader', p('vm'), '--db', p('vm.db'), '--issuer', p('issuer'), `--now=${T0}`)).code).toBe(0);
    expect((await run('clearing', 'blocklist', '--issuer', p('issuer'), '--db', p('clearing.db'), '--out', p('list.cbor'), `--now=${T0}`)).code).toBe(0);
    expect((await run('reader', 'load-blocklist', '--reader', p('vm'), '--db', p('vm.db'), p('list.cbor'), `--now=${T0}`)).code).toBe(0);
    // Two sales, taken with the library on the reader's own database.
    const files = loadReader(p('vm'));
    const issuer = loadIssuer(p('issuer'));
    const store = await openSqliteReaderStore(p('vm.db'));
    const reader = new Reader({ cert: files.cert, secretKey: files.secretKey, issuerKeys: issuer.keySet(), store, verifier: nodeEd25519(), clock: () => T0 });
    const wsk = seededSecretKey('serve-cli', 'alice');
    const w = { secretKey: wsk, cert: issuer.issueWalletCert({ walletPublicKey: publicKeyOf(wsk), expiryDay: dayOf(T0) + 30, maxPerPayment: 50_000, offlineAllowance: 100_000, currency: HKD }, T0) };
    for (const counter of [1, 2]) {
      const { request } = reader.openRequest({ amount: 500 * counter, currency: HKD, now: T0 });
      expect((await reader.accept(signToken(w, { payee: 4201, amount: 500 * counter, counter, time: T0, challenge: request.challenge }), { complete: true })).accepted).toBe(true);
    }
    store.close();

    // Unreachable: exit 2 after the bounded retries.
    const down = await run('reader', 'sync', '--reader', p('vm'), '--db', p('vm.db'), '--url', 'http://127.0.0.1:9', '--attempts', '2', '--retry-base-ms', '10', `--now=${T0 + 60}`);
    expect(down.code).toBe(2);
    expect(down.err).toContain('sync.unreachable');

    const s = serve();
    const url = await s.url;
    try {
      expect(statSync(p('clearing.db.operator-token')).mode & 0o777).toBe(0o600);
      const first = await run('reader', 'sync', '--reader', p('vm'), '--db', p('vm.db'), '--url', url, `--now=${T0 + 60}`, '--json');
      expect(first.err).toBe("");
      expect(first.code).toBe(0);
      expect(JSON.parse(first.out)).toMatchObject({ ok: true, heldBefore: 0, held: 1, exported: 1, sent: [{ batchSeq: 1, outcome: 'ingested', entries: 2 }], blocklist: { loaded: true }, keyset: { outcome: 'unchanged', loaded: false } });
      const second = await run('reader', 'sync', '--reader', p('vm'), '--db', p('vm.db'), '--url', url, `--now=${T0 + 60}`, '--json');
      expect(JSON.parse(second.out)).toMatchObject({ heldBefore: 1, held: 1, sent: [] });
      const status = await run('reader', 'status', '--reader', p('vm'), '--db', p('vm.db'), `--now=${T0 + 60}`, '--json');
      expect(JSON.parse(status.out)).toMatchObject({ exportedBatches: 1, blocklist: { loaded: true, stale: false } });
    } finally {
      s.child.kill('SIGTERM');
    }
    expect(await s.exited).toBe(0);

    // A server whose limit the next batch passes: the sync refuses with the reason, exit 2.
    const store2 = await openSqliteReaderStore(p('vm.db'));
    const reader2 = new Reader({ cert: files.cert, secretKey: files.secretKey, issuerKeys: issuer.keySet(), store: store2, verifier: nodeEd25519(), clock: () => T0 + 100 });
    for (const counter of [3, 4, 5, 6, 7]) {
      const { request } = reader2.openRequest({ amount: 100, currency: HKD, now: T0 + 100 });
      expect((await reader2.accept(signToken(w, { payee: 4201, amount: 100, counter, time: T0 + 100, challenge: request.challenge }), { complete: true })).accepted).toBe(true);
    }
    store2.close();
    const small = serve('--max-batch-bytes', '1024');
    const url2 = await small.url;
    try {
      const refused = await run('reader', 'sync', '--reader', p('vm'), '--db', p('vm.db'), '--url', url2, `--now=${T0 + 160}`);
      expect(refused.code).toBe(2);
      expect(refused.err).toMatch(/batch 2 .*clearing\.too_large.*\[sync\.batch_rejected\]/s);
    } finally {
      small.child.kill('SIGTERM');
    }
    expect(await small.exited).toBe(0);
  }, 60_000);

  it('webhooks from a PostgreSQL clearing house need an explicit secret file; --webhook-lease-ms and --pool-size are for PostgreSQL; --max-inflight-bytes is at least the batch limit: exit 2 before connecting', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'offpay-serve-pg-hooks-'));
    try {
      expect((await run('issuer', 'init', '--dir', join(dir, 'issuer'), '--seed', 'serve-pg-hooks', `--now=${T0 - 86400}`)).code).toBe(0);
      // Port 9 on loopback (the database) and 59999 (the webhook): nothing answers there, and the refusal must come before any connection is tried.
      const pgArgs = ['clearing', 'serve', '--issuer', join(dir, 'issuer'), '--db', 'postgres://nobody@127.0.0.1:9/none', '--operator-token-file', join(dir, 'op-token'), '--port', '0', '--webhook-url', 'http://127.0.0.1:59999/hooks'];
      const r = await run(...pgArgs);
      expect(r.code).toBe(2);
      expect(r.err).toMatch(/--webhook-secret-file is required with a PostgreSQL --db/);
      expect(existsSync(join(dir, 'op-token'))).toBe(true); // the credential is checked (made) first; no database was touched
      // With the secret file named, the next error is the unreachable database (clearing.store_unusable, exit 2).
      const unreachable = await run(...pgArgs, '--webhook-secret-file', join(dir, 'secret'));
      expect(unreachable.code).toBe(2);
      expect(unreachable.err).toMatch(/clearing\.store_unusable/);
      const sqlite = await run('clearing', 'serve', '--issuer', join(dir, 'issuer'), '--db', join(dir, 'c.db'), '--port', '0', '--webhook-url', 'http://127.0.0.1:59999/hooks', '--webhook-lease-ms', '5000');
      expect(sqlite.code).toBe(2);
      expect(sqlite.err).toMatch(/--webhook-lease-ms is for a PostgreSQL --db/);
      // An in-flight budget smaller than the largest batch could never read one: exit 2, no database made.
      const tight = await run('clearing', 'serve', '--issuer', join(dir, 'issuer'), '--db', join(dir, 'tight.db'), '--port', '0', '--max-batch-bytes', '2000000', '--max-inflight-bytes', '1999999');
      expect(tight.code).toBe(2);
      expect(tight.err).toMatch(/--max-inflight-bytes 1999999 is less than the largest batch \(2000000 bytes/);
      expect(existsSync(join(dir, 'tight.db'))).toBe(false);
      // --pool-size sizes a PostgreSQL node's connection pool: refused for SQLite, and outside 1..100, before connecting.
      const pooled = await run('clearing', 'serve', '--issuer', join(dir, 'issuer'), '--db', join(dir, 'pool.db'), '--port', '0', '--pool-size', '2');
      expect(pooled.code).toBe(2);
      expect(pooled.err).toMatch(/--pool-size is for a PostgreSQL --db/);
      expect(existsSync(join(dir, 'pool.db'))).toBe(false);
      const pgNode = ['clearing', 'serve', '--issuer', join(dir, 'issuer'), '--db', 'postgres://nobody@127.0.0.1:9/none', '--operator-token-file', join(dir, 'op-token'), '--port', '0'];
      for (const [n, why] of [['0', /--pool-size is at least 1/], ['101', /--pool-size/], ['two', /--pool-size/]] as const) {
        const r = await run(...pgNode, '--pool-size', n);
        expect(r.code, n).toBe(2);
        expect(r.err, n).toMatch(why);
        expect(r.err, n).not.toMatch(/store_unusable/);
      }
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('servers started at once on one credential file: one creates it, every other reads the whole of it (never a half-written file)', async () => {
    expect(existsSync(CLI), 'run `npm run build` first').toBe(true);
    const operator = join(import.meta.dirname, '../../dist/src/server/operator.js');
    const script = `const { loadOrCreateOperatorToken } = await import(${JSON.stringify(operator)});
      const at = Number(process.argv[2]); while (Date.now() < at); // start together
      try { const r = loadOrCreateOperatorToken(process.argv[1]); console.log(r.created ? 'created' : 'read', r.token); } catch (e) { console.log('FAIL', e.code, e.message); }`;
    const once = (file: string, at: number) =>
      new Promise<string>((resolve) => {
        const child = spawn(process.execPath, ['--input-type=module', '-e', script, file, String(at)], { stdio: ['ignore', 'pipe', 'inherit'] });
        let out = '';
        child.stdout.on('data', (b: Buffer) => (out += b.toString()));
        child.on('exit', () => resolve(out.trim()));
      });
    for (let round = 0; round < 12; round++) {
      const file = p(`race-${round}.token`);
      const at = Date.now() + 400;
      const outs = await Promise.all([once(file, at), once(file, at), once(file, at)]);
      expect(outs.filter((o) => o.startsWith('created')).length, outs.join('\n')).toBe(1);
      const tokens = new Set(outs.map((o) => o.split(' ')[1]));
      expect(tokens.size, outs.join('\n')).toBe(1);
      expect([...tokens][0]).toMatch(/^[0-9a-f]{64}$/);
    }
  }, 60_000);
});
