/**
 * `removeLock` (offpay wallet unlock --nonce) never removes a lock whose holder runs on this host, also where there
 * are no PID namespaces and no /proc start times (macOS, Windows, a record without a start time): a running pid of
 * the same host and boot is taken as the holder. A review of this session's diff found it removed such a lock.
 */
import { mkdtempSync, writeFileSync, existsSync, readlinkSync, readFileSync } from 'node:fs';
import { hostname, tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it, vi } from 'vitest';

const sim = vi.hoisted(() => ({ noProc: false }));
vi.mock('node:fs', async (orig) => {
  const real = (await orig()) as typeof import('node:fs');
  const noProc = (p: unknown) => sim.noProc && typeof p === 'string' && p.startsWith('/proc');
  const enoent = () => Object.assign(new Error('ENOENT'), { code: 'ENOENT' });
  return {
    ...real,
    default: real,
    readlinkSync: ((p: string, ...a: unknown[]) => {
      if (noProc(p)) throw enoent();
      return (real.readlinkSync as (...x: unknown[]) => unknown)(p, ...a);
    }) as typeof real.readlinkSync,
    openSync: ((p: string, ...a: unknown[]) => {
      if (noProc(p)) throw enoent();
      return (real.openSync as (...x: unknown[]) => number)(p, ...a);
    }) as typeof real.openSync,
  };
});

import { inspectLock, removeLock, withLock } from '../../src/node/lock.js';
import { OffpayError } from '../../base/errors.js';

const NONCE = '00112233445566778899aabbccddeeff';
const platform = Object.getOwnPropertyDescriptor(process, 'platform')!;
afterEach(() => {
  sim.noProc = false;
  Object.defineProperty(process, 'platform', platform);
});

describe.skipIf(process.platform !== 'linux')('review: wallet unlock never removes a live local holder', () => {
  it('a live holder on this host and namespace whose record has no start time is refused (wallet.lock_live)', () => {
    const d = mkdtempSync(join(tmpdir(), 'zz-rev-lock-'));
    const lock = join(d, 'counter.json.lock');
    const boot = readFileSync('/proc/sys/kernel/random/boot_id', 'utf8').trim();
    // This very process holds it (it runs), as a version on a /proc without start times records it.
    writeFileSync(lock, JSON.stringify({ pid: process.pid, host: hostname(), boot, pidns: readlinkSync('/proc/self/ns/pid'), start: null, time: Date.now(), nonce: NONCE }) + '\n');
    let code: string | undefined;
    try {
      removeLock(lock, NONCE);
    } catch (e) {
      code = e instanceof OffpayError ? e.code : String(e);
    }
    expect(existsSync(lock)).toBe(true);
    expect(code).toBe('wallet.lock_live');
  });

  it('macOS (no /proc, no PID namespace): a lock held by a running withLock is not removed', async () => {
    Object.defineProperty(process, 'platform', { value: 'darwin' });
    sim.noProc = true;
    const d = mkdtempSync(join(tmpdir(), 'zz-rev-lock-'));
    const lock = join(d, 'counter.json.lock');
    let code: string | undefined;
    let removed = false;
    await withLock(lock, () => {
      const s = inspectLock(lock);
      const nonce = s.lock!.holder!.nonce;
      try {
        removeLock(lock, nonce);
        removed = !existsSync(lock);
      } catch (e) {
        code = e instanceof OffpayError ? e.code : String(e);
      }
      // The holder is this process, running on this host: the listing must not call it unknown.
      expect(s.lock!.liveness).toBe('alive');
    }).catch(() => undefined);
    expect(removed).toBe(false);
    expect(code).toBe('wallet.lock_live');
  });
});
