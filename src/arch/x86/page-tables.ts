/**
 * Identity-mapped 4-level page tables for the 64-bit boot protocol: the low
 * 4 GiB mapped 1:1 with 2 MiB pages (Intel SDM vol. 3A, 4.5 "4-Level
 * Paging"). The 3-4 GiB MMIO gap is mapped uncached (PCD|PWT) so test guests
 * can reach device registers before they set up their own tables.
 */
import type { GuestMemory } from '../../memory/guest-memory.js';
import { GiB, MiB, MMIO_GAP_START, PAGE_DIRECTORY_ADDR, PDPT_ADDR, PML4_ADDR, IDENTITY_MAP_BYTES } from './layout.js';

export const PTE_PRESENT = 0x1n;
export const PTE_WRITABLE = 0x2n;
export const PTE_PWT = 0x8n;
export const PTE_PCD = 0x10n;
/** PS: in a page-directory entry, maps a 2 MiB page. */
export const PTE_PAGE_SIZE = 0x80n;

/** Number of page directories (one per GiB mapped). */
export const PAGE_DIRECTORIES = IDENTITY_MAP_BYTES / GiB;
const ENTRIES_PER_TABLE = 512;
const LARGE_PAGE = 2 * MiB;

/** The page-directory entry that maps the 2 MiB page at `addr`. */
export function largePageEntry(addr: number): bigint {
  const flags = PTE_PRESENT | PTE_WRITABLE | PTE_PAGE_SIZE | (addr >= MMIO_GAP_START ? PTE_PCD | PTE_PWT : 0n);
  return BigInt(addr) | flags;
}

/** Writes PML4, PDPT and the page directories; CR3 = PML4_ADDR. */
export function writeIdentityPageTables(mem: GuestMemory): void {
  const table = (): DataView => new DataView(new ArrayBuffer(ENTRIES_PER_TABLE * 8));
  const pml4 = table();
  pml4.setBigUint64(0, BigInt(PDPT_ADDR) | PTE_PRESENT | PTE_WRITABLE, true);
  mem.write(PML4_ADDR, new Uint8Array(pml4.buffer));

  const pdpt = table();
  for (let i = 0; i < PAGE_DIRECTORIES; i++) {
    pdpt.setBigUint64(i * 8, BigInt(PAGE_DIRECTORY_ADDR + i * 4096) | PTE_PRESENT | PTE_WRITABLE, true);
  }
  mem.write(PDPT_ADDR, new Uint8Array(pdpt.buffer));

  for (let i = 0; i < PAGE_DIRECTORIES; i++) {
    const pd = table();
    for (let j = 0; j < ENTRIES_PER_TABLE; j++) pd.setBigUint64(j * 8, largePageEntry(i * GiB + j * LARGE_PAGE), true);
    mem.write(PAGE_DIRECTORY_ADDR + i * 4096, new Uint8Array(pd.buffer));
  }
}
