"""The VFIO type1 container, its IOMMU page table, QEMU's listener and DMA.

Expected values come from the kernel interface and QEMU's rules, named in
each test: Linux drivers/vfio/vfio_iommu_type1.c (vfio_dma_do_map,
vfio_dma_do_unmap, vfio_pin_pages_remote, vfio_iommu_iova_dma_valid),
include/uapi/linux/vfio.h, drivers/iommu/intel/iommu.c (hardware_largepage_caps,
intel_iommu_get_resv_regions), drivers/iommu/amd/iommu.c
(amd_iommu_get_resv_regions), the VT-d spec (9.8 second-level entries, 3.14
interrupt range, appendix A fault reasons) and QEMU 7.2 hw/vfio/common.c
(vfio_listener_region_add/del, vfio_dma_map, vfio_connect_container); for
emulated-only VMs the RAM sections of real ``info mtree -f`` captures.  The
P100 VM's expected DMA map list is the RAM of a real capture of the same
machine without the device (tests/fixtures/qemu-7.2/captures/q35-2G) plus its
BARs where SeaBIOS rel-1.16.2 src/fw/pciinit.c puts them (P100_GPA, worked
out by hand) -- never the model's own flat view.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from vfiolab.errors import ActionError, ConfigError, IommuError, VfiolabError
from vfiolab.model.guest import find_bdf, move_bar, set_bus_master
from vfiolab.model.host import HostAddressSpace
from vfiolab.model.iommu import (DMA_PTE_LARGE_PAGE, DMA_PTE_READ, DMA_PTE_WRITE,
                                 VFIO_DMA_MAP_FLAG_READ, VFIO_DMA_MAP_FLAG_WRITE,
                                 VFIO_DMA_UNMAP_FLAG_ALL, Type1Container, VtdPageTable,
                                 VtdShadow, decode_pte, host_config, iommu_for)
from vfiolab.model.memory import MemoryRegion
from vfiolab.model.pci import PCI_COMMAND, PCI_COMMAND_MASTER
from vfiolab.predict import predict
from vfiolab.real.reference import load_reference, reference_dirs

RW = VFIO_DMA_MAP_FLAG_READ | VFIO_DMA_MAP_FLAG_WRITE
MiB, GiB = 1 << 20, 1 << 30
ARGS = "-M q35 -m 2G -nodefaults -device vfio-pci,host=0000:01:00.0,id=gpu0".split()
HOST_DEVS = {"0000:01:00.0": "data/devices/gpu-nvidia-tesla-p100"}
P100_BAR = {0: 0x91000000, 1: 0x3B800000000, 3: 0x3BC00000000}   # lspci "Region n: Memory at"


def _host(thp: bool = True):
    """QEMU's process with 64 MiB of RAM and a 16 MiB BAR mmap (VM_PFNMAP of
    host MMIO at 0xf0000000)."""
    h = HostAddressSpace(thp=thp)
    ram = h.alloc(64 * MiB, "ram")
    bar = h.alloc(16 * MiB, "bar", "pfnmap", align=16 * MiB, hpa=0xF0000000)
    return h, ram, bar


def _errno(excinfo) -> str:
    return excinfo.value.errno_name


def _p100(**host):
    if host:
        with host_config(**host):
            return predict(ARGS, host_devices=HOST_DEVS, cpu_vendor="AuthenticAMD")
    return predict(ARGS, host_devices=HOST_DEVS, cpu_vendor="AuthenticAMD")


def _mastering(p):
    """The guest driver's pci_set_master(): without Bus Master Enable the
    device issues no DMA (test_no_dma_before_the_driver_sets_bus_master)."""
    vm = getattr(p, "vm", p)
    set_bus_master(vm, find_bdf(vm, "00:01.0"))
    return p


@pytest.fixture(scope="module")
def p100():
    return _mastering(_p100())


# --- MAP_DMA --------------------------------------------------------------------------------

def test_map_records_the_struct_and_pins_ram():
    """vfio_dma_do_map: a READ|WRITE map of RAM pins every page and counts
    it in locked_vm (vfio_pin_pages_remote, vfio_lock_acct)."""
    h, ram, _ = _host()
    c = Type1Container(h)
    assert c.map_dma(ram, 0x100000, 8 * MiB, RW) == 0
    ev = c.events[-1]
    assert (ev["op"], ev["argsz"], ev["flags"], ev["flag_names"], ev["iova"], ev["size"],
            ev["ret"]) == ("vfio_iommu_map_dma", 32, 3, "READ|WRITE", 0x100000, 8 * MiB, 0)
    assert c.locked_vm == 8 * MiB // 4096 == ev["pinned_pages"]
    assert [(d.iova, d.size, d.vaddr) for d in c.mappings()] == [(0x100000, 8 * MiB, ram)]


@pytest.mark.parametrize("vaddr_off,iova,size", [(0x800, 0, 0x1000), (0, 0x800, 0x1000),
                                                 (0, 0, 0x1800), (0, 0, 0)])
def test_map_alignment_and_size_zero_are_einval(vaddr_off, iova, size):
    """vfio_dma_do_map: ``!size || (size | iova | vaddr) & (pgsize - 1)`` ->
    -EINVAL, pgsize the smallest IOMMU page (4 KiB)."""
    h, ram, _ = _host()
    c = Type1Container(h)
    with pytest.raises(IommuError) as e:
        c.map_dma(ram + vaddr_off, iova, size, RW)
    assert _errno(e) == "EINVAL" and e.value.ret == -22
    assert c.events[-1]["ret"] == -22 and not c.mappings() and c.locked_vm == 0


@pytest.mark.parametrize("flags,argsz", [(0, 32), (RW | 1 << 3, 32), (RW, 16)])
def test_map_flags_and_argsz(flags, argsz):
    """vfio_iommu_type1_map_dma: argsz < offsetofend(size) = 32 or an unknown
    flag -> -EINVAL; vfio_dma_do_map: neither READ nor WRITE -> -EINVAL."""
    h, ram, _ = _host()
    with pytest.raises(IommuError) as e:
        Type1Container(h).map_dma(ram, 0, 0x1000, flags, argsz=argsz)
    assert _errno(e) == "EINVAL"


def test_overlap_is_eexist():
    """vfio_dma_do_map: vfio_find_dma(iova, size) finds an existing mapping -> -EEXIST,
    for a duplicate and for a partial overlap; adjacent is fine."""
    h, ram, _ = _host()
    c = Type1Container(h)
    c.map_dma(ram, 0x200000, 0x200000, RW)
    for iova, size in ((0x200000, 0x200000), (0x3ff000, 0x2000), (0x100000, 0x101000)):
        with pytest.raises(IommuError) as e:
            c.map_dma(ram + 0x400000, iova, size, RW)
        assert _errno(e) == "EEXIST"
    assert c.map_dma(ram + 0x400000, 0x400000, 0x1000, RW) == 0


def test_entry_limit_is_enospc():
    """dma_entry_limit (default U16_MAX = 65535) bounds the vfio_dma entries;
    none left -> -ENOSPC; an unmap gives one back (vfio_remove_dma dma_avail++)."""
    h, ram, _ = _host()
    assert Type1Container(h).dma_avail == 65535
    c = Type1Container(h, dma_entry_limit=2)
    c.map_dma(ram, 0, 0x1000, RW)
    c.map_dma(ram + 0x1000, 0x1000, 0x1000, RW)
    with pytest.raises(IommuError) as e:
        c.map_dma(ram + 0x2000, 0x2000, 0x1000, RW)
    assert _errno(e) == "ENOSPC" and "No space left on device" in str(e.value)
    assert c.unmap_dma(0, 0x1000) == 0x1000
    assert c.map_dma(ram + 0x2000, 0x2000, 0x1000, RW) == 0


def test_iova_ranges_exclude_the_msi_window():
    """Type1 reports the aperture minus the group's reserved regions
    (vfio_iommu_resv_exclude): Intel and AMD reserve 0xfee00000-0xfeefffff
    (IOMMU_RESV_MSI); AMD also the HyperTransport range 0xfd00000000-0xffffffffff.
    A 4-level table (48-bit width) ends the aperture at 2^48 - 1."""
    h, _, _ = _host()
    intel = Type1Container(h).get_info()
    assert intel["iova_pgsizes"] == 0x1000 | 0x200000 | 0x40000000
    assert intel["caps"]["iova_ranges"] == [(0, 0xFEDFFFFF), (0xFEF00000, (1 << 48) - 1)]
    amd = Type1Container(h, vendor="amd").get_info()
    assert amd["caps"]["iova_ranges"] == [(0, 0xFEDFFFFF), (0xFEF00000, 0xFCFFFFFFFF),
                                          (0x10000000000, (1 << 48) - 1)]
    assert Type1Container(h, vendor="amd", ht_range_ignore=True).get_info()["caps"][
        "iova_ranges"] == intel["caps"]["iova_ranges"]


@pytest.mark.parametrize("iova,size", [(0xFEE00000, 0x1000), (0xFED00000, 0x200000),
                                       (0xFEEFF000, 0x2000), (1 << 48, 0x1000)])
def test_map_outside_valid_iova_is_einval(iova, size):
    """vfio_dma_do_map: !vfio_iommu_iova_dma_valid(iova, iova + size - 1) -> -EINVAL."""
    h, ram, _ = _host()
    c = Type1Container(h)
    with pytest.raises(IommuError) as e:
        c.map_dma(ram, iova, size, RW)
    assert _errno(e) == "EINVAL"
    assert c.map_dma(ram, 0xFED00000, 0x100000, RW) == 0     # just below the window


def test_unmapped_vaddr_is_efault():
    """vaddr_get_pfns: no page to pin and no VMA -> -EFAULT."""
    h, _, _ = _host()
    with pytest.raises(IommuError) as e:
        Type1Container(h).map_dma(0x10000, 0, 0x1000, RW)
    assert _errno(e) == "EFAULT"


# --- pinning and locked memory ----------------------------------------------------------------

def test_rlimit_memlock():
    """vfio_pin_pages_remote: without CAP_IPC_LOCK, locked_vm + new pages >
    RLIMIT_MEMLOCK >> PAGE_SHIFT -> -ENOMEM, the kernel logs "RLIMIT_MEMLOCK
    (<limit in bytes>) exceeded", and the partial map is undone."""
    h, ram, bar = _host()
    c = Type1Container(h, rlimit_memlock=32 * MiB)
    c.map_dma(ram, 0, 24 * MiB, RW)
    assert c.locked_vm == 24 * MiB // 4096
    with pytest.raises(IommuError) as e:
        c.map_dma(ram + 24 * MiB, 24 * MiB, 16 * MiB, RW)
    assert _errno(e) == "ENOMEM" and e.value.ret == -12
    assert c.events[-1]["kernel_log"] == \
        "vfio_pin_pages_remote: RLIMIT_MEMLOCK (33554432) exceeded"
    assert c.locked_vm == 24 * MiB // 4096 and len(c.mappings()) == 1
    assert c.page_table.walk(24 * MiB).hpa is None
    # exactly up to the limit is allowed ("> limit" fails)
    assert c.map_dma(ram + 24 * MiB, 24 * MiB, 8 * MiB, RW) == 0
    # a VM_PFNMAP range (is_invalid_reserved_pfn) is neither pinned nor counted
    assert c.map_dma(bar, 0x10000000, 16 * MiB, RW) == 0
    assert c.events[-1]["pinned_pages"] == 0 and c.locked_vm == 32 * MiB // 4096
    # unmapping un-counts (vfio_unmap_unpin -> vfio_lock_acct(-unlocked))
    c.unmap_dma(0, 24 * MiB)
    assert c.locked_vm == 8 * MiB // 4096


