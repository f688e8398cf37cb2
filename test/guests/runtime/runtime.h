/*
 * Runtime for tkvm's freestanding test guests.
 *
 * Boot contract (see ../README.md): 64-bit long mode, ring 0, the low 4 GiB
 * identity-mapped, interrupts off, RSI = address of the Linux boot_params
 * "zero page" (Documentation/arch/x86/zero-page.rst). start.S switches to a
 * stack in .bss, zeroes .bss, installs an IDT that reports unexpected CPU
 * exceptions, and calls guest_main(); its return value (low 8 bits) is
 * written to the debug-exit port.
 */
#ifndef TKVM_GUEST_RUNTIME_H
#define TKVM_GUEST_RUNTIME_H

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#define NORETURN __attribute__((noreturn))
#define PRINTF_LIKE(fmt, args) __attribute__((format(printf, fmt, args)))

/* ---- Devices (the tkvm boot contract) ---------------------------------- */

/* 16550A UART, COM1 (16550 datasheet: THR at +0, LSR at +5, LSR bit 5 THRE). */
#define SERIAL_PORT 0x3f8
#define SERIAL_LSR (SERIAL_PORT + 5)
#define SERIAL_LSR_THR_EMPTY 0x20

/* isa-debug-exit style port: outb V makes tkvm exit with status (V << 1) | 1. */
#define DEBUG_EXIT_PORT 0x501

/* Test echo devices, present when tkvm runs with --test-devices. */
#define TEST_PIO_ECHO_PORT 0x510 /* 4 byte-addressed registers 0x510..0x513 */
#define TEST_PIO_ECHO_LEN 4
#define TEST_MMIO_ECHO_BASE 0xD0000000UL /* byte-addressed, 0x1000 bytes */
#define TEST_MMIO_ECHO_LEN 0x1000

/* Port 0x80 (POST code): tkvm accepts and ignores writes on a fast path. */
#define POST_CODE_PORT 0x80

/* ---- Exit codes (value written to DEBUG_EXIT_PORT -> tkvm status) ------ */

#define GUEST_EXIT_SUCCESS 0x10   /* tkvm status 33 */
#define GUEST_EXIT_FAILURE 0x11   /* tkvm status 35: a check failed */
#define GUEST_EXIT_EXCEPTION 0x12 /* tkvm status 37: unexpected CPU exception */

/* ---- Linux boot_params (zero page), only the fields the guests read ---- */

/* E820 memory types (ACPI 6.x, 15 "System Address Map Interfaces"). */
#define E820_TYPE_RAM 1
#define E820_TYPE_RESERVED 2
#define E820_TYPE_ACPI 3
#define E820_TYPE_NVS 4
#define E820_TYPE_UNUSABLE 5

/* Maximum entries in the zero page's e820_table (E820_MAX_ENTRIES_ZEROPAGE). */
#define E820_MAX_ENTRIES_ZEROPAGE 128

struct e820_entry {
    uint64_t addr;
    uint64_t size;
    uint32_t type;
} __attribute__((packed));

/* Layout per Documentation/arch/x86/zero-page.rst; all other bytes opaque. */
struct boot_params {
    uint8_t unused_000[0x1e8];
    uint8_t e820_entries; /* 0x1e8 */
    uint8_t unused_1e9[0x228 - 0x1e9];
    uint32_t cmd_line_ptr; /* 0x228, setup_header.cmd_line_ptr */
    uint8_t unused_22c[0x2d0 - 0x22c];
    struct e820_entry e820_table[E820_MAX_ENTRIES_ZEROPAGE]; /* 0x2d0 */
    uint8_t unused_cd0[0x1000 - 0xcd0];
} __attribute__((packed));

_Static_assert(sizeof(struct e820_entry) == 20, "e820 entry is 20 bytes");
_Static_assert(offsetof(struct boot_params, e820_entries) == 0x1e8, "e820_entries");
_Static_assert(offsetof(struct boot_params, cmd_line_ptr) == 0x228, "cmd_line_ptr");
_Static_assert(offsetof(struct boot_params, e820_table) == 0x2d0, "e820_table");
_Static_assert(sizeof(struct boot_params) == 0x1000, "zero page is 4 KiB");

/* True if one usable-RAM entry of the zero page's e820 map covers [start, end) (e820.c). */
int e820_covers_ram(const struct boot_params *bp, uint64_t start, uint64_t end);

/* The scenario's entry point; the return value goes to debug_exit(). */
int guest_main(struct boot_params *bp);

/* Linker-script symbols: the guest image spans [__image_start, __image_end). */
extern char __image_start[], __image_end[];

/* ---- Port I/O (one instruction of exactly the given width) ------------ */

static inline void outb(uint16_t port, uint8_t v) { __asm__ volatile("outb %0, %1" : : "a"(v), "Nd"(port)); }
static inline void outw(uint16_t port, uint16_t v) { __asm__ volatile("outw %0, %1" : : "a"(v), "Nd"(port)); }
static inline void outl(uint16_t port, uint32_t v) { __asm__ volatile("outl %0, %1" : : "a"(v), "Nd"(port)); }

static inline uint8_t inb(uint16_t port)
{
    uint8_t v;
    __asm__ volatile("inb %1, %0" : "=a"(v) : "Nd"(port));
    return v;
}

static inline uint16_t inw(uint16_t port)
{
    uint16_t v;
    __asm__ volatile("inw %1, %0" : "=a"(v) : "Nd"(port));
    return v;
}

