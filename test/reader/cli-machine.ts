/**
 * A vending machine set up with the CLI in `dir` (as the README does): an issuer, a wallet `wallet`, reader `vm`
 * (id `readerId`, operator 90) with its database `vm.db` and a fresh blocklist from `clearing.db`. `run` calls the
 * CLI in process and keeps the last call's output in `out()` and `err()`; `p` names a file in `dir`; `at(s)` is
 * `--now` s seconds after NOW.
 */
import { join } from 'node:path';
import { expect } from 'vitest';
import { main } from '../../src/cli/main.js';
import { NOW } from './helpers.js';

export async function cliVendingMachine(dir: string, seed: string, readerId: number) {
  let out = '';
  let err = '';
  const run = async (...argv: string[]): Promise<number> => {
    out = '';
    err = '';
    return main(argv, { out: (s) => (out += s), err: (s) => (err += s) });
  };
  const p = (x: string) => join(dir, x);
  const at = (s: number) => `--now=${NOW + s}`;
  expect(await run('issuer', 'init', '--dir', p('issuer'), '--seed', seed, at(0))).toBe(0);
  expect(await run('wallet', 'new', '--issuer', p('issuer'), '--out', p('wallet'), '--seed', seed, at(0))).toBe(0);
  expect(await run('reader', 'new', '--issuer', p('issuer'), '--id', String(readerId), '--operator', '90', '--out', p('vm'), '--seed', seed, at(0))).toBe(0);
  expect(await run('clearing', 'blocklist', '--issuer', p('issuer'), '--db', p('clearing.db'), '--out', p('list.cbor'), at(0))).toBe(0);
  expect(await run('reader', 'init', '--reader', p('vm'), '--db', p('vm.db'), '--issuer', p('issuer'), at(0))).toBe(0);
  expect(await run('reader', 'load-blocklist', '--reader', p('vm'), '--db', p('vm.db'), p('list.cbor'), at(0))).toBe(0);
  return { run, p, at, out: () => out, err: () => err };
}
