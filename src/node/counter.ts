/**
 * The file-backed wallet counter (Node only): WALLET/counter.json, guarded by WALLET/counter.json.lock.
 *
 * A reservation (spec/protocol.md §9.2) takes the lock, reads and validates counter.json, applies the
 * wallet's step, writes the new state durably (temp file, fsync, rename, fsync the directory) and releases
 * the lock; only then does the wallet sign. So processes paying from one wallet directory at once never
 * read the same counter, and a crash after the write burns the counter value instead of reusing it.
 *
 * The file is never created implicitly: `createCounterFile` writes counter 0 when a wallet is made, and a
 * missing or corrupt file is a typed error (`wallet.counter_missing`, `wallet.counter_corrupt`), never a
 * restart at counter 1. `restoreCounter` is the explicit way back, and refuses to go below any state it can
 * still see.
 */
import { existsSync, readdirSync } from 'node:fs';
import { readFile, stat } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import { OffpayError } from '../../base/errors.js';
import { MAX_COUNTER } from '../messages.js';
import type { CounterState, CounterStore } from '../wallet.js';
import { writeFileDurableAsync } from './durable.js';
import { withLock, type LockOptions } from './lock.js';

/** A counter file is a few dozen bytes; anything over this is refused unread. */
export const MAX_COUNTER_FILE_BYTES = 4096;

const restoreHint = (path: string) =>
  `restore it with \`offpay wallet restore-counter --wallet ${dirname(path)} --counter N --spent AMOUNT\`, N at least the last counter the issuer has seen from this wallet plus a margin (spec/protocol.md §9.4)`;

/** Validate a counter file's text. Throws `wallet.counter_corrupt`. */
export function parseCounterState(text: string, path: string): CounterState {
  const bad = (why: string) => new OffpayError('wallet.counter_corrupt', `${path} is corrupt (${why}); the wallet will not pay until it is repaired: ${restoreHint(path)}`);
  let o: unknown;
  try {
    o = JSON.parse(text);
  } catch {
    throw bad('not JSON');
  }
  if (typeof o !== 'object' || o === null || Array.isArray(o)) throw bad('not a JSON object');
  const { counter, spent } = o as Record<string, unknown>;
  if (typeof counter !== 'number' || !Number.isInteger(counter) || counter < 0 || counter > MAX_COUNTER) {
    throw bad(`'counter' must be an integer in 0..${MAX_COUNTER}`);
  }
  if (typeof spent !== 'number' || !Number.isSafeInteger(spent) || spent < 0) throw bad(`'spent' must be a non-negative integer of minor units`);
  return { counter, spent };
}

/** Read and validate a counter file. Throws `wallet.counter_missing` or `wallet.counter_corrupt`. */
export async function readCounterFile(path: string): Promise<CounterState> {
  let size: number;
  try {
    const st = await stat(path);
    if (!st.isFile()) throw new OffpayError('wallet.counter_corrupt', `${path} is not a file; ${restoreHint(path)}`);
    size = st.size;
  } catch (e) {
    if (e instanceof OffpayError) throw e;
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') {
      throw new OffpayError(
        'wallet.counter_missing',
        `${path} is missing: this wallet refuses to pay, because starting again at counter 1 would reuse counters and get it blocklisted; ${restoreHint(path)}`,
      );
    }
    throw new OffpayError('file.unreadable', `cannot read wallet counter at ${path}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`);
  }
  if (size > MAX_COUNTER_FILE_BYTES) throw new OffpayError('wallet.counter_corrupt', `${path} is ${size} bytes, not a counter file (limit ${MAX_COUNTER_FILE_BYTES}); ${restoreHint(path)}`);
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (e) {
    throw new OffpayError('file.unreadable', `cannot read wallet counter at ${path}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`);
  }
  return parseCounterState(text, path);
}

function writeCounterFile(path: string, s: CounterState): Promise<void> {
  return writeFileDurableAsync(path, JSON.stringify({ counter: s.counter, spent: s.spent }) + '\n');
}

export const lockPathOf = (counterPath: string) => `${counterPath}.lock`;

