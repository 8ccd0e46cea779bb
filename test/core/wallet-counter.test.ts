/**
 * spec/protocol.md §9.2 and §9.4: a counter value is never used twice, whatever number of stores or
 * processes reserve from one counter file; a missing or corrupt counter file refuses instead of restarting;
 * a restore never goes below what is still visible; a lock is broken only when its holder is provably dead.
 */
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { hostname, tmpdir } from 'node:os';
import { join } from 'node:path';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { decodeToken, OffpayError, type CounterState } from '../../src/index.js';
import { FileCounterStore, createCounterFile, readCounterFile, restoreCounter } from '../../src/node/files.js';
import { currentHolder, processStart } from '../../src/node/lock.js';
import { main } from '../../src/cli/main.js';

const tmp = (p: string) => mkdtempSync(join(tmpdir(), `offpay-${p}-`));
const step = (amount: number, allowance = Number.MAX_SAFE_INTEGER) => (s: CounterState): CounterState => {
  if (s.spent + amount > allowance) throw new OffpayError('wallet.over_offline_allowance', 'over');
  return { counter: s.counter + 1, spent: s.spent + amount };
};
const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

/** The pid of a process that has exited (and been reaped), so provably dead. */
function deadPid(): number {
  const r = spawnSync(process.execPath, ['-e', '0']);
  expect(r.status).toBe(0);
  return r.pid!;
}

async function cli(...argv: string[]): Promise<{ code: number; out: string; err: string }> {
  let out = '';
  let err = '';
  const code = await main(argv, { out: (s) => (out += s), err: (s) => (err += s) });
  return { code, out, err };
}
const NOW = '--now=2026-11-22T12:00:00Z';

