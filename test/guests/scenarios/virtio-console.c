/*
 * virtio-console (1af4:1043) over PCI with MSI-X, port 0 only.
 *
 * Writes "console ok\n" on the transmitq (guest -> host); tkvm prints it on
 * its console output. Then, unless `no_input=1` is on the command line, it
 * checks host -> guest: posts receive buffers on the receiveq, writes
 * "virtio-console: waiting for input\n" on the transmitq, waits up to
 * `input_timeout=N` seconds (default 10) for a line ending in '\n' and writes
 * it back as "echo: <line>\n" on the transmitq. Reports on the serial port.
 */
#include "runtime.h"
#include "virtio_console.h"

#define DEFAULT_INPUT_TIMEOUT_SECONDS 10
#define MAX_INPUT_TIMEOUT_SECONDS 600
#define MAX_LINE 128

static struct virtio_console con;
static const char ready[] = "console ok\n";
static const char prompt[] = "virtio-console: waiting for input\n";
static char line[MAX_LINE];
static char reply[MAX_LINE + 16];

int guest_main(struct boot_params *bp)
{
    uint64_t no_input = 0, timeout = DEFAULT_INPUT_TIMEOUT_SECONDS;
    if (cmdline_get_u64(bp, "no_input", &no_input) < 0 || no_input > 1)
        guest_fail("virtio-console: no_input must be 0 or 1");
    if (cmdline_get_u64(bp, "input_timeout", &timeout) < 0 || timeout == 0 || timeout > MAX_INPUT_TIMEOUT_SECONDS)
        guest_fail("virtio-console: input_timeout must be 1..%u seconds", MAX_INPUT_TIMEOUT_SECONDS);

    virtio_console_open(&con, !no_input);
    virtio_console_write(&con, ready, sizeof ready - 1);
    if (virtio_wait_irq(0) == 0)
        guest_fail("virtio-console: no MSI-X interrupt arrived");
    if (no_input)
        guest_pass("virtio-console ok");

    virtio_console_post_receive_buffers(&con);
    virtio_console_write(&con, prompt, sizeof prompt - 1);
    uint32_t length = virtio_console_read_line(&con, line, sizeof line, (unsigned)timeout);
    int n = snprintf(reply, sizeof reply, "echo: %s\n", line);
    virtio_console_write(&con, reply, (uint32_t)n);
    /* The line itself goes out only on the transmitq, so a test sees the echo came back through virtio. */
    serial_printf("virtio-console: read a %u-byte line in %u receive buffers (%u bytes)\n", length, con.rx_used, con.rx_bytes);
    guest_pass("virtio-console ok");
}
