"""vfio-pci: the kernel's regions, QEMU's BAR trees, config emulation, the story.

Expected values come from the rules of the sources named in each test
(Linux drivers/vfio/pci/vfio_pci_core.c, include/uapi/linux/vfio.h; QEMU 7.2
hw/vfio/pci.c and common.c, softmmu/memory.c, accel/kvm/kvm-all.c) applied
to the numbers in the real device dumps of data/devices/ (each folder's
source.txt says where the dump comes from).
"""

from __future__ import annotations

import pytest

from vfiolab.errors import ConfigError, DeviceError
from vfiolab.inputs.hostdevs import load_host_device
from vfiolab.model.memory import format_mtree
from vfiolab.simulate import run_story
from vfiolab.model.vfio import (VFIO_REGION_INFO_FLAG_CAPS, VFIO_REGION_INFO_FLAG_MMAP,
                                VFIO_REGION_INFO_FLAG_READ, VFIO_REGION_INFO_FLAG_WRITE,
                                config_owners, region_infos)
from vfiolab.predict import predict

RW = VFIO_REGION_INFO_FLAG_READ | VFIO_REGION_INFO_FLAG_WRITE
HOST = "0000:01:00.0"


def _predict(device: str, machine="q35", ram="4G", extra="", stack=None):
    args = f"-M {machine} -m {ram} -nodefaults -device vfio-pci,host={HOST},id=pt0{extra}".split()
    return predict(args, host_devices={HOST: f"data/devices/{device}"}, cpu_vendor="AuthenticAMD",
                   stack=stack)


def _vdev(p):
    return next(d for d in p.vm.devices if d.type_name == "vfio-pci")


# --- the kernel's region info -------------------------------------------------

def test_connectx7_regions_modern_kernel():
    """ConnectX-7 (lspci: Region 0: 64-bit prefetchable [size=32M]; MSI-X
    Vector table BAR=0 offset=00002000; Expansion ROM [size=1M]): BAR0 is
    READ|WRITE|MMAP and, from Linux 4.16, MSIX_MAPPABLE (so CAPS); BARs 1-5
    are empty; the ROM is READ only; config is 4 KiB (PCIe); each region at
    index << 40 (VFIO_PCI_INDEX_TO_OFFSET)."""
    hd = load_host_device("data/devices/nic-mellanox-connectx7")
    r = {x.index: x for x in region_infos(hd, kernel=(6, 8))}
    assert r[0].size == 32 << 20 and r[0].offset == 0
    assert r[0].flags == RW | VFIO_REGION_INFO_FLAG_MMAP | VFIO_REGION_INFO_FLAG_CAPS
    assert r[0].msix_mappable and r[0].sparse is None
    assert all(r[i].size == 0 and r[i].flags == 0 for i in range(1, 6))
    assert (r[6].size, r[6].flags, r[6].offset) == (1 << 20, VFIO_REGION_INFO_FLAG_READ, 6 << 40)
    assert (r[7].size, r[7].flags, r[7].offset) == (4096, RW, 7 << 40)


def test_connectx7_regions_old_kernel_sparse():
    """Before Linux 4.16 the MSI-X BAR's sparse mmap leaves out the pages of
    the table: 64 entries * 16 bytes at 0x2000 -> the page 0x2000-0x2fff."""
    hd = load_host_device("data/devices/nic-mellanox-connectx7")
    r0 = region_infos(hd, kernel=(4, 15))[0]
    assert not r0.msix_mappable
    assert r0.sparse == ((0, 0x2000), (0x3000, (32 << 20) - 0x3000))


def test_io_bar_never_mmap():
    """X520 Region 2: I/O ports [size=32]: vfio_pci_probe_mmaps only maps
    IORESOURCE_MEM."""
    hd = load_host_device("data/devices/nic-intel-x520")
    r = {x.index: x for x in region_infos(hd)}
    assert r[2].size == 32 and r[2].flags == RW


def test_vga_region_for_a_vga_class_gpu_named_without_nn():
    """RTX 6000 Ada, lspci -vvv without -nn: "01:00.0 VGA compatible
    controller: NVIDIA Corporation AD102GL ...".  pci.ids: "VGA compatible
    controller" is subclass 03 00.  Linux (6.1 and 6.12)
    drivers/vfio/pci/vfio_pci_priv.h ``vfio_pci_is_vga``: (class >> 8) ==
    0x0300 -> ``has_vga``; vfio_pci_core.c ``vfio_pci_ioctl_get_region_info``
    VFIO_PCI_VGA_REGION_INDEX (8): size 0xc0000, READ|WRITE, offset
    VFIO_PCI_INDEX_TO_OFFSET(8) = 8 << 40.  A "3D controller" (0x0302, Tesla
    P100) and an Ethernet controller get no region 8 (the ioctl's -EINVAL)."""
    gpu = load_host_device("data/devices/gpu-nvidia-rtx6000-ada")
    r8 = [(x.size, x.flags, x.offset) for x in region_infos(gpu) if x.index == 8]
    assert r8 == [(0xc0000, RW, 0x80000000000)]
    for other in ("gpu-nvidia-tesla-p100", "nic-intel-x520"):
        assert not any(x.index == 8 for x in region_infos(load_host_device(f"data/devices/{other}")))


def test_vga_class_gpu_boots_with_vendor_and_class_from_names():
    """The guest's copy of config space (vfio_realize copies the device's):
    vendor 10de (pci.ids "NVIDIA Corporation"), class 0300 (pci.ids "VGA
    compatible controller"), device ID unknown without -nn (a note says so)."""
    d = _vdev(_predict("gpu-nvidia-rtx6000-ada", ram="2G"))
    assert d.config_read(0, 2) == 0x10de and d.config_read(0x0a, 2) == 0x0300
    assert "device ID unknown" in d.id_note


def test_unknown_vendor_name_is_refused():
    """A vendor name vfiolab cannot turn into an ID (pci.ids gives "Red Hat,
    Inc." to both 1af4 and 1b36) is refused, not guessed."""
    from vfiolab.inputs.lspci import parse_lspci_vvv
    from vfiolab.model.vfio import check_host_device
    (hd,) = parse_lspci_vvv("01:00.0 Ethernet controller: Red Hat, Inc. Virtio network device\n"
                            "\tRegion 0: Memory at fe000000 (32-bit, non-prefetchable) [size=4K]\n")
    with pytest.raises(DeviceError, match="vendor ID.*1af4 and 1b36"):
        check_host_device(hd)


