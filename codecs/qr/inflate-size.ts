/**
 * How many bytes a zlib stream (RFC 1950 around RFC 1951 DEFLATE) inflates to, counted without producing them,
 * and stopping as soon as the count passes a cap. What a PNG's image data (the IDAT chunks joined) inflates to
 * is fixed by its header (spec/qr.md §8 step 4); an image decoder that is handed more keeps growing its output
 * buffer (zxing-wasm's loader does, into wasm memory that never shrinks), so the reader counts first.
 *
 * Counting needs no output window: a literal adds 1 to the count, a length/distance pair adds its length
 * (3..258), and the distance is only checked against the count so far (a distance reaching before the start of
 * the stream is invalid). Stored blocks add their LEN. Huffman codes are canonical (RFC 1951 §3.2.2): codes of
 * one length are consecutive integers, each length's first code following the last code of the length before,
 * shifted left by one. Decoding reads one bit at a time (most significant bit of the code first, as DEFLATE
 * packs Huffman codes) and, at each length L, the code is that length's if code - first[L] < count[L]. A 9-bit
 * lookup table answers the short codes (most symbols) in one step.
 *
 * Errors are values: the result says `ok`, `over` (the count passed the cap: stopped there) or `bad` (with why).
 */

/** The outcome of {@link zlibInflatedSize}. */
export type InflatedSize =
  | { kind: 'ok'; bytes: number }
  | { kind: 'over'; cap: number }
  | { kind: 'bad'; why: string };

/** Base lengths of length codes 257..285 and their extra bits (RFC 1951 §3.2.5). */
const LEN_BASE = [3, 4, 5, 6, 7, 8, 9, 10, 11, 13, 15, 17, 19, 23, 27, 31, 35, 43, 51, 59, 67, 83, 99, 115, 131, 163, 195, 227, 258];
const LEN_EXTRA = [0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 2, 2, 2, 2, 3, 3, 3, 3, 4, 4, 4, 4, 5, 5, 5, 5, 0];
/** Base distances of distance codes 0..29 and their extra bits. */
const DIST_BASE = [1, 2, 3, 4, 5, 7, 9, 13, 17, 25, 33, 49, 65, 97, 129, 193, 257, 385, 513, 769, 1025, 1537, 2049, 3073, 4097, 6145, 8193, 12289, 16385, 24577];
const DIST_EXTRA = [0, 0, 0, 0, 1, 1, 2, 2, 3, 3, 4, 4, 5, 5, 6, 6, 7, 7, 8, 8, 9, 9, 10, 10, 11, 11, 12, 12, 13, 13];
/** The order in which code length code lengths are sent (RFC 1951 §3.2.7). */
const CLEN_ORDER = [16, 17, 18, 0, 8, 7, 9, 6, 10, 5, 11, 4, 12, 3, 13, 2, 14, 1, 15];
const FAST_BITS = 9;

class Bad extends Error {}

/** A canonical Huffman code: counts per length, symbols in code order, and a FAST_BITS lookup table once used. */
interface Huffman {
  count: Int32Array; // count[L], L = 0..15
  /** The longest code length in the set (0: no codes). */
  max: number;
  symbol: Int32Array; // symbols ordered by (length, value)
  /**
   * Indexed by the next FAST_BITS bits read LSB-first: (symbol << 4) | length, or -1 for a longer code. Built only
   * once the code has decoded FAST_AFTER symbols the slow way, so that a stream of empty blocks (each a code that
   * decodes nothing) costs a count and a sort a block, not a table.
   */
  fast: Int32Array | undefined;
  uses: number;
}

/** Symbols a code decodes bit by bit before its lookup table is built. */
const FAST_AFTER = 32;

/**
 * Build a canonical code from code lengths, with zlib's rules (inftrees.c) on which sets are valid: an
 * over-subscribed set is invalid; an incomplete set is invalid too, except a literal/length or distance code of
 * a single code of length 1; a set of no codes at all is valid (a symbol decoded with it is an invalid code).
 */
