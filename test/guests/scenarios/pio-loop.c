/*
 * pio-loop (benchmark): "count=N" (default 100000) port-I/O exits of one kind,
 * chosen by "path=":
 *   post (default)  byte writes to port 0x80, which tkvm ignores on a fast
 *                   path in the vCPU thread: the cost of an I/O exit
 *   echo            byte writes to the test echo device at 0x510, a device
 *                   tkvm serves on the main thread: the mailbox round trip
 *   uart            N/2 bytes ('.') written to COM1 the way a polling driver
 *                   does (read LSR until THRE, write THR): N UART exits
 * Prints "pio-loop start N" before and "pio-loop done N" after.
 */
#include "runtime.h"

#define DEFAULT_COUNT 100000

int guest_main(struct boot_params *bp)
{
    uint64_t count = DEFAULT_COUNT;
    if (cmdline_get_u64(bp, "count", &count) < 0)
        guest_fail("pio-loop: count= must be a number");
    const char *path = cmdline_get(bp, "path");
    size_t path_len = path ? word_len(path) : 0;
    serial_printf("pio-loop start %lu\n", count);
    if (path && path_len == 4 && strncmp(path, "echo", 4) == 0) {
        for (uint64_t i = 0; i < count; i++)
            outb(TEST_PIO_ECHO_PORT, (uint8_t)i);
    } else if (path && path_len == 4 && strncmp(path, "uart", 4) == 0) {
        for (uint64_t i = 0; i + 1 < count; i += 2) {
            while ((inb(SERIAL_PORT + 5) & 0x20) == 0)
                i++; /* each extra LSR read is one more UART exit */
            outb(SERIAL_PORT, '.');
        }
        serial_putc('\n');
    } else if (path && !(path_len == 4 && strncmp(path, "post", 4) == 0)) {
        guest_fail("pio-loop: path= must be post, echo or uart");
    } else if (count != 0) {
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
