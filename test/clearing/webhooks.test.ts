/**
 * Signed webhooks of the clearing service (spec/clearing-api.md §9) against a local receiver on 127.0.0.1:
 * delivery with a signature the receiver checks with its own HMAC, retry after the receiver failed 3 times,
 * duplicate suppression by event id at the receiver, dead-lettering after the bounded tries (listed to the
 * operator), a restart that resumes undelivered events from the outbox file, wallet.blocklisted on a double
 * spend, and the spec's worked signature example.
 */
import { spawn } from 'node:child_process';
import { createHmac, timingSafeEqual } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { Clearing } from '../../src/clearing/index.js';
import { sha256 } from '../../src/crypto.js';
import { toHex } from '../../base/hex.js';
import { walletIdOf } from '../../src/messages.js';
import { saveIssuer } from '../../src/node/files.js';
import { createClearingServer } from '../../src/server/api.js';
import { SqliteWebhookOutbox, type WebhookOutbox } from '../../src/server/outbox.js';
import { checkWebhookSignature, webhookSignatureHeader as signatureHeader, webhookSignature } from '../../src/webhook-signature.js';
import { backoffMs, BLOCKED_WEBHOOK_PORTS, checkWebhookUrl, eventId, WebhookService } from '../../src/server/webhooks.js';
import { HKD, NOW, makeIssuer, makeWallet } from '../reader/helpers.js';
import { sell, vendingReader } from './vending.js';
import { expectPruneRule } from './outbox-prune.js';

const dir = mkdtempSync(join(tmpdir(), 'offpay-hooks-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
const issuer = makeIssuer('hooks');
const vending = (id: number) => vendingReader(issuer, 'hooks', id);
const SECRET = '5f'.repeat(32);
const OP = '12'.repeat(32);
const CLOCK = () => NOW + 3600;


/** A merchant's receiver: checks every signature with its own HMAC code, processes each event id once. */
class Receiver {
  server!: Server;
  url = '';
  deliveries: { id: string; headers: IncomingMessage['headers']; body: string; sigOk: boolean }[] = [];
  processed = new Map<string, { type: string; data: Record<string, unknown> }>();
  /** Answer 500 to this many next requests (after processing them when `processThenFail`). */
  failNext = 0;
  processThenFail = false;
  constructor(private readonly now: () => number = () => Math.floor(Date.now() / 1000)) {}

  verify(header: string | undefined, raw: Buffer): boolean {
    const m = /^t=(\d+),v1=([0-9a-f]{64})$/.exec(header ?? '');
    if (!m) return false;
    if (Math.abs(this.now() - Number(m[1])) > 300) return false;
    const mac = createHmac('sha256', SECRET).update(`${m[1]}.`).update(raw).digest();
    return timingSafeEqual(mac, Buffer.from(m[2]!, 'hex'));
  }
  async start(port = 0): Promise<this> {
    this.server = createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => {
        const raw = Buffer.concat(chunks);
        const id = String(req.headers['idempotency-key']);
        const sigOk = this.verify(req.headers['offpay-signature'] as string | undefined, raw);
        this.deliveries.push({ id, headers: req.headers, body: raw.toString(), sigOk });
        if (!sigOk) return void res.writeHead(400).end();
        const fail = this.failNext > 0;
        if (fail) this.failNext--;
        if (fail && !this.processThenFail) return void res.writeHead(500).end();
        const ev = JSON.parse(raw.toString()) as { id: string; type: string; data: Record<string, unknown> };
        if (!this.processed.has(ev.id)) this.processed.set(ev.id, ev); // duplicate suppression by event id
        res.writeHead(fail ? 500 : 200).end();
      });
    });
    await new Promise<void>((r) => this.server.listen(port, '127.0.0.1', r));
    this.url = `http://127.0.0.1:${(this.server.address() as AddressInfo).port}/hooks`;
    return this;
  }
  stop(): Promise<void> {
    return new Promise((r) => { this.server.close(() => r()); this.server.closeAllConnections(); });
  }
}

