/**
 * Packaging review: spec/clearing-api.md §8 gives the reader's sync algorithm as
 * "`offpay reader sync --reader R --db DB --url URL` (library: `syncReader(reader, {url, ...})`)", and the README's
 * audience is "reader integrators who embed the verifier". No entry point exports syncReader, and package.json
 * "exports" blocks the deep import (ERR_PACKAGE_PATH_NOT_EXPORTED): an embedding reader can only shell out to the
 * CLI or re-implement §8 (with its pruning and restored-reader checks). Checked through the package's own name.
 */
import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { describe, expect, it } from 'vitest';

describe.skipIf(!existsSync('dist/src/reader/sync.js'))('the library sync the spec names', () => {
  it('syncReader is exported by offpay/reader or offpay/node', () => {
    const out = execFileSync(
      process.execPath,
      ['--input-type=module', '-e', "const r = await import('offpay/reader'); const n = await import('offpay/node'); console.log(JSON.stringify({ reader: typeof r.syncReader, node: typeof n.syncReader }))"],
      { encoding: 'utf8' },
    );
    const t = JSON.parse(out) as { reader: string; node: string };
    expect([t.reader, t.node], out).toContain('function');
  });
});
