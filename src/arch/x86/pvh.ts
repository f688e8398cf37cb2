/**
 * The PVH boot ABI's start-of-day structure, struct hvm_start_info
 * (xen/include/public/arch-x86/hvm/start_info.h, version 1), its memory map
 * (struct hvm_memmap_table_entry) and module list (struct hvm_modlist_entry).
 * The kernel finds it through EBX at its 32-bit PVH entry point.
 */
import type { GuestMemory } from '../../memory/guest-memory.js';
import { PVH_MEMMAP_ADDR, PVH_MEMMAP_MAX_ENTRIES, PVH_MODLIST_ADDR, type E820Entry } from './layout.js';

export const HVM_START_MAGIC = 0x336ec578;
export const HVM_START_INFO_VERSION = 1;
export const HVM_START_INFO_SIZE = 56;
export const HVM_MEMMAP_ENTRY_SIZE = 24;
export const HVM_MODLIST_ENTRY_SIZE = 32;

/** struct hvm_start_info field offsets. */
export const START_INFO = {
  MAGIC: 0,
  VERSION: 4,
  FLAGS: 8,
  NR_MODULES: 12,
  MODLIST_PADDR: 16,
  CMDLINE_PADDR: 24,
  RSDP_PADDR: 32,
  MEMMAP_PADDR: 40,
  MEMMAP_ENTRIES: 48,
} as const;

/** XEN_HVM_MEMMAP_TYPE_* values equal the E820 types (RAM 1, RESERVED 2, ...). */

export interface StartInfoOptions {
  cmdlineAddr: number;
  memmap: readonly E820Entry[];
  initrd?: { addr: number; size: number };
  acpiRsdpAddr?: number;
}

/**
 * Writes hvm_start_info at `addr`, the memory map at PVH_MEMMAP_ADDR and,
 * with an initrd, a one-entry module list at PVH_MODLIST_ADDR.
 */
export function writeStartInfo(mem: GuestMemory, addr: number, opts: StartInfoOptions): void {
  if (opts.memmap.length > PVH_MEMMAP_MAX_ENTRIES) {
    throw new RangeError(`${opts.memmap.length} memory map entries exceed the ${PVH_MEMMAP_MAX_ENTRIES} reserved for PVH`);
  }
  const info = new Uint8Array(HVM_START_INFO_SIZE);
  const v = new DataView(info.buffer);
  v.setUint32(START_INFO.MAGIC, HVM_START_MAGIC, true);
  v.setUint32(START_INFO.VERSION, HVM_START_INFO_VERSION, true);
  v.setUint32(START_INFO.NR_MODULES, opts.initrd ? 1 : 0, true);
  v.setBigUint64(START_INFO.MODLIST_PADDR, opts.initrd ? BigInt(PVH_MODLIST_ADDR) : 0n, true);
  v.setBigUint64(START_INFO.CMDLINE_PADDR, BigInt(opts.cmdlineAddr), true);
  v.setBigUint64(START_INFO.RSDP_PADDR, BigInt(opts.acpiRsdpAddr ?? 0), true);
  v.setBigUint64(START_INFO.MEMMAP_PADDR, BigInt(PVH_MEMMAP_ADDR), true);
  v.setUint32(START_INFO.MEMMAP_ENTRIES, opts.memmap.length, true);
  mem.write(addr, info);

  const memmap = new Uint8Array(opts.memmap.length * HVM_MEMMAP_ENTRY_SIZE);
  const mv = new DataView(memmap.buffer);
  opts.memmap.forEach((e, i) => {
    const o = i * HVM_MEMMAP_ENTRY_SIZE;
    mv.setBigUint64(o, BigInt(e.addr), true);
    mv.setBigUint64(o + 8, BigInt(e.size), true);
    mv.setUint32(o + 16, e.type, true);
  });
  mem.write(PVH_MEMMAP_ADDR, memmap);

  if (opts.initrd) {
    const mod = new Uint8Array(HVM_MODLIST_ENTRY_SIZE);
    const dv = new DataView(mod.buffer);
    dv.setBigUint64(0, BigInt(opts.initrd.addr), true);
    dv.setBigUint64(8, BigInt(opts.initrd.size), true);
    // cmdline_paddr 0: the module has no command line; reserved stays 0.
    mem.write(PVH_MODLIST_ADDR, mod);
  }
}
