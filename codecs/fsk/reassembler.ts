/**
 * Frame decoder and message reassembler (spec/fsk.md §4-5, §7.2 step 9, §8): Reed-Solomon with erasures,
 * frame header, CRC-32, segments.
 *
 * Reed-Solomon with GMD, per codeword. Codeword i's bytes are the slots j nb + i; they are ordered by
 * confidence (least first, ties by byte index) and attempt e = 0, 2, 4, ..., P - 2 erases the first e of them;
 * the first attempt that decodes is kept (for a single-codeword frame the header and CRC checks must pass
 * too, otherwise the attempts go on). One codeword beyond every attempt fails the frame (fsk.rs_failed).
 * Then: version (fsk.bad_version), profile id, length <= 512, segment index < count, R(L) = R, CRC-32 over
 * header || payload (fsk.crc_mismatch), zero padding (fsk.bad_header), in that order.
 *
 * Reassembly. A message starts at segment index 0, or when the segment count or profile changes; it is
 * complete when every index 0 .. count - 1 has arrived, and is then emitted and forgotten.
 *
 * create: new MessageReassembler(). reset(): forget a partial message. push(frame): the complete message, if
 * this frame completes one. decodeSlots is a pure function of one frame.
 */
import { concatBytes } from '../../base/bytes.js';
import { crc32 } from '../../base/crc32.js';
import { CRC_BYTES, HEADER_BYTES, MAX_FRAME_PAYLOAD, rowsForPayload, type BlockLayout } from './frame.js';
import { FRAME_VERSION, type FskProfile, type FskProfileName } from './profiles.js';
import { rsDecode } from './rs.js';
import type { ErrorCodeOf } from '../../base/errors.js';

export type SlotDecode =
  | { payload: Uint8Array; segment: { index: number; count: number }; byteErrors: number; corrected: number; erasures: number }
  | { failure: ErrorCodeOf<'fsk'>; reason: string; rank: number; byteErrors: number; corrected: number; erasures: number };

/** RS (with GMD erasure retries per codeword), header and CRC checks over the demodulated slots. */
export function decodeSlots(p: FskProfile, layout: BlockLayout, bytes: Uint8Array, conf: Float64Array): SlotDecode {
  const nb = layout.blockLengths.length;
  const blocks: Uint8Array[] = [];
  let byteErrors = 0;
  let corrected = 0;
  let erasures = 0;
  const single = nb === 1;
  for (let b = 0; b < nb; b++) {
    const n = layout.blockLengths[b]!;
    const rx = new Uint8Array(n);
    const cf: number[] = [];
    for (let i = 0; i < n; i++) {
      const j = i * nb + b;
      rx[i] = bytes[j]!;
      cf.push(conf[j]!);
    }
    const order = [...cf.keys()].sort((x, y) => cf[x]! - cf[y]!);
    let ok: Uint8Array | null = null;
    for (let s = 0; s <= p.parity - 2; s += 2) {
      const res = rsDecode(rx, p.parity, order.slice(0, s));
      if (!res) continue;
      if (single) {
        const chk = checkData(p, layout, [res.codeword]);
        if ('failure' in chk) continue;
      }
      ok = res.codeword;
      corrected += res.corrected;
      erasures += s;
      break;
    }
    if (!ok) {
      return { failure: 'fsk.rs_failed', reason: `Reed-Solomon codeword ${b + 1} of ${nb} is uncorrectable`, rank: 2, byteErrors: -1, corrected, erasures };
    }
    for (let i = 0; i < n; i++) if (ok[i] !== rx[i]) byteErrors++;
    blocks.push(ok);
  }
  const chk = checkData(p, layout, blocks);
  return { ...chk, byteErrors, corrected, erasures };
}

