/**
 * An exclusive lock file shared by every process on one host (Node only).
 *
 * Algorithm (spec/protocol.md §9.2):
 *  - acquire: write a holder record `{pid, host, boot, pidns, start, time, nonce}` to a unique temp file and hard-link
 *    it to LOCK. `link` is atomic and fails with EEXIST when LOCK exists, so the lock file is never seen
 *    half-written and only one process holds it. On EEXIST, poll every `pollMs` until `waitMs` has passed,
 *    then fail with `wallet.locked`.
 *  - stale lock: a lock is broken only when its holder is provably dead: same host, and either the host has
 *    rebooted since (Linux boot id differs), or, in the same PID namespace (Linux /proc/self/ns/pid), `kill(pid,
 *    0)` says no such process, or the pid now belongs to a process started at another time (Linux /proc start
 *    time). A holder on another host or in another PID namespace (a sandboxed app, a container sharing the host
 *    name: its pid means another process here; a record of an earlier version, which names no namespace), an
 *    unreadable record, or a live pid is never broken: the caller waits and then gets `wallet.locked`, which says
 *    so and names the file to remove once no offpay process uses the wallet.
 *  - breaking is itself serialised by LOCK.break (same link protocol, never broken automatically): under
 *    it, LOCK is re-read and removed only if it still holds the same dead holder's nonce. As nobody else
 *    may remove LOCK meanwhile, a live lock is never removed by a breaker.
 *  - release: remove LOCK if it still holds our nonce.
 */
import { randomBytes } from 'node:crypto';
import { closeSync, linkSync, openSync, readlinkSync, unlinkSync, writeSync } from 'node:fs';
import { readRegularFile } from './bounded-file.js';
import { hostname } from 'node:os';
import { dirname } from 'node:path';
import { OffpayError } from '../../base/errors.js';

/** Options of {@link withLock}: how long to wait for a busy lock and how often to look, milliseconds. */
export interface LockOptions {
  /** Longest wait for a busy lock before `wallet.locked`, milliseconds (default 10,000). */
  waitMs?: number;
  /** Poll interval while waiting, milliseconds (default 10). */
  pollMs?: number;
}

/**
 * What a lock file records about the process holding it, so that a lock left by a dead process can be
 * recognised and broken safely (pid, host, boot id, process start time, nonce).
 */
export interface LockHolder {
  /** Process id of the holder. */
  pid: number;
  /** Host name of the holder's machine (os.hostname()). */
  host: string;
  /** Linux boot id, or null elsewhere. */
  boot: string | null;
  /**
   * The PID namespace of the holder (Linux: the link /proc/self/ns/pid, such as `pid:[4026531836]`), or null where
   * there is none to read. Its pid means that process in that namespace only.
   */
  pidns: string | null;
  /** Process start time in clock ticks since boot (Linux /proc/PID/stat field 22), or null. */
  start: string | null;
  /** Unix milliseconds when the lock was taken (for people reading the file). */
  time: number;
  /** 16 random bytes, hex, unique to this acquisition (the lock is removed only while it still holds this nonce). */
  nonce: string;
}

const MAX_LOCK_BYTES = 4096;

function validateOptions(o: LockOptions): Required<LockOptions> {
  const waitMs = o.waitMs ?? 10_000;
  const pollMs = o.pollMs ?? 10;
  if (!Number.isFinite(waitMs) || waitMs < 0) throw new RangeError('lock waitMs must be a non-negative number');
  if (!Number.isFinite(pollMs) || pollMs <= 0) throw new RangeError('lock pollMs must be a positive number');
  return { waitMs, pollMs };
}

/**
 * A small file's text: null when it cannot be opened (missing), '' when it is not a regular file of at most
 * MAX_LOCK_BYTES (an unreadable record: never broken). Opened non-blocking and read bounded, so a FIFO or
 * /dev/zero in a lock's place neither hangs a payment nor fills its memory (CLI attack review, 2026-12-07).
 */
function readSmall(path: string): string | null {
  const r = readRegularFile(path, MAX_LOCK_BYTES);
  if (Buffer.isBuffer(r)) return r.toString('utf8');
  return r.kind === 'errno' ? null : '';
}

