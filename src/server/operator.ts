/**
 * The operator credential (spec/clearing-api.md §7): 32 random bytes as 64 lower-case hex digits, in a file
 * of mode 0600. `clearing serve` creates it on first run (written aside, then linked into place: two servers
 * never write two different ones, and neither reads a half-written one) or reads the one given with
 * --operator-token-file. A request presents it as `Authorization: Bearer <hex>`; the check compares SHA-256
 * digests of the presented and expected strings with timingSafeEqual, so neither the content nor the length
 * leaks through timing.
 */
import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import { chmodSync, closeSync, existsSync, fsyncSync, linkSync, openSync, readFileSync, rmSync, statSync, writeSync, type Stats } from 'node:fs';
import { OffpayError } from '../../base/errors.js';
import type { ErrorCode } from '../../base/error-codes.js';


/** Read the credential file, creating it (mode 0600) when missing. Returns the credential and whether it was created. */
export function loadOrCreateOperatorToken(path: string): { token: string; created: boolean } {
  return loadOrCreateSecretFile(path, 'api.bad_operator_token', 'operator credential');
}

/**
 * A secret file of 64 lower-case hex digits (32 random bytes) and mode 0600, created when missing (O_EXCL,
 * fsynced). The webhook secret (webhooks.ts) uses the same rules with its own error code. A symbolic link is
 * followed (secrets are often mounted that way); one that points nowhere is refused, as is a file that cannot be
 * read: every failure is `code`.
 */
export function loadOrCreateSecretFile(path: string, code: ErrorCode, what: string): { token: string; created: boolean } {
  if (!existsSync(path)) {
    const token = createSecretFile(path, code, what);
    if (token !== undefined) return { token, created: true };
    // The name exists after all: another process created the file meanwhile (read it below), or it is a
    // symbolic link that points nowhere (stat says so below).
  }
  let st: Stats;
  let text: string;
  try {
    st = statSync(path);
    if (!st.isFile() || st.size > 1024) throw new OffpayError(code, `${path} is not a ${what} file`);
    if ((st.mode & 0o077) !== 0) throw new OffpayError(code, `${path} is readable by group or others (mode ${(st.mode & 0o777).toString(8)}); chmod 600 it`);
    text = readFileSync(path, 'utf8');
  } catch (e) {
    if (e instanceof OffpayError) throw e;
    throw new OffpayError(code, `cannot read the ${what} ${path}: ${(e as Error).message}`);
  }
  // Exactly the issued form: 64 lower-case hex digits and at most one line end (no other whitespace, no BOM), so
  // that a port reading the file by the spec's rule takes exactly the files this server takes.
  const m = /^([0-9a-f]{64})(\r?\n)?$/.exec(text);
  if (!m) throw new OffpayError(code, `${path} must hold 64 lower-case hex digits (32 random bytes) and at most one line end, nothing else`);
  const token = m[1]!;
  return { token, created: false };
}

/**
 * Create the secret file with a new secret; undefined when the name already exists. The secret is written and
 * fsynced in a temporary file of mode 0600 first, then linked into place (link fails when the name exists), so
 * another process that finds the name finds the whole secret, never an empty file being written.
 */
function createSecretFile(path: string, code: ErrorCode, what: string): string | undefined {
  const token = randomBytes(32).toString('hex');
  const tmp = `${path}.${process.pid}.${randomBytes(4).toString('hex')}.tmp`;
  try {
    const fd = openSync(tmp, 'wx', 0o600);
    try {
      writeSync(fd, token + '\n');
      fsyncSync(fd);
    } finally {
      closeSync(fd);
    }
    chmodSync(tmp, 0o600); // whatever the umask
    try {
      linkSync(tmp, path);
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'EEXIST') return undefined;
      throw e;
    }
    return token;
  } catch (e) {
    throw new OffpayError(code, `cannot create the ${what} ${path}: ${(e as Error).message}`);
  } finally {
    rmSync(tmp, { force: true });
  }
}

const digest = (s: string): Buffer => createHash('sha256').update(s, 'utf8').digest();

/** Whether an Authorization header value carries the credential (constant time in the presented value). */
export function checkBearer(header: string | undefined, token: string): boolean {
  // The scheme is case-insensitive (RFC 9110 §11.1) and followed by one or more spaces (RFC 6750 §2.1); the
  // credential is compared exactly.
  const m = /^Bearer +([^\s]{1,256})$/i.exec(header ?? '');
  const presented = m ? m[1]! : '';
  return timingSafeEqual(digest(presented), digest(token)) && m !== null;
}