# --- the ROM region ------------------------------------------------------------------

def _x520_bad_rom():
    from vfiolab.inputs.lspci import apply_kernel_log
    hd = load_host_device("data/devices/nic-intel-x520")
    (bad,) = apply_kernel_log([hd], "pci 0000:83:00.0: Invalid PCI ROM header signature: "
                                    "expecting 0xaa55, got 0xffff")
    return hd, bad


def test_rom_region_valid_and_unreadable_image():
    """Linux vfio_pci_core.c ``vfio_pci_ioctl_get_region_info``
    VFIO_PCI_ROM_REGION_INDEX (6.1 and 6.12): size = the ROM BAR's length
    (X520: "Expansion ROM at ... [size=512K]"), then ``pci_map_rom``: on
    success flags READ; on failure (drivers/pci/rom.c: no 0xAA55 first
    image) size 0, flags 0.  Offset 6 << 40 either way."""
    good, bad = _x520_bad_rom()
    r6 = {x.index: x for x in region_infos(good)}[6]
    assert (r6.size, r6.flags, r6.offset) == (0x80000, VFIO_REGION_INFO_FLAG_READ, 6 << 40)
    r6 = {x.index: x for x in region_infos(bad)}[6]
    assert (r6.size, r6.flags, r6.offset) == (0, 0, 6 << 40)


def test_unreadable_rom_still_has_a_rom_bar_and_qemu_complains_on_read():
    """Linux vfio_pci_config.c ``vfio_bar_fixup``: the virtual ROM BAR keeps
    the resource's size even when REGION_INFO reported 0; QEMU
    ``vfio_pci_size_rom`` sizes its ROM BAR from it, so the guest sees a
    512K ROM BAR; the first guest read (``vfio_rom_read`` ->
    ``vfio_pci_load_rom``) finds size 0 and logs "vfio-pci: Cannot read
    device rom at <name>"."""
    _, bad = _x520_bad_rom()
    args = f"-M q35 -m 2G -nodefaults -device vfio-pci,host={HOST},id=pt0".split()
    p = predict(args, host_devices={HOST: bad}, cpu_vendor="AuthenticAMD")
    d = _vdev(p)
    assert d.io_regions[6].size == 512 << 10
    assert d.rom_read(0, 2) is None
    ev = [e for e in p.vm.events if e["op"] == "vfio_pci_load_rom"]
    assert len(ev) == 1 and ev[0]["qemu_log"][0] == f"vfio-pci: Cannot read device rom at {HOST}"
    d.rom_read(2, 2)
    assert len([e for e in p.vm.events if e["op"] == "vfio_pci_load_rom"]) == 1


# --- QEMU's BAR trees -------------------------------------------------------------

def test_bar_tree_names_and_nesting():
    """vfio_bar_register: "<bdf> base BAR n" (I/O, no callbacks) holds the
    slow path "<bdf> BAR n", which holds "<bdf> BAR n mmaps[0]" (ramd); the
    emulated msix-table sits in the base BAR at the table offset."""
    p = _predict("nic-mellanox-connectx7")
    bar0 = _vdev(p).io_regions[0].memory
    text = format_mtree([(["t"], bar0)])
    base = p.vm.devices[-1].io_regions[0].addr
    assert f"(prio 1, i/o): {HOST} base BAR 0" in text
    assert f"(prio 0, i/o): {HOST} BAR 0\n" in text
    assert f"(prio 0, ramd): {HOST} BAR 0 mmaps[0]" in text
    assert f"{base + 0x2000:016x}-{base + 0x23ff:016x} (prio 0, i/o): msix-table" in text


def test_msix_in_bar0_flatview_and_memslots():
    """Whole-BAR mmap with the emulated table on top (MSIX_MAPPABLE): the flat
    view is ramd, msix-table, ramd; the PBA is disabled (vfio_msix_setup),
    so it does not show.  KVM trims the second ramd range to whole pages
    (kvm_align_section): its memslot starts at the next page, and the range
    itself gets no KVM marker (no slot matches it exactly)."""
    p = _predict("nic-mellanox-connectx7")
    base = _vdev(p).io_regions[0].addr
    secs = [(s.start - base, s.end - base, s.kind, s.name, s.kvm) for s in p.sections()
            if base <= s.start < base + (32 << 20)]
    assert secs == [
        (0, 0x1fff, "ramd", f"{HOST} BAR 0 mmaps[0]", True),
        (0x2000, 0x23ff, "i/o", "msix-table", False),
        (0x2400, (32 << 20) - 1, "ramd", f"{HOST} BAR 0 mmaps[0]", False),
    ]
    slots = sorted((m.guest_phys_addr - base, m.memory_size) for m in p.memslots()
                   if base <= m.guest_phys_addr < base + (32 << 20))
    assert slots == [(0, 0x2000), (0x3000, (32 << 20) - 0x3000)]


def test_tesla_t4_regions():
    """Tesla T4 (lspci: Region 0 32-bit [size=16M] with MSI-X Vector table
    BAR=0 offset=00b90000, Count=6; Regions 1 and 3 64-bit prefetchable 256M
    and 32M; class 3D controller, no expansion ROM line): BAR0 is
    MSIX_MAPPABLE from Linux 4.16 (CAPS); before, its sparse mmap leaves out
    the page of the 0x60-byte table only (the PBA page stays mappable:
    vfio_pci msix_sparse_mmap_cap carved out the table alone).  BARs 2 and 4
    are the upper halves of 64-bit BARs 1 and 3, so empty; no VGA region
    for a 3D controller."""
    hd = load_host_device("data/devices/gpu-nvidia-tesla-t4")
    r = {x.index: x for x in region_infos(hd, kernel=(6, 8))}
    assert r[0].size == 16 << 20
    assert r[0].flags == RW | VFIO_REGION_INFO_FLAG_MMAP | VFIO_REGION_INFO_FLAG_CAPS
    assert (r[1].size, r[1].offset, r[1].flags) == (256 << 20, 1 << 40, RW | VFIO_REGION_INFO_FLAG_MMAP)
    assert (r[3].size, r[3].offset, r[3].flags) == (32 << 20, 3 << 40, RW | VFIO_REGION_INFO_FLAG_MMAP)
    assert all(r[i].size == 0 for i in (2, 4, 5, 6))
    assert 8 not in r
    old = region_infos(hd, kernel=(4, 15))[0]
    assert old.sparse == ((0, 0xB90000), (0xB91000, (16 << 20) - 0xB91000))


