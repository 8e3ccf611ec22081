"""Property tests: the model against independent oracles written from the source.

Each oracle is short code written here from the real source (file and function
named), sharing nothing with vfiolab's implementation, and run against the
model on random inputs:

* SeaBIOS 1.16.2 BAR placement (tests/seabios_oracle.py, from src/fw/pciinit.c
  at rel-1.16.2) against ``vfiolab.model.firmware.seabios`` on random root-bus
  VMs of edu and ivshmem-plain devices; the oracle itself is first checked
  against every real capture without a bridge;
* KVM memslots (QEMU 7.2 accel/kvm/kvm-all.c kvm_set_phys_mem,
  kvm_align_section, kvm_get_free_slot, kvm_lookup_matching_slot,
  kvm_mem_flags; softmmu/memory.c address_space_update_topology_pass: every
  removed range is region_del'd before any new range is region_add'ed, each
  pass in address order) against ``vfiolab.model.kvm.KvmMemoryListener`` on
  random sequences of flat views;
* VFIO type1 (Linux 6.1 drivers/vfio/vfio_iommu_type1.c vfio_dma_do_map,
  vfio_dma_do_unmap, vfio_find_dma) against
  ``vfiolab.model.iommu.Type1Container`` on random MAP/UNMAP sequences.
"""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import seabios_oracle as sb
from vfiolab.errors import IommuError
from vfiolab.inputs.cmdline import parse_qemu_args
from vfiolab.model.host import HostAddressSpace
from vfiolab.model.iommu import VFIO_DMA_MAP_FLAG_READ, VFIO_DMA_MAP_FLAG_WRITE, Type1Container
from vfiolab.model.kvm import KvmMemoryListener
from vfiolab.model.memory import AddressSpace, Memory, MemoryRegion
from vfiolab.predict import predict
from vfiolab.real.reference import load_reference, reference_dirs

MiB, GiB = 1 << 20, 1 << 30
SLOW = settings(max_examples=60, deadline=None,
                suppress_health_check=[HealthCheck.too_slow])


# ============================================================================
# SeaBIOS 1.16.2 placement
# ============================================================================

def _capture_bars(ref):
    """Every memory BAR of a real capture's info pci, in scan order (ROM BARs
    too: SeaBIOS places them, then turns them off after copying the ROM)."""
    bars = []
    for d in sorted(ref.devices, key=lambda d: (d.bus, d.slot, d.func)):
        for b in sorted(d.bars, key=lambda b: b.bar):
            if b.type != "io":
                bars.append(sb.Bar(d.bdf, b.bar, b.size, bool(b.prefetch), b.type == "mem64"))
    return bars


NO_BRIDGE = [d for d in reference_dirs()
             if not any(dev.secondary_bus is not None for dev in load_reference(d).devices)]


@pytest.mark.parametrize("ref_dir", NO_BRIDGE, ids=lambda p: p.name)
def test_seabios_oracle_matches_real_captures(ref_dir):
    """The oracle is right where reality says so: every BAR address real
    SeaBIOS 1.16.2 left in a real capture's info pci (QEMU 7.2.22)."""
    ref = load_reference(ref_dir)
    cfg = parse_qemu_args(ref.args)
    low, high = sb.ram_split(cfg.machine, cfg.ram_size)
    where = sb.place(_capture_bars(ref), sb.pcimem_start_for(cfg.machine, low), high,
                     sb.reserved_memory_end(cfg.ram_size, high, cfg.maxram_size, cfg.ram_slots))
    checked = 0
    for d in ref.devices:
        for b in d.bars:
            if b.type != "io" and b.address is not None:
                assert where[(d.bdf, b.bar)] == b.address, (d.bdf, b.bar)
                checked += 1
    if not checked:
        # the pci-hole64 / AMD 1 TiB captures have only the chipset's I/O BARs:
        # they check the machine's memory layout (test_machine_memory_layout.py)
        pytest.skip(f"{ref.name}: no memory BAR to place")


#: QEMU 7.2 device facts (the oracle's input, not the model's):
#: hw/misc/edu.c edu_pci_realize: BAR 0, 1 MiB, 32-bit memory;
#: hw/misc/ivshmem.c ivshmem_common_realize: BAR 0 (IVSHMEM_REG_BAR_SIZE 0x100,
#: 32-bit memory), BAR 2 (the memdev, 64-bit prefetchable);
#: hw/nvme/ctrl.c nvme_init_pci: BAR 0, 64-bit memory, not prefetchable, 0x4000
#: with the default queues (the real capture q35-1G-multi's info pci: 00:04.0);
#: hw/ide/ich.c pci_ich9_ahci_realize (q35's 00:1f.2): BAR 5, 0x1000, 32-bit memory.
#: Slots: -nodefaults pc uses 00:00.0-00:01.3 (no memory BARs), so devices
#: start at 00:02.0; q35 at 00:01.0, with the chipset at 00:1f.
devices = st.lists(st.one_of(st.sampled_from(["edu", "nvme"]), st.integers(20, 33)),
                   min_size=1, max_size=5)


