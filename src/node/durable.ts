/** Durable file writes (Node only). */
import { closeSync, fsyncSync, mkdirSync, openSync, renameSync, unlinkSync, writeSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import { mkdir, open, rename, unlink } from 'node:fs/promises';
import { dirname } from 'node:path';

/**
 * Write a file durably: temp file, fsync, rename over the target, fsync the directory. A directory that cannot be
 * opened, or a file system that does not flush directories, skips the last step; any other failure of it throws.
 */
export function writeFileDurable(path: string, data: Uint8Array | string, mode = 0o600): void {
  mkdirSync(dirname(path), { recursive: true });
  const tmp = `${path}.tmp-${process.pid}`;
  const fd = openSync(tmp, 'w', mode);
  try {
    try {
      // Every byte: one write may take only part (a size limit, a signal), and the rest would be lost silently.
      const buf = typeof data === 'string' ? Buffer.from(data) : data;
      for (let at = 0; at < buf.length; ) at += writeSync(fd, buf, at, buf.length - at);
      fsyncSync(fd);
    } finally {
      closeSync(fd);
    }
    renameSync(tmp, path);
  } catch (e) {
    // A failed write (a full disk) leaves no temporary file behind, and the target as it was.
    try {
      unlinkSync(tmp);
    } catch {
      // already gone
    }
    throw e;
  }
  let dfd: number;
  try {
    dfd = openSync(dirname(path), 'r');
  } catch (e) {
    if (e && typeof e === 'object') (e as { afterRename?: boolean }).afterRename = true;
    dirOpenFailed(e, path);
    return;
  }
  try {
    fsyncSync(dfd);
  } catch (e) {
    // After the rename: the new file is in place, only its directory entry may not be durable.
    if (e && typeof e === 'object') (e as { afterRename?: boolean }).afterRename = true;
    dirSyncFailed(e, path);
  } finally {
    closeSync(dfd);
  }
}

/**
 * Errors of a directory fsync that mean "this file system does not flush directories" (the rename is still atomic
 * there, and nothing better can be done). Any other error (EIO from a failing card, ENOSPC, a network file system
 * that lost the write) means the rename may not survive a power cut: it is thrown, so that a caller such as the
 * wallet's counter reservation emits nothing (spec/protocol.md §9.2 steps 4 and 5). Swallowing them all let a
 * token leave after a failed flush (wallet attack review, 2026-12-07).
 */
const CANNOT_FLUSH_DIRECTORY = new Set(['EINVAL', 'ENOTSUP', 'EOPNOTSUPP', 'ENOSYS', 'EISDIR', 'EPERM', 'EBADF', 'EACCES']);
/**
 * Errors of opening a directory that mean "this platform does not open directories" (Windows: EISDIR, EPERM,
 * EACCES). Any other (EMFILE in a busy process, EIO) is thrown: skipping the flush then would be the silent
 * failure the flush exists to prevent.
 */
const CANNOT_OPEN_DIRECTORY = new Set(['EISDIR', 'EPERM', 'EACCES', 'ENOTSUP', 'EOPNOTSUPP', 'ENOSYS']);

/** Return when `e` is one of `tolerated` (or `always`), else throw it naming the directory (the CLI: "cannot use DIR: EIO"). */
function dirStepFailed(e: unknown, path: string, tolerated: ReadonlySet<string>, always = false): void {
  const err = e as NodeJS.ErrnoException;
  if (always || (typeof err?.code === 'string' && tolerated.has(err.code))) return;
  if (err && typeof err === 'object' && err.path === undefined) err.path = dirname(path);
  throw e;
}
const dirSyncFailed = (e: unknown, path: string): void => dirStepFailed(e, path, CANNOT_FLUSH_DIRECTORY);
const dirOpenFailed = (e: unknown, path: string): void => dirStepFailed(e, path, CANNOT_OPEN_DIRECTORY, process.platform === 'win32');

/** Flush the directory of `path` (fsync): the last step of {@link writeFileDurableAsync}, with its rules. */
async function syncDirectoryOf(path: string): Promise<void> {
  let dh: Awaited<ReturnType<typeof open>>;
  try {
    dh = await open(dirname(path), 'r');
  } catch (e) {
    dirOpenFailed(e, path);
    return;
  }
  try {
    await dh.sync();
  } catch (e) {
    dirSyncFailed(e, path);
  } finally {
    await dh.close();
  }
}

/**
 * `writeFileDurable` with non-blocking I/O (the event loop keeps running through the fsyncs). The temp name
 * carries a random suffix as well as the pid, so concurrent writers in one process never share a temp file.
 */
export async function writeFileDurableAsync(path: string, data: Uint8Array | string): Promise<void> {
  await mkdir(dirname(path), { recursive: true });
  const tmp = `${path}.tmp-${process.pid}-${randomBytes(4).toString('hex')}`;
  const fh = await open(tmp, 'w', 0o600);
  try {
    try {
      await fh.writeFile(typeof data === 'string' ? Buffer.from(data) : data);
      await fh.sync();
    } finally {
      await fh.close();
    }
    await rename(tmp, path);
  } catch (e) {
    await unlink(tmp).catch(() => undefined); // a failed write leaves no temporary file behind
    throw e;
  }
  await syncDirectoryOf(path);
}
