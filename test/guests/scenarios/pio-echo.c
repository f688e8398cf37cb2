/*
 * pio-echo: exercises the test echo device's 4 byte registers at I/O ports
 * 0x510..0x513 (tkvm --test-devices) with 1-, 2- and 4-byte accesses. A
 * write of width w at port 0x510+o stores w bytes at offset o; a read returns
 * the stored bytes. After every write, every read that fits the register
 * file is compared with a local model of its contents.
 */
#include "runtime.h"

static uint8_t model[TEST_PIO_ECHO_LEN];
/* Mismatches printed one by one; the rest are only counted. */
#define MAX_REPORTED_MISMATCHES 16

static unsigned failures;
static char last_write[48] = "nothing written yet";

static void model_store(unsigned offset, unsigned width, uint32_t value)
{
    for (unsigned i = 0; i < width; i++)
        model[offset + i] = (uint8_t)(value >> (8 * i));
}

static uint32_t model_load(unsigned offset, unsigned width)
{
    uint32_t v = 0;
    for (unsigned i = 0; i < width; i++)
        v |= (uint32_t)model[offset + i] << (8 * i);
    return v;
}

static uint32_t port_read(unsigned offset, unsigned width)
{
    uint16_t port = (uint16_t)(TEST_PIO_ECHO_PORT + offset);
    switch (width) {
    case 1: return inb(port);
    case 2: return inw(port);
    default: return inl(port);
    }
}

static void port_write(unsigned offset, unsigned width, uint32_t value)
{
    uint16_t port = (uint16_t)(TEST_PIO_ECHO_PORT + offset);
    switch (width) {
    case 1: outb(port, (uint8_t)value); break;
    case 2: outw(port, (uint16_t)value); break;
    default: outl(port, value); break;
    }
}

static char width_suffix(unsigned width)
{
    return width == 1 ? 'b' : width == 2 ? 'w' : 'l';
}

/* Reads every (offset, width) that fits and compares with the model. */
static void verify_all(void)
{
    static const unsigned widths[] = { 1, 2, 4 };
    for (unsigned w = 0; w < sizeof widths / sizeof widths[0]; w++) {
        unsigned width = widths[w];
        for (unsigned offset = 0; offset + width <= TEST_PIO_ECHO_LEN; offset++) {
            uint32_t expected = model_load(offset, width);
            uint32_t got = port_read(offset, width);
            if (got != expected) {
                if (++failures <= MAX_REPORTED_MISMATCHES)
                    serial_printf("FAIL: pio-echo: after %s: in%c(0x%x) expected 0x%0*x, read 0x%0*x\n",
                                  last_write, width_suffix(width), TEST_PIO_ECHO_PORT + offset,
                                  (int)width * 2, expected, (int)width * 2, got);
            }
        }
    }
}

static void write_and_verify(unsigned offset, unsigned width, uint32_t value)
{
    port_write(offset, width, value);
    model_store(offset, width, value);
    /* Remember the write for failure messages, e.g. "outl(0x510, 0x12345678)". */
    snprintf(last_write, sizeof last_write, "out%c(0x%x, 0x%0*x)", width_suffix(width),
             TEST_PIO_ECHO_PORT + offset, (int)width * 2, value);
    verify_all();
}

int guest_main(struct boot_params *bp)
{
    (void)bp;
    static const uint32_t dwords[] = {
        0x00000000, 0xffffffff, 0x12345678, 0xa5a55a5a, 0x87654321, 0x80000001,
    };

    for (unsigned i = 0; i < sizeof dwords / sizeof dwords[0]; i++)
        write_and_verify(0, 4, dwords[i]);

    /* Single bytes over a known dword: the other bytes must be kept. */
    for (unsigned offset = 0; offset < TEST_PIO_ECHO_LEN; offset++)
        write_and_verify(offset, 1, 0x11u * (offset + 1));
    write_and_verify(2, 1, 0xff);
    write_and_verify(0, 1, 0x00);

    /* Words at each offset that fits, including the unaligned middle one. */
    write_and_verify(0, 2, 0xbeef);
    write_and_verify(2, 2, 0xcafe);
    write_and_verify(1, 2, 0x3c4b);
    write_and_verify(0, 2, 0x0000);

    /* A dword over mixed contents, then a byte inside it. */
    write_and_verify(0, 4, 0xdeadbeef);
    write_and_verify(3, 1, 0x5a);
    write_and_verify(0, 4, 0x01020304);

    if (failures != 0)
        guest_fail("pio-echo: %u mismatches", failures);
    guest_pass("pio-echo ok");
}
