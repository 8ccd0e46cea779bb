/**
 * Removal of a wallet lock by a person (spec/protocol.md §9.2, "Removal by a person"; `offpay wallet unlock`,
 * `inspectLock` and `removeLock` of offpay/node).
 *
 * A lock whose holder cannot be proved dead (another PID namespace, such as a container killed inside a reservation
 * and restarted; another host; an earlier version's record) is never broken automatically, so a person removes it.
 * By hand (`rm`) that removed whatever lock was there by then: if the old holder had released and a live process
 * taken the lock since, two processes paid at once and one counter could be signed twice (W1). The removal names
 * the acquisition the person judged (its nonce), and never removes a holder that provably runs here.
 */
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, readlinkSync, writeFileSync } from 'node:fs';
import { hostname, tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { inspectLock, processStart, removeLock, withLock } from '../../src/node/lock.js';
import { OffpayError } from '../../base/errors.js';
import { codeOf } from '../reader/helpers.js';

const cli = join(import.meta.dirname, '../../dist/src/cli/main.js');
const bootId = () => readFileSync('/proc/sys/kernel/random/boot_id', 'utf8').trim();
const here = () => readlinkSync('/proc/self/ns/pid');
const record = (o: Record<string, unknown>) => JSON.stringify({ host: hostname(), boot: bootId(), time: Date.now() - 3_600_000, ...o }) + '\n';
const NONCE_A = '00112233445566778899aabbccddeeff';
const NONCE_B = 'ffeeddccbbaa99887766554433221100';
/** A holder in another PID namespace (a restarted container's): alive or dead, it cannot be told from here. */
const foreign = (nonce: string) => record({ pid: 1, pidns: 'pid:[1]', start: '5', nonce });


const children: { kill(): void }[] = [];
afterAll(() => children.forEach((c) => c.kill()));

const onLinux = process.platform === 'linux';

describe.skipIf(!onLinux)('wallet unlock (spec/protocol.md §9.2, removal by a person)', () => {
  it('reads without removing: no lock, then a foreign holder as unknown with its nonce', () => {
    const d = mkdtempSync(join(tmpdir(), 'offpay-unlock-'));
    const lock = join(d, 'counter.json.lock');
    expect(inspectLock(lock)).toEqual({ lock: null, breaker: null });
    writeFileSync(lock, foreign(NONCE_A));
    const s = inspectLock(lock);
    expect(s.lock).toMatchObject({ path: lock, liveness: 'unknown', holder: { pid: 1, nonce: NONCE_A, pidns: 'pid:[1]' } });
    expect(s.breaker).toBeNull();
    expect(existsSync(lock)).toBe(true);
  });

  it('removes the lock holding the nonce the person judged, and releases the breaker file it took', () => {
    const d = mkdtempSync(join(tmpdir(), 'offpay-unlock-'));
    const lock = join(d, 'counter.json.lock');
    writeFileSync(lock, foreign(NONCE_A));
    expect(removeLock(lock, NONCE_A)).toBe(lock);
    expect(existsSync(lock)).toBe(false);
    expect(existsSync(`${lock}.break`)).toBe(false);
  });

  it('a lock released and taken again since the person looked is not removed (wallet.lock_changed)', () => {
    const d = mkdtempSync(join(tmpdir(), 'offpay-unlock-'));
    const lock = join(d, 'counter.json.lock');
    writeFileSync(lock, foreign(NONCE_A));
    const judged = inspectLock(lock).lock!.holder!.nonce;
    // the old holder releases; another process takes the lock
    writeFileSync(lock, foreign(NONCE_B));
    expect(codeOf(() => removeLock(lock, judged))).toBe('wallet.lock_changed');
    expect(JSON.parse(readFileSync(lock, 'utf8')).nonce).toBe(NONCE_B);
    // and a lock released since: nothing to remove
    const d2 = mkdtempSync(join(tmpdir(), 'offpay-unlock-'));
    expect(codeOf(() => removeLock(join(d2, 'counter.json.lock'), NONCE_A))).toBe('wallet.lock_changed');
  });

  it('a holder that runs on this host (same namespace, pid and start time) is never removed (wallet.lock_live)', async () => {
    const child = spawn('sleep', ['30']);
    children.push(child);
    await new Promise((r) => child.once('spawn', r));
    const d = mkdtempSync(join(tmpdir(), 'offpay-unlock-'));
    const lock = join(d, 'counter.json.lock');
    writeFileSync(lock, record({ pid: child.pid, pidns: here(), start: processStart(child.pid!), nonce: NONCE_A }));
    expect(inspectLock(lock).lock!.liveness).toBe('alive');
    expect(codeOf(() => removeLock(lock, NONCE_A))).toBe('wallet.lock_live');
    expect(existsSync(lock)).toBe(true);
    child.kill();
    await new Promise((r) => child.once('exit', r));
    // once it is gone, the holder is provably dead (the next payment would break it on its own)
    expect(inspectLock(lock).lock!.liveness).toBe('dead');
  });

  it('a lock held by this process through withLock is alive and stays', async () => {
    const d = mkdtempSync(join(tmpdir(), 'offpay-unlock-'));
    const lock = join(d, 'counter.json.lock');
    await withLock(lock, () => {
      const s = inspectLock(lock).lock!;
      expect(s.liveness).toBe('alive');
      expect(codeOf(() => removeLock(lock, s.holder!.nonce))).toBe('wallet.lock_live');
      expect(existsSync(lock)).toBe(true);
    });
    expect(existsSync(lock)).toBe(false);
  });

  it('wallet.locked names the command with the holder nonce (detail.nonce)', async () => {
    const d = mkdtempSync(join(tmpdir(), 'offpay-unlock-'));
    const lock = join(d, 'counter.json.lock');
    writeFileSync(lock, foreign(NONCE_A));
    const e = await withLock(lock, () => 'ran', { waitMs: 30 }).catch((x: unknown) => x);
    expect(e).toBeInstanceOf(OffpayError);
    expect((e as OffpayError).code).toBe('wallet.locked');
    expect((e as OffpayError).message).toContain(`offpay wallet unlock --wallet ${d} --nonce ${NONCE_A}`);
    expect((e as OffpayError).detail).toMatchObject({ nonce: NONCE_A, pid: 1 });
  });

  it('a breaker file left by a dead breaker is removed by its own nonce; while a breaker holds it, the lock is not removed', () => {
    const d = mkdtempSync(join(tmpdir(), 'offpay-unlock-'));
    const lock = join(d, 'counter.json.lock');
    writeFileSync(lock, foreign(NONCE_A));
    writeFileSync(`${lock}.break`, foreign(NONCE_B));
    expect(codeOf(() => removeLock(lock, NONCE_A))).toBe('wallet.locked');
    expect(existsSync(lock)).toBe(true);
    expect(removeLock(lock, NONCE_B)).toBe(`${lock}.break`);
    expect(existsSync(lock)).toBe(true);
    expect(removeLock(lock, NONCE_A)).toBe(lock);
  });

  it.skipIf(!existsSync(cli))('offpay wallet unlock: the listing names the command, a wrong nonce removes nothing, the removal lets the next payment through', () => {
    const d = mkdtempSync(join(tmpdir(), 'offpay-unlock-cli-'));
    const run = (...a: string[]) => spawnSync(process.execPath, [cli, ...a], { cwd: d, encoding: 'utf8', timeout: 60_000 });
    expect(run('issuer', 'init', '--dir', 'iss').status).toBe(0);
    expect(run('wallet', 'new', '--issuer', 'iss', '--out', 'w').status).toBe(0);
    writeFileSync(join(d, 'w', 'counter.json.lock'), foreign(NONCE_A));
    const listed = run('wallet', 'unlock', '--wallet', 'w');
    expect(listed.status).toBe(0);
    expect(listed.stdout).toContain('cannot be told from here');
    expect(listed.stdout).toContain(`offpay wallet unlock --wallet w --nonce ${NONCE_A}`);
    const wrong = run('wallet', 'unlock', '--wallet', 'w', '--nonce', NONCE_B, '--json');
    expect(wrong.status).toBe(2);
    expect(JSON.parse(wrong.stdout)).toMatchObject({ ok: false, error: 'wallet.lock_changed' });
    expect(run('wallet', 'unlock', '--wallet', 'w', '--nonce', 'xyz').status).toBe(2);
    const removed = run('wallet', 'unlock', '--wallet', 'w', '--nonce', NONCE_A, '--json');
    expect(removed.status).toBe(0);
    expect(JSON.parse(removed.stdout)).toMatchObject({ ok: true, removed: 'w/counter.json.lock' });
    const paid = run('pay', '--wallet', 'w', '--payee', '5', '--amount', '1', '--currency', 'HKD', '--out', 't.cbor');
    expect(paid.status, paid.stderr).toBe(0);
    expect(JSON.parse(run('wallet', 'unlock', '--wallet', 'w', '--json').stdout)).toMatchObject({ ok: true, locked: false, lock: null, breaker: null });
  });
});
