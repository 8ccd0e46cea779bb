/**
 * A lasting write fault met inside nextBlocklist's write transaction (a full disk, an I/O error) sets writeFault
 * (what the health check reports): getMetaSync gives write() the SQLite error itself, not the typed error of the
 * read wrapper, which a review found hid it.
 */
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { SqliteClearingStore } from '../../src/clearing/store-sqlite.js';

describe('review: a SQLite fault inside a clearing write is still noted', () => {
  it('nextBlocklist meeting SQLITE_IOERR sets writeFault', async () => {
    const path = join(mkdtempSync(join(tmpdir(), 'zz-rev-fault-')), 'c.db');
    const store = new SqliteClearingStore({ path });
    try {
      const q = (store as unknown as { q: Record<string, { get: (...a: unknown[]) => unknown }> }).q;
      const real = q.getMeta!;
      q.getMeta = { get: () => { throw Object.assign(new Error('disk I/O error'), { code: 'SQLITE_IOERR_READ' }); } };
      await expect(store.nextBlocklist()).rejects.toMatchObject({ code: 'clearing.store_unavailable' });
      q.getMeta = real;
      expect(store.writeFault).toBe('SQLITE_IOERR_READ');
    } finally {
      await store.close();
    }
  });
});
