/**
 * Frame layout (spec/fsk.md §4-5): header, CRC-32, Reed-Solomon blocks, slot placement.
 *
 * Data stream D (length = capacity): header (3 bytes) || payload (L) || CRC-32 big-endian over
 * header||payload (4) || zero padding.
 *   header[0] = version << 4 | profile id
 *   header[1..2] = big-endian u16: segment index (3 bits) << 13 | (segment count - 1) (3 bits) << 10 | L (10 bits)
 *
 * A frame of R rows has S = R*G byte slots. It carries nb Reed-Solomon codewords of total length N, split
 * into nb nearly equal blocks; D is cut into the blocks' data parts in order; the codewords are interleaved
 * byte by byte into slots 0..N-1 and slots N..S-1 carry 0x00. Slot j sits in group j mod G, row j div G; row
 * r spans symbols r*spb .. r*spb+spb-1 (spb = symbols per byte), most significant bits first.
 */
import { crc32 } from '../../base/crc32.js';
import { rsEncode } from './rs.js';
import { FRAME_VERSION, referenceSymbols, symbolPeriod, symbolsPerByte, type FskProfile } from './profiles.js';

/** Frame header length, bytes: version/profile, then segment index, count and payload length (spec/fsk.md §4). */
export const HEADER_BYTES = 3;
/** CRC-32 length after header and payload, bytes (big-endian; spec/fsk.md §4). */
export const CRC_BYTES = 4;
/** Largest payload of one frame, bytes (10-bit length field, capped; spec/fsk.md §4). */
export const MAX_FRAME_PAYLOAD = 512;
/** Most frames (segments) one message may be split into (3-bit field; spec/fsk.md §8). */
export const MAX_SEGMENTS = 8;
/** Largest message {@link encode} sends: MAX_FRAME_PAYLOAD x MAX_SEGMENTS = 4096 bytes. */
export const MAX_MESSAGE = MAX_FRAME_PAYLOAD * MAX_SEGMENTS;
export const MAX_CODEWORD = 255;

export interface BlockLayout {
  rows: number;
  slots: number;
  /** Total codeword bytes (<= slots). */
  codewordBytes: number;
  /** Codeword lengths, block 0 first. */
  blockLengths: number[];
  /** Data bytes available (sum of block lengths minus parity). */
  capacity: number;
}

/**
 * Layout of a frame with `rows` rows (a pure function of profile and rows), or null when `rows` has no
 * layout: S = rows * G <= P leaves no codeword that could carry a data byte (nb would be 0 and the block
 * lengths floor(N / nb) undefined), so such a row count is never sent and never tried (spec/fsk.md §5).
 */
export function layoutForRows(p: FskProfile, rows: number): BlockLayout | null {
  if (!Number.isInteger(rows) || rows < 1) return null;
  const slots = rows * p.groups;
  if (slots <= p.parity) return null;
  let nb = Math.ceil(slots / MAX_CODEWORD);
  // A last block that could carry no data byte is dropped; its slots become padding.
  if (slots - MAX_CODEWORD * (nb - 1) <= p.parity) nb -= 1;
  const codewordBytes = Math.min(slots, nb * MAX_CODEWORD);
  const base = Math.floor(codewordBytes / nb);
  const extra = codewordBytes % nb;
  const blockLengths = Array.from({ length: nb }, (_, i) => base + (i < extra ? 1 : 0));
  if (blockLengths.some((n) => n <= p.parity)) return null;
  return { rows, slots, codewordBytes, blockLengths, capacity: codewordBytes - nb * p.parity };
}

/** The number of rows a transmitter uses for a payload of L bytes: the smallest R whose capacity fits. */
export function rowsForPayload(p: FskProfile, length: number): number {
  const need = HEADER_BYTES + length + CRC_BYTES;
  let rows = Math.max(1, Math.ceil((need + p.parity) / p.groups));
  for (;;) {
    const lay = layoutForRows(p, rows);
    if (lay && lay.capacity >= need) return rows;
    rows++;
  }
}

export function maxRows(p: FskProfile): number {
  return rowsForPayload(p, MAX_FRAME_PAYLOAD);
}

export function minRows(p: FskProfile): number {
  return rowsForPayload(p, 0);
}

export function symbolCount(p: FskProfile, rows: number): number {
  return rows * symbolsPerByte(p);
}

/** Time from preamble start to the first data symbol (after any reference symbols), seconds. */
export function dataStart(p: FskProfile): number {
  return p.chirpDuration + p.gap + referenceSymbols(p) * symbolPeriod(p);
}

/** Time from preamble start to postamble start, seconds. */
export function postambleStart(p: FskProfile, rows: number): number {
  return p.chirpDuration + 2 * p.gap + (referenceSymbols(p) + symbolCount(p, rows)) * symbolPeriod(p);
}

/** Total air time of one frame with `rows` rows, seconds. */
export function frameDuration(p: FskProfile, rows: number): number {
  return postambleStart(p, rows) + p.chirpDuration;
}