def test_tesla_t4_flatview_like_an_emulated_msix_device():
    """The issue's 'done when': a GPU with MSI-X in BAR0 shows in the flat
    view as QEMU shows an emulated MSI-X BAR (msix-table at the table offset,
    prio 0 inside the BAR container), with ramd in place of the device's
    I/O: ramd [0, 0xb90000), msix-table 0x60 bytes, ramd after it.  Memslots
    only for whole pages (kvm_align_section): [0, 0xb90000) and from
    0xb91000; BARs 1 and 3 are one memslot each."""
    p = _predict("gpu-nvidia-tesla-t4")
    d = _vdev(p)
    b0, b1, b3 = (d.io_regions[i].addr for i in (0, 1, 3))
    secs = [(s.start - b0, s.end - b0, s.kind, s.name, s.kvm) for s in p.sections()
            if b0 <= s.start < b0 + (16 << 20)]
    assert secs == [
        (0, 0xB8FFFF, "ramd", f"{HOST} BAR 0 mmaps[0]", True),
        (0xB90000, 0xB9005F, "i/o", "msix-table", False),
        (0xB90060, (16 << 20) - 1, "ramd", f"{HOST} BAR 0 mmaps[0]", False),
    ]
    slots = {(m.guest_phys_addr, m.memory_size) for m in p.memslots()}
    assert {(b0, 0xB90000), (b0 + 0xB91000, (16 << 20) - 0xB91000),
            (b1, 256 << 20), (b3, 32 << 20)} <= slots
    assert not any(b0 + 0xB90000 <= g < b0 + 0xB91000 for g, _ in slots)
    # The guest sees BAR 1 and 3 as 64-bit prefetchable, BAR 0 as 32-bit.
    assert b0 % (16 << 20) == 0 and b1 % (256 << 20) == 0 and b3 % (32 << 20) == 0


def test_msix_table_in_own_bar():
    """XL710: MSI-X table in BAR3 at 0 (129 entries = 0x810 bytes): BAR0's
    8 MiB mmap is one memslot; BAR3's table page is emulated and the rest of
    BAR3 from the next page on is a memslot."""
    p = _predict("nic-intel-xl710")
    d = _vdev(p)
    b0, b3 = d.io_regions[0].addr, d.io_regions[3].addr
    slots = {(m.guest_phys_addr, m.memory_size) for m in p.memslots()}
    assert (b0, 8 << 20) in slots
    assert (b3 + 0x1000, 0x8000 - 0x1000) in slots
    assert not any(b3 <= g < b3 + 0x1000 for g, _ in slots)


def test_no_mmap_means_no_memslot():
    """x-no-mmap=on: vfio_region_setup prepares no mmaps, so every BAR access
    takes the slow path (an exit to QEMU) and no BAR gets a memslot."""
    p = _predict("gpu-nvidia-tesla-p100", extra=",x-no-mmap=on")
    d = _vdev(p)
    bars = [r for r in d.bars() if r.index < 6]
    for r in bars:
        assert not any(r.addr <= m.guest_phys_addr < r.addr + r.size for m in p.memslots())
        assert all(s.kind == "i/o" for s in p.sections() if r.addr <= s.start < r.addr + r.size)


def test_rom_is_io_never_a_memslot():
    """vfio_pci_size_rom: the ROM is the I/O region "vfio[<bdf>].rom"."""
    p = _predict("nic-intel-x520")
    rom = _vdev(p).io_regions[6]
    assert rom.memory.name == f"vfio[{HOST}].rom" and rom.memory.type_name() == "i/o"
    assert rom.size == 512 << 10


def test_subpage_bar_grows_to_a_page():
    """HighPoint SSD7540 Region 5: Memory [size=2K], page-aligned on the host
    so mmappable; when the guest places it page aligned QEMU grows base,
    slow path and mmap to one host page and re-adds it at priority 0
    (vfio_sub_page_bar_update_mapping), so it gets a one-page memslot."""
    p = _predict("raid-highpoint-ssd7540")
    r5 = _vdev(p).io_regions[5]
    assert r5.size == 2048 and r5.addr % 4096 == 0
    assert r5.memory.size == 4096 and r5.memory.priority == 0
    assert (r5.addr, 4096) in {(m.guest_phys_addr, m.memory_size) for m in p.memslots()}


def test_subpage_bar_base_only_grows():
    """QEMU hw/vfio/pci.c ``vfio_sub_page_bar_update_mapping`` (v7.2.0 and
    v10.0.0 identical): ``size`` is the BAR's 0x800 unless the BAR is mapped
    page aligned (then a host page, 0x1000); the base BAR region is resized
    only ``if (vdev->bars[bar].size < size)``, so it never shrinks, while
    the slow-path region and the mmap always take ``size``; the base is
    deleted and re-added at priority 0 only when ``size != bars[bar].size``
    and it is mapped.  ``pci_update_mappings`` (hw/pci/pci.c) maps a BAR at
    priority 1.  HighPoint SSD7540 Region 5 is a 2K memory BAR."""
    from vfiolab.model.guest import move_bar, set_decode
    p = _predict("raid-highpoint-ssd7540")
    d = _vdev(p)
    vb, r = d.vbars[5], d.io_regions[5]
    bdf = f"00:{d.devfn >> 3:02x}.{d.devfn & 7:x}"

    def state():
        return (vb.mr.size, vb.region_mem.size, vb.mmaps[0].mr.size, vb.mr.priority)
    a = r.addr
    assert a % 0x1000 == 0 and state() == (0x1000, 0x1000, 0x1000, 0)
    move_bar(p.vm, bdf, 5, a + 0x800)                    # mapped, not page aligned
    assert state() == (0x1000, 0x800, 0x800, 1)
    # the base still spans a page from the BAR: its own range follows the mmap's
    view = {(fr.start, fr.last): fr.mr.name for fr in p.vm.flatview()}
    assert view[(a + 0x800, a + 0xfff)] == f"{HOST} BAR 5 mmaps[0]"
    assert view[(a + 0x1000, a + 0x17ff)] == f"{HOST} base BAR 5"
    move_bar(p.vm, bdf, 5, a + 0x1000)                   # page aligned again: re-added at 0
    assert state() == (0x1000, 0x1000, 0x1000, 0)
    set_decode(p.vm, d, False, False)                    # unmapped: size = the BAR's
    assert r.addr != a + 0x1000 and state()[:3] == (0x1000, 0x800, 0x800)


