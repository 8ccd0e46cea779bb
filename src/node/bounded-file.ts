/** Bounded reads of small configuration files (Node): the size is checked before a byte is read. */
import { closeSync, constants, fstatSync, openSync, readSync } from 'node:fs';
import { OffpayError } from '../../base/errors.js';
import type { ErrorCode } from '../../base/error-codes.js';

/**
 * Read a regular file of at most `maxBytes`, its size checked before it is read: anything else (missing,
 * unreadable, not a regular file, too large) is an OffpayError with `code`, the message naming `what` and the
 * path. The TLS, CA and vector files use it, each with its own code.
 */
/** Why {@link readRegularFile} refused a file: its errno code, `not_regular`, or `too_large` (with the size). */
export type RegularFileProblem = { kind: 'errno'; code: string } | { kind: 'not_regular' } | { kind: 'too_large'; size: number };

/**
 * Read a regular file of at most `maxBytes`, or say why not, without ever blocking or reading more than
 * `maxBytes + 1` bytes: the file is opened non-blocking (a FIFO with no writer does not hang the open), the open
 * descriptor is checked to be a regular file (a FIFO, a device such as /dev/zero, a directory are refused before a
 * byte is read), its size is checked, and at most `maxBytes + 1` bytes are read (a file that grows while read is
 * still refused as too large). Symbolic links are followed (a key file may be one).
 */
export function readRegularFile(path: string, maxBytes: number): Buffer | RegularFileProblem {
  let fd: number;
  try {
    fd = openSync(path, constants.O_RDONLY | (constants.O_NONBLOCK ?? 0));
  } catch (e) {
    return { kind: 'errno', code: (e as NodeJS.ErrnoException).code ?? (e as Error).message };
  }
  try {
    const st = fstatSync(fd);
    if (!st.isFile()) return { kind: 'not_regular' };
    if (st.size > maxBytes) return { kind: 'too_large', size: st.size };
    const buf = Buffer.alloc(maxBytes + 1);
    let n = 0;
    for (;;) {
      const r = readSync(fd, buf, n, buf.length - n, null);
      if (r === 0) break;
      n += r;
      if (n > maxBytes) return { kind: 'too_large', size: n };
    }
    return buf.subarray(0, n);
  } catch (e) {
    return { kind: 'errno', code: (e as NodeJS.ErrnoException).code ?? (e as Error).message };
  } finally {
    closeSync(fd);
  }
}

export function readFileBounded(path: string, maxBytes: number, code: ErrorCode, what: string): Buffer {
  const r = readRegularFile(path, maxBytes);
  if (Buffer.isBuffer(r)) return r;
  const why = r.kind === 'not_regular' ? ': not a regular file' : r.kind === 'too_large' ? ` is ${r.size} bytes, over the limit of ${maxBytes}` : `: ${r.code}`;
  throw new OffpayError(code, `${what} ${path}${why}`);
}
