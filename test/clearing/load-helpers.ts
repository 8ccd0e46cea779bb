/**
 * Helpers for the clearing load and kill tests: the database a `clearing serve` node opens (a parameter, so
 * that the PostgreSQL engine plugs in), a bounded HTTP client, the reference (a single in-process `Clearing`
 * ingest of the same batches) and the report comparison.
 *
 * Database: `OFFPAY_TEST_CLEARING_DB` (a `postgres://...` URL once that engine exists; it must name an empty
 * database) or, by default, a fresh SQLite file in the test's temp directory. Nodes: `OFFPAY_TEST_CLEARING_NODES`
 * (default 1; SQLite is one node).
 */
import { Agent, request } from 'node:http';
import { accessSync, constants, mkdtempSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Clearing } from '../../src/clearing/index.js';
import { toHex } from '../../base/hex.js';
import type { IssuerKeySet } from '../../src/messages.js';

/**
 * A directory for the SQLite database: on tmpfs (/dev/shm) when there is one. These tests kill the server
 * process, never the machine: what a killed process wrote is in the page cache and survives it, so the
 * fsync that synchronous = FULL pays per commit (about 7 ms here, most of the run) guards only against a
 * power cut, which they do not simulate. bench/clearing.bench.ts measures on the disk.
 */
export function scratchDir(prefix: string): string {
  const shm = '/dev/shm';
  let base = tmpdir();
  try {
    if (statSync(shm).isDirectory()) {
      accessSync(shm, constants.W_OK);
      base = shm;
    }
  } catch {
    // no tmpfs: the system temp directory
  }
  return mkdtempSync(join(base, prefix));
}

export function clearingDb(dir: string, name: string): { db: string; nodes: number; engine: string } {
  const env = process.env.OFFPAY_TEST_CLEARING_DB;
  const nodes = Number(process.env.OFFPAY_TEST_CLEARING_NODES ?? '1');
  if (!Number.isSafeInteger(nodes) || nodes < 1 || nodes > 8) throw new Error('OFFPAY_TEST_CLEARING_NODES must be 1..8');
  if (!env && nodes !== 1) throw new Error('several clearing nodes need a shared database (OFFPAY_TEST_CLEARING_DB=postgres://...)');
  return env ? { db: env, nodes, engine: env.split(':')[0]! } : { db: join(dir, `${name}.db`), nodes: 1, engine: 'sqlite' };
}

export interface HttpAnswer {
  status: number;
  body: Buffer;
}

/** node:http with at most `maxSockets` sockets in use at once (keep-alive), every request bounded in time. */
export class BoundedHttp {
  readonly agent: Agent;
  constructor(maxSockets: number, private readonly timeoutMs = 30_000) {
    this.agent = new Agent({ keepAlive: true, maxSockets, maxFreeSockets: maxSockets });
  }
  /**
   * One request. A GET, or a POST the caller says is idempotent (a batch: spec/clearing-api.md §2.1), that meets
   * a connection reset is sent again (at most twice): a kept-alive socket the server closed as idle just as the
   * request left (node's keepAliveTimeout race), as a reader's sync would resend it (§8). Other POSTs are never
   * resent here. A resent POST whose first try the server committed is answered `duplicate`: callers that count
   * outcomes allow for `postRetries`.
   */
  async send(url: string, method: 'GET' | 'POST', body?: Uint8Array, headers: Record<string, string> = {}, o: { idempotent?: boolean } = {}): Promise<HttpAnswer> {
    for (let k = 0; ; k++) {
      try {
        return await this.once(url, method, body, headers);
      } catch (e) {
        const code = (e as NodeJS.ErrnoException).code;
        if ((method !== 'GET' && !o.idempotent) || k >= 2 || (code !== 'ECONNRESET' && code !== 'EPIPE')) throw e;
        if (method === 'GET') this.getRetries++;
        else this.postRetries++;
      }
    }
  }
  getRetries = 0;
  postRetries = 0;
  private once(url: string, method: 'GET' | 'POST', body?: Uint8Array, headers: Record<string, string> = {}): Promise<HttpAnswer> {
    return new Promise((resolve, reject) => {
      const req = request(url, { method, agent: this.agent, headers: { ...headers, ...(body ? { 'content-type': 'application/cbor', 'content-length': String(body.length) } : {}) }, timeout: this.timeoutMs }, (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks) }));
        res.on('error', reject);
      });
      req.on('timeout', () => req.destroy(new Error(`${method} ${url}: no answer within ${this.timeoutMs} ms`)));
      req.on('error', reject);
      req.end(body);
    });
  }
  close(): void {
    this.agent.destroy();
  }
}