def test_bar_mmaps_are_pfnmaps_of_the_host_bar():
    """vfio_pci_core_mmap: the mmap maps the BAR's *host* physical pages
    (VM_PFNMAP); the memslot's userspace_addr is that mmap."""
    p = _predict("gpu-nvidia-tesla-p100")
    d = _vdev(p)
    hd = d.hostdev
    m = d.vbars[1].mmaps[0]
    host = next(h for h in p.vm.host.mappings if h.vaddr == m.vaddr)
    assert host.kind == "pfnmap" and host.hpa == hd.bar(1).host_address
    slot = next(s for s in p.memslots() if s.guest_phys_addr == d.io_regions[1].addr)
    assert slot.userspace_addr == m.vaddr


def _mmap_vaddrs(stack):
    from vfiolab.predict import predict as _p
    p = _p(f"-M q35 -m 2G -nodefaults -device vfio-pci,host={HOST},id=pt0".split(),
           host_devices={HOST: "data/devices/gpu-nvidia-tesla-p100"}, cpu_vendor="AuthenticAMD",
           stack=stack)
    d = _vdev(p)
    return {i: (vb.mmaps[0].vaddr, vb.mmaps[0].size) for i, vb in enumerate(d.vbars) if vb.mmaps}


def test_mmap_alignment_qemu_9_2_and_later():
    """QEMU >= 9.2 (00b519c0bc "vfio/helpers: Align mmaps", hw/vfio/helpers.c
    ``vfio_region_mmap``): align = MIN(1 << ctz64(size), 1 GiB).  Tesla P100:
    BAR0 16M -> 16M, BAR1 16G -> 1G, BAR3 32M -> 32M; a 0xfff000 sparse
    area -> 4K (the commit message's example)."""
    from vfiolab.model.vfio import mmap_alignment
    from vfiolab.stack import make_stack
    v = _mmap_vaddrs("debian13")
    assert {i: a % min(size & -size, 1 << 30) for i, (a, size) in v.items()} == {0: 0, 1: 0, 3: 0}
    assert sorted(v) == [0, 1, 3]
    assert mmap_alignment(make_stack("debian13"), 0xfff000, 0)[0] == 0x1000
    assert mmap_alignment(make_stack("debian13"), 16 << 30, 1 << 40)[0] == 1 << 30


def test_mmap_alignment_before_qemu_9_2():
    """QEMU 7.2 hw/vfio/common.c ``vfio_region_mmap``: mmap(NULL, ...) -- the
    kernel picks.  Linux 6.1.20 mm/mmap.c ``get_unmapped_area``: the vfio
    device file has no get_unmapped_area, so the mm's search: page aligned
    only (the model: never 2 MiB aligned).  Linux 6.12 mm/mmap.c
    ``__get_unmapped_area``: a length that is a multiple of PMD_SIZE goes to
    ``thp_get_unmapped_area_vmflags``: 2 MiB aligned (the model: not 1 GiB)."""
    from vfiolab.stack import make_stack
    v = _mmap_vaddrs("debian12")
    assert all(a % 0x1000 == 0 and a % (2 << 20) for a, _ in v.values())
    v = _mmap_vaddrs(make_stack("debian12", kernel="6.12"))
    assert all(a % (2 << 20) == 0 and a % (1 << 30) for a, _ in v.values())


# --- config space -------------------------------------------------------------------

def test_guest_sees_emulated_bars_device_keeps_host_bars():
    """vfio_realize clears the BARs in QEMU's copy and emulates them
    (emulated_config_bits 0xff over 0x10-0x27 and 0x30): the guest reads the
    address SeaBIOS programmed; the device's own BAR (host config) is never
    written."""
    p = _predict("virtio-net-this-machine")
    d = _vdev(p)
    guest_bar0 = d.config_read(0x10, 4) & ~0xf
    assert guest_bar0 == d.io_regions[0].addr & 0xffffffff
    host_bar0 = int.from_bytes(d.hostdev.config[0x10:0x14], "little") & ~0xf
    assert host_bar0 == d.hostdev.bar(0).host_address & 0xffffffff
    assert host_bar0 != guest_bar0
    owners = {r["offset"]: r["owner"] for r in config_owners(d)}
    assert owners[0x10] == "qemu" and owners[0x00] == "device"


def test_identity_reads_come_from_the_device():
    """Vendor and device ID are not emulated: read through the kernel
    (this machine's virtio-net: [1af4:1041])."""
    d = _vdev(_predict("virtio-net-this-machine"))
    assert d.config_read(0, 4) == 0x1041 << 16 | 0x1af4


# --- bad input --------------------------------------------------------------------------

def test_missing_host_device_is_a_clear_error():
    with pytest.raises(ConfigError, match="0000:7f:00.0"):
        predict("-M q35 -nodefaults -device vfio-pci,host=0000:7f:00.0".split(),
                host_devices={}, cpu_vendor="AuthenticAMD")


def test_missing_host_property():
    with pytest.raises(DeviceError, match="host"):
        predict("-M q35 -nodefaults -device vfio-pci,id=x".split(), cpu_vendor="AuthenticAMD")


def test_msix_table_outside_its_bar_is_refused():
    """An MSI-X table that does not fit its BAR: HostDevice.validate names it."""
    hd = load_host_device("data/devices/nic-intel-xl710")
    from dataclasses import replace
    with pytest.raises(DeviceError, match="MSI-X"):
        hd.with_changes(msix=replace(hd.msix, table_offset=0x8000))


# --- the story ------------------------------------------------------------------------------

def _ops(events, keep=("pci_update_mappings_del", "pci_update_mappings_add", "flatview_commit",
                       "set_user_memory", "vfio_listener_region_del",
                       "vfio_listener_region_add_ram")):
    return [e for e in events if e["op"] in keep]


@pytest.fixture(scope="module")
def story():
    # Tesla P100: BAR1 16G and BAR3 32M, both 64-bit prefetchable
    return run_story("-M q35 -m 2G -nodefaults -device vfio-pci,host=0000:01:00.0,id=gpu0".split(),
                     host_devices={HOST: "data/devices/gpu-nvidia-tesla-p100"}, bdf="00:01.0",
                     bar=3, moves=[(0x1002000000, "clean"), (0x2000000000, "careless")],
                     cpu_vendor="AuthenticAMD")


