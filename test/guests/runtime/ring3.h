/*
 * Dropping to ring 3 (CPL 3) for code that must run at native speed.
 *
 * On a PVM host (kvm_pvm) the guest's ring 0 is emulated instruction by
 * instruction while ring 3 runs natively, so a guest that wants to measure
 * something does a minimal setup in ring 0 and moves to ring 3 at once.
 * ring3_run() makes every page of the boot page tables user-accessible,
 * loads its own GDT (kernel and user segments) and a TSS whose RSP0 catches
 * exceptions raised in ring 3 (the runtime's IDT then reports them as usual),
 * and IRETQs to `fn(arg)` with RFLAGS.IOPL = 3, so ring 3 can use the serial
 * port, PCI configuration ports and the debug-exit port, and MMIO (device
 * BARs) through the identity map. Interrupts stay off.
 *
 * PVM hosts ignore the guest's IOPL: IN/OUT in ring 3 raise #GP. ring3_run()
 * therefore also puts a #GP handler in front of the runtime's, which performs
 * an IN/OUT (and REP OUTSB) that faulted in ring 3 from ring 0 and resumes
 * after it, so the runtime's port I/O works unchanged from ring 3; each such
 * access costs an exception round trip through the emulated ring 0 (a few
 * hundred microseconds there), so ring-3 code should print little.
 * Any other #GP still ends in the runtime's failure report.
 *
 * References: Intel SDM vol. 3, 4.6 (U/S page access rights), 3.4.5 and
 * 7.2.3 (code/data and 64-bit TSS descriptors), 6.12.1 (stack switch on an
 * exception from a less privileged level), 6.14.3 (IRETQ), 18.5 (IOPL).
 */
#ifndef TKVM_GUEST_RING3_H
#define TKVM_GUEST_RING3_H

#include <stdint.h>
#include "runtime.h"

/* Selectors of the GDT ring3_run() loads (the kernel ones match tkvm's boot GDT). */
#define RING3_KERNEL_CS 0x10
#define RING3_KERNEL_DS 0x18
#define RING3_USER_DS (0x20 | 3)
#define RING3_USER_CS (0x28 | 3)
#define RING3_TSS 0x30

/*
 * Runs fn(arg) in ring 3 on the stack that ends at `stack_top` (any RAM
 * the guest owns; rounded down to 16 bytes) and never returns: when fn
 * returns, its value (low 8 bits) goes to the debug-exit port, as
 * guest_main()'s does. Call it from ring 0 (guest_main), once. Exceptions
 * raised in ring 3 are taken on the caller's ring-0 stack (TSS.RSP0 is set
 * just below the caller's frame, which is abandoned).
 */
NORETURN void ring3_run(int (*fn)(void *arg), void *arg, void *stack_top);

/* The current privilege level (CS.RPL): 0 in the kernel, 3 after ring3_run(). */
static inline unsigned current_privilege_level(void)
{
    uint16_t cs;
    __asm__ volatile("mov %%cs, %0" : "=r"(cs));
    return cs & 3;
}

/*
 * Writes `len` bytes to `port` with one REP OUTSB (no status polling: meant
 * for tkvm's UART, which transmits instantly). From ring 3 on a PVM host this
 * is a single trap to ring 0 instead of two per character.
 */
static inline void port_write_string(uint16_t port, const void *bytes, size_t len)
{
    __asm__ volatile("cld\n\trep outsb" : "+S"(bytes), "+c"(len) : "d"(port) : "memory");
}

/* The time-stamp counter (RDTSC; usable in ring 3 unless CR4.TSD is set). */
static inline uint64_t read_tsc(void)
{
    uint32_t lo, hi;
    __asm__ volatile("rdtsc" : "=a"(lo), "=d"(hi));
    return ((uint64_t)hi << 32) | lo;
}

#endif