function bootId(): string | null {
  const s = readSmall('/proc/sys/kernel/random/boot_id');
  return s ? s.trim() : null;
}

/** This process's PID namespace (Linux), or null when it cannot be read (no /proc, another system). */
function pidNamespace(): string | null {
  try {
    return readlinkSync('/proc/self/ns/pid');
  } catch {
    return null;
  }
}

/** Start time of `pid` in clock ticks since boot (Linux), or null when it cannot be read. */
export function processStart(pid: number): string | null {
  const s = readSmall(`/proc/${pid}/stat`);
  if (!s) return null;
  // The command name (field 2) is in parentheses and may contain spaces: count fields after the last ')'.
  const rest = s.slice(s.lastIndexOf(')') + 2).split(' ');
  return rest[19] ?? null; // field 22 = index 19 after field 2
}

export function currentHolder(): LockHolder {
  return { pid: process.pid, host: hostname(), boot: bootId(), pidns: pidNamespace(), start: processStart(process.pid), time: Date.now(), nonce: randomBytes(16).toString('hex') };
}

/** Parse a lock file's holder record; null when it is not one (never broken then). */
export function parseHolder(text: string | null): LockHolder | null {
  if (!text) return null;
  try {
    const o = JSON.parse(text) as Record<string, unknown>;
    if (typeof o !== 'object' || o === null) return null;
    const { pid, host, boot, start, time, nonce } = o;
    if (typeof pid !== 'number' || !Number.isSafeInteger(pid) || pid <= 0) return null;
    if (typeof host !== 'string' || typeof nonce !== 'string' || typeof time !== 'number') return null;
    if (boot !== null && typeof boot !== 'string') return null;
    if (start !== null && typeof start !== 'string') return null;
    // A record of an earlier version has no pidns: its namespace is unknown (never taken as this one).
    const { pidns } = o;
    if (pidns !== undefined && pidns !== null && typeof pidns !== 'string') return null;
    return { pid, host, boot, pidns: pidns === undefined ? UNKNOWN_NAMESPACE : pidns, start, time, nonce };
  } catch {
    return null;
  }
}

/** The namespace of a holder record written before records named one: equal to no namespace read here. */
const UNKNOWN_NAMESPACE = 'unknown (a lock record without pidns)';

/** True only when the holder process provably no longer exists. */
export function holderIsDead(h: LockHolder): boolean {
  if (h.host !== hostname()) return false; // another machine (a shared file system): cannot tell
  const boot = bootId();
  if (h.boot !== null && boot !== null && h.boot !== boot) return true; // the host rebooted since
  // Another PID namespace (a sandboxed app, a container with the host's name), or one not recorded (an earlier
  // version's record): its pid names another process here, or none, whether the holder lives or not (wallet attack
  // review, 2026-12-07: a live holder's lock was broken, and one counter was signed twice). Never broken: a person
  // removes the file, as wallet.locked says. (Scanning /proc for the namespace was tried and broke live locks: a
  // /proc with hidepid hides the holder, and an earlier version's record names no namespace to look for.)
  const here = pidNamespace();
  if (h.pidns !== here) return false;
  // On Linux a namespace that cannot be read is not known to be this one.
  if (here === null && process.platform === 'linux') return false;
  try {
    process.kill(h.pid, 0);
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'ESRCH';
  }
  // A process with that pid exists: dead only if it is provably another process (pid reused).
  if (h.start === null) return false;
  const now = processStart(h.pid);
  return now !== null && now !== h.start;
}

/** Try once to create `path` holding `holder`, atomically. */
function tryCreate(path: string, holder: LockHolder): boolean {
  const tmp = `${path}.${holder.nonce}.tmp`;
  const fd = openSync(tmp, 'wx', 0o600);
  try {
    writeSync(fd, JSON.stringify(holder) + '\n');
  } finally {
    closeSync(fd);
  }
  try {
    linkSync(tmp, path);
    return true;
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'EEXIST') return false;
    throw e;
  } finally {
    unlinkSync(tmp);
  }
}