def test_story_steps(story):
    assert [s[0] for s in story.steps] == ["realize", "firmware", "move_clean", "move_careless"]
    realize = story.events("realize")
    assert any(e["op"] == "vfio_region_mmap" for e in realize)
    assert any(e["op"] == "map_dma" for e in realize)          # guest RAM, IOVA = GPA
    assert any(e["op"] == "pci_cfg_write" for e in story.events("firmware"))


def test_deletes_kvm_then_vfio_adds_vfio_then_kvm(story):
    """address_space_update_topology_pass: region_del in reverse listener
    order (KVM, priority 10, before VFIO, priority 0); region_add forward
    (VFIO before KVM).  QEMU 7.2 (the default stack), where KVM's ioctls run
    inside those calls; from 8.0 they wait for the commit (tests/test_kvm.py)."""
    for step in ("move_clean", "move_careless"):
        ev = _ops(story.events(step))
        for i, e in enumerate(ev):
            if e["op"] == "set_user_memory" and e["size"] == 0:
                assert ev[i + 1]["op"] == "vfio_listener_region_del"
            if e["op"] == "vfio_listener_region_add_ram":
                assert ev[i + 1]["op"] == "set_user_memory" and ev[i + 1]["size"] > 0


def test_clean_move_unmaps_once_maps_once(story):
    """Decode off, write both dwords, decode on: BAR3 is unmapped once
    (with the other memory BARs, decode being per device) and mapped once at
    the new address; no intermediate address appears."""
    ev = [e for e in story.events("move_clean") if e["op"].startswith("pci_update_mappings")
          and e["bar"] == 3]
    assert [(e["op"], e["addr"]) for e in ev] == [
        ("pci_update_mappings_del", 0x800000000), ("pci_update_mappings_add", 0x1002000000)]


def test_careless_move_passes_through_intermediate_address(story):
    """Decode on, low dword first: after the low write the BAR decodes at
    (new low, old high) = 0x1000000000, and QEMU maps it there; the high
    write then moves it to 0x2000000000."""
    ev = [(e["op"], e["addr"]) for e in story.events("move_careless")
          if e["op"].startswith("pci_update_mappings")]
    assert ev == [("pci_update_mappings_del", 0x1002000000),
                  ("pci_update_mappings_add", 0x1000000000),
                  ("pci_update_mappings_del", 0x1000000000),
                  ("pci_update_mappings_add", 0x2000000000)]
    slots = [(e["gpa"], e["size"]) for e in story.events("move_careless")
             if e["op"] == "set_user_memory"]
    assert slots == [(0x1002000000, 0), (0x1000000000, 32 << 20), (0x1000000000, 0),
                     (0x2000000000, 32 << 20)]


def test_host_page_sizes_for_pfnmap_and_ram():
    """Host page tables: a BAR mmap is a PFN map of the BAR's host address;
    with huge pfnmaps (Linux 6.12+) a 16 GiB BAR aligned to 1 GiB on both
    sides is mapped by 1 GiB entries, a 16 MiB one by 2 MiB entries; without
    them every entry is 4 KiB.  RAM with THP uses 2 MiB entries.  The HVA
    alignment needs QEMU >= 9.2 (test_mmap_alignment_*): the debian13 stack."""
    p = _predict("gpu-nvidia-tesla-p100", stack="debian13")
    d = _vdev(p)
    host = p.vm.host
    big = d.vbars[1].mmaps[0]
    small = d.vbars[0].mmaps[0]
    t = host.translate(big.vaddr + 0x12345678)
    assert t.page_size == 1 << 30 and t.hpa == d.hostdev.bar(1).host_address + 0x12345678
    assert host.translate(small.vaddr).page_size == 2 << 20
    ram = p.vm.ram
    assert host.translate(ram.hva + 0x200000).page_size == 2 << 20
    host.huge_pfnmap = False
    assert host.translate(big.vaddr).page_size == 4096


def test_config_table_register_by_register():
    """The guest's view of a passed-through device's config space: BARs are
    QEMU's (the kernel virtualizes them underneath, vfio_bar_fixup); the
    identity is the device's; the command register is the device's with the
    INTx-disable bit virtualized by the kernel; the MSI-X capability is QEMU's.
    At machine reset QEMU clears I/O, memory and bus-master enable
    (vfio_pci_pre_reset), so SeaBIOS's read-modify-write leaves this
    machine's virtio-net (command 0x0507 in its dump) at 0x503."""
    from vfiolab.views import config_frame
    p = predict("-M q35 -m 1G -nodefaults -device vfio-pci,host=0000:00:03.0,id=n".split(),
                host_devices={"0000:00:03.0": "data/devices/virtio-net-this-machine"},
                cpu_vendor="AuthenticAMD")
    df = config_frame(_vdev(p)).set_index("register")
    assert df.loc["VENDOR_ID", "owner"] == "device" and df.loc["VENDOR_ID", "value"] == "0x1af4"
    assert df.loc["BAR0", "owner"] == "qemu" and df.loc["BAR0", "kernel virtualizes"] == "yes"
    assert df.loc["COMMAND", "value"] == "0x503"
    assert df.loc["MSI-X capability: ID, next", "owner"] == "qemu"


def test_story_as_dataframe(story):
    """The event stream converts to a DataFrame with hex addresses."""
    from vfiolab.views import events_frame
    df = events_frame(story.events("move_clean"))
    assert len(df) == len(story.events("move_clean"))
    row = df[df["op"] == "pci_update_mappings_add"].iloc[-1]
    assert row["addr"] == "0x1002000000"


def test_intx_disables_and_restores_mmaps():
    """vfio_intx_interrupt -> vfio_mmap_set_enabled(false): with legacy INTx
    pending, BAR accesses go through the slow path, so the BAR's memslots
    disappear; the timer (vfio_intx_mmap_enable) brings them back."""
    p = _predict("gpu-nvidia-tesla-p100")
    d = _vdev(p)
    bars = {d.io_regions[i].addr for i in (0, 1, 3)}

    def slots():
        return {m.guest_phys_addr for m in p.memslots()} & bars
    assert slots() == bars
    d.set_mmaps_enabled(False)
    assert slots() == set()
    d.set_mmaps_enabled(True)
    assert slots() == bars


