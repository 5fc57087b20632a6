/* switch_x86_64.S — keel's context switch on x86-64 (System V ABI).
 *
 * keel__ctx_switch(keel_ctx *save, keel_ctx *to): pushes the callee-saved
 * registers and the mxcsr / x87 control words on the current stack, stores
 * the stack pointer in save->sp, loads to->sp and pops the same frame.
 * A fresh context (keel__ctx_make in ctx.c) holds such a frame whose return
 * address is keel__ctx_trampoline, with r12 = arg and r13 = entry. */
#if defined(__x86_64__)
        .text
        .globl  keel__ctx_switch
        .hidden keel__ctx_switch
        .type   keel__ctx_switch, @function
        .p2align 4
keel__ctx_switch:
        .cfi_startproc
        pushq   %rbp
        pushq   %rbx
        pushq   %r12
        pushq   %r13
        pushq   %r14
        pushq   %r15
        subq    $8, %rsp
        stmxcsr (%rsp)
        fnstcw  4(%rsp)
        movq    %rsp, (%rdi)
        movq    (%rsi), %rsp
        ldmxcsr (%rsp)
        fldcw   4(%rsp)
        addq    $8, %rsp
        popq    %r15
        popq    %r14
        popq    %r13
        popq    %r12
        popq    %rbx
        popq    %rbp
        ret
        .cfi_endproc
        .size   keel__ctx_switch, .-keel__ctx_switch

        .globl  keel__ctx_trampoline
        .hidden keel__ctx_trampoline
        .type   keel__ctx_trampoline, @function
        .p2align 4
keel__ctx_trampoline:
        .cfi_startproc
        .cfi_undefined rip
        movq    %r12, %rdi
        callq   *%r13
        ud2
        .cfi_endproc
        .size   keel__ctx_trampoline, .-keel__ctx_trampoline
#endif
        .section .note.GNU-stack,"",%progbits
