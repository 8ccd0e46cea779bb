/**
 * Webhooks from a PostgreSQL clearing house (spec/clearing-api.md §9.2, W1 on several nodes): the shared outbox
 * table webhook_events (src/server/outbox-pg.ts) on a throwaway cluster (pg-cluster.ts).
 *  - the claim: two outbox instances racing `due` never get one event while its lease is live; a claim that
 *    passed to another node records nothing; a failed try and a closing node give their claims back; after the
 *    lease another node takes the event; a table of another layout is refused;
 *  - two built `clearing serve` nodes on one database with a local receiver that checks every HMAC signature:
 *    batches posted to both nodes, every charge.complete and wallet.blocklisted delivered, each event id exactly
 *    once (the receiver answers slowly, so both workers look at the same due events);
 *  - a node killed with SIGKILL while it holds claimed events (the receiver holds every request open): the
 *    surviving node (or the restarted one) delivers them, none before the dead node's lease ended; the restarted
 *    node serves and delivers new events; both nodes report the same counts.
 * Without PostgreSQL the tests are skipped with the reason, except under CI=true, where they fail. The serve
 * nodes run from dist/ (npm run build first).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { createHmac, timingSafeEqual } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { sha256 } from '../../src/crypto.js';
import { toHex } from '../../base/hex.js';
import { walletIdOf } from '../../src/messages.js';
import { saveIssuer } from '../../src/node/files.js';
import { openPgWebhookOutbox } from '../../src/server/outbox-pg.js';
import { expectPruneRule } from './outbox-prune.js';
import { eventId, WebhookService } from '../../src/server/webhooks.js';
import { NOW, makeIssuer, makeWallet, type TestWallet } from '../reader/helpers.js';
import { sell, vendingReader } from './vending.js';
import { startPgCluster } from './pg-cluster.js';

const CLI = join(import.meta.dirname, '../../dist/src/cli/main.js');
const SECRET = '6a'.repeat(32);
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function until(cond: () => boolean | Promise<boolean>, what: string, ms = 20_000): Promise<void> {
  const end = Date.now() + ms;
  while (!(await cond())) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await sleep(20);
  }
}

/** A merchant's receiver: checks each signature with its own HMAC, records every arrival with its time. */
class Receiver {
  private server!: Server;
  url = '';
  arrivals: { id: string; type: string; at: number; sigOk: boolean }[] = [];
  /** 'hold': keep every request open (answered by release()); 'ok': answer 200 after delayMs. */
  mode: 'ok' | 'hold' = 'ok';
  delayMs = 0;
  private held: ServerResponse[] = [];

  private verify(header: string | undefined, raw: Buffer): boolean {
    const m = /^t=(\d+),v1=([0-9a-f]{64})$/.exec(header ?? '');
    if (!m || Math.abs(Date.now() / 1000 - Number(m[1])) > 300) return false;
    const mac = createHmac('sha256', SECRET).update(`${m[1]}.`).update(raw).digest();
    return timingSafeEqual(mac, Buffer.from(m[2]!, 'hex'));
  }
  async start(): Promise<this> {
    this.server = createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => {
        const raw = Buffer.concat(chunks);
        const sigOk = this.verify(req.headers['offpay-signature'] as string | undefined, raw);
        const ev = JSON.parse(raw.toString()) as { id: string; type: string };
        this.arrivals.push({ id: String(req.headers['idempotency-key']), type: ev.type, at: Date.now(), sigOk: sigOk && ev.id === req.headers['idempotency-key'] });
        if (!sigOk) return void res.writeHead(400).end();
        if (this.mode === 'hold') return void this.held.push(res);
        setTimeout(() => res.writeHead(200).end(), this.delayMs);
      });
    });
    await new Promise<void>((r) => this.server.listen(0, '127.0.0.1', r));
    this.url = `http://127.0.0.1:${(this.server.address() as AddressInfo).port}/hooks`;
    return this;
  }
  /** Answer 200 to every request held open, and to the next ones. */
  release(): void {
    this.mode = 'ok';
    for (const res of this.held.splice(0)) if (!res.destroyed) res.writeHead(200).end();
  }
  ids(): Map<string, number> {
    const m = new Map<string, number>();
    for (const a of this.arrivals) m.set(a.id, (m.get(a.id) ?? 0) + 1);
    return m;
  }
  stop(): Promise<void> {
    return new Promise((r) => {
      this.server.close(() => r());
      this.server.closeAllConnections();
    });
  }
}

