/*
 * cmos-rtc: reads and writes the MC146818 RTC/CMOS through ports 0x70
 * (index) and 0x71 (data), as firmware and Linux do at boot: the memory-size
 * bytes tkvm fills for the guest's RAM (run with --mem 32M), a CMOS RAM
 * byte written and read back, and the BCD date (a 21st-century year, a
 * month 1-12). Each COM1 line it prints goes through the UART too.
 */
#include "runtime.h"

#define CMOS_INDEX 0x70
#define CMOS_DATA 0x71

static uint8_t cmos_read(uint8_t index)
{
    outb(CMOS_INDEX, index);
    return inb(CMOS_DATA);
}

static void cmos_write(uint8_t index, uint8_t value)
{
    outb(CMOS_INDEX, index);
    outb(CMOS_DATA, value);
}

static unsigned bcd(uint8_t v) { return (v >> 4) * 10 + (v & 0x0f); }

int guest_main(struct boot_params *bp)
{
    (void)bp;
    unsigned base_kib = cmos_read(0x15) | (unsigned)cmos_read(0x16) << 8;
    unsigned ext_kib = cmos_read(0x17) | (unsigned)cmos_read(0x18) << 8;
    if (base_kib != 640)
        guest_fail("cmos-rtc: base memory %u KiB, expected 640", base_kib);
    if (ext_kib != 31 * 1024)
        guest_fail("cmos-rtc: extended memory %u KiB, expected %u", ext_kib, 31 * 1024);

    for (unsigned v = 0; v < 256; v += 0x55) {
        cmos_write(0x40, (uint8_t)v);
        if (cmos_read(0x40) != v)
            guest_fail("cmos-rtc: CMOS byte 0x40 wrote 0x%x, read 0x%x", v, cmos_read(0x40));
    }

    unsigned century = bcd(cmos_read(0x32));
    unsigned year = bcd(cmos_read(0x09));
    unsigned month = bcd(cmos_read(0x08));
    if (century != 20 || month < 1 || month > 12)
        guest_fail("cmos-rtc: date %u%02u-%02u", century, year, month);
    guest_pass("cmos-rtc ok %u%02u-%02u", century, year, month);
}
