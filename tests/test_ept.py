"""Tests of vfiolab.model.ept: EPT entries, KVM's TDP fault path, zaps, the 2-D walk.

Where the expected values come from:

* entry layouts: the Intel SDM Vol. 3C tables of EPT paging-structure
  entries (bits 2:0 R/W/X, 5:3 memory type, 6 ignore-PAT, 7 page size, 8
  accessed, 9 dirty, 51:12 address; reserved low address bits of 2M/1G
  leaves; 110b in bits 2:0 is an EPT misconfiguration) -- every expected
  integer below is built from those bit positions, never from the model;
* KVM's own bits and what it puts in a leaf: Linux arch/x86/kvm/mmu/spte.h
  (bit 11 MMU-present, 57 host-writable, 58 MMU-writable, MMIO generation in
  bits 3-10 and 52-62), spte.c make_spte / make_mmio_spte, vmx.c
  vmx_get_mt_mask (RAM WB + ignore-PAT, host MMIO UC);
* levels: mmu.c kvm_mmu_hugepage_adjust / __kvm_mmu_max_mapping_level /
  host_pfn_mapping_level and x86.c kvm_alloc_memslot_metadata, applied by hand
  to each scenario in the test's comments;
* the 2-D walk: (n+1)(m+1)-1 references for n-level guest paging over
  m-level nested paging with 4K pages (Bhargava et al., ASPLOS 2008; SDM
  "EPT Translation Mechanism": guest paging-structure addresses are GPAs
  translated through EPT).
"""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from vfiolab.addr import GiB, KiB, MiB
from vfiolab.errors import ActionError, ConfigError
from vfiolab.model import ept
from vfiolab.model.ept import (EptEntry, GuestPageTables, Mmu, decode, describe, encode,
                               is_mmio_spte, make_mmio_spte)
from vfiolab.model.guest import find_bdf, move_bar, set_decode
from vfiolab.model.memory import MemoryRegion
from vfiolab.model.vm import VM
from vfiolab.predict import predict

GPU = "0000:01:00.0"
NVME = "0000:81:00.0"


# Most scenarios below are the Linux 6.12 world (huge PFN maps of BAR mmaps,
# vfio_pci_mmap_huge_fault), so they run on the debian13 stack; the
# version boundaries themselves are pinned in tests/test_ept_versions.py.
def gpu_vm(stack="debian13"):
    p = predict(f"-M q35 -m 2G -nodefaults -device vfio-pci,host={GPU},id=gpu0".split(),
                host_devices={GPU: "data/devices/gpu-nvidia-tesla-p100"},
                cpu_vendor="AuthenticAMD", stack=stack)
    return p.vm


def emu_vm(stack="debian13"):
    p = predict(("-M q35 -m 1G -nodefaults -object memory-backend-ram,id=m0,size=64M "
                 "-device ivshmem-plain,memdev=m0,id=ivs0 -device edu,id=edu0").split(),
                cpu_vendor="AuthenticAMD", stack=stack)
    return p.vm


def nvme_vm(stack="debian13"):
    p = predict(f"-M q35 -m 2G -nodefaults -device vfio-pci,host={NVME},id=nvme0".split(),
                host_devices={NVME: "data/devices/nvme-intel-dc-ssd"},
                cpu_vendor="AuthenticAMD", stack=stack)
    return p.vm


def region_start(vm, name):
    frs = [fr for fr in vm.flatview() if fr.mr.name == name]
    assert frs, name
    return frs[0].start


# ---------------------------------------------------------------------------
# Entry encoding against the SDM layout
# ---------------------------------------------------------------------------
R, W, X = 1 << 0, 1 << 1, 1 << 2
MT = 3          # memory type field starts at bit 3
IPAT, PS, A, D = 1 << 6, 1 << 7, 1 << 8, 1 << 9
SVE = 1 << 63