def test_cap_ipc_lock_counts_without_limit():
    """__account_locked_vm: with CAP_IPC_LOCK the limit is not checked, the
    pages are still counted."""
    h, ram, _ = _host()
    c = Type1Container(h, rlimit_memlock=1 * MiB, cap_ipc_lock=True)
    c.map_dma(ram, 0, 32 * MiB, RW)
    assert c.locked_vm == 32 * MiB // 4096


# --- UNMAP_DMA ------------------------------------------------------------------------------

def test_unmap_v2_whole_mappings_only():
    """vfio_dma_do_unmap, type1v2: a range bisecting a mapping at its start or
    end -> -EINVAL; a range covering whole mappings removes them all and
    returns their bytes; nothing mapped -> 0; iova/size unaligned or 0 -> -EINVAL."""
    h, ram, _ = _host()
    c = Type1Container(h)
    c.map_dma(ram, 0x100000, 0x100000, RW)
    c.map_dma(ram + 0x100000, 0x200000, 0x100000, RW)
    for iova, size in ((0x180000, 0x80000), (0x100000, 0x80000), (0x100000, 0x180000),
                       (0x100800, 0x1000), (0x100000, 0), (0x100000, 0x800)):
        with pytest.raises(IommuError) as e:
            c.unmap_dma(iova, size)
        assert _errno(e) == "EINVAL"
    assert len(c.mappings()) == 2
    assert c.unmap_dma(0x400000, 0x100000) == 0
    assert c.unmap_dma(0, 0x400000) == 0x200000
    assert c.events[-1]["unmapped"] == 0x200000 and not c.mappings() and c.locked_vm == 0
    assert c.page_table.walk(0x100000).hpa is None


