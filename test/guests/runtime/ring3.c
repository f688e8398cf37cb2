/*
 * ring3_run(): user-accessible page tables, a GDT with user segments and a
 * TSS, then IRETQ to CPL 3 with IOPL 3 (see ring3.h for the references).
 * Everything here runs in ring 0, which a PVM host emulates, so it touches
 * as little as it can: one pass over the present page-table entries, two
 * small tables, a handful of control-register writes.
 */
#include "runtime.h"
#include "ring3.h"

#define PTE_PRESENT (1ULL << 0)
#define PTE_USER (1ULL << 2)
#define PTE_LARGE (1ULL << 7) /* PS: a 1 GiB (PDPT) or 2 MiB (PD) page */
#define PTE_ADDRESS 0x000ffffffffff000ULL
#define PAGE_TABLE_ENTRIES 512

#define CR4_SMEP (1ULL << 20)
#define CR4_SMAP (1ULL << 21)

#define RFLAGS_RESERVED_1 (1ULL << 1)
#define RFLAGS_IOPL_3 (3ULL << 12)

/* Flat 64-bit descriptors (SDM vol. 3, 3.4.5): limit 0xfffff, G=1. */
#define DESC_KERNEL_CODE64 0x00af9a000000ffffULL /* P, DPL 0, code XR, L=1 */
#define DESC_KERNEL_DATA 0x00cf92000000ffffULL   /* P, DPL 0, data RW */
#define DESC_USER_DATA 0x00cff2000000ffffULL     /* P, DPL 3, data RW */
#define DESC_USER_CODE64 0x00affa000000ffffULL   /* P, DPL 3, code XR, L=1 */
#define TSS_AVAILABLE_64 0x89ULL                 /* P, DPL 0, type 9 */

/* 64-bit TSS (SDM vol. 3, 8.7, figure 8-11). */
struct tss64 {
    uint32_t reserved0;
    uint64_t rsp[3];
    uint64_t reserved1;
    uint64_t ist[7];
    uint64_t reserved2;
    uint16_t reserved3;
    uint16_t iomap_base;
} __attribute__((packed));

_Static_assert(sizeof(struct tss64) == 104, "64-bit TSS is 104 bytes");

/* What ring3_gp_entry saves below the CPU's #GP frame. */
struct gp_frame {
    uint64_t rax, rcx, rdx, rsi, rdi, r8, r9, r10, r11;
    uint64_t error_code, rip, cs, rflags, rsp, ss;
};

#define VECTOR_GP 13
#define EXCEPTION_VECTORS 32

static uint64_t gdt[8] __attribute__((aligned(16)));
static struct tss64 tss __attribute__((aligned(16)));
static struct idt_gate idt[EXCEPTION_VECTORS] __attribute__((aligned(16)));
/* The #GP handler this file's replaces (the runtime's reporter): non-I/O faults go there. */
uint64_t ring3_previous_gp_handler;

/* Sets U/S in `table` and in every table below it (4 levels, any page size). */
static void allow_user(uint64_t *table, int level)
{
    for (int i = 0; i < PAGE_TABLE_ENTRIES; i++) {
        uint64_t entry = table[i];
        if (!(entry & PTE_PRESENT))
            continue;
        if (!(entry & PTE_USER))
            table[i] = entry | PTE_USER;
        int leaf = level == 1 || ((level == 2 || level == 3) && (entry & PTE_LARGE));
        if (!leaf)
            allow_user((uint64_t *)(uintptr_t)(entry & PTE_ADDRESS), level - 1);
    }
}

static void make_pages_user_accessible(void)
{
    uint64_t cr3, cr4;
    __asm__ volatile("mov %%cr3, %0" : "=r"(cr3));
    allow_user((uint64_t *)(uintptr_t)(cr3 & PTE_ADDRESS), 4);
    /* SMEP/SMAP would stop ring 0 (the exception reporter) from using user pages. */
    __asm__ volatile("mov %%cr4, %0" : "=r"(cr4));
    if (cr4 & (CR4_SMEP | CR4_SMAP))
        __asm__ volatile("mov %0, %%cr4" : : "r"(cr4 & ~(CR4_SMEP | CR4_SMAP)));
    __asm__ volatile("mov %0, %%cr3" : : "r"(cr3) : "memory"); /* flush the TLB */
}

