"""The KVM MMU and host page-table rules that changed between versions,
pinned from both sides of each boundary.

Every expected value below is written from the source named in the test,
never from the model's output:

* EPT depth: arch/x86/kvm/mmu/mmu.c ``kvm_mmu_get_tdp_level`` (Linux 6.1.20
  line 4999, 6.12.0 line 5462, same text), vmx.c ``kvm_configure_mmu(enable_ept,
  0, vmx_get_max_tdp_level() / vmx_get_max_ept_level(), ...)``, svm.c
  ``kvm_configure_mmu(npt_enabled, get_npt_level(), ...)``;
* BAR mmap page-table level: Linux 6.1 drivers/vfio/pci/vfio_pci_core.c
  ``vfio_pci_mmap_fault`` (``io_remap_pfn_range``, 4 KiB PTEs); 6.12
  ``vfio_pci_mmap_huge_fault`` (f9e54c3a2f5b; order-aligned block inside the
  VMA and PFN aligned: 09dfc8a5f2ce, c1d9dac0db16), offered only with THP
  ``always`` (mm/huge_memory.c ``__thp_vma_allowable_orders``);
* memory type: Linux 6.1 arch/x86/kvm/vmx/vmx.c ``vmx_get_mt_mask``,
  arch/x86/kvm/mtrr.c ``kvm_mtrr_get_guest_memory_type`` /
  ``kvm_mtrr_check_gfn_range_consistency``, mmu.c ``kvm_tdp_page_fault``;
  6.11+/6.12 ``vmx_get_mt_mask`` (0a7b73559b39, e1548088ff54); SeaBIOS
  rel-1.16.2 src/fw/mtrr.c ``mtrr_setup``; SDM EPT leaf bits 5:3 type, 6 IPAT;
* memslot flush: 6.1 ``kvm_arch_flush_shadow_memslot`` (x86.c) ->
  ``kvm_mmu_invalidate_zap_pages_in_memslot`` -> ``kvm_mmu_zap_all_fast``;
  6.12 mmu.c ``kvm_memslot_flush_zap_all`` (KVM_X86_QUIRK_SLOT_ZAP_ALL,
  aa8d1f48d353) / ``kvm_mmu_zap_memslot``;
* zero page: virt/kvm/kvm_main.c ``hva_to_pfn_fast`` / ``hva_to_pfn_slow``
  (``map_writable``), mm/memory.c ``do_anonymous_page``, mm/huge_memory.c
  ``do_huge_pmd_anonymous_page`` / ``do_huge_pmd_wp_page``;
  drivers/vfio/vfio_iommu_type1.c ``vfio_pin_pages_remote`` (FOLL_WRITE).
"""

from __future__ import annotations

from dataclasses import replace

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from vfiolab.addr import GiB, MiB
from vfiolab.errors import ConfigError
from vfiolab.model.ept import GuestMtrrs, Mmu, tdp_level
from vfiolab.model.host import HostAddressSpace
from vfiolab.predict import predict
from vfiolab.stack import make_stack

GPU = "0000:01:00.0"
GPU_DEV = {GPU: "data/devices/gpu-nvidia-tesla-p100"}
GPU_ARGS = f"-M q35 -m 2G -nodefaults -device vfio-pci,host={GPU},id=gpu0"
EMU_ARGS = "-M q35 -m 1G -nodefaults -device edu,id=edu0"

# SDM EPT leaf: memory type bits 5:3, ignore-PAT bit 6, W bit 1;
# KVM spte.h: bit 57 host-writable, bit 58 MMU-writable
MT_SHIFT, IPAT, W = 3, 1 << 6, 1 << 1
HOST_WRITABLE, MMU_WRITABLE = 1 << 57, 1 << 58
UC, WT, WP, WB = 0, 4, 5, 6


def stack(name="debian12", vendor="GenuineIntel", bits=46, **kw):
    """A preset with a fixed host CPU (not this machine's) and overrides."""
    s = make_stack(name, cpu_vendor=vendor, phys_bits=bits, cpu="given")
    return replace(s, **kw) if kw else s