def test_unmap_v1_semantics():
    """vfio_dma_do_unmap, type1 (v1): a request offset into a mapping
    unmaps nothing (size 0, success); one covering the first IOVA of a
    mapping unmaps all of it."""
    h, ram, _ = _host()
    c = Type1Container(h, v2=False)
    c.map_dma(ram, 0x100000, 0x100000, RW)
    assert c.unmap_dma(0x180000, 0x80000) == 0
    assert c.unmap_dma(0x100000, 0x1000) == 0x100000
    assert not c.mappings()


def test_unmap_all():
    """VFIO_DMA_UNMAP_FLAG_ALL: iova and size must be 0, then everything goes."""
    h, ram, _ = _host()
    c = Type1Container(h)
    c.map_dma(ram, 0, 0x1000, RW)
    c.map_dma(ram + 0x1000, 1 << 40, 0x1000, RW)
    with pytest.raises(IommuError):
        c.unmap_dma(0, 0x1000, VFIO_DMA_UNMAP_FLAG_ALL)
    assert c.unmap_dma(0, 0, VFIO_DMA_UNMAP_FLAG_ALL) == 0x2000 and not c.mappings()


# --- the page table ---------------------------------------------------------------------------

def test_index_bits_per_level():
    """VT-d second-level walk: 9 IOVA bits per level above the 4 KiB offset:
    47:39 (SL-PML4E), 38:30 (SL-PDPE), 29:21 (SL-PDE), 20:12 (SL-PTE)."""
    iova = (0xFF << 39) | (0x1 << 30) | (0x2 << 21) | (0x3 << 12) | 0x456
    assert [VtdPageTable.index(iova, lvl) for lvl in (4, 3, 2, 1)] == [0xFF, 1, 2, 3]


