/* Console output on the 16550A UART at COM1 (polled, no interrupts). */
#include "runtime.h"

/*
 * Bound on LSR polls per character, so that a UART that never reports THR
 * empty slows the guest down instead of hanging it.
 */
#define THR_EMPTY_MAX_POLLS 100000

void serial_putc(char c)
{
    for (int i = 0; i < THR_EMPTY_MAX_POLLS; i++) {
        if (inb(SERIAL_LSR) & SERIAL_LSR_THR_EMPTY)
            break;
    }
    outb(SERIAL_PORT, (uint8_t)c);
}

void serial_puts(const char *s)
{
    while (*s != '\0')
        serial_putc(*s++);
}
