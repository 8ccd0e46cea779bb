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
import { closeSync, linkSync, openSync, readFileSync, readlinkSync, unlinkSync, writeSync } from 'node:fs';
import { hostname } from 'node:os';
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

function readSmall(path: string): string | null {
  try {
    const b = readFileSync(path);
    return b.length > MAX_LOCK_BYTES ? '' : b.toString('utf8');
  } catch {
    return null;
  }
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
  const hint = brk && holderIsDead(brk)
    ? `; a stale-lock breaker died holding ${path}.break: remove that file once no offpay process uses this wallet`
    : `; if no offpay process is using this wallet (for example a holder on another machine that is gone), remove ${path}`;
  return new OffpayError('wallet.locked', `the wallet is in use: ${path} is held by ${who} after waiting ${waitMs} ms${hint}`, { lock: path, ...(h ? { pid: h.pid, host: h.host } : {}) });
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
