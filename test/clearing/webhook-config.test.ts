/**
 * One webhook configuration per clearing house (spec/clearing-api.md §9.5, src/server/webhook-config.ts):
 *  - a fast-check model on both engines (SQLite file; PostgreSQL on a throwaway cluster): random nodes starting
 *    with random URLs, secrets or no webhooks, some with --webhook-reconfigure, against a one-variable model:
 *    the first records, a match starts, anything else is refused with api.webhook_mismatch naming what differs
 *    (URL, secret fingerprint, on/off) and never the secret; a replace makes the new one the house's;
 *  - PostgreSQL: nodes of different configurations starting at once: exactly one records, the others match it
 *    or are refused;
 *  - a worker whose configuration is no longer the house's (mayDeliver false) claims nothing and keeps its
 *    events queued; they go out once it may deliver again;
 *  - the CLI: the built `clearing serve` records the configuration at its first start; restarted with another
 *    URL, another secret file, or without webhooks it exits 2 (api.webhook_mismatch, the secret not printed);
 *    --webhook-reconfigure replaces it and the next start with the new options serves; on PostgreSQL a second
 *    node with another URL is refused the same way.
 * Without PostgreSQL its tests are skipped with the reason, except under CI=true, where they fail. The SQLite
 * CLI test runs the built CLI (npm run build first).
 */
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import fc from 'fast-check';
import { afterAll, describe, expect, it } from 'vitest';
import { Clearing } from '../../src/clearing/index.js';
import { main } from '../../src/cli/main.js';
import { loadIssuer } from '../../src/node/files.js';
import { SqliteWebhookOutbox } from '../../src/server/outbox.js';
import {
  claimWebhookConfig, isCurrentWebhookConfig, sameWebhookConfig, webhookConfigOf, webhookSecretFingerprint, type WebhookConfig,
} from '../../src/server/webhook-config.js';
import { WebhookService } from '../../src/server/webhooks.js';
import { makeIssuer } from '../reader/helpers.js';
import { startPgCluster } from './pg-cluster.js';

const dir = mkdtempSync(join(tmpdir(), 'offpay-webhook-config-'));
const pg = await startPgCluster();
afterAll(() => {
  if (typeof pg !== 'string') pg.stop();
  rmSync(dir, { recursive: true, force: true });
});
const issuer = makeIssuer('webhook-config');
const CLI = join(import.meta.dirname, '../../dist/src/cli/main.js');
const URLS = ['http://127.0.0.1:59999/hooks', 'http://127.0.0.1:59999/other', 'https://merchant.example/offpay'];
const SECRETS = ['1a'.repeat(32), '2b'.repeat(32)];
let n = 0;

async function run(...argv: string[]): Promise<{ code: number; out: string; err: string }> {
  let out = '';
  let err = '';
  const code = await main(argv, { out: (s) => (out += s), err: (s) => (err += s) });
  return { code, out, err };
}

type Open = () => Promise<Clearing>;
const engines: { name: string; fresh: () => Promise<Open> }[] = [
  {
    name: 'SQLite',
    fresh: async () => {
      const path = join(dir, `c${++n}.db`);
      return () => Clearing.open({ path, issuerKeys: issuer.keySet() });
    },
  },
];
if (typeof pg !== 'string') {
  engines.push({
    name: 'PostgreSQL',
    fresh: async () => {
      const url = await pg.createDatabase();
      return () => Clearing.open({ url, issuerKeys: issuer.keySet() });
    },
  });
} else {
  describe('webhook configuration: PostgreSQL', () => it.skip(`skipped: ${pg}`, () => {}));
}

/** A node's configuration: a URL and a secret, or no webhooks. */
const config = fc.option(fc.tuple(fc.constantFrom(...URLS), fc.constantFrom(...SECRETS)), { nil: undefined, freq: 4 });
const cfgOf = (c: [string, string] | undefined): WebhookConfig => webhookConfigOf(c?.[0], c?.[1]);

