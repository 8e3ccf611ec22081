/*
 * vfiolab guest: a bare-metal program that performs a list of guest
 * actions, one at a time, so that QEMU's trace shows what each one caused.
 *
 * The list arrives as the first Multiboot module (QEMU: -initrd FILE).  Its
 * format is described in guest/README.md and written by
 * vfiolab/guestcap.py encode_ops().  Each record is one operation:
 *
 *   MARK        print "@<n>\n" on the debug console (a boundary in the trace)
 *   READ32      one 4-byte load from a guest-physical address
 *   WRITE32     one 4-byte store to a guest-physical address
 *   CFG_READ    PCI configuration read through ports 0xCF8/0xCFC
 *   CFG_WRITE   PCI configuration write through ports 0xCF8/0xCFC
 *   CFG_UPDATE  read, then write (old & ~clear) | set, same register
 *
 * Configuration mechanism #1 (PCI Local Bus Specification 3.0, section
 * 3.2.2.3.2): write 0x80000000 | bus << 16 | device << 11 | function << 8 |
 * (register & 0xFC) to port 0xCF8, then access port 0xCFC + (register & 3)
 * with the access size.
 *
 * Addresses: the guest turns on 4-level (IA-32e) paging but keeps running
 * 32-bit code, i.e. in compatibility mode (Intel SDM vol. 3A sections 4.5
 * and 9.8.5: CR4.PAE, CR3, EFER.LME, then CR0.PG).  The low 4 GiB are
 * identity-mapped with 2 MiB pages; an address at or above 4 GiB is reached
 * by pointing the 2 MiB page at virtual 4 MiB to it for the one access and
 * restoring the identity mapping afterwards.  Why not plain PAE paging: on
 * the nested (PVM) KVM this project was captured on, setting CR0.PG in
 * legacy 32-bit or PAE mode resets the guest, while IA-32e paging works
 * (see guest/README.md).
 *
 * Output, all on the debug console (QEMU isa-debugcon, port 0x402):
 *   "vfiolab-guest start ops=<n>\n"   once, before the first operation
 *   "@<n>\n"                           per MARK
 *   "R <i> 0x<value>\n"                per operation that read something,
 *                                      after the last operation
 *   "done\n" or "error: <why>\n"       last; then the CPU halts for good
 *
 * Freestanding: no C library, no headers.
 */

typedef unsigned char u8;
typedef unsigned short u16;
typedef unsigned int u32;
typedef unsigned long long u64;

#define DEBUGCON_PORT 0x402
#define PCI_CONFIG_ADDRESS 0xCF8
#define PCI_CONFIG_DATA 0xCFC

#define MB_BOOT_MAGIC 0x2BADB002u     /* Multiboot spec 3.2: EAX on entry */
#define MB_INFO_MODS (1u << 3)        /* Multiboot spec 3.3: mods_* valid */

#define ACT_MAGIC 0x41474656u         /* "VFGA" little-endian */
#define ACT_VERSION 1u
#define ACT_RECORD_SIZE 24u
#define MAX_OPS 4096u

enum { OP_MARK = 1, OP_READ32 = 2, OP_WRITE32 = 3, OP_CFG_READ = 4,
       OP_CFG_WRITE = 5, OP_CFG_UPDATE = 6 };

/* Multiboot spec 3.3: the information structure (only the fields we use). */
struct mb_info {
	u32 flags, mem_lower, mem_upper, boot_device, cmdline;
	u32 mods_count, mods_addr;
};
struct mb_module { u32 mod_start, mod_end, string, reserved; };

struct act_header { u32 magic, version, count, record_size; };
struct act_record { u32 op, size; u32 addr_lo, addr_hi; u32 value, clear; };

/* --- port I/O -------------------------------------------------------- */
static inline void outb(u16 port, u8 v) { __asm__ volatile("outb %0, %1" : : "a"(v), "Nd"(port)); }
static inline void outw(u16 port, u16 v) { __asm__ volatile("outw %0, %1" : : "a"(v), "Nd"(port)); }
static inline void outl(u16 port, u32 v) { __asm__ volatile("outl %0, %1" : : "a"(v), "Nd"(port)); }
static inline u8 inb(u16 port) { u8 v; __asm__ volatile("inb %1, %0" : "=a"(v) : "Nd"(port)); return v; }
static inline u16 inw(u16 port) { u16 v; __asm__ volatile("inw %1, %0" : "=a"(v) : "Nd"(port)); return v; }
static inline u32 inl(u16 port) { u32 v; __asm__ volatile("inl %1, %0" : "=a"(v) : "Nd"(port)); return v; }