async function until(cond: () => boolean | Promise<boolean>, what: string, ms = 10_000): Promise<void> {
  const end = Date.now() + ms;
  while (!(await cond())) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

async function clearingServer(clearing: Clearing, webhooks: WebhookService) {
  const server = createClearingServer({ clearing, issuer, operatorToken: OP, clock: CLOCK, blocklistCheckSeconds: 0, webhooks });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  const post = (b: Uint8Array) => fetch(`${url}/v1/batches`, { method: 'POST', headers: { 'content-type': 'application/cbor' }, body: b as Uint8Array<ArrayBuffer> }).then((r) => r.json() as Promise<{ outcome: string }>);
  const close = () => new Promise<void>((r) => { server.close(() => r()); server.closeAllConnections(); });
  return { url, post, close };
}

describe('webhooks', () => {
  it('delivers charge.complete signed, with the event id as idempotency key, after 3 failures of the receiver; a resent batch queues nothing new', async () => {
    const rx = await new Receiver().start();
    rx.failNext = 3;
    const clearing = new Clearing({ issuerKeys: issuer.keySet(), clock: CLOCK });
    const outbox = new SqliteWebhookOutbox(join(dir, 'a.webhooks'));
    const hooks = new WebhookService({ url: rx.url, secret: SECRET, outbox, baseDelayMs: 20, maxDelayMs: 200, pollMs: 20 });
    hooks.start();
    const s = await clearingServer(clearing, hooks);
    try {
      const r = vending(201);
      const t1 = await sell(r, makeWallet(issuer, 'hooks', 'a'), 1, 1250);
      const batch = r.export(NOW + 60).bytes;
      expect((await s.post(batch)).outcome).toBe('ingested');
      const id = eventId('charge.complete', toHex(sha256(t1)));
      await until(() => rx.processed.has(id), 'the charge.complete delivery');
      const tries = rx.deliveries.filter((d) => d.id === id);
      expect(tries.length).toBe(4); // 3 refused, the 4th taken
      expect(tries.every((d) => d.sigOk)).toBe(true);
      expect(new Set(tries.map((d) => d.body)).size).toBe(1); // the same bytes every time
      const h = tries[3]!.headers;
      expect([h['offpay-event-id'], h['offpay-event-type'], h['content-type']]).toEqual([id, 'charge.complete', 'application/json']);
      expect(rx.processed.get(id)).toMatchObject({ type: 'charge.complete', data: { tokenHash: toHex(sha256(t1)), amount: '1250', currency: HKD, operatorId: 90, settledAs: 'sale', entry: { readerId: 201, seq: 1 } } });
      // The receiver's 2xx reaches the worker after the receiver recorded the event: wait for the outbox to say so.
      await until(async () => (await outbox.get(id))?.state === 'delivered', 'the outbox recording the delivery');
      expect(await outbox.get(id)).toMatchObject({ state: 'delivered', attempts: 4 });
      // The batch again (a reader that lost the answer): duplicate, and no new event.
      expect((await s.post(batch)).outcome).toBe('duplicate');
      expect(await outbox.counts()).toEqual({ pending: 0, delivered: 1, dead: 0 });
      // A tampered signature is refused by the receiver's check.
      const body = new TextEncoder().encode(tries[0]!.body);
      expect(rx.verify(signatureHeader('00'.repeat(32), CLOCK(), body), Buffer.from(body))).toBe(false);
    } finally {
      await s.close();
      await hooks.stop();
      await outbox.close();
      await rx.stop();
    }
  });

  it('a receiver that processed an event but lost its answer gets it again and drops it by event id; a double spend sends wallet.blocklisted', async () => {
    const rx = await new Receiver().start();
    rx.failNext = 1;
    rx.processThenFail = true;
    const clearing = new Clearing({ issuerKeys: issuer.keySet(), clock: CLOCK });
    const outbox = new SqliteWebhookOutbox(':memory:');
    const hooks = new WebhookService({ url: rx.url, secret: SECRET, outbox, baseDelayMs: 20, pollMs: 20 });
    hooks.start();
    const s = await clearingServer(clearing, hooks);
    try {
      const w = makeWallet(issuer, 'hooks', 'clone');
      const a = vending(301);
      const b = vending(302);
      await sell(a, w, 7, 500);
      await sell(b, w, 7, 500); // the same counter at another reader: a clone
      expect((await s.post(a.export(NOW + 60).bytes)).outcome).toBe('ingested');
      expect((await s.post(b.export(NOW + 60).bytes)).outcome).toBe('ingested');
      const blocked = eventId('wallet.blocklisted', toHex(walletIdOf(w.cert.walletPublicKey)));
      await until(async () => rx.processed.has(blocked) && (await outbox.counts()).pending === 0, 'every event delivered');
      const first = rx.deliveries[0]!.id;
      expect(rx.deliveries.filter((d) => d.id === first).length).toBe(2); // delivered twice ...
      expect([...rx.processed.keys()].filter((k) => k === first).length).toBe(1); // ... processed once
      expect(rx.processed.get(blocked)).toMatchObject({ type: 'wallet.blocklisted', data: { walletId: toHex(walletIdOf(w.cert.walletPublicKey)) } });
    } finally {
      await s.close();
      await hooks.stop();
      await outbox.close();
      await rx.stop();
    }
  });

  it('dead-letters after the bounded tries and lists it to the operator only', async () => {
    const rx = await new Receiver().start();
    rx.failNext = 1_000;
    const clearing = new Clearing({ issuerKeys: issuer.keySet(), clock: CLOCK });
    const outbox = new SqliteWebhookOutbox(':memory:');
    const lines: string[] = [];
    const hooks = new WebhookService({ url: rx.url, secret: SECRET, outbox, baseDelayMs: 5, pollMs: 10, maxAttempts: 3, log: (l) => lines.push(l) });
    hooks.start();
    const s = await clearingServer(clearing, hooks);
    try {
      const r = vending(401);
      await sell(r, makeWallet(issuer, 'hooks', 'd'), 1, 100);
      await s.post(r.export(NOW + 60).bytes);
      await until(async () => (await outbox.counts()).dead === 1, 'the dead letter');
      expect(rx.deliveries.length).toBe(3);
      expect(lines.some((l) => /DEAD-LETTERED after 3 tries: HTTP 500/.test(l))).toBe(true);
      expect((await fetch(`${s.url}/v1/webhooks`)).status).toBe(401);
      const st = (await (await fetch(`${s.url}/v1/webhooks`, { headers: { authorization: `Bearer ${OP}` } })).json()) as { counts: object; intents: number; dead: { attempts: number; lastError: string }[] };
      expect(st.counts).toEqual({ pending: 0, delivered: 0, dead: 1 });
      expect(st.intents).toBe(0); // the batch's intent went with its event
      expect(st.dead[0]).toMatchObject({ attempts: 3, lastError: 'HTTP 500' });
    } finally {
      await s.close();
      await hooks.stop();
      await outbox.close();
      await rx.stop();
    }
  });

  it('an outbox that fails for a while (a database restarting) stops neither the worker nor the answers: it logs and delivers afterwards', async () => {
    const rx = await new Receiver().start();
    const clearing = new Clearing({ issuerKeys: issuer.keySet(), clock: CLOCK });
    const inner = new SqliteWebhookOutbox(':memory:');
    let failures = 5;
    const flaky: WebhookOutbox = {
      leaseMs: undefined,
      add: (e, n, s) => inner.add(e, n, s),
      intend: (i, n) => inner.intend(i, n),
      intents: (a, n, l, after) => inner.intents(a, n, l, after),
      dropIntent: (id, c) => inner.dropIntent(id, c),
      intentCount: () => inner.intentCount(),
      intentHashes: (id) => inner.intentHashes(id),
      due: async (n, l) => {
        if (failures > 0) {
          failures--;
          throw new Error('outbox unreachable');
        }
        return inner.due(n, l);
      },
      hold: (id) => inner.hold(id),
      prune: (b, l) => inner.prune(b, l),
      nextDue: () => inner.nextDue(),
      delivered: (id, a) => inner.delivered(id, a),
      failed: (id, a, e, n, d) => inner.failed(id, a, e, n, d),
      dead: (l) => inner.dead(l),
      counts: () => inner.counts(),
      get: (id) => inner.get(id),
      close: () => inner.close(),
    };
    const lines: string[] = [];
    const hooks = new WebhookService({ url: rx.url, secret: SECRET, outbox: flaky, pollMs: 20, log: (l) => lines.push(l) });
    hooks.start();
    const s = await clearingServer(clearing, hooks);
    try {
      const r = vending(451);
      const t = await sell(r, makeWallet(issuer, 'hooks', 'flaky'), 1, 100);
      expect((await s.post(r.export(NOW + 60).bytes)).outcome).toBe('ingested');
      const id = eventId('charge.complete', toHex(sha256(t)));
      await until(async () => rx.processed.has(id) && (await inner.get(id))?.state === 'delivered', 'the delivery once the outbox answers again');
      expect(failures).toBe(0);
      expect(lines.filter((l) => l === 'webhook worker: outbox unreachable; again in 20 ms').length).toBe(5);
      expect(rx.deliveries.length).toBe(1);
    } finally {
      await s.close();
      await hooks.stop();
      await inner.close();
      await rx.stop();
    }
  });

  it('a restart resumes the events a stopped server left in its outbox file', async () => {
    // The receiver is down at first: the port is found free, then left closed.
    const probe = await new Receiver().start();
    const url = probe.url;
    const port = Number(new URL(url).port);
    await probe.stop();
    const path = join(dir, 'restart.webhooks');
    const clearing = new Clearing({ issuerKeys: issuer.keySet(), clock: CLOCK });
    const outbox1 = new SqliteWebhookOutbox(path);
    const hooks1 = new WebhookService({ url, secret: SECRET, outbox: outbox1, baseDelayMs: 10_000, pollMs: 20 });
    hooks1.start();
    const s = await clearingServer(clearing, hooks1);
    const r = vending(501);
    const tokens = [await sell(r, makeWallet(issuer, 'hooks', 'e'), 1, 100), await sell(r, makeWallet(issuer, 'hooks', 'f'), 1, 200)];
    await s.post(r.export(NOW + 60).bytes);
    await until(async () => ((await outbox1.get(eventId('charge.complete', toHex(sha256(tokens[0]!)))))?.attempts ?? 0) >= 1, 'a failed first try');
    await s.close();
    await hooks1.stop();
    await outbox1.close();
    expect(await new SqliteWebhookOutbox(path).counts()).toEqual({ pending: 2, delivered: 0, dead: 0 });

    const rx = await new Receiver().start(port);
    // The first try failed and the next is 5-10 s away; a restarted worker takes the schedule as stored, so
    // start it with a clock 20 s ahead (what waiting would do) and see both delivered.
    const outbox2 = new SqliteWebhookOutbox(path);
    const hooks2 = new WebhookService({ url, secret: SECRET, outbox: outbox2, baseDelayMs: 10, pollMs: 20, nowMs: () => Date.now() + 20_000 });
    hooks2.start();
    try {
      await until(async () => (await outbox2.counts()).delivered === 2, 'both events after the restart');
      expect([...rx.processed.keys()].sort()).toEqual(tokens.map((t) => eventId('charge.complete', toHex(sha256(t)))).sort());
    } finally {
      await hooks2.stop();
      await outbox2.close();
      await rx.stop();
    }
  });

  it('the built CLI: events of a batch acknowledged just before a kill -9 are delivered by the restarted server', async () => {
    const CLI = join(import.meta.dirname, '../../dist/src/cli/main.js');
    saveIssuer(join(dir, 'issuer'), issuer);
    const db = join(dir, 'cli.db');
    writeFileSync(join(dir, 'secret'), SECRET + '\n', { mode: 0o600 });
    const probe = await new Receiver().start();
    const hookUrl = probe.url;
    await probe.stop(); // down while the first server runs
    const serve = () => {
      const child = spawn(process.execPath, [CLI, 'clearing', 'serve', '--issuer', join(dir, 'issuer'), '--db', db, '--port', '0', '--webhook-url', hookUrl, '--webhook-secret-file', join(dir, 'secret'), '--webhook-retry-base-ms', '50'], { stdio: ['ignore', 'pipe', 'pipe'] });
      let out = '';
      const exited = new Promise<number | null>((res) => child.on('exit', (c) => res(c)));
      const url = new Promise<string>((resolve, reject) => {
        child.stdout.on('data', (b: Buffer) => {
          out += b.toString();
          const m = /listening on (http:\/\/\S+)/.exec(out);
          if (m) resolve(m[1]!);
        });
        child.on('exit', (c) => reject(new Error(`clearing serve exited ${c}: ${out}`)));
      });
      return { child, url, exited, out: () => out };
    };
    const r = vending(601);
    const t = await sell(r, makeWallet(issuer, 'hooks', 'k'), 1, 700);
    const id = eventId('charge.complete', toHex(sha256(t)));
    const a = serve();
    const url = await a.url;
    const ans = (await (await fetch(`${url}/v1/batches`, { method: 'POST', headers: { 'content-type': 'application/cbor' }, body: r.export(NOW + 60).bytes as Uint8Array<ArrayBuffer> })).json()) as { outcome: string };
    expect(ans.outcome).toBe('ingested');
    await until(() => a.out().includes(`${id} try 1 failed`), 'a failed first try');
    a.child.kill('SIGKILL');
    await a.exited;
    const rx = await new Receiver().start(Number(new URL(hookUrl).port));
    const b = serve();
    try {
      await b.url;
      await until(() => rx.processed.has(id), 'the delivery after the restart', 20_000);
      expect(rx.processed.get(id)).toMatchObject({ data: { amount: '700', entry: { readerId: 601 } } });
      expect(rx.deliveries.every((d) => d.sigOk)).toBe(true);
    } finally {
      b.child.kill('SIGTERM');
      expect(await b.exited).toBe(0);
      await rx.stop();
    }
  }, 40_000);

  it('the outbox prunes delivered charge events past the retention only (SQLite outbox)', async () => {
    const outbox = new SqliteWebhookOutbox(':memory:');
    try {
      await expectPruneRule(outbox);
    } finally {
      await outbox.close();
    }
  });

  it('the worker prunes delivered charge events once they are older than retentionDays; retentionDays 0 is refused', async () => {
    let now = (NOW + 3600) * 1000;
    const rx = await new Receiver(() => Math.floor(now / 1000)).start();
    const outbox = new SqliteWebhookOutbox(':memory:');
    const lines: string[] = [];
    const hooks = new WebhookService({ url: rx.url, secret: SECRET, outbox, clock: () => Math.floor(now / 1000), nowMs: () => now, pollMs: 10, retentionDays: 2, log: (l) => lines.push(l) });
    try {
      hooks.start();
      const clearing = new Clearing({ issuerKeys: issuer.keySet(), clock: CLOCK });
      const r = vending(3301);
      await sell(r, makeWallet(issuer, 'hooks', 'prune'), 1, 250);
      const batch = r.export(NOW + 60).bytes;
      expect((await clearing.ingest(batch)).outcome).toBe('ingested');
      expect(await hooks.afterBatch(clearing, batch)).toBe(1);
      await until(async () => (await outbox.counts()).delivered >= 1, 'the delivery');
      const delivered = (await outbox.counts()).delivered;
      // One day on: nothing is old enough. Three days on (past the next prune round): the charge events go.
      now += 86_400_000 + 3_600_001;
      hooks.kick();
      await new Promise((r) => setTimeout(r, 100));
      expect((await outbox.counts()).delivered).toBe(delivered);
      now += 2 * 86_400_000 + 3_600_001;
      hooks.kick();
      await until(async () => (await outbox.counts()).delivered === 0, 'the prune');
      expect(lines.some((l) => /pruned \d+ delivered charge events older than 2 days/.test(l))).toBe(true);
      expect(() => new WebhookService({ url: rx.url, secret: SECRET, outbox, retentionDays: 0 })).toThrow(expect.objectContaining({ code: 'api.bad_option' }));
    } finally {
      await hooks.stop();
      await outbox.close();
      await rx.stop();
    }
  });

  it('signature rules: the worked example of spec/clearing-api.md §9.4, tolerance, backoff bounds, bad options', async () => {
    const spec = readFileSync('spec/clearing-api.md', 'utf8');
    const body = new TextEncoder().encode('{"id":"evt_0123456789abcdef0123456789abcdef","type":"wallet.blocklisted","created":1795000000,"data":{"walletId":"00112233445566778899aabbccddeeff"}}');
    const v1 = webhookSignature(SECRET, 1795000000, body);
    expect(spec).toContain(v1);
    expect(spec).toContain(new TextDecoder().decode(body));
    const header = `t=1795000000,v1=${v1}`;
    expect(checkWebhookSignature(header, body, SECRET, 1795000000 + 300)).toEqual({ ok: true, t: 1795000000 });
    expect(checkWebhookSignature(header, body, SECRET, 1795000000 + 301)).toEqual({ ok: false, reason: 'too_old' });
    expect(checkWebhookSignature(header, body, SECRET, 1795000000 - 301)).toEqual({ ok: false, reason: 'too_new' });
    expect(checkWebhookSignature(header, body.slice(1), SECRET, 1795000000)).toEqual({ ok: false, reason: 'bad_signature' });
    expect(checkWebhookSignature(`t=1795000001,v1=${v1}`, body, SECRET, 1795000000)).toEqual({ ok: false, reason: 'bad_signature' });
    expect(checkWebhookSignature(`v1=${v1}`, body, SECRET, 1795000000)).toEqual({ ok: false, reason: 'malformed_header' });
    expect(checkWebhookSignature(`t=1795000000,v1=${'0'.repeat(64)},v1=${v1}`, body, SECRET, 1795000000).ok).toBe(true); // a rotation's two signatures
    expect([1, 2, 3, 4, 30].map((k) => backoffMs(k, 1000, 3_600_000))).toEqual([1000, 2000, 4000, 8000, 3_600_000]);
    const outbox = new SqliteWebhookOutbox(':memory:');
    expect(() => new WebhookService({ url: 'ftp://x', secret: SECRET, outbox })).toThrow(expect.objectContaining({ code: 'api.bad_webhook_url' }));
    expect(() => new WebhookService({ url: 'https://u:p@x/', secret: SECRET, outbox })).toThrow(expect.objectContaining({ code: 'api.bad_webhook_url' }));
    expect(() => new WebhookService({ url: 'https://x/', secret: 'short', outbox })).toThrow(expect.objectContaining({ code: 'api.bad_webhook_secret' }));
    expect(() => new WebhookService({ url: 'https://x/', secret: SECRET, outbox, maxAttempts: 0 })).toThrow(expect.objectContaining({ code: 'api.bad_option' }));
    await outbox.close();
  });

  it('webhook URLs: 2,048 bytes as given and once normalised; port 0 and every port fetch refuses are refused up front', async () => {
    const bad = (url: string) => expect(() => checkWebhookUrl(url)).toThrow(expect.objectContaining({ code: 'api.bad_webhook_url' }));
    expect(checkWebhookUrl(`http://127.0.0.1:9999/h?q=${'a'.repeat(2000)}`).port).toBe('9999');
    bad(`http://127.0.0.1:9999/h?q=${'a'.repeat(2048)}`);
    // 1,423 bytes as written, 4,223 once percent-encoded (the form the house records and reads back, at most 4,096)
    bad(`http://127.0.0.1:9999/h?q=${'"'.repeat(1400)}`);
    bad('http://127.0.0.1:0/h');
    for (const p of BLOCKED_WEBHOOK_PORTS) bad(`http://127.0.0.1:${p}/h`);
    expect(checkWebhookUrl('https://merchant.example/hooks').href).toBe('https://merchant.example/hooks'); // 443, not blocked
    // The spec lists the same ports (6665 to 6669 as a range).
    const spec = readFileSync('spec/clearing-api.md', 'utf8').replace(/\s+/g, ' ');
    const listed = /port-blocking: ([0-9, to]+);/.exec(spec)![1]!.split(', ').flatMap((x) => {
      const [a, b] = x.split(' to ').map(Number);
      return b === undefined ? [a!] : Array.from({ length: b - a! + 1 }, (_, i) => a! + i);
    });
    expect(listed).toEqual([...BLOCKED_WEBHOOK_PORTS]);
    // Node's fetch itself refuses each of them without connecting (the reason for the rule); an allowed port fails otherwise.
    const why = async (port: number) => fetch(`http://127.0.0.1:${port}/`).then(() => 'answered', (e: { cause?: { message?: string; code?: string } }) => String(e.cause?.message ?? e.cause?.code));
    expect(await why(10080)).toContain('bad port');
    expect(await why(6667)).toContain('bad port');
  });

  it('a failed outbox write does not lose wallet.blocklisted: the resent duplicate queues it; a duplicate never reads the whole blocklist', async () => {
    const real = new SqliteWebhookOutbox(':memory:');
    let failAdds = 0;
    const outbox: WebhookOutbox = Object.assign(Object.create(real) as WebhookOutbox, {
      add: async (events: Parameters<WebhookOutbox['add']>[0], nowMs: number) => {
        if (failAdds > 0) {
          failAdds--;
          throw new Error('outbox briefly unavailable');
        }
        return real.add(events, nowMs);
      },
    });
    const clearing = new Clearing({ issuerKeys: issuer.keySet(), clock: CLOCK });
    let wholeReads = 0;
    const blockedWalletIds = clearing.blockedWalletIds.bind(clearing);
    clearing.blockedWalletIds = () => {
      wholeReads++;
      return blockedWalletIds();
    };
    // 500 wallets blocked by hand before the start: the catch-up offers them once.
    for (let i = 0; i < 500; i++) await clearing.block(Uint8Array.from({ length: 16 }, (_, k) => (k < 2 ? i >> (8 * k) : 0xee) & 0xff), 'lost');
    const hooks = new WebhookService({ url: 'http://127.0.0.1:9999/h', secret: SECRET, outbox });
    const s = await clearingServer(clearing, hooks);
    try {
      const w = makeWallet(issuer, 'hooks', 'lost-event');
      const a = vending(351);
      const b = vending(352);
      await sell(a, w, 7, 500);
      await sell(b, w, 7, 500); // the same counter at another reader: a double spend, the wallet blocked
      expect((await s.post(a.export(NOW + 60).bytes)).outcome).toBe('ingested');
      expect(wholeReads).toBe(1); // the catch-up, at the first batch
      expect((await real.counts()).pending).toBe(1 + 500);
      const second = b.export(NOW + 60).bytes;
      failAdds = 1; // the batch that completes the double spend: its events cannot be written
      const r = await fetch(`${s.url}/v1/batches`, { method: 'POST', headers: { 'content-type': 'application/cbor' }, body: second as Uint8Array<ArrayBuffer> });
      expect(r.status).toBe(500);
      const blocked = eventId('wallet.blocklisted', toHex(walletIdOf(w.cert.walletPublicKey)));
      expect(await real.get(blocked)).toBeUndefined();
      // The reader, unanswered, resends: a duplicate, which queues the event after all.
      expect((await s.post(second)).outcome).toBe('duplicate');
      expect(await real.get(blocked)).toMatchObject({ type: 'wallet.blocklisted', state: 'pending' });
      // Duplicates again and again: none reads the whole blocklist.
      for (let i = 0; i < 5; i++) expect((await s.post(second)).outcome).toBe('duplicate');
      expect(wholeReads).toBe(1);
      // A blocklist check compares the whole list (wallets blocked by hand since, say).
      await clearing.block(new Uint8Array(16).fill(0xab), 'stolen');
      expect((await fetch(`${s.url}/v1/blocklist`)).status).toBe(200);
      expect(wholeReads).toBeGreaterThan(1);
      expect(await real.get(eventId('wallet.blocklisted', 'ab'.repeat(16)))).toMatchObject({ state: 'pending' });
    } finally {
      await s.close();
      await real.close();
    }
  });
});
