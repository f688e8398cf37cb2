/** A guest-physical access that falls outside guest RAM (or wraps around). */
export class GuestMemoryError extends Error {
  readonly code = 'ERR_GUEST_MEMORY_RANGE';
  readonly address: number;
  readonly length: number;
  constructor(address: number, length: number) {
    super(`guest memory access out of range: 0x${address.toString(16)} + ${length}`);
    this.name = 'GuestMemoryError';
    this.address = address;
    this.length = length;
  }
}
