/**
 * The read of the session's diff (2026-12-07) on the durable directory flush: a payment whose directory flush
 * fails is refused, but the rename already happened, so counter.json (in the page cache) remembers the request and
 * its token in `paid`. Asked again for the same request, the wallet found it in `paid` and returned that token
 * without writing or flushing anything (fixed: an unchanged state is written again in full before the token leaves). And a
 * directory that could not be opened for any reason (EMFILE, EIO) skipped the flush silently (fixed: only the
 * errors of a platform that does not open directories).
 */
import { describe, expect, it, vi } from 'vitest';

let failDirSync = false;
let dirSyncCalls = 0;
let failDirOpen: string | undefined;
vi.mock('node:fs/promises', async (importOriginal) => {
  const orig = await importOriginal<typeof import('node:fs/promises')>();
  const open: typeof orig.open = async (...args: Parameters<typeof orig.open>) => {
    if (failDirOpen && typeof args[0] === 'string' && !args[0].endsWith('.json') && !/\.tmp-/.test(args[0])) {
      const st0 = await orig.stat(args[0]).catch(() => undefined);
      if (st0?.isDirectory()) throw Object.assign(new Error(`${failDirOpen}: open '${args[0]}'`), { code: failDirOpen, syscall: 'open', path: args[0] });
    }
    const h = await orig.open(...args);
    const st = await h.stat();
    if (failDirSync && st.isDirectory()) {
      h.sync = async () => {
        dirSyncCalls++;
        throw Object.assign(new Error('EIO: fsync'), { code: 'EIO', syscall: 'fsync' });
      };
    }
    return h;
  };
  return { ...orig, open, default: { ...orig, open } };
});

const { createRequest } = await import('../../src/index.js');
const { loadWallet } = await import('../../src/node/files.js');
const { world } = await import('./helpers.js');
const { walletDirs } = await import('./wallet-dirs.js');

const NOW = 1_795_000_000;
const { walletDir } = walletDirs('zzdurable');

describe('diff review: durable write failure and the paid-request memory (spec/protocol.md §9.2 steps 4-5, §9.1)', () => {
  it('a request whose payment failed at the directory flush is not paid on retry while the flush still fails', async () => {
    const dir = walletDir('retry');
    const { reader } = world('zzdurable');
    const req = createRequest(reader, { amount: 1250, currency: 344, time: NOW }).bytes;
    failDirSync = true;
    try {
      await expect(loadWallet(dir, () => NOW).pay(req)).rejects.toMatchObject({ code: 'EIO' });
      expect(dirSyncCalls).toBeGreaterThan(0);
      // The same request again, in a new process (nothing in memory), the card still failing.
      let outcome: string;
      try {
        const t = await loadWallet(dir, () => NOW).pay(req);
        outcome = `emitted a ${t.length}-byte token whose counter was never flushed`;
      } catch (e) {
        outcome = `refused: ${(e as { code?: string }).code ?? String(e)}`;
      }
      expect(outcome).toMatch(/^refused/);
    } finally {
      failDirSync = false;
    }
  });

  it('a directory that cannot be opened for a passing reason (EMFILE: too many open files, EIO) does not skip the flush silently', async () => {
    const dir = walletDir('emfile');
    const outcomes: string[] = [];
    for (const code of ['EMFILE', 'EIO']) {
      failDirOpen = code;
      try {
        const t = await loadWallet(dir, () => NOW).payTo({ payee: 4201, amount: 100 });
        outcomes.push(`${code}: emitted a ${t.length}-byte token without flushing the directory`);
      } catch (e) {
        outcomes.push(`${code}: refused ${(e as { code?: string }).code ?? String(e)}`);
      } finally {
        failDirOpen = undefined;
      }
    }
    expect(outcomes).toEqual(['EMFILE: refused EMFILE', 'EIO: refused EIO']);
  });
});