@given(machine=st.sampled_from(["pc", "q35"]),
       ram=st.sampled_from([512 * MiB, 1 * GiB, 2 * GiB, 3 * GiB, 3584 * MiB, 4 * GiB,
                            4608 * MiB, 6 * GiB]),
       devs=devices)
@SLOW
def test_seabios_placement_equals_oracle(machine, ram, devs):
    args = ["-machine", machine, "-m", f"{ram // MiB}M", "-nodefaults"]
    bars = []
    first = 2 if machine == "pc" else 1
    for i, d in enumerate(devs):
        bdf = f"00:{first + i:02x}.0"
        if d == "edu":
            args += ["-device", f"edu,id=edu{i}"]
            bars.append(sb.Bar(bdf, 0, 1 * MiB, False, False))
        elif d == "nvme":
            args += ["-device", f"nvme,serial=v{i},id=nvme{i}"]
            bars.append(sb.Bar(bdf, 0, 0x4000, False, True))
        else:
            size = 1 << d                        # 1 MiB .. 8 GiB
            args += ["-object", f"memory-backend-ram,id=m{i},size={size}",
                     "-device", f"ivshmem-plain,memdev=m{i},id=ivs{i}"]
            bars += [sb.Bar(bdf, 0, 0x100, False, False), sb.Bar(bdf, 2, size, True, True)]
    if machine == "q35":
        bars.append(sb.Bar("00:1f.2", 5, 0x1000, False, False))
    low, high = sb.ram_split(machine, ram)
    want = sb.place(bars, sb.pcimem_start_for(machine, low), high)
    fw = predict(args).vm.firmware
    got = {(b.bdf, b.bar): fw.address(b.bdf, b.bar) for b in bars}
    assert got == want, " ".join(args)


# ============================================================================
# KVM memslots
# ============================================================================

PAGE = 0x1000
KVM_MEM_READONLY = 1 << 1          # include/uapi/linux/kvm.h
CELLS = 6                          # regions live in separate 1 MiB cells: never adjacent
BASE = 0x10000000

#: one region: (kind, offset in its cell, size); kinds: "ram", "rom" (readonly
#: RAM: a KVM_MEM_READONLY slot), "ramd" (ram_device, a BAR mmap), "io" (never a slot)
region = st.tuples(st.sampled_from(["ram", "rom", "ramd", "io"]),
                   st.integers(0, 12).map(lambda k: k * 0x400),
                   st.integers(1, 24).map(lambda k: k * 0x400))
#: a transaction: for each cell, leave it, empty it, or put a new region there
step = st.lists(st.tuples(st.integers(0, CELLS - 1), st.one_of(st.none(), region)),
                min_size=1, max_size=3, unique_by=lambda t: t[0])


