/**
 * loadGuest: puts a kernel, its initrd and command line and the boot data
 * (zero page or PVH start_info, GDT, page tables) into guest memory and
 * returns the boot vCPU's starting state. Which protocol is used:
 *
 * - bzImage: 64-bit Linux boot protocol, entry at 1 MiB + 0x200.
 * - ELF with a Xen PHYS32_ENTRY note: PVH, 32-bit protected mode.
 * - other ELF64: 64-bit Linux boot protocol at the (physical) e_entry, with a
 *   minimal setup header in the zero page. tkvm's test guests are these.
 */
import type { GuestMemory } from '../../memory/guest-memory.js';
import { FileFormatError } from '../../util/errors.js';
import { writeBootParams } from './boot-params.js';
import { openBootFile, type BootFile } from './boot-files.js';
import { isBzImage, loadBzImage, parseBzImage } from './bzimage.js';
import { encodeCmdline } from './cmdline.js';
import { bootVcpuState, type VcpuBootState } from './cpu-state.js';
import { isElf, loadElfKernel, parseElfKernel } from './elf.js';
import { writeGdtAndTss } from './gdt.js';
import {
  BOOT_DATA_END, CMDLINE_ADDR, CMDLINE_DEFAULT_LIMIT, PAGE_SIZE, PVH_START_INFO_ADDR, ZERO_PAGE_ADDR,
  alignDown, alignUp, buildE820, hex, lowRamEnd, validateMemBytes, MiB,
} from './layout.js';
import { writeIdentityPageTables } from './page-tables.js';
import { writeStartInfo } from './pvh.js';

export type BootKind = 'bzimage' | 'elf64' | 'pvh';

/** initrd_addr_max for ELF kernels, whose file has no setup header (Linux's x86-64 value). */
export const ELF_INITRD_ADDR_MAX = 0x7fffffff;

export interface LoadGuestOptions {
  kernelPath: string;
  initrdPath?: string | undefined;
  cmdline: string;
  /** Guest RAM size; `mem` must hold ramRegions(memBytes). */
  memBytes: number;
  /** Guest-physical address of the ACPI RSDP, if the VMM builds ACPI tables. */
  acpiRsdpAddr?: number | undefined;
}

/** Where loadGuest put things (for logs, debugging and tests). */
export interface BootLayout {
  /** Guest-physical range the kernel occupies (or may use while it boots). */
  kernelStart: number;
  kernelEnd: number;
  cmdlineAddr: number;
  /** Command line length, NUL excluded. */
  cmdlineSize: number;
  initrd?: { addr: number; size: number };
  /** Zero page (bzimage, elf64) or hvm_start_info (pvh). */
  bootInfoAddr: number;
}

export interface BootSetup extends VcpuBootState {
  kind: BootKind;
  /** Guest-physical entry point (= regs.rip). */
  entry: bigint;
  layout: BootLayout;
}

/** Reads the kernel (and initrd) from the host and loads them; see loadGuestFiles. */
export function loadGuest(mem: GuestMemory, opts: LoadGuestOptions): BootSetup {
  const kernel = openBootFile('kernel', opts.kernelPath);
  const initrd = opts.initrdPath === undefined ? undefined : openBootFile('initrd', opts.initrdPath);
  return loadGuestFiles(mem, { ...opts, kernel, initrd });
}

export interface LoadGuestFilesOptions {
  kernel: BootFile;
  initrd?: BootFile | undefined;
  cmdline: string;
  memBytes: number;
  acpiRsdpAddr?: number | undefined;
}