/** One built `clearing serve` node on the PostgreSQL database. */
class Node {
  child!: ChildProcess;
  url = '';
  /** claimed_by of this process (from its start-up line). */
  name = '';
  out = '';
  exited!: Promise<number | null>;
  constructor(private readonly args: string[]) {}
  async start(): Promise<this> {
    this.out = '';
    this.child = spawn(process.execPath, [CLI, 'clearing', 'serve', '--port', '0', ...this.args], { stdio: ['ignore', 'pipe', 'pipe'] });
    this.exited = new Promise((res) => this.child.on('exit', (c) => res(c)));
    await new Promise<void>((resolve, reject) => {
      this.child.stdout!.on('data', (b: Buffer) => {
        this.out += b.toString();
        const u = /listening on (http:\/\/\S+)/.exec(this.out);
        const n = /, node (\S+), lease \d+ ms/.exec(this.out);
        if (u && n) {
          this.url = u[1]!;
          this.name = n[1]!;
          resolve();
        }
      });
      this.child.stderr!.on('data', (b: Buffer) => (this.out += b.toString()));
      this.child.on('exit', (c) => reject(new Error(`clearing serve exited ${c}: ${this.out}`)));
    });
    return this;
  }
  async kill9(): Promise<void> {
    this.child.kill('SIGKILL');
    await this.exited;
  }
  async stop(): Promise<number | null> {
    this.child.kill('SIGTERM');
    return this.exited;
  }
  async post(batch: Uint8Array): Promise<string> {
    const r = await fetch(`${this.url}/v1/batches`, { method: 'POST', headers: { 'content-type': 'application/cbor' }, body: batch as Uint8Array<ArrayBuffer> });
    return ((await r.json()) as { outcome: string }).outcome;
  }
  async get(path: string, token?: string): Promise<unknown> {
    const r = await fetch(`${this.url}${path}`, token ? { headers: { authorization: `Bearer ${token}` } } : {});
    return r.json();
  }
}

const issuer = makeIssuer('hooks-pg');
const vending = (id: number) => vendingReader(issuer, 'hooks-pg', id);

/**
 * `readers` readers selling `perReader` tokens each to their own wallets, plus `clones` wallets that spend one
 * counter at two readers (a double spend: wallet.blocklisted). Returns each reader's batch and the tokens.
 */
async function population(firstReader: number, readers: number, perReader: number, clones: number, tag: string) {
  const rs = Array.from({ length: readers }, (_, i) => vending(firstReader + i));
  const tokens: Uint8Array[] = [];
  for (const [i, r] of rs.entries()) for (let k = 0; k < perReader; k++) tokens.push(await sell(r, makeWallet(issuer, 'hooks-pg', `${tag}-${i}-${k}`), 1, 100 + k));
  const cloned: TestWallet[] = [];
  for (let c = 0; c < clones; c++) {
    const w = makeWallet(issuer, 'hooks-pg', `${tag}-clone-${c}`);
    cloned.push(w);
    tokens.push(await sell(rs[c % readers]!, w, 9, 300));
    tokens.push(await sell(rs[(c + 1) % readers]!, w, 9, 300));
  }
  const blocked = cloned.map((w) => eventId('wallet.blocklisted', toHex(walletIdOf(w.cert.walletPublicKey))));
  return { batches: rs.map((r) => r.export(NOW + 60).bytes), tokens, blocked };
}

/** The events the house must send: charge.complete of every token now successful, wallet.blocklisted of every clone. */
async function expectedEvents(node: Node, tokens: Uint8Array[], blocked: string[]): Promise<Set<string>> {
  const want = new Set(blocked);
  for (const t of tokens) {
    const h = toHex(sha256(t));
    const p = (await node.get(`/v1/payments/${h}`)) as { state: string };
    if (p.state === 'successful') want.add(eventId('charge.complete', h));
  }
  return want;
}

