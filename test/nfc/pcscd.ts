/**
 * Test harness for the real PC/SC loop: finds pcscd, the vpcd driver and the native addon, and starts a
 * foreground pcscd (with its own log) when none is running. Research note §2.5/§2.6.
 */
import { spawn, execFileSync, type ChildProcess } from 'node:child_process';
import { existsSync, openSync, closeSync, readFileSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { tmpdir } from 'node:os';
import { loadPcsclite } from '../../codecs/nfc/pcsc.js';

export const PCSCD_SOCKET = '/run/pcscd/pcscd.comm';
const VPCD_DRIVER = '/usr/lib/pcsc/drivers/serial/libifdvpcd.so';

/** What is missing for the loop, or an empty list. */
export async function missingForLoop(): Promise<string[]> {
  const missing: string[] = [];
  const pcscd = ['/usr/sbin/pcscd', '/usr/bin/pcscd'].find(existsSync);
  if (!pcscd) missing.push('pcscd (apt-get install pcscd)');
  if (!existsSync(VPCD_DRIVER)) missing.push('the vpcd driver (apt-get install vsmartcard-vpcd)');
  try {
    await loadPcsclite();
  } catch (e) {
    missing.push(`the native addon (${(e as Error).message})`);
  }
  return missing;
}

/** Whether something listens on TCP `port` (reads /proc/net/tcp*, never connects: vpcd would take a connection as a card). */
export function listening(port: number): boolean {
  const hexPort = port.toString(16).toUpperCase().padStart(4, '0');
  for (const f of ['/proc/net/tcp', '/proc/net/tcp6']) {
    if (!existsSync(f)) continue;
    for (const line of readFileSync(f, 'utf8').split('\n').slice(1)) {
      const cols = line.trim().split(/\s+/);
      if (cols[1]?.endsWith(`:${hexPort}`) && cols[3] === '0A') return true;
    }
  }
  return false;
}

function pcscdRunning(): boolean {
  try {
    execFileSync('pgrep', ['-x', 'pcscd'], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}

export interface Pcscd {
  /** The pcscd we started, or undefined when one was already running. */
  child: ChildProcess | undefined;
  log: string | undefined;
  stop(): Promise<void>;
}

/** Start `pcscd --foreground` unless one is running; wait until its socket and vpcd's port are up. */
export async function ensurePcscd(timeoutMs = 10_000): Promise<Pcscd> {
  let child: ChildProcess | undefined;
  let log: string | undefined;
  if (!pcscdRunning()) {
    const dir = join(tmpdir(), 'offpay-nfc-test');
    mkdirSync(dir, { recursive: true });
    log = join(dir, 'pcscd.log');
    const fd = openSync(log, 'w');
    const bin = ['/usr/sbin/pcscd', '/usr/bin/pcscd'].find(existsSync) ?? 'pcscd';
    child = spawn(bin, ['--foreground'], { stdio: ['ignore', fd, fd] });
    closeSync(fd);
  }
  const deadline = Date.now() + timeoutMs;
  while (!(existsSync(PCSCD_SOCKET) && listening(35963))) {
    if (child && child.exitCode !== null) throw new Error(`pcscd exited with ${child.exitCode}; see ${log}`);
    if (Date.now() > deadline) {
      child?.kill('SIGTERM');
      throw new Error(`pcscd did not come up within ${timeoutMs} ms (socket ${PCSCD_SOCKET}, vpcd port 35963); see ${log}`);
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  return {
    child,
    log,
    stop: async () => {
      if (!child || child.exitCode !== null) return;
      const exited = new Promise<void>((r) => child!.once('exit', () => r()));
      child.kill('SIGTERM');
      const t = setTimeout(() => child!.kill('SIGKILL'), 5000);
      await exited;
      clearTimeout(t);
    },
  };
}