describe('counter reservation across processes (finding 6)', () => {
  const dist = join(import.meta.dirname, '../../dist/src');
  async function makeWallet(name: string): Promise<string> {
    const d = tmp(name);
    expect((await cli('issuer', 'init', '--dir', join(d, 'issuer'), '--seed', name, NOW)).code).toBe(0);
    expect((await cli('wallet', 'new', '--issuer', join(d, 'issuer'), '--out', join(d, 'w'), '--max-payment', '10', '--allowance', '10000', '--seed', name, NOW)).code).toBe(0);
    return d;
  }
  const runAll = (procs: Array<[string, string[]]>) =>
    Promise.all(
      procs.map(
        ([cmd, args]) =>
          new Promise<number>((res) => {
            const c = spawn(cmd, args, { stdio: ['ignore', 'ignore', 'inherit'] });
            c.on('exit', (code) => res(code ?? -1));
          }),
      ),
    );
  function checkTokens(d: string, n: number): void {
    const tokens = readdirSync(d).filter((f) => f.startsWith('tok-')).map((f) => decodeToken(new Uint8Array(readFileSync(join(d, f)))));
    expect(tokens).toHaveLength(n);
    expect(tokens.map((t) => t.counter).sort((a, b) => a - b)).toEqual(Array.from({ length: n }, (_, i) => i + 1)); // n distinct
    const sum = tokens.reduce((a, t) => a + t.amount, 0);
    expect(JSON.parse(readFileSync(join(d, 'w', 'counter.json'), 'utf8'))).toEqual({ counter: n, spent: sum });
    expect(existsSync(join(d, 'w', 'counter.json.lock'))).toBe(false);
  }

  it('4 processes x 25 payments at once on one wallet directory: 100 distinct counters, spent == sum of amounts', async () => {
    expect(existsSync(join(dist, 'node/files.js')), 'run `npm run build` first: this test spawns the built library').toBe(true);
    const d = await makeWallet('pay4');
    // Each process loads the wallet as `offpay pay` does, waits until all 4 are up, then pays 25 times as
    // fast as it can (amounts differ, so a lost update shows in `spent` too).
    const worker = `
      import { loadWallet } from ${JSON.stringify(join(dist, 'node/files.js'))};
      import { existsSync, writeFileSync } from 'node:fs';
      const [d, p] = process.argv.slice(1);
      const wallet = loadWallet(d + '/w');
      writeFileSync(d + '/ready-' + p, '');
      while (![0, 1, 2, 3].every((i) => existsSync(d + '/ready-' + i))) await new Promise((r) => setTimeout(r, 5));
      for (let i = 1; i <= 25; i++) writeFileSync(d + '/tok-' + p + '-' + i, await wallet.payTo({ payee: 7, amount: 1 + ((Number(p) * 25 + i) % 97) }));
    `;
    const codes = await runAll([0, 1, 2, 3].map((p) => [process.execPath, ['--input-type=module', '-e', worker, d, String(p)]]));
    expect(codes).toEqual([0, 0, 0, 0]);
    checkTokens(d, 100);
  }, 120_000);

  it('`offpay pay` takes the wallet lock: with a live holder it waits, then exits 2 with wallet.locked and pays nothing', async () => {
    const d = await makeWallet('clilock');
    const counter = join(d, 'w', 'counter.json');
    writeFileSync(`${counter}.lock`, JSON.stringify(currentHolder())); // held by this (live) process
    const r = await cli('pay', '--wallet', join(d, 'w'), '--payee', '7', '--amount', '1', '--out', join(d, 'tok'), NOW, '--json');
    expect(r.code).toBe(2);
    expect(JSON.parse(r.out)).toMatchObject({ ok: false, error: 'wallet.locked', detail: { pid: process.pid } });
    expect(existsSync(join(d, 'tok'))).toBe(false);
    expect(JSON.parse(readFileSync(counter, 'utf8'))).toEqual({ counter: 0, spent: 0 });
  }, 60_000);

  it('property: random interleavings of reservations from several stores on one file never repeat a counter', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.array(fc.record({ store: fc.integer({ min: 0, max: 3 }), amount: fc.integer({ min: 1, max: 400 }), delay: fc.integer({ min: 0, max: 3 }) }), { minLength: 1, maxLength: 24 }),
        fc.integer({ min: 500, max: 5000 }),
        async (ops, allowance) => {
          const path = join(tmp('prop'), 'counter.json');
          await createCounterFile(path);
          // A long lock wait: under a loaded machine's slow fsyncs a reservation may queue behind the others for
          // more than the default 10 s and fail with wallet.locked, which is the lock's own test (below), not this
          // property's (seen once: this property took 24 s instead of 1 to 8 and failed in a run of test/core).
          const stores = [0, 1, 2, 3].map(() => new FileCounterStore(path, { pollMs: 1, waitMs: 120_000 }));
          const results = await Promise.allSettled(
            ops.map(async (op) => {
              await sleep(op.delay);
              return { amount: op.amount, state: await stores[op.store]!.reserve(step(op.amount, allowance)) };
            }),
          );
          const ok = results.flatMap((r) => (r.status === 'fulfilled' ? [r.value] : []));
          for (const r of results) if (r.status === 'rejected') expect((r.reason as OffpayError).code).toBe('wallet.over_offline_allowance');
          const counters = ok.map((r) => r.state.counter).sort((a, b) => a - b);
          expect(counters).toEqual(Array.from({ length: ok.length }, (_, i) => i + 1)); // distinct, no gaps
          const spent = ok.reduce((a, r) => a + r.amount, 0);
          expect(spent).toBeLessThanOrEqual(allowance);
          expect(await readCounterFile(path)).toEqual({ counter: ok.length, spent });
          // Each reservation saw exactly the spent total of the ones before it.
          const byCounter = [...ok].sort((a, b) => a.state.counter - b.state.counter);
          let running = 0;
          for (const r of byCounter) {
            running += r.amount;
            expect(r.state.spent).toBe(running);
          }
        },
      ),
      { numRuns: 25 },
    );
  });
});

