/**
 * CRC-32 (IEEE 802.3 / ISO-HDLC / ISO 3309, the PNG chunk check): reflected polynomial 0xEDB88320, initial
 * value 0xFFFFFFFF, final XOR 0xFFFFFFFF. Check value for ASCII "123456789" is 0xCBF43926. The one
 * implementation in offpay: the FSK frame check (spec/fsk.md §4) and the QR codec's PNG reader and writer.
 */
const TABLE = new Uint32Array(256);
for (let n = 0; n < 256; n++) {
  let c = n;
  for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
  TABLE[n] = c >>> 0;
}

/**
 * CRC-32 (IEEE 802.3) of `bytes[start..end)` as an unsigned 32-bit number (the whole array by default):
 * `crc32(utf8('123456789'))` is 0xCBF43926.
 */
export function crc32(bytes: Uint8Array, start = 0, end = bytes.length): number {
  let c = 0xffffffff;
  for (let i = start; i < end; i++) c = TABLE[(c ^ bytes[i]!) & 0xff]! ^ (c >>> 8);
  return (c ^ 0xffffffff) >>> 0;
}