/**
 * Exact sample counts (spec/fsk.md §6.1). Every profile time is a whole number of microseconds, so the
 * frame length in microseconds is an integer and the sample counts are computed in integer arithmetic
 * (exact in doubles: T_us * fs < 2^53 for every frame at every rate up to 192 kHz), with no floating-point
 * rounding a port would have to reproduce.
 */
export const MICROS = 1_000_000;
/** Silence between consecutive segment frames of one message, microseconds (0.050 s). */
export const SEGMENT_GAP_US = 50_000;

/** A profile time in whole microseconds (every time in the profile table is one; a test checks it). */
export function micros(seconds: number): number {
  return Math.round(seconds * MICROS);
}

/** ceil(a / b) for non-negative integers a and b > 0, exact for a < 2^53. */
function ceilDiv(a: number, b: number): number {
  return Math.floor((a + b - 1) / b);
}

/** T_frame(R) in microseconds: 2 Tc + 2 Tgap + (N_ref + R * spb) * Ts (N_ref = 0 except turbo, §14). */
export function frameMicros(p: FskProfile, rows: number): number {
  return 2 * micros(p.chirpDuration) + 2 * micros(p.gap) + (referenceSymbols(p) + symbolCount(p, rows)) * symbolMicros(p);
}

/**
 * N_frame(R, fs) = ceil(T_frame(R) * fs): the number of samples of one frame at an integer rate fs. Sample n
 * (0 <= n < N_frame) is x(n / fs); the last sample that can be non-zero is the last one before T_frame.
 */
export function frameSamples(p: FskProfile, rows: number, rate: number): number {
  return ceilDiv(frameMicros(p, rows) * rate, MICROS);
}

/**
 * The first sample at or after time `us` (whole microseconds from the frame's start) at rate fs:
 * ceil(us * fs / 10^6) in integers (spec/fsk.md §6.1). A symbol or burst occupying [a, b) is the samples
 * firstSampleAt(a) .. firstSampleAt(b) - 1, so consecutive symbols [a, b) and [b, c) share no sample and leave
 * none out (a floating-point ceil(a * fs) can do both: 0.075 * 48000 = 3600.0000000000005).
 */
export function firstSampleAt(us: number, rate: number): number {
  return ceilDiv(us * rate, MICROS);
}

/** The symbol period Ts = Tg_s + Tw in microseconds. */
export function symbolMicros(p: FskProfile): number {
  return micros(p.guard) + micros(p.window);
}

/** Start of the first data symbol (after any reference symbols) from the preamble's start, microseconds. */
export function dataStartMicros(p: FskProfile): number {
  return micros(p.chirpDuration) + micros(p.gap) + referenceSymbols(p) * symbolMicros(p);
}

/** N_gap(fs) = ceil(0.050 * fs): samples of silence between consecutive segment frames. */
export function segmentGapSamples(rate: number): number {
  return ceilDiv(SEGMENT_GAP_US * rate, MICROS);
}

/** Air time of one frame carrying `length` payload bytes. */
export function airTime(p: FskProfile, length: number): number {
  return frameDuration(p, rowsForPayload(p, length));
}

export interface Segment {
  index: number;
  count: number;
}

export function encodeHeader(p: FskProfile, length: number, seg: Segment): Uint8Array {
  const v = ((seg.index & 7) << 13) | (((seg.count - 1) & 7) << 10) | (length & 0x3ff);
  return new Uint8Array([(FRAME_VERSION << 4) | p.id, v >> 8, v & 0xff]);
}

export interface FrameBytes {
  layout: BlockLayout;
  /** Byte per slot, length layout.slots. */
  slots: Uint8Array;
}

/** Build the slot bytes of a frame (header, CRC, RS, interleave, padding). */
export function buildFrame(p: FskProfile, payload: Uint8Array, seg: Segment = { index: 0, count: 1 }): FrameBytes {
  const rows = rowsForPayload(p, payload.length);
  const layout = layoutForRows(p, rows)!;
  const data = new Uint8Array(layout.capacity);
  const header = encodeHeader(p, payload.length, seg);
  data.set(header, 0);
  data.set(payload, HEADER_BYTES);
  const crc = crc32(data.subarray(0, HEADER_BYTES + payload.length));
  const c = HEADER_BYTES + payload.length;
  data[c] = crc >>> 24;
  data[c + 1] = (crc >>> 16) & 0xff;
  data[c + 2] = (crc >>> 8) & 0xff;
  data[c + 3] = crc & 0xff;
  const blocks: Uint8Array[] = [];
  let off = 0;
  for (const n of layout.blockLengths) {
    const k = n - p.parity;
    const d = data.subarray(off, off + k);
    off += k;
    const cw = new Uint8Array(n);
    cw.set(d, 0);
    cw.set(rsEncode(d, p.parity), k);
    blocks.push(cw);
  }
  const slots = new Uint8Array(layout.slots);
  const nb = blocks.length;
  for (let j = 0; j < layout.codewordBytes; j++) slots[j] = blocks[j % nb]![Math.floor(j / nb)]!;
  return { layout, slots };
}

/** Slot index j of byte i of block b (inverse of the interleave). */
export function slotOf(nb: number, b: number, i: number): number {
  return i * nb + b;
}
