/* Ending a test: the debug-exit port and the pass/fail conventions. */
#include "runtime.h"

void halt_forever(void)
{
    for (;;)
        __asm__ volatile("cli; hlt");
}

void debug_exit(uint8_t v)
{
    outb(DEBUG_EXIT_PORT, v);
    halt_forever();
}

void guest_pass(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    serial_vprintf(fmt, ap);
    va_end(ap);
    serial_putc('\n');
    debug_exit(GUEST_EXIT_SUCCESS);
}

void guest_fail(const char *fmt, ...)
{
    va_list ap;
    serial_puts("FAIL: ");
    va_start(ap, fmt);
    serial_vprintf(fmt, ap);
    va_end(ap);
    serial_putc('\n');
    debug_exit(GUEST_EXIT_FAILURE);
}
