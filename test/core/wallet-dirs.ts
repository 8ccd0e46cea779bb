/**
 * Wallet directories for the wallet tests (test/core/wallet-paid-requests.test.ts, review-wallet-paid.test.ts): the
 * seeded world's wallet saved in a temporary directory (removed after the file's tests), its counter.json read back,
 * and the CLI run in-process.
 */
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll } from 'vitest';
import { main } from '../../src/cli/main.js';
import { saveWallet } from '../../src/node/files.js';
import { world } from './helpers.js';

/** Temporary wallet directories of the world seeded `seed`; call once per test file (it registers the cleanup). */
export function walletDirs(seed: string): {
  /** A new temporary directory, `tag` in its name. */
  tmp: (tag: string) => string;
  /** A new wallet directory (`DIR/w`) holding the world's wallet, counter 0. */
  walletDir: (tag: string) => string;
} {
  const dirs: string[] = [];
  afterAll(() => {
    for (const d of dirs) rmSync(d, { recursive: true, force: true });
  });
  const tmp = (tag: string) => {
    const d = mkdtempSync(join(tmpdir(), `offpay-${seed}-${tag}-`));
    dirs.push(d);
    return d;
  };
  return {
    tmp,
    walletDir: (tag) => {
      const { wallet } = world(seed);
      const d = join(tmp(tag), 'w');
      saveWallet(d, wallet.secretKey, wallet.cert);
      return d;
    },
  };
}

/** counter.json of a wallet directory, parsed. */
export const counterOf = (dir: string) => JSON.parse(readFileSync(join(dir, 'counter.json'), 'utf8')) as { counter: number; spent: number; paid?: { token: string }[] };

/** Run the CLI in-process: exit code, stdout, stderr. */
export async function cli(...argv: string[]): Promise<{ code: number; out: string; err: string }> {
  let out = '';
  let err = '';
  const code = await main(argv, { out: (s) => (out += s), err: (s) => (err += s) });
  return { code, out, err };
}