function buildHuffman(lengths: ArrayLike<number>, n: number, kind: 'code lengths' | 'literal/length' | 'distance'): Huffman {
  const count = new Int32Array(16);
  for (let i = 0; i < n; i++) count[lengths[i]!]!++;
  count[0] = 0;
  let max = 15;
  while (max > 0 && count[max] === 0) max--;
  let left = 1;
  for (let len = 1; len < 16; len++) {
    left = left * 2 - count[len]!;
    if (left < 0) throw new Bad(`over-subscribed ${kind} code`);
  }
  if (max > 0 && left > 0 && (kind === 'code lengths' || max !== 1)) throw new Bad(`incomplete ${kind} code`);
  const offs = new Int32Array(16);
  for (let len = 1; len < 15; len++) offs[len + 1] = offs[len]! + count[len]!;
  const symbol = new Int32Array(n);
  for (let s = 0; s < n; s++) if (lengths[s]) symbol[offs[lengths[s]!]!++] = s;
  return { count, max, symbol, fast: undefined, uses: 0 };
}

/** The lookup table of h: the canonical codes of length <= FAST_BITS, each entry whose low bits match. */
function buildFast(h: Huffman): Int32Array {
  // Codes are matched against bits read LSB-first, so each code's bits are reversed into the index.
  const fast = new Int32Array(1 << FAST_BITS).fill(-1);
  let code = 0;
  let index = 0;
  for (let len = 1; len <= FAST_BITS; len++) {
    for (let k = 0; k < h.count[len]!; k++) {
      let rev = 0;
      for (let b = 0; b < len; b++) rev |= ((code >> b) & 1) << (len - 1 - b);
      for (let fill = rev; fill < 1 << FAST_BITS; fill += 1 << len) fast[fill] = (h.symbol[index]! << 4) | len;
      code++;
      index++;
    }
    code <<= 1;
  }
  return fast;
}

class BitReader {
  private bitBuf = 0;
  private bitCount = 0;
  constructor(
    private readonly data: Uint8Array,
    public pos: number,
  ) {}

  bits(n: number): number {
    while (this.bitCount < n) {
      if (this.pos >= this.data.length) throw new Bad('the stream ends early');
      this.bitBuf |= this.data[this.pos++]! << this.bitCount;
      this.bitCount += 8;
    }
    const v = this.bitBuf & ((1 << n) - 1);
    this.bitBuf >>>= n;
    this.bitCount -= n;
    return v;
  }

  /** Up to n bits without consuming them (zeros past the end). */
  peek(n: number): number {
    while (this.bitCount < n && this.pos < this.data.length) {
      this.bitBuf |= this.data[this.pos++]! << this.bitCount;
      this.bitCount += 8;
    }
    return this.bitBuf & ((1 << n) - 1);
  }

  drop(n: number): void {
    this.bitBuf >>>= n;
    this.bitCount -= n;
  }

  /** Discard the bits left in the current byte (before a stored block). */
  alignToByte(): void {
    const skip = this.bitCount & 7;
    this.bitBuf >>>= skip;
    this.bitCount -= skip;
  }

  /** A byte from the byte-aligned stream (after alignToByte), taking buffered whole bytes first. */
  byte(): number {
    return this.bits(8);
  }

  /** Skip n bytes of the byte-aligned stream (a stored block's data). */
  skipBytes(n: number): void {
    while (n > 0 && this.bitCount >= 8) {
      this.drop(8);
      n--;
    }
    if (this.pos + n > this.data.length) throw new Bad('the stream ends early');
    this.pos += n;
  }

  decode(h: Huffman): number {
    if (h.fast === undefined && ++h.uses > FAST_AFTER) h.fast = buildFast(h);
    if (h.fast !== undefined) {
      const f = h.fast[this.peek(FAST_BITS)]!;
      if (f >= 0 && (f & 15) <= this.bitCount) {
        this.drop(f & 15);
        return f >> 4;
      }
    }
    // Bit by bit: the code's bits arrive most significant first, up to the set's longest code: bits that match no
    // code by then are an invalid code (bad), as zlib judges; the stream ending first is the stream ending early.
    let code = 0;
    let first = 0;
    let index = 0;
    for (let len = 1; len <= h.max; len++) {
      code |= this.bits(1);
      const c = h.count[len]!;
      if (code - first < c) return h.symbol[index + code - first]!;
      index += c;
      first = (first + c) << 1;
      code <<= 1;
    }
    throw new Bad('invalid Huffman code');
  }
}

let fixedLit: Huffman | undefined;
let fixedDist: Huffman | undefined;