def vm_for(args=GPU_ARGS, st=None, devices=GPU_DEV):
    return predict(args.split(), stack=st or stack(), host_devices=devices).vm


def slot_named(vm, name):
    return next(s for s in vm.kvm.slots if s.mr_name == name and s.memory_size)


# ---------------------------------------------------------------------------
# 1. EPT depth: kvm_mmu_get_tdp_level
# ---------------------------------------------------------------------------
#: (host vendor, host 5-level capability, guest MAXPHYADDR) -> root level,
#: written from mmu.c kvm_mmu_get_tdp_level + vmx.c/svm.c kvm_configure_mmu
TDP_LEVEL_TABLE = [
    ("GenuineIntel", True, 40, 4),    # qemu64 default phys-bits 40 <= 48 -> 4
    ("GenuineIntel", True, 48, 4),    # "cpuid_maxphyaddr(vcpu) <= 48" -> 4
    ("GenuineIntel", True, 49, 5),    # just past the boundary -> max_tdp_level 5
    ("GenuineIntel", True, 52, 5),    # -cpu host on a 52-bit host
    ("GenuineIntel", False, 52, 4),   # no VMX_EPT_PAGE_WALK_5_BIT: max 4
    ("GenuineIntel", False, 40, 4),
    ("AuthenticAMD", True, 40, 5),    # forced: get_npt_level() = 5 with LA57
    ("AuthenticAMD", True, 52, 5),
    ("AuthenticAMD", False, 52, 4),   # forced: 4 without LA57, whatever the guest
    ("AuthenticAMD", False, 40, 4),
]


@pytest.mark.parametrize("vendor,cap,bits,level", TDP_LEVEL_TABLE)
def test_tdp_level_table(vendor, cap, bits, level):
    assert tdp_level(vendor, cap, bits) == level


@given(vendor=st.sampled_from(["GenuineIntel", "AuthenticAMD"]), cap=st.booleans(),
       bits=st.integers(32, 64))
@settings(max_examples=200, deadline=None)
def test_tdp_level_property(vendor, cap, bits):
    # mmu.c: if (tdp_root_level) return tdp_root_level;  (SVM forces get_npt_level)
    #        if (max_tdp_level == 5 && cpuid_maxphyaddr <= 48) return 4;
    #        return max_tdp_level;                         (VMX: 5 iff EPT 5-level)
    forced = (5 if cap else 4) if vendor == "AuthenticAMD" else 0
    max_level = 5 if cap else 4
    want = forced or (4 if max_level == 5 and bits <= 48 else max_level)
    assert tdp_level(vendor, cap, bits) == want


def test_mmu_levels_read_guest_phys_bits_and_host_capability():
    # Intel host with 5-level EPT, 52-bit: the default guest (phys-bits 40)
    # gets 4 levels; -cpu host copies the host's 52 bits -> 5 levels
    st5 = stack("debian12", "GenuineIntel", 52, host_5level=True)
    assert Mmu(vm_for(EMU_ARGS, st5, None)).levels == 4
    assert Mmu(vm_for(EMU_ARGS + " -cpu host", st5, None)).levels == 5
    assert Mmu(vm_for(EMU_ARGS + " -cpu qemu64,phys-bits=48", st5, None)).levels == 4
    # the same guest on a host without the capability: 4
    st4 = stack("debian12", "GenuineIntel", 52)
    assert Mmu(vm_for(EMU_ARGS + " -cpu host", st4, None)).levels == 4
    # AMD with LA57: 5 even for a 40-bit guest; without: 4
    amd5 = stack("debian13", "AuthenticAMD", 52, host_5level=True)
    assert Mmu(vm_for(EMU_ARGS, amd5, None)).levels == 5
    assert Mmu(vm_for(EMU_ARGS, stack("debian13", "AuthenticAMD", 52), None)).levels == 4