def test_encode_4k_leaf_sdm_bits():
    e = EptEntry(level=1, addr=0x12345000, read=True, write=True, execute=True,
                 memtype=6, ipat=True, accessed=True, dirty=True)
    assert encode(e) == R | W | X | (6 << MT) | IPAT | A | D | 0x12345000
    assert decode(encode(e), 1) == e


def test_encode_2m_and_1g_leaves_set_bit_7_and_need_alignment():
    e2 = EptEntry(level=2, addr=0x40200000, read=True, large=True, memtype=0)
    assert encode(e2) == R | (0 << MT) | PS | 0x40200000
    e3 = EptEntry(level=3, addr=0x3B800000000, read=True, write=True, large=True, memtype=0)
    assert encode(e3) == R | W | PS | 0x3B800000000
    # bits 20:12 of a 2M PDE and 29:12 of a 1G PDPTE are reserved
    with pytest.raises(ConfigError, match="not 2M-aligned"):
        encode(EptEntry(level=2, addr=0x40201000, read=True, large=True))
    with pytest.raises(ConfigError, match="not 1G-aligned"):
        encode(EptEntry(level=3, addr=0x40200000, read=True, large=True))


def test_encode_table_entries_and_reserved_fields():
    # a PML4E referencing a PDPT: R/W/X, accessed, address; bit 7 reserved
    e = EptEntry(level=4, addr=0x7000, read=True, write=True, execute=True, accessed=True)
    assert encode(e) == R | W | X | A | 0x7000
    assert not decode(encode(e), 4).leaf
    with pytest.raises(ConfigError, match="bit 7"):
        encode(EptEntry(level=4, addr=0x7000, read=True, large=True))
    with pytest.raises(ConfigError, match="only in leaf"):
        encode(EptEntry(level=2, addr=0x7000, read=True, memtype=6))
    with pytest.raises(ConfigError, match="reserved"):
        encode(EptEntry(level=1, addr=0x7000, read=True, memtype=2))     # types 2, 3, 7
    with pytest.raises(ConfigError):
        encode(EptEntry(level=6, addr=0))


def test_index_bits():
    # SDM: 47:39 PML4, 38:30 PDPT, 29:21 PD, 20:12 PT
    gpa = (0x1A3 << 39) | (0x0F5 << 30) | (0x111 << 21) | (0x1FF << 12) | 0x123
    assert [ept.ept_index(gpa, lv) for lv in (4, 3, 2, 1)] == [0x1A3, 0x0F5, 0x111, 0x1FF]


@given(level=st.sampled_from([1, 2, 3]), large=st.booleans(), frame=st.integers(0, (1 << 22) - 1),
       r=st.booleans(), w=st.booleans(), x=st.booleans(), mt=st.sampled_from([0, 1, 4, 5, 6]),
       ipat=st.booleans(), a=st.booleans(), d=st.booleans(), sve=st.booleans())
@settings(max_examples=200, deadline=None)
def test_decode_inverts_encode(level, large, frame, r, w, x, mt, ipat, a, d, sve):
    large = large and level > 1
    leaf = level == 1 or large
    size = {1: 4 * KiB, 2: 2 * MiB, 3: GiB}[level] if leaf else 4 * KiB
    e = EptEntry(level=level, addr=frame * size % (1 << 52), read=r, write=w, execute=x,
                 large=large, memtype=mt if leaf else None, ipat=ipat and leaf,
                 accessed=a, dirty=d and leaf, suppress_ve=sve)
    v = encode(e)
    assert decode(v, level) == e
    assert bool(v & PS) == large


def test_mmio_spte_layout():
    # spte.c make_mmio_spte: W|X (110b), gfn in 51:12, generation bits 0-7
    # in 3-10 and 8-18 in 52-62; no MMU-present bit
    gen = 0b101_0101_0101_1100_0011            # 19 bits
    gfn = 0xFEB00
    v = make_mmio_spte(gfn, gen)
    assert v == W | X | (gfn << 12) | ((gen & 0xFF) << 3) | ((gen >> 8) << 52)
    assert v & 0b111 == 0b110 and is_mmio_spte(v) and not v & (1 << 11)
    assert ept.decode_mmio_spte(v) == (gfn, gen)
    rows = describe(v, 1)
    assert rows[0]["bits"] == "2:0" and "misconfiguration" in rows[0]["meaning"]