/** loadGuest over already-opened files (tests pass in-memory images). */
export function loadGuestFiles(mem: GuestMemory, opts: LoadGuestFilesOptions): BootSetup {
  validateMemBytes(opts.memBytes);
  const lowEnd = lowRamEnd(opts.memBytes);
  if (!mem.isValidRange(0, lowEnd)) throw new RangeError(`guest memory does not cover [0, ${hex(lowEnd)}) for ${opts.memBytes} bytes of RAM`);
  const path = opts.kernel.path;
  if (opts.kernel.size > lowEnd) {
    throw new FileFormatError(path, `${opts.kernel.size}-byte file is larger than the ${lowEnd / MiB} MiB of low guest RAM`);
  }
  const bytes = opts.kernel.read();
  mem.fill(0, BOOT_DATA_END, 0);

  const { kind, entry, kernelStart, kernelEnd, cmdline, initrdAddrMax, setupHeader } = loadKernel(mem, path, bytes, lowEnd, opts.cmdline);
  const initrd = opts.initrd ? loadInitrd(mem, opts.initrd, kernelEnd, Math.min(initrdAddrMax + 1, lowEnd)) : undefined;
  mem.write(CMDLINE_ADDR, cmdline);
  const e820 = buildE820(opts.memBytes);
  const mode = kind === 'pvh' ? 'protected32' : 'long';
  writeGdtAndTss(mem, mode);
  writeIdentityPageTables(mem);
  const common = { cmdlineAddr: CMDLINE_ADDR, initrd, acpiRsdpAddr: opts.acpiRsdpAddr };
  if (kind === 'pvh') {
    writeStartInfo(mem, PVH_START_INFO_ADDR, { ...common, memmap: e820 });
  } else {
    writeBootParams(mem, ZERO_PAGE_ADDR, {
      ...common, setupHeader, kernelAddr: kernelStart, cmdlineSize: cmdline.length - 1, e820, initrdAddrMax,
    });
  }

  const layout: BootLayout = {
    kernelStart, kernelEnd, cmdlineAddr: CMDLINE_ADDR, cmdlineSize: cmdline.length - 1,
    bootInfoAddr: kind === 'pvh' ? PVH_START_INFO_ADDR : ZERO_PAGE_ADDR,
  };
  if (initrd) layout.initrd = initrd;
  return { kind, entry: BigInt(entry), layout, ...bootVcpuState(mode, entry) };
}

interface LoadedKernel {
  kind: BootKind;
  entry: number;
  kernelStart: number;
  kernelEnd: number;
  /** Encoded command line, NUL included. */
  cmdline: Uint8Array;
  initrdAddrMax: number;
  setupHeader?: Uint8Array;
}

/** Detects the kernel format, checks the command line against its limit, and loads it. */
function loadKernel(mem: GuestMemory, path: string, bytes: Uint8Array, lowEnd: number, cmdlineText: string): LoadedKernel {
  if (isElf(bytes)) {
    const elf = parseElfKernel(path, bytes, (addr, len) => addr >= BOOT_DATA_END && mem.isValidRange(addr, len));
    const cmdline = encodeCmdline(cmdlineText, CMDLINE_DEFAULT_LIMIT, path);
    loadElfKernel(mem, bytes, elf);
    const lowEnds = elf.segments.filter((s) => s.paddr < lowEnd).map((s) => s.paddr + s.memsz);
    const pvh = elf.pvhEntry !== undefined;
    return {
      kind: pvh ? 'pvh' : 'elf64',
      entry: elf.pvhEntry ?? elf.entry64,
      kernelStart: elf.start,
      kernelEnd: Math.max(elf.start, ...lowEnds),
      cmdline,
      initrdAddrMax: pvh ? lowEnd - 1 : ELF_INITRD_ADDR_MAX,
    };
  }
  if (isBzImage(bytes)) {
    const image = parseBzImage(path, bytes);
    const cmdline = encodeCmdline(cmdlineText, image.cmdlineSize, path);
    const loaded = loadBzImage(mem, path, image, lowEnd);
    return {
      kind: 'bzimage',
      entry: loaded.entry64,
      kernelStart: loaded.loadAddr,
      kernelEnd: loaded.reservedEnd,
      cmdline,
      initrdAddrMax: image.initrdAddrMax,
      setupHeader: image.setupHeader,
    };
  }
  throw new FileFormatError(path, `not a bzImage or ELF kernel (it starts with ${describeStart(bytes)})`);
}

/**
 * Places the initrd page-aligned as high as possible below `limit`, above
 * the kernel (boot.rst, "initrd_addr_max"). An empty file means no initrd.
 */
function loadInitrd(mem: GuestMemory, file: BootFile, kernelEnd: number, limit: number): { addr: number; size: number } | undefined {
  if (file.size === 0) return undefined;
  const floor = alignUp(kernelEnd, PAGE_SIZE);
  const addr = alignDown(limit - file.size, PAGE_SIZE);
  if (addr < floor) {
    throw new FileFormatError(
      file.path,
      `initrd of ${file.size} bytes does not fit in guest RAM between the kernel's end ${hex(floor)} and ${hex(limit)}`,
    );
  }
  mem.write(addr, file.read());
  return { addr, size: file.size };
}

function describeStart(bytes: Uint8Array): string {
  if (bytes.length === 0) return 'nothing: the file is empty';
  return Array.from(bytes.subarray(0, 4), (b) => b.toString(16).padStart(2, '0')).join(' ');
}