/** A counter persisted in a JSON file; each reservation is atomic across processes on one host. */
export class FileCounterStore implements CounterStore {
  constructor(
    /** The counter file (JSON); its lock is this path + `.lock`. */
    readonly path: string,
    private readonly lockOptions: LockOptions = {},
  ) {}

  async load(): Promise<CounterState> {
    return readCounterFile(this.path);
  }

  async reserve(step: (current: CounterState) => CounterState): Promise<CounterState> {
    await readCounterFile(this.path); // a missing or corrupt file (or wallet directory) fails typed before any lock file is made
    return withLock(
      lockPathOf(this.path),
      async () => {
        const next = step(await readCounterFile(this.path));
        await writeCounterFile(this.path, next);
        return next;
      },
      this.lockOptions,
    );
  }
}

/** Write counter 0 for a new wallet. Refuses (`wallet.counter_exists`) if a counter file is already there. */
export async function createCounterFile(path: string, options: LockOptions = {}): Promise<void> {
  await withLock(
    lockPathOf(path),
    async () => {
      if (existsSync(path)) throw new OffpayError('wallet.counter_exists', `${path} already exists; refusing to reset a wallet counter`);
      await writeCounterFile(path, { counter: 0, spent: 0 });
    },
    options,
  );
}

/** Every counter state still visible beside `path`: the file itself and any temp file a crash left. */
export async function visibleCounterStates(path: string): Promise<CounterState[]> {
  const dir = dirname(path);
  const prefix = `${basename(path)}.tmp-`;
  const candidates = [path];
  try {
    for (const f of readdirSync(dir)) if (f.startsWith(prefix)) candidates.push(join(dir, f));
  } catch {
    // no directory: nothing visible
  }
  const seen: CounterState[] = [];
  for (const c of candidates) {
    try {
      seen.push(await readCounterFile(c));
    } catch {
      // missing or unreadable: nothing to compare with
    }
  }
  return seen;
}

/** The result of {@link restoreCounter}: the highest state still visible before, and the state written. */
export interface RestoreResult {
  /** The highest counter and spent total that were still visible (0 when none). */
  previous: CounterState;
  /** The counter and spent total now written to the file. */
  restored: CounterState;
}

/**
 * Explicitly set the counter of a wallet whose counter file was lost or damaged. Refuses
 * (`wallet.restore_backwards`) to set a counter or spent total below any state still visible, and
 * (`wallet.restore_invalid`) values out of range. Restoring below the true values makes clearing see a
 * counter reuse and blocklist the wallet: restore the last counter the issuer knows plus a margin.
 */
export async function restoreCounter(path: string, target: CounterState, options: LockOptions & { offlineAllowance?: number } = {}): Promise<RestoreResult> {
  if (!Number.isInteger(target.counter) || target.counter < 0 || target.counter > MAX_COUNTER) {
    throw new OffpayError('wallet.restore_invalid', `counter ${target.counter} must be an integer in 0..${MAX_COUNTER}`);
  }
  if (!Number.isSafeInteger(target.spent) || target.spent < 0) throw new OffpayError('wallet.restore_invalid', `spent ${target.spent} must be a non-negative integer of minor units`);
  if (options.offlineAllowance !== undefined && target.spent > options.offlineAllowance) {
    throw new OffpayError('wallet.restore_invalid', `spent ${target.spent} is above the certificate's offline allowance ${options.offlineAllowance}`);
  }
  return withLock(
    lockPathOf(path),
    async () => {
      const seen = await visibleCounterStates(path);
      const previous = {
        counter: Math.max(0, ...seen.map((s) => s.counter)),
        spent: Math.max(0, ...seen.map((s) => s.spent)),
      };
      if (target.counter < previous.counter || target.spent < previous.spent) {
        throw new OffpayError(
          'wallet.restore_backwards',
          `refusing to go backwards: ${path} still shows counter ${previous.counter} and spent ${previous.spent}; restore at least those values`,
          { counter: previous.counter, spent: previous.spent },
        );
      }
      await writeCounterFile(path, target);
      return { previous, restored: { ...target } };
    },
    options,
  );
}