def test_describe_one_row_per_field():
    v = R | W | X | (6 << MT) | IPAT | PS | A | D | 0x40200000
    rows = {r["bits"]: r for r in describe(v, 2)}
    assert rows["5:3"]["value"] == 6 and "WB" in rows["5:3"]["meaning"]
    assert rows["7"]["field"] == "page size" and rows["7"]["value"] == 1
    assert rows["51:21"]["value"] == "0x40200000"
    assert rows["20:12"]["field"] == "reserved"
    nonleaf = {r["bits"]: r for r in describe(R | W | X | A | 0x5000, 3)}
    assert nonleaf["7"]["value"] == 0 and nonleaf["51:12"]["value"] == "0x5000"


# ---------------------------------------------------------------------------
# The fault path
# ---------------------------------------------------------------------------
def test_ram_first_touch_2m_with_thp_and_kvm_leaf_value():
    vm = gpu_vm()
    m = Mmu(vm)
    # pc.ram is one 2M-aligned THP block (QEMU_VMALLOC_ALIGN) and its slot
    # [0x100000, 0x80000000) has userspace_addr congruent to the GPA; the
    # 2M frame at 0x200000 lies inside the slot -> level 2, WB
    assert m.access(0x200000, "read") == [
        {"op": "map", "gfn": "0x200", "level": 2, "memtype": "wb", "exit": False}]
    assert m.access(0x3FF000, "write") == []             # same 2M leaf: no exit
    leaf = m.leaves[2][0x200]
    t = vm.host.translate(vm.kvm.slots[8].userspace_addr + 0x100000)   # HVA of GPA 0x200000
    assert t.page_size == 2 * MiB
    # make_spte for RAM (A/D on, no exec-only, Linux 6.10+): R W X, WB<<3,
    # IPAT, page size, A, D, MMU-present (11), pfn, host-/MMU-writable
    # (57, 58), suppress-#VE (63)
    assert leaf == (R | W | X | (6 << MT) | IPAT | PS | A | D | (1 << 11) | t.hpa
                    | (1 << 57) | (1 << 58) | SVE)
    # the slot's first 2M frame [0, 0x200000) sticks out of it (base 0x100000
    # is not 2M-aligned: lpage_info disallow_lpage) -> 4K
    assert m.access(0x1FF000)[0]["level"] == 1


def test_ram_4k_without_thp():
    vm = gpu_vm()
    vm.host.thp = False              # host maps RAM with 4K PTEs -> host level 4K
    m = Mmu(vm)
    assert m.access(0x200000)[0] == {"op": "map", "gfn": "0x200", "level": 1,
                                     "memtype": "wb", "exit": False}
    assert m.access(0x201000)[0]["level"] == 1          # each 4K page faults
    assert m.stats()["leaves"] == {"4K": 2, "2M": 0, "1G": 0}


def test_1g_bar_maps_level_3_uc():
    vm = gpu_vm()
    m = Mmu(vm)
    slot = next(s for s in vm.kvm.slots if s.mr_name == f"{GPU} BAR 1 mmaps[0]")
    gpa, ua = slot.start_addr, slot.userspace_addr
    t = vm.host.translate(ua)
    # preconditions of a 1G mapping: GPA, HVA, HPA all 1G-aligned, slot
    # holds whole GiBs, the host maps the BAR with PUD pfnmap entries
    assert gpa % GiB == 0 and ua % GiB == 0 and t.hpa % GiB == 0
    assert slot.memory_size % GiB == 0 and t.page_size == GiB and t.kind == "pfnmap"
    assert m.access(gpa + 0x1234, "write") == [
        {"op": "map", "gfn": hex(gpa >> 12), "level": 3, "memtype": "uc", "exit": False}]
    leaf = m.leaves[3][gpa >> 12]
    # host MMIO: UC (0 << 3) and no ignore-PAT (vmx_get_mt_mask)
    assert leaf & (7 << MT) == 0 and not leaf & IPAT and leaf & PS
    assert leaf & ((1 << 52) - 1) & ~0xFFF == t.hpa


