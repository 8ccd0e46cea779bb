/**
 * `offpay reader listen` end to end through the BUILT CLI (dist/; run `npm run build` first): raw PCM piped
 * into its stdin in random chunk sizes, JSON lines read back, the reader database checked afterwards.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { chmodSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { encode, makeRng, simulate, type FskProfileName, type Rng } from '../../codecs/fsk/index.js';
import { main } from '../../src/cli/main.js';

const ROOT = join(import.meta.dirname, '../..');
const CLI = join(ROOT, 'dist/src/cli/main.js');
const RATE = 48000;
const T0 = 1_795_000_000;
const at = (s: number) => `--now=${T0 + s}`;
const d = mkdtempSync(join(tmpdir(), 'offpay-listen-'));
const p = (...x: string[]) => join(d, ...x);
afterAll(() => rmSync(d, { recursive: true, force: true }));

async function run(...argv: string[]): Promise<{ code: number; out: string; err: string }> {
  let out = '';
  let err = '';
  const code = await main(argv, { out: (s) => (out += s), err: (s) => (err += s) });
  return { code, out, err };
}

type Ev = Record<string, unknown> & { event: string; at: number };

/** Every JSON key seen on a listen line in this file, with the event it was on (checked against the spec at the end). */
const seenKeys = new Set<string>();
function collectKeys(o: Record<string, unknown>, prefix = ''): void {
  for (const [k, v] of Object.entries(o)) {
    seenKeys.add(prefix + k);
    if (v && typeof v === 'object' && !Array.isArray(v)) collectKeys(v as Record<string, unknown>, `${prefix}${k}.`);
  }
}

/** The listen process: JSON lines parsed as they come (every line must parse), exit code at the end. */
function listen(args: string[], env: NodeJS.ProcessEnv = process.env) {
  const child = spawn(process.execPath, [CLI, 'reader', 'listen', '--json', ...args], { stdio: ['pipe', 'pipe', 'pipe'], env });
  const events: Ev[] = [];
  let buf = '';
  let err = '';
  const waiters: { pred: (e: Ev) => boolean; resolve: (e: Ev) => void }[] = [];
  child.stdout!.setEncoding('utf8');
  child.stdout!.on('data', (s: string) => {
    buf += s;
    let i;
    while ((i = buf.indexOf('\n')) >= 0) {
      const line = buf.slice(0, i);
      buf = buf.slice(i + 1);
      const e = JSON.parse(line) as Ev; // a line that is not JSON fails the test here
      events.push(e);
      collectKeys(e);
      for (const w of waiters.splice(0)) {
        if (w.pred(e)) w.resolve(e);
        else waiters.push(w);
      }
    }
  });
  child.stderr!.setEncoding('utf8');
  child.stderr!.on('data', (s: string) => (err += s));
  child.stdin!.on('error', () => undefined); // EPIPE after a stop
  const exited = new Promise<number | null>((res) => child.on('close', (code) => res(code)));
  return {
    child,
    events,
    stderr: () => err,
    exited,
    /** Resolves at the first event (already printed or to come) matching pred. */
    waitFor: (pred: (e: Ev) => boolean) => new Promise<Ev>((resolve) => {
      const found = events.find(pred);
      if (found) resolve(found);
      else waiters.push({ pred, resolve });
    }),
  };
}

/** Write `bytes` to the child's stdin in random chunk sizes (odd ones included), honouring backpressure. */
async function pipeChunks(child: ChildProcess, bytes: Uint8Array, rng: Rng, maxChunk = 30000, pause?: () => Promise<void>): Promise<void> {
  let off = 0;
  while (off < bytes.length && child.exitCode === null && child.signalCode === null) {
    const n = 1 + rng.int(maxChunk);
    const ok = child.stdin!.write(bytes.subarray(off, off + n));
    off += n;
    if (!ok) await drained(child);
    await pause?.();
  }
}

/** The pipe has room again, or the child is gone (no 'drain' will ever come then). */
function drained(child: ChildProcess): Promise<void> {
  return new Promise((resolve) => {
    const done = () => {
      child.stdin!.off('drain', done);
      child.off('exit', done);
      resolve();
    };
    child.stdin!.once('drain', done);
    child.once('exit', done);
  });
}

