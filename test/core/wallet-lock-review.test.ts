/**
 * The review of e1c78a5 (2026-12-07), which broke the lock of a holder whose PID namespace had no process left as
 * seen from the initial namespace: it broke LIVE locks too (an earlier version's record names no namespace, and a
 * /proc with hidepid hides the holder), and was reverted: a lock of another namespace is never broken. Both tests
 * failed on e1c78a5. spec/protocol.md §9.2 "Stale lock": "a record without `pidns` (an earlier version's) ... or
 * a live pid is never removed"; the scan counts a process whose link cannot be read as outside the namespace
 * "only when the NSpid line of its /proc/PID/status has one pid".
 *
 * Each test fails while the defect exists. Needs Linux, root in the initial PID namespace, unshare and setpriv
 * (util-linux); skipped elsewhere. Uses the built library (dist/), as test/core/wallet-lock-pidns.test.ts does.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { chmodSync, chownSync, existsSync, mkdtempSync, readFileSync, readlinkSync, writeFileSync } from 'node:fs';
import { hostname, tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { FileCounterStore, createCounterFile } from '../../src/node/files.js';
import { processStart } from '../../src/node/lock.js';

const INIT_NS = 'pid:[4026531836]';
const dist = join(import.meta.dirname, '../../dist/src');
const here = (() => {
  try {
    return readlinkSync('/proc/self/ns/pid');
  } catch {
    return null;
  }
})();
const isRoot = process.getuid?.() === 0;
const has = (cmd: string, args: string[]) => {
  try {
    return spawnSync(cmd, args, { timeout: 5000 }).status === 0;
  } catch {
    return false;
  }
};
const canUnshare = has('unshare', ['--pid', '--fork', '--mount-proc', 'true']);
const canHidepid = isRoot && has('unshare', ['-m', 'sh', '-c', 'mount -t proc -o hidepid=2 proc /proc && setpriv --reuid=65534 --regid=65534 --clear-groups true']);
/**
 * Whether the unprivileged checker (uid 65534) can read the built library: not in a clone under a private temporary
 * directory (mktemp -d makes it 0700; .ci/run's second clone is there), where the test cannot run as that user.
 */
const nobodyReads = (): boolean => has('setpriv', ['--reuid=65534', '--regid=65534', '--clear-groups', 'test', '-r', join(dist, 'node/files.js')]);
const boot = () => readFileSync('/proc/sys/kernel/random/boot_id', 'utf8').trim();
const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

/** A live process in a new PID namespace (a container's, as root): its namespace, and how to end it. */
async function liveNamespace(): Promise<{ ns: string; child: ChildProcess; stop: () => void }> {
  const child = spawn('unshare', ['--pid', '--fork', '--mount-proc', 'sh', '-c', 'readlink /proc/self/ns/pid; exec sleep 30'], { stdio: ['ignore', 'pipe', 'inherit'], detached: true });
  const ns = await new Promise<string>((ok) => child.stdout!.once('data', (b: Buffer) => ok(b.toString().trim())));
  return {
    ns,
    child,
    stop: () => {
      try {
        process.kill(-child.pid!, 'SIGKILL');
      } catch {
        /* gone */
      }
      child.stdout!.destroy();
    },
  };
}

describe('the wallet lock never breaks a live holder it cannot see (spec/protocol.md §9.2 stale lock)', () => {
  it.skipIf(process.platform !== 'linux' || here !== INIT_NS)(
    'a lock record of an earlier version (no pidns) held by a LIVE process is never broken, also from the initial namespace',
    async () => {
      // The live holder: an earlier offpay version, in this (initial) namespace, inside its reservation.
      const holder = spawn('sleep', ['30'], { stdio: 'ignore' });
      try {
        for (let i = 0; i < 100 && processStart(holder.pid!) === null; i++) await sleep(10);
        const d = mkdtempSync(join(tmpdir(), 'offpay-zz-r3-oldrec-'));
        const counter = join(d, 'counter.json');
        await createCounterFile(counter);
        // What the earlier version wrote: pid, host, boot, start, time, nonce; no pidns.
        writeFileSync(`${counter}.lock`, JSON.stringify({ pid: holder.pid, host: hostname(), boot: boot(), start: processStart(holder.pid!), time: Date.now(), nonce: 'ef'.repeat(16) }) + '\n');
        const e = await new FileCounterStore(counter, { waitMs: 300 }).reserve((c) => ({ counter: c.counter + 1, spent: c.spent + 100 })).then(
          (s) => `reserved counter ${s.counter}: the live holder's lock was broken`,
          (x: unknown) => (x as { code?: string }).code,
        );
        expect(e).toBe('wallet.locked');
      } finally {
        holder.kill('SIGKILL');
      }
    },
  );

  it.skipIf(process.platform !== 'linux' || here !== INIT_NS || !canUnshare || !canHidepid || !existsSync(join(dist, 'node/files.js')) || !nobodyReads())(
    'a checker whose /proc hides other users\' processes (hidepid=2 / hidepid=1, systemd ProtectProc=) does not break the lock of a live root container',
    async () => {
      const live = await liveNamespace(); // a container running as root, holding the wallet's lock
      try {
        const outcomes: string[] = [];
        for (const hidepid of ['2', '1']) {
          const d = mkdtempSync(join(tmpdir(), 'offpay-zz-r3-hidepid-'));
          const counter = join(d, 'counter.json');
          await createCounterFile(counter);
          writeFileSync(`${counter}.lock`, JSON.stringify({ pid: 1, host: hostname(), boot: boot(), pidns: live.ns, start: '1', time: Date.now(), nonce: 'cd'.repeat(16) }) + '\n');
          // The wallet directory is shared with the host user that runs the checker (uid 65534 here).
          for (const f of [d, counter, `${counter}.lock`]) chownSync(f, 65534, 65534);
          chmodSync(d, 0o700);
          const script = `
            import { FileCounterStore } from ${JSON.stringify(join(dist, 'node/files.js'))};
            const r = await new FileCounterStore(process.argv[1] + '/counter.json', { waitMs: 300 })
              .reserve((c) => ({ counter: c.counter + 1, spent: c.spent + 100 }))
              .then((s) => 'reserved counter ' + s.counter, (e) => e.code ?? String(e));
            console.log(r);
          `;
          const r = spawnSync(
            'unshare',
            ['-m', 'sh', '-c', `mount -t proc -o hidepid=${hidepid} proc /proc && exec setpriv --reuid=65534 --regid=65534 --clear-groups "$0" --input-type=module -e "$1" "$2"`, process.execPath, script, d],
            { encoding: 'utf8', timeout: 20_000 },
          );
          expect(r.status, r.stderr).toBe(0);
          outcomes.push(`hidepid=${hidepid}: ${r.stdout.trim()}`);
        }
        // The container is alive and inside its reservation: the host process must wait (wallet.locked), never
        // reserve the same counter.
        expect(outcomes).toEqual(['hidepid=2: wallet.locked', 'hidepid=1: wallet.locked']);
      } finally {
        live.stop();
      }
    },
    60_000,
  );
});