def test_noncongruent_slot_gets_4k_only():
    vm = VM("pc", 64 * MiB)
    blk = MemoryRegion.init_ram("blk", 64 * MiB)
    vm.alloc_ram(blk)
    # a 32M window starting 4K into the RAM block, placed at a 2M-aligned
    # GPA: userspace_addr = hva + 0x1000 is not congruent to the GPA mod 2M
    vm.system_memory.add_subregion(0x4000000, MemoryRegion.init_alias("win", blk, 0x1000,
                                                                      32 * MiB))
    (slot,) = [s for s in vm.kvm.slots if s.memory_size]
    assert (slot.start_addr - slot.userspace_addr) % (2 * MiB) != 0
    assert vm.host.translate(slot.userspace_addr + 2 * MiB).page_size == 2 * MiB  # host is THP
    m = Mmu(vm, levels=4)                  # a VM built by hand has no stack to derive it from
    levels = {m.access(slot.start_addr + off)[0]["level"] for off in range(0, 32 * MiB, 2 * MiB)}
    assert levels == {1}


def test_emulated_mmio_edu_every_access_exits():
    vm = emu_vm()
    m = Mmu(vm)
    edu = region_start(vm, "edu-mmio")
    first = m.access(edu + 8, "write")
    assert first == [{"op": "mmio", "gfn": hex(edu >> 12), "exit": False},
                     {"op": "exit_mmio", "gpa": hex(edu + 8), "region": "edu-mmio", "exit": True}]
    for _ in range(3):         # MMIO SPTE -> EPT misconfiguration -> KVM_EXIT_MMIO
        assert m.access(edu + 8) == [{"op": "exit_mmio", "gpa": hex(edu + 8),
                                      "region": "edu-mmio", "exit": True}]
    assert m.stats()["ept_misconfigs"] == 3 and m.stats()["mmio_sptes"] == 1
    # a second page of the 1M BAR gets its own MMIO SPTE
    assert m.access(edu + 0x1000)[0]["op"] == "mmio"
    assert is_mmio_spte(m.mmio[edu >> 12])


def test_mmio_caching_off_never_installs_mmio_sptes():
    vm = emu_vm()
    m = Mmu(vm, mmio_caching=False)
    edu = region_start(vm, "edu-mmio")
    for _ in range(2):
        assert [e["op"] for e in m.access(edu)] == ["exit_mmio"]
    assert m.stats()["mmio_sptes"] == 0 and m.stats()["ept_violations"] == 2


def test_ivshmem_ram_bar_maps_wb():
    vm = emu_vm()
    m = Mmu(vm)
    bar2 = region_start(vm, "m0")      # ivshmem BAR 2: the 64M memory backend
    ev = m.access(bar2 + 0x5000, "write")
    assert ev[0]["op"] == "map" and ev[0]["memtype"] == "wb" and ev[0]["level"] == 2


def test_msix_table_page_exits():
    vm = nvme_vm()
    m = Mmu(vm)
    dev = find_bdf(vm, "00:01.0")
    bar0 = dev.io_regions[0].addr
    table = region_start(vm, "msix-table")
    assert table == bar0 + 0x2000                # lspci: Vector table: BAR=0 offset=00002000
    ev = m.access(table, "write")
    assert ev[-1] == {"op": "exit_mmio", "gpa": hex(table), "region": "msix-table", "exit": True}
    # the rest of that page is BAR mmap in QEMU's view but has no memslot
    # (kvm_align_section trims the range to whole pages): it exits too and
    # QEMU accesses the mmap itself
    ev = m.access(table + 0x800)
    assert ev[-1]["region"] == f"{NVME} BAR 0 mmaps[0]" and ev[-1]["exit"]
    # the BAR's first two pages have a slot: they map, UC
    assert m.access(bar0)[0] == {"op": "map", "gfn": hex(bar0 >> 12), "level": 1,
                                 "memtype": "uc", "exit": False}