static void load_gdt_and_tss(uint64_t ring0_stack)
{
    tss.rsp[0] = ring0_stack;
    tss.iomap_base = sizeof tss; /* no I/O bitmap: IOPL alone decides */
    uint64_t base = (uintptr_t)&tss;
    uint64_t limit = sizeof tss - 1;
    gdt[0] = 0;
    gdt[1] = DESC_KERNEL_CODE64;
    gdt[RING3_KERNEL_CS >> 3] = DESC_KERNEL_CODE64;
    gdt[RING3_KERNEL_DS >> 3] = DESC_KERNEL_DATA;
    gdt[RING3_USER_DS >> 3] = DESC_USER_DATA;
    gdt[RING3_USER_CS >> 3] = DESC_USER_CODE64;
    gdt[RING3_TSS >> 3] = (limit & 0xffff) | ((base & 0xffffff) << 16) | (TSS_AVAILABLE_64 << 40) |
                          (((limit >> 16) & 0xf) << 48) | (((base >> 24) & 0xff) << 56);
    gdt[(RING3_TSS >> 3) + 1] = base >> 32;
    struct descriptor_pointer gdtr = { sizeof gdt - 1, (uintptr_t)gdt };
    __asm__ volatile(
        "lgdt %0\n\t"
        "pushq %1\n\t"          /* reload CS from the new table */
        "leaq 1f(%%rip), %%rax\n\t"
        "pushq %%rax\n\t"
        "lretq\n"
        "1:\n\t"
        "mov %w2, %%ds\n\t"
        "mov %w2, %%es\n\t"
        "mov %w2, %%ss\n\t"
        "ltr %w3\n\t"
        :
        : "m"(gdtr), "i"(RING3_KERNEL_CS), "r"(RING3_KERNEL_DS), "r"(RING3_TSS)
        : "rax", "memory");
}

/*
 * #GP from ring 3 on an IN or OUT that the CPU refused although IOPL is 3
 * (PVM hosts run guest ring 3 with the host's IOPL): perform the access here
 * in ring 0 and skip the instruction. Handles IN/OUT with an imm8 or DX
 * port, 8/16/32 bits (SDM vol. 2: E4-E7, EC-EF, 66 prefix), and REP OUTSB
 * (F3 6E, DF = 0; see port_write_string()). Returns 0 for
 * anything else, which then goes to the previous handler (a failure report).
 */
int ring3_gp_handler(struct gp_frame *f);
int ring3_gp_handler(struct gp_frame *f)
{
    if ((f->cs & 3) != 3 || f->error_code != 0)
        return 0;
    const uint8_t *code = (const uint8_t *)(uintptr_t)f->rip;
    if (code[0] == 0xf3 && code[1] == 0x6e) { /* rep outsb (DF = 0): the whole string in one trap */
        const uint8_t *bytes = (const uint8_t *)(uintptr_t)f->rsi;
        uint16_t port = (uint16_t)f->rdx;
        for (uint64_t i = 0; i < f->rcx; i++)
            outb(port, bytes[i]);
        f->rsi += f->rcx;
        f->rcx = 0;
        f->rip += 2;
        return 1;
    }
    unsigned length = 1, width = 4;
    if (code[0] == 0x66) {
        width = 2;
        code++;
        length++;
    }
    uint8_t opcode = code[0];
    uint16_t port;
    if (opcode >= 0xe4 && opcode <= 0xe7) {
        port = code[1];
        length++;
    } else if (opcode >= 0xec && opcode <= 0xef) {
        port = (uint16_t)f->rdx;
    } else {
        return 0;
    }
    if (!(opcode & 1))
        width = 1;
    int is_out = (opcode & 2) != 0;
    if (is_out) {
        if (width == 1) outb(port, (uint8_t)f->rax);
        else if (width == 2) outw(port, (uint16_t)f->rax);
        else outl(port, (uint32_t)f->rax);
    } else {
        if (width == 1) f->rax = (f->rax & ~0xffULL) | inb(port);
        else if (width == 2) f->rax = (f->rax & ~0xffffULL) | inw(port);
        else f->rax = inl(port); /* a 32-bit destination clears bits 63:32 */
    }
    f->rip += length;
    return 1;
}