for (const e of engines) {
  describe(`webhook configuration: ${e.name}`, () => {
    it('model: the first node records, a match starts, any difference is refused naming it (never the secret), a reconfigure replaces', async () => {
      await fc.assert(
        fc.asyncProperty(fc.array(fc.record({ cfg: config, replace: fc.boolean() }), { minLength: 1, maxLength: 8 }), async (starts) => {
          const open = await e.fresh();
          const c = await open();
          try {
            let held: WebhookConfig | undefined; // the model: what the house records
            for (const s of starts) {
              const mine = cfgOf(s.cfg);
              const secret = s.cfg?.[1];
              if (s.replace) {
                const r = await claimWebhookConfig(c.store, mine, { replace: true });
                expect(r).toEqual({ outcome: 'replaced', ...(held !== undefined ? { previous: held } : {}) });
                held = mine;
              } else if (held === undefined) {
                expect(await claimWebhookConfig(c.store, mine)).toEqual({ outcome: 'recorded' });
                held = mine;
              } else if (sameWebhookConfig(mine, held)) {
                expect(await claimWebhookConfig(c.store, mine)).toEqual({ outcome: 'matched' });
              } else {
                const err = await claimWebhookConfig(c.store, mine).then(() => undefined, (x: unknown) => x as { code: string; message: string });
                expect(err?.code).toBe('api.webhook_mismatch');
                const m = err!.message;
                for (const x of SECRETS) expect(m).not.toContain(x);
                if (mine === null) expect(m).toContain(`this node has no --webhook-url, but the house sends webhooks to ${held!.url}`);
                else if (held === null) expect(m).toContain(`this node has --webhook-url ${mine.url}, but the house serves without webhooks`);
                else {
                  expect(m.includes(`the URL: ${mine.url} here, ${held.url} held`)).toBe(mine.url !== held.url);
                  expect(m.includes(`the secret: fingerprint ${mine.secretSha256.slice(0, 16)} here, ${held.secretSha256.slice(0, 16)} held`)).toBe(mine.secretSha256 !== held.secretSha256);
                  expect(mine.secretSha256).toBe(webhookSecretFingerprint(secret!));
                }
              }
              // A running node with `mine` may deliver exactly while it is the house's.
              expect(await isCurrentWebhookConfig(c.store, mine)).toBe(sameWebhookConfig(mine, held));
            }
          } finally {
            await c.close();
          }
        }),
        { numRuns: e.name === 'SQLite' ? 60 : 20, seed: 1614 },
      );
    }, 120_000);

    if (e.name === 'PostgreSQL') {
      it('nodes of different configurations starting at once: exactly one records, each other matches it or is refused', async () => {
        for (let round = 0; round < 5; round++) {
          const open = await e.fresh();
          const nodes = await Promise.all([0, 1, 2, 3].map(() => open()));
          try {
            const mines = nodes.map((_, i) => webhookConfigOf(URLS[i % 2], SECRETS[0]));
            const results = await Promise.all(nodes.map((c, i) => claimWebhookConfig(c.store, mines[i]!).then((r) => r.outcome, (x: { code: string }) => x.code)));
            expect(results.filter((r) => r === 'recorded')).toHaveLength(1);
            const winner = mines[results.indexOf('recorded')]!;
            results.forEach((r, i) => expect(r).toBe(r === 'recorded' ? 'recorded' : sameWebhookConfig(mines[i]!, winner) ? 'matched' : 'api.webhook_mismatch'));
          } finally {
            await Promise.all(nodes.map((c) => c.close()));
          }
        }
      });
    }
  });
}

