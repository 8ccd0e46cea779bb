/**
 * The operator credential (spec/clearing-api.md §7): 32 random bytes as 64 lower-case hex digits, in a file
 * of mode 0600. `clearing serve` creates it on first run (O_EXCL, so two servers never write two different
 * ones) or reads the one given with --operator-token-file. A request presents it as `Authorization: Bearer
 * <hex>`; the check compares SHA-256 digests of the presented and expected strings with timingSafeEqual, so
 * neither the content nor the length leaks through timing.
 */
import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import { chmodSync, closeSync, existsSync, fsyncSync, openSync, readFileSync, statSync, writeSync } from 'node:fs';
import { OffpayError } from '../../base/errors.js';
import type { ErrorCode } from '../../base/error-codes.js';

const TOKEN_RE = /^[0-9a-f]{64}$/;

/** Read the credential file, creating it (mode 0600) when missing. Returns the credential and whether it was created. */
export function loadOrCreateOperatorToken(path: string): { token: string; created: boolean } {
  return loadOrCreateSecretFile(path, 'api.bad_operator_token', 'operator credential');
}

/**
 * A secret file of 64 lower-case hex digits (32 random bytes) and mode 0600, created when missing (O_EXCL,
 * fsynced). The webhook secret (webhooks.ts) uses the same rules with its own error code.
 */
export function loadOrCreateSecretFile(path: string, code: ErrorCode, what: string): { token: string; created: boolean } {
  if (!existsSync(path)) {
    const token = randomBytes(32).toString('hex');
    let fd: number;
    try {
      fd = openSync(path, 'wx', 0o600);
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw new OffpayError(code, `cannot create the ${what} ${path}: ${(e as Error).message}`);
      return loadOrCreateSecretFile(path, code, what);
    }
    try {
      writeSync(fd, token + '\n');
      fsyncSync(fd);
    } finally {
      closeSync(fd);
    }
    chmodSync(path, 0o600); // whatever the umask
    return { token, created: true };
  }
  const st = statSync(path);
  if (!st.isFile() || st.size > 1024) throw new OffpayError(code, `${path} is not a ${what} file`);
  if ((st.mode & 0o077) !== 0) throw new OffpayError(code, `${path} is readable by others (mode ${(st.mode & 0o777).toString(8)}); chmod 600 it`);
  const token = readFileSync(path, 'utf8').trim();
  if (!TOKEN_RE.test(token)) throw new OffpayError(code, `${path} must hold 64 lower-case hex digits (32 random bytes)`);
  return { token, created: false };
}

const digest = (s: string): Buffer => createHash('sha256').update(s, 'utf8').digest();

/** Whether an Authorization header value carries the credential (constant time in the presented value). */
export function checkBearer(header: string | undefined, token: string): boolean {
  const m = /^Bearer ([^\s]{1,256})$/.exec(header ?? '');
  const presented = m ? m[1]! : '';
  return timingSafeEqual(digest(presented), digest(token)) && m !== null;
}
