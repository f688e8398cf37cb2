/*
 * An IDT that turns any CPU exception into a readable failure report
 * ("FAIL: exception ...") and GUEST_EXIT_EXCEPTION, instead of a silent
 * triple fault. Gate format: Intel SDM vol. 3, 6.14.1 (64-bit IDT gates).
 */
#include "runtime.h"

#define EXCEPTION_VECTORS 32
#define STUB_SIZE 16             /* start.S aligns each stub to 16 bytes */
#define GATE_INTERRUPT_PRESENT 0x8E /* P=1, DPL=0, type 0xE (interrupt gate) */

/* What start.S's stubs and the CPU leave on the stack. */
struct exception_frame {
    uint64_t vector;
    uint64_t error_code;
    uint64_t rip;
    uint64_t cs;
    uint64_t rflags;
    uint64_t rsp;
    uint64_t ss;
};

_Static_assert(sizeof(struct idt_gate) == 16, "64-bit IDT gate is 16 bytes");

extern char exception_stubs[];
void idt_install(void);
NORETURN void exception_report(const struct exception_frame *frame);

static struct idt_gate idt[EXCEPTION_VECTORS] __attribute__((aligned(16)));

void idt_install(void)
{
    uint16_t cs;
    __asm__ volatile("mov %%cs, %0" : "=r"(cs));
    for (int v = 0; v < EXCEPTION_VECTORS; v++) {
        uint64_t handler = (uintptr_t)exception_stubs + (uint64_t)v * STUB_SIZE;
        idt[v] = (struct idt_gate){
            .offset_low = (uint16_t)handler,
            .selector = cs,
            .ist = 0,
            .type_attr = GATE_INTERRUPT_PRESENT,
            .offset_mid = (uint16_t)(handler >> 16),
            .offset_high = (uint32_t)(handler >> 32),
            .reserved = 0,
        };
    }
    struct descriptor_pointer idtr = { sizeof idt - 1, (uintptr_t)idt };
    __asm__ volatile("lidt %0" : : "m"(idtr));
}

void exception_report(const struct exception_frame *frame)
{
    uint64_t cr2;
    __asm__ volatile("mov %%cr2, %0" : "=r"(cr2));
    serial_printf("FAIL: exception %lu (error code 0x%lx) at rip 0x%lx, rsp 0x%lx, cr2 0x%lx\n",
                  frame->vector, frame->error_code, frame->rip, frame->rsp, cr2);
    debug_exit(GUEST_EXIT_EXCEPTION);
}
