/*
 * triple-fault: loads an empty IDT (limit 0) and executes ud2. The #UD cannot
 * be delivered, nor the #GP that follows, nor the #DF: the CPU shuts down
 * (Intel SDM vol. 3, 6.15 "Interrupt 8 - Double Fault Exception"), which
 * KVM reports as KVM_EXIT_SHUTDOWN. Never reaches the debug-exit port.
 */
#include "runtime.h"

int guest_main(struct boot_params *bp)
{
    (void)bp;
    static const struct descriptor_pointer empty_idt = { 0, 0 };
    serial_puts("about to triple fault\n");
    __asm__ volatile("lidt %0\n\tud2" : : "m"(empty_idt) : "memory");
    halt_forever(); /* not reached */
}
