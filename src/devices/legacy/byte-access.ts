/**
 * ISA devices have 8-bit registers. A wider port access (`outw`, `inl`) is
 * handled the way the ISA bus splits it: as consecutive byte accesses at
 * increasing port offsets, low byte first. Offsets past the device's
 * registers are the device's business (usually: reads 0xff, writes ignored).
 */

/** Fills each byte of `data` with `readByte(offset + i)`. */
export function readBytewise(offset: number, data: Uint8Array, readByte: (offset: number) => number): void {
  for (let i = 0; i < data.length; i++) data[i] = readByte(offset + i) & 0xff;
}

/** Calls `writeByte(offset + i, data[i])` for each byte of `data`. */
export function writeBytewise(
  offset: number,
  data: Uint8Array,
  writeByte: (offset: number, value: number) => void,
): void {
  for (let i = 0; i < data.length; i++) writeByte(offset + i, data[i]!);
}
