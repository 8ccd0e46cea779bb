/**
 * CRC-32 (IEEE 802.3 / ISO-HDLC): reflected polynomial 0xEDB88320, initial value 0xFFFFFFFF, final XOR
 * 0xFFFFFFFF. Check value for ASCII "123456789" is 0xCBF43926.
 */
const TABLE = new Uint32Array(256);
for (let n = 0; n < 256; n++) {
  let c = n;
  for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
  TABLE[n] = c >>> 0;
}

/**
 * CRC-32 (IEEE 802.3) of the bytes as an unsigned 32-bit number: `crc32(utf8('123456789'))` is 0xCBF43926.
 * The frame check of spec/fsk.md §4.
 */
export function crc32(bytes: Uint8Array): number {
  let c = 0xffffffff;
  for (let i = 0; i < bytes.length; i++) c = TABLE[(c ^ bytes[i]!) & 0xff]! ^ (c >>> 8);
  return (c ^ 0xffffffff) >>> 0;
}