def test_mmu_levels_need_a_stack_or_an_explicit_depth():
    from vfiolab.model.vm import VM
    vm = VM("pc", 64 * MiB)
    with pytest.raises(ConfigError, match="stack"):
        Mmu(vm)
    assert Mmu(vm, levels=5).levels == 5


# ---------------------------------------------------------------------------
# 2. Huge PFN maps of a passthrough BAR: Linux 6.12 + THP always + alignment
# ---------------------------------------------------------------------------
def test_bar_ept_leaves_4k_on_debian12():
    # Linux 6.1: vfio_pci_mmap_fault -> io_remap_pfn_range: 4 KiB host PTEs,
    # so host_pfn_mapping_level caps the 16 GiB BAR 1 at 4K
    vm = vm_for()
    slot = slot_named(vm, f"{GPU} BAR 1 mmaps[0]")
    assert vm.host.translate(slot.userspace_addr).page_size == 4096
    ev = Mmu(vm).access(slot.start_addr + 0x1234, "read")
    assert ev[0]["level"] == 1 and ev[0]["memtype"] == "uc"


def test_bar_ept_leaves_1g_on_debian13():
    # Linux 6.12 vfio_pci_mmap_huge_fault: PUD where the 1 GiB block is
    # inside the VMA and the PFN 1 GiB-aligned; QEMU 10.0 aligned the mmap
    # (00b519c0bc: min(16 GiB, 1 GiB)); the GPA is 1 GiB aligned -> 1G leaf
    vm = vm_for(st=stack("debian13"))
    slot = slot_named(vm, f"{GPU} BAR 1 mmaps[0]")
    assert slot.userspace_addr % GiB == 0 and slot.start_addr % GiB == 0
    assert vm.host.translate(slot.userspace_addr).page_size == GiB
    assert Mmu(vm).access(slot.start_addr + 0x1234, "read")[0]["level"] == 3
    # the 16 MiB BAR 0: 2 MiB PMDs at most (a 1 GiB block sticks out of the VMA)
    s0 = slot_named(vm, f"{GPU} BAR 0 mmaps[0]")
    assert vm.host.translate(s0.userspace_addr).page_size == 2 * MiB


def test_kernel_boundary_not_qemu_decides_huge_pfnmap():
    # QEMU 10.0 (aligned mmaps) on Linux 6.1: still 4K; Linux 6.11 too
    for kernel in ("6.1", "6.11"):
        st = make_stack("debian13", kernel=kernel, cpu_vendor="GenuineIntel", phys_bits=46)
        vm = vm_for(st=st)
        slot = slot_named(vm, f"{GPU} BAR 1 mmaps[0]")
        assert vm.host.translate(slot.userspace_addr).page_size == 4096, kernel


def _bar_host(kernel, thp="always", align=GiB, hpa=0x3B800000000):
    h = HostAddressSpace(stack=make_stack("debian13", kernel=kernel, cpu_vendor="GenuineIntel",
                                          phys_bits=46), thp_enabled=thp)
    h.alloc(0x3000, "pad", align=4096)                # push the next HVA off 1G alignment
    hva = h.alloc(2 * GiB, "bar", "pfnmap", align=align, hpa=hpa)
    return h, hva


def test_huge_pfnmap_needs_aligned_hva_and_pfn():
    # aligned HVA + 1G-aligned PFN: PUD; only page-aligned HVA (QEMU < 9.2
    # takes what mmap(NULL, ...) returns): the order-aligned block around
    # the fault is not congruent with the PFN -> fallback to 4K PTEs
    h, hva = _bar_host("6.12")
    assert h.translate(hva + 0x5000).page_size == GiB
    h, hva = _bar_host("6.12", align=4096)
    assert hva % (2 * MiB) != 0
    assert h.translate(hva + 0x5000).page_size == 4096
    # a 1G-aligned HVA over a PFN only 2 MiB aligned: no PUD (09dfc8a5f2ce:
    # pfn & ((1 << order) - 1)), PMDs
    h, hva = _bar_host("6.12", hpa=0x3B800200000)
    assert hva % GiB == 0
    assert h.translate(hva + 2 * MiB + 0x5000).page_size == 2 * MiB
    # the same on Linux 6.1: 4K whatever the alignment
    h, hva = _bar_host("6.1")
    assert hva % GiB == 0 and h.translate(hva).page_size == 4096