def test_super_pages_and_entry_bits():
    """hardware_largepage_caps: 2 MiB (SL-PDE, PS=1) when IOVA and HPA are
    2 MiB aligned and 2 MiB remain; 1 GiB (SL-PDPE, PS=1) likewise; else
    4 KiB SL-PTEs.  Entries: R bit 0, W bit 1, PS bit 7, ADDR 51:12; a
    non-leaf entry holds the next table with R and W set."""
    t = VtdPageTable()
    assert t.map_range(0x200000, 0x80200000, 0x400000, True, True) == {0x200000: 2}
    w = t.walk(0x200000 + 0x1234)
    assert [s.level for s in w.steps] == [4, 3, 2]
    pde = w.steps[-1].entry
    assert pde == 0x80200000 | DMA_PTE_READ | DMA_PTE_WRITE | DMA_PTE_LARGE_PAGE
    assert w.hpa == 0x80201234 and w.page_size == 0x200000
    top = decode_pte(w.steps[0].entry, 4)
    assert top["R"] and top["W"] and not top["leaf"] and top["addr"] in t.tables
    # IOVA aligned but HPA only 4 KiB aligned: no super page
    assert t.map_range(0x40000000, 0x1001000, 0x200000, True, False) == {0x1000: 512}
    pte = t.walk(0x40000000).steps[-1]
    assert pte.level == 1 and pte.entry == 0x1001000 | DMA_PTE_READ
    assert t.map_range(1 << 40, 3 << 30, 1 << 30, True, True) == {1 << 30: 1}
    assert decode_pte(t.walk(1 << 40).steps[-1].entry, 3)["PS"]


def test_bar_gets_1g_pages_ram_gets_2m_with_thp_4k_without():
    """vfio_pin_map_dma maps physically contiguous runs: a BAR mmap is one run
    of MMIO (1 GiB pages where aligned); RAM is contiguous within a host page:
    2 MiB with THP, 4 KiB without."""
    h, ram, _ = _host()
    big = h.alloc(2 * GiB, "bar1", "pfnmap", align=GiB, hpa=0x38000000000)
    c = Type1Container(h)
    c.map_dma(big, 0x400000000, 2 * GiB, RW)
    assert c.events[-1]["iommu_pages"] == {"1G": 2}
    c.map_dma(ram, 0, 4 * MiB, RW)
    assert c.events[-1]["iommu_pages"] == {"2M": 2}
    h2, ram2, _ = _host(thp=False)
    c2 = Type1Container(h2)
    c2.map_dma(ram2, 0, 4 * MiB, RW)
    assert c2.events[-1]["iommu_pages"] == {"4K": 1024}


def test_unmap_clears_entries_and_frees_tables():
    """vfio_unmap_unpin -> iommu_unmap: the leaves go, and tables left empty
    are freed; only the root remains."""
    h, ram, bar = _host()
    c = Type1Container(h)
    c.map_dma(ram, 0x1000, 0x3000, RW)
    c.map_dma(bar, 1 << 40, 16 * MiB, RW)
    assert len(c.page_table.tables) > 1
    c.unmap_dma(0, 1 << 41)
    assert c.page_table.tables == {c.page_table.root: {}}
    assert c.page_table.walk(0x1000).hpa is None


def test_read_only_map_has_no_write_bit():
    """QEMU maps a read-only section with READ only; the leaf has R=1, W=0."""
    h, ram, _ = _host()
    c = Type1Container(h)
    c.map_dma(ram, 0, 0x1000, VFIO_DMA_MAP_FLAG_READ)
    e = c.page_table.walk(0).steps[-1].decoded()
    assert (e["R"], e["W"]) == (True, False)


# --- QEMU's listener on a VM with a passthrough device ------------------------------------------

#: A real capture of the P100 VM's machine without the device:
#: ``-machine q35 -accel kvm -m 2G -nodefaults`` under QEMU 7.2.22 and SeaBIOS
#: 1.16.2 (tests/fixtures/qemu-7.2/captures/q35-2G, made by vfiolab.real.capture;
#: meta.json has the versions).  The vfio-pci device adds BARs, not RAM.
Q35_2G = Path(__file__).parent / "fixtures" / "qemu-7.2" / "captures" / "q35-2G"

#: Where SeaBIOS 1.16.2 puts the P100's BARs on q35 with 2 GiB, worked out from
#: src/fw/pciinit.c (rel-1.16.2): mch_mem_addr_setup makes the 32-bit window
#: 0xc0000000-0xfec00000; pci_bios_init_root_regions_mem cannot fit 16 GiB + 32
#: MiB of prefetchable memory there, so pci_bios_map_devices migrates the 64-bit
#: entries: r64_mem is empty (base ALIGN(4 GiB, 1 GiB) = 0x100000000), r64_pref
#: starts at ALIGN(0x100000000, 16 GiB) = 0x400000000 and is filled in list order
#: (largest alignment first): BAR 1 (16 GiB) at 0x400000000, BAR 3 (32 MiB) at
#: 0x800000000.  The 32-bit MEM region (BAR 0, 16 MiB, then the AHCI's 4 KiB
#: BAR 5) starts at ALIGN_DOWN(0xfec00000 - 0x1001000, 16 MiB) = 0xfd000000.
P100_GPA = {0: (0xFD000000, 16 * MiB), 1: (0x400000000, 16 * GiB), 3: (0x800000000, 32 * MiB)}


def _captured_ram_sections(ref_dir=Q35_2G):
    """The (iova, size, write) QEMU 7.2's VFIO listener maps for the RAM of a
    real capture: hw/vfio/common.c vfio_listener_valid_section keeps RAM
    sections (memory_region_is_ram: "ram", "rom", "ramd" in ``info mtree -f``),
    vfio_listener_region_add maps them at IOVA = GPA, READ-only when
    section->readonly ("rom"), trimmed to host pages (all of these are
    page-aligned).  Parsed from the real ``info mtree -f`` text by vfiolab.inputs."""
    ref = load_reference(ref_dir)
    assert all(s.start % 4096 == 0 and s.size % 4096 == 0 for s in ref.sections
               if s.kind in ("ram", "rom", "ramd"))
    return [(s.start, s.size, s.kind != "rom") for s in ref.sections
            if s.kind in ("ram", "rom", "ramd")]