/* --- debug console ------------------------------------------------------ */
static void putc(char c) { outb(DEBUGCON_PORT, (u8)c); }
static void puts(const char *s) { while (*s) putc(*s++); }
static void putdec(u32 v)
{
	char buf[12];
	int n = 0;
	do { buf[n++] = (char)('0' + v % 10); v /= 10; } while (v);
	while (n) putc(buf[--n]);
}
static void puthex(u32 v)
{
	int i;
	puts("0x");
	for (i = 28; i >= 0; i -= 4)
		putc("0123456789abcdef"[(v >> i) & 0xF]);
}

/* --- paging (4-level, 2 MiB pages, 32-bit compatibility mode) ---------- */
#define PTE_P 0x1ull
#define PTE_RW 0x2ull
#define PTE_PS 0x80ull                /* PDE maps a 2 MiB page */
#define BIG_PAGE 0x200000u
#define WINDOW_VA 0x400000u           /* the 2 MiB page used for high addresses */
#define WINDOW_PDE 2                  /* pd[0][2] maps virtual 4 MiB .. 6 MiB */
#define MSR_EFER 0xC0000080u
#define EFER_LME (1u << 8)

static u64 pml4[512] __attribute__((aligned(4096)));
static u64 pdpt[512] __attribute__((aligned(4096)));
static u64 pd[4][512] __attribute__((aligned(4096)));

static void paging_on(void)
{
	u32 i, j, cr, lo, hi;
	for (i = 0; i < 4; i++) {
		pdpt[i] = (u64)(u32)&pd[i][0] | PTE_RW | PTE_P;
		for (j = 0; j < 512; j++)
			pd[i][j] = ((u64)i << 30 | (u64)j * BIG_PAGE) | PTE_PS | PTE_RW | PTE_P;
	}
	pml4[0] = (u64)(u32)pdpt | PTE_RW | PTE_P;
	__asm__ volatile("mov %%cr4, %0" : "=r"(cr));
	cr |= 1u << 5;                                  /* CR4.PAE */
	__asm__ volatile("mov %0, %%cr4" : : "r"(cr));
	__asm__ volatile("mov %0, %%cr3" : : "r"((u32)pml4) : "memory");
	__asm__ volatile("rdmsr" : "=a"(lo), "=d"(hi) : "c"(MSR_EFER));
	lo |= EFER_LME;                                 /* IA-32e mode enable */
	__asm__ volatile("wrmsr" : : "a"(lo), "d"(hi), "c"(MSR_EFER));
	__asm__ volatile("mov %%cr0, %0" : "=r"(cr));
	cr |= 1u << 31;                                 /* CR0.PG: IA-32e mode active */
	__asm__ volatile("mov %0, %%cr0" : : "r"(cr) : "memory");
}

static void set_window(u64 base)
{
	pd[0][WINDOW_PDE] = base | PTE_PS | PTE_RW | PTE_P;
	__asm__ volatile("invlpg (%0)" : : "r"(WINDOW_VA) : "memory");
}

/* A pointer for guest-physical gpa; opens the window when gpa >= 4 GiB. */
static volatile u32 *map_gpa(u64 gpa, int *windowed)
{
	if (gpa >> 32) {
		set_window(gpa & ~(u64)(BIG_PAGE - 1));
		*windowed = 1;
		return (volatile u32 *)(WINDOW_VA + ((u32)gpa & (BIG_PAGE - 1)));
	}
	*windowed = 0;
	return (volatile u32 *)(u32)gpa;
}

static void unmap_gpa(int windowed)
{
	if (windowed)
		set_window(WINDOW_VA);                  /* back to the identity map */
}

/* Exactly one 4-byte load or store instruction each. */
static inline u32 load32(volatile u32 *p) { u32 v; __asm__ volatile("movl (%1), %0" : "=r"(v) : "r"(p) : "memory"); return v; }
static inline void store32(volatile u32 *p, u32 v) { __asm__ volatile("movl %0, (%1)" : : "r"(v), "r"(p) : "memory"); }

