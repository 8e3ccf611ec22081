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


def _predict(device: str, machine="q35", ram="4G", extra=""):
    args = f"-M {machine} -m {ram} -nodefaults -device vfio-pci,host={HOST},id=pt0{extra}".split()
    return predict(args, host_devices={HOST: f"data/devices/{device}"}, cpu_vendor="AuthenticAMD")


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


def test_vga_region_only_for_vga_class():
    """VFIO_PCI_VGA_REGION_INDEX: 0xc0000 bytes, for a VGA-class device."""
    gpu = load_host_device("data/devices/gpu-nvidia-rtx6000-ada")
    nic = load_host_device("data/devices/nic-intel-x520")
    assert any(x.index == 8 and x.size == 0xc0000 for x in region_infos(gpu)) is (
        gpu.class_code is not None and gpu.class_code >> 8 == 0x0300)
    assert not any(x.index == 8 for x in region_infos(nic))


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
    (VFIO before KVM)."""
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
    them every entry is 4 KiB.  RAM with THP uses 2 MiB entries."""
    p = _predict("gpu-nvidia-tesla-p100")
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
