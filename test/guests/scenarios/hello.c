/*
 * hello: the smallest end-to-end check. Prints a greeting and exits through
 * the debug-exit port with the value of "exit=N" from the command line
 * (default GUEST_EXIT_SUCCESS, i.e. tkvm status 33).
 */
#include "runtime.h"

int guest_main(struct boot_params *bp)
{
    serial_puts("Hello from tkvm test guest\n");
    uint64_t code = GUEST_EXIT_SUCCESS;
    if (cmdline_get_u64(bp, "exit", &code) < 0 || code > 0xff)
        guest_fail("hello: exit= must be a number from 0 to 255");
    return (int)code;
}