def test_rom_write_exits_read_maps():
    vm = gpu_vm()
    m = Mmu(vm)
    # pc.bios [0xfffc0000, 4G) is a read-only memslot (KVM_MEM_READONLY)
    read = m.access(0xFFFC0000, "read")
    assert read[0]["op"] == "map" and read[0]["level"] == 1     # 256K slot: no huge frame fits
    assert not m.leaves[1][0xFFFC0] & W
    assert m.access(0xFFFC0000, "write") == [
        {"op": "exit_mmio", "gpa": "0xfffc0000", "region": "pc.bios", "exit": True}]
    assert m.stats()["mmio_sptes"] == 0     # RO faults are not cached as MMIO


def test_in_kernel_ioapic_does_not_reach_qemu():
    vm = gpu_vm()
    m = Mmu(vm)
    ev = m.access(0xFEC00000)
    assert ev[-1] == {"op": "kvm_mmio", "gpa": "0xfec00000", "region": "kvm-ioapic",
                      "device": "in-kernel IOAPIC", "exit": False}


def test_decode_off_and_move_bar():
    vm = emu_vm()
    m = Mmu(vm)
    dev = find_bdf(vm, "00:01.0")              # ivshmem-plain
    old = dev.io_regions[2].addr
    assert m.access(old)[0]["op"] == "map"
    set_decode(vm, dev, False)
    ev = m.access(old)
    assert ev == [{"op": "mmio", "gfn": hex(old >> 12), "exit": False},
                  {"op": "exit_mmio", "gpa": hex(old), "region": "unassigned", "exit": True}]
    set_decode(vm, dev, True)
    assert m.access(old)[0]["op"] == "map"     # stale MMIO SPTE gone (zap), maps again
    new = 0x80000000 + 64 * MiB
    move_bar(vm, "00:01.0", 2, new, how="clean")
    assert m.access(old)[-1]["op"] == "exit_mmio"
    ev = m.access(new + 0x1000)
    # no VFIO: the never-written memory-backend-ram maps the (huge) zero page
    assert ev == [{"op": "map", "gfn": hex(new >> 12), "level": 2, "memtype": "wb",
                   "exit": False, "zero_page": True}]


def test_zap_all_on_delete_and_refaults():
    vm = gpu_vm()
    m = Mmu(vm)
    for gpa in (0x200000, 0x600000, 0x10000000):
        m.access(gpa)
    bar0 = find_bdf(vm, "00:01.0").io_regions[0].addr
    m.access(bar0)
    n_before = len(vm.events)
    set_decode(vm, find_bdf(vm, "00:01.0"), False)      # deletes the 3 BAR memslots
    evs = vm.events[n_before:]
    zaps = [e for e in evs if e["op"] == "zap"]
    assert zaps[0] == {"op": "zap", "scope": "all", "slot": 2, "entries": 4}
    assert [z["entries"] for z in zaps[1:]] == [0, 0]
    # each zap comes before the set_user_memory trace of its ioctl
    i = evs.index(zaps[0])
    assert evs[i + 1]["op"] == "set_user_memory" and evs[i + 1]["size"] == 0
    assert m.stats()["leaves"] == {"4K": 0, "2M": 0, "1G": 0} and m.stats()["table_pages"] == 1
    for gpa in (0x200000, 0x600000, 0x10000000):        # RAM faults in again
        assert m.access(gpa)[0]["op"] == "map"
    assert m.stats()["refaults"] == 3


