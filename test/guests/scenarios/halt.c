/*
 * halt (for stop/kick tests): prints "halting", then cli; hlt forever. With
 * interrupts off only an NMI could wake the vCPU, and it halts again.
 */
#include "runtime.h"

int guest_main(struct boot_params *bp)
{
    (void)bp;
    serial_puts("halting\n");
    halt_forever();
}
