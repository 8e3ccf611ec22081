"""Unit tests of vfiolab.model.memory against QEMU's memory-API rules.

Every expected value comes either from the rule in QEMU 7.2
``softmmu/memory.c`` (release commit b67b00e6b4; ``system/memory.c`` from
8.0 on) named in the test's docstring, or from a real capture in
``data/references/`` (QEMU 7.2.22 under KVM).  Nothing here was obtained by
running the model and pasting its output.

Some tests pin rules an earlier model version got wrong (readonly ranges print
"rom" whatever their type, dirty-log replay on register/unregister, updates
through alias targets, no update for disabled subregions); each names the QEMU
function and the behaviour it has.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from vfiolab.addr import KiB, MiB
from vfiolab.model.kvm import KvmMemoryListener
from vfiolab.model.memory import (UINT64_SIZE, AddressSpace, FlatView, Memory,
                                  MemoryListener, MemoryRegion, format_flatviews,
                                  format_mtree)

ROOT = Path(__file__).resolve().parent.parent
PC_512M_EDU = ROOT / "data" / "references" / "pc-512M-edu"


# ---------------------------------------------------------------------------
# helpers
# ---------------------------------------------------------------------------

def view_of(root: MemoryRegion) -> list[tuple]:
    """(start, size, region name, offset_in_region, readonly) per FlatRange."""
    return [(fr.start, fr.size, fr.mr.name, fr.offset_in_region, fr.readonly)
            for fr in FlatView.render(root)]


def small_root(size: int = 0x10000) -> MemoryRegion:
    return MemoryRegion.init_container("root", size)


class Recorder(MemoryListener):
    """A MemoryListener that writes every callback into a shared log."""

    def __init__(self, name: str, priority: int, log: list):
        self.name = name
        self.priority = priority
        self.log = log

    def begin(self):
        self.log.append((self.name, "begin"))

    def commit(self):
        self.log.append((self.name, "commit"))

    def region_add(self, as_, fr):
        self.log.append((self.name, "add", fr.start, fr.size, fr.mr.name))

    def region_del(self, as_, fr):
        self.log.append((self.name, "del", fr.start, fr.size, fr.mr.name))

    def region_nop(self, as_, fr):
        self.log.append((self.name, "nop", fr.start, fr.size, fr.mr.name))

    def log_start(self, as_, fr, old, new):
        self.log.append((self.name, "log_start", fr.start, old, new))

    def log_stop(self, as_, fr, old, new):
        self.log.append((self.name, "log_stop", fr.start, old, new))


def two_ram_system():
    """system (container) with ram A at 0x0000 and ram B at 0x2000, registered in an AS."""
    mem = Memory()
    root = MemoryRegion.init_container("system", 0x10000)
    a = MemoryRegion.init_ram("A", 0x1000)
    b = MemoryRegion.init_ram("B", 0x1000)
    root.add_subregion(0x0000, a)
    root.add_subregion(0x2000, b)
    as_ = AddressSpace(mem, root, "memory")
    return mem, root, as_, a, b


# ---------------------------------------------------------------------------
# subregion order (memory_region_update_container_subregions)
# ---------------------------------------------------------------------------

class TestSubregionOrder:
    def test_list_order(self):
        """QEMU memory_region_update_container_subregions: the new subregion is
        inserted before the first sibling whose priority is <= its own, else
        at the tail.  Adding a(0), b(1), c(0), d(1), e(-1) gives d b c a e."""
        root = small_root()
        regs = {}
        for name, prio in (("a", 0), ("b", 1), ("c", 0), ("d", 1), ("e", -1)):
            regs[name] = MemoryRegion.init_io(name, 0x100)
            root.add_subregion_overlap(0, regs[name], prio)
        assert [m.name for m in root.subregions] == ["d", "b", "c", "a", "e"]

    def test_equal_priority_later_added_wins(self):
        """QEMU render_memory_region renders subregions in list order and the
        first rendered owns an address; with memory_region_update_container_
        subregions putting the newest of equal priority first, the
        later-added of two overlapping equal-priority siblings wins."""
        root = small_root()
        first = MemoryRegion.init_io("first", 0x100)
        second = MemoryRegion.init_io("second", 0x100)
        root.add_subregion(0x1000, first)
        root.add_subregion(0x1080, second)
        assert view_of(root) == [
            (0x1000, 0x80, "first", 0, False),
            (0x1080, 0x100, "second", 0, False),
        ]

    def test_higher_priority_wins_regardless_of_order(self):
        """QEMU render_memory_region: higher priority subregions are rendered
        first, so they win whatever the insertion order."""
        for order in ((("hi", 1), ("lo", 0)), (("lo", 0), ("hi", 1))):
            root = small_root()
            for name, prio in order:
                root.add_subregion_overlap(0x1000, MemoryRegion.init_io(name, 0x100), prio)
            assert view_of(root) == [(0x1000, 0x100, "hi", 0, False)]

    def test_set_address_reinserts_as_newest(self):
        """QEMU memory_region_set_address -> memory_region_readd_subregion:
        delete and add again with the same priority, so the moved region
        becomes the newest among its equal-priority siblings."""
        root = small_root()
        a = MemoryRegion.init_io("a", 0x100)
        b = MemoryRegion.init_io("b", 0x100)
        root.add_subregion(0x1000, a)
        root.add_subregion(0x2000, b)          # b is newest: [b, a]
        a.set_address(0x2000)                  # a re-added: [a, b]
        assert [m.name for m in root.subregions] == ["a", "b"]
        assert view_of(root) == [(0x2000, 0x100, "a", 0, False)]
        assert a.priority == 0 and a.addr == 0x2000


# ---------------------------------------------------------------------------
# aliases, disabled regions, readonly, holes
# ---------------------------------------------------------------------------

class TestRendering:
    def test_alias_offset(self):
        """QEMU render_memory_region: an alias renders its target shifted by
        -alias_offset, clipped to the alias window: an alias of 0x200 bytes
        at 0x1000 with alias_offset 0x100 shows target bytes 0x100..0x2ff."""
        root = small_root()
        ram = MemoryRegion.init_ram("ram", 0x1000)
        root.add_subregion(0x1000, MemoryRegion.init_alias("win", ram, 0x100, 0x200))
        assert view_of(root) == [(0x1000, 0x200, "ram", 0x100, False)]

    def test_alias_window_past_target_end(self):
        """QEMU render_memory_region clips to the target's extent too: an
        alias reaching past the end of its target renders only the overlap."""
        root = small_root()
        ram = MemoryRegion.init_ram("ram", 0x1000)
        root.add_subregion(0x4000, MemoryRegion.init_alias("win", ram, 0xc00, 0x800))
        assert view_of(root) == [(0x4000, 0x400, "ram", 0xc00, False)]

    def test_alias_of_placed_target_ignores_target_addr(self):
        """QEMU render_memory_region subtracts alias->addr from the base before
        rendering the target (which adds it back): where the target itself sits
        in its own container does not move what the alias shows (smram-region
        aliasing the "pci" container)."""
        root = small_root(0x100000)
        other = small_root(0x100000)
        pci = MemoryRegion.init_container("pci", 0x10000)
        pci.add_subregion(0x10, MemoryRegion.init_io("dev", 0x10))
        other.add_subregion(0x50000, pci)          # the target sits at 0x50000 elsewhere
        root.add_subregion(0x3000, MemoryRegion.init_alias("win", pci, 0, 0x100))
        assert view_of(root) == [(0x3010, 0x10, "dev", 0, False)]

    def test_alias_chain(self):
        """QEMU render_memory_region recurses through aliases of aliases; the
        offsets add up."""
        root = small_root()
        ram = MemoryRegion.init_ram("ram", 0x1000)
        a1 = MemoryRegion.init_alias("a1", ram, 0x400, 0x800)
        a2 = MemoryRegion.init_alias("a2", a1, 0x100, 0x100)
        root.add_subregion(0x8000, a2)
        assert view_of(root) == [(0x8000, 0x100, "ram", 0x500, False)]

    def test_disabled_region_renders_nothing(self):
        """QEMU render_memory_region returns at once for !mr->enabled, so the
        lower-priority sibling shows through."""
        root = small_root()
        ram = MemoryRegion.init_ram("ram", 0x4000)
        hole = MemoryRegion.init_io("dev", 0x1000)
        root.add_subregion(0, ram)
        root.add_subregion_overlap(0x1000, hole, 1)
        hole.set_enabled(False)
        assert view_of(root) == [(0, 0x4000, "ram", 0, False)]

    def test_disabled_container_hides_children(self):
        """QEMU render_memory_region: a disabled container is not descended into."""
        root = small_root()
        box = MemoryRegion.init_container("box", 0x1000)
        box.add_subregion(0, MemoryRegion.init_io("dev", 0x100))
        root.add_subregion(0, box)
        box.set_enabled(False)
        assert view_of(root) == []

    def test_disabled_alias_hides_target(self):
        """QEMU render_memory_region: a disabled alias shows nothing of its
        target (the PAM aliases that are not selected)."""
        root = small_root()
        ram = MemoryRegion.init_ram("ram", 0x1000)
        al = MemoryRegion.init_alias("al", ram, 0, 0x1000)
        root.add_subregion(0, al)
        al.set_enabled(False)
        assert view_of(root) == []

    def test_container_leaves_holes(self):
        """QEMU render_memory_region: a region that does not terminate (plain
        memory_region_init container) fills nothing itself, so a lower-priority
        sibling shows through its holes (the "pci" container at prio -1 under
        RAM, and here a prio 1 container over RAM)."""
        root = small_root()
        ram = MemoryRegion.init_ram("ram", 0x4000)
        box = MemoryRegion.init_container("box", 0x4000)
        box.add_subregion(0x1000, MemoryRegion.init_io("dev", 0x800))
        root.add_subregion(0, ram)
        root.add_subregion_overlap(0, box, 1)
        assert view_of(root) == [
            (0x0000, 0x1000, "ram", 0x0000, False),
            (0x1000, 0x800, "dev", 0, False),
            (0x1800, 0x2800, "ram", 0x1800, False),
        ]

    def test_empty_container_alone(self):
        """QEMU generate_memory_topology of a root with no terminating region:
        an empty view (``No rendered FlatView`` in info mtree -f)."""
        root = small_root()
        root.add_subregion(0, MemoryRegion.init_container("box", 0x100))
        assert view_of(root) == []
        text = format_flatviews([([("x", "root")], FlatView.render(root))])
        assert text == 'FlatView #0\n AS "x", root: root\n Root memory region: root\n  No rendered FlatView\n\n'

    def test_terminating_region_fills_around_its_children(self):
        """QEMU render_memory_region: subregions render first, then a
        terminating region fills the gaps left in its own extent."""
        root = small_root()
        ram = MemoryRegion.init_ram("ram", 0x3000)
        ram.add_subregion(0x1000, MemoryRegion.init_io("overlay", 0x1000))
        root.add_subregion(0x1000, ram)
        assert view_of(root) == [
            (0x1000, 0x1000, "ram", 0, False),
            (0x2000, 0x1000, "overlay", 0, False),
            (0x3000, 0x1000, "ram", 0x2000, False),
        ]

    def test_readonly_alias_of_ram(self):
        """QEMU render_memory_region ORs mr->readonly into the rendered range,
        so a readonly alias of RAM (PAM "pam-rom", memory_region_set_readonly
        in hw/pci-host/pam.c init_pam) gives a readonly range of the RAM
        region: mtree_print_flatview prints "rom" while mtree_print_mr prints
        memory_region_type of the target, "ram"."""
        root = MemoryRegion.init_container("system", UINT64_SIZE)
        ram = MemoryRegion.init_ram("pc.ram", 0x100000)
        ro = MemoryRegion.init_alias("pam-rom", ram, 0xc0000, 0x4000)
        ro.set_readonly(True)
        root.add_subregion_overlap(0xc0000, ro, 1)
        fv = FlatView.render(root)
        assert [(fr.start, fr.size, fr.mr is ram, fr.readonly) for fr in fv] == [
            (0xc0000, 0x4000, True, True)]
        assert ro.type_name() == "ram"
        flat = format_flatviews([([("memory", "system")], fv)]).splitlines()
        assert flat[3] == "  00000000000c0000-00000000000c3fff (prio 0, rom): pc.ram @00000000000c0000"
        tree = format_mtree([(["memory"], root)]).splitlines()
        assert tree[2] == ("    00000000000c0000-00000000000c3fff (prio 1, ram): "
                           "alias pam-rom @pc.ram 00000000000c0000-00000000000c3fff")

    def test_readonly_alias_of_io_prints_rom(self):
        """QEMU mtree_print_flatview: any readonly range prints "rom"."""
        root = small_root()
        dev = MemoryRegion.init_io("dev", 0x100)
        al = MemoryRegion.init_alias("ro-dev", dev, 0, 0x100)
        al.set_readonly(True)
        root.add_subregion(0x1000, al)
        (fr,) = FlatView.render(root).ranges
        assert fr.readonly
        assert fr.kind() == "rom"

    def test_readonly_alias_of_ram_device_prints_rom(self):
        """QEMU mtree_print_flatview: a readonly range of a ram_device region prints "rom"."""
        root = small_root()
        bar = MemoryRegion.init_ram_device_ptr("bar", 0x1000)
        al = MemoryRegion.init_alias("ro-bar", bar, 0, 0x1000)
        al.set_readonly(True)
        root.add_subregion(0x1000, al)
        (fr,) = FlatView.render(root).ranges
        assert fr.kind() == "rom"


# ---------------------------------------------------------------------------
# flatview_simplify / can_merge
# ---------------------------------------------------------------------------

class TestSimplify:
    def test_contiguous_aliases_merge(self):
        """QEMU flatview_simplify/can_merge: neighbours of the same region
        with contiguous offsets and equal attributes become one range, even
        when they came through different aliases."""
        root = small_root()
        ram = MemoryRegion.init_ram("ram", 0x4000)
        root.add_subregion(0x0000, MemoryRegion.init_alias("lo", ram, 0x0000, 0x2000))
        root.add_subregion(0x2000, MemoryRegion.init_alias("hi", ram, 0x2000, 0x2000))
        assert view_of(root) == [(0, 0x4000, "ram", 0, False)]

    def test_noncontiguous_offsets_do_not_merge(self):
        """QEMU can_merge: offset_in_region + size must equal the next offset."""
        root = small_root()
        ram = MemoryRegion.init_ram("ram", 0x4000)
        root.add_subregion(0x0000, MemoryRegion.init_alias("lo", ram, 0x0000, 0x1000))
        root.add_subregion(0x1000, MemoryRegion.init_alias("hi", ram, 0x2000, 0x1000))
        assert view_of(root) == [(0, 0x1000, "ram", 0, False),
                                 (0x1000, 0x1000, "ram", 0x2000, False)]

    def test_readonly_difference_does_not_merge(self):
        """QEMU can_merge: readonly must be equal (the pc.ram ram/rom split at
        0xc3000 and 0xe8000 in the real capture)."""
        root = small_root()
        ram = MemoryRegion.init_ram("ram", 0x4000)
        ro = MemoryRegion.init_alias("ro", ram, 0x2000, 0x2000)
        ro.set_readonly(True)
        root.add_subregion(0x0000, MemoryRegion.init_alias("rw", ram, 0x0000, 0x2000))
        root.add_subregion(0x2000, ro)
        assert view_of(root) == [(0, 0x2000, "ram", 0, False),
                                 (0x2000, 0x2000, "ram", 0x2000, True)]

    def test_different_regions_do_not_merge(self):
        """QEMU can_merge: r1->mr == r2->mr."""
        root = small_root()
        root.add_subregion(0x0000, MemoryRegion.init_ram("a", 0x1000))
        root.add_subregion(0x1000, MemoryRegion.init_ram("b", 0x1000))
        assert [r[2] for r in view_of(root)] == ["a", "b"]

    def test_gap_does_not_merge(self):
        """QEMU can_merge: the first range must end where the second starts."""
        root = small_root()
        ram = MemoryRegion.init_ram("ram", 0x4000)
        root.add_subregion(0x0000, MemoryRegion.init_alias("lo", ram, 0x0000, 0x1000))
        root.add_subregion(0x2000, MemoryRegion.init_alias("hi", ram, 0x1000, 0x1000))
        assert len(view_of(root)) == 2

    def test_hole_punch_removed_merges_back(self):
        """QEMU flatview_simplify runs on every new view: once a higher-priority
        overlay is disabled the region it split is one range again."""
        root = small_root()
        ram = MemoryRegion.init_ram("ram", 0x3000)
        dev = MemoryRegion.init_io("dev", 0x1000)
        root.add_subregion(0, ram)
        root.add_subregion_overlap(0x1000, dev, 1)
        assert len(view_of(root)) == 3
        dev.set_enabled(False)
        assert view_of(root) == [(0, 0x3000, "ram", 0, False)]


# ---------------------------------------------------------------------------
# transactions and listeners
# ---------------------------------------------------------------------------

class TestTransactions:
    def test_dels_before_adds_and_listener_order(self):
        """QEMU address_space_set_flatview runs address_space_update_topology_pass
        twice: first every region_del (MEMORY_LISTENER_UPDATE_REGION ... Reverse:
        listeners in descending priority), then region_add/region_nop (Forward:
        ascending priority).  Listeners are kept sorted by priority by
        memory_listener_register."""
        mem, root, as_, a, b = two_ram_system()
        log: list = []
        # registered out of priority order on purpose
        as_.register(Recorder("kvm", 10, log))
        as_.register(Recorder("vfio", 0, log))
        as_.register(Recorder("late", 20, log))
        log.clear()
        with mem.transaction():
            root.del_subregion(a)
            root.del_subregion(b)
            root.add_subregion(0x4000, MemoryRegion.init_ram("C", 0x1000))
            root.add_subregion(0x6000, MemoryRegion.init_ram("D", 0x1000))
        body = [e for e in log if e[1] not in ("begin", "commit")]
        ops = [e[1] for e in body]
        assert ops == ["del"] * 6 + ["add"] * 6
        assert body[:6] == [
            ("late", "del", 0x0000, 0x1000, "A"), ("kvm", "del", 0x0000, 0x1000, "A"),
            ("vfio", "del", 0x0000, 0x1000, "A"),
            ("late", "del", 0x2000, 0x1000, "B"), ("kvm", "del", 0x2000, 0x1000, "B"),
            ("vfio", "del", 0x2000, 0x1000, "B"),
        ]
        assert body[6:] == [
            ("vfio", "add", 0x4000, 0x1000, "C"), ("kvm", "add", 0x4000, 0x1000, "C"),
            ("late", "add", 0x4000, 0x1000, "C"),
            ("vfio", "add", 0x6000, 0x1000, "D"), ("kvm", "add", 0x6000, 0x1000, "D"),
            ("late", "add", 0x6000, 0x1000, "D"),
        ]
        # QEMU memory_region_transaction_commit: begin/commit called Forward on all listeners
        assert log[:3] == [("vfio", "begin"), ("kvm", "begin"), ("late", "begin")]
        assert log[-3:] == [("vfio", "commit"), ("kvm", "commit"), ("late", "commit")]

    def test_changed_attributes_are_del_then_add(self):
        """QEMU address_space_update_topology_pass: same start but
        !flatrange_equal (here readonly changed) is a region_del of the old
        range in the first pass and a region_add of the new in the second."""
        mem, root, as_, a, b = two_ram_system()
        log: list = []
        as_.register(Recorder("l", 0, log))
        log.clear()
        a.set_readonly(True)
        assert [e for e in log if e[1] in ("add", "del")] == [
            ("l", "del", 0, 0x1000, "A"), ("l", "add", 0, 0x1000, "A")]
        assert as_.flatview().ranges[0].readonly

    def test_nested_transaction_renders_once(self):
        """QEMU memory_region_transaction_begin/commit: only the outermost
        commit (memory_region_transaction_depth back to 0) re-renders and calls
        the listeners' begin/commit once."""
        mem, root, as_, a, b = two_ram_system()
        log: list = []
        as_.register(Recorder("l", 0, log))
        log.clear()
        before = mem.commits
        with mem.transaction():
            with mem.transaction():
                a.set_address(0x8000)
                b.set_enabled(False)
            assert log == [] and mem.commits == before     # inner commit: nothing yet
            root.add_subregion(0x9000, MemoryRegion.init_ram("C", 0x1000))
            assert log == []
        assert mem.commits == before + 1
        assert [e[1] for e in log].count("begin") == 1
        assert [e[1] for e in log].count("commit") == 1
        assert [(fr.start, fr.mr.name) for fr in as_.flatview()] == [(0x8000, "A"), (0x9000, "C")]

    def test_commit_without_begin_is_an_error(self):
        """QEMU memory_region_transaction_commit asserts a positive depth."""
        from vfiolab.errors import ConfigError
        with pytest.raises(ConfigError, match="commit without begin"):
            Memory().commit()

    def test_region_nop_for_unchanged(self):
        """QEMU address_space_update_topology_pass: a range in both views with
        flatrange_equal gets region_nop (Forward) in the adding pass; only
        the new range gets region_add."""
        mem, root, as_, a, b = two_ram_system()
        log: list = []
        as_.register(Recorder("l", 0, log))
        log.clear()
        root.add_subregion(0x4000, MemoryRegion.init_io("dev", 0x100))
        assert [e for e in log if e[1] not in ("begin", "commit")] == [
            ("l", "nop", 0x0000, 0x1000, "A"),
            ("l", "nop", 0x2000, 0x1000, "B"),
            ("l", "add", 0x4000, 0x100, "dev"),
        ]

    def test_dirty_log_change_is_nop_plus_log_start(self):
        """QEMU address_space_update_topology_pass: flatrange_equal ignores
        dirty_log_mask, so turning logging on is region_nop then log_start
        (Forward) with old and new masks; turning it off is log_stop (Reverse)."""
        mem, root, as_, a, b = two_ram_system()
        log: list = []
        as_.register(Recorder("l", 0, log))
        log.clear()
        b.set_log(True, 0)      # DIRTY_MEMORY_VGA
        assert [e for e in log if e[1] not in ("begin", "commit")] == [
            ("l", "nop", 0x0000, 0x1000, "A"),
            ("l", "nop", 0x2000, 0x1000, "B"),
            ("l", "log_start", 0x2000, 0, 1),
        ]
        log.clear()
        b.set_log(False, 0)
        assert ("l", "log_stop", 0x2000, 1, 0) in log

    def test_register_replays_current_view(self):
        """QEMU memory_listener_register -> listener_add_address_space: begin,
        region_add for every range of the current view in address order,
        commit."""
        mem, root, as_, a, b = two_ram_system()
        log: list = []
        as_.register(Recorder("l", 0, log))
        assert log == [("l", "begin"), ("l", "add", 0x0000, 0x1000, "A"),
                       ("l", "add", 0x2000, 0x1000, "B"), ("l", "commit")]

    def test_unregister_deletes_everything(self):
        """QEMU memory_listener_unregister -> listener_del_address_space:
        region_del for every range."""
        mem, root, as_, a, b = two_ram_system()
        log: list = []
        rec = Recorder("l", 0, log)
        as_.register(rec)
        log.clear()
        as_.unregister(rec)
        assert [e for e in log if e[1] == "del"] == [
            ("l", "del", 0x0000, 0x1000, "A"), ("l", "del", 0x2000, 0x1000, "B")]
        log.clear()
        root.add_subregion(0x4000, MemoryRegion.init_ram("C", 0x1000))
        assert log == []

    def test_register_replays_log_start(self):
        """QEMU listener_add_address_space: region_add then log_start for logged ranges."""
        mem, root, as_, a, b = two_ram_system()
        b.set_log(True, 0)
        log: list = []
        as_.register(Recorder("l", 0, log))
        assert ("l", "log_start", 0x2000, 0, 1) in log

    def test_unregister_sends_log_stop(self):
        """QEMU listener_del_address_space: log_stop then region_del for logged ranges."""
        mem, root, as_, a, b = two_ram_system()
        b.set_log(True, 0)
        log: list = []
        rec = Recorder("l", 0, log)
        as_.register(rec)
        log.clear()
        as_.unregister(rec)
        assert ("l", "log_stop", 0x2000, 1, 0) in log
        assert log.index(("l", "log_stop", 0x2000, 1, 0)) < log.index(("l", "del", 0x2000, 0x1000, "B"))

    def test_change_to_alias_target_outside_tree_rerenders(self):
        """QEMU memory_region_set_readonly -> memory_region_transaction_commit
        -> flatviews_reset: the alias's view is rebuilt."""
        mem = Memory()
        root = MemoryRegion.init_container("system", UINT64_SIZE)
        ram = MemoryRegion.init_ram("pc.ram", 0x10000)
        root.add_subregion(0, MemoryRegion.init_alias("ram-below-4g", ram, 0, 0x10000))
        as_ = AddressSpace(mem, root, "memory")
        assert not as_.flatview().ranges[0].readonly
        ram.set_readonly(True)
        assert as_.flatview().ranges[0].readonly

    def test_removing_disabled_subregion_is_not_an_update(self):
        """QEMU memory_region_del_subregion: update_pending |= mr->enabled && subregion->enabled."""
        mem, root, as_, a, b = two_ram_system()
        dev = MemoryRegion.init_io("dev", 0x100)
        root.add_subregion(0x4000, dev)
        dev.set_enabled(False)
        log: list = []
        as_.register(Recorder("l", 0, log))
        log.clear()
        before = mem.commits
        root.del_subregion(dev)
        assert log == [] and mem.commits == before