def test_vfio_regions_table():
    """Region table of the ConnectX-7: BAR0 at offset 0 with READ|WRITE|MMAP|CAPS,
    the ROM at 6 << 40, config at 7 << 40 (VFIO_PCI_INDEX_TO_OFFSET)."""
    from vfiolab.views import vfio_regions_frame
    df = vfio_regions_frame(_vdev(_predict("nic-mellanox-connectx7"))).set_index("region")
    assert df.loc["BAR0", "flags"] == "READ|WRITE|MMAP|CAPS"
    assert df.loc["BAR0", "msix mappable"] == "yes"
    assert df.loc["ROM", "offset"] == hex(6 << 40) and df.loc["config", "offset"] == hex(7 << 40)
    assert df.loc["BAR0", "QEMU mmaps"] == "[0x0-0x1ffffff]"


# --- vfio-pci quirks (QEMU hw/vfio/pci-quirks.c, v7.2.0 and v10.0.0) ------------------

def _ranges(vm, space="memory"):
    """(start, size, name, prio) of the flat view of ``space``."""
    fv = (vm.as_io if space == "io" else vm.as_memory).flatview()
    return [(fr.start, fr.size, fr.mr.name, fr.mr.priority) for fr in fv.ranges]


def _bar0(d):
    return d.io_regions[0].addr


def test_nvidia_vga_bar0_88000_mirror_is_trapped():
    """RTX 6000 Ada: NVIDIA (pci.ids "NVIDIA Corporation" = 10de), class
    0300 ("VGA compatible controller"), BAR0 16M (Region 0 [size=16M]).
    ``vfio_probe_nvidia_bar0_quirk``: "vfio-nvidia-bar0-88000-mirror-quirk"
    of vdev->config_size bytes (4096: a PCIe function's config region) at
    0x88000 of "BAR 0", memory_region_add_subregion_overlap(..., 1) over the
    mmap (priority 0): the flat view traps [0x88000, 0x89000) and KVM
    (kvm_set_phys_mem) gets no memslot there; the mmap is split around it."""
    p = _predict("gpu-nvidia-rtx6000-ada", ram="2G")
    d = _vdev(p)
    base = _bar0(d)
    r = [x for x in _ranges(p.vm) if base <= x[0] < base + 16 * 2**20]
    assert r == [(base, 0x88000, "0000:01:00.0 BAR 0 mmaps[0]", 0),
                 (base + 0x88000, 0x1000, "vfio-nvidia-bar0-88000-mirror-quirk", 1),
                 (base + 0x89000, 16 * 2**20 - 0x89000, "0000:01:00.0 BAR 0 mmaps[0]", 0)]
    slots = [(s.guest_phys_addr, s.memory_size) for s in p.memslots()
             if base <= s.guest_phys_addr < base + 16 * 2**20]
    assert slots == [(base, 0x88000), (base + 0x89000, 16 * 2**20 - 0x89000)]
    assert [q.name for q in d.quirks] == ["vfio-nvidia-bar0-88000-mirror-quirk"]


def test_x_no_geforce_quirks_and_vendor_override_turn_it_off():
    """``vdev->no_geforce_quirks`` (x-no-geforce-quirks) stops every NVIDIA
    probe; ``vfio_pci_is`` compares ``vdev->vendor_id``, which
    x-pci-vendor-id replaces (vfio_realize), so another vendor ID stops them
    too -- and the guest reads that ID (an emulated word)."""
    for extra in (",x-no-geforce-quirks=on", ",x-pci-vendor-id=0x1af4"):
        p = _predict("gpu-nvidia-rtx6000-ada", ram="2G", extra=extra)
        d = _vdev(p)
        assert d.quirks == []
        base = _bar0(d)
        assert [x for x in _ranges(p.vm) if base <= x[0] < base + 16 * 2**20] == \
            [(base, 16 * 2**20, "0000:01:00.0 BAR 0 mmaps[0]", 0)]
    assert d.config_read(0, 2) == 0x1af4


def test_3d_controller_gets_no_bar0_quirk():
    """Tesla P100: NVIDIA but class 0302 ("3D controller"): ``vfio_is_vga``
    (class word == PCI_CLASS_DISPLAY_VGA) is false, so no BAR0 mirror."""
    p = _predict("gpu-nvidia-tesla-p100")
    assert _vdev(p).quirks == []
    assert "quirk" not in p.mtree_flat()


def test_x_vga_adds_vga_ranges_and_the_vga_quirks():
    """x-vga=on: ``vfio_populate_vga`` -> ``pci_register_vga``: 0xa0000
    (0x20000) in memory, 0x3b0 (0xc) and 0x3c0 (0x20) in I/O, priority 1.
    Then ``vfio_vga_probe_nvidia_3d0_quirk`` (NVIDIA with a BAR1): 3d4 and
    3d0 quirks (2 bytes at 0x3c0+0x14 / +0x10, priority 0 inside
    "vfio-vga-io@0x3c0"); ``vfio_probe_nvidia_bar5_quirk`` (I/O BAR5:
    Region 5: I/O ports [size=128]): master at 0 and enable at 4 (4 bytes,
    priority 1), the window address/data at 8/0xc disabled; and
    ``vfio_probe_nvidia_bar0_quirk`` adds the 0x1800 mirror (256 bytes)."""
    p = _predict("gpu-nvidia-rtx6000-ada", ram="2G", extra=",x-vga=on")
    d = _vdev(p)
    mem = _ranges(p.vm)
    assert (0xA0000, 0x20000, "vfio-vga-mmio@0xa0000", 1) in mem
    base = _bar0(d)
    assert (base + 0x1800, 0x100, "vfio-nvidia-bar0-1800-mirror-quirk", 1) in mem
    io = _ranges(p.vm, "io")
    assert (0x3B0, 0xC, "vfio-vga-io@0x3b0", 1) in io
    assert (0x3D0, 2, "vfio-nvidia-3d0-quirk", 0) in io
    assert (0x3D4, 2, "vfio-nvidia-3d4-quirk", 0) in io
    bar5 = d.io_regions[5].addr
    assert (bar5, 4, "vfio-nvidia-bar5-master-quirk", 1) in io
    assert (bar5 + 4, 4, "vfio-nvidia-bar5-enable-quirk", 1) in io
    assert not any(n.startswith("vfio-nvidia-bar5-window") for _, _, n, _ in io)
    assert {q.name: q.enabled for q in d.quirks}["vfio-nvidia-bar5-window-data-quirk"] is False


