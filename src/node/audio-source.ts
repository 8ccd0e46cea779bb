/**
 * Where `offpay reader listen` gets its raw PCM (Node only): standard input, or an ALSA capture device
 * through `arecord -D NAME -f S16_LE -r RATE -c 1 -t raw` (alsa-utils), whose standard output is read the
 * same way. Either way the caller pulls chunks with backpressure (a slow decision pauses the pipe; nothing
 * is queued in this process beyond the stream's own high-water mark).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { accessSync, constants } from 'node:fs';
import { delimiter, join } from 'node:path';
import type { Readable } from 'node:stream';
import { OffpayError } from '../../base/errors.js';

/** Bytes of arecord's standard error kept for an error message (the tail). */
const STDERR_KEEP = 2048;

export interface AudioSource {
  /** Raw PCM bytes. */
  stream: Readable;
  /** What it is, for the start line ('stdin' or 'arecord -D NAME ...'). */
  describe: string;
  /** Stop reading: destroy the stream, and end the capture process if there is one. */
  close(): void;
  /**
   * After the stream ended: throws `listen.device_failed` if the capture process failed (bad device name,
   * device busy), with the tail of its standard error. Resolves at once for stdin.
   */
  check(): Promise<void>;
}

export function stdinSource(): AudioSource {
  const stream = process.stdin;
  return {
    stream,
    describe: 'stdin',
    close: () => {
      stream.pause();
      stream.destroy();
    },
    check: async () => undefined,
  };
}

/** The first executable `name` on PATH, or undefined. */
export function findOnPath(name: string, path = process.env.PATH ?? ''): string | undefined {
  for (const dir of path.split(delimiter)) {
    if (!dir) continue;
    const p = join(dir, name);
    try {
      accessSync(p, constants.X_OK);
      return p;
    } catch {
      // not here
    }
  }
  return undefined;
}

/** Capture from an ALSA device with arecord (16-bit mono at `rate`). */
export function arecordSource(device: string, rate: number): AudioSource {
  if (process.platform !== 'linux') throw new OffpayError('listen.device_unsupported', `--device captures with ALSA's arecord, which needs Linux; on ${process.platform}, pipe raw PCM into --stdin instead`);
  if (!/^[\w:,.=\-/]{1,200}$/.test(device)) throw new OffpayError('listen.bad_device', `'${device}' is not an ALSA device name (such as default, hw:1,0 or plughw:CARD=Device,DEV=0)`);
  const bin = findOnPath('arecord');
  if (!bin) throw new OffpayError('listen.no_arecord', 'arecord was not found on PATH: install alsa-utils (apt-get install alsa-utils), or pipe raw PCM into --stdin');
  const args = ['-D', device, '-f', 'S16_LE', '-r', String(rate), '-c', '1', '-t', 'raw', '-q'];
  let child: ChildProcess;
  try {
    child = spawn(bin, args, { stdio: ['ignore', 'pipe', 'pipe'] });
  } catch (e) {
    throw new OffpayError('listen.device_failed', `cannot start ${bin}: ${(e as Error).message}`);
  }
  let stderr = '';
  child.stderr!.setEncoding('utf8');
  child.stderr!.on('data', (s: string) => {
    stderr = (stderr + s).slice(-STDERR_KEEP);
  });
  let spawnError: Error | undefined;
  const exited = new Promise<number | null>((resolve) => {
    child.on('error', (e) => {
      spawnError = e;
      resolve(null);
    });
    child.on('close', (code, signal) => resolve(signal ? 0 : code));
  });
  let closing = false;
  return {
    stream: child.stdout!,
    describe: `arecord ${args.join(' ')}`,
    close: () => {
      closing = true;
      child.stdout!.destroy();
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM');
    },
    check: async () => {
      const code = await exited;
      if (closing) return;
      if (spawnError) throw new OffpayError('listen.device_failed', `arecord could not run: ${spawnError.message}`);
      if (code !== 0) throw new OffpayError('listen.device_failed', `arecord -D ${device} exited with status ${code}: ${stderr.trim() || '(no message)'}`);
    },
  };
}