describe('a node whose configuration is no longer the house\'s', () => {
  it('claims nothing while mayDeliver is false (its events stay queued) and delivers once it is true again', async () => {
    const outbox = new SqliteWebhookOutbox(join(dir, 'guard.webhooks'));
    let may = false;
    let posts = 0;
    const lines: string[] = [];
    const hooks = new WebhookService({
      url: URLS[0]!, secret: SECRETS[0]!, outbox, pollMs: 10, mayDeliver: async () => may, log: (l) => lines.push(l),
      fetch: (async () => (posts++, new Response(null, { status: 200 }))) as typeof fetch,
    });
    try {
      await outbox.add([{ id: 'evt_' + '0'.repeat(32), type: 'charge.complete', body: new Uint8Array([0x7b, 0x7d]), created: 1 }], Date.now());
      hooks.start();
      await new Promise((r) => setTimeout(r, 150));
      expect(posts).toBe(0);
      expect(await outbox.counts()).toEqual({ pending: 1, delivered: 0, dead: 0 });
      expect(lines.filter((l) => l.includes('NOT DELIVERING'))).toHaveLength(1); // logged once, not at every poll
      may = true;
      const end = Date.now() + 5_000;
      while ((await outbox.counts()).delivered === 0 && Date.now() < end) await new Promise((r) => setTimeout(r, 10));
      expect(await outbox.counts()).toEqual({ pending: 0, delivered: 1, dead: 0 });
      expect(posts).toBe(1);
    } finally {
      await hooks.stop();
      await outbox.close();
    }
  });
});

