/**
 * What a chirp flood costs a listening receiver (spec/reader.md §17.3 point 5; spec/fsk.md §7.2 step 4, the
 * decode budget): a phone at a gate playing up- and down-chirps of both chirp families every 45 ms, more chirps
 * than frames can explain. Each candidate pair would be refined and demodulated; the budget bounds that work to
 * DECODE_BURST_MICROS of frame at once and DECODE_MICROS_PER_SECOND a second of audio, per family.
 *
 * For each sample rate: SECONDS of flood pushed through one FskReceiver (every profile listening) in 4096-sample
 * blocks, CPU time (process.cpuUsage, user + system) read every 10 s of audio; then 2 s of silence and one honest
 * message (`fast` profile, 32 bytes), which must decode: the flood must not have left the receiver unable to hear.
 * Printed per rate: CPU seconds over the first 10 s (the burst), the CPU share of one core after it (steady
 * state), the `fsk.busy` failures, and whether the message after the flood decoded.
 *
 * Results: bench/results/fsk-flood.md and fsk-flood.json.
 * Run: npm run build && node dist/bench/fsk-flood.bench.js [--seconds 60] [--rates 48000,192000] [--quick]
 */
import { encode, FskReceiver, type ReceiverEvent } from '../codecs/fsk/index.js';
import { DECODE_BURST_MICROS, DECODE_MICROS_PER_SECOND } from '../codecs/fsk/detector.js';
import { addChirp } from '../codecs/fsk/modulate.js';
import { getProfile } from '../codecs/fsk/profiles.js';
import { equalBytes } from '../base/bytes.js';
import { machine, writeResults } from './common.js';

const args = process.argv.slice(2);
const quick = args.includes('--quick');
const argOf = (name: string, def: string): string => {
  const i = args.indexOf(name);
  return i >= 0 && args[i + 1] !== undefined ? args[i + 1]! : def;
};
const SECONDS = Number(argOf('--seconds', quick ? '30' : '60'));
const RATES = argOf('--rates', '48000,192000').split(',').map(Number);
const STEP = 0.045; // seconds between chirps, each family
const WINDOW = 10; // seconds of audio between CPU readings
const BLOCK = 4096;
const FAMILIES = ['fast', 'ultrasonic'] as const; // one profile of each chirp family (audible, ultrasonic)

interface Row {
  sampleRate: number;
  floodSeconds: number;
  /** CPU seconds spent on each WINDOW seconds of flood audio, in order. */
  windowCpuSeconds: number[];
  burstCpuSeconds: number;
  steadyCpuShare: number;
  busyFailures: number;
  otherFailures: number;
  messageAfterFlood: boolean;
  /** CPU seconds for the silence and the message after the flood. */
  afterCpuSeconds: number;
}

const cpu = (): number => {
  const u = process.cpuUsage();
  return (u.user + u.system) / 1e6;
};