/** Seeded white noise (RMS `noiseRms`) with clips added at sample offsets, as s16le. */
function mix(seconds: number, clips: { at: number; samples: Float32Array; gain: number }[], rng: Rng, noiseRms = 0.03): Uint8Array {
  const n = Math.round(seconds * RATE);
  const x = new Float32Array(n);
  const a = noiseRms * Math.sqrt(3); // uniform on [-a, a] has RMS a / sqrt(3)
  for (let i = 0; i < n; i++) x[i] = (rng.next() * 2 - 1) * a;
  for (const c of clips) for (let i = 0; i < c.samples.length && c.at + i < n; i++) x[c.at + i] = x[c.at + i]! + c.gain * c.samples[i]!;
  const out = new Int16Array(n);
  for (let i = 0; i < n; i++) out[i] = Math.max(-32768, Math.min(32767, Math.round(x[i]! * 32768)));
  return new Uint8Array(out.buffer);
}

async function status(reader: string, db: string, now: number): Promise<{ head: { seq: number }; entries: Record<string, number> }> {
  const r = await run('reader', 'status', '--reader', reader, '--db', db, at(now), '--json');
  expect(r.code).toBe(0);
  return JSON.parse(r.out) as { head: { seq: number }; entries: Record<string, number> };
}

const verdicts = (ev: Ev[]) => ev.filter((e) => e.event === 'verdict');