/** Header, CRC-32 and padding checks of the data stream carried by the decoded codewords. */
function checkData(
  p: FskProfile, layout: BlockLayout, blocks: Uint8Array[],
): { payload: Uint8Array; segment: { index: number; count: number } } | { failure: ErrorCodeOf<'fsk'>; reason: string; rank: number } {
  const data = new Uint8Array(layout.capacity);
  let off = 0;
  for (const cw of blocks) {
    const k = cw.length - p.parity;
    data.set(cw.subarray(0, k), off);
    off += k;
  }
  const version = data[0]! >> 4;
  const id = data[0]! & 15;
  const v = (data[1]! << 8) | data[2]!;
  const length = v & 0x3ff;
  const count = ((v >> 10) & 7) + 1;
  const index = v >> 13;
  if (version !== FRAME_VERSION) return { failure: 'fsk.bad_version', reason: `frame version ${version} is not supported`, rank: 3 };
  if (id !== p.id) return { failure: 'fsk.bad_header', reason: `header profile id ${id} does not match the tone plan`, rank: 3 };
  if (length > MAX_FRAME_PAYLOAD || index >= count) return { failure: 'fsk.bad_header', reason: 'header length or segment out of range', rank: 3 };
  if (rowsForPayload(p, length) !== layout.rows) return { failure: 'fsk.bad_header', reason: 'header length does not match the frame length', rank: 3 };
  const end = HEADER_BYTES + length;
  const crc = ((data[end]! << 24) | (data[end + 1]! << 16) | (data[end + 2]! << 8) | data[end + 3]!) >>> 0;
  if (crc32(data.subarray(0, end)) !== crc) return { failure: 'fsk.crc_mismatch', reason: 'CRC-32 mismatch after Reed-Solomon decoding', rank: 4 };
  for (let i = end + CRC_BYTES; i < data.length; i++) {
    if (data[i] !== 0) return { failure: 'fsk.bad_header', reason: 'non-zero padding', rank: 3 };
  }
  return { payload: data.slice(HEADER_BYTES, end), segment: { index, count } };
}

/** A decoded frame as the reassembler sees it. */
export interface SegmentFrame {
  payload: Uint8Array;
  profile: FskProfileName;
  segment: { index: number; count: number };
  /** The frame's signal level (FrameDiagnostics.levelDbfs), when measured. */
  diagnostics?: { levelDbfs: number };
}

/** A complete message. */
export interface Message {
  payload: Uint8Array;
  profile: FskProfileName;
  segments: number;
  /** The lowest signal level of its frames, dBFS, when every frame had one. */
  levelDbfs?: number;
}

export class MessageReassembler {
  /** The message being collected: its segment count, profile and the parts received so far. */
  private partial: { count: number; profile: FskProfileName; parts: (Uint8Array | undefined)[]; levels: (number | undefined)[] } | null = null;

  /** Forget a partial message. */
  reset(): void {
    this.partial = null;
  }

  /** Add a frame; returns the message it completes, if any. */
  push(frame: SegmentFrame): Message | null {
    const { index, count } = frame.segment;
    const level = frame.diagnostics?.levelDbfs;
    if (count === 1) {
      this.partial = null;
      return { payload: frame.payload, profile: frame.profile, segments: 1, ...(level !== undefined ? { levelDbfs: level } : {}) };
    }
    if (index === 0 || !this.partial || this.partial.count !== count || this.partial.profile !== frame.profile) {
      this.partial = { count, profile: frame.profile, parts: new Array<Uint8Array | undefined>(count).fill(undefined), levels: new Array<number | undefined>(count).fill(undefined) };
    }
    this.partial.parts[index] = frame.payload;
    this.partial.levels[index] = level;
    if (!this.partial.parts.every((x) => x !== undefined)) return null;
    const out = concatBytes(this.partial.parts as Uint8Array[]);
    const levels = this.partial.levels;
    this.partial = null;
    const measured = levels.every((x) => x !== undefined);
    return { payload: out, profile: frame.profile, segments: count, ...(measured ? { levelDbfs: Math.min(...(levels as number[])) } : {}) };
  }
}
