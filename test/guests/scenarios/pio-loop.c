/*
 * pio-loop (benchmark): "count=N" (default 100000) byte writes to port 0x80,
 * which tkvm ignores on a fast path, so the run time measures the cost of an
 * I/O exit. Prints "pio-loop start N" before and "pio-loop done N" after.
 */
#include "runtime.h"

#define DEFAULT_COUNT 100000

int guest_main(struct boot_params *bp)
{
    uint64_t count = DEFAULT_COUNT;
    if (cmdline_get_u64(bp, "count", &count) < 0)
        guest_fail("pio-loop: count= must be a number");
    serial_printf("pio-loop start %lu\n", count);
    if (count != 0) {
        uint64_t remaining = count;
        /* Three instructions per iteration: out, dec, jnz. */
        __asm__ volatile("1:\n\t"
                         "outb %%al, $0x80\n\t"
                         "dec %0\n\t"
                         "jnz 1b"
                         : "+r"(remaining)
                         : "a"(0)
                         : "cc");
    }
    guest_pass("pio-loop done %lu", count);
}