/* --- PCI configuration mechanism #1 ------------------------------------- */
static u32 cfg_read(u32 address, u32 size)
{
	u16 port = (u16)(PCI_CONFIG_DATA + (address & 3));
	outl(PCI_CONFIG_ADDRESS, address & ~3u);
	if (size == 1) return inb(port);
	if (size == 2) return inw(port);
	return inl(port);
}

static void cfg_write(u32 address, u32 size, u32 value)
{
	u16 port = (u16)(PCI_CONFIG_DATA + (address & 3));
	outl(PCI_CONFIG_ADDRESS, address & ~3u);
	if (size == 1) outb(port, (u8)value);
	else if (size == 2) outw(port, (u16)value);
	else outl(port, value);
}

/* --- the action list ---------------------------------------------------- */
static u32 results[MAX_OPS];
static u8 has_result[MAX_OPS];

static void fail(const char *why)
{
	puts("error: ");
	puts(why);
	putc('\n');
}

static int size_ok(u32 size) { return size == 1 || size == 2 || size == 4; }

void kmain(u32 magic, struct mb_info *mbi)
{
	const struct mb_module *mod;
	const struct act_header *hdr;
	const struct act_record *rec;
	u32 i, len;

	if (magic != MB_BOOT_MAGIC) { fail("not started by a Multiboot loader"); return; }
	if (!(mbi->flags & MB_INFO_MODS) || mbi->mods_count < 1) {
		fail("no Multiboot module (pass the action list with -initrd)");
		return;
	}
	mod = (const struct mb_module *)mbi->mods_addr;
	len = mod->mod_end - mod->mod_start;
	if (mod->mod_end > WINDOW_VA) { fail("module ends above 4 MiB"); return; }
	hdr = (const struct act_header *)mod->mod_start;
	if (len < sizeof(*hdr) || hdr->magic != ACT_MAGIC) { fail("bad action list magic"); return; }
	if (hdr->version != ACT_VERSION) { fail("unsupported action list version"); return; }
	if (hdr->record_size != ACT_RECORD_SIZE) { fail("bad action record size"); return; }
	if (hdr->count > MAX_OPS || hdr->count * ACT_RECORD_SIZE > len - sizeof(*hdr)) {
		fail("action list truncated or too long");
		return;
	}
	rec = (const struct act_record *)(hdr + 1);

	paging_on();
	puts("vfiolab-guest start ops=");
	putdec(hdr->count);
	putc('\n');

	for (i = 0; i < hdr->count; i++, rec++) {
		u64 addr = (u64)rec->addr_hi << 32 | rec->addr_lo;
		volatile u32 *p;
		int win;
		switch (rec->op) {
		case OP_MARK:
			putc('@');
			putdec(rec->value);
			putc('\n');
			break;
		case OP_READ32:
			p = map_gpa(addr, &win);
			results[i] = load32(p);
			has_result[i] = 1;
			unmap_gpa(win);
			break;
		case OP_WRITE32:
			p = map_gpa(addr, &win);
			store32(p, rec->value);
			unmap_gpa(win);
			break;
		case OP_CFG_READ:
			if (!size_ok(rec->size)) { fail("bad config access size"); return; }
			results[i] = cfg_read(rec->addr_lo, rec->size);
			has_result[i] = 1;
			break;
		case OP_CFG_WRITE:
			if (!size_ok(rec->size)) { fail("bad config access size"); return; }
			cfg_write(rec->addr_lo, rec->size, rec->value);
			break;
		case OP_CFG_UPDATE:
			if (!size_ok(rec->size)) { fail("bad config access size"); return; }
			results[i] = cfg_read(rec->addr_lo, rec->size);
			has_result[i] = 1;
			cfg_write(rec->addr_lo, rec->size, (results[i] & ~rec->clear) | rec->value);
			break;
		default:
			fail("unknown operation");
			return;
		}
	}
	for (i = 0; i < hdr->count; i++) {
		if (!has_result[i])
			continue;
		puts("R ");
		putdec(i);
		putc(' ');
		puthex(results[i]);
		putc('\n');
	}
	puts("done\n");
}