def test_zap_slot_keeps_other_mappings_and_mmio_goes_stale():
    vm = gpu_vm()
    m = Mmu(vm, zap="slot")
    m.access(0x200000)
    m.access(0x90000000)                               # no slot: MMIO SPTE
    dev = find_bdf(vm, "00:01.0")
    bar0 = dev.io_regions[0].addr
    m.access(bar0)
    set_decode(vm, dev, False)
    zaps = [e for e in m.events if e["op"] == "zap"]
    assert zaps[0] == {"op": "zap", "scope": "slot", "slot": 2, "entries": 1}
    assert m.access(0x200000) == []                     # RAM still mapped
    # the MMIO SPTE survived but its generation is old: the misconfiguration
    # falls back to the fault path, which installs a fresh one
    ev = m.access(0x90000000)
    assert [e["op"] for e in ev] == ["mmio", "exit_mmio"]
    assert m.access(0x90000000) == [ev[1]]


def test_dirty_logging_maps_4k_and_recovers_huge_pages():
    vm = emu_vm()
    m = Mmu(vm)
    mr = vm.memdevs["m0"]
    bar2 = region_start(vm, "m0")
    assert m.access(bar2)[0]["level"] == 2
    mr.set_log(True, 0)                                 # DIRTY_MEMORY_VGA
    assert m.access(bar2) == []                         # INITIALLY_SET: leaf untouched
    assert m.access(bar2 + 2 * MiB, "write")[0]["level"] == 1   # dirty-logged slot: 4K
    assert m.dirty_bitmap[next(iter(m.dirty_bitmap))] == {512}
    mr.set_log(False, 0)
    z = [e for e in m.events if e["op"] == "zap"][-1]
    assert z == {"op": "zap", "scope": "collapsible", "slot": z["slot"], "entries": 1}
    assert m.access(bar2 + 2 * MiB)[0]["level"] == 2


def test_legacy_mmu_prefetches_neighbours():
    vm = gpu_vm()
    vm.host.thp = False
    m = Mmu(vm, tdp_mmu=False)
    m.access(0x203000)
    # direct_pte_prefetch: the aligned group of 8 PTEs, prefetched without A
    assert sorted(m.leaves[1]) == list(range(0x200, 0x208))
    assert m.leaves[1][0x203] & A and not m.leaves[1][0x204] & A
    assert m.access(0x205000) == []


def test_access_errors():
    m = Mmu(gpu_vm())
    with pytest.raises(ActionError, match="kind"):
        m.access(0, "fetch")
    with pytest.raises(ActionError, match="48-bit"):
        m.access(1 << 48)
    with pytest.raises(ActionError, match="MMIO"):
        m.access(0x90000000, "exec")
    with pytest.raises(ConfigError, match="zap"):
        Mmu(gpu_vm(), zap="none")


# ---------------------------------------------------------------------------
# Batch path = per-access path
# ---------------------------------------------------------------------------
@pytest.mark.parametrize("thp", [True, False])
def test_touch_equals_access(thp):
    vm_a, vm_b = gpu_vm(), gpu_vm()
    vm_a.host.thp = vm_b.host.thp = thp
    a, b = Mmu(vm_a, record=False), Mmu(vm_b, record=False)
    rng = np.random.default_rng(7)
    gpas = np.concatenate([rng.integers(0, 2 * GiB, 3000),
                           rng.integers(0xFD000000, 0xFF000000, 300),
                           rng.integers(0x400000000, 0x800000000, 50), [0xFFFC0000, 0x90000000]])
    pages = sorted(set(int(x) >> 12 for x in gpas))
    keys = ("maps", "ept_violations", "ept_misconfigs", "mmio_sptes", "exits_mmio", "kvm_mmio")
    for kind, flip in (("read", False), ("write", False), ("read", True)):
        if flip:
            # host THP switched: 2M frames that hold 4K tables now fault at
            # 2M and free the table (the batch path hands those to access())
            vm_a.host.thp = vm_b.host.thp = not thp
            gpas = gpas + 0x1000
            pages = sorted(set(int(x) >> 12 for x in gpas))
        summary = b.touch(gpas, kind)
        for g in pages:
            a.access(g << 12, kind)
        assert a.leaves == b.leaves and a.mmio == b.mmio
        assert ({lv: set(t) for lv, t in a.tables.items()}
                == {lv: set(t) for lv, t in b.tables.items()})
        assert {k: a.counters[k] for k in keys} == {k: b.counters[k] for k in keys}
        assert summary["pages"] == len(pages)