def test_x_vga_needs_the_kernel_vga_region():
    """vfio_populate_vga: no region 8 for a non-VGA device -> "device does not
    support requested feature x-vga"."""
    with pytest.raises(DeviceError, match="does not support requested feature x-vga"):
        _predict("nic-intel-x520", extra=",x-vga=on")


def _host(vendor, device, cls, bars, **kw):
    from vfiolab.model.hostdev import HostDevice
    return HostDevice(HOST, vendor_id=vendor, device_id=device, class_code=cls,
                      bars=tuple(bars), is_pcie=True, **kw)


def _predict_hd(hd, extra="", stack=None):
    args = f"-M q35 -m 2G -nodefaults -device vfio-pci,host={HOST},id=pt0{extra}".split()
    return predict(args, host_devices={HOST: hd}, cpu_vendor="AuthenticAMD", stack=stack)


def _ati(bar4_io=True):
    from vfiolab.model.hostdev import HostBar
    bar4 = (HostBar(4, 0xE000, 256, "io") if bar4_io
            else HostBar(4, 0xF0000000, 256 * 1024, "mem"))
    return _host(0x1002, 0x67DF, 0x030000,
                 [HostBar(0, 0xC0000000, 256 * 2**20, "mem", is64=True, prefetch=True),
                  HostBar(2, 0xD0000000, 2 * 2**20, "mem", is64=True, prefetch=True),
                  bar4, HostBar(5, 0xF7E00000, 256 * 1024, "mem")])


def test_ati_quirks_with_x_vga():
    """ATI 1002 (a Polaris-like layout: BAR0/BAR2 64-bit, BAR4 I/O 256):
    ``vfio_probe_ati_bar2_quirk`` (x-vga, 64-bit BAR2): 256 bytes at 0x4000;
    ``vfio_probe_ati_bar4_quirk`` (x-vga, BAR4): 4 bytes at 0 and 4;
    ``vfio_vga_probe_ati_3c3_quirk`` (I/O BAR4 >= 256): 1 byte at 0x3c3.
    None of them without x-vga (vdev->vga is NULL)."""
    assert _vdev(_predict_hd(_ati())).quirks == []
    d = _vdev(_predict_hd(_ati(), ",x-vga=on"))
    got = sorted((q.probe, q.where, q.name, q.offset, q.size, q.priority) for q in d.quirks)
    assert got == sorted([
        ("vfio_probe_ati_bar2_quirk", "BAR2", "vfio-ati-bar2-4000-quirk", 0x4000, 0x100, 1),
        ("vfio_probe_ati_bar4_quirk", "BAR4", "vfio-ati-bar4-window-address-quirk", 0, 4, 1),
        ("vfio_probe_ati_bar4_quirk", "BAR4", "vfio-ati-bar4-window-data-quirk", 4, 4, 1),
        ("vfio_vga_probe_ati_3c3_quirk", "vfio-vga-io@0x3c0", "vfio-ati-3c3-quirk", 3, 1, 0)])


def test_ati_bar4_quirk_on_a_memory_bar4_only_before_qemu_10():
    """Commit 63316f973a ("vfio/pci-quirks: Exclude non-ioport BAR from ATI
    quirk", first in v10.0.0) added ``!vdev->bars[4].ioport`` to the probe:
    QEMU 7.2 lays the window over a memory BAR4 too, 10.0 does not."""
    def bar4(stack):
        d = _vdev(_predict_hd(_ati(bar4_io=False), ",x-vga=on", stack=stack))
        return [q.name for q in d.quirks if q.where == "BAR4"]
    assert bar4("debian12") == ["vfio-ati-bar4-window-address-quirk",
                                "vfio-ati-bar4-window-data-quirk"]
    assert bar4("debian13") == []


def test_rtl8168_bar2_quirk():
    """``vfio_probe_rtl8168_bar2_quirk``: 10ec:8168, BAR2 (the r8169 layout:
    BAR0 I/O 256, BAR2 64-bit 4K, BAR4 64-bit 16K): address register 4
    bytes at 0x74 and data 4 at 0x70, priority 1, no x-vga needed.  The 4K
    BAR2 mmap is split around them, the sub-page pieces trapped."""
    from vfiolab.model.hostdev import HostBar
    hd = _host(0x10EC, 0x8168, 0x020000,
               [HostBar(0, 0xD000, 256, "io"),
                HostBar(2, 0xF7D04000, 4096, "mem", is64=True),
                HostBar(4, 0xF7D00000, 16384, "mem", is64=True, prefetch=True)])
    p = _predict_hd(hd)
    d = _vdev(p)
    assert [(q.name, q.offset, q.size, q.priority) for q in d.quirks] == [
        ("vfio-rtl8168-window-address-quirk", 0x74, 4, 1),
        ("vfio-rtl8168-window-data-quirk", 0x70, 4, 1)]
    b2 = d.io_regions[2].addr
    assert (b2 + 0x70, 4, "vfio-rtl8168-window-data-quirk", 1) in _ranges(p.vm)
    assert not any(s.guest_phys_addr <= b2 + 0x70 < s.guest_phys_addr + s.memory_size
                   for s in p.memslots())


def test_realtek_without_device_id_is_refused():
    """Without -nn lspci prints "Realtek Semiconductor Co., Ltd. RTL8111/8168..."
    (pci.ids 10ec): the RTL8168 quirk depends on the device ID, so refuse."""
    from vfiolab.inputs.lspci import parse_lspci_vvv
    (hd,) = parse_lspci_vvv(
        "03:00.0 Ethernet controller: Realtek Semiconductor Co., Ltd. RTL8111/8168/8411 PCI "
        "Express Gigabit Ethernet Controller (rev 15)\n"
        "\tRegion 0: I/O ports at d000 [size=256]\n"
        "\tRegion 2: Memory at f7d04000 (64-bit, non-prefetchable) [size=4K]\n"
        "\tRegion 4: Memory at f7d00000 (64-bit, prefetchable) [size=16K]\n")
    assert hd.vendor_id == 0x10EC and hd.device_id is None
    with pytest.raises(DeviceError, match="RTL8168 BAR2 quirk"):
        _predict_hd(hd.with_changes(bdf=HOST))


def test_intel_vga_is_refused():
    from vfiolab.model.hostdev import HostBar
    hd = _host(0x8086, 0x3E92, 0x030000, [HostBar(0, 0xF6000000, 16 * 2**20, "mem", is64=True)])
    with pytest.raises(DeviceError, match="IGD assignment"):
        _predict_hd(hd)


