/**
 * Progress lines (src/cli/progress.ts): only on a terminal, never in --json, nothing before the delay,
 * throttled, erased when done and before other output; and through a real pseudo-terminal (`script`).
 */
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { createProgress, progressLine } from '../../src/cli/progress.js';
import { main } from '../../src/cli/main.js';

function sink(isTTY: boolean) {
  const writes: string[] = [];
  return { writes, sink: { isTTY, write: (s: string) => void writes.push(s) } };
}

describe('createProgress', () => {
  it('draws nothing before the delay, then at most once per interval, and erases the line when done', () => {
    let t = 0;
    const s = sink(true);
    const p = createProgress(s.sink, 'ingesting', { total: 10, unit: 'batches', delayMs: 1000, intervalMs: 100, now: () => t });
    expect(p.active).toBe(true);
    p.update(1);
    t = 999;
    p.update(2);
    expect(s.writes).toEqual([]);
    t = 1000;
    p.update(3, 'b3.batch');
    t = 1050;
    p.update(4);
    expect(s.writes).toEqual(['\r\x1b[Kingesting 3/10 batches (30%), 1 s, about 3 s left: b3.batch']);
    t = 1100;
    p.update(5);
    expect(s.writes).toHaveLength(2);
    p.clear();
    expect(s.writes.at(-1)).toBe('\r\x1b[K');
    p.done();
    p.done();
    expect(s.writes).toHaveLength(3); // cleared already: nothing more to erase
  });

  it('is silent when the sink is not a terminal or when disabled (--json)', () => {
    let t = 0;
    for (const [tty, enabled] of [
      [false, true],
      [true, false],
    ] as const) {
      const s = sink(tty);
      const p = createProgress(s.sink, 'x', { total: 2, enabled, delayMs: 0, now: () => t });
      t += 5000;
      p.update(1);
      p.done();
      expect(p.active).toBe(false);
      expect(s.writes).toEqual([]);
    }
  });

  it('formats counts, percent and the estimate', () => {
    expect(progressLine('decoding', 12.5, 60, 's of audio', 2.4, undefined)).toBe('decoding 12.5/60 s of audio (20%), 2 s, about 10 s left');
    expect(progressLine('generating vectors', 4, 4, 'steps', 3, 'done')).toBe('generating vectors 4/4 steps (100%), 3 s: done');
    expect(progressLine('reading', 7, undefined, undefined, 0, undefined)).toBe('reading 7, 0 s');
  });
});

