/*
 * Entry point of tkvm's test guests.
 *
 * tkvm enters here in 64-bit long mode, ring 0, interrupts off, with
 * RSI = &boot_params and RSP = 0x8ff0 (low memory we do not own), so the
 * first thing we do is move to our own stack in .bss.
 */
    .code64

    .section .text.start, "ax", @progbits
    .globl _start
    .type _start, @function
_start:
    cli
    cld
    lea     stack_top(%rip), %rsp
    xor     %ebp, %ebp
    mov     %rsi, %r12              /* boot_params; r12 is callee-saved */

    /* Zero .bss (the linker script aligns both ends to 16 bytes). */
    lea     __bss_start(%rip), %rdi
    lea     __bss_end(%rip), %rcx
    sub     %rdi, %rcx
    shr     $3, %rcx
    xor     %eax, %eax
    rep stosq

    call    idt_install
    mov     %r12, %rdi
    call    guest_main
    movzbl  %al, %edi
    call    debug_exit              /* does not return */
1:  cli
    hlt
    jmp     1b
    .size _start, . - _start

/*
 * One 16-byte stub per exception vector 0..31 (Intel SDM vol. 3, 6.15).
 * Each leaves the same frame: vector, error code (0 when the CPU pushes
 * none), then the CPU's RIP, CS, RFLAGS, RSP, SS.
 */
    .text
    .balign 16
    .globl exception_stubs
exception_stubs:
    .set vec, 0
    .rept 32
    .balign 16
    .if !((vec == 8) || (vec >= 10 && vec <= 14) || (vec == 17) || (vec == 21) || (vec == 29) || (vec == 30))
    pushq   $0
    .endif
    pushq   $vec
    jmp     exception_common
    .set vec, vec + 1
    .endr

exception_common:
    mov     %rsp, %rdi              /* struct exception_frame * */
    and     $-16, %rsp
    call    exception_report        /* does not return */
1:  cli
    hlt
    jmp     1b

    .section .bss
    .balign 16
stack_bottom:
    .skip   16384
stack_top:

    .section .note.GNU-stack, "", @progbits