function removeIfNonce(path: string, nonce: string): boolean {
  const h = parseHolder(readSmall(path));
  if (!h || h.nonce !== nonce) return false;
  unlinkSync(path);
  return true;
}

/** Remove `path` if its holder is provably dead, serialised by `path.break`. */
function breakIfStale(path: string): void {
  const seen = parseHolder(readSmall(path));
  if (!seen || !holderIsDead(seen)) return;
  const brk = `${path}.break`;
  const me = currentHolder();
  if (!tryCreate(brk, me)) return; // someone else is breaking it (or a breaker died: see waitMessage)
  try {
    const again = parseHolder(readSmall(path));
    if (again && again.nonce === seen.nonce && holderIsDead(again)) unlinkSync(path);
  } finally {
    removeIfNonce(brk, me.nonce);
  }
}

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

function lockedError(path: string, waitMs: number): OffpayError {
  const h = parseHolder(readSmall(path));
  const here = pidNamespace();
  const where =
    h === null || h.pidns === here
      ? ''
      : h.pidns === UNKNOWN_NAMESPACE
        ? ' (a lock written by an earlier offpay version, which recorded no PID namespace: whether it lives cannot be checked)'
        : ` in another PID namespace (${h.pidns ?? 'unknown'}; this process is in ${here ?? 'an unknown one'}: a container or sandboxed app, whose process cannot be checked from here)`;
  const who = h ? `process ${h.pid} on ${h.host} since ${new Date(h.time).toISOString()}${where}` : 'an unidentified holder';
  const brk = parseHolder(readSmall(`${path}.break`));
  const unlock = (n: string) => `offpay wallet unlock --wallet ${dirname(path)} --nonce ${n}`;
  const hint = brk && holderIsDead(brk)
    ? `; a stale-lock breaker died holding ${path}.break: once no offpay process uses this wallet, remove it with \`${unlock(brk.nonce)}\``
    : h
      ? `; if no offpay process is using this wallet (for example a holder on another machine that is gone, or a container that was restarted), remove the lock with \`${unlock(h.nonce)}\``
      : `; if no offpay process is using this wallet, remove ${path} (its record cannot be read)`;
  return new OffpayError('wallet.locked', `the wallet is in use: ${path} is held by ${who} after waiting ${waitMs} ms${hint}`, {
    lock: path,
    ...(h ? { pid: h.pid, host: h.host, nonce: h.nonce } : {}),
  });
}

/**
 * What can be said of a lock file's holder from here: `dead` (provably, as automatic breaking requires), `alive` (a process
 * of this host and PID namespace with that pid and start time runs), or `unknown` (another host or namespace, an
 * earlier version's record, no start time to compare, an unreadable record).
 */
export type HolderLiveness = 'dead' | 'alive' | 'unknown';

/** One lock file as {@link inspectLock} finds it. */
export interface LockFileState {
  /** The file. */
  path: string;
  /** Its holder record, or null when the file is there but holds no readable record. */
  holder: LockHolder | null;
  /** Whether its holder is dead, alive or cannot be told from here. */
  liveness: HolderLiveness;
}

/** True only when the holder provably still runs: this host and namespace, the pid there, the same start time. */
function holderIsAlive(h: LockHolder): boolean {
  if (h.host !== hostname()) return false;
  if (h.boot !== bootId()) return false; // null equals null where there is no boot id (macOS, Windows)
  const here = pidNamespace();
  if (h.pidns !== here) return false; // null equals null where there are no PID namespaces
  if (here === null && process.platform === 'linux') return false; // a namespace that cannot be read is not known to be this one
  try {
    process.kill(h.pid, 0);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== 'EPERM') return false;
  }
  // A process with that pid runs here: alive unless it is provably another one (both start times known and
  // different). Where start times cannot be read (macOS, Windows; a record without one), a running pid is
  // taken as the holder: removal is refused rather than risk a live lock (diff review, 2026-12-07).
  if (h.start === null) return true;
  const now = processStart(h.pid);
  return now === null || now === h.start;
}

