/*
 * bootparams: prints what tkvm put in the boot_params zero page, for the
 * integration test to compare with what it asked for, and checks that it is
 * sane:
 *   e820_entries: N
 *   e820: 0x<addr, 16 digits> 0x<size, 16 digits> <type>   (one per entry)
 *   cmdline: <the command line, verbatim>
 *   bootparams ok
 * Checks: 1..128 entries, no empty or wrapping entry, entries sorted and not
 * overlapping, one usable-RAM (type 1) entry covering this guest's image, and
 * when the command line has "mem=SIZE" (K/M/G suffixes allowed), usable RAM
 * adds up to at most SIZE and to more than SIZE - 1 MiB (room for the
 * reserved legacy areas below 1 MiB).
 */
#include "runtime.h"

#define MIB (1024UL * 1024UL)

int guest_main(struct boot_params *bp)
{
    unsigned count = bp->e820_entries;
    serial_printf("e820_entries: %u\n", count);
    if (count > E820_MAX_ENTRIES_ZEROPAGE)
        guest_fail("bootparams: e820_entries %u exceeds %u", count, E820_MAX_ENTRIES_ZEROPAGE);
    for (unsigned i = 0; i < count; i++) {
        const struct e820_entry *e = &bp->e820_table[i];
        serial_printf("e820: 0x%016lx 0x%016lx %u\n", e->addr, e->size, e->type);
    }
    serial_printf("cmdline: %s\n", cmdline_text(bp));

    if (count == 0)
        guest_fail("bootparams: empty e820 map");

    uint64_t image_start = (uintptr_t)__image_start, image_end = (uintptr_t)__image_end;
    uint64_t usable_bytes = 0, previous_end = 0;
    int image_covered = 0;
    for (unsigned i = 0; i < count; i++) {
        const struct e820_entry *e = &bp->e820_table[i];
        uint64_t end = e->addr + e->size;
        if (e->size == 0)
            guest_fail("bootparams: e820 entry %u is empty", i);
        if (end < e->addr)
            guest_fail("bootparams: e820 entry %u wraps around", i);
        if (i > 0 && e->addr < previous_end)
            guest_fail("bootparams: e820 entry %u (0x%lx) overlaps or precedes the one before (end 0x%lx)",
                       i, e->addr, previous_end);
        previous_end = end;
        if (e->type == E820_TYPE_RAM) {
            usable_bytes += e->size;
            if (e->addr <= image_start && image_end <= end)
                image_covered = 1;
        }
    }
    if (!image_covered)
        guest_fail("bootparams: no usable RAM entry covers the guest image 0x%lx..0x%lx",
                   image_start, image_end);

    uint64_t mem = 0;
    int has_mem = cmdline_get_u64(bp, "mem", &mem);
    if (has_mem < 0)
        guest_fail("bootparams: mem= is not a size");
    if (has_mem > 0 && (usable_bytes > mem || usable_bytes + MIB <= mem))
        guest_fail("bootparams: usable RAM is 0x%lx bytes, mem= says 0x%lx", usable_bytes, mem);

    guest_pass("bootparams ok");
}
