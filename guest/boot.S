/*
 * vfiolab guest: Multiboot (version 1) entry point.
 *
 * The header layout (magic 0x1BADB002, flags, checksum so that the three
 * words sum to zero, within the first 8 KiB of the image) is the one the
 * Multiboot Specification 0.6.96 section 3.1 defines.  Flags used:
 *   bit 0  align modules on 4 KiB pages,
 *   bit 1  pass memory information.
 * Bit 16 (load addresses in the header) is left clear, so the loader takes
 * the addresses from the ELF program headers (QEMU hw/i386/multiboot.c
 * load_multiboot() does exactly that for a 32-bit ELF).
 *
 * On entry (Multiboot spec section 3.2): 32-bit protected mode, paging off,
 * EAX = 0x2BADB002, EBX = physical address of the Multiboot information
 * structure, interrupts disabled.  We set our own stack, clear .bss and call
 * kmain(magic, info).
 */
#define MB_MAGIC 0x1BADB002
#define MB_FLAGS 0x00000003

	.section .multiboot, "a"
	.align 4
	.long MB_MAGIC
	.long MB_FLAGS
	.long -(MB_MAGIC + MB_FLAGS)

	.text
	.globl _start
_start:
	cli
	movl %eax, %esi            /* keep the loader's magic */
	movl %ebx, %ebp            /* and the information pointer */
	cld
	movl $__bss_start, %edi    /* .bss is not in the file: zero it */
	movl $__bss_end, %ecx
	subl %edi, %ecx
	xorl %eax, %eax
	rep stosb
	movl $stack_top, %esp
	pushl %ebp
	pushl %esi
	call kmain
halt_forever:
	cli
	hlt
	jmp halt_forever

	.section .bss
	.align 16
stack_bottom:
	.skip 16384
stack_top:

	/* no executable stack wanted */
	.section .note.GNU-stack, "", @progbits
