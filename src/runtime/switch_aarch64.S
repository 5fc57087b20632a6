/* switch_aarch64.S — keel's context switch on aarch64 (AAPCS64).
 *
 * keel__ctx_switch(keel_ctx *save, keel_ctx *to): stores x19-x30, d8-d15
 * and fpcr in a 176-byte frame on the current stack, saves sp in save->sp,
 * loads to->sp and restores the same frame. A fresh context (ctx.c) holds
 * such a frame with x30 = keel__ctx_trampoline, x19 = arg, x20 = entry. */
#if defined(__aarch64__)
        .text
        .globl  keel__ctx_switch
        .hidden keel__ctx_switch
        .type   keel__ctx_switch, %function
        .p2align 4
keel__ctx_switch:
        sub     sp, sp, #176
        stp     x19, x20, [sp, #0]
        stp     x21, x22, [sp, #16]
        stp     x23, x24, [sp, #32]
        stp     x25, x26, [sp, #48]
        stp     x27, x28, [sp, #64]
        stp     x29, x30, [sp, #80]
        stp     d8, d9, [sp, #96]
        stp     d10, d11, [sp, #112]
        stp     d12, d13, [sp, #128]
        stp     d14, d15, [sp, #144]
        mrs     x9, fpcr
        str     x9, [sp, #160]
        mov     x9, sp
        str     x9, [x0]
        ldr     x9, [x1]
        mov     sp, x9
        ldp     x19, x20, [sp, #0]
        ldp     x21, x22, [sp, #16]
        ldp     x23, x24, [sp, #32]
        ldp     x25, x26, [sp, #48]
        ldp     x27, x28, [sp, #64]
        ldp     x29, x30, [sp, #80]
        ldp     d8, d9, [sp, #96]
        ldp     d10, d11, [sp, #112]
        ldp     d12, d13, [sp, #128]
        ldp     d14, d15, [sp, #144]
        ldr     x9, [sp, #160]
        msr     fpcr, x9
        add     sp, sp, #176
        ret
        .size   keel__ctx_switch, .-keel__ctx_switch

        .globl  keel__ctx_trampoline
        .hidden keel__ctx_trampoline
        .type   keel__ctx_trampoline, %function
        .p2align 4
keel__ctx_trampoline:
        mov     x0, x19
        blr     x20
        brk     #0
        .size   keel__ctx_trampoline, .-keel__ctx_trampoline
#endif
        .section .note.GNU-stack,"",%progbits
