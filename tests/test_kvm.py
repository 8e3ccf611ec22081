"""Tests of vfiolab.model.kvm (QEMU's KVM memory listener) against QEMU's rules
and real traces.

Rules: QEMU 7.2 ``accel/kvm/kvm-all.c`` (release commit b67b00e6b4):
``kvm_set_phys_mem``, ``kvm_align_section``, ``kvm_mem_flags``,
``kvm_get_free_slot``, ``kvm_lookup_matching_slot``,
``kvm_set_user_memory_region`` and ``kvm_accel_has_memory``.
Real evidence: the ``kvm_set_user_memory`` lines of
``data/references/*/trace.log`` (QEMU 7.2.22 under KVM), copied below as
literals with their file name; a test checks they are still in those files.
The trace prints ``Slot#%d flags=0x%x gpa=0x%PRIx64 size=0x%PRIx64
ua=0x%PRIx64 ret=%d`` (accel/kvm/trace-events).  When the memslot ioctls
run relative to vfio's DMA maps changed in QEMU 8.0 (f39b7d2b96,
``kvm_region_commit``); the last tests check both presets.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from vfiolab.addr import GiB, KiB, MiB
from vfiolab.model.kvm import KVM_MEM_LOG_DIRTY_PAGES, KVM_MEM_READONLY, KvmMemoryListener
from vfiolab.model.memory import UINT64_SIZE, AddressSpace, FlatView, Memory, MemoryRegion

REFS = Path(__file__).resolve().parent.parent / "data" / "references"


def trace_line(ev: dict) -> str:
    """A model event as QEMU's kvm_set_user_memory trace prints it; the
    printed slot is the uapi ``slot`` field, slot id | as_id << 16
    (kvm_set_user_memory_region)."""
    return (f"kvm_set_user_memory Slot#{ev['slot'] | ev['as_id'] << 16} flags={ev['flags']:#x} "
            f"gpa={ev['gpa']:#x} size={ev['size']:#x} ua={ev['ua']:#x} ret=0")


def kvm_lines(lines: list[str]) -> list[str]:
    return [ln for ln in lines if ln.startswith("kvm_set_user_memory ")]


def system_with_kvm(ram_size: int = 16 * MiB, ram_hva: int = 0x7f0000000000):
    """system container, RAM alias at 0, KVM listener registered."""
    mem = Memory()
    system = MemoryRegion.init_container("system", UINT64_SIZE)
    ram = MemoryRegion.init_ram("pc.ram", ram_size)
    ram.hva = ram_hva
    system.add_subregion(0, MemoryRegion.init_alias("ram-below-4g", ram, 0, ram_size))
    as_ = AddressSpace(mem, system, "memory")
    kvm = KvmMemoryListener()
    as_.register(kvm)
    kvm.events.clear()
    return mem, system, as_, kvm, ram


def live(kvm: KvmMemoryListener) -> list[tuple]:
    """(slot, flags, guest_phys_addr, memory_size, userspace_addr) of live slots."""
    return [(m.slot, m.flags, m.guest_phys_addr, m.memory_size, m.userspace_addr)
            for m in kvm.memslots()]


# ---------------------------------------------------------------------------
# Real trace literals
# ---------------------------------------------------------------------------

#: data/references/pc-512M-edu/trace.log, the whole file (-machine pc -m 512M -device edu)
PC_512M_EDU_TRACE = """\
kvm_set_user_memory Slot#0 flags=0x0 gpa=0x0 size=0x20000000 ua=0x7ff0abe00000 ret=0
kvm_set_user_memory Slot#1 flags=0x2 gpa=0xfffc0000 size=0x40000 ua=0x7ff0d7000000 ret=0
kvm_set_user_memory Slot#0 flags=0x0 gpa=0x0 size=0x0 ua=0x7ff0abe00000 ret=0
kvm_set_user_memory Slot#0 flags=0x0 gpa=0x0 size=0xc0000 ua=0x7ff0abe00000 ret=0
kvm_set_user_memory Slot#2 flags=0x2 gpa=0xc0000 size=0x20000 ua=0x7ff0d6e00000 ret=0
kvm_set_user_memory Slot#3 flags=0x2 gpa=0xe0000 size=0x20000 ua=0x7ff0d7020000 ret=0
kvm_set_user_memory Slot#4 flags=0x0 gpa=0x100000 size=0x1ff00000 ua=0x7ff0abf00000 ret=0
kvm_set_user_memory Slot#0 flags=0x0 gpa=0x0 size=0x0 ua=0x7ff0abe00000 ret=0
kvm_set_user_memory Slot#2 flags=0x0 gpa=0xc0000 size=0x0 ua=0x7ff0d6e00000 ret=0
kvm_set_user_memory Slot#3 flags=0x0 gpa=0xe0000 size=0x0 ua=0x7ff0d7020000 ret=0
kvm_set_user_memory Slot#4 flags=0x0 gpa=0x100000 size=0x0 ua=0x7ff0abf00000 ret=0
kvm_set_user_memory Slot#0 flags=0x0 gpa=0x0 size=0xd0000 ua=0x7ff0abe00000 ret=0
kvm_set_user_memory Slot#2 flags=0x2 gpa=0xd0000 size=0x10000 ua=0x7ff0d6e10000 ret=0
kvm_set_user_memory Slot#3 flags=0x2 gpa=0xe0000 size=0x10000 ua=0x7ff0d7020000 ret=0
kvm_set_user_memory Slot#4 flags=0x0 gpa=0xf0000 size=0x1ff10000 ua=0x7ff0abef0000 ret=0
kvm_set_user_memory Slot#0 flags=0x0 gpa=0x0 size=0x0 ua=0x7ff0abe00000 ret=0
kvm_set_user_memory Slot#2 flags=0x0 gpa=0xd0000 size=0x0 ua=0x7ff0d6e10000 ret=0
kvm_set_user_memory Slot#3 flags=0x0 gpa=0xe0000 size=0x0 ua=0x7ff0d7020000 ret=0
kvm_set_user_memory Slot#4 flags=0x0 gpa=0xf0000 size=0x0 ua=0x7ff0abef0000 ret=0
kvm_set_user_memory Slot#0 flags=0x0 gpa=0x0 size=0x20000000 ua=0x7ff0abe00000 ret=0
pci_update_mappings_add piix3-ide 00:01.1 4,0xc000+0x10
pci_update_mappings_add edu 00:02.0 0,0xfeb00000+0x100000
kvm_set_user_memory Slot#0 flags=0x0 gpa=0x0 size=0x0 ua=0x7ff0abe00000 ret=0
kvm_set_user_memory Slot#0 flags=0x0 gpa=0x0 size=0xc3000 ua=0x7ff0abe00000 ret=0
kvm_set_user_memory Slot#2 flags=0x0 gpa=0xc3000 size=0xd000 ua=0x7ff0abec3000 ret=0
kvm_set_user_memory Slot#3 flags=0x0 gpa=0xd0000 size=0x20000 ua=0x7ff0abed0000 ret=0
kvm_set_user_memory Slot#4 flags=0x0 gpa=0xf0000 size=0x10000 ua=0x7ff0abef0000 ret=0
kvm_set_user_memory Slot#5 flags=0x0 gpa=0x100000 size=0x1ff00000 ua=0x7ff0abf00000 ret=0
kvm_set_user_memory Slot#2 flags=0x0 gpa=0xc3000 size=0x0 ua=0x7ff0abec3000 ret=0
kvm_set_user_memory Slot#3 flags=0x0 gpa=0xd0000 size=0x0 ua=0x7ff0abed0000 ret=0
kvm_set_user_memory Slot#2 flags=0x0 gpa=0xc3000 size=0x25000 ua=0x7ff0abec3000 ret=0
kvm_set_user_memory Slot#3 flags=0x0 gpa=0xe8000 size=0x8000 ua=0x7ff0abee8000 ret=0
""".splitlines()

#: data/references/pc-1G-multi/trace.log lines 1-2 and 23-48 (PCI BARs placed by SeaBIOS;
#: ivshmem-plain BAR2 is RAM from memory-backend-ram m0, bochs-display BAR0 is its VRAM,
#: ROM BARs are option ROMs SeaBIOS maps, runs and unmaps)
PC_1G_MULTI_TRACE = """\
kvm_set_user_memory Slot#0 flags=0x0 gpa=0x0 size=0x40000000 ua=0x7fd77be00000 ret=0
kvm_set_user_memory Slot#1 flags=0x2 gpa=0xfffc0000 size=0x40000 ua=0x7fd7cda00000 ret=0
pci_update_mappings_add edu 00:02.0 0,0xfea00000+0x100000
pci_update_mappings_add ivshmem-plain 00:03.0 0,0xfebd0000+0x100
pci_update_mappings_add ivshmem-plain 00:03.0 2,0xf8000000+0x4000000
kvm_set_user_memory Slot#2 flags=0x0 gpa=0xf8000000 size=0x4000000 ua=0x7fd7c3e00000 ret=0
pci_update_mappings_add e1000e 00:04.0 0,0xfeb80000+0x20000
pci_update_mappings_add e1000e 00:04.0 1,0xfeba0000+0x20000
pci_update_mappings_add e1000e 00:04.0 2,0xc000+0x20
pci_update_mappings_add e1000e 00:04.0 3,0xfebc8000+0x4000
pci_update_mappings_add nvme 00:05.0 0,0xfebcc000+0x4000
pci_update_mappings_add virtio-net-pci 00:06.0 0,0xc020+0x20
pci_update_mappings_add virtio-net-pci 00:06.0 1,0xfebd1000+0x1000
pci_update_mappings_add virtio-net-pci 00:06.0 4,0xfd000000+0x4000
pci_update_mappings_add bochs-display 00:07.0 0,0xfc000000+0x1000000
kvm_set_user_memory Slot#3 flags=0x1 gpa=0xfc000000 size=0x1000000 ua=0x7fd7c2c00000 ret=0
pci_update_mappings_add bochs-display 00:07.0 2,0xfebd2000+0x1000
pci_update_mappings_add bochs-display 00:07.0 6,0xfebc0000+0x8000
kvm_set_user_memory Slot#4 flags=0x2 gpa=0xfebc0000 size=0x8000 ua=0x7fd7cca00000 ret=0
pci_update_mappings_del bochs-display 00:07.0 6,0xfebc0000+0x8000
kvm_set_user_memory Slot#4 flags=0x0 gpa=0xfebc0000 size=0x0 ua=0x7fd7cca00000 ret=0
pci_update_mappings_add e1000e 00:04.0 6,0xfeb00000+0x40000
kvm_set_user_memory Slot#4 flags=0x2 gpa=0xfeb00000 size=0x40000 ua=0x7fd7cce00000 ret=0
pci_update_mappings_del e1000e 00:04.0 6,0xfeb00000+0x40000
kvm_set_user_memory Slot#4 flags=0x0 gpa=0xfeb00000 size=0x0 ua=0x7fd7cce00000 ret=0
pci_update_mappings_add virtio-net-pci 00:06.0 6,0xfeb40000+0x40000
kvm_set_user_memory Slot#4 flags=0x2 gpa=0xfeb40000 size=0x40000 ua=0x7fd7ccc00000 ret=0
pci_update_mappings_del virtio-net-pci 00:06.0 6,0xfeb40000+0x40000
kvm_set_user_memory Slot#4 flags=0x0 gpa=0xfeb40000 size=0x0 ua=0x7fd7ccc00000 ret=0
""".splitlines()


def test_literals_are_in_the_captures():
    """The literals above are verbatim lines of the committed captures, in order."""
    real = (REFS / "pc-512M-edu" / "trace.log").read_text(encoding="utf-8").splitlines()
    assert real == PC_512M_EDU_TRACE
    real = (REFS / "pc-1G-multi" / "trace.log").read_text(encoding="utf-8").splitlines()
    assert real[:2] == PC_1G_MULTI_TRACE[:2]
    i = real.index(PC_1G_MULTI_TRACE[2])
    assert real[i:i + len(PC_1G_MULTI_TRACE) - 2] == PC_1G_MULTI_TRACE[2:]


# ---------------------------------------------------------------------------
# Whole-boot replay of pc-512M-edu
# ---------------------------------------------------------------------------

class Pc512MEdu:
    """The "memory" address space of pc-512M-edu, built in stages that each
    match a commit seen in the trace.

    Names, sizes, priorities and aliases come from the capture's info mtree;
    the RAMBlock host addresses from the ``ua=`` of the trace.  PAM: QEMU
    hw/pci-host/pam.c init_pam (four disabled priority-1 aliases per segment:
    [0] "pam-pci" of PCI space, [1] readonly "pam-rom" of RAM, [2] "pam-pci"
    of RAM, [3] "pam-ram" of RAM) and pam_update (disable the current alias,
    enable alias[(val >> (idx even ? 4 : 0)) & 3]); hw/pci-host/i440fx.c
    i440fx_update_memory_mappings runs pam_update for all 13 segments with
    config byte 0x59 + DIV_ROUND_UP(idx, 2) inside one transaction, on reset
    and on every config write that touches 0x59..0x5f.
    """

    def __init__(self):
        self.mem = Memory()
        self.system = MemoryRegion.init_container("system", UINT64_SIZE)
        self.pc_ram = MemoryRegion.init_ram("pc.ram", 512 * MiB)
        self.pc_ram.hva = 0x7ff0abe00000
        self.system.add_subregion(0, MemoryRegion.init_alias("ram-below-4g", self.pc_ram, 0, 512 * MiB))
        self.as_ = AddressSpace(self.mem, self.system, "memory")
        self.kvm = KvmMemoryListener()
        self.as_.register(self.kvm)
        self.config = {a: 0 for a in range(0x58, 0x60)}
        self.pam: list[list[MemoryRegion]] = []
        self.pam_current: list[int] = []

    def add_pci_and_chipset(self):
        with self.mem.transaction():
            pci = self.pci = MemoryRegion.init_container("pci", UINT64_SIZE)
            pc_rom = MemoryRegion.init_rom("pc.rom", 128 * KiB)
            pc_rom.hva = 0x7ff0d6e00000
            pci.add_subregion_overlap(0xc0000, pc_rom, 1)
            pc_bios = MemoryRegion.init_rom("pc.bios", 256 * KiB)
            pc_bios.hva = 0x7ff0d7000000
            isa_bios = MemoryRegion.init_alias("isa-bios", pc_bios, 0x20000, 128 * KiB)
            isa_bios.set_readonly(True)
            pci.add_subregion_overlap(0xe0000, isa_bios, 1)
            pci.add_subregion(0xfffc0000, pc_bios)
            self.system.add_subregion_overlap(0, pci, -1)
            self.system.add_subregion_overlap(
                0xa0000, MemoryRegion.init_alias("smram-region", pci, 0xa0000, 128 * KiB), 1)
            for idx in range(13):
                start, size = ((0xf0000, 64 * KiB) if idx == 0
                               else (0xc0000 + (idx - 1) * 16 * KiB, 16 * KiB))
                aliases = [MemoryRegion.init_alias("pam-pci", pci, start, size),
                           MemoryRegion.init_alias("pam-rom", self.pc_ram, start, size),
                           MemoryRegion.init_alias("pam-pci", self.pc_ram, start, size),
                           MemoryRegion.init_alias("pam-ram", self.pc_ram, start, size)]
                aliases[1].set_readonly(True)
                for al in aliases:
                    al.set_enabled(False)
                    self.system.add_subregion_overlap(start, al, 1)
                self.pam.append(aliases)
                self.pam_current.append(0)
            self.system.add_subregion(0xfec00000, MemoryRegion.init_io("kvm-ioapic", 4 * KiB))
            self.system.add_subregion(0xfed00000, MemoryRegion.init_io("hpet", 0x400))
            self.system.add_subregion_overlap(
                0xfee00000, MemoryRegion.init_io("kvm-apic-msi", 1 * MiB), 4096)

    def update_pam(self):
        with self.mem.transaction():
            for idx, aliases in enumerate(self.pam):
                val = self.config[0x59 + (idx + 1) // 2]
                aliases[self.pam_current[idx]].set_enabled(False)
                self.pam_current[idx] = (val >> (4 if idx % 2 == 0 else 0)) & 3
                aliases[self.pam_current[idx]].set_enabled(True)

    def cfg_write_dword(self, offset: int, value: int):
        for i in range(4):
            self.config[offset + i] = (value >> (8 * i)) & 0xff
        self.update_pam()


def test_replay_pc_512m_edu_boot():
    """QEMU kvm_set_phys_mem over the whole firmware boot of pc-512M-edu: the
    model's KVM_SET_USER_MEMORY_REGION calls are the trace, line for line
    (slot ids, flags, gpa, size and userspace address).

    The commits, in order: the RAM alias exists when the KVM listener
    registers (Slot#0); the PCI space with pc.bios goes in under it (Slot#1,
    readonly ROM: flags 0x2); reset runs i440fx_update_memory_mappings with
    all PAM bytes 0 (alias[0], the PCI space, over 0xc0000-0xfffff: pc.rom
    and isa-bios show, flags 0x2); SeaBIOS's PAM writes from
    pci_cfg_write.log (0x58 <- 0x33333000, 0x5c <- 0x33333333, then after
    the BARs 0x58 <- 0x11111000, 0x5c <- 0x33111111).  The "pam-rom"
    segments are readonly ALIASES of pc.ram and get flags 0x0 (kvm_mem_flags
    reads mr->readonly of pc.ram, not the range's readonly).
    """
    m = Pc512MEdu()
    m.add_pci_and_chipset()
    m.update_pam()                                  # machine reset
    m.cfg_write_dword(0x58, 0x33333000)             # SeaBIOS make_bios_writable
    m.cfg_write_dword(0x5c, 0x33333333)
    # BARs and the kvmvapic option ROM alias change no RAM range
    m.pci.add_subregion_overlap(0xfeb00000, MemoryRegion.init_io("edu-mmio", 1 * MiB), 1)
    m.system.add_subregion_overlap(
        0xc0000, MemoryRegion.init_alias("kvmvapic-rom", m.pc_ram, 0xc0000, 12 * KiB), 1000)
    m.cfg_write_dword(0x58, 0x11111000)             # SeaBIOS make_bios_readonly
    m.cfg_write_dword(0x5c, 0x33111111)
    assert [trace_line(e) for e in m.kvm.events] == kvm_lines(PC_512M_EDU_TRACE)
    # and the slots left are the ones the final info mtree -f marks KVM
    assert live(m.kvm) == [
        (0, 0, 0x0, 0xc3000, 0x7ff0abe00000),
        (2, 0, 0xc3000, 0x25000, 0x7ff0abec3000),
        (3, 0, 0xe8000, 0x8000, 0x7ff0abee8000),
        (4, 0, 0xf0000, 0x10000, 0x7ff0abef0000),
        (5, 0, 0x100000, 0x1ff00000, 0x7ff0abf00000),
        (1, 2, 0xfffc0000, 0x40000, 0x7ff0d7000000),
    ]


def test_replay_pc_1g_multi_bars():
    """QEMU kvm_set_phys_mem for PCI BARs (pc-1G-multi): RAM BARs get slots
    (ivshmem BAR2 flags 0x0; bochs-display VRAM flags 0x1 because
    bochs_display_realize calls memory_region_set_log(vram, true,
    DIRTY_MEMORY_VGA) and kvm_mem_flags sets KVM_MEM_LOG_DIRTY_PAGES), I/O
    BARs none, option ROM BARs (memory_region_init_rom) flags 0x2; an unmapped
    ROM BAR is the same slot re-issued with size 0 and flags 0, and
    kvm_get_free_slot hands that lowest free slot (4) to the next ROM."""
    mem = Memory()
    system = MemoryRegion.init_container("system", UINT64_SIZE)
    ram = MemoryRegion.init_ram("pc.ram", 1 * GiB)
    ram.hva = 0x7fd77be00000
    system.add_subregion(0, MemoryRegion.init_alias("ram-below-4g", ram, 0, 1 * GiB))
    pci = MemoryRegion.init_container("pci", UINT64_SIZE)
    bios = MemoryRegion.init_rom("pc.bios", 256 * KiB)
    bios.hva = 0x7fd7cda00000
    pci.add_subregion(0xfffc0000, bios)
    system.add_subregion_overlap(0, pci, -1)
    as_ = AddressSpace(mem, system, "memory")
    kvm = KvmMemoryListener()
    as_.register(kvm)

    def bar(region, addr):                # hw/pci/pci.c pci_update_mappings: priority 1
        pci.add_subregion_overlap(addr, region, 1)
        return region

    bar(MemoryRegion.init_io("edu-mmio", 1 * MiB), 0xfea00000)
    bar(MemoryRegion.init_io("ivshmem-mmio", 0x100), 0xfebd0000)
    shm = MemoryRegion.init_ram("m0", 64 * MiB)
    shm.hva = 0x7fd7c3e00000
    bar(shm, 0xf8000000)
    for name, size, addr in (("e1000e-mmio", 0x20000, 0xfeb80000), ("e1000e-flash", 0x20000, 0xfeba0000),
                             ("e1000e-msix", 0x4000, 0xfebc8000), ("nvme-bar0", 0x4000, 0xfebcc000),
                             ("virtio-net-msix", 0x1000, 0xfebd1000),
                             ("virtio-pci", 0x4000, 0xfd000000)):
        bar(MemoryRegion.init_io(name, size), addr)
    vram = MemoryRegion.init_ram("bochs-display-vram", 16 * MiB)
    vram.hva = 0x7fd7c2c00000
    vram.set_log(True, 0)                 # DIRTY_MEMORY_VGA
    bar(vram, 0xfc000000)
    bar(MemoryRegion.init_io("bochs dispi interface", 0x1000), 0xfebd2000)
    for name, size, addr, hva in (("bochs-display.rom", 0x8000, 0xfebc0000, 0x7fd7cca00000),
                                  ("e1000e.rom", 0x40000, 0xfeb00000, 0x7fd7cce00000),
                                  ("virtio-net-pci.rom", 0x40000, 0xfeb40000, 0x7fd7ccc00000)):
        rom = MemoryRegion.init_rom(name, size)
        rom.hva = hva
        bar(rom, addr)
        pci.del_subregion(rom)
    assert [trace_line(e) for e in kvm.events] == kvm_lines(PC_1G_MULTI_TRACE)


# ---------------------------------------------------------------------------
# Which ranges get a slot
# ---------------------------------------------------------------------------

class TestWhatGetsASlot:
    def test_ram_rom_ram_device_yes_io_no(self):
        """QEMU kvm_set_phys_mem: memory_region_is_ram (RAM, ROM, ram_device)
        gets a slot; a writable non-RAM region (I/O) returns at once."""
        mem, system, as_, kvm, ram = system_with_kvm()
        rom = MemoryRegion.init_rom("rom", 64 * KiB)
        rom.hva = 0x7f1000000000
        bar = MemoryRegion.init_ram_device_ptr("0000:01:00.0 BAR 0 mmaps[0]", 1 * MiB, hva=0x7f2000000000)
        io = MemoryRegion.init_io("regs", 64 * KiB)
        system.add_subregion(0x40000000, rom)
        system.add_subregion(0x50000000, bar)
        system.add_subregion(0x60000000, io)
        assert live(kvm) == [
            (0, 0, 0x0, 16 * MiB, 0x7f0000000000),
            (1, KVM_MEM_READONLY, 0x40000000, 64 * KiB, 0x7f1000000000),
            (2, 0, 0x50000000, 1 * MiB, 0x7f2000000000),
        ]
        assert all(e["gpa"] != 0x60000000 for e in kvm.events)

    def test_rom_device_romd_mode(self):
        """QEMU kvm_set_phys_mem: a ROM device (not RAM, not writable) gets a
        slot while in romd mode, flags KVM_MEM_READONLY (kvm_mem_flags:
        memory_region_is_romd); out of romd mode the add is turned into a
        delete so every access traps (pflash programming)."""
        mem, system, as_, kvm, ram = system_with_kvm()
        flash = MemoryRegion.init_rom_device("system.flash0", 256 * KiB)
        flash.hva = 0x7f3000000000
        system.add_subregion(0xffc00000, flash)
        assert live(kvm)[-1] == (1, KVM_MEM_READONLY, 0xffc00000, 256 * KiB, 0x7f3000000000)
        kvm.events.clear()
        flash.set_romd(False)
        assert [(e["slot"], e["gpa"], e["size"], e["flags"]) for e in kvm.events] == [
            (1, 0xffc00000, 0, 0)]
        assert len(live(kvm)) == 1
        flash.set_romd(True)
        assert live(kvm)[-1] == (1, KVM_MEM_READONLY, 0xffc00000, 256 * KiB, 0x7f3000000000)

    def test_readonly_alias_of_ram_is_writable_slot(self):
        """QEMU kvm_mem_flags(mr) reads mr->readonly of the section's region,
        which for an alias is the target: a readonly alias of RAM ("pam-rom")
        gets flags 0 (trace pc-512M-edu: Slot#2 flags=0x0 gpa=0xc3000
        size=0x25000), while pc.bios, a ROM, gets 0x2 (Slot#1 flags=0x2
        gpa=0xfffc0000)."""
        mem, system, as_, kvm, ram = system_with_kvm(1 * MiB)
        ro = MemoryRegion.init_alias("pam-rom", ram, 0xc0000, 16 * KiB)
        ro.set_readonly(True)
        system.add_subregion_overlap(0xc0000, ro, 1)
        fr = as_.flatview().lookup(0xc0000)
        assert fr.readonly and fr.kind() == "rom"
        slot = [s for s in live(kvm) if s[2] == 0xc0000]
        assert slot == [(slot[0][0], 0, 0xc0000, 16 * KiB, 0x7f0000000000 + 0xc0000)]

    def test_readonly_alias_of_rom_keeps_readonly(self):
        """QEMU kvm_mem_flags: the target pc.bios is readonly, so isa-bios (an
        alias of it) gets 0x2 (trace pc-512M-edu: Slot#3 flags=0x2
        gpa=0xe0000 size=0x20000 ua=0x7ff0d7020000, i.e. pc.bios + 0x20000)."""
        mem, system, as_, kvm, ram = system_with_kvm(512 * KiB)
        bios = MemoryRegion.init_rom("pc.bios", 256 * KiB)
        bios.hva = 0x7ff0d7000000
        system.add_subregion_overlap(0xe0000, MemoryRegion.init_alias("isa-bios", bios, 0x20000, 128 * KiB), 1)
        assert (1, KVM_MEM_READONLY, 0xe0000, 0x20000, 0x7ff0d7020000) in live(kvm)

    def test_dirty_logging_flag(self):
        """QEMU kvm_mem_flags: KVM_MEM_LOG_DIRTY_PAGES when the region logs;
        kvm_log_start/kvm_log_stop re-issue the flags on the same slot
        (kvm_slot_update_flags), no delete."""
        mem, system, as_, kvm, ram = system_with_kvm()
        vram = MemoryRegion.init_ram("vga.vram", 16 * MiB)
        vram.hva = 0x7f4000000000
        system.add_subregion(0xfc000000, vram)
        kvm.events.clear()
        vram.set_log(True, 0)
        assert [(e["slot"], e["flags"], e["size"]) for e in kvm.events] == [
            (1, KVM_MEM_LOG_DIRTY_PAGES, 16 * MiB)]
        kvm.events.clear()
        vram.set_log(False, 0)
        assert [(e["slot"], e["flags"], e["size"]) for e in kvm.events] == [(1, 0, 16 * MiB)]

    def test_no_readonly_slots_without_cap(self):
        """QEMU kvm_set_phys_mem + kvm_mem_flags with kvm_readonly_mem_allowed
        false: a ROM (memory_region_is_ram) still gets a slot, writable."""
        mem = Memory()
        system = MemoryRegion.init_container("system", UINT64_SIZE)
        rom = MemoryRegion.init_rom("pc.bios", 256 * KiB)
        system.add_subregion(0xfffc0000, rom)
        as_ = AddressSpace(mem, system, "memory")
        kvm = KvmMemoryListener(readonly_mem_allowed=False)
        as_.register(kvm)
        assert [(s.guest_phys_addr, s.flags) for s in kvm.memslots()] == [(0xfffc0000, 0)]


# ---------------------------------------------------------------------------
# kvm_align_section and the accelerator marker
# ---------------------------------------------------------------------------

class TestAlignment:
    def test_unaligned_head_and_tail_trimmed(self):
        """QEMU kvm_align_section: the start is rounded up to the host page and
        the size after that rounded down; the slot's userspace address moves
        by the same delta (kvm_set_phys_mem mr_offset)."""
        mem, system, as_, kvm, ram = system_with_kvm(1 * MiB)
        bar = MemoryRegion.init_ram_device_ptr("bar", 0x4000, hva=0x7f5000000000)
        system.add_subregion_overlap(0x80000800, bar, 1)
        (slot,) = [s for s in live(kvm) if s[2] >= 0x80000000]
        # 0x80000800 + 0x4000 = 0x80004800: pages 0x80001000..0x80003fff
        assert slot[1:] == (0, 0x80001000, 0x3000, 0x7f5000000000 + 0x800)

    def test_subpage_ram_device_gets_no_slot(self):
        """QEMU kvm_align_section returns 0 for a range inside one page (a
        sub-page BAR, e.g. a 0x100-byte ram_device); kvm_set_phys_mem then
        returns without a slot."""
        mem, system, as_, kvm, ram = system_with_kvm(1 * MiB)
        system.add_subregion_overlap(0x80000000,
                                     MemoryRegion.init_ram_device_ptr("tiny", 0x100, hva=0x7f6000000000), 1)
        system.add_subregion_overlap(0x80010800,
                                     MemoryRegion.init_ram_device_ptr("crossing", 0x1000, hva=0x7f6000100000), 1)
        assert kvm.events == []
        assert [s[2] for s in live(kvm)] == [0]

    def test_align_section_values(self):
        """QEMU kvm_align_section with 4 KiB host pages: (start, size) pairs."""
        kvm = KvmMemoryListener()
        root = MemoryRegion.init_container("root", UINT64_SIZE)
        cases = [((0x1000, 0x2000), (0x1000, 0x2000)),
                 ((0x1001, 0x2000), (0x2000, 0x1000)),
                 ((0x1fff, 0x0002), (0x2000, 0x0000)),
                 ((0x1800, 0x0400), (0x2000, 0x0000)),     # delta > size
                 ((0x0000, 0x1fff), (0x0000, 0x1000))]
        for (start, size), want in cases:
            r = MemoryRegion.init_ram(f"r{start:x}", size)
            root.add_subregion(start, r)
            fr = FlatView.render(root).lookup(start)
            assert kvm.align_section(fr) == want, (start, size)
            root.del_subregion(r)

    def test_marker_only_on_exact_slot(self):
        """QEMU mtree_print_flatview prints the accelerator name when
        kvm_accel_has_memory(start, size) finds a slot matching the range
        exactly (kvm_lookup_matching_slot): a trimmed range has a slot but no
        marker; a page-aligned one has both."""
        mem, system, as_, kvm, ram = system_with_kvm(1 * MiB)
        system.add_subregion_overlap(0x80000800, MemoryRegion.init_ram_device_ptr("odd", 0x4000, hva=0x7f5000000000), 1)
        system.add_subregion_overlap(0x90000000, MemoryRegion.init_ram_device_ptr("even", 0x4000, hva=0x7f5100000000), 1)
        fv = as_.flatview()
        odd, even = fv.lookup(0x80000800), fv.lookup(0x90000000)
        assert any(s[2] == 0x80001000 for s in live(kvm))
        assert not kvm.covers(odd)
        assert kvm.covers(even)
        assert kvm.covers(fv.lookup(0))


# ---------------------------------------------------------------------------
# slot ids, deletes, moves
# ---------------------------------------------------------------------------

class TestSlots:
    def test_delete_reissues_slot_with_size_zero(self):
        """QEMU kvm_set_phys_mem (delete): memory_size = 0 and flags = 0 on the
        matching slot, same slot id, gpa and userspace address (trace
        pc-1G-multi: Slot#4 flags=0x2 ... size=0x8000 then Slot#4 flags=0x0
        gpa=0xfebc0000 size=0x0 ua=0x7fd7cca00000)."""
        mem, system, as_, kvm, ram = system_with_kvm()
        rom = MemoryRegion.init_rom("x.rom", 0x8000)
        rom.hva = 0x7fd7cca00000
        system.add_subregion_overlap(0xfebc0000, rom, 1)
        system.del_subregion(rom)
        assert [trace_line(e) for e in kvm.events] == [
            "kvm_set_user_memory Slot#1 flags=0x2 gpa=0xfebc0000 size=0x8000 ua=0x7fd7cca00000 ret=0",
            "kvm_set_user_memory Slot#1 flags=0x0 gpa=0xfebc0000 size=0x0 ua=0x7fd7cca00000 ret=0",
        ]

    def test_lowest_free_slot(self):
        """QEMU kvm_get_free_slot: the first slot (lowest id) whose memory_size
        is 0, so a freed hole is reused before higher ids."""
        mem, system, as_, kvm, ram = system_with_kvm()
        regs = []
        for i in range(4):
            r = MemoryRegion.init_ram(f"r{i}", 0x1000)
            r.hva = 0x7f7000000000 + i * 0x100000
            system.add_subregion(0x40000000 + i * 0x100000, r)
            regs.append(r)
        assert [s[0] for s in live(kvm)] == [0, 1, 2, 3, 4]
        system.del_subregion(regs[1])          # frees slot 2
        system.del_subregion(regs[0])          # frees slot 1
        kvm.events.clear()
        new = MemoryRegion.init_ram("new", 0x1000)
        system.add_subregion(0x50000000, new)
        assert [(e["slot"], e["gpa"]) for e in kvm.events] == [(1, 0x50000000)]

    def test_moved_bar_is_del_then_add(self):
        """QEMU address_space_update_topology_pass: the old range is not in the
        new view (region_del, first pass) and the new one is (region_add,
        second pass); kvm_set_phys_mem deletes the old slot, then
        kvm_get_free_slot gives the same, now free, id to the new address."""
        mem, system, as_, kvm, ram = system_with_kvm()
        bar = MemoryRegion.init_ram("ivshmem.bar2", 64 * MiB)
        bar.hva = 0x7fd7c3e00000
        system.add_subregion_overlap(0xf8000000, bar, 1)
        kvm.events.clear()
        bar.set_address(0x100000000)
        assert [trace_line(e) for e in kvm.events] == [
            "kvm_set_user_memory Slot#1 flags=0x0 gpa=0xf8000000 size=0x0 ua=0x7fd7c3e00000 ret=0",
            "kvm_set_user_memory Slot#1 flags=0x0 gpa=0x100000000 size=0x4000000 ua=0x7fd7c3e00000 ret=0",
        ]

    def test_bar_over_ram_splits_ram_slot(self):
        """QEMU kvm_set_phys_mem per FlatRange: a priority-1 I/O BAR over RAM
        splits the RAM range; the old RAM slot is deleted and the two pieces
        get slots (lowest free first, in address order)."""
        mem, system, as_, kvm, ram = system_with_kvm(1 * MiB)
        system.add_subregion_overlap(0x80000, MemoryRegion.init_io("dev", 0x1000), 1)
        assert [(e["slot"], e["gpa"], e["size"]) for e in kvm.events] == [
            (0, 0x0, 0x0), (0, 0x0, 0x80000), (1, 0x81000, 0x7f000)]

    def test_as_id_in_printed_slot(self):
        """QEMU kvm_set_user_memory_region: the uapi slot is slot | as_id << 16
        (the SMM address space is as_id 1, "kvm-smram")."""
        mem = Memory()
        root = MemoryRegion.init_container("smram-root", UINT64_SIZE)
        ram = MemoryRegion.init_ram("ram", 0x1000)
        root.add_subregion(0, ram)
        as_ = AddressSpace(mem, root, "KVM-SMRAM")
        kvm = KvmMemoryListener(as_id=1)
        as_.register(kvm)
        assert trace_line(kvm.events[0]).startswith("kvm_set_user_memory Slot#65536 ")
        assert kvm.memslots()[0].as_id == 1


# --- when the memslot ioctls run: per QEMU release ----------------------------------------

def _dma_and_slots(events):
    """(what, address) for every VFIO map/unmap and KVM memslot change."""
    out = []
    for e in events:
        if e["op"] == "set_user_memory":
            out.append(("kvm_del" if e["size"] == 0 else "kvm_add", e["gpa"]))
        elif e["op"] in ("map_dma", "unmap_dma"):
            out.append((e["op"], e["iova"]))
    return out


@pytest.fixture(scope="module")
def p100_moves():
    """Tesla P100 (data/devices/gpu-nvidia-tesla-p100) BAR3, 32M, moved
    carelessly from 0x1002000000 to 0x2000000000 on both presets."""
    from vfiolab.simulate import run_story
    host = "0000:01:00.0"
    out = {}
    for stack in ("debian12", "debian13"):
        out[stack] = run_story(
            f"-M q35 -m 2G -nodefaults -device vfio-pci,host={host},id=gpu0".split(),
            host_devices={host: "data/devices/gpu-nvidia-tesla-p100"}, bdf="00:01.0", bar=3,
            moves=[(0x1002000000, "clean"), (0x2000000000, "careless")], stack=stack,
            cpu_vendor="AuthenticAMD")
    return out


A, MID, B = 0x1002000000, 0x1000000000, 0x2000000000


def test_bar_move_qemu72_kvm_inside_each_listener_call(p100_moves):
    """QEMU 7.2 (b67b00e6b4) accel/kvm/kvm-all.c ``kvm_region_del``/``_add``
    call ``kvm_set_phys_mem`` at once; softmmu/memory.c
    ``address_space_update_topology_pass`` calls region_del in Reverse
    listener order (KVM, priority 10, before vfio, priority 0) and
    region_add Forward (vfio first).  ``vfio_pci_write_config`` ->
    ``pci_update_mappings`` deletes and adds in separate transactions (each
    ``memory_region_del_subregion``/``add_subregion_overlap`` commits), so
    the low-dword write goes A -> MID, the high-dword write MID -> B."""
    ev = _dma_and_slots(p100_moves["debian12"].events("move_careless"))
    assert ev == [("kvm_del", A), ("unmap_dma", A), ("map_dma", MID), ("kvm_add", MID),
                  ("kvm_del", MID), ("unmap_dma", MID), ("map_dma", B), ("kvm_add", B)]


def test_bar_move_qemu10_kvm_at_commit(p100_moves):
    """QEMU >= 8.0 (f39b7d2b96 "kvm: Atomic memslot updates", in v8.0.0
    c1eb2ddf0f and v10.0.0 7c949c53e9): ``kvm_region_del``/``_add`` queue the
    section and ``kvm_region_commit`` (the listener's commit hook, called
    by ``memory_region_transaction_commit`` after the topology passes)
    issues the ioctls, so the vfio unmap precedes KVM's delete."""
    ev = _dma_and_slots(p100_moves["debian13"].events("move_careless"))
    assert ev == [("unmap_dma", A), ("kvm_del", A), ("map_dma", MID), ("kvm_add", MID),
                  ("unmap_dma", MID), ("kvm_del", MID), ("map_dma", B), ("kvm_add", B)]


@pytest.mark.parametrize("stack", ["debian12", "debian13"])
def test_mmaps_off_in_one_transaction(p100_moves, stack):
    """``vfio_mmap_set_enabled`` (hw/vfio/pci.c) disables the mmaps of
    BARs 0, 1 and 3 in one transaction.  7.2: per FlatRange (by address),
    KVM delete then vfio unmap; >= 8.0 (f39b7d2b96 ``kvm_region_commit``):
    every vfio unmap, then every KVM delete."""
    vm = p100_moves[stack].vm
    dev = next(d for d in vm.devices if d.type_name == "vfio-pci")
    n = len(vm.events)
    dev.set_mmaps_enabled(False)
    ev = _dma_and_slots(vm.events[n:])
    dev.set_mmaps_enabled(True)
    bars = sorted(dev.io_regions[i].addr for i in (0, 1, 3))
    if stack == "debian12":
        assert ev == [x for a in bars for x in (("kvm_del", a), ("unmap_dma", a))]
    else:
        assert ev == [("unmap_dma", a) for a in bars] + [("kvm_del", a) for a in bars]


def test_kvm_listener_reads_the_stack(p100_moves):
    """build_vm hands the VM's stack to the KVM listener."""
    assert not p100_moves["debian12"].vm.kvm.atomic_updates
    assert p100_moves["debian13"].vm.kvm.atomic_updates
