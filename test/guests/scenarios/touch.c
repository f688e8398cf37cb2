/*
 * touch (for snapshot size benchmarks): writes one 8-byte value into each
 * 4 KiB page of touch_mib=N MiB of RAM from 16 MiB up, so that the guest
 * has touched exactly those pages with data, prints "touched N MiB", then
 * counts like the counter guest (counter at 0x300000, "counter N" every
 * print_every=M increments). Never exits.
 */
#include "runtime.h"

#define COUNTER_ADDR 0x300000UL
#define TOUCH_BASE (16UL << 20)
#define PAGE 4096UL

int guest_main(struct boot_params *bp)
{
    uint64_t mib = 0, print_every = 0;
    if (cmdline_get_u64(bp, "touch_mib", &mib) < 0 || cmdline_get_u64(bp, "print_every", &print_every) < 0)
        guest_fail("touch: touch_mib= and print_every= must be numbers");
    uint64_t bytes = mib << 20;
    if (mib > (1UL << 20) || (mib != 0 && !e820_covers_ram(bp, TOUCH_BASE, TOUCH_BASE + bytes)))
        guest_fail("touch: %lu MiB from 0x%lx is not usable RAM", mib, TOUCH_BASE);
    for (uint64_t at = 0; at < bytes; at += PAGE)
        *(volatile uint64_t *)(TOUCH_BASE + at) = at / PAGE + 1;
    serial_printf("touched %lu MiB\n", mib);

    volatile uint64_t *counter = (volatile uint64_t *)COUNTER_ADDR;
    uint64_t value = 0, until_print = print_every;
    for (;;) {
        *counter = ++value;
        if (print_every != 0 && --until_print == 0) {
            serial_printf("counter %lu\n", value);
            until_print = print_every;
        }
    }
}