describe('commands draw progress on a terminal only', () => {
  it('clearing ingest erases its progress line before each result line; nothing when not a terminal or in --json', async () => {
    const d = mkdtempSync(join(tmpdir(), 'offpay-progress-'));
    const files = Array.from({ length: 3 }, (_, i) => join(d, `junk${i}.batch`));
    for (const f of files) writeFileSync(f, 'not a batch');
    const quiet = { out: () => undefined, err: () => undefined };
    expect(await main(['issuer', 'init', '--dir', join(d, 'issuer'), '--seed', 'progress'], quiet)).toBe(0);
    process.env.OFFPAY_PROGRESS_DELAY_MS = '0';
    try {
      const runIngest = async (stderrIsTTY: boolean, json: boolean) => {
        const log: [string, string][] = [];
        const code = await main(['clearing', 'ingest', '--issuer', join(d, 'issuer'), '--db', join(d, `c-${stderrIsTTY}-${json}.db`), ...files, ...(json ? ['--json'] : [])], {
          out: (s) => void log.push(['out', s]),
          err: (s) => void log.push(['err', s]),
          stderrIsTTY,
        });
        expect(code).toBe(1);
        return log;
      };
      const tty = await runIngest(true, false);
      expect(tty[0]).toEqual(['err', `\r\x1b[Kingesting 0/3 batches (0%), 0 s: ${files[0]}`]);
      expect(tty[1]).toEqual(['err', '\r\x1b[K']); // erased before the first result line
      expect(tty[2]![0]).toBe('out');
      expect(tty[2]![1]).toContain('REJECTED');
      expect(tty.filter(([w]) => w === 'out')).toHaveLength(3);
      expect(tty.at(-1)).toEqual(['out', expect.stringContaining(files[2]!)]); // nothing left drawn at the end
      for (const log of [await runIngest(false, false), await runIngest(true, true)]) {
        expect(log.filter(([w, s]) => w === 'err' || s.includes('\r'))).toEqual([]);
      }
    } finally {
      delete process.env.OFFPAY_PROGRESS_DELAY_MS;
    }
  });

  it('fsk decode on a terminal streams the recording through the receiver with the same result as without', async () => {
    const d = mkdtempSync(join(tmpdir(), 'offpay-fskprog-'));
    process.env.OFFPAY_PROGRESS_DELAY_MS = '0';
    try {
      for (const wav of ['fixtures/fsk/fast_capture_44100.wav', 'fixtures/fsk/fast_clean_48000_1000B.wav']) {
        const results: { out: string; err: string; payload: Buffer }[] = [];
        for (const stderrIsTTY of [false, true]) {
          let out = '';
          let err = '';
          const file = join(d, `p-${stderrIsTTY}.bin`);
          const code = await main(['fsk', 'decode', wav, '--out', file], { out: (s) => (out += s), err: (s) => (err += s), stderrIsTTY });
          expect(code, err).toBe(0);
          results.push({ out, err, payload: readFileSync(file) });
        }
        const [plain, tty] = results as [(typeof results)[0], (typeof results)[0]];
        expect(tty.payload.equals(plain.payload)).toBe(true);
        expect(tty.out.replace(/p-true/g, 'p-false')).toBe(plain.out); // same frames, SNR, offsets
        expect(plain.err).toBe('');
        expect(tty.err).toMatch(/^\r\x1b\[Kdecoding \d+(\.\d)?\/\d+ s of audio/);
        expect(tty.err.endsWith('\r\x1b[K')).toBe(true);
      }
      // No frame at all: the same typed error either way.
      const silent = join(d, 'silence.wav');
      expect(await main(['fsk', 'sim', '--in', 'fixtures/fsk/fast_clean_48000_16B.wav', '--out', silent, '--snr=-40'], { out: () => undefined, err: () => undefined })).toBe(0);
      const codes: string[] = [];
      for (const stderrIsTTY of [false, true]) {
        let err = '';
        expect(await main(['fsk', 'decode', silent], { out: () => undefined, err: (s) => (err += s), stderrIsTTY })).toBe(2);
        codes.push(/\[(fsk\.[a-z_]+)\]/.exec(err)?.[1] ?? err);
      }
      expect(codes[0]).toMatch(/^fsk\./);
      expect(codes[1]).toBe(codes[0]);
    } finally {
      delete process.env.OFFPAY_PROGRESS_DELAY_MS;
    }
  });

  const script = ['/usr/bin/script', '/bin/script'].find((p) => existsSync(p));
  const cli = join(import.meta.dirname, '../../dist/src/cli/main.js');
  it.skipIf(!script || !existsSync(cli))('vectors generate under a pseudo-terminal draws and erases a progress line; piped, it draws none', () => {
    const d = mkdtempSync(join(tmpdir(), 'offpay-pty-'));
    // OFFPAY_PROGRESS_DELAY_MS=0 makes the first update draw at once (the delay exists so quick runs stay quiet).
    const cmd = `${JSON.stringify(process.execPath)} ${JSON.stringify(cli)} vectors generate --dir ${JSON.stringify(join(d, 'v'))}`;
    const tty = spawnSync(script!, ['-qec', cmd, '/dev/null'], { encoding: 'utf8', env: { ...process.env, OFFPAY_PROGRESS_DELAY_MS: '0' } });
    expect(tty.status, tty.stderr).toBe(0);
    expect(tty.stdout).toMatch(/\r\x1b\[Kgenerating vectors \d\/4 steps/);
    expect(tty.stdout).toMatch(/token_verify\.json: \d+ cases/);
    const piped = spawnSync(process.execPath, [cli, 'vectors', 'generate', '--dir', join(d, 'w')], { encoding: 'utf8', env: { ...process.env, OFFPAY_PROGRESS_DELAY_MS: '0' } });
    expect(piped.status).toBe(0);
    expect(piped.stderr).toBe('');
  });
});