function floodAt(rate: number): Row {
  const x = new Float32Array(SECONDS * rate);
  for (const name of FAMILIES) {
    const p = getProfile(name)!;
    for (let t = 0.05, k = 0; t < SECONDS - 0.1; t += STEP, k++) addChirp(x, rate, p, t, k % 2 === 0, 0.3);
  }
  const payload = new Uint8Array(32).map((_, i) => (i * 37 + 11) & 0xff);
  const msg = encode(payload, { profile: 'fast', sampleRate: rate });
  const after = new Float32Array(2 * rate + msg.length + rate);
  after.set(msg, 2 * rate);

  const rx = new FskReceiver({ sampleRate: rate });
  const events: ReceiverEvent[] = [];
  const windows: number[] = [];
  let w0 = cpu();
  const perWindow = WINDOW * rate;
  for (let i = 0; i < x.length; i += BLOCK) {
    events.push(...rx.push(x.subarray(i, Math.min(x.length, i + BLOCK))));
    if (Math.floor((i + BLOCK) / perWindow) > Math.floor(i / perWindow) || i + BLOCK >= x.length) {
      const now = cpu();
      windows.push(now - w0);
      w0 = now;
    }
  }
  const a0 = cpu();
  const tail: ReceiverEvent[] = [];
  for (let i = 0; i < after.length; i += BLOCK) tail.push(...rx.push(after.subarray(i, Math.min(after.length, i + BLOCK))));
  tail.push(...rx.flush());
  const afterCpu = cpu() - a0;
  const all = [...events, ...tail];
  const failures = all.filter((e): e is Extract<ReceiverEvent, { type: 'failure' }> => e.type === 'failure');
  const busy = failures.filter((e) => e.code === 'fsk.busy').length;
  const decoded = tail.some((e) => e.type === 'message' && equalBytes(e.payload, payload));
  const steady = windows.slice(1);
  const steadyAudio = SECONDS - WINDOW;
  return {
    sampleRate: rate,
    floodSeconds: SECONDS,
    windowCpuSeconds: windows.map((s) => Math.round(s * 1000) / 1000),
    burstCpuSeconds: Math.round(windows[0]! * 1000) / 1000,
    steadyCpuShare: steadyAudio > 0 ? steady.reduce((a, b) => a + b, 0) / steadyAudio : NaN,
    busyFailures: busy,
    otherFailures: failures.length - busy,
    messageAfterFlood: decoded,
    afterCpuSeconds: Math.round(afterCpu * 1000) / 1000,
  };
}

const rows: Row[] = [];
for (const rate of RATES) {
  const r = floodAt(rate);
  rows.push(r);
  process.stdout.write(
    `${rate} Hz, ${SECONDS} s of flood: ${r.burstCpuSeconds} CPU s over the first ${WINDOW} s, then ${(r.steadyCpuShare * 100).toFixed(1)} % of a core; ` +
      `${r.busyFailures} fsk.busy, ${r.otherFailures} other failures; the message after the flood ${r.messageAfterFlood ? 'decoded' : 'was LOST'} (${r.afterCpuSeconds} CPU s)\n`,
  );
}
const m = machine();
const md = [
  '# FSK receiver under a chirp flood',
  '',
  `Machine: ${m.cpu}, ${m.cores} cores, Node ${m.node}; load average at start ${m.loadAverage1m} (a shared machine). ${m.date}.`,
  `Command: \`node dist/bench/fsk-flood.bench.js ${args.join(' ')}\`.`,
  '',
  `Up- and down-chirps of both chirp families (profiles ${FAMILIES.join(' and ')}) every ${STEP * 1000} ms, amplitude 0.3, for ${SECONDS} s,`,
  `pushed through one \`FskReceiver\` (every profile listening) in ${BLOCK}-sample blocks; CPU (user + system) read every ${WINDOW} s of`,
  `audio. The decode budget (spec/fsk.md §7.2 step 4): ${DECODE_BURST_MICROS / 1e6} s of frame at once and ${DECODE_MICROS_PER_SECOND / 1e6} s a second of audio, per family.`,
  'Then 2 s of silence and one 32-byte `fast` message, which must decode (spec/reader.md §17.3 point 5).',
  '',
  `| sample rate | CPU s, first ${WINDOW} s (burst) | CPU share after it | CPU s per ${WINDOW} s window | fsk.busy | other failures | message after the flood |`,
  '|---|---|---|---|---|---|---|',
  ...rows.map(
    (r) =>
      `| ${r.sampleRate} Hz | ${r.burstCpuSeconds} | ${(r.steadyCpuShare * 100).toFixed(1)} % | ${r.windowCpuSeconds.join(', ')} | ${r.busyFailures} | ${r.otherFailures} | ${r.messageAfterFlood ? 'decoded' : 'lost'} |`,
  ),
  '',
  'Before the budget (spec/reader.md §17.3 point 5), 10 s of such sound cost 290 CPU seconds at 48 kHz.',
  '',
].join('\n');
writeResults('fsk-flood', md, { machine: m, args, rows });
if (rows.some((r) => !r.messageAfterFlood)) process.exitCode = 1;