function stateOf(path: string): LockFileState | null {
  const text = readSmall(path);
  if (text === null) return null;
  const holder = parseHolder(text);
  const liveness: HolderLiveness = holder === null ? 'unknown' : holderIsDead(holder) ? 'dead' : holderIsAlive(holder) ? 'alive' : 'unknown';
  return { path, holder, liveness };
}

/**
 * The lock `path` and its breaker file `path.break` as they are now (null: no such file). Read only: nothing is
 * taken or removed. What `offpay wallet unlock` shows a person.
 */
export function inspectLock(path: string): LockInspection {
  return { lock: stateOf(path), breaker: stateOf(`${path}.break`) };
}

/** What {@link inspectLock} found. */
export interface LockInspection {
  /** The lock file, or null when the wallet is not locked. */
  lock: LockFileState | null;
  /** The breaker file `LOCK.break`, or null when nobody is breaking the lock (or a breaker left it: see its liveness). */
  breaker: LockFileState | null;
}

/**
 * Remove a lock that automatic breaking cannot prove stale (a holder in another PID namespace, such as a container
 * killed inside a reservation and restarted; another host; an earlier version's record), by a person who has made
 * sure no process uses the wallet (spec/protocol.md §9.2, *Removal by a person*). `nonce` names the acquisition
 * the person looked at ({@link inspectLock}): the lock, or a breaker file `path.break` that a dead breaker left.
 * The file is removed only while it still holds that nonce, so a lock released and taken again since is never
 * removed by mistake; the lock itself is removed under `path.break`, as automatic breaking does. Refused:
 * `wallet.lock_changed` (no file holds that nonce any more: nothing removed, look again), `wallet.lock_live`
 * (its holder provably runs here), `wallet.locked` (another breaker holds `path.break`). Returns the file removed.
 */
export function removeLock(path: string, nonce: string): string {
  const brk = `${path}.break`;
  const lock = stateOf(path);
  const breaker = stateOf(brk);
  const target = lock?.holder?.nonce === nonce ? lock : breaker?.holder?.nonce === nonce ? breaker : null;
  if (target === null) {
    throw new OffpayError('wallet.lock_changed', `neither ${path} nor ${brk} holds the acquisition ${nonce}: it was released or taken again since; nothing was removed (look again)`, {
      lock: path,
      nonce,
    });
  }
  if (target.liveness === 'alive') {
    const h = target.holder!;
    throw new OffpayError('wallet.lock_live', `${target.path} is held by process ${h.pid}, which is running on this host: nothing was removed`, { lock: target.path, pid: h.pid });
  }
  if (target.path === brk) {
    // A breaker file has no guard of its own: removed when it still holds that nonce (its holder is not alive).
    if (!removeIfNonce(brk, nonce)) throw new OffpayError('wallet.lock_changed', `${brk} no longer holds the acquisition ${nonce}: nothing was removed`, { lock: brk, nonce });
    return brk;
  }
  const me = currentHolder();
  if (!tryCreate(brk, me)) {
    throw new OffpayError('wallet.locked', `${brk} is held by another breaker: nothing was removed (run offpay wallet unlock again to see it)`, { lock: brk });
  }
  try {
    if (!removeIfNonce(path, nonce)) throw new OffpayError('wallet.lock_changed', `${path} no longer holds the acquisition ${nonce}: nothing was removed`, { lock: path, nonce });
    return path;
  } finally {
    removeIfNonce(brk, me.nonce);
  }
}

/** Run `fn` while holding the exclusive lock `path`. */
export async function withLock<T>(path: string, fn: () => T | Promise<T>, options: LockOptions = {}): Promise<T> {
  const { waitMs, pollMs } = validateOptions(options);
  const me = currentHolder();
  const deadline = Date.now() + waitMs;
  for (;;) {
    if (tryCreate(path, me)) break;
    breakIfStale(path);
    if (tryCreate(path, me)) break;
    if (Date.now() >= deadline) throw lockedError(path, waitMs);
    await sleep(pollMs);
  }
  try {
    return await fn();
  } finally {
    removeIfNonce(path, me.nonce);
  }
}