def test_huge_pfnmap_needs_thp_always():
    # __thp_vma_allowable_orders: a non-anonymous VMA without VM_HUGEPAGE needs
    # enabled=always; madvise/never -> the core never calls ->huge_fault
    for thp, want in (("always", GiB), ("madvise", 4096), ("never", 4096)):
        h, hva = _bar_host("6.12", thp=thp)
        assert h.translate(hva).page_size == want, thp
    # guest RAM is madvised (MADV_HUGEPAGE): THP under always and madvise
    for thp, want in (("always", 2 * MiB), ("madvise", 2 * MiB), ("never", 4096)):
        h = HostAddressSpace(stack=make_stack("debian13", cpu_vendor="GenuineIntel",
                                              phys_bits=46), thp_enabled=thp)
        ram = h.alloc(64 * MiB, "pc.ram")
        assert h.translate(ram + 0x1000).page_size == want, thp
    with pytest.raises(ConfigError, match="transparent_hugepage"):
        HostAddressSpace(thp_enabled="sometimes")


def test_huge_pfnmap_without_a_stack_is_refused():
    h = HostAddressSpace()
    bar = h.alloc(GiB, "bar", "pfnmap", align=GiB, hpa=0x40000000)
    with pytest.raises(ConfigError, match="kernel"):
        h.translate(bar)
    assert HostAddressSpace(huge_pfnmap=True).pfnmap_huge


# ---------------------------------------------------------------------------
# 3. Memory type under non-coherent DMA (vmx_get_mt_mask)
# ---------------------------------------------------------------------------
def test_seabios_mtrrs():
    # src/fw/mtrr.c mtrr_setup with RamSize = 2 GiB, pcimem_start 0xc0000000
    m = GuestMtrrs.seabios(2 * GiB, 0xC0000000, 40)
    assert m.deftype == 0xC06
    assert m.memory_type(0x0) == WB and m.memory_type(0x9F) == WB     # fix64K/16K WB
    assert m.memory_type(0xA0) == UC and m.memory_type(0xBF) == UC    # fix16K_A0000 = 0
    assert m.memory_type(0xC0) == WP and m.memory_type(0xFF) == WP    # fix4K_* WP
    assert m.memory_type(0x100) == WB                                  # default type
    assert m.memory_type(0xBFFFF) == WB and m.memory_type(0xC0000) == UC   # var0
    assert m.memory_type(0xFFFFF) == UC and m.memory_type(0x100000) == WB  # ends at 4G
    # consistency: the first 2M frame mixes WB/UC/WP; [2M, 4M) is all default
    assert not m.consistent(0x0, 512) and m.consistent(0x200, 512)
    assert not m.consistent(0xBFE00, 1024)        # straddles pcimem_start
    # MTRRs disabled (reset state): UC with CPUID.MTRR (mtrr_disabled_type)
    assert GuestMtrrs().memory_type(0x100) == UC
    assert GuestMtrrs(cpuid_mtrr=False).memory_type(0x100) == WB


def _mt(spte):
    return (spte >> MT_SHIFT) & 7, bool(spte & IPAT)


@pytest.mark.parametrize("name,kernel,want", [
    ("debian12", "6.1", (WP, False)),      # guest MTRR WP at 0xf0000, no IPAT (0x28)
    ("debian12", "6.10", (WP, False)),     # last release with guest-MTRR memtypes
    ("debian12", "6.11", (WB, False)),     # 0a7b73559b39: WB honouring guest PAT (0x30)
    ("debian13", "6.12", (WB, False)),
])
def test_noncoherent_memtype_by_kernel(name, kernel, want):
    st = make_stack(name, kernel=kernel, cpu_vendor="GenuineIntel", phys_bits=46)
    vm = vm_for(st=st)
    m = Mmu(vm, noncoherent_dma=True)
    m.access(0xF0000, "read")
    assert _mt(m.leaves[1][0xF0]) == want
    # coherent DMA: WB + ignore-PAT (0x70) on every kernel
    c = Mmu(vm_for(st=st))
    c.access(0xF0000, "read")
    assert _mt(c.leaves[1][0xF0]) == (WB, True)