# ---------------------------------------------------------------------------
# info mtree / info mtree -f text against a real capture
# ---------------------------------------------------------------------------

def _block(lines: list[str], first: str) -> list[str]:
    """Lines from ``first`` up to (not including) the next blank line."""
    i = lines.index(first)
    j = lines.index("", i)
    return lines[i:j]


# hva of each RAMBlock, read off data/references/pc-512M-edu/trace.log
# (ua= of the first slot each one got): pc.ram Slot#0, pc.bios Slot#1, pc.rom Slot#2.
PC_RAM_HVA = 0x7ff0abe00000
PC_BIOS_HVA = 0x7ff0d7000000
PC_ROM_HVA = 0x7ff0d6e00000


def build_pc_512m_edu():
    """The "memory" address space of data/references/pc-512M-edu (QEMU 7.2.22
    ``-machine pc -m 512M -device edu``), rebuilt by hand from its info mtree:
    same names, sizes, priorities and aliases.

    Where the capture cannot show something (disabled regions do not print)
    the source says it: hw/pci-host/pam.c init_pam adds four aliases per PAM
    segment at priority 1, all disabled ("pam-ram" of RAM, readonly "pam-rom"
    of RAM, "pam-pci" of the PCI space, "pam-pci" of RAM), and pam_update
    enables alias[(val >> (idx even ? 4 : 0)) & 3] where val is config byte
    0x59 + DIV_ROUND_UP(idx, 2) (hw/pci-host/i440fx.c
    i440fx_update_memory_mappings).  The last PAM writes SeaBIOS made
    (pci_cfg_write.log) are 0x58 <- 0x11111000 and 0x5c <- 0x33111111.
    """
    mem = Memory()
    system = MemoryRegion.init_container("system", UINT64_SIZE)
    pc_ram = MemoryRegion.init_ram("pc.ram", 512 * MiB)
    pc_ram.hva = PC_RAM_HVA
    system.add_subregion(0, MemoryRegion.init_alias("ram-below-4g", pc_ram, 0, 512 * MiB))
    # "pci" is memory_region_init(..., UINT64_MAX): memory_region_do_init makes that 2^64
    pci = MemoryRegion.init_container("pci", UINT64_SIZE)
    pc_rom = MemoryRegion.init_rom("pc.rom", 128 * KiB)
    pc_rom.hva = PC_ROM_HVA
    pci.add_subregion_overlap(0xc0000, pc_rom, 1)
    pc_bios = MemoryRegion.init_rom("pc.bios", 256 * KiB)
    pc_bios.hva = PC_BIOS_HVA
    isa_bios = MemoryRegion.init_alias("isa-bios", pc_bios, 0x20000, 128 * KiB)
    isa_bios.set_readonly(True)
    pci.add_subregion_overlap(0xe0000, isa_bios, 1)
    pci.add_subregion(0xfffc0000, pc_bios)
    # PCI BARs are mapped at priority 1 (hw/pci/pci.c pci_update_mappings)
    pci.add_subregion_overlap(0xfeb00000, MemoryRegion.init_io("edu-mmio", 1 * MiB), 1)
    system.add_subregion_overlap(0, pci, -1)
    system.add_subregion_overlap(
        0xa0000, MemoryRegion.init_alias("smram-region", pci, 0xa0000, 128 * KiB), 1)
    # PAM: segment 0 is 0xf0000 (64 KiB), 1..12 are 0xc0000 + 16 KiB * (i - 1)
    cfg = {0x59: 0x10, 0x5a: 0x11, 0x5b: 0x11, 0x5c: 0x11, 0x5d: 0x11, 0x5e: 0x11, 0x5f: 0x33}
    pams = []
    for idx in range(13):
        start, size = (0xf0000, 64 * KiB) if idx == 0 else (0xc0000 + (idx - 1) * 16 * KiB, 16 * KiB)
        aliases = [MemoryRegion.init_alias("pam-pci", pci, start, size),
                   MemoryRegion.init_alias("pam-rom", pc_ram, start, size),
                   MemoryRegion.init_alias("pam-pci", pc_ram, start, size),
                   MemoryRegion.init_alias("pam-ram", pc_ram, start, size)]
        aliases[1].set_readonly(True)
        for al in aliases:
            al.set_enabled(False)
            system.add_subregion_overlap(start, al, 1)
        pams.append(aliases)
    for idx, aliases in enumerate(pams):
        val = cfg[0x59 + (idx + 1) // 2]
        aliases[(val >> (4 if idx % 2 == 0 else 0)) & 3].set_enabled(True)
    system.add_subregion_overlap(
        0xc0000, MemoryRegion.init_alias("kvmvapic-rom", pc_ram, 0xc0000, 12 * KiB), 1000)
    system.add_subregion(0xfec00000, MemoryRegion.init_io("kvm-ioapic", 4 * KiB))
    system.add_subregion(0xfed00000, MemoryRegion.init_io("hpet", 0x400))
    system.add_subregion_overlap(0xfee00000, MemoryRegion.init_io("kvm-apic-msi", 1 * MiB), 4096)
    as_ = AddressSpace(mem, system, "memory")
    return mem, system, as_


class TestRealCapturePc512MEdu:
    """data/references/pc-512M-edu: info mtree and info mtree -f, line for line."""

    def real_lines(self, name: str) -> list[str]:
        return (PC_512M_EDU / name).read_text(encoding="utf-8").splitlines()

    def test_info_mtree_memory_block(self):
        """QEMU mtree_info_as/mtree_print_mr: the address-space block (names
        sorted, g_slist_insert_sorted), children by address then descending
        priority, disabled regions not printed, alias targets queued as
        memory-region: blocks."""
        real = self.real_lines("info_mtree.txt")
        want = real[real.index("address-space: cpu-memory-0"):]
        want = want[:want.index("")]
        mem, system, as_ = build_pc_512m_edu()
        got = format_mtree([(["cpu-memory-0", "memory"], system)]).splitlines()
        assert got[:got.index("")] == want

    def test_info_mtree_alias_target_blocks(self):
        """QEMU mtree_info_as prints the queued alias targets after the address
        spaces; the memory block queues pc.ram, pc.bios and pci in that order
        (the real file's "memory-region: system" block comes from another
        address space's alias)."""
        real = self.real_lines("info_mtree.txt")
        mem, system, as_ = build_pc_512m_edu()
        got = format_mtree([(["cpu-memory-0", "memory"], system)]).splitlines()
        got_blocks = got[got.index("memory-region: pc.ram"):]
        want = real[real.index("memory-region: pc.ram"):]
        assert [ln for ln in got_blocks if ln] == [ln for ln in want if ln]
        # the real "memory-region: system" block is the same tree again
        sys_block = _block(real, "memory-region: system")[1:]
        assert got[2:2 + len(sys_block)] == sys_block

    def test_info_mtree_f_memory_view_without_accel(self):
        """QEMU mtree_print_flatview for FlatView #0 (AS memory, cpu-memory-0),
        the " KVM" accelerator suffix dropped."""
        real = self.real_lines("info_mtree_f.txt")
        want = [ln.removesuffix(" KVM") for ln in _block(real, "FlatView #0")]
        mem, system, as_ = build_pc_512m_edu()
        got = format_flatviews([([("memory", "system"), ("cpu-memory-0", "system")],
                                 as_.flatview())]).splitlines()
        assert got[:got.index("")] == want

    def test_info_mtree_f_memory_view_with_kvm(self):
        """QEMU mtree_print_flatview asks kvm_accel_has_memory for each range:
        with the KVM listener attached the " KVM" markers match the capture."""
        real = self.real_lines("info_mtree_f.txt")
        want = _block(real, "FlatView #0")
        mem, system, as_ = build_pc_512m_edu()
        kvm = KvmMemoryListener()
        as_.register(kvm)
        got = format_flatviews([([("memory", "system"), ("cpu-memory-0", "system")],
                                 as_.flatview())],
                               accel=lambda fr: "KVM" if kvm.covers(fr) else None).splitlines()
        assert got[:got.index("")] == want
