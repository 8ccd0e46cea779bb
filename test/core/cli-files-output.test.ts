import { execFileSync, spawnSync } from 'node:child_process';
import { mkdirSync, readFileSync, writeFileSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { cli, CLI } from './cli-files-helpers.js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';


/**
 * Attacker-with-files review of --out. src/cli/common.ts writeOut() is mkdirSync + writeFileSync straight onto the
 * target, and src/cli/framework.ts turns an errno error into "offpay CMD: cannot use PATH: EISDIR" with no typed code
 * (and nothing at all on standard output with --json), or, for an errno error without a path (ENOSPC, EFBIG, EIO on
 * write), into "offpay: internal error" with a stack trace and exit 70.
 *  - --out DIR: untyped message; with --json, no JSON object.
 *  - --out /dev/full (any full disk): internal error, stack, exit 70.
 *  - a write that fails half-way truncates the EXISTING file first: the old file is lost (not atomic).
 *  - --out FIFO with no reader: blocks forever.
 */
const d = mkdtempSync(join(tmpdir(), 'offpay-files-out-'));
const p = (...x: string[]) => join(d, ...x);
afterAll(() => rmSync(d, { recursive: true, force: true }));

beforeAll(() => {
  // Any payload: fsk encode takes raw bytes (up to 4096).
  writeFileSync(p('payload.bin'), Buffer.alloc(200, 0x5a));
  mkdirSync(p('adir'));
});

describe('--out paths that cannot be written', () => {
  it('--out DIR with --json prints a JSON error object and a typed code', () => {
    const r = cli(['fsk', 'encode', p('payload.bin'), '--out', p('adir'), '--json']);
    expect(r.status).toBe(2);
    expect(r.err).toMatch(/\[[a-z]+\.[a-z_]+\]/);
    expect(r.out.trim(), 'stdout is empty with --json').not.toBe('');
    expect(JSON.parse(r.out)).toMatchObject({ ok: false });
  });

  it('--out /dev/full (a full disk) is a typed error with exit 2, not an internal error with a stack trace', () => {
    const r = cli(['fsk', 'encode', p('payload.bin'), '--out', '/dev/full']);
    expect(r.err).not.toMatch(/internal error|\n\s+at /);
    expect(r.status).toBe(2);
  });

  it('a failed write does not destroy the file already at --out (written atomically)', () => {
    const old = Buffer.alloc(6000, 7);
    writeFileSync(p('old.wav'), old);
    // RLIMIT_FSIZE of 8 KiB: the ~67 KB WAV cannot be written in full (EFBIG), as on a full disk.
    const r = spawnSync('bash', ['-c', `ulimit -f 8; exec "${process.execPath}" "${CLI}" fsk encode "${p('payload.bin')}" --out "${p('old.wav')}"`], { encoding: 'utf8', timeout: 8000 });
    expect(r.status).not.toBe(0);
    expect(readFileSync(p('old.wav')).equals(old), 'the existing --out file was truncated and overwritten in part').toBe(true);
  });

  it('--out FIFO with no reader ends (a bounded wait or a refusal) instead of blocking forever', () => {
    execFileSync('mkfifo', [p('out.fifo')]);
    const r = cli(['fsk', 'encode', p('payload.bin'), '--out', p('out.fifo')]);
    expect(r.timedOut, 'fsk encode hung writing to a FIFO with no reader').toBe(false);
  });
});
