/*
 * hello: the smallest end-to-end check. Prints a greeting and exits through
 * the debug-exit port with the value of "exit=N" from the command line
 * (default GUEST_EXIT_SUCCESS, i.e. tkvm status 33). With "marker=N" it
 * first prints the default guest kit's exit-status line, TKVM_EXIT_STATUS=N,
 * which must not count for a guest that is not the kit.
 */
#include "runtime.h"

int guest_main(struct boot_params *bp)
{
    serial_puts("Hello from tkvm test guest\n");
    uint64_t marker;
    if (cmdline_get_u64(bp, "marker", &marker) == 1)
        serial_printf("TKVM_EXIT_STATUS=%u\n", (unsigned)marker);
    uint64_t code = GUEST_EXIT_SUCCESS;
    if (cmdline_get_u64(bp, "exit", &code) < 0 || code > 0xff)
        guest_fail("hello: exit= must be a number from 0 to 255");
    return (int)code;
}
