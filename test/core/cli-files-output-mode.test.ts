/**
 * writeOut (every CLI --out) writes atomically and still as a plain write did: a new output gets the umask mode
 * (0666 less the umask), an existing output keeps its mode, and an --out that is a symbolic link is written through
 * (its target replaced). A review found outputs made private (0600) and links replaced by files.
 */
import { chmodSync, lstatSync, mkdtempSync, readFileSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { writeOut } from '../../src/cli/common.js';

describe.skipIf(process.platform === 'win32')('review: writeOut keeps what a plain write kept', () => {
  it('a new output gets the umask mode, as writeFileSync gave it (a QR PNG, a WAV, a token to hand on)', () => {
    const d = mkdtempSync(join(tmpdir(), 'zz-rev-out-'));
    const umask = process.umask();
    writeOut(join(d, 'token.cbor'), new Uint8Array([1, 2, 3]));
    expect(statSync(join(d, 'token.cbor')).mode & 0o777).toBe(0o666 & ~umask);
  });

  it("an existing output keeps its mode", () => {
    const d = mkdtempSync(join(tmpdir(), 'zz-rev-out-'));
    const p = join(d, 'code.png');
    writeFileSync(p, 'old');
    chmodSync(p, 0o644);
    writeOut(p, 'new');
    expect(statSync(p).mode & 0o777).toBe(0o644);
  });

  it('an --out that is a symbolic link is written through, not replaced', () => {
    const d = mkdtempSync(join(tmpdir(), 'zz-rev-out-'));
    const target = join(d, 'served-blocklist.cbor');
    writeFileSync(target, 'old');
    const link = join(d, 'latest.cbor');
    symlinkSync(target, link);
    writeOut(link, 'new');
    expect(lstatSync(link).isSymbolicLink()).toBe(true);
    expect(readFileSync(target, 'utf8')).toBe('new');
  });
});
