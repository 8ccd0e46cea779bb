/**
 * writeOut says what happened when the directory flush fails after the rename: the new file is in place (and may not
 * survive a power cut), not "the file already there is unchanged", which a review found it claimed.
 */
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it, vi } from 'vitest';

const sim = vi.hoisted(() => ({ calls: 0, failAt: 0 }));
vi.mock('node:fs', async (orig) => {
  const real = (await orig()) as typeof import('node:fs');
  return {
    ...real,
    default: real,
    fsyncSync: ((fd: number) => {
      sim.calls += 1;
      if (sim.calls === sim.failAt) throw Object.assign(new Error('EIO: i/o error, fsync'), { code: 'EIO', syscall: 'fsync' });
      return real.fsyncSync(fd);
    }) as typeof real.fsyncSync,
  };
});

import { writeOut } from '../../src/cli/common.js';

describe('review: writeOut says what happened to the file', () => {
  it('a directory flush that fails after the rename does not claim the old file is unchanged', () => {
    const d = mkdtempSync(join(tmpdir(), 'zz-rev-msg-'));
    const p = join(d, 'token.cbor');
    writeFileSync(p, 'old');
    sim.calls = 0;
    sim.failAt = 2; // the first fsync is the temporary file's, the second the directory's (after the rename)
    let message = '';
    try {
      writeOut(p, 'new');
    } catch (e) {
      message = (e as Error).message;
    }
    sim.failAt = 0;
    expect(readFileSync(p, 'utf8')).toBe('new'); // the rename happened
    expect(message).not.toMatch(/unchanged/);
  });
});