describe('clearing serve refuses a webhook configuration other than the house\'s (CLI)', () => {
  it('SQLite: recorded at the first start; another URL, secret or none exits 2 naming it; --webhook-reconfigure replaces it', async () => {
    expect(existsSync(CLI), 'run `npm run build` first: this test spawns the built CLI').toBe(true);
    const d = join(dir, 'cli');
    const T0 = Math.floor(Date.now() / 1000);
    expect((await run('issuer', 'init', '--dir', join(d, 'issuer'), '--seed', 'webhook-config', `--now=${T0 - 86400}`)).code).toBe(0);
    const db = join(d, 'c.db');
    const base = ['clearing', 'serve', '--issuer', join(d, 'issuer'), '--db', db, '--port', '0'];
    const hook = (url: string, secretFile: string) => ['--webhook-url', url, '--webhook-secret-file', join(d, secretFile)];
    /** Start the built CLI, wait until it listens, stop it (SIGTERM): its output. */
    const startStop = async (...extra: string[]): Promise<string> => {
      const child = spawn(process.execPath, [CLI, ...base, ...extra], { stdio: ['ignore', 'pipe', 'pipe'] });
      let out = '';
      let err = '';
      child.stderr.on('data', (b: Buffer) => (err += b.toString()));
      const code = new Promise<number | null>((resolve) => child.on('exit', (c) => resolve(c)));
      await new Promise<void>((resolve, reject) => {
        child.stdout.on('data', (b: Buffer) => {
          out += b.toString();
          if (out.includes('listening on')) resolve();
        });
        child.on('exit', (c) => reject(new Error(`clearing serve exited ${c}: ${out}${err}`)));
      });
      child.kill('SIGTERM');
      expect(await code).toBe(0);
      return out;
    };
    expect(await startStop(...hook(URLS[0]!, 's1'))).toContain(`webhook configuration of the house recorded: webhooks to ${URLS[0]}, secret fingerprint`);
    const s1 = readFileSync(join(d, 's1'), 'utf8').trim();
    expect(await startStop(...hook(URLS[0]!, 's1'))).not.toContain('webhook configuration of the house');
    // Another URL; another secret (a new file, created now); no webhooks: exit 2 before listening.
    const url = await run(...base, ...hook(URLS[1]!, 's1'));
    expect(url.code).toBe(2);
    expect(url.err).toContain('[api.webhook_mismatch]');
    expect(url.err).toContain(`the URL: ${URLS[1]} here, ${URLS[0]} held`);
    expect(url.out).not.toContain('listening');
    const secret = await run(...base, ...hook(URLS[0]!, 's2'));
    expect(secret.code).toBe(2);
    expect(secret.err).toMatch(/the secret: fingerprint [0-9a-f]{16} here, [0-9a-f]{16} held/);
    expect(secret.err).toContain(`this node's secret was created just now in ${join(d, 's2')}`);
    const s2 = readFileSync(join(d, 's2'), 'utf8').trim();
    for (const x of [s1, s2]) expect(secret.err + secret.out + url.err + url.out).not.toContain(x);
    const none = await run(...base);
    expect(none.code).toBe(2);
    expect(none.err).toContain(`this node has no --webhook-url, but the house sends webhooks to ${URLS[0]}`);
    // A reconfigure with a bad option (or a lease the PostgreSQL house cannot use) exits 2 and changes nothing.
    const badOption = await run(...base, ...hook(URLS[1]!, 's2'), '--webhook-reconfigure', '--webhook-max-attempts', '0');
    expect([badOption.code, badOption.err]).toEqual([2, expect.stringContaining('[api.bad_option]')]);
    const badPort = await run(...base, ...hook('http://127.0.0.1:10080/hooks', 's2'), '--webhook-reconfigure');
    expect([badPort.code, badPort.err]).toEqual([2, expect.stringContaining('[api.bad_webhook_url]')]);
    expect(await startStop(...hook(URLS[0]!, 's1'))).not.toContain('webhook configuration of the house');
    // On purpose: --webhook-reconfigure replaces it; then the new options start without the flag, the old ones do not.
    expect(await startStop(...hook(URLS[1]!, 's2'), '--webhook-reconfigure')).toMatch(new RegExp(`replaced: webhooks to ${URLS[0]}, secret fingerprint [0-9a-f]{16} -> webhooks to ${URLS[1]}`));
    await startStop(...hook(URLS[1]!, 's2'));
    expect((await run(...base, ...hook(URLS[0]!, 's1'))).code).toBe(2);
    // Turning webhooks off is a reconfigure without --webhook-url.
    expect(await startStop('--webhook-reconfigure')).toContain('-> no webhooks');
    await startStop();
    expect((await run(...base, ...hook(URLS[1]!, 's2'))).err).toContain(`this node has --webhook-url ${URLS[1]}, but the house serves without webhooks`);
  }, 60_000);

  if (typeof pg !== 'string') {
    it('PostgreSQL: a node with another URL than the house\'s is refused (exit 2) before it serves', async () => {
      const d = join(dir, 'cli-pg');
      const T0 = Math.floor(Date.now() / 1000);
      expect((await run('issuer', 'init', '--dir', join(d, 'issuer'), '--seed', 'webhook-config-pg', `--now=${T0 - 86400}`)).code).toBe(0);
      const db = await pg.createDatabase();
      const c = await Clearing.open({ url: db, issuerKeys: loadIssuer(join(d, 'issuer')).keySet() });
      try {
        // The house's first node recorded URLS[0] with its secret (as a started node does).
        await claimWebhookConfig(c.store, webhookConfigOf(URLS[0], SECRETS[0]));
        const r = await run('clearing', 'serve', '--issuer', join(d, 'issuer'), '--db', db, '--port', '0', '--operator-token-file', join(d, 'op'), '--webhook-url', URLS[1]!, '--webhook-secret-file', join(d, 's'));
        expect(r.code).toBe(2);
        expect(r.err).toContain('[api.webhook_mismatch]');
        expect(r.err).toContain(`the URL: ${URLS[1]} here, ${URLS[0]} held`);
        expect(r.err).toContain('the secret: fingerprint');
        expect(r.err).not.toContain(readFileSync(join(d, 's'), 'utf8').trim());
        expect(await isCurrentWebhookConfig(c.store, webhookConfigOf(URLS[0], SECRETS[0]))).toBe(true);
      } finally {
        await c.close();
      }
    });
  }
});