class KvmOracle:
    """QEMU 7.2 kvm-all.c, for ranges that are whole regions (offset_within_region 0)."""

    def __init__(self):
        self.slots = []                     # kml->slots[]: [start, size] or size 0
        self.events = []

    @staticmethod
    def align(start, size):
        """kvm_align_section: start rounded up to a host page, size what is
        left rounded down; 0 if the rounding passed the end."""
        aligned = -(-start // PAGE) * PAGE
        delta = aligned - start
        return aligned, 0 if delta > size else (size - delta) // PAGE * PAGE

    def set_phys_mem(self, kind, start, size, hva, add):
        if kind == "io":                    # !memory_region_is_ram && writable: return
            return
        gpa, size = self.align(start, size)
        if not size:
            return
        ua = hva + (gpa - start)            # ram ptr + mr_offset
        if not add:                         # kvm_lookup_matching_slot: exact match
            for i, s in enumerate(self.slots):
                if s[1] and s[0] == gpa and s[1] == size:
                    s[1] = 0
                    self.events.append((i, 0, gpa, 0, ua))
            return
        flags = KVM_MEM_READONLY if kind == "rom" else 0       # kvm_mem_flags
        free = next((i for i, s in enumerate(self.slots) if not s[1]), None)
        if free is None:                    # kvm_get_free_slot: lowest free id
            free = len(self.slots)
            self.slots.append([0, 0])
        self.slots[free] = [gpa, size]
        self.events.append((free, flags, gpa, size, ua))


def _make(kind, name, size, hva):
    if kind == "ram":
        r = MemoryRegion.init_ram(name, size)
    elif kind == "rom":
        r = MemoryRegion.init_rom(name, size)
    elif kind == "ramd":
        return MemoryRegion.init_ram_device_ptr(name, size, hva=hva)
    else:
        return MemoryRegion.init_io(name, size)
    r.hva = hva
    return r


@given(steps=st.lists(step, min_size=1, max_size=8))
@settings(max_examples=150, deadline=None)
def test_kvm_memslots_equal_oracle(steps):
    mem = Memory()
    system = MemoryRegion.init_container("system", 1 << 64)
    AddressSpace(mem, system, "memory").register(kvm := KvmMemoryListener())
    oracle = KvmOracle()
    placed = {}                             # cell -> (kind, start, size, hva, region)
    n = 0
    for tx in steps:
        old = dict(placed)
        with mem.transaction():
            for cell, spec in tx:
                if cell in placed:
                    system.del_subregion(placed.pop(cell)[4])
                if spec is not None:
                    kind, off, size = spec
                    n += 1
                    # a host pointer 2 MiB-aligned, as qemu_ram_mmap gives
                    hva = 0x7F0000000000 + n * 0x200000
                    r = _make(kind, f"r{n}", size, hva)
                    start = BASE + cell * MiB + off
                    system.add_subregion(start, r)
                    placed[cell] = (kind, start, size, hva, r)
        # memory.c: the del pass over the old view, then the add pass, each by address
        gone = sorted((v for c, v in old.items() if placed.get(c) is not v), key=lambda v: v[1])
        new = sorted((v for c, v in placed.items() if old.get(c) is not v), key=lambda v: v[1])
        for kind, start, size, hva, _ in gone:
            oracle.set_phys_mem(kind, start, size, hva, add=False)
        for kind, start, size, hva, _ in new:
            oracle.set_phys_mem(kind, start, size, hva, add=True)
        got = [(e["slot"], e["flags"], e["gpa"], e["size"], e["ua"]) for e in kvm.events]
        assert got == oracle.events


# ============================================================================
# VFIO type1 MAP_DMA / UNMAP_DMA
# ============================================================================

RW = VFIO_DMA_MAP_FLAG_READ | VFIO_DMA_MAP_FLAG_WRITE
LIMIT = 2                                   # dma_entry_limit, small to reach -ENOSPC


class Type1Oracle:
    """Linux 6.1 vfio_iommu_type1.c for a v2 container whose smallest IOMMU
    page is 4 KiB and whose IOVAs are all valid (below the MSI window)."""

    def __init__(self):
        self.dmas = []                      # [iova, size]

    def map(self, vaddr, iova, size):
        """vfio_dma_do_map: 0 or the errno name."""
        if not size or (size | iova | vaddr) & (PAGE - 1):
            return "EINVAL"
        # vfio_find_dma(iova, size): any mapping the range touches
        if any(iova < d + s and d < iova + size for d, s in self.dmas):
            return "EEXIST"
        if len(self.dmas) >= LIMIT:         # !iommu->dma_avail
            return "ENOSPC"
        self.dmas.append([iova, size])
        return 0

    def unmap(self, iova, size):
        """vfio_dma_do_unmap (v2): bytes unmapped or the errno name."""
        if iova & (PAGE - 1) or not size or size & (PAGE - 1):
            return "EINVAL"
        end = iova + size
        for d, s in self.dmas:
            # vfio_find_dma(iova, 1) found one starting before iova: bisected
            if d < iova < d + s:
                return "EINVAL"
            # vfio_find_dma(iova + size - 1, 0): strictly inside, not ending at end
            if d < end - 1 < d + s and d + s != end:
                return "EINVAL"
        hit = [x for x in self.dmas if x[0] < end and iova < x[0] + x[1]]
        self.dmas = [x for x in self.dmas if x not in hit]
        return sum(s for _, s in hit)


#: offsets over a 32 KiB IOVA range: mostly whole 4 KiB pages, some in 2 KiB steps
unit = st.one_of(st.integers(0, 8).map(lambda k: k * PAGE),
                 st.integers(0, 16).map(lambda k: k * 0x800))
op = st.one_of(st.tuples(st.just("map"), unit, unit, unit),
               st.tuples(st.just("unmap"), unit, unit))


@given(ops=st.lists(op, min_size=1, max_size=20))
@settings(max_examples=300, deadline=None)
def test_type1_map_unmap_equal_oracle(ops):
    host = HostAddressSpace()
    ram = host.alloc(1 * MiB, "ram")
    c = Type1Container(host, dma_entry_limit=LIMIT)
    oracle = Type1Oracle()
    for o in ops:
        if o[0] == "map":
            _, voff, iova, size = o
            want = oracle.map(ram + voff, iova, size)
            try:
                got = c.map_dma(ram + voff, iova, size, RW)
            except IommuError as e:
                got = e.errno_name
        else:
            _, iova, size = o
            want = oracle.unmap(iova, size)
            try:
                got = c.unmap_dma(iova, size)
            except IommuError as e:
                got = e.errno_name
        assert got == want, o
        assert sorted([d.iova, d.size] for d in c.mappings()) == sorted(oracle.dmas), o
