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
import { fromHex, toHex } from '../../base/hex.js';
import { firstDuplicateName } from '../json-duplicates.js';
import { MAX_COUNTER, MAX_UINT, MAX_TOKEN_AMOUNT } from '../messages.js';
import { PAID_REQUESTS_REMEMBERED, type CounterState, type CounterStore, type PaidRequest } from '../wallet.js';
import { writeFileDurableAsync } from './durable.js';
import { withLock, type LockOptions } from './lock.js';

/**
 * A counter file is a few dozen bytes, or about 8 KB with a full list of paid requests (16 tokens of about 200
 * bytes, in hex); anything over this is refused unread.
 */
export const MAX_COUNTER_FILE_BYTES = 32_768;
/**
 * A remembered token in counter.json: at most this many bytes. Only request-bound tokens are remembered, and they
 * are at most 200 bytes (spec/protocol.md §4.2); 16 of them in hex with their requests fill about 7 KB, well
 * inside MAX_COUNTER_FILE_BYTES (a limit of 1,024 here let a valid list pass the file limit).
 */
export const MAX_PAID_TOKEN_BYTES = 256;

const restoreHint = (path: string) =>
  `restore it with \`offpay wallet restore-counter --wallet ${dirname(path)} --counter N --spent AMOUNT\`, N at least the last counter the issuer has seen from this wallet plus a margin (spec/protocol.md §9.4)`;

const corrupt = (path: string, why: string) => new OffpayError('wallet.counter_corrupt', `${path} is corrupt (${why}); the wallet will not pay until it is repaired: ${restoreHint(path)}`);

/**
 * Validate a counter file's bytes (spec/protocol.md §9.4, vectors fixtures/wallet/counter_state.json): at most
 * MAX_COUNTER_FILE_BYTES, UTF-8 without a byte order mark (an invalid sequence or a BOM is corrupt, not replaced
 * or skipped), then {@link parseCounterState}. Throws `wallet.counter_corrupt`.
 */
export function parseCounterBytes(bytes: Uint8Array, path: string): CounterState {
  if (bytes.length > MAX_COUNTER_FILE_BYTES) throw corrupt(path, `${bytes.length} bytes, over the limit of ${MAX_COUNTER_FILE_BYTES}`);
  let text: string;
  try {
    text = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true }).decode(bytes);
  } catch {
    throw corrupt(path, 'not UTF-8');
  }
  return parseCounterState(text, path);
}

/**
 * Validate a counter file's text. Throws `wallet.counter_corrupt`: not JSON (a byte order mark included), not an
 * object, a member name twice in one object (the file would mean one thing to one parser and another to the next),
 * or a field out of range. Numbers are read by value as IEEE 754 doubles (RFC 8259 §6: `3.0` and `3e0` are 3).
 * Members other than `counter`, `spent` and `paid` are ignored.
 */
export function parseCounterState(text: string, path: string): CounterState {
  const bad = (why: string) => corrupt(path, why);
  let o: unknown;
  try {
    o = JSON.parse(text);
  } catch {
    throw bad('not JSON');
  }
  if (typeof o !== 'object' || o === null || Array.isArray(o)) throw bad('not a JSON object');
  const twice = firstDuplicateName(text);
  if (twice !== undefined) throw bad(`the name ${JSON.stringify(twice).slice(0, 40)} twice in one object`);
  const { counter, spent } = o as Record<string, unknown>;
  if (typeof counter !== 'number' || !Number.isInteger(counter) || counter < 0 || counter > MAX_COUNTER) {
    throw bad(`'counter' must be an integer in 0..${MAX_COUNTER}`);
  }
  if (typeof spent !== 'number' || !Number.isSafeInteger(spent) || spent < 0) throw bad(`'spent' must be a non-negative integer of minor units`);
  const paid = (o as Record<string, unknown>).paid;
  // `+ 0` turns a -0 (the JSON text "-0", which is 0 by value) into 0.
  if (paid === undefined) return { counter: counter + 0, spent: spent + 0 };
  return { counter: counter + 0, spent: spent + 0, paid: parsePaid(paid, bad) };
}

const isInt = (v: unknown, min: number, max: number): v is number => typeof v === 'number' && Number.isSafeInteger(v) && v >= min && v <= max;
const isHex = (v: unknown, minBytes: number, maxBytes: number): v is string =>
  typeof v === 'string' && v.length % 2 === 0 && v.length >= 2 * minBytes && v.length <= 2 * maxBytes && /^[0-9a-f]*$/.test(v);