# --- vfio-pci properties ----------------------------------------------------------------

def test_unknown_refused_and_ignored_properties():
    # messages as real QEMU 7.2.22 prints them for -device vfio-pci,host=01:00.0,...
    with pytest.raises(DeviceError, match=r"Property 'vfio-pci.x-vgaa' not found"):
        _predict("nic-intel-x520", extra=",x-vgaa=on")
    with pytest.raises(DeviceError, match=r"Property 'vfio-pci.ramfb' not found"):
        _predict("nic-intel-x520", extra=",ramfb=on")
    with pytest.raises(DeviceError, match="does not accept value 'BAR2'"):
        _predict("nic-intel-x520", extra=",x-msix-relocation=BAR2")
    with pytest.raises(DeviceError, match="x-igd-opregion= is not modelled"):
        _predict("nic-intel-x520", extra=",x-igd-opregion=on")
    d = _vdev(_predict("nic-intel-x520", extra=",bootindex=1,x-no-kvm-intx=on"))
    assert d.ignored == ["bootindex", "x-no-kvm-intx"]
    with pytest.raises(DeviceError, match="invalid PCI vendor ID provided"):
        _predict("nic-intel-x520", extra=",x-pci-vendor-id=0xffff")
    with pytest.raises(DeviceError, match="is not a boolean"):
        _predict("nic-intel-x520", extra=",x-vga=maybe")


def test_properties_of_one_qemu_release():
    """x-enable-migration (v7.2.0) became enable-migration (v10.0.0)."""
    _predict("nic-intel-x520", extra=",x-enable-migration=off", stack="debian12")
    with pytest.raises(DeviceError, match="vfio-pci.x-enable-migration' not found"):
        _predict("nic-intel-x520", extra=",x-enable-migration=off", stack="debian13")
    with pytest.raises(DeviceError, match="vfio-pci.enable-migration' not found"):
        _predict("nic-intel-x520", extra=",enable-migration=off", stack="debian12")
    _predict("nic-intel-x520", extra=",enable-migration=off", stack="debian13")


def test_romfile_and_rombar():
    """NVMe "Expansion ROM at c9410000 [disabled] [size=64K]".
    ``vfio_pci_size_rom`` returns at once when romfile is set (even to "")
    or rombar=0; ``pci_add_option_rom`` then adds nothing for an empty name,
    sends the file to fw_cfg with rombar=0 (genroms/ for a non-VGA class),
    else makes "vfio-pci.rom" (vfio-pci has no vmsd) of romsize bytes."""
    assert _vdev(_predict("nvme-intel-dc-ssd")).io_regions[6].size == 64 * 1024
    assert _vdev(_predict("nvme-intel-dc-ssd", extra=",romfile=")).io_regions[6] is None
    assert _vdev(_predict("nvme-intel-dc-ssd", extra=",rombar=0")).io_regions[6] is None
    with pytest.raises(DeviceError, match="give romsize="):
        _predict("nvme-intel-dc-ssd", extra=",romfile=/root/nvme.rom")
    d = _vdev(_predict("nvme-intel-dc-ssd", extra=",romfile=/root/nvme.rom,romsize=131072"))
    r = d.io_regions[6]
    assert (r.size, r.memory.name, r.memory.is_ram()) == (128 * 1024, "vfio-pci.rom", True)
    d = _vdev(_predict("nvme-intel-dc-ssd", extra=",romfile=/root/nvme.rom,rombar=0"))
    assert d.io_regions[6] is None and d.fw_cfg_rom == "genroms/nvme.rom"


def test_msix_relocation():
    """NVMe: BAR0 64-bit 16K, MSI-X 32 vectors at BAR0+0x2000 (PBA 0x3000).
    ``vfio_pci_relocate_msix``: size = 32*16 + align_up(32,64)/8 = 520 ->
    a page (4K) -> pow2 4K.  bar2 (unused, BAR3 free): a new 64-bit
    prefetchable 4K BAR2, table at 0, PBA at 32*16 = 0x200.  bar0 (used):
    BAR0 doubles to max(32K, 8K) = 32K, table at 16K, PBA at 16K + 0x200.
    bar1 is the upper half of 64-bit BAR0: refused.  auto: refused."""
    d = _vdev(_predict("nvme-intel-dc-ssd", extra=",x-msix-relocation=bar2"))
    m = d.msix_layout
    assert (m.table_bar, m.table_offset, m.pba_bar, m.pba_offset) == (2, 0, 2, 0x200)
    r2 = d.io_regions[2]
    assert r2.size == 4096 and r2.type == 0x0C        # MEM_TYPE_64 | PREFETCH
    # msix_init overlays the table on the base BAR it now names
    assert {c.name for c in r2.memory.subregions} == {"msix-table", "msix-pba"}
    assert not any(c.name == "msix-table" for c in d.io_regions[0].memory.subregions)
    d = _vdev(_predict("nvme-intel-dc-ssd", extra=",x-msix-relocation=bar0"))
    m = d.msix_layout
    assert (m.table_offset, m.pba_offset) == (0x4000, 0x4200) and d.io_regions[0].size == 0x8000
    with pytest.raises(DeviceError, match="consumed by 64-bit BAR 0"):
        _predict("nvme-intel-dc-ssd", extra=",x-msix-relocation=bar1")
    with pytest.raises(DeviceError, match="No automatic MSI-X relocation"):
        _predict("nvme-intel-dc-ssd", extra=",x-msix-relocation=auto")


def test_vfio_pci_properties_equal_real_qemu_72():
    """``qemu-system-x86_64 -device vfio-pci,help`` of QEMU 7.2.22 (Debian
    1:7.2+dfsg-7+deb12u18+b3, data/devices/vfio-pci-help-qemu-7.2.txt): the
    property names the model knows for 7.2 are exactly those (``addr`` is
    taken by the PCI bus code before the device sees its properties)."""
    from pathlib import Path
    from vfiolab.model.vfio import VFIO_PCI_PROPS
    text = (Path(__file__).resolve().parents[1] / "data" / "devices"
            / "vfio-pci-help-qemu-7.2.txt").read_text()
    real = {ln.split("=", 1)[0].strip() for ln in text.splitlines()[1:] if "=" in ln}
    ours = {n for n, (_k, _w, where) in VFIO_PCI_PROPS.items() if where in ("both", "7.2")}
    assert ours | {"addr"} == real