function fixedCodes(): [Huffman, Huffman] {
  if (!fixedLit || !fixedDist) {
    const l = new Uint8Array(288);
    l.fill(8, 0, 144);
    l.fill(9, 144, 256);
    l.fill(7, 256, 280);
    l.fill(8, 280, 288);
    fixedLit = buildHuffman(l, 288, 'literal/length');
    fixedDist = buildHuffman(new Uint8Array(32).fill(5), 32, 'distance'); // codes 30 and 31 exist and are invalid (RFC 1951 §3.2.6)
  }
  return [fixedLit, fixedDist];
}

function dynamicCodes(r: BitReader): [Huffman, Huffman] {
  const nlen = r.bits(5) + 257;
  const ndist = r.bits(5) + 1;
  const ncode = r.bits(4) + 4;
  if (nlen > 286 || ndist > 30) throw new Bad('too many length or distance codes');
  const clen = new Uint8Array(19);
  for (let i = 0; i < ncode; i++) clen[CLEN_ORDER[i]!] = r.bits(3);
  const ch = buildHuffman(clen, 19, 'code lengths');
  const lengths = new Uint8Array(nlen + ndist);
  for (let i = 0; i < nlen + ndist; ) {
    const sym = r.decode(ch);
    if (sym < 16) {
      lengths[i++] = sym;
      continue;
    }
    let value = 0;
    let repeat: number;
    if (sym === 16) {
      if (i === 0) throw new Bad('a repeat with no length before it');
      value = lengths[i - 1]!;
      repeat = 3 + r.bits(2);
    } else if (sym === 17) repeat = 3 + r.bits(3);
    else repeat = 11 + r.bits(7);
    if (i + repeat > nlen + ndist) throw new Bad('code lengths run past their count');
    lengths.fill(value, i, i + repeat);
    i += repeat;
  }
  if (lengths[256] === 0) throw new Bad('no end-of-block code');
  return [buildHuffman(lengths.subarray(0, nlen), nlen, 'literal/length'), buildHuffman(lengths.subarray(nlen), ndist, 'distance')];
}

/**
 * The number of bytes the zlib stream `data` inflates to, or `over` once it passes `cap` (checked as it counts,
 * so the work is bounded by the input and the cap), or `bad` if it is not a valid zlib stream (a preset
 * dictionary, which PNG forbids, is bad). Bytes after the stream's last block (its Adler-32 and anything
 * further) are not read.
 */
export function zlibInflatedSize(data: Uint8Array, cap: number): InflatedSize {
  try {
    if (data.length < 2) throw new Bad('the stream ends early');
    const cmf = data[0]!;
    const flg = data[1]!;
    if ((cmf & 15) !== 8 || cmf >> 4 > 7) throw new Bad('not a deflate stream');
    if (((cmf << 8) | flg) % 31 !== 0) throw new Bad('zlib header check fails');
    if (flg & 0x20) throw new Bad('a preset dictionary');
    const r = new BitReader(data, 2);
    let out = 0;
    let last = 0;
    do {
      last = r.bits(1);
      const type = r.bits(2);
      if (type === 0) {
        r.alignToByte();
        const len = r.byte() | (r.byte() << 8);
        const nlen = r.byte() | (r.byte() << 8);
        if ((len ^ 0xffff) !== nlen) throw new Bad('stored block length check fails');
        out += len;
        if (out > cap) return { kind: 'over', cap };
        r.skipBytes(len);
        continue;
      }
      if (type === 3) throw new Bad('block type 3');
      const [lit, dist] = type === 1 ? fixedCodes() : dynamicCodes(r);
      for (;;) {
        const sym = r.decode(lit);
        if (sym < 256) {
          if (++out > cap) return { kind: 'over', cap };
        } else if (sym === 256) {
          break;
        } else {
          const li = sym - 257;
          if (li >= 29) throw new Bad('invalid length code');
          const len = LEN_BASE[li]! + r.bits(LEN_EXTRA[li]!);
          const di = r.decode(dist);
          if (di >= 30) throw new Bad('invalid distance code');
          const d = DIST_BASE[di]! + r.bits(DIST_EXTRA[di]!);
          if (d > out) throw new Bad('a distance before the start of the stream');
          out += len;
          if (out > cap) return { kind: 'over', cap };
        }
      }
    } while (!last);
    return { kind: 'ok', bytes: out };
  } catch (e) {
    if (e instanceof Bad) return { kind: 'bad', why: e.message };
    throw e;
  }
}