def test_noncoherent_cr0_cd_and_disabled_mtrrs_on_6_1():
    vm = vm_for()
    # CR0.CD=1 (reset): WB|IPAT with KVM_X86_QUIRK_CD_NW_CLEARED, UC|IPAT without
    m = Mmu(vm, noncoherent_dma=True, guest_cr0_cd=True)
    m.access(0x200000)
    assert _mt(m.leaves[2][0x200]) == (WB, True)
    m.detach()
    m = Mmu(vm, noncoherent_dma=True, guest_cr0_cd=True, cd_nw_cleared_quirk=False)
    m.access(0x200000)
    assert _mt(m.leaves[2][0x200]) == (UC, True)
    m.detach()
    # CD clear but the MTRRs not enabled yet: UC (mtrr_disabled_type)
    m = Mmu(vm, noncoherent_dma=True, guest_mtrrs=GuestMtrrs())
    m.access(0x200000)
    assert _mt(m.leaves[2][0x200]) == (UC, False)
    m.detach()
    # 6.12 ignores CR0.CD (e1548088ff54): WB, no IPAT
    m = Mmu(vm_for(st=stack("debian13")), noncoherent_dma=True, guest_cr0_cd=True)
    m.access(0x200000)
    assert _mt(m.leaves[2][0x200]) == (WB, False)


def test_noncoherent_mtrr_split_caps_huge_pages_before_6_11():
    # a guest UC range [17M, 18M) (MTRRphysBase 0x1100000|UC, mask for 1 MiB)
    # inside the 2M frame [16M, 18M): kvm_mtrr_check_gfn_range_consistency
    # fails -> 4K on 6.1; no cap on 6.12 (0a7b73559b39) -> 2M
    sb = GuestMtrrs.seabios(2 * GiB, 0xC0000000, 40)
    mtrrs = replace(sb, var=sb.var + ((0x1100000 | UC, ((-MiB) & ((1 << 40) - 1)) | 0x800),))
    assert mtrrs.memory_type(0x1100) == UC and mtrrs.memory_type(0x10FF) == WB
    for st, level in ((stack("debian12"), 1), (stack("debian13"), 2)):
        m = Mmu(vm_for(st=st), noncoherent_dma=True, guest_mtrrs=mtrrs)
        assert m.access(0x1000000)[0]["level"] == level
        # a frame the MTRRs do not split keeps its 2M leaf on both
        assert m.access(0x2000000)[0]["level"] == 2


# ---------------------------------------------------------------------------
# 4. Memslot flush: KVM_X86_QUIRK_SLOT_ZAP_ALL
# ---------------------------------------------------------------------------
def test_slot_zap_refused_before_6_12():
    with pytest.raises(ConfigError, match="6.12"):
        Mmu(vm_for(), zap="slot")
    with pytest.raises(ConfigError, match="6.12"):
        Mmu(vm_for(st=make_stack("debian13", kernel="6.11", cpu_vendor="GenuineIntel",
                                 phys_bits=46)), zap="slot")


def test_slot_zap_on_6_12_is_a_what_if_for_qemu():
    m = Mmu(vm_for(st=stack("debian13")), zap="slot")
    assert any("QEMU 10.0 never disables KVM_X86_QUIRK_SLOT_ZAP_ALL" in n for n in m.notes)
    assert Mmu(vm_for(st=stack("debian13"))).notes == []


