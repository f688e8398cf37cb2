/* The zero page's memory map (x86 boot protocol, zero-page.rst: e820_table). */
#include "runtime.h"

int e820_covers_ram(const struct boot_params *bp, uint64_t start, uint64_t end)
{
    for (unsigned i = 0; i < bp->e820_entries && i < E820_MAX_ENTRIES_ZEROPAGE; i++) {
        const struct e820_entry *e = &bp->e820_table[i];
        if (e->type == E820_TYPE_RAM && e->addr <= start && end <= e->addr + e->size)
            return 1;
    }
    return 0;
}
