/** Bounded reads of small configuration files (Node): the size is checked before a byte is read. */
import { readFileSync, statSync } from 'node:fs';
import { OffpayError } from '../../base/errors.js';
import type { ErrorCode } from '../../base/error-codes.js';

/**
 * Read a regular file of at most `maxBytes`, its size checked before it is read: anything else (missing,
 * unreadable, not a regular file, too large) is an OffpayError with `code`, the message naming `what` and the
 * path. The TLS, CA and vector files use it, each with its own code.
 */
export function readFileBounded(path: string, maxBytes: number, code: ErrorCode, what: string): Buffer {
  const fail = (why: string): never => {
    throw new OffpayError(code, `${what} ${path}${why}`);
  };
  let size = 0;
  try {
    const st = statSync(path);
    if (!st.isFile()) fail(': not a regular file');
    size = st.size;
  } catch (e) {
    if (e instanceof OffpayError) throw e;
    fail(`: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`);
  }
  if (size > maxBytes) fail(` is ${size} bytes, over the limit of ${maxBytes}`);
  try {
    return readFileSync(path);
  } catch (e) {
    return fail(`: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`);
  }
}