@pytest.mark.parametrize("name", ["debian12", "debian13"])
def test_default_slot_delete_zaps_everything(name):
    from vfiolab.model.guest import move_bar
    vm = vm_for(st=stack(name))
    m = Mmu(vm)
    m.access(0x200000)                          # a RAM leaf outside the moved BAR
    slot = slot_named(vm, f"{GPU} BAR 3 mmaps[0]")
    m.access(slot.start_addr)
    move_bar(vm, "00:01.0", 3, slot.start_addr + 64 * GiB, how="clean")
    zaps = [e for e in m.events if e["op"] == "zap"]
    assert zaps and all(z["scope"] == "all" for z in zaps)
    assert not any(m.leaves[lv] for lv in (1, 2, 3))


def test_legacy_mmu_slot_zap_keeps_direct_tables():
    # 6.12 kvm_mmu_zap_memslot: kvm_unmap_gfn_range (leaves via rmaps) +
    # zapping shadow pages *with gptes* (for_each_gfn_valid_sp_with_gptes);
    # the legacy MMU over EPT builds direct pages (no gptes), so its tables stay
    from vfiolab.model.guest import move_bar
    vm = vm_for(st=stack("debian13"))
    m = Mmu(vm, tdp_mmu=False, zap="slot")
    slot = slot_named(vm, f"{GPU} BAR 3 mmaps[0]")
    m.access(slot.start_addr)
    m.access(0x200000)
    tables = {lv: dict(t) for lv, t in m.tables.items()}
    move_bar(vm, "00:01.0", 3, slot.start_addr + 64 * GiB, how="clean")
    assert m.leaves[2].get(0x200) is not None                     # RAM leaf kept
    assert all(b < slot.start_addr >> 12 or b >= (slot.start_addr + slot.memory_size) >> 12
               for lv in (1, 2, 3) for b in m.leaves[lv])
    assert all(set(tables[lv]) <= set(m.tables[lv]) for lv in tables)


# ---------------------------------------------------------------------------
# 5. The zero page: first read of never-written RAM without VFIO
# ---------------------------------------------------------------------------
def test_zero_page_read_then_write_faults_twice_without_vfio():
    vm = vm_for(EMU_ARGS, stack("debian12"), None)
    assert vm.vfio is None
    m = Mmu(vm)
    ev = m.access(0x100000, "read")
    assert ev[0]["op"] == "map" and ev[0]["level"] == 1 and ev[0]["zero_page"]
    spte = m.leaves[1][0x100]
    # hva_to_pfn_slow without FOLL_WRITE: map_writable false -> no W, no
    # host-writable, no MMU-writable (make_spte)
    assert not spte & (W | HOST_WRITABLE | MMU_WRITABLE)
    assert m.counters["ept_violations"] == 1
    ev = m.access(0x100000, "write")
    assert m.counters["ept_violations"] == 2 and m.counters["fast_pf"] == 0
    spte = m.leaves[1][0x100]
    assert spte & W and spte & HOST_WRITABLE and spte & MMU_WRITABLE
    assert m.access(0x100000, "write") == [] and m.counters["ept_violations"] == 2


def test_zero_page_huge_then_write_splits_to_4k():
    # THP: the read maps the huge zero page (do_huge_pmd_anonymous_page, 2M
    # read-only leaf); the write splits the PMD (do_huge_pmd_wp_page ->
    # fallback) and copies one 4K page; the notifier zaps the 2M leaf
    m = Mmu(vm_for(EMU_ARGS, stack("debian12"), None))
    ev = m.access(0x200000, "read")
    assert ev[0]["level"] == 2 and ev[0]["zero_page"]
    ev = m.access(0x201000, "write")
    assert [e["op"] for e in ev] == ["zap", "map"] and ev[1]["level"] == 1
    assert 0x200 not in m.leaves[2]
    # a neighbour in the same (now split) block is a 4K zero page again
    ev = m.access(0x202000, "read")
    assert ev[0]["level"] == 1 and ev[0]["zero_page"]