/** Run `work` over `items` with at most `lanes` at a time; rejects on the first failure or past the deadline. */
export async function inLanes<T>(items: T[], lanes: number, deadlineMs: number, work: (item: T, lane: number) => Promise<void>): Promise<void> {
  let next = 0;
  let timer: NodeJS.Timeout | undefined;
  const deadline = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`not done within ${deadlineMs} ms (${next} of ${items.length} started)`)), deadlineMs);
  });
  const lane = async (k: number) => {
    while (next < items.length) await work(items[next++]!, k);
  };
  try {
    await Promise.race([Promise.all(Array.from({ length: Math.min(lanes, items.length) }, (_, k) => lane(k))), deadline]);
  } finally {
    clearTimeout(timer);
  }
}

/** The reference: one in-process Clearing (memory) ingesting every batch once, in the order given. */
export async function referenceClearing(issuerKeys: IssuerKeySet, batches: Uint8Array[]): Promise<Clearing> {
  const c = new Clearing({ issuerKeys });
  for (const b of batches) {
    const r = await c.ingest(b);
    if (r.outcome !== 'ingested') throw new Error(`reference ingest: ${r.outcome} ${r.error?.code ?? ''}`);
  }
  await c.blockOverAllowance();
  return c;
}

const sortByJson = <T>(xs: T[]): T[] => [...xs].sort((a, b) => (JSON.stringify(a) < JSON.stringify(b) ? -1 : JSON.stringify(a) > JSON.stringify(b) ? 1 : 0));

type Evidence = { tokenHash: string; readerId: number; kind: string };

/**
 * A report (the JSON of `GET /v1/report`, or `Clearing.report()` through the same JSON rules) with what
 * depends on arrival order or on the wall clock taken out, everything else kept:
 *  - a double spend and a reader fault are one finding per key (spec/clearing.md §4 step 10), and which pair
 *    shows it is the first pair found, so it depends on arrival order: the finding is compared by its key, and
 *    its pair is checked here to show it (other token bytes and no tap-out for counter_reuse; one token at two
 *    readers for same_token_twice; one token twice at the finding's reader for token_listed_twice);
 *    `detectedAt` is the clearing's clock;
 *  - `problems` are listed by time;
 *  - the blocklist version counts the lists signed (the server signs one per check), its entries stay.
 */
export function normalizeReport(report: unknown): Record<string, unknown> {
  const r = JSON.parse(JSON.stringify(report, (_k, v: unknown) => (typeof v === 'bigint' ? v.toString() : v instanceof Uint8Array ? toHex(v) : v))) as Record<string, unknown>;
  const shows = (what: string, ok: boolean) => {
    if (!ok) throw new Error(`a ${what} finding whose pair does not show it`);
  };
  const sale = (e: Evidence) => e.kind === 'accept' || e.kind === 'tap_in';
  const double = (x: Record<string, unknown>) => {
    const { kind, walletId, counter } = x as { kind: string; walletId: string; counter: number };
    const [a, b] = [x.first, x.second] as Evidence[];
    if (kind === 'counter_reuse') shows(kind, a!.tokenHash !== b!.tokenHash && a!.kind !== 'tap_out' && b!.kind !== 'tap_out');
    else shows(kind, a!.tokenHash === b!.tokenHash && a!.readerId !== b!.readerId && sale(a!) && sale(b!));
    return { kind, walletId, counter };
  };
  const fault = (x: Record<string, unknown>) => {
    const { kind, readerId, tokenHash } = x as { kind: string; readerId: number; tokenHash: string };
    const [a, b] = [x.first, x.second] as Evidence[];
    shows(kind, [a!, b!].every((e) => e.tokenHash === tokenHash && e.readerId === readerId && sale(e)) && JSON.stringify(a) !== JSON.stringify(b));
    return { kind, readerId, tokenHash };
  };
  return {
    ...r,
    doubleSpends: sortByJson((r.doubleSpends as Record<string, unknown>[]).map(double)),
    readerFaults: sortByJson((r.readerFaults as Record<string, unknown>[]).map(fault)),
    problems: sortByJson(r.problems as unknown[]),
    blocklist: { entries: (r.blocklist as { entries: number }).entries },
  };
}
