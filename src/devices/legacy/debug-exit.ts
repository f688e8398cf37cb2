/**
 * QEMU's isa-debug-exit device (hw/misc/debugexit.c): a guest write of value
 * V to the port ends the VM with exit status (V << 1) | 1, so a test guest can
 * report pass/fail and never be mistaken for a clean exit 0. Reads return
 * 0xff. The port is 2 bytes wide (QEMU's default iosize), at 0x501.
 */
import type { BusDevice } from '../../bus/bus.js';

export interface DebugExitOptions {
  /** Called with (V << 1) | 1 for each write of V. */
  onExit: (status: number) => void;
}

export class DebugExit implements BusDevice {
  readonly #onExit: (status: number) => void;

  constructor(options: DebugExitOptions) {
    this.#onExit = options.onExit;
  }

  read(_offset: number, data: Uint8Array): void {
    data.fill(0xff);
  }

  /**
   * Like QEMU, any offset within the port counts. V is the little-endian value
   * written, of at most 4 bytes (wider accesses use their low 4 bytes).
   */
  write(_offset: number, data: Uint8Array): void {
    if (data.length === 0) return;
    this.#onExit(debugExitStatus(data));
  }
}

/** (V << 1) | 1 for the little-endian value V of up to 4 bytes of `data`, as a non-negative number. */
export function debugExitStatus(data: Uint8Array): number {
  let value = 0;
  const width = Math.min(data.length, 4);
  for (let i = width - 1; i >= 0; i--) value = value * 256 + data[i]!;
  return value * 2 + 1;
}