def test_vfio_pins_ram_writable_one_fault():
    vm = vm_for(st=stack("debian12"))
    assert vm.vfio is not None
    m = Mmu(vm)
    ev = m.access(0x100000, "read")
    assert "zero_page" not in ev[0]
    assert m.leaves[1][0x100] & W
    assert m.access(0x100000, "write") == [] and m.counters["ept_violations"] == 1


def test_touch_matches_access_for_zero_page():
    a = Mmu(vm_for(EMU_ARGS, stack("debian12"), None))
    b = Mmu(vm_for(EMU_ARGS, stack("debian12"), None))
    gpas = list(range(0x100000, 0x800000, 0x1000))
    a.touch(gpas, "read")
    for g in gpas:
        b.access(g, "read")
    assert a.leaves == b.leaves


def test_amd_has_no_guest_mtrr_cap():
    # the cap in kvm_tdp_page_fault needs shadow_memtype_mask, which is 0
    # under AMD NPT (only kvm_mmu_set_ept_masks sets it): a 2M leaf on 6.1
    sb = GuestMtrrs.seabios(2 * GiB, 0xC0000000, 40)
    mtrrs = replace(sb, var=sb.var + ((0x1100000 | UC, ((-MiB) & ((1 << 40) - 1)) | 0x800),))
    m = Mmu(vm_for(st=stack("debian12", "AuthenticAMD")), noncoherent_dma=True,
            guest_mtrrs=mtrrs)
    assert m.access(0x1000000)[0]["level"] == 2


def test_guest_page_tables_are_written_ram():
    # the guest kernel wrote its page-table pages: a walk's EPT fill maps
    # them writable; the never-written data page behind the GVA is the zero page
    from vfiolab.model.ept import GuestPageTables
    m = Mmu(vm_for(EMU_ARGS, stack("debian12"), None))
    m.vm.host.thp = False
    pt = GuestPageTables(m, pool_gpa=0x1000000)
    gva = 0xFFFF888000201000
    pt.map(gva, 0x3000000)
    m.walk_2d(gva, pt.cr3)
    assert m.leaves[1][pt.cr3 >> 12] & W
    assert not m.leaves[1][0x3000] & W


def test_firmware_written_ram_is_not_the_zero_page():
    # SeaBIOS wrote the first MiB (IVT/BDA at 0, shadowed ROMs at 0xc0000-
    # 0xfffff); QEMU's rom_reset wrote the BIOS image into pc.bios
    m = Mmu(vm_for(EMU_ARGS, stack("debian12"), None))
    ev = m.access(0x9000, "read")
    assert "zero_page" not in ev[0] and m.leaves[1][0x9] & W
    ev = m.access(0xFFFC0000, "read")
    assert "zero_page" not in ev[0]


def test_vectorised_first_writes_populate_ram_as_single_writes_do():
    """Mmu.touch writes unpinned RAM in bulk: the leaves, the host pages it
    leaves populated (a later read is no zero page) and the counters equal
    those of the same writes one access at a time (the rules above); a
    block that holds the huge zero page still takes the per-access split."""
    gpas = [0x1000000 + i * 0x1000 for i in range(0, 2048, 3)] + [0x5000000, 0x5001000]
    a = Mmu(vm_for(EMU_ARGS, stack("debian12"), None))
    b = Mmu(vm_for(EMU_ARGS, stack("debian12"), None))
    a.access(0x5000000, "read")                      # a huge zero page in one block
    b.access(0x5000000, "read")
    a.touch(gpas, "write")
    for g in sorted(set(gpas)):
        b.access(g, "write")
    assert {lv: dict(t) for lv, t in a.leaves.items()} == {lv: dict(t) for lv, t in b.leaves.items()}
    for k in ("ept_violations", "zaps"):
        assert a.counters[k] == b.counters[k], k
    for m in (a, b):
        assert m.access(0x1003000, "read") == []     # written: its leaf is there, no zero page
        ev = m.access(0x5002000, "read")             # the zero block, split by the write
        assert ev[0]["level"] == 1 and ev[0]["zero_page"]