void ring3_gp_entry(void);
__asm__(
    ".text\n"
    ".globl ring3_gp_entry\n"
    ".type ring3_gp_entry, @function\n"
    "ring3_gp_entry:\n"
    "    push %r11\n    push %r10\n    push %r9\n    push %r8\n    push %rdi\n"
    "    push %rsi\n    push %rdx\n    push %rcx\n    push %rax\n"
    "    mov %rsp, %rdi\n"
    "    push %rbp\n"
    "    mov %rsp, %rbp\n"
    "    and $-16, %rsp\n"
    "    call ring3_gp_handler\n"
    "    mov %rbp, %rsp\n"
    "    pop %rbp\n"
    "    test %eax, %eax\n"
    "    pop %rax\n    pop %rcx\n    pop %rdx\n    pop %rsi\n    pop %rdi\n"
    "    pop %r8\n    pop %r9\n    pop %r10\n    pop %r11\n"
    "    jz 1f\n"
    "    add $8, %rsp\n" /* the error code */
    "    iretq\n"
    "1:  jmp *ring3_previous_gp_handler(%rip)\n"
    ".size ring3_gp_entry, . - ring3_gp_entry\n");

static uint64_t gate_offset(const struct idt_gate *gate)
{
    return gate->offset_low | ((uint64_t)gate->offset_mid << 16) | ((uint64_t)gate->offset_high << 32);
}

/* A copy of the runtime's exception IDT with #GP going to ring3_gp_entry first. */
static void install_gp_handler(void)
{
    struct descriptor_pointer current;
    __asm__ volatile("sidt %0" : "=m"(current));
    const struct idt_gate *old = (const struct idt_gate *)(uintptr_t)current.base;
    unsigned entries = ((unsigned)current.limit + 1) / sizeof(struct idt_gate);
    if (entries <= VECTOR_GP)
        guest_fail("ring3: the current IDT has no #GP gate (limit %u)", current.limit);
    for (unsigned v = 0; v < EXCEPTION_VECTORS; v++)
        idt[v] = v < entries ? old[v] : (struct idt_gate){ 0 };
    ring3_previous_gp_handler = gate_offset(&old[VECTOR_GP]);
    uint64_t handler = (uintptr_t)ring3_gp_entry;
    idt[VECTOR_GP].offset_low = (uint16_t)handler;
    idt[VECTOR_GP].offset_mid = (uint16_t)(handler >> 16);
    idt[VECTOR_GP].offset_high = (uint32_t)(handler >> 32);
    struct descriptor_pointer idtr = { sizeof idt - 1, (uintptr_t)idt };
    __asm__ volatile("lidt %0" : : "m"(idtr));
}

/* Where IRETQ lands: calls fn(arg) (rsi, rdi), then reports its result. */
void ring3_trampoline(void);
__asm__(
    ".text\n"
    ".globl ring3_trampoline\n"
    ".type ring3_trampoline, @function\n"
    "ring3_trampoline:\n"
    "    call *%rsi\n"
    "    movzbl %al, %edi\n"
    "    call debug_exit\n"
    "1:  pause\n"
    "    jmp 1b\n"
    ".size ring3_trampoline, . - ring3_trampoline\n");

void ring3_run(int (*fn)(void *arg), void *arg, void *stack_top)
{
    uint64_t rsp;
    __asm__ volatile("mov %%rsp, %0" : "=r"(rsp));
    make_pages_user_accessible();
    load_gdt_and_tss((rsp - 256) & ~15ULL);
    install_gp_handler();
    uint64_t user_rsp = (uintptr_t)stack_top & ~15ULL;
    uint64_t rflags = RFLAGS_RESERVED_1 | RFLAGS_IOPL_3; /* IF = 0 */
    __asm__ volatile(
        "pushq %[ss]\n\t"
        "pushq %[rsp]\n\t"
        "pushq %[rflags]\n\t"
        "pushq %[cs]\n\t"
        "pushq %[rip]\n\t"
        "iretq\n\t"
        :
        : [ss] "i"(RING3_USER_DS), [rsp] "r"(user_rsp), [rflags] "r"(rflags), [cs] "i"(RING3_USER_CS),
          [rip] "r"((uintptr_t)ring3_trampoline), "D"(arg), "S"(fn)
        : "memory");
    __builtin_unreachable();
}
