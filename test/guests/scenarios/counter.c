/*
 * counter (for pause/resume and snapshot tests): increments a 64-bit counter
 * at the fixed guest-physical address COUNTER_ADDR forever, with one 8-byte
 * store per increment so the host always reads a whole value. Prints
 * "counter at 0x300000" first; with "print_every=N" it also prints
 * "counter N" each time the counter reaches a multiple of N. Never exits.
 */
#include "runtime.h"

#define COUNTER_ADDR 0x300000UL

int guest_main(struct boot_params *bp)
{
    uint64_t print_every = 0;
    if (cmdline_get_u64(bp, "print_every", &print_every) < 0)
        guest_fail("counter: print_every= must be a number");
    if ((uintptr_t)__image_end > COUNTER_ADDR)
        guest_fail("counter: the guest image overlaps the counter at 0x%lx", COUNTER_ADDR);
    if (!e820_covers_ram(bp, COUNTER_ADDR, COUNTER_ADDR + sizeof(uint64_t)))
        guest_fail("counter: 0x%lx is not usable RAM in the e820 map", COUNTER_ADDR);

    volatile uint64_t *counter = (volatile uint64_t *)COUNTER_ADDR;
    *counter = 0;
    serial_printf("counter at 0x%lx\n", COUNTER_ADDR);

    uint64_t value = 0, until_print = print_every;
    for (;;) {
        *counter = ++value;
        if (print_every != 0 && --until_print == 0) {
            serial_printf("counter %lu\n", value);
            until_print = print_every;
        }
    }
}
