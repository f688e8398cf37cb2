/*
 * mmio-echo: exercises the test echo device's byte-addressed register file
 * at guest-physical 0xD0000000..0xD0000FFF (tkvm --test-devices) with 1-,
 * 2-, 4- and 8-byte accesses, aligned and unaligned, including the last 8
 * bytes of the page. Unwritten bytes must read 0. Every read is compared with
 * a local model of the page.
 */
#include "runtime.h"

static uint8_t model[TEST_MMIO_ECHO_LEN];
/* Mismatches printed one by one; the rest are only counted. */
#define MAX_REPORTED_MISMATCHES 16

static unsigned failures;
static char last_write[64] = "nothing written yet";

static uint64_t model_load(unsigned offset, unsigned width)
{
    uint64_t v = 0;
    for (unsigned i = 0; i < width; i++)
        v |= (uint64_t)model[offset + i] << (8 * i);
    return v;
}

static void model_store(unsigned offset, unsigned width, uint64_t value)
{
    for (unsigned i = 0; i < width; i++)
        model[offset + i] = (uint8_t)(value >> (8 * i));
}

static uint64_t mmio_read(unsigned offset, unsigned width)
{
    uintptr_t addr = TEST_MMIO_ECHO_BASE + offset;
    switch (width) {
    case 1: return mmio_read8(addr);
    case 2: return mmio_read16(addr);
    case 4: return mmio_read32(addr);
    default: return mmio_read64(addr);
    }
}

static void mmio_write(unsigned offset, unsigned width, uint64_t value)
{
    uintptr_t addr = TEST_MMIO_ECHO_BASE + offset;
    switch (width) {
    case 1: mmio_write8(addr, (uint8_t)value); break;
    case 2: mmio_write16(addr, (uint16_t)value); break;
    case 4: mmio_write32(addr, (uint32_t)value); break;
    default: mmio_write64(addr, value); break;
    }
}

static void check_read(unsigned offset, unsigned width)
{
    uint64_t expected = model_load(offset, width);
    uint64_t got = mmio_read(offset, width);
    if (got != expected) {
        if (++failures <= MAX_REPORTED_MISMATCHES)
            serial_printf("FAIL: mmio-echo: after %s: read%u(0x%lx) expected 0x%0*lx, read 0x%0*lx\n",
                          last_write, width * 8, TEST_MMIO_ECHO_BASE + offset,
                          (int)width * 2, expected, (int)width * 2, got);
    }
}

/* Every naturally aligned read of each width inside [start, end). */
static void check_range(unsigned start, unsigned end)
{
    for (unsigned width = 1; width <= 8; width *= 2) {
        for (unsigned offset = start; offset + width <= end; offset += width)
            check_read(offset, width);
    }
}

static void write_and_verify(unsigned offset, unsigned width, uint64_t value)
{
    mmio_write(offset, width, value);
    model_store(offset, width, value);
    snprintf(last_write, sizeof last_write, "write%u(0x%lx, 0x%0*lx)", width * 8,
             TEST_MMIO_ECHO_BASE + offset, (int)width * 2, value);

    /* The same access back, then the 16-byte aligned window around it. */
    check_read(offset, width);
    unsigned window = offset & ~7u;
    unsigned window_end = window + 16 <= TEST_MMIO_ECHO_LEN ? window + 16 : TEST_MMIO_ECHO_LEN;
    check_range(window, window_end);
}

int guest_main(struct boot_params *bp)
{
    (void)bp;

    /* Nothing written yet: the whole page reads 0. */
    for (unsigned offset = 0; offset < TEST_MMIO_ECHO_LEN; offset += 8)
        check_read(offset, 8);

    /* Quadwords: first, middle and last 8 bytes of the page. */
    write_and_verify(0x000, 8, 0x0123456789abcdefUL);
    write_and_verify(0x008, 8, 0xffffffffffffffffUL);
    write_and_verify(0x800, 8, 0x8000000000000001UL);
    write_and_verify(0xff8, 8, 0xfedcba9876543210UL);

    /* Narrower writes inside those quadwords keep the other bytes. */
    write_and_verify(0x004, 4, 0xdeadbeef);
    write_and_verify(0x00a, 2, 0xcafe);
    write_and_verify(0x00f, 1, 0x5a);
    write_and_verify(0xffc, 4, 0xa5a55a5a);
    write_and_verify(0xffe, 2, 0x1234);
    write_and_verify(0xfff, 1, 0x00);
    write_and_verify(0x803, 1, 0x77);

    /* Fresh locations of each width. */
    write_and_verify(0x100, 1, 0xab);
    write_and_verify(0x110, 2, 0xabcd);
    write_and_verify(0x120, 4, 0x89abcdef);
    write_and_verify(0x130, 8, 0x0011223344556677UL);

    /* Unaligned accesses (byte-addressed registers accept any offset). */
    write_and_verify(0x201, 2, 0x4321);
    write_and_verify(0x212, 4, 0x87654321);
    write_and_verify(0x223, 8, 0x1122334455667788UL);
    write_and_verify(0xff5, 8, 0x99aabbccddeeff00UL);

    /* Finally the whole page against the model. */
    snprintf(last_write, sizeof last_write, "all writes");
    for (unsigned offset = 0; offset < TEST_MMIO_ECHO_LEN; offset += 8)
        check_read(offset, 8);

    if (failures != 0)
        guest_fail("mmio-echo: %u mismatches", failures);
    guest_pass("mmio-echo ok");
}