describe('offpay reader listen', () => {
  beforeAll(async () => {
    expect(existsSync(CLI), 'run `npm run build` first: this test pipes audio through the built CLI').toBe(true);
    expect((await run('issuer', 'init', '--dir', p('issuer'), '--seed', 'listen', at(0))).code).toBe(0);
    for (const w of ['w1', 'w2']) expect((await run('wallet', 'new', '--issuer', p('issuer'), '--out', p(w), '--seed', `listen-${w}`, at(0))).code).toBe(0);
    expect((await run('reader', 'new', '--issuer', p('issuer'), '--id', '5001', '--profile', 'transit', '--operator', '300', '--out', p('gate'), '--seed', 'listen', at(0))).code).toBe(0);
    expect((await run('reader', 'new', '--issuer', p('issuer'), '--id', '4201', '--operator', '90', '--out', p('vend'), '--seed', 'listen', at(0))).code).toBe(0);
    expect((await run('clearing', 'blocklist', '--issuer', p('issuer'), '--db', p('clearing.db'), '--out', p('list.cbor'), at(0))).code).toBe(0);
  });

  async function newDb(reader: string, name: string): Promise<string> {
    const db = p(name);
    expect((await run('reader', 'init', '--reader', p(reader), '--db', db, '--issuer', p('issuer'), at(0))).code).toBe(0);
    expect((await run('reader', 'load-blocklist', '--reader', p(reader), '--db', db, p('list.cbor'), at(0))).code).toBe(0);
    return db;
  }

  /** Transit tokens (fixed fare 2.00 to operator 300) paid at their offsets in the stream, alternating wallets and profiles. */
  async function fareTokens(offsets: number[], tag: string, room = false): Promise<{ at: number; samples: Float32Array; profile: FskProfileName }[]> {
    const profiles: FskProfileName[] = ['fast', 'robust', 'ultrasonic'];
    const out = [];
    for (const [i, off] of offsets.entries()) {
      const file = p(`${tag}-${i}.cbor`);
      expect((await run('pay', '--wallet', p(i % 2 ? 'w2' : 'w1'), '--payee', '300', '--amount', '2.00', '--currency', 'HKD', '--out', file, at(Math.floor(off / RATE)))).code).toBe(0);
      const profile = profiles[i % 3]!;
      const clean = encode(new Uint8Array(readFileSync(file)), { profile, sampleRate: RATE });
      // room: a phone's clock off by up to 0.5 % and a small room's echo (noise comes from mix()).
      const samples = room ? simulate(clean, RATE, { seed: i + 1, clockOffset: [0.005, -0.004, 0.002][i % 3]!, rt60: 0.3, drrDb: 10, leadIn: 0, tail: 0.2 }).samples : clean;
      out.push({ at: off, samples, profile });
    }
    return out;
  }

  it('hears every token in ~75 s of noise piped in random chunks: each accepted exactly once, a replayed clip refused, JSON lines', async () => {
    const db = await newDb('gate', 'gate.db');
    const rng = makeRng(1401);
    // Six payments at random offsets (7 to 12 s apart), then the first clip replayed after the last one and
    // at least 40 s after it was accepted: past the transit resume window (30 s), so the recording must not
    // open the gate again.
    const offsets: number[] = [];
    let t = 2 + rng.next() * 3;
    for (let i = 0; i < 6; i++) {
      offsets.push(Math.round(t * RATE));
      t += 7 + rng.next() * 5;
    }
    const tokens = await fareTokens(offsets, 'fare', true);
    const lastEnd = tokens.at(-1)!.at + tokens.at(-1)!.samples.length;
    const replayAt = Math.max(lastEnd + Math.round((1 + rng.next() * 3) * RATE), offsets[0]! + 40 * RATE);
    const clips = [...tokens.map((x) => ({ at: x.at, samples: x.samples, gain: 0.4 + rng.next() * 0.6 })), { at: replayAt, samples: tokens[0]!.samples, gain: 0.7 }];
    const seconds = (replayAt + tokens[0]!.samples.length) / RATE + 4;
    const stream = mix(seconds, clips, rng);

    const l = listen(['--reader', p('gate'), '--db', db, '--stdin', '--fare', '2.00', at(0), '--stats', '20']);
    await pipeChunks(l.child, stream, rng);
    l.child.stdin!.end();
    expect(await l.exited, l.stderr()).toBe(0);

    const ev = l.events;
    expect(ev[0]).toMatchObject({ event: 'start', readerId: 5001, profile: 'transit', rate: RATE, format: 's16le', judge: { mode: 'fare', amount: 200, currency: 344 }, clock: 'audio' });
    expect(ev.at(-1)).toMatchObject({ event: 'stop', reason: 'end_of_input', accepted: 6, resumed: 0, refused: 1, frames: 7 });
    const v = verdicts(ev);
    expect(v).toHaveLength(7);
    const accepted = v.filter((e) => e.status === 'accepted');
    expect(accepted.map((e) => e.journalSeq)).toEqual([1, 2, 3, 4, 5, 6]);
    expect(new Set(accepted.map((e) => e.tokenHash)).size).toBe(6);
    expect(accepted.map((e) => e.fsk)).toEqual(tokens.map((x) => x.profile));
    for (const e of accepted) expect(e).toMatchObject({ accepted: true, charged: true, amount: 200, currency: 344, fare: { amount: 200, currency: 344 } });
    // Heard in order, each after its clip started.
    accepted.forEach((e, i) => expect(e.at).toBeGreaterThan(offsets[i]! / RATE));
    const replay = v.find((e) => !e.accepted)!;
    expect(replay).toMatchObject({ status: 'refused', reason: 'already_accepted', code: 50, tokenHash: accepted[0]!.tokenHash });
    expect(replay.at).toBeGreaterThan(replayAt / RATE);
    // Frames carry their diagnostics.
    const frames = ev.filter((e) => e.event === 'frame');
    for (const f of frames) expect(f).toEqual(expect.objectContaining({ snrDb: expect.any(Number), clockOffsetPpm: expect.any(Number), bytesCorrected: expect.any(Number), bytes: expect.any(Number) }));
    // The clock offsets put in by the channel come out in the diagnostics (within 500 ppm).
    frames.slice(0, 6).forEach((f, i) => expect(Math.abs((f.clockOffsetPpm as number) - [5000, -4000, 2000][i % 3]!)).toBeLessThan(500));
    expect(ev.filter((e) => e.event === 'stats').map((e) => e.at)).toEqual(Array.from({ length: Math.floor(seconds / 20) }, (_, i) => 20 * (i + 1)));
    // The database holds the six sales and nothing else.
    const st = await status(p('gate'), db, 200);
    expect(st.head.seq).toBe(6);
    expect(st.entries).toEqual({ accept: 6 });
  }, 240_000);

  it('vending: opens the request at start, the wallet pays it over sound; a replay RESUMES while pending and is REFUSED later', async () => {
    const db = await newDb('vend', 'vend.db');
    const rng = makeRng(77);
    const l = listen(['--reader', p('vend'), '--db', db, '--stdin', '--amount', '3.50', '--request-out', p('req.cbor'), at(0)]);
    const req = await l.waitFor((e) => e.event === 'request');
    expect(req).toMatchObject({ amount: 350, currency: 344, out: p('req.cbor') });
    expect((await run('pay', '--wallet', p('w1'), '--request', p('req.cbor'), '--issuer', p('issuer'), '--out', p('vt.cbor'), at(1))).code).toBe(0);
    const clip = encode(new Uint8Array(readFileSync(p('vt.cbor'))), { profile: 'fast', sampleRate: RATE });
    // Heard at ~2 s, again at ~12 s (a re-read within the 60 s resume window), and at ~80 s (a recording).
    const stream = mix(85, [2, 12, 80].map((s) => ({ at: s * RATE, samples: clip, gain: 1 })), rng);
    await pipeChunks(l.child, stream, rng);
    l.child.stdin!.end();
    expect(await l.exited, l.stderr()).toBe(0);
    const v = verdicts(l.events);
    expect(v.map((e) => e.status)).toEqual(['accepted', 'resumed', 'refused']);
    expect(v[0]).toMatchObject({ charged: true, amount: 350, journalSeq: 1, request: { challenge: req.challenge, amount: 350, currency: 344 } });
    expect(v[1]).toMatchObject({ charged: false, journalSeq: 1 });
    expect(v[2]).toMatchObject({ reason: 'already_accepted', code: 50 });
    expect((await status(p('vend'), db, 100)).entries).toEqual({ accept: 1 });
  }, 240_000);

  it('a blocklist and a key set another process stores while listening take effect at the next token heard', async () => {
    // Its own issuer: this test rotates the issuer key.
    const iss = p('rot-issuer');
    expect((await run('issuer', 'init', '--dir', iss, '--seed', 'listen-rot', at(0))).code).toBe(0);
    for (const w of ['r1', 'r2']) expect((await run('wallet', 'new', '--issuer', iss, '--out', p(w), '--seed', `listen-${w}`, at(0))).code).toBe(0);
    expect((await run('reader', 'new', '--issuer', iss, '--id', '5002', '--profile', 'transit', '--operator', '300', '--out', p('rgate'), '--seed', 'listen-rot', at(0))).code).toBe(0);
    const db = p('rgate.db');
    expect((await run('reader', 'init', '--reader', p('rgate'), '--db', db, '--issuer', iss, at(0))).code).toBe(0);
    expect((await run('clearing', 'blocklist', '--issuer', iss, '--db', p('rclearing.db'), '--out', p('rlist1.cbor'), at(0))).code).toBe(0);
    expect((await run('reader', 'load-blocklist', '--reader', p('rgate'), '--db', db, p('rlist1.cbor'), at(0))).code).toBe(0);
    const rng = makeRng(91);
    const l = listen(['--reader', p('rgate'), '--db', db, '--stdin', '--fare', '2.00', at(0)]);
    await l.waitFor((e) => e.event === 'start');
    // Another process: a blocklist that blocks r1 (reader load-blocklist, as a cron or reader sync would).
    const { loadWallet } = await import('../../src/node/files.js');
    const { walletIdOf } = await import('../../src/messages.js');
    const { toHex } = await import('../../base/hex.js');
    const r1 = toHex(walletIdOf(loadWallet(p('r1')).cert.walletPublicKey));
    expect((await run('clearing', 'blocklist', '--issuer', iss, '--db', p('rclearing.db'), '--out', p('rlist2.cbor'), '--block', r1, at(1))).code).toBe(0);
    expect((await run('reader', 'load-blocklist', '--reader', p('rgate'), '--db', db, p('rlist2.cbor'), at(1))).code).toBe(0);
    const clipOf = async (wallet: string, name: string, t: number) => {
      expect((await run('pay', '--wallet', p(wallet), '--payee', '300', '--amount', '2.00', '--currency', 'HKD', '--out', p(name), at(t))).code).toBe(0);
      return encode(new Uint8Array(readFileSync(p(name))), { profile: 'fast', sampleRate: RATE });
    };
    await pipeChunks(l.child, mix(6, [{ at: 1 * RATE, samples: await clipOf('r1', 'rt1.cbor', 3), gain: 1 }], rng), rng);
    expect(await l.waitFor((e) => e.event === 'verdict')).toMatchObject({ status: 'refused', reason: 'blocklisted' });
    // The issuer retires key 1 (every certificate so far) and the database takes the new key set.
    expect((await run('issuer', 'rotate', '--dir', iss, '--seed', 'listen-rot-2', '--retire-old-in', '0', at(4))).code).toBe(0);
    expect((await run('reader', 'status', '--reader', p('rgate'), '--db', db, '--issuer', iss, at(5))).code).not.toBe(2);
    await pipeChunks(l.child, mix(6, [{ at: 1 * RATE, samples: await clipOf('r2', 'rt2.cbor', 9), gain: 1 }], rng), rng);
    l.child.stdin!.end();
    expect(await l.exited, l.stderr()).toBe(0);
    const v = verdicts(l.events);
    expect(v.map((e) => [e.status, e.reason])).toEqual([['refused', 'blocklisted'], ['refused', 'issuer_key_not_valid']]);
  }, 120_000);

  it('SIGTERM in the middle: exit 0, and the database holds exactly the verdicts printed', async () => {
    const db = await newDb('gate', 'gate-term.db');
    const rng = makeRng(9);
    const offsets = [1, 6, 11, 16, 21, 26, 31, 36].map((s) => s * RATE);
    const tokens = await fareTokens(offsets, 'term');
    const stream = mix(40, tokens.map((x) => ({ at: x.at, samples: x.samples, gain: 0.8 })), rng);
    const l = listen(['--reader', p('gate'), '--db', db, '--stdin', '--fare', '2.00', at(0)]);
    // Fed slowly (small chunks, a pause now and then) so that the signal lands mid-stream.
    const feeding = pipeChunks(l.child, stream, rng, 8000, () => (rng.int(4) === 0 ? new Promise((r) => setTimeout(r, 5)) : Promise.resolve()));
    await l.waitFor((e) => e.event === 'verdict' && e.journalSeq === 3);
    l.child.kill('SIGTERM');
    expect(await l.exited, l.stderr()).toBe(0);
    await feeding;
    const ev = l.events;
    expect(ev.at(-1)).toMatchObject({ event: 'stop', reason: 'SIGTERM' });
    const v = verdicts(ev);
    expect(v.length).toBeGreaterThanOrEqual(3);
    expect(v.length).toBeLessThan(8); // it did stop in the middle
    expect(v.every((e) => e.status === 'accepted')).toBe(true);
    const st = await status(p('gate'), db, 100);
    expect(st.head.seq).toBe(v.length);
    expect(v.map((e) => e.journalSeq)).toEqual(Array.from({ length: v.length }, (_, i) => i + 1));
  }, 240_000);

  it('garbage on stdin (s16le and f32le, odd byte counts, NaN and infinities) exits 0 with no verdict', async () => {
    const db = await newDb('gate', 'gate-garbage.db');
    const rng = makeRng(3);
    for (const format of ['s16le', 'f32le']) {
      const junk = rng.bytes(1_000_001);
      const l = listen(['--reader', p('gate'), '--db', db, '--stdin', '--format', format, '--fare', '2.00', at(0)]);
      await pipeChunks(l.child, junk, rng, 4099);
      l.child.stdin!.end();
      expect(await l.exited, l.stderr()).toBe(0);
      expect(verdicts(l.events)).toEqual([]);
      expect(l.events.at(-1)).toMatchObject({ event: 'stop', reason: 'end_of_input', accepted: 0, refused: 0 });
    }
    expect((await status(p('gate'), db, 10)).head.seq).toBe(0);
  }, 120_000);

  it('bad options are typed errors or usage errors (exit 2); --device without arecord says to install alsa-utils', async () => {
    const db = await newDb('gate', 'gate-usage.db');
    const base = ['reader', 'listen', '--reader', p('gate'), '--db', db, at(0)];
    const bad = async (args: string[], code: string | RegExp) => {
      const r = await run(...base, ...args);
      expect(r.code, r.err).toBe(2);
      expect(r.err).toMatch(code);
    };
    await bad(['--stdin', '--fare', '2.00', '--format', 's24le'], /pcm\.bad_format/);
    await bad(['--stdin', '--fare', '2.00', '--rate', '4000'], /fsk\.bad_rate/);
    await bad(['--stdin', '--fare', '2.00', '--rate', '48k'], /fsk\.bad_rate/);
    await bad(['--stdin', '--fare', '2.00', '--channels', '0'], /pcm\.bad_channels/);
    await bad(['--fare', '2.00'], /exactly one of --stdin/);
    await bad(['--stdin', '--device', 'default', '--fare', '2.00'], /exactly one of --stdin/);
    await bad(['--stdin'], /--fare AMOUNT .* --tap-in/);
    await bad(['--stdin', '--fare', '2.00', '--tap-in', '5.00'], /exactly one of --fare/);
    await bad(['--stdin', '--amount', '2.00'], /not --amount/);
    for (const level of ['5', '0.5', '-121', '-35.25', 'abc', '-', '1e1', '']) await bad(['--stdin', '--fare', '2.00', `--min-level=${level}`], /listen\.bad_level/);
    const v = await run('reader', 'listen', '--reader', p('vend'), '--db', p('vend.db'), '--stdin', '--fare', '2.00', at(0));
    expect(v.code).toBe(2);
    expect((await run('reader', 'listen', '--reader', p('gate'), '--db', p('missing.db'), '--stdin', '--fare', '2.00', at(0))).err).toMatch(/reader\.store_missing/);
    // arecord is looked up on PATH; with none, the message says what to install.
    if (process.platform === 'linux') {
      const l = listen(['--reader', p('gate'), '--db', db, '--device', 'default', '--fare', '2.00', at(0)], { ...process.env, PATH: '' });
      l.child.stdin!.end();
      expect(await l.exited).toBe(2);
      expect(l.stderr()).toMatch(/listen\.no_arecord/);
      expect(l.stderr()).toMatch(/alsa-utils/);
      expect(l.events.at(-1)).toMatchObject({ event: 'error', error: 'listen.no_arecord' });
    }
    const help = await run('reader', 'listen', '--help');
    expect(help.code).toBe(0);
    for (const k of ['journalSeq', 'tokenHash', 'clockOffsetPpm', 'bytesCorrected', 'rssBytes', 'end_of_input']) expect(help.out).toContain(k);
  }, 120_000);

  it('two gates a metre apart: with --min-level the next gate ignores the phone it overhears, and clearing does not block the rider (spec/reader.md §7.3 point 3)', async () => {
    // One rider taps in at gate A, her phone 10 cm from A's microphone. Gate B's microphone, a metre away, hears
    // the same sound 20 dB quieter (6 dB per doubling of the distance). Both gates are in a quiet station
    // (noise at -50 dBFS) and both decode it. The threshold sits between the two levels.
    expect((await run('reader', 'new', '--issuer', p('issuer'), '--id', '5002', '--profile', 'transit', '--operator', '300', '--out', p('gate2'), '--seed', 'listen-2', at(0))).code).toBe(0);
    const [dbA, dbB, dbB0] = [await newDb('gate', 'near-a.db'), await newDb('gate2', 'near-b.db'), await newDb('gate2', 'near-b0.db')];
    expect((await run('pay', '--wallet', p('w1'), '--payee', '300', '--amount', '12.00', '--currency', 'HKD', '--out', p('tapin.cbor'), at(1000))).code).toBe(0);
    const clip = encode(new Uint8Array(readFileSync(p('tapin.cbor'))), { profile: 'fast', sampleRate: RATE });
    const heard = (gain: number, seed: number) => mix(4 + clip.length / RATE, [{ at: RATE, samples: clip, gain }], makeRng(seed), 0.003);
    const gate = async (reader: string, db: string, audio: Uint8Array, extra: string[]) => {
      const l = listen(['--reader', p(reader), '--db', db, '--stdin', '--tap-in', '12.00', at(1000), ...extra]);
      await pipeChunks(l.child, audio, makeRng(7));
      l.child.stdin!.end();
      expect(await l.exited, l.stderr()).toBe(0);
      return l.events;
    };
    const a = await gate('gate', dbA, heard(0.5, 1), ['--min-level', '-33']);
    const b = await gate('gate2', dbB, heard(0.05, 2), ['--min-level=-33']);
    const b0 = await gate('gate2', dbB0, heard(0.05, 2), []); // the same sound at a gate without the threshold

    expect(a[0]).toMatchObject({ event: 'start', minLevelDbfs: -33 });
    // The plain output of a tap-in gate says at start whether it takes tokens at any level.
    const plainRuns: [string[], boolean][] = [[[], true], [['--min-level', '-33'], false]];
    for (const [extra, warned] of plainRuns) {
      const plain = spawn(process.execPath, [CLI, 'reader', 'listen', '--reader', p('gate2'), '--db', dbB0, '--stdin', '--tap-in', '12.00', at(1000), ...extra], { stdio: ['pipe', 'pipe', 'pipe'] });
      let out = '';
      plain.stdout.setEncoding('utf8').on('data', (x: string) => (out += x));
      plain.stdin.end();
      expect(await new Promise((res) => plain.on('close', res))).toBe(0);
      expect(out.includes('(tap-ins are taken at any level'), out).toBe(warned);
      expect(out).toContain(warned ? 'tokens heard at any level' : 'tokens heard at -33 dBFS or louder');
    }
    expect(b0[0]).toMatchObject({ event: 'start', minLevelDbfs: null });
    const level = (ev: Ev[]) => ev.find((e) => e.event === 'frame')!.levelDbfs as number;
    // Both gates decoded the frame; the levels are 20 dB apart, on either side of the threshold.
    expect(level(a)).toBeGreaterThan(-33);
    expect(level(b)).toBeLessThan(-33);
    expect(Math.abs(level(a) - level(b) - 20)).toBeLessThan(1);
    expect(verdicts(a)).toEqual([expect.objectContaining({ status: 'accepted', tapIn: { maxFare: 1200, currency: 344 } })]);
    const tokenHash = verdicts(a)[0]!.tokenHash;
    expect(verdicts(b)).toEqual([]);
    expect(b.filter((e) => e.event === 'ignored')).toEqual([
      { event: 'ignored', at: expect.any(Number), fsk: 'fast', reason: 'too_quiet', levelDbfs: level(b), minLevelDbfs: -33, tokenHash },
    ]);
    expect(b.at(-1)).toMatchObject({ event: 'stop', messages: 1, ignored: 1, accepted: 0, refused: 0 });
    expect(verdicts(b0)).toEqual([expect.objectContaining({ status: 'accepted', tokenHash })]); // the threat: a second tap-in
    expect((await status(p('gate2'), dbB, 1100)).head.seq).toBe(0); // nothing recorded at the gate that ignored it
    expect((await status(p('gate2'), dbB0, 1100)).entries).toEqual({ tap_in: 1 });

    // Clearing: gate A with gate B, then gate A with the gate without the threshold.
    for (const [r, db] of [['gate', dbA], ['gate2', dbB], ['gate2', dbB0]] as const) {
      expect((await run('reader', 'export', '--reader', p(r), '--db', db, '--out', `${db}.batch`, at(1200))).code).toBe(0);
    }
    const clear = async (name: string, batches: string[]) => {
      expect((await run('clearing', 'ingest', '--issuer', p('issuer'), '--db', p(name), ...batches)).code).toBe(0);
      const rep = JSON.parse((await run('clearing', 'report', '--db', p(name), '--json')).out) as { doubleSpends: { kind: string }[]; openTrips: unknown[] };
      const bl = JSON.parse((await run('clearing', 'blocklist', '--issuer', p('issuer'), '--db', p(name), '--out', p(`${name}.list`), at(1300), '--json')).out) as { entries: number };
      return { kinds: rep.doubleSpends.map((x) => x.kind), openTrips: rep.openTrips.length, blocked: bl.entries };
    };
    expect(await clear('near-1.db', [`${dbA}.batch`, `${dbB}.batch`])).toEqual({ kinds: [], openTrips: 1, blocked: 0 });
    // Without the threshold the next gate took a second tap-in (and opened for whoever stood there): the one-way rule
    // of clearing (spec/clearing.md §4 step 10) blocks nobody for it, the token never having left by two gates.
    expect(await clear('near-2.db', [`${dbA}.batch`, `${dbB0}.batch`])).toEqual({ kinds: [], openTrips: 1, blocked: 0 });
  }, 120_000);

  it('memory stays flat over 30 minutes of noise generated on the fly (RSS from the --stats lines)', async () => {
    const db = await newDb('gate', 'gate-soak.db');
    const rng = makeRng(30);
    const l = listen(['--reader', p('gate'), '--db', db, '--stdin', '--fare', '2.00', at(0), '--stats', '60']);
    const block = new Int16Array(RATE);
    for (let s = 0; s < 30 * 60; s++) {
      for (let i = 0; i < block.length; i++) block[i] = Math.round((rng.next() * 2 - 1) * 3000);
      if (!l.child.stdin!.write(new Uint8Array(block.buffer.slice(0)))) await new Promise((r) => l.child.stdin!.once('drain', r));
    }
    l.child.stdin!.end();
    expect(await l.exited, l.stderr()).toBe(0);
    const stats = l.events.filter((e) => e.event === 'stats') as (Ev & { rssBytes: number; heapUsedBytes: number })[];
    expect(stats).toHaveLength(30);
    const mib = (b: number) => b / 2 ** 20;
    const after5 = stats[4]!;
    const rest = stats.slice(5);
    // Generous bounds (the garbage collector runs when it likes), no timing: no growth with the length of the stream.
    expect(mib(Math.max(...rest.map((x) => x.rssBytes)) - after5.rssBytes)).toBeLessThan(48);
    expect(mib(Math.max(...stats.map((x) => x.rssBytes)))).toBeLessThan(400);
    expect(mib(Math.max(...rest.map((x) => x.heapUsedBytes)))).toBeLessThan(64);
    expect(l.events.at(-1)).toMatchObject({ event: 'stop', reason: 'end_of_input', frames: 0, accepted: 0 });
  }, 600_000);

  it('--device runs arecord (a stand-in on PATH here) with the documented arguments and judges what it captures; a failing arecord exits 2', async () => {
    const db = await newDb('gate', 'gate-device.db');
    const rng = makeRng(5);
    const [tok] = await fareTokens([RATE], 'dev');
    writeFileSync(p('capture.raw'), mix(4, [{ at: tok!.at, samples: tok!.samples, gain: 0.8 }], rng));
    const bin = p('bin');
    mkdirSync(bin);
    writeFileSync(join(bin, 'arecord'), `#!/bin/sh\necho "$@" > ${JSON.stringify(p('arecord-args'))}\nif [ "$2" = broken ]; then echo "arecord: main:831: audio open error: No such file or directory" >&2; exit 1; fi\ncat ${JSON.stringify(p('capture.raw'))}\n`);
    chmodSync(join(bin, 'arecord'), 0o755);
    const env = { ...process.env, PATH: `${bin}:${process.env.PATH}` };
    const ok = listen(['--reader', p('gate'), '--db', db, '--device', 'plughw:1,0', '--fare', '2.00', at(0)], env);
    expect(await ok.exited, ok.stderr()).toBe(0);
    expect(readFileSync(p('arecord-args'), 'utf8').trim()).toBe('-D plughw:1,0 -f S16_LE -r 48000 -c 1 -t raw -q');
    expect(verdicts(ok.events).map((e) => e.status)).toEqual(['accepted']);
    const bad = listen(['--reader', p('gate'), '--db', db, '--device', 'broken', '--fare', '2.00', at(0)], env);
    expect(await bad.exited).toBe(2);
    expect(bad.stderr()).toMatch(/listen\.device_failed.*|audio open error/);
    expect(bad.events.at(-1)).toMatchObject({ event: 'error', error: 'listen.device_failed' });
    expect(String(bad.events.at(-1)!.message)).toContain('audio open error');
  }, 120_000);

  it('spec/reader.md §17 lists every JSON key printed above and every error code the listen process raises', () => {
    const spec = readFileSync(join(ROOT, 'spec/reader.md'), 'utf8');
    const sec = spec.slice(spec.indexOf('## 17.'));
    expect(seenKeys.size).toBeGreaterThan(40);
    const table = sec.slice(sec.indexOf('### 17.4'), sec.indexOf('### 17.5'));
    expect([...seenKeys].map((k) => k.split('.').at(-1)!).filter((k) => !table.includes(`\`${k}\``))).toEqual([]);
    const codes = new Set<string>();
    for (const f of ['src/cli/commands/listen.ts', 'src/cli/listen/session.ts', 'src/cli/listen/events.ts', 'src/node/audio-source.ts', 'codecs/fsk/pcm.ts']) {
      for (const m of readFileSync(join(ROOT, f), 'utf8').matchAll(/OffpayError\('([a-z_]+\.[a-z_]+)'/g)) codes.add(m[1]!);
    }
    expect(codes.size).toBeGreaterThan(6);
    expect([...codes].filter((c) => !sec.includes(`\`${c}\``))).toEqual([]);
  });
});
