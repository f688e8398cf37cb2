/**
 * What a PCI function offers the root complex: its configuration space and
 * its memory BARs. The root decodes config cycles and BAR addresses and
 * passes offsets relative to the function's config space or BAR.
 */
import type { PciConfigSpace } from './config-space.js';

export interface PciDevice {
  /** A short name for logs ("virtio-blk"). */
  readonly name: string;
  readonly config: PciConfigSpace;
  /** Config read of 1, 2 or 4 bytes at `offset` (0-4095), never crossing a dword. */
  readConfig(offset: number, data: Uint8Array): void;
  /** Config write; side effects (MSI-X control, BAR moves) happen here. */
  writeConfig(offset: number, data: Uint8Array): void;
  /** Read of `data.length` bytes at `offset` inside memory BAR `bar`. */
  readBar(bar: number, offset: number, data: Uint8Array): void;
  writeBar(bar: number, offset: number, data: Uint8Array): void;
}
