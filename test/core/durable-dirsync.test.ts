/**
 * The wallet attack review (2026-12-07): the counter write's last step, the directory fsync that makes the rename of
 * counter.json durable, swallowed every error (fixed: only "this file system does not flush directories" is let pass) (src/node/durable.ts writeFileDurableAsync: `catch { // Some
 * platforms cannot fsync a directory }`). When the directory fsync itself fails with EIO (a failing SD card, a
 * network or FUSE file system), the reservation returns and the token is emitted although the new counter may not
 * be on disk: after a power cut counter.json shows the old counter, and the next payment signs the same counter
 * again (W1: clearing sees a clone and blocklists the wallet; `spent` misses the payment).
 *
 * spec/protocol.md §9.2 step 4: "persist them durably: write a new file, flush it (fsync), atomically rename it
 * over the old one, and flush the directory", and step 5: "Only now emit the token". A platform that cannot open a
 * directory at all may skip the flush; a flush that was attempted and failed must fail the reservation.
 */
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it, vi } from 'vitest';

let failDirSync = false;
let failCode = 'EIO';
let dirSyncCalls = 0;
vi.mock('node:fs/promises', async (importOriginal) => {
  const orig = await importOriginal<typeof import('node:fs/promises')>();
  const open: typeof orig.open = async (...args: Parameters<typeof orig.open>) => {
    const h = await orig.open(...args);
    const st = await h.stat();
    if (failDirSync && st.isDirectory()) {
      h.sync = async () => {
        dirSyncCalls++;
        throw Object.assign(new Error(`${failCode}: fsync`), { code: failCode, syscall: 'fsync' });
      };
    }
    return h;
  };
  return { ...orig, open, default: { ...orig, open } };
});

const { FileCounterStore, createCounterFile } = await import('../../src/node/counter.js');

describe('counter write: a failed directory fsync (spec/protocol.md §9.2 step 4)', () => {
  it('a reservation whose directory flush fails with EIO does not return (no token is emitted)', async () => {
    const d = mkdtempSync(join(tmpdir(), 'offpay-zz-dirsync-'));
    const path = join(d, 'counter.json');
    await createCounterFile(path);
    failDirSync = true;
    let outcome: string;
    try {
      await new FileCounterStore(path).reserve((s) => ({ counter: s.counter + 1, spent: s.spent + 100 }));
      outcome = 'reserved: the token would be emitted';
    } catch (e) {
      outcome = `refused: ${(e as { code?: string }).code ?? String(e)}`;
    } finally {
      failDirSync = false;
    }
    expect(dirSyncCalls, 'the directory flush was attempted (and failed)').toBeGreaterThan(0);
    expect(outcome).toMatch(/^refused/);
  });

  it('a file system that does not flush directories (EINVAL) still reserves: the rename is atomic there', async () => {
    const d = mkdtempSync(join(tmpdir(), 'offpay-zz-dirsync-'));
    const path = join(d, 'counter.json');
    await createCounterFile(path);
    failDirSync = true;
    failCode = 'EINVAL';
    try {
      const before = dirSyncCalls;
      await expect(new FileCounterStore(path).reserve((s) => ({ counter: s.counter + 1, spent: s.spent + 100 }))).resolves.toMatchObject({ counter: 1 });
      expect(dirSyncCalls).toBeGreaterThan(before);
    } finally {
      failDirSync = false;
      failCode = 'EIO';
    }
  });
});