const PAID_FIELDS = ['amount', 'challenge', 'payee', 'time', 'token'];

/**
 * The `paid` list of counter.json (spec/protocol.md §9.1, §9.4): an array of at most PAID_REQUESTS_REMEMBERED
 * objects with exactly payee (0..2^32 - 1), challenge (16 lower-case hex digits), time (1..2^53 - 1), amount
 * (1..2^32 - 1) and token (lower-case hex, 1..MAX_PAID_TOKEN_BYTES bytes). Anything else: the file is corrupt.
 */
function parsePaid(v: unknown, bad: (why: string) => OffpayError): PaidRequest[] {
  if (!Array.isArray(v) || v.length > PAID_REQUESTS_REMEMBERED) throw bad(`'paid' must be an array of at most ${PAID_REQUESTS_REMEMBERED} paid requests`);
  return v.map((r: unknown, i) => {
    const o = r as Record<string, unknown>;
    const ok =
      typeof r === 'object' && r !== null && !Array.isArray(r) &&
      Object.keys(o).sort().join() === PAID_FIELDS.join() &&
      isInt(o.payee, 0, 0xffffffff) && isHex(o.challenge, 8, 8) && isInt(o.time, 1, MAX_UINT) && isInt(o.amount, 1, MAX_TOKEN_AMOUNT) &&
      isHex(o.token, 1, MAX_PAID_TOKEN_BYTES);
    if (!ok) throw bad(`'paid' item ${i} must be {payee, challenge, time, amount, token} in range`);
    return { payee: (o.payee as number) + 0, challenge: fromHex(o.challenge as string), time: o.time as number, amount: o.amount as number, token: fromHex(o.token as string) };
  });
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
        `${path} is missing: this wallet refuses to pay, because starting again at counter 1 would reuse counters and get it blocklisted. A new wallet gets its counter file once, when it is made (createCounterFile(path) of offpay/node; offpay wallet new does it); a lost one: ${restoreHint(path)}`,
      );
    }
    throw new OffpayError('file.unreadable', `cannot read wallet counter at ${path}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`);
  }
  if (size > MAX_COUNTER_FILE_BYTES) throw new OffpayError('wallet.counter_corrupt', `${path} is ${size} bytes, not a counter file (limit ${MAX_COUNTER_FILE_BYTES}); ${restoreHint(path)}`);
  let bytes: Uint8Array;
  try {
    bytes = await readFile(path);
  } catch (e) {
    throw new OffpayError('file.unreadable', `cannot read wallet counter at ${path}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`);
  }
  return parseCounterBytes(bytes, path);
}

/** counter.json's text: `{"counter": N, "spent": S}`, and `paid` when the state remembers requests (§9.1). */
export function counterFileText(s: CounterState): string {
  const o: Record<string, unknown> = { counter: s.counter, spent: s.spent };
  if (s.paid && s.paid.length > 0) {
    o.paid = s.paid.map((r) => ({ payee: r.payee, challenge: toHex(r.challenge), time: r.time, amount: r.amount, token: toHex(r.token) }));
  }
  return JSON.stringify(o) + '\n';
}

function writeCounterFile(path: string, s: CounterState): Promise<void> {
  return writeFileDurableAsync(path, counterFileText(s));
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
        const current = await readCounterFile(this.path);
        const next = step(current);
        // The step's own state back means nothing changed, but what the caller emits now (a remembered token) rests
        // on the file as it is, whose write may have failed at its directory flush (the payment then failed, yet the
        // renamed file remembers it). It is written again, in full (a second fsync of the directory alone may not
        // report the first one's lost write: Linux reports a write-back error once): spec/protocol.md §9.2 step 4.
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
      // The requests paid stay remembered when counter.json is still readable (a restore upwards): a repeated
      // request still gets its token (spec/protocol.md §9.1).
      const paid = await readCounterFile(path).then((s) => s.paid, () => undefined);
      await writeCounterFile(path, { counter: target.counter, spent: target.spent, ...(paid ? { paid } : {}) });
      return { previous, restored: { counter: target.counter, spent: target.spent } };
    },
    options,
  );
}