const started = await startPgCluster();
if (typeof started === 'string') {
  describe('webhooks from a PostgreSQL clearing house', () => {
    it.skip(`skipped: ${started}`, () => {});
  });
  process.stderr.write(`webhooks-pg.test.ts: skipped, ${started}\n`);
} else {
  const cluster = started;
  const dir = mkdtempSync(join(tmpdir(), 'offpay-hooks-pg-'));
  afterAll(() => {
    cluster.stop();
    rmSync(dir, { recursive: true, force: true });
  });
  saveIssuer(join(dir, 'issuer'), issuer);
  writeFileSync(join(dir, 'secret'), SECRET + '\n', { mode: 0o600 });
  const { default: pg } = await import('pg');
  const sql = async (url: string, text: string, values: unknown[] = []) => {
    const c = new pg.Client({ connectionString: url });
    await c.connect();
    try {
      return (await c.query(text, values)).rows as Record<string, unknown>[];
    } finally {
      await c.end();
    }
  };
  const nodeArgs = (db: string, rx: Receiver, extra: string[] = []) => [
    '--issuer', join(dir, 'issuer'), '--db', db, '--operator-token-file', join(dir, 'op-token'),
    '--webhook-url', rx.url, '--webhook-secret-file', join(dir, 'secret'), '--webhook-retry-base-ms', '50', ...extra,
  ];

  describe('webhooks from a PostgreSQL clearing house', () => {
    it('the claim: racing workers never share a live claim; a lost claim records nothing; failures and closing give claims back; the lease ends', async () => {
      const url = await cluster.createDatabase();
      const LEASE = 5_000; // the checks below that need live leases take far less
      const o1 = await openPgWebhookOutbox({ url, node: 'n1', leaseMs: LEASE, poolSize: 8 });
      const o2 = await openPgWebhookOutbox({ url, node: 'n2', leaseMs: LEASE, poolSize: 8 });
      try {
        const ev = (i: number) => ({ id: `evt_${i.toString(16).padStart(32, '0')}`, type: 'charge.complete', body: new TextEncoder().encode(`{"n":${i}}`), created: NOW });
        const all = Array.from({ length: 60 }, (_, i) => ev(i));
        // Both nodes derive overlapping events at once: each id is held once.
        const added = await Promise.all([o1.add(all.slice(0, 40), 1_000), o2.add(all.slice(20), 1_000)]);
        expect(added[0] + added[1]).toBe(60);
        expect(await o1.add(all.slice(0, 5), 1_000)).toBe(0);
        expect(await o2.counts()).toEqual({ pending: 60, delivered: 0, dead: 0 });
        expect(await o1.due(999, 100)).toEqual([]); // not due yet
        expect(await o1.nextDue()).toBe(1_000);

        // A claim in progress elsewhere (rows locked by another transaction, here held open) is skipped, not
        // waited for and not taken: the claimer passes over locked rows (SKIP LOCKED).
        const locker = new pg.Client({ connectionString: url });
        await locker.connect();
        await locker.query('BEGIN');
        const locked = (await locker.query("SELECT id FROM webhook_events WHERE state = 'pending' ORDER BY next_at, seq LIMIT 5 FOR UPDATE")).rows.map((r: { id: string }) => r.id);
        const passed = await Promise.race([o1.due(5_000, 10), sleep(3_000).then(() => 'waited for the locked rows' as const)]);
        await locker.query('ROLLBACK');
        await locker.end();
        expect(typeof passed === 'string' ? passed : passed.length).toBe(10);
        const firstTen = typeof passed === 'string' ? [] : passed.map((e) => e.id);
        expect(firstTen.filter((id) => locked.includes(id))).toEqual([]);

        // Rounds of 16 concurrent claims of 3 (half from each node) until nothing is left: no event twice.
        const claimedBy = new Map<string, string>(firstTen.map((id) => [id, 'n1']));
        const twice: string[] = [];
        for (let round = 0; round < 30; round++) {
          const got = await Promise.all(Array.from({ length: 16 }, (_, k) => (k % 2 ? o1 : o2).due(5_000, 3).then((es) => es.map((e) => [k % 2 ? 'n1' : 'n2', e.id] as const))));
          const flat = got.flat();
          if (!flat.length) break;
          for (const [n, id] of flat) {
            if (claimedBy.has(id)) twice.push(id);
            claimedBy.set(id, n);
          }
        }
        expect(twice).toEqual([]);
        expect(claimedBy.size).toBe(60);
        expect(await o1.due(5_000, 100)).toEqual([]); // every lease is live
        expect(await o2.due(5_000, 100)).toEqual([]);

        const mine = (n: string) => [...claimedBy].filter(([, m]) => m === n).map(([id]) => id);
        const [a, b, c] = mine('n1');
        const x = mine('n2')[0]!;
        // Only the holder renews and records.
        expect(await o1.hold(a!)).toBe(true);
        expect(await o2.hold(a!)).toBe(false);
        expect(await o2.delivered(a!, 1)).toBe(false);
        expect(await o2.failed(a!, 1, 'HTTP 500', 2_000, true)).toBe(false);
        expect((await o1.get(a!))?.state).toBe('pending');
        expect(await o1.delivered(a!, 1)).toBe(true);
        expect(await o1.get(a!)).toMatchObject({ state: 'delivered', attempts: 1 });
        expect(await o1.delivered(a!, 2)).toBe(false); // delivered once
        // A failed try ends the lease: the retry (at next_at) is any node's.
        expect(await o1.failed(b!, 1, 'HTTP 503', 6_000, false)).toBe(true);
        expect(await o2.due(5_000, 100)).toEqual([]);
        expect((await o2.due(6_000, 100)).map((e) => e.id)).toEqual([b]);
        expect(await o1.hold(b!)).toBe(false);
        expect(await o2.failed(b!, 2, 'HTTP 410', 7_000, true)).toBe(true);
        expect((await o1.dead(10)).map((e) => [e.id, e.attempts, e.lastError])).toEqual([[b, 2, 'HTTP 410']]);
        expect(await o1.counts()).toEqual({ pending: 58, delivered: 1, dead: 1 });

        // After the lease, n2 takes n1's remaining claims (n1 "died"), oldest due first; n1 can no longer record them.
        await sleep(LEASE + 200);
        const taken = await o2.due(10_000, 100);
        expect(taken.map((e) => e.id).sort()).toEqual(mine('n1').concat(mine('n2')).filter((id) => id !== a && id !== b).sort());
        expect(taken.map((e) => e.nextAt)).toEqual([...taken.map((e) => e.nextAt)].sort((p, q) => p - q));
        expect(await o1.hold(c!)).toBe(false);
        expect(await o1.delivered(c!, 1)).toBe(false);
        expect(await o2.delivered(c!, 1)).toBe(true);
        expect(await o2.hold(x)).toBe(true);
        // A node that closes gives its claims back at once.
        expect(await o1.due(10_000, 100)).toEqual([]);
        await o2.close();
        expect((await o1.due(10_000, 100)).length).toBe(57);
        expect((await sql(url, "SELECT count(*)::int AS n FROM webhook_events WHERE claimed_by = 'n1' AND state = 'pending'"))[0]!.n).toBe(57);

        // The lease must outlast a try; bounds; a table of another layout is refused.
        expect(() => new WebhookService({ url: 'http://127.0.0.1:59999/', secret: SECRET, outbox: o1, requestTimeoutMs: 4_500 })).toThrow(expect.objectContaining({ code: 'api.bad_option' }));
        expect(new WebhookService({ url: 'http://127.0.0.1:59999/', secret: SECRET, outbox: o1, requestTimeoutMs: 4_000 })).toBeDefined();
        await expect(openPgWebhookOutbox({ url, leaseMs: 999 })).rejects.toMatchObject({ code: 'api.bad_option' });
        const other = await cluster.createDatabase();
        await sql(other, 'CREATE TABLE webhook_events(id text PRIMARY KEY, body bytea)');
        await expect(openPgWebhookOutbox({ url: other })).rejects.toMatchObject({ code: 'clearing.store_unusable' });
      } finally {
        await o1.close();
        await o2.close();
      }
    }, 30_000);

    it('prune: only delivered charge events past the cutoff, at most limit a call (spec/clearing-api.md §9.2 step 7)', async () => {
      const outbox = await openPgWebhookOutbox({ url: await cluster.createDatabase(), node: 'p1' });
      try {
        await expectPruneRule(outbox);
      } finally {
        await outbox.close();
      }
    });

    it('two serve nodes: batches posted to both, every event delivered exactly once, signed; both nodes report the house', async () => {
      const db = await cluster.createDatabase();
      const rx = await new Receiver().start();
      rx.delayMs = 15; // slow enough that both workers see the same due events
      const a = await new Node(nodeArgs(db, rx)).start();
      const b = await new Node(nodeArgs(db, rx)).start();
      try {
        expect(a.name).not.toBe(b.name);
        const pop = await population(801, 8, 6, 3, 'once');
        const outcomes = await Promise.all(pop.batches.map((batch, i) => (i % 2 ? a : b).post(batch)));
        expect(outcomes.every((o) => o === 'ingested')).toBe(true);
        // Every token successful now and every clone's wallet must be announced; a clone's first token may have
        // been announced before the second spend was seen, so the sent set lies between `want` and `possible`.
        const want = await expectedEvents(a, pop.tokens, pop.blocked);
        const possible = new Set([...pop.tokens.map((t) => eventId('charge.complete', toHex(sha256(t)))), ...pop.blocked]);
        expect(want.size).toBeGreaterThanOrEqual(48 + 3);
        await until(() => [...want].every((id) => rx.ids().has(id)), 'every event');
        const token = (await import('node:fs')).readFileSync(join(dir, 'op-token'), 'utf8').trim();
        await until(async () => ((await a.get('/v1/webhooks', token)) as { counts: { pending: number } }).counts.pending === 0, 'the outbox recording every delivery');
        await sleep(1_200); // a poll of both workers later: still nothing sent twice
        const counts = [...rx.ids()];
        expect(counts.filter(([, n]) => n !== 1)).toEqual([]); // each id once
        expect(counts.filter(([id]) => !possible.has(id))).toEqual([]);
        const sent = rx.ids().size;
        expect(rx.arrivals.every((x) => x.sigOk)).toBe(true);
        expect(rx.arrivals.filter((x) => x.type === 'wallet.blocklisted').length).toBe(3);
        for (const n of [a, b]) expect(await n.get('/v1/webhooks', token)).toMatchObject({ counts: { pending: 0, delivered: sent, dead: 0 }, dead: [] });
        // Both workers took part (each node claimed events the other had queued, or its own).
        const by = await sql(db, "SELECT claimed_by, count(*)::int AS n FROM webhook_events WHERE state = 'delivered' GROUP BY claimed_by");
        expect(by.map((r) => r.claimed_by).sort()).toEqual([a.name, b.name].sort());
        // A resent batch queues nothing new and sends nothing.
        expect(await b.post(pop.batches[1]!)).toBe('duplicate');
        await sleep(300);
        expect(rx.arrivals.length).toBe(sent);
      } finally {
        expect(await a.stop()).toBe(0);
        expect(await b.stop()).toBe(0);
        await rx.stop();
      }
    }, 60_000);

    it('one configuration per house (§9.5): another URL is refused; after --webhook-reconfigure the old node left running sends nothing and the new one delivers its events', async () => {
      const db = await cluster.createDatabase();
      const rx1 = await new Receiver().start();
      const rx2 = await new Receiver().start();
      const a = await new Node(nodeArgs(db, rx1)).start();
      let b: Node | undefined;
      try {
        expect(a.out).toContain(`webhook configuration of the house recorded: webhooks to ${rx1.url}`);
        await expect(new Node(nodeArgs(db, rx2)).start()).rejects.toThrow(/exited 2: .*the URL: .* here, .* held.*\[api\.webhook_mismatch\]/s);
        b = await new Node(nodeArgs(db, rx2, ['--webhook-reconfigure'])).start();
        expect(b.out).toContain(`webhook configuration of the house replaced: webhooks to ${rx1.url}`);
        await until(() => a.out.includes('NOT DELIVERING'), 'the old node to stop delivering', 10_000);
        // Batches answered by the old node: it queues their events, the reconfigured node sends them.
        const pop = await population(901, 4, 3, 1, 'reconf');
        expect((await Promise.all(pop.batches.map((batch) => a.post(batch)))).every((o) => o === 'ingested')).toBe(true);
        const want = await expectedEvents(a, pop.tokens, pop.blocked);
        await until(() => [...want].every((id) => rx2.ids().has(id)), 'every event at the new URL');
        await sleep(1_200); // a poll of the old node later
        expect(rx1.arrivals).toEqual([]);
        expect(rx2.arrivals.every((x) => x.sigOk)).toBe(true);
      } finally {
        expect(await a.stop()).toBe(0);
        if (b) expect(await b.stop()).toBe(0);
        await rx1.stop();
        await rx2.stop();
      }
    }, 60_000);

    it('a node killed with SIGKILL while it holds claimed events: another node delivers them after the lease; the restarted node resumes', async () => {
      const db = await cluster.createDatabase();
      const rx = await new Receiver().start();
      rx.mode = 'hold'; // every delivery hangs: the workers sit on their claims
      const LEASE = 3_000;
      const extra = ['--webhook-lease-ms', String(LEASE), '--webhook-timeout-ms', '1000'];
      const a = await new Node(nodeArgs(db, rx, extra)).start();
      const b = await new Node(nodeArgs(db, rx, extra)).start();
      let a2: Node | undefined;
      try {
        const pop = await population(901, 6, 6, 0, 'kill');
        for (const [i, batch] of pop.batches.entries()) expect(await (i % 3 ? a : b).post(batch)).toBe('ingested');
        const held = `SELECT id, lease_until FROM webhook_events WHERE claimed_by = $1 AND state = 'pending' AND lease_until > ${'(extract(epoch FROM clock_timestamp()) * 1000)::bigint'}`;
        await until(async () => (await sql(db, held, [a.name])).length >= 5, 'node A holding claims');
        await a.kill9();
        // A request A wrote just before it died may still be read by the receiver (this process) a moment later.
        const killedAt = Date.now() + 50;
        // What A held when it died (nothing changes them now but the lease's end).
        const heldByA = new Map((await sql(db, held, [a.name])).map((r) => [String(r.id), Number(r.lease_until)]));
        expect(heldByA.size).toBeGreaterThanOrEqual(5);
        rx.release();
        a2 = await new Node(nodeArgs(db, rx, extra)).start(); // restarted at once: a new node, it waits for the lease too
        const want = await expectedEvents(b, pop.tokens, pop.blocked);
        expect(want.size).toBe(36);
        await until(() => [...want].every((id) => rx.ids().has(id)), 'every event at least once');
        await until(async () => (await sql(db, "SELECT count(*)::int AS n FROM webhook_events WHERE state <> 'delivered'"))[0]!.n === 0, 'every event recorded delivered');
        // Every event A held: delivered again only after A's lease ended, by another node.
        const early = [];
        for (const [id, leaseUntil] of heldByA) {
          for (const x of rx.arrivals.filter((y) => y.id === id && y.at >= killedAt)) if (x.at < leaseUntil - 50) early.push({ id, at: x.at, leaseUntil });
          expect(rx.arrivals.some((y) => y.id === id && y.at >= killedAt)).toBe(true);
        }
        expect(early).toEqual([]);
        const finalBy = await sql(db, 'SELECT id, claimed_by FROM webhook_events WHERE id = ANY($1)', [[...heldByA.keys()]]);
        expect(finalBy.every((r) => r.claimed_by === b.name || r.claimed_by === a2!.name)).toBe(true);
        expect(rx.arrivals.every((x) => x.sigOk)).toBe(true);
        // The restarted node serves: a new batch's events are delivered, and both nodes report the same house.
        const more = await population(951, 1, 3, 0, 'after');
        expect(await a2.post(more.batches[0]!)).toBe('ingested');
        const wantMore = await expectedEvents(a2, more.tokens, []);
        await until(() => [...wantMore].every((id) => rx.ids().has(id)), 'the events after the restart');
        const token = (await import('node:fs')).readFileSync(join(dir, 'op-token'), 'utf8').trim();
        await until(async () => ((await a2!.get('/v1/webhooks', token)) as { counts: { delivered: number } }).counts.delivered === 39, 'the outbox recording them');
        for (const n of [a2, b]) expect(await n.get('/v1/webhooks', token)).toMatchObject({ counts: { pending: 0, delivered: 39, dead: 0 } });
      } finally {
        if (a2) expect(await a2.stop()).toBe(0);
        expect(await b.stop()).toBe(0);
        await rx.stop();
      }
    }, 60_000);
  });
}