describe('the lock file (spec/protocol.md §9.2)', () => {
  const held = (path: string, h: object) => writeFileSync(`${path}.lock`, JSON.stringify(h));

  it('a live holder makes a reservation wait, then fail with wallet.locked and who holds it', async () => {
    const path = join(tmp('lock'), 'counter.json');
    await createCounterFile(path);
    held(path, currentHolder()); // this very process: alive
    const store = new FileCounterStore(path, { waitMs: 150, pollMs: 5 });
    const e = await store.reserve(step(1)).catch((x: unknown) => x);
    expect(e).toBeInstanceOf(OffpayError);
    expect((e as OffpayError).code).toBe('wallet.locked');
    expect((e as OffpayError).message).toContain(`process ${process.pid}`);
    expect(await readCounterFile(path)).toEqual({ counter: 0, spent: 0 });
    expect(existsSync(`${path}.lock`)).toBe(true); // a live lock is never removed
  });

  it('waits for a lock released meanwhile, then reserves', async () => {
    const path = join(tmp('lockwait'), 'counter.json');
    await createCounterFile(path);
    const a = new FileCounterStore(path);
    const b = new FileCounterStore(path, { pollMs: 1 });
    let later: Promise<CounterState> | undefined;
    const first = await a.reserve((s) => {
      later = b.reserve(step(2)); // starts while a holds the lock
      return step(1)(s);
    });
    expect(first).toEqual({ counter: 1, spent: 1 });
    expect(await later).toEqual({ counter: 2, spent: 3 });
    expect(await readCounterFile(path)).toEqual({ counter: 2, spent: 3 });
  });

  it('breaks a lock whose holder is provably dead (exited pid), and only that one', async () => {
    const path = join(tmp('stale'), 'counter.json');
    await createCounterFile(path);
    held(path, { ...currentHolder(), pid: deadPid() });
    const r = await new FileCounterStore(path, { waitMs: 2000 }).reserve(step(5));
    expect(r).toEqual({ counter: 1, spent: 5 });
    expect(existsSync(`${path}.lock`)).toBe(false);
    expect(readdirSync(join(path, '..')).sort()).toEqual(['counter.json']); // no temp or break files left
  });

  it.skipIf(processStart(process.pid) === null)('a reused pid (same pid, another start time) is dead; the same start time is alive', async () => {
    const path = join(tmp('reuse'), 'counter.json');
    await createCounterFile(path);
    held(path, { ...currentHolder(), start: '1' });
    expect((await new FileCounterStore(path, { waitMs: 1000 }).reserve(step(1))).counter).toBe(1);
    held(path, currentHolder());
    await expect(new FileCounterStore(path, { waitMs: 50 }).reserve(step(1))).rejects.toMatchObject({ code: 'wallet.locked' });
  });

  it('never breaks what it cannot prove dead: another host, another PID namespace, a record without one, or an unreadable lock record', async () => {
    const path = join(tmp('host'), 'counter.json');
    await createCounterFile(path);
    held(path, { ...currentHolder(), pid: deadPid(), host: `${hostname()}-other` });
    await expect(new FileCounterStore(path, { waitMs: 50 }).reserve(step(1))).rejects.toMatchObject({ code: 'wallet.locked' });
    // A dead pid here may be a live process in a sandbox's namespace (test/core/wallet-lock-pidns.test.ts runs one).
    held(path, { ...currentHolder(), pid: deadPid(), pidns: 'pid:[4026532999]' });
    await expect(new FileCounterStore(path, { waitMs: 50 }).reserve(step(1))).rejects.toMatchObject({ code: 'wallet.locked' });
    const { pidns: _, ...old } = { ...currentHolder(), pid: deadPid() }; // a record an earlier version wrote
    held(path, old);
    await expect(new FileCounterStore(path, { waitMs: 50 }).reserve(step(1))).rejects.toMatchObject({ code: 'wallet.locked' });
    writeFileSync(`${path}.lock`, 'garbage');
    await expect(new FileCounterStore(path, { waitMs: 50 }).reserve(step(1))).rejects.toMatchObject({ code: 'wallet.locked' });
    expect(await readCounterFile(path)).toEqual({ counter: 0, spent: 0 });
  });

  it('a refused step (over the allowance) writes nothing and releases the lock', async () => {
    const path = join(tmp('refuse'), 'counter.json');
    await createCounterFile(path);
    const s = new FileCounterStore(path);
    await expect(s.reserve(step(10, 5))).rejects.toMatchObject({ code: 'wallet.over_offline_allowance' });
    expect(existsSync(`${path}.lock`)).toBe(false);
    expect(await s.reserve(step(5, 5))).toEqual({ counter: 1, spent: 5 });
  });
});