def _p100_expected():
    """The container of the P100 VM after SeaBIOS: the RAM sections of the real
    q35 2G capture, plus each BAR's whole-BAR mmap (hw/vfio/pci.c
    vfio_bar_register -> vfio_region_mmap: one "mmaps[0]" ram_device region per
    BAR, no sparse areas as the P100 has no MSI-X table) at the address SeaBIOS
    gave it (P100_GPA), writable; sorted by IOVA (the kernel's vfio_dma rb-tree)."""
    bars = [(gpa, size, True) for gpa, size in P100_GPA.values()]
    return sorted(_captured_ram_sections() + bars)


def _container_list(vm):
    return [(d.iova, d.size, d.write) for d in vm.vfio.container.mappings()]


def test_container_equals_ram_and_ramd_sections(p100):
    """The requirement: after realize and SeaBIOS, the container's map list is
    the RAM and ROM sections of the real capture plus the BAR mmaps where
    SeaBIOS put them (_p100_expected); each vaddr is QEMU's host pointer for
    that GPA: pc.ram is mapped from offset 0 at GPA 0 (hw/i386/pc.c
    pc_memory_init, ram-below-4g), pc.bios at its start, each BAR at its mmap."""
    vm = p100.vm
    assert _container_list(vm) == _p100_expected()
    host = {m.name: m.vaddr for m in vm.host.mappings}
    bar_at = {gpa: n for n, (gpa, _) in P100_GPA.items()}
    for d in vm.vfio.container.mappings():
        if d.iova in bar_at:
            want = host[f"0000:01:00.0 BAR {bar_at[d.iova]} mmaps[0]"]
        elif d.iova == 0xFFFC0000:
            want = host["pc.bios"]
        else:
            want = host["pc.ram"] + d.iova
        assert d.vaddr == want, hex(d.iova)
    assert [(m.iova, m.size) for m in vm.vfio.dma_map()] == [(i, s) for i, s, _ in _p100_expected()]