static inline uint32_t inl(uint16_t port)
{
    uint32_t v;
    __asm__ volatile("inl %1, %0" : "=a"(v) : "Nd"(port));
    return v;
}

/* ---- MMIO (one mov of exactly the given width; never split or merged) -- */

static inline void mmio_write8(uintptr_t addr, uint8_t v) { __asm__ volatile("movb %0, (%1)" : : "q"(v), "r"(addr) : "memory"); }
static inline void mmio_write16(uintptr_t addr, uint16_t v) { __asm__ volatile("movw %0, (%1)" : : "r"(v), "r"(addr) : "memory"); }
static inline void mmio_write32(uintptr_t addr, uint32_t v) { __asm__ volatile("movl %0, (%1)" : : "r"(v), "r"(addr) : "memory"); }
static inline void mmio_write64(uintptr_t addr, uint64_t v) { __asm__ volatile("movq %0, (%1)" : : "r"(v), "r"(addr) : "memory"); }

static inline uint8_t mmio_read8(uintptr_t addr)
{
    uint8_t v;
    __asm__ volatile("movb (%1), %0" : "=q"(v) : "r"(addr) : "memory");
    return v;
}

static inline uint16_t mmio_read16(uintptr_t addr)
{
    uint16_t v;
    __asm__ volatile("movw (%1), %0" : "=r"(v) : "r"(addr) : "memory");
    return v;
}

static inline uint32_t mmio_read32(uintptr_t addr)
{
    uint32_t v;
    __asm__ volatile("movl (%1), %0" : "=r"(v) : "r"(addr) : "memory");
    return v;
}

static inline uint64_t mmio_read64(uintptr_t addr)
{
    uint64_t v;
    __asm__ volatile("movq (%1), %0" : "=r"(v) : "r"(addr) : "memory");
    return v;
}

/* ---- CPU control ------------------------------------------------------ */

/* cli; hlt forever (hlt again if an NMI or SMI wakes the CPU). */
NORETURN void halt_forever(void);

/* ---- Serial console (text ends lines with "\n" only) ------------------- */

void serial_putc(char c);
void serial_puts(const char *s); /* no newline appended */
/* printf subset: %% %c %s %p %d %i %u %x %X with flags '0' '-', a width
 * (digits or *), and length modifiers l, ll, z. */
void serial_printf(const char *fmt, ...) PRINTF_LIKE(1, 2);
void serial_vprintf(const char *fmt, va_list ap);
/* The same formats into buf (always NUL-terminated when size > 0); returns
 * the length the whole text would have had. */
int snprintf(char *buf, size_t size, const char *fmt, ...) PRINTF_LIKE(3, 4);
int vsnprintf(char *buf, size_t size, const char *fmt, va_list ap);

/* ---- Exits ------------------------------------------------------------ */

/* Writes v to the debug-exit port; halts forever if the VMM did not stop. */
NORETURN void debug_exit(uint8_t v);
/* Prints "<message>\n" and exits with GUEST_EXIT_SUCCESS. */
NORETURN void guest_pass(const char *fmt, ...) PRINTF_LIKE(1, 2);
/* Prints "FAIL: <reason>\n" and exits with GUEST_EXIT_FAILURE. */
NORETURN void guest_fail(const char *fmt, ...) PRINTF_LIKE(1, 2);

/* ---- Command line ----------------------------------------------------- */

/* The NUL-terminated command line, or "" when cmd_line_ptr is 0. */
const char *cmdline_text(const struct boot_params *bp);

/*
 * Finds the whitespace-separated word "key=value" (or the bare word "key")
 * in the command line. Returns a pointer to the value, which ends at the next
 * space, tab, newline or NUL (so it is not NUL-terminated; see word_len()),
 * or NULL when no word has that key. The last occurrence wins, as in Linux.
 */
const char *cmdline_get(const struct boot_params *bp, const char *key);

/*
 * Reads "key=N" as an unsigned number (decimal, or hex with 0x; an optional
 * K/M/G suffix multiplies by 2^10/2^20/2^30). Returns 1 and sets *out when
 * found and valid, 0 when the key is absent, -1 when the value is malformed
 * or overflows.
 */
int cmdline_get_u64(const struct boot_params *bp, const char *key, uint64_t *out);

/* ---- Strings ---------------------------------------------------------- */

size_t strlen(const char *s);
int strcmp(const char *a, const char *b);
int strncmp(const char *a, const char *b, size_t n);
/* Length of the word at s: bytes up to the first space, tab, newline or NUL. */
size_t word_len(const char *s);
/* Parses s[0..len) as in cmdline_get_u64(); returns 0 on success, -1 if not. */
int parse_u64(const char *s, size_t len, uint64_t *out);

/* The compiler may emit calls to these even in freestanding code. */
void *memset(void *dst, int c, size_t n);
void *memcpy(void *dst, const void *src, size_t n);
void *memmove(void *dst, const void *src, size_t n);
int memcmp(const void *a, const void *b, size_t n);

/* An x86-64 IDT gate descriptor (SDM vol. 3, 6.14.1). */
struct idt_gate {
    uint16_t offset_low;
    uint16_t selector;
    uint8_t ist;
    uint8_t type_attr;
    uint16_t offset_mid;
    uint32_t offset_high;
    uint32_t reserved;
} __attribute__((packed));

/* The operand of lgdt/lidt/sgdt/sidt (SDM vol. 3, 2.4). */
struct descriptor_pointer {
    uint16_t limit;
    uint64_t base;
} __attribute__((packed));

#endif