describe('a missing or corrupt counter file refuses to pay (finding 14)', () => {
  async function wallet(name: string) {
    const d = tmp(name);
    expect((await cli('issuer', 'init', '--dir', join(d, 'issuer'), '--seed', name, NOW)).code).toBe(0);
    expect((await cli('wallet', 'new', '--issuer', join(d, 'issuer'), '--out', join(d, 'w'), '--seed', name, NOW)).code).toBe(0);
    const pay = (out: string) => cli('pay', '--wallet', join(d, 'w'), '--payee', '7', '--amount', '1.00', '--out', join(d, out), NOW, '--json');
    return { d, w: join(d, 'w'), counter: join(d, 'w', 'counter.json'), pay };
  }

  it('`wallet new` writes counter 0; deleting it makes pay exit 2 with wallet.counter_missing, never counter 1', async () => {
    const { w, counter, pay } = await wallet('missing');
    expect(JSON.parse(readFileSync(counter, 'utf8'))).toEqual({ counter: 0, spent: 0 });
    expect((await pay('t1')).code).toBe(0);
    expect((await pay('t2')).code).toBe(0);
    spawnSync('rm', [counter]);
    const r = await pay('t3');
    expect(r.code).toBe(2);
    expect(JSON.parse(r.out)).toMatchObject({ ok: false, error: 'wallet.counter_missing' });
    expect(r.err).toContain(`offpay wallet restore-counter --wallet ${w}`);
    expect(existsSync(counter)).toBe(false); // not recreated
  });

  it.each([
    ['bad JSON', '{"counter": 3,'],
    ['an array', '[3, 300]'],
    ['a negative counter', '{"counter": -1, "spent": 0}'],
    ['a non-integer counter', '{"counter": 2.5, "spent": 0}'],
    ['a counter beyond 2^32 - 1', '{"counter": 4294967296, "spent": 0}'],
    ['a string counter', '{"counter": "3", "spent": 0}'],
    ['a negative spent', '{"counter": 3, "spent": -100}'],
    ['a missing spent', '{"counter": 3}'],
    ['an unsafe spent', '{"counter": 3, "spent": 9007199254740993}'],
    ['an empty file', ''],
    ['an oversized file', `{"counter": 3, "spent": 0, "pad": "${'x'.repeat(40_000)}"}`],
  ])('%s is wallet.counter_corrupt (exit 2), and the file is left as it was', async (_name, text) => {
    const { counter, pay } = await wallet('corrupt');
    writeFileSync(counter, text);
    const r = await pay('t');
    expect(r.code).toBe(2);
    expect(JSON.parse(r.out)).toMatchObject({ ok: false, error: 'wallet.counter_corrupt' });
    expect(readFileSync(counter, 'utf8')).toBe(text);
  });

  it('restore-counter: refuses to go backwards from any visible state, then pay continues at N + 1', async () => {
    const { d, w, counter, pay } = await wallet('restore');
    for (const t of ['a', 'b', 'c']) expect((await pay(t)).code).toBe(0); // counter 3, spent 3.00
    const restore = (n: string, spent: string) => cli('wallet', 'restore-counter', '--wallet', w, '--counter', n, '--spent', spent, '--json');
    const back = await restore('2', '10.00');
    expect(back.code).toBe(2);
    expect(JSON.parse(back.out)).toMatchObject({ error: 'wallet.restore_backwards', detail: { counter: 3, spent: 300 } });
    expect((await restore('10', '2.00')).code).toBe(2); // spent below the visible 3.00
    expect((await restore('10', '600.01')).code).toBe(2); // above the allowance
    expect((await restore('4294967296', '3.00')).code).toBe(2);
    // A temp file a crash left behind still counts as visible.
    spawnSync('rm', [counter]);
    writeFileSync(`${counter}.tmp-99999`, JSON.stringify({ counter: 7, spent: 700 }));
    expect(JSON.parse((await restore('5', '10.00')).out)).toMatchObject({ error: 'wallet.restore_backwards', detail: { counter: 7, spent: 700 } });
    const ok = await restore('20', '50.00');
    expect(ok.code).toBe(0);
    expect(JSON.parse(ok.out)).toMatchObject({ ok: true, counter: 20, spent: 5000, previous: { counter: 7, spent: 700 } });
    const p = await pay('d');
    expect(p.code).toBe(0);
    expect(JSON.parse(p.out)).toMatchObject({ counter: 21 });
    expect(JSON.parse(readFileSync(counter, 'utf8'))).toEqual({ counter: 21, spent: 5100 });
    expect(existsSync(join(d, 'w', 'wallet.json'))).toBe(true);
  });

  it('the library refuses invalid restores and never creates a counter implicitly', async () => {
    const path = join(tmp('lib'), 'counter.json');
    await expect(new FileCounterStore(path).reserve(step(1))).rejects.toMatchObject({ code: 'wallet.counter_missing' });
    expect(existsSync(path)).toBe(false);
    expect(readdirSync(join(path, '..'))).toEqual([]); // no lock or temp file left either
    await expect(new FileCounterStore(join(path, '..', 'no-such-dir', 'counter.json')).reserve(step(1))).rejects.toMatchObject({ code: 'wallet.counter_missing' });
    await expect(restoreCounter(path, { counter: -1, spent: 0 })).rejects.toMatchObject({ code: 'wallet.restore_invalid' });
    await expect(restoreCounter(path, { counter: 1.5, spent: 0 })).rejects.toMatchObject({ code: 'wallet.restore_invalid' });
    await expect(restoreCounter(path, { counter: 1, spent: 0.5 })).rejects.toMatchObject({ code: 'wallet.restore_invalid' });
    await restoreCounter(path, { counter: 4, spent: 40 });
    await expect(createCounterFile(path)).rejects.toMatchObject({ code: 'wallet.counter_exists' });
    expect(await readCounterFile(path)).toEqual({ counter: 4, spent: 40 });
  });
});