def test_page_table_reaches_what_the_host_maps(p100):
    """Every IOMMU leaf points at the HPA behind QEMU's vaddr (the page
    pinned, or the BAR's MMIO), and the leaves cover exactly the mappings."""
    vm = p100.vm
    c = vm.vfio.container
    leaves = c.page_table.leaves()
    assert sum(size for _, size, *_ in leaves) == sum(d.size for d in c.mappings())
    for d in c.mappings():
        for off in (0, d.size // 2, d.size - 0x1000):
            w = c.page_table.walk(d.iova + off)
            assert w.hpa == vm.host.translate(d.vaddr + off).hpa
    # all guest RAM is pinned: RAM and ROM sections, not the BAR mmaps
    ram_bytes = sum(d.size for d in c.mappings() if not d.chunks[0][3] == "pfnmap")
    assert c.locked_vm == ram_bytes // 4096


@pytest.mark.parametrize("ref_dir", reference_dirs(), ids=lambda p: p.name)
def test_container_of_reference_vms_equals_their_ram_sections(ref_dir):
    """Attach a container to the prediction of each real capture: what it
    maps must be the RAM/ROM/ramd sections of the *real* ``info mtree -f``
    (IOVA = GPA, read-only for "rom"), which are also its real memslots."""
    ref = load_reference(ref_dir)
    vm = predict(ref.args, cpu_vendor=ref.meta.get("host_cpu_vendor") or None).vm
    vm.vfio_container()
    want = _captured_ram_sections(ref_dir)
    got = [(d.iova, d.size, d.write) for d in vm.vfio.container.mappings()]
    assert got == want
    # KVM flags a slot read-only from the region (memory_region_is_rom), VFIO
    # from the section, so only placement is compared with the memslots.
    # KVM also gives a ROM device in ROMD mode (firmware flash, "romd" in
    # info mtree -f) a read-only slot (accel/kvm/kvm-all.c kvm_set_phys_mem:
    # memory_region_is_romd), which VFIO skips (not memory_region_is_ram)
    romd = {(s.start, s.size) for s in ref.sections if s.kind == "romd"}
    slots = sorted((m.guest_phys_addr, m.memory_size) for m in ref.memslots)
    assert [x for x in slots if x not in romd] == [(i, s) for i, s, _ in want]
    assert all(m.flags & 0x2 for m in ref.memslots
               if (m.guest_phys_addr, m.memory_size) in romd)      # KVM_MEM_READONLY


def _fresh():
    return _p100().vm


def test_unaligned_sub_page_and_bit63_sections_are_skipped():
    """vfio_listener_region_add: bit 63 -> skipped (the 64-bit BAR sizing
    artefact); address and offset disagreeing within a host page -> QEMU's
    "received unaligned region" error, nothing mapped; a ram_device section
    smaller than a page -> trace no_dma_map, nothing mapped.  The name QEMU
    prints is the section's region, the alias's target (memory_region_name(section->mr))."""
    vm = _fresh()
    assert _container_list(vm) == _p100_expected()
    start = len(vm.events)
    backing = MemoryRegion.init_ram("odd", 0x4000)
    vm.alloc_ram(backing)
    vm.system_memory.add_subregion(0x300000000,
                                   MemoryRegion.init_alias("odd-alias", backing, 0x800, 0x2000))
    tiny = MemoryRegion.init_ram_device_ptr("tiny", 0x800, hva=vm.host.alloc(0x1000, "t"))
    vm.system_memory.add_subregion(0x300100000, tiny)
    sizing = MemoryRegion.init_ram_device_ptr("sizing", 0x1000, hva=vm.host.alloc(0x1000, "s"))
    vm.system_memory.add_subregion(1 << 63, sizing)
    vm.flatview()
    ev = vm.events[start:]
    una = [e for e in ev if e["op"] == "vfio_listener_region_add_unaligned"]
    assert una[0]["message"] == ("vfio_listener_region_add received unaligned region odd "
                                 "iova=0x300000000 offset_within_region=0x800 "
                                 "qemu_real_host_page_size=0x1000")
    assert [e for e in ev if e["op"] == "vfio_listener_region_add_no_dma_map"][0]["region"] \
        == "tiny"
    assert any(e["op"] == "vfio_listener_region_add_skip" and e["start"] == 1 << 63 for e in ev)
    assert _container_list(vm) == _p100_expected()      # none of the three was mapped


# --- set-up and runtime failures, as QEMU reports them --------------------------------------------

def test_memlock_too_small_fails_realize_like_qemu():
    """QEMU 7.2: a failed RAM map during set-up is kept ("Region <name>: ")
    and vfio_connect_container fails with "memory listener initialization
    failed: "; the map error is vfio_dma_map's
    "vfio_dma_map(%p, 0x%x, 0x%x, %p) = %d (%m)".  With Linux's default 8 MiB
    RLIMIT_MEMLOCK, the 2 GiB pc.ram section (one section before SeaBIOS
    sets the PAMs) cannot be pinned: -ENOMEM."""
    with pytest.raises(IommuError) as e:
        _p100(rlimit_memlock=8 * MiB)
    assert e.value.errno_name == "ENOMEM"
    assert re.fullmatch(r"memory listener initialization failed: Region pc\.ram: "
                        r"vfio_dma_map\(0x[0-9a-f]+, 0x0, 0x80000000, 0x[0-9a-f]+\) = -12 "
                        r"\(Cannot allocate memory\)", str(e.value))
    assert isinstance(e.value, VfiolabError)
    # with CAP_IPC_LOCK (QEMU run with the capability) the limit does not apply
    vm = _p100(rlimit_memlock=8 * MiB, cap_ipc_lock=True).vm
    assert vm.vfio.initialized and vm.vfio.container.locked_vm > 8 * MiB // 4096


def test_runtime_ram_map_failure_is_fatal():
    """After set-up QEMU treats a failed RAM map as fatal: error_report_err,
    then hw_error("vfio: DMA mapping failed, unable to continue")."""
    vm = _fresh()
    c = vm.vfio.container
    c.config.rlimit_memlock = c.locked_vm * 4096
    mr = MemoryRegion.init_ram("more-ram", 2 * MiB)
    vm.alloc_ram(mr)
    with pytest.raises(IommuError, match="unable to continue") as e:
        vm.system_memory.add_subregion(0x300000000, mr)
        vm.flatview()
    assert e.value.errno_name == "ENOMEM"
    ev = [x for x in vm.events if x["op"] == "vfio_dma_map_failed"][-1]
    assert ev["fatal"] and ev["qemu_log"][0] == "VFIO_MAP_DMA failed: Cannot allocate memory"
    assert ev["qemu_log"][-1] == \
        "qemu: hardware error: vfio: DMA mapping failed, unable to continue"


def test_bar_in_amd_ht_hole_is_not_fatal_and_not_reachable():
    """On an AMD host the HyperTransport range is reserved; a BAR the guest
    puts there fails to map with -EINVAL, which QEMU 7.2 reports for a
    ram_device section and carries on (error_report_err, return); DMA to it
    then faults.  On an Intel host the same address is a valid IOVA."""
    with host_config(vendor="amd"):
        vm = _mastering(_p100().vm)
    move_bar(vm, "00:01.0", 3, 0xFD00000000)
    ev = [e for e in vm.events if e["op"] == "vfio_dma_map_failed"][-1]
    assert not ev["fatal"] and ev["errno"] == "EINVAL"
    assert re.fullmatch(r"vfio_dma_map\(0x[0-9a-f]+, 0xfd00000000, 0x2000000, 0x[0-9a-f]+\) "
                        r"= -22 \(Invalid argument\)", ev["message"])
    assert iommu_for(vm).dma("00:01.0", 0xFD00000000)[0]["op"] == "dma_fault"
    vm = _mastering(_fresh())
    move_bar(vm, "00:01.0", 3, 0xFD00000000)
    assert iommu_for(vm).dma("00:01.0", 0xFD00000000) == [
        {"op": "dma", "iova": "0xfd00000000", "hpa": hex(P100_BAR[3]), "target": "bar"}]


# --- device DMA -------------------------------------------------------------------------------

def test_dma_to_guest_ram(p100):
    """IOVA = GPA: a DMA to guest-physical 0x1234560 reaches the HPA behind
    QEMU's pointer for that guest page."""
    vm = p100.vm
    want = vm.host.translate(vm.ram.hva + 0x1234560).hpa
    assert iommu_for(vm).dma("00:01.0", 0x1234560, "write") == [
        {"op": "dma", "iova": "0x1234560", "hpa": hex(want), "target": "ram"}]


def test_dma_peer_to_peer(p100):
    """A DMA to a BAR's guest address goes to the BAR's host MMIO (the PFN
    map QEMU handed to MAP_DMA): the address lspci reported, plus the offset."""
    vm = p100.vm
    dev = find_bdf(vm, "00:01.0")
    gpa = dev.io_regions[1].addr + 0x12345000
    assert iommu_for(vm).dma("00:01.0", gpa, "read") == [
        {"op": "dma", "iova": hex(gpa), "hpa": hex(P100_BAR[1] + 0x12345000), "target": "bar"}]


def test_dma_faults(p100):
    """No present entry -> DMA remapping fault, VT-d reason 0x6 (read) / 0x5
    (write); a write to a read-only (ROM) mapping -> 0x5; beyond the 48-bit
    width -> 0x4.  Linux logs "DMAR: [DMA Read NO_PASID] Request device
    [bb:dd.f] fault addr 0x... [fault reason 0x06] PTE Read access is not set"
    with the page address and the host requester ID."""
    vm = p100.vm
    io = iommu_for(vm)
    hole = 0x90000123            # between the 2 GiB of RAM and the 32-bit PCI window
    assert io.dma("00:01.0", hole, "read") == [
        {"op": "dma_fault", "iova": "0x90000123",
         "reason": "no mapping: PTE Read access is not set (VT-d fault reason 0x06)"}]
    assert io.faults[-1]["log"] == ("DMAR: [DMA Read NO_PASID] Request device [01:00.0] fault "
                                    "addr 0x90000000 [fault reason 0x06] PTE Read access is "
                                    "not set")
    assert "0x05" in io.dma("00:01.0", hole, "write")[0]["reason"]
    rom = next(fr.start for fr in vm.flatview() if fr.readonly and fr.mr.is_ram())
    assert io.dma("00:01.0", rom, "read")[0]["op"] == "dma"
    assert io.dma("00:01.0", rom, "write")[0]["reason"] == \
        "read-only mapping: PTE Write access is not set (VT-d fault reason 0x05)"
    assert "Access beyond MGAW" in io.dma("00:01.0", 1 << 48, "read")[0]["reason"]


def test_interrupt_range(p100):
    """VT-d spec 3.14: requests without PASID to 0xfeexxxxx are not
    translated: a write is an interrupt request, a read is blocked."""
    io = iommu_for(p100.vm)
    assert io.dma("00:01.0", 0xFEE00000, "write")[0]["op"] == "interrupt_request"
    assert io.dma("00:01.0", 0xFEE00000, "read")[0]["op"] == "dma_fault"


def test_no_dma_before_the_driver_sets_bus_master():
    """SeaBIOS leaves Bus Master Enable clear on a device it does not drive
    (the real captures: "pci_cfg_write ivshmem-plain 00:01.0 @0x4 <- 0x103",
    data/references/q35-1G-ivshmem-1G/pci_cfg_write.log; 0x103 is I/O,
    memory and SERR), so right after the firmware the passed-through device
    issues no request at all (PCI Local Bus Spec 3.0 section 6.2.2, Command
    bit 2), not even an MSI write.  The driver's pci_set_master() is a
    command read and a write with bit 2 set; from then on DMA reaches RAM;
    clearing it stops DMA again."""
    vm = _fresh()
    dev = find_bdf(vm, "00:01.0")
    assert dev.config[PCI_COMMAND] & PCI_COMMAND_MASTER == 0
    io = iommu_for(vm)
    for iova, acc in ((0x1000040, "write"), (0xFEE00000, "write")):
        (ev,) = io.dma("00:01.0", iova, acc)
        assert ev["op"] == "dma_not_issued" and ev["iova"] == hex(iova)
    start = len(vm.events)
    set_bus_master(vm, dev)
    writes = [e for e in vm.events[start:] if e["op"] == "vfio_pci_write_config"]
    assert [(w["addr"], w["len"], w["val"] & PCI_COMMAND_MASTER) for w in writes] == \
        [(PCI_COMMAND, 2, PCI_COMMAND_MASTER)]
    assert io.dma("00:01.0", 0x1000040, "write")[0]["op"] == "dma"
    assert io.dma("00:01.0", 0xFEE00000, "write")[0]["op"] == "interrupt_request"
    set_bus_master(vm, dev, on=False)
    assert io.dma("00:01.0", 0x1000040, "write")[0]["op"] == "dma_not_issued"


def test_dma_needs_a_passthrough_device():
    """An emulated device's DMA is QEMU's own access, not the IOMMU's."""
    vm = predict("-M q35 -m 512M -nodefaults -device edu,id=edu0".split(),
                 cpu_vendor="AuthenticAMD").vm
    with pytest.raises(ActionError, match="emulated"):
        iommu_for(vm).dma("00:01.0", 0x1000)
    with pytest.raises(ActionError, match="no PCI function"):
        iommu_for(vm).dma("00:07.0", 0x1000)
    with pytest.raises(ActionError, match="access"):
        iommu_for(_fresh()).dma("00:01.0", 0x1000, "exec")


def test_bar_move_old_iova_faults_new_works():
    """A clean move (decode off, both dwords, decode on): region_del unmaps
    the old IOVA range (UNMAP_DMA), region_add maps the new one; DMA to the
    old address then faults and the new address reaches the same host MMIO.
    A careless move maps and unmaps the intermediate address on the way."""
    vm = _mastering(_fresh())
    io = iommu_for(vm)
    old = find_bdf(vm, "00:01.0").io_regions[3].addr
    assert io.dma("00:01.0", old + 0x1000)[0]["hpa"] == hex(P100_BAR[3] + 0x1000)
    start = len(vm.events)
    move_bar(vm, "00:01.0", 3, 0x1002000000, "clean")
    ops = [(e["op"], e["iova"]) for e in vm.events[start:] if e["op"] in ("map_dma", "unmap_dma")
           and e["region"].endswith("BAR 3 mmaps[0]")]
    assert ops == [("unmap_dma", old), ("map_dma", 0x1002000000)]
    assert io.dma("00:01.0", old + 0x1000)[0]["op"] == "dma_fault"
    assert io.dma("00:01.0", 0x1002001000) == [
        {"op": "dma", "iova": "0x1002001000", "hpa": hex(P100_BAR[3] + 0x1000), "target": "bar"}]
    start = len(vm.events)
    move_bar(vm, "00:01.0", 3, 0x2000000000, "careless")
    ops = [(e["op"], e["iova"]) for e in vm.events[start:] if e["op"] in ("map_dma", "unmap_dma")]
    assert ops == [("unmap_dma", 0x1002000000), ("map_dma", 0x1000000000),
                   ("unmap_dma", 0x1000000000), ("map_dma", 0x2000000000)]
    for gone in (0x1002000000, 0x1000000000):
        assert io.dma("00:01.0", gone)[0]["op"] == "dma_fault"
    assert io.dma("00:01.0", 0x2000000000)[0]["target"] == "bar"
    # the map list is the boot one with BAR 3 (32 MiB) at its new address
    assert _container_list(vm) == sorted(
        [m for m in _p100_expected() if m[0] != P100_GPA[3][0]] + [(0x2000000000, 32 * MiB, True)])


# --- contrast: a vIOMMU in the guest -------------------------------------------------------------

def test_viommu_shadows_guest_mappings(p100):
    """intel-iommu,caching-mode=on: the guest maps IOVA -> GPA; QEMU's
    vfio_iommu_map_notify maps IOVA -> HVA of that GPA, one vfio_dma per guest
    page; the device's IOVA then reaches the guest page, and the GPA itself is
    no longer a valid IOVA."""
    vm = p100.vm
    sh = VtdShadow(vm)
    assert not sh.container.mappings()          # no RAM mapped: the section is an IOMMU region
    ev = sh.guest_map(0x10000000, 0x200000, 0x2000)
    assert [(e["op"], e.get("kind")) for e in ev] == [
        ("vfio_iommu_map_notify", "MAP"), ("vfio_iommu_map_dma", None),
        ("vfio_iommu_map_notify", "MAP"), ("vfio_iommu_map_dma", None)]
    assert ev[2]["iova_start"] == 0x10001000 and ev[2]["iova_end"] == 0x10001FFF
    assert [(d.iova, d.size, d.vaddr) for d in sh.container.mappings()] == [
        (0x10000000, 0x1000, vm.ram.hva + 0x200000), (0x10001000, 0x1000, vm.ram.hva + 0x201000)]
    want = vm.host.translate(vm.ram.hva + 0x201010).hpa
    assert sh.dma(0x10001010, "write") == [
        {"op": "dma", "iova": "0x10001010", "hpa": hex(want), "target": "ram"}]
    assert sh.dma(0x200000)[0]["op"] == "dma_fault"
    sh.guest_unmap(0x10000000, 0x2000)
    assert sh.dma(0x10001010)[0]["op"] == "dma_fault" and not sh.container.mappings()


def test_viommu_errors(p100):
    """QEMU 7.2: without caching mode a vfio-pci device is refused; a guest
    mapping to a non-RAM GPA -> "iommu map to non memory area <offset>";
    per-page vfio_dma entries run into dma_entry_limit (-ENOSPC), and an
    IOVA in the MSI window is refused by the kernel (-EINVAL), both reported
    and not fatal."""
    with pytest.raises(ConfigError, match="caching-mode=on"):
        VtdShadow(p100.vm, caching_mode=False)
    sh = VtdShadow(p100.vm, dma_entry_limit=1)
    ev = sh.guest_map(0x1000, 0x90000000, 0x1000)
    assert ev[-1]["op"] == "vfio_iommu_map_notify_error"
    assert ev[-1]["message"].startswith("iommu map to non memory area ")
    ev = sh.guest_map(0x2000, 0x100000, 0x2000)
    fail = [e for e in ev if e["op"] == "vfio_dma_map_failed"]
    assert len(fail) == 1 and fail[0]["message"].endswith("= -28 (No space left on device)")
    sh2 = VtdShadow(p100.vm)
    ev = sh2.guest_map(0xFEE00000, 0x100000, 0x1000)
    assert ev[-1]["op"] == "vfio_dma_map_failed" and ev[-1]["errno"] == "EINVAL"


def test_host_config_is_checked_and_restored():
    with pytest.raises(ConfigError, match="unknown host setting"):
        with host_config(rlimit=1):
            pass
    with pytest.raises(ConfigError, match="vendor"):
        with host_config(vendor="arm"):
            pass
    h, _, _ = _host()
    assert Type1Container(h).config.vendor == "intel"