# ---------------------------------------------------------------------------
# Two-dimensional walk
# ---------------------------------------------------------------------------
def build_guest(thp: bool):
    vm = gpu_vm()
    vm.host.thp = thp
    m = Mmu(vm)
    pt = GuestPageTables(m, pool_gpa=0x1000000)
    gva = 0xFFFF888000201000
    pt.map(gva, 0x3000000)
    return m, pt, gva


def test_walk_2d_24_references_with_4k_ept():
    m, pt, gva = build_guest(thp=False)
    w = m.walk_2d(gva, pt.cr3)
    assert w.gpa == 0x3000000 and w.attempts > 1 and w.faults      # cold EPT filled first
    assert len(w) == (4 + 1) * (4 + 1) - 1 == 24
    assert w.counts() == {"ept": 20, "guest": 4, "total": 24}
    # order: for each guest level, the 4 EPT entries for the table's GPA,
    # then the guest entry; finally 4 EPT entries for the data's GPA
    expect = []
    for gl in (4, 3, 2, 1):
        expect += [(gl, lv) for lv in (4, 3, 2, 1)] + [(gl, None)]
    expect += [(0, lv) for lv in (4, 3, 2, 1)]
    assert [(r["guest_level"], r["ept_level"]) for r in w] == expect
    assert w[4]["gpa"] == hex(pt.cr3 + ((gva >> 39) & 0x1FF) * 8)
    # a second walk finds EPT complete: one attempt, no faults
    w2 = m.walk_2d(gva, pt.cr3)
    assert w2.attempts == 1 and not w2.faults and len(w2) == 24


def test_walk_2d_shorter_with_2m_ept_leaves():
    m, pt, gva = build_guest(thp=True)
    w = m.walk_2d(gva, pt.cr3)
    # every EPT walk ends at a 2M PDE: 5 GPAs x 3 + 4 guest entries
    assert len(w) == 5 * 3 + 4 == 19


def test_walk_2d_guest_huge_page_and_fault():
    m, pt, _ = build_guest(thp=False)
    pt.map(0x40000000, 0x200000, page_size=2 * MiB)
    w = m.walk_2d(0x40012345, pt.cr3)
    assert w.gpa == 0x212345
    assert len(w) == 3 * 5 + 4           # guest walk stops at the PDE
    miss = m.walk_2d(0x7F0000000000, pt.cr3)
    assert miss.gpa is None and miss.guest_fault == 0x7F0000000000
    with pytest.raises(ActionError, match="canonical"):
        m.walk_2d(0x0000800000000000, pt.cr3)
    with pytest.raises(ConfigError, match="guest RAM"):
        GuestPageTables(m, pool_gpa=0x90000000)


def test_5_level_ept():
    vm = gpu_vm()
    vm.host.thp = False
    m = Mmu(vm, levels=5)
    pt = GuestPageTables(m, pool_gpa=0x1000000)
    pt.map(0x400000, 0x3000000)
    w = m.walk_2d(0x400000, pt.cr3)
    # (n+1)(m+1)-1 with n = 4 guest levels, m = 5 EPT levels
    assert len(w) == (4 + 1) * (5 + 1) - 1 == 29
    assert [lv for lv, _, _ in m.ept_walk(0x3000000)] == [5, 4, 3, 2, 1]
    assert m.stats()["tables"]["PML5"] == 1
