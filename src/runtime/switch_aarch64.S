/* switch_aarch64.S — keel's context switch on aarch64 (AAPCS64).
 *
 * keel__ctx_switch(keel_ctx *save, keel_ctx *to): stores x19-x30, d8-d15
 * and fpcr in a 176-byte frame on the current stack, saves sp in save->sp,
 * loads to->sp and restores the same frame. A fresh context (ctx.c) holds
 * such a frame with x30 = keel__ctx_trampoline, x19 = arg, x20 = entry.
 *
 * The trampoline is the outermost frame of a task: its CFI says the return
 * address is undefined, so unwinders (libunwind in the errors module, gdb)
 * stop there. Built with -mbranch-protection, the file carries the GNU
 * property note saying it is BTI/PAC-ready (no indirect branch lands in it:
 * the switch is called directly and the trampoline is reached by `ret`), so
 * linking it does not turn BTI off for the whole program. */
#if defined(__aarch64__)
        .text
        .globl  keel__ctx_switch
        .hidden keel__ctx_switch
        .type   keel__ctx_switch, %function
        .p2align 4
keel__ctx_switch:
        .cfi_startproc
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
        .cfi_endproc
        .size   keel__ctx_switch, .-keel__ctx_switch

        .globl  keel__ctx_trampoline
        .hidden keel__ctx_trampoline
        .type   keel__ctx_trampoline, %function
        .p2align 4
keel__ctx_trampoline:
        .cfi_startproc
        .cfi_undefined x30
        mov     x0, x19
        blr     x20
        brk     #0
        .cfi_endproc
        .size   keel__ctx_trampoline, .-keel__ctx_trampoline

#if defined(__ARM_FEATURE_BTI_DEFAULT) || defined(__ARM_FEATURE_PAC_DEFAULT)
/* GNU_PROPERTY_AARCH64_FEATURE_1_AND: bit 0 BTI, bit 1 PAC. */
#if defined(__ARM_FEATURE_BTI_DEFAULT)
#define KEEL_AARCH64_BTI 1
#else
#define KEEL_AARCH64_BTI 0
#endif
#if defined(__ARM_FEATURE_PAC_DEFAULT)
#define KEEL_AARCH64_PAC 2
#else
#define KEEL_AARCH64_PAC 0
#endif
        .pushsection .note.gnu.property, "a"
        .balign 8
        .long   4                       /* name size */
        .long   16                      /* descriptor size */
        .long   5                       /* NT_GNU_PROPERTY_TYPE_0 */
        .asciz  "GNU"
        .long   0xc0000000              /* GNU_PROPERTY_AARCH64_FEATURE_1_AND */
        .long   4
        .long   KEEL_AARCH64_BTI | KEEL_AARCH64_PAC
        .long   0
        .popsection
#endif
#endif
        .section .note.GNU-stack,"",%progbits
