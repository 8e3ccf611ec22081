"""Tests of vfiolab.inputs on real QEMU output.

Real captures (QEMU 7.2.22, Debian 12, KVM) live in tests/fixtures/qemu-7.2/
(see its README.md for the command lines).  Expected values are read off those
texts.  Samples of formats newer than 7.2 are hand-built strictly from the
format strings in the QEMU source named next to each one.
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import pytest

from vfiolab.errors import ParseError
from vfiolab.inputs import (flatview_for, parse_info_pci, parse_mtree, parse_mtree_flat,
                             parse_trace, replay_memslots)

FIX = Path(__file__).parent / "fixtures" / "qemu-7.2"


def read(rel: str) -> str:
    # newline="" keeps the "\r\n" that HMP-over-QMP text really has
    with open(FIX / rel, newline="", encoding="utf-8") as f:
        return f.read()


def section(view, name, start=None):
    found = [s for s in view.sections if s.name == name and (start is None or s.start == start)]
    assert len(found) == 1, (name, found)
    return found[0]


def node_named(root, name):
    found = [n for n in root.walk() if n.name == name]
    assert found, name
    return found[0]


# --------------------------------------------------------------------------- info mtree -f

class TestMtreeFlatReal:
    def test_views_and_address_spaces(self):
        views = parse_mtree_flat(read("info_mtree_-f.txt"), "info_mtree_-f.txt")
        assert [v.index for v in views] == [0, 1, 2]
        mem = flatview_for(views, "memory")
        assert mem.address_spaces == ["memory", "cpu-memory-0", "ich9-ahci"]
        assert mem.root == "system"
        assert mem.as_roots["ich9-ahci"] == "bus master container"
        io = flatview_for(views, "I/O")
        assert io.root == "io" and len(io.sections) == 68
        empty = flatview_for(views, "edu")
        assert empty.root is None and empty.sections == []
        assert empty.address_spaces == ["mch", "ICH9-LPC", "ICH9-SMB", "ivshmem-plain", "edu"]

    def test_sections_of_system_memory(self):
        mem = flatview_for(parse_mtree_flat(read("info_mtree_-f.txt")))
        assert len(mem.sections) == 15
        m0 = section(mem, "m0")     # ivshmem BAR2 backed by memory-backend-ram m0
        assert (m0.start, m0.end, m0.size, m0.prio, m0.kind, m0.kvm) == \
            (0xf8000000, 0xfbffffff, 0x4000000, 1, "ram", True)
        assert m0.offset is None
        mmio = section(mem, "ivshmem-mmio")
        assert (mmio.start, mmio.end, mmio.kind, mmio.accel) == (0xfeb00000, 0xfeb000ff, "i/o", None)
        rom = section(mem, "pc.ram", 0xc3000)
        assert (rom.end, rom.kind, rom.offset, rom.kvm) == (0xe7fff, "rom", 0xc3000, True)
        assert section(mem, "kvm-apic-msi").prio == 4096
        bios = section(mem, "pc.bios")
        assert (bios.start, bios.end, bios.kind, bios.kvm) == (0xfffc0000, 0xffffffff, "rom", True)
        assert mem.sections[0].to_json() == {"start": "0x0", "end": "0xc2fff", "prio": 0,
                                             "kind": "ram", "name": "pc.ram", "offset": None,
                                             "kvm": True}

    def test_io_offsets(self):
        io = flatview_for(parse_mtree_flat(read("info_mtree_-f.txt")), "I/O")
        rtc = section(io, "rtc")
        assert (rtc.start, rtc.end, rtc.offset) == (0x71, 0x71, 1)
        assert section(io, "pci-conf-idx", 0xcfa).offset == 2
        assert section(io, "ahci-idp").prio == 1

    def test_names_with_spaces_and_offsets(self):
        mem = flatview_for(parse_mtree_flat(read("bridge-vga/info_mtree_-f.txt")))
        names = [s.name for s in mem.sections]
        for n in ("vga ioports remapped", "bochs dispi interface", "qemu extended regs"):
            assert n in names
        assert section(mem, "vga.mmio", 0xfeb11180).offset == 0x180
        vram = section(mem, "vga.vram")
        assert (vram.start, vram.end, vram.kvm) == (0xfc000000, 0xfcffffff, True)

    @pytest.mark.parametrize("variant", ["info_mtree_-f_-o.txt", "info_mtree_-f_-d.txt"])
    def test_owner_and_dispatch_variants_give_the_same_ranges(self, variant):
        # all four captures were taken from one stopped-at-boot-menu VM
        plain = parse_mtree_flat(read("bridge-vga/info_mtree_-f.txt"))
        other = parse_mtree_flat(read("bridge-vga/" + variant))
        for as_name in ("memory", "I/O", "edu"):
            a, b = flatview_for(plain, as_name), flatview_for(other, as_name)
            assert [s.to_json() for s in a.sections] == [s.to_json() for s in b.sections]
            assert a.address_spaces == b.address_spaces

    def test_before_firmware(self):
        mem = flatview_for(parse_mtree_flat(read("unmapped/info_mtree_-f.txt")))
        names = [s.name for s in mem.sections]
        assert "m0" not in names and "vga.vram" not in names
        assert section(mem, "pc.bios", 0xe0000).offset == 0x20000

    def test_flatview_for_unknown(self):
        with pytest.raises(ParseError, match="no FlatView lists address space 'nope'"):
            flatview_for(parse_mtree_flat(read("info_mtree_-f.txt")), "nope")


class TestMtreeFlatHandBuilt:
    # Built to QEMU system/memory.c mtree_print_flatview / mtree_print_mr_owner
    # (10.2.0 text, same as 7.2.0); names as a vfio-pci BAR with an MSI-X
    # table carve-out (QEMU hw/vfio/region.c names "<dev> BAR <n> mmaps[<i>]").
    TEXT = (
        "FlatView #0\n"
        ' AS "memory", root: system\n'
        ' AS "vfio-pci", root: bus master container, alias system\n'
        " Root memory region: system\n"
        "  00000000fe000000-00000000fe001fff (prio 0, ramd): 0000:01:00.0 BAR 0 mmaps[0] KVM\n"
        "  00000000fe002000-00000000fe00202f (prio 0, i/o): msix-table owner:{dev id=hostdev0}\n"
        "  00000000fe002030-00000000fe002fff (prio 0, i/o): 0000:01:00.0 BAR 0 @0000000000002030"
        " owner:{dev id=hostdev0} parent:{obj path=/machine/peripheral/hostdev0}\n"
        "  0000000100000000-00000001ffffffff (prio 0, nv-ram): nvdimm0 orphan KVM\n"
        "\n"
    )

    def test_parse(self):
        (view,) = parse_mtree_flat(self.TEXT)
        assert view.as_roots == {"memory": "system", "vfio-pci": "bus master container"}
        assert view.as_aliases == {"vfio-pci": "system"}
        a, b, c, d = view.sections
        assert (a.name, a.kind, a.accel, a.offset) == ("0000:01:00.0 BAR 0 mmaps[0]", "ramd", "KVM", None)
        assert (b.name, b.accel) == ("msix-table", None)
        assert (c.name, c.offset, c.start) == ("0000:01:00.0 BAR 0", 0x2030, 0xfe002030)
        assert (d.name, d.kind, d.nonvolatile, d.kvm) == ("nvdimm0", "ram", True, True)
        assert d.to_json()["kind"] == "nv-ram"

    @pytest.mark.parametrize("bad, line_no", [
        ("FlatView #1\n", 1),                                  # numbering starts at 0
        ("FlatView #0\n Root memory region: x\n", 2),          # no AS line
        ("FlatView #0\n AS \"a\", root: x\n\n", 3),           # no Root line
        ("FlatView #0\n AS \"a\", root: x\n Root memory region: x\n\n", 4),  # nothing rendered
        ("  0000000000000000-0000000000000fff (prio 0, ram): x\n", 1),     # outside a view
        ("FlatView #0\n AS \"a\", root: x\n Root memory region: x\n"
         "  0000000000000000-0000000000000fff (prio 0, ram): x\n"
         "  0000000000000800-0000000000001fff (prio 0, ram): y\n", 5),      # overlap
        ("FlatView #0\n AS \"a\", root: x\n Root memory region: x\n"
         "  0000000000001000-0000000000000fff (prio 0, ram): x\n", 4),      # end < start
        ("FlatView #0\n AS \"a\", root: x\n Root memory region: x\n"
         "  0000000000000000-0000000000000fff (prio 0, ram): x\n"
         "  0000000000001000-0000000000001fff (prio 0, flash): y\n", 5),    # unknown type
        ("FlatView #0\n AS \"a\", root: (none)\n Root memory region: (none)\n"
         "  No rendered FlatView\n  0000000000000000-0000000000000fff (prio 0, ram): x\n", 5),
    ])
    def test_malformed(self, bad, line_no):
        with pytest.raises(ParseError) as ei:
            parse_mtree_flat(bad, "t")
        assert ei.value.line_no == line_no
        assert ei.value.source == "t"

    def test_truncated_real_text(self):
        text = read("info_mtree_-f.txt")
        cut = text[:text.index(" Root memory region: system")]
        with pytest.raises(ParseError) as ei:
            parse_mtree_flat(cut)
        assert ei.value.line_no is not None


# --------------------------------------------------------------------------- info mtree

class TestMtreeReal:
    def test_address_spaces(self):
        rec = parse_mtree(read("info_mtree.txt"))
        groups = [names for names, _ in rec.address_space_groups]
        assert ("cpu-memory-0", "memory") in groups     # printed sorted by name, sharing a root
        assert rec.address_spaces["memory"] is rec.address_spaces["cpu-memory-0"]
        system = rec.address_spaces["memory"]
        assert (system.name, system.start, system.end, system.kind) == \
            ("system", 0, 0xffffffffffffffff, "i/o")
        ram = system.children[0]
        assert (ram.name, ram.alias_of, ram.alias_start, ram.alias_end, ram.kind) == \
            ("ram-below-4g", "pc.ram", 0, 0x3fffffff, "ram")
        pci = system.children[1]
        assert (pci.name, pci.prio) == ("pci", -1)
        m0 = node_named(pci, "m0")
        assert (m0.start, m0.end, m0.kind, m0.prio) == (0xf8000000, 0xfbffffff, "ram", 1)
        isa_bios = node_named(pci, "isa-bios")
        assert (isa_bios.alias_of, isa_bios.alias_start, isa_bios.alias_end) == \
            ("pc.bios", 0x20000, 0x3ffff)
        names = [c.name for c in system.children]
        assert (names.count("pam-rom"), names.count("pam-ram")) == (11, 2)
        assert list(rec.memory_regions) == ["system", "pc.ram", "pc.bios", "pci"]
        assert rec.memory_regions["pc.ram"].end == 0x3fffffff

    def test_nesting_and_bus_master(self):
        rec = parse_mtree(read("info_mtree.txt"))
        io = rec.address_spaces["I/O"]
        rtc = node_named(io, "rtc")
        assert [c.name for c in rtc.children] == ["rtc-index"]
        pm = node_named(io, "ich9-pm")
        assert len(pm.children) == 6
        ahci = rec.address_spaces["ich9-ahci"]
        (bm,) = ahci.children
        assert (bm.name, bm.alias_of) == ("bus master", "system")
        assert rec.address_spaces["edu"].children == []

    def test_disabled_and_owner(self):
        rec = parse_mtree(read("bridge-vga/info_mtree_-o_-D.txt"))
        mch = rec.address_spaces["mch"]
        assert mch.name == "bus master container"            # owner suffix stripped
        (bm,) = mch.children
        assert bm.disabled and bm.alias_of == "system" and bm.name == "bus master"
        blackhole = node_named(rec.address_spaces["memory"], "smbase-blackhole")
        assert blackhole.disabled and (blackhole.start, blackhole.end) == (0x30000, 0x4ffff)

    def test_disabled_view_matches_plain_view(self):
        # same VM, same moment: -D adds the disabled lines, nothing else
        plain = parse_mtree(read("bridge-vga/info_mtree.txt"))
        full = parse_mtree(read("bridge-vga/info_mtree_-o_-D.txt"))

        def lines(rec, keep_disabled):
            out = Counter()
            for names, root in rec.address_space_groups:
                for n in (root.walk() if root else []):
                    if keep_disabled or not n.disabled:
                        out[(names, n.start, n.end, n.prio, n.kind, n.name, n.alias_of)] += 1
            return out
        assert lines(full, False) == lines(plain, True)
        assert sum(lines(full, True).values()) > sum(lines(plain, True).values())
        assert list(plain.memory_regions) == list(full.memory_regions)

    def test_bridge_windows_are_aliases(self):
        rec = parse_mtree(read("bridge-vga/info_mtree.txt"))
        pci = rec.memory_regions["pci"]
        pref = node_named(pci, "pci_bridge_pref_mem")
        assert (pref.alias_of, pref.start, pref.end) == ("pci_bridge_pci", 0xf8000000, 0xfbffffff)
        assert [c.name for c in rec.memory_regions["pci_bridge_pci"].children] == \
            ["m0", "ivshmem-mmio"]


class TestMtreeHandBuilt:
    def test_overflow_marker_and_depth_jump(self):
        # system/memory.c mtree_print_mr: "[DETECTED OVERFLOW!] " precedes the
        # indentation; a disabled parent is skipped without -D but its child
        # is printed at its own depth (here level 3 under a level-1 root).
        text = ("address-space: memory\n"
                "  0000000000000000-ffffffffffffffff (prio 0, i/o): system\n"
                "      00000000fe000000-00000000fe000fff (prio 0, i/o): grandchild\n"
                "[DETECTED OVERFLOW!]     fffffffffffff000-0000000000000fff (prio 0, i/o): wrap\n"
                "\n")
        rec = parse_mtree(text)
        root = rec.address_spaces["memory"]
        assert [c.name for c in root.children] == ["grandchild", "wrap"]
        assert root.children[1].end == 0xfff

    @pytest.mark.parametrize("bad, line_no", [
        ("  0000000000000000-0000000000000fff (prio 0, ram): x\n", 1),       # no header
        ("address-space: a\n 0000000000000000-0000000000000fff (prio 0, ram): x\n", 2),  # odd indent
        ("address-space: a\n  0000000000000000-0000000000000fff (prio 0, ram): x\n"
         "  0000000000001000-0000000000001fff (prio 0, ram): y\n", 3),        # two roots
        ("address-space: a\n  0000000000001000-0000000000000fff (prio 0, ram): x\n", 2),
        ("address-space: a\n  0000000000000000-0000000000000fff (prio 0, ram): "
         "alias x @pc.ram 0000000000000000-0000000000001fff\n", 2),          # window length
        ("memory-region: a\n\naddress-space: b\n", 3),                       # order of blocks
        ("address-space: a\n  0000000000000000-0000000000000fff (prio 0, ram): x\n"
         "address-space: b\n", 3),                                           # missing blank
    ])
    def test_malformed(self, bad, line_no):
        with pytest.raises(ParseError) as ei:
            parse_mtree(bad)
        assert ei.value.line_no == line_no


# --------------------------------------------------------------------------- info pci

class TestInfoPciReal:
    def test_ivshmem_and_edu(self):
        devs = parse_info_pci(read("info_pci.txt"), "info_pci.txt")
        assert [d.bdf for d in devs] == ["00:00.0", "00:01.0", "00:02.0", "00:1f.0", "00:1f.2", "00:1f.3"]
        ivs = devs[1]
        assert (ivs.qdev_id, ivs.vendor, ivs.device, ivs.class_desc) == \
            ("ivs0", 0x1af4, 0x1110, "RAM controller")
        assert (ivs.subsystem_vendor, ivs.subsystem, ivs.irq) == (0x1af4, 0x1100, None)
        bar0, bar2 = ivs.bars
        assert (bar0.bar, bar0.type, bar0.prefetch, bar0.address, bar0.size) == \
            (0, "mem32", False, 0xfeb00000, 0x100)
        assert (bar2.bar, bar2.type, bar2.prefetch, bar2.address, bar2.size) == \
            (2, "mem64", True, 0xf8000000, 0x4000000)
        edu = devs[2]
        # "Class %04" PRId64: edu's class 0x00ff prints in decimal
        assert (edu.class_desc, edu.class_code, edu.irq, edu.pin) == ("Class 0255", 0xff, 11, "A")
        assert edu.bars[0].to_json() == {"bar": 0, "type": "mem32", "prefetch": False,
                                         "address": "0xfea00000", "size": "0x100000"}
        sata = devs[4]
        assert [(b.bar, b.type, b.address, b.size) for b in sata.bars] == \
            [(4, "io", 0xc040, 0x20), (5, "mem32", 0xfeb01000, 0x1000)]
        assert devs[5].bars[0].address == 0x700

    def test_bridge_and_rom(self):
        devs = {d.qdev_id or d.bdf: d for d in parse_info_pci(read("bridge-vga/info_pci.txt"))}
        rp = devs["rp1"]
        assert (rp.bdf, rp.vendor, rp.device, rp.class_desc) == ("00:01.0", 0x1b36, 0x000c, "PCI bridge")
        assert (rp.secondary_bus, rp.subordinate_bus, rp.subsystem_vendor) == (1, 1, None)
        assert rp.windows == {"io_range": (0xc000, 0xbfff),               # closed: base > limit
                              "memory_range": (0xfe800000, 0xfe9fffff),
                              "prefetchable_range": (0xf8000000, 0xfbffffff)}
        ivs = devs["ivs0"]
        assert ivs.bdf == "01:00.0"
        assert (ivs.bars[1].address, ivs.bars[1].size) == (0xf8000000, 0x4000000)
        vga = devs["vga0"]
        assert [(b.bar, b.type, b.prefetch, b.address, b.size) for b in vga.bars] == [
            (0, "mem32", True, 0xfc000000, 0x1000000),
            (2, "mem32", False, 0xfeb11000, 0x1000),
            (6, "mem32", False, None, 0x10000),   # ROM: "0xffffffffffffffff [0x0000fffe]"
        ]

    def test_unmapped_before_firmware(self):
        before = parse_info_pci(read("unmapped/info_pci.txt"))
        after = {d.bdf: d for d in parse_info_pci(read("bridge-vga/info_pci.txt"))}
        assert all(b.address is None for d in before for b in d.bars)
        rp = before[1]
        assert (rp.irq, rp.secondary_bus) == (0, 0)
        assert rp.windows["memory_range"] == (0xfff00000, 0x000fffff)
        # sizes recovered from the wrapped end equal the sizes once mapped
        for d in before:
            assert [(b.bar, b.size) for b in d.bars] == [(b.bar, b.size) for b in after[d.bdf].bars]

    def test_matches_trace(self):
        devs = parse_info_pci(read("bridge-vga/info_pci.txt"))
        mapped = {(d.bdf, b.bar): (b.address, b.size) for d in devs for b in d.bars if b.address is not None}
        adds = {}
        for ev in parse_trace(read("bridge-vga/trace-stderr.log")):
            a = ev.args
            key = (f"{a['bus']:02x}:{a['slot']:02x}.{a['func']:x}", a["bar"]) if "bar" in a else None
            if ev.name == "pci_update_mappings_add":
                adds[key] = (a["addr"], a["size"])
            elif ev.name == "pci_update_mappings_del":
                adds.pop(key)
        assert adds == mapped


class TestInfoPciHandBuilt:
    # QEMU >= 9.2 (hw/pci/pci-hmp-cmds.c hmp_info_pci_device at 10.2.0):
    # no trailing '.', and unmapped BARs print "(not mapped)".
    NEW = ("  Bus  0, device   2, function 0:\n"
           "    VGA controller: PCI device 1234:1111\n"
           "      PCI subsystem 1af4:1100\n"
           "      BAR0: 32 bit prefetchable memory at 0xfc000000 [0xfcffffff]\n"
           "      BAR2: 32 bit memory at 0xfeb11000 [0xfeb11fff]\n"
           "      BAR6: 32 bit memory (not mapped)\n"
           '      id "vga0"\n'
           "  Bus  0, device  31, function 2:\n"
           "    SATA controller: PCI device 8086:2922\n"
           "      PCI subsystem 1af4:1100\n"
           "      IRQ 10, pin A\n"
           "      BAR4: I/O (not mapped)\n"
           "      BAR5: 32 bit memory at 0xfeb12000 [0xfeb12fff]\n"
           '      id ""\n')

    def test_new_style(self):
        vga, sata = parse_info_pci(self.NEW)
        assert [(b.bar, b.address, b.size) for b in vga.bars] == \
            [(0, 0xfc000000, 0x1000000), (2, 0xfeb11000, 0x1000), (6, None, 0)]
        assert [(b.bar, b.type, b.address) for b in sata.bars] == \
            [(4, "io", None), (5, "mem32", 0xfeb12000)]

    def test_not_supported(self):
        # QEMU 7.2 monitor/hmp-cmds.c hmp_info_pci when query-pci fails
        assert parse_info_pci("PCI devices not supported\r\n") == []

    @pytest.mark.parametrize("edit, line_no", [
        (lambda t: t.replace("[0xfeb11fff]", "[0xfeb11fff]."), 5),      # mixed styles
        (lambda t: t.replace("Bus  0, device   2", "Bus 0, device 2"), 1),  # widths
        (lambda t: t.replace('      id "vga0"\n', ""), 7),              # missing id
        (lambda t: t.replace("BAR2", "BAR7"), 5),                          # index > 6
        (lambda t: t.replace("BAR6", "BAR1"), 6),                          # not increasing
        (lambda t: t.replace("      PCI subsystem 1af4:1100\n      IRQ 10, pin A",
                             "      IRQ 10, pin A\n      PCI subsystem 1af4:1100"), 11),
        (lambda t: t[:t.index("BAR5")], 13),                                # truncated
        (lambda t: t.replace("32 bit memory at", "16 bit memory at"), 5),
        (lambda t: t.replace("0xfeb11fff", "0xfeb10fff"), 5),               # end < start
    ])
    def test_malformed(self, edit, line_no):
        bad = edit(self.NEW)
        if bad == self.NEW:
            pytest.skip("edit did not apply")
        with pytest.raises(ParseError) as ei:
            parse_info_pci(bad)
        assert ei.value.line_no == line_no

    def test_bridge_lines_must_be_complete(self):
        text = read("bridge-vga/info_pci.txt").replace("      subordinate bus 1.\r\n", "")
        with pytest.raises(ParseError, match="bridge lines out of order") as ei:
            parse_info_pci(text)
        assert ei.value.line_no == 10


# --------------------------------------------------------------------------- traces

class TestTraceReal:
    def test_events(self):
        evs = parse_trace(read("trace.log"), "trace.log")
        assert len(evs) == 39
        assert Counter(e.name for e in evs) == {"kvm_set_user_memory": 33, "pci_update_mappings_add": 6}
        first = evs[0]
        assert first.args == {"slot": 0, "as_id": 0, "flags": 0, "guest_phys_addr": 0,
                              "memory_size": 0x40000000, "userspace_addr": 0x7f0ccbe00000, "ret": 0}
        assert (first.line_no, first.pid, first.timestamp) == (1, None, None)
        ivs_bar2 = evs[23]
        assert ivs_bar2.name == "pci_update_mappings_add"
        assert ivs_bar2.args == {"dev": "ivshmem-plain", "bus": 0, "slot": 1, "func": 0,
                                 "bar": 2, "addr": 0xf8000000, "size": 0x4000000}
        assert evs[24].args["guest_phys_addr"] == 0xf8000000

    def test_final_memslots(self):
        slots = replay_memslots(parse_trace(read("trace.log")))
        assert [(s.slot, s.guest_phys_addr, s.memory_size, s.flags) for s in slots] == [
            (0, 0x0, 0xc3000, 0),
            (3, 0xc3000, 0x25000, 0),
            (4, 0xe8000, 0x8000, 0),
            (5, 0xf0000, 0x10000, 0),
            (6, 0x100000, 0x3ff00000, 0),
            (2, 0xf8000000, 0x4000000, 0),          # ivshmem BAR2 (memory-backend m0)
            (1, 0xfffc0000, 0x40000, 2),            # pc.bios, KVM_MEM_READONLY
        ]
        assert slots[1].userspace_addr == 0x7f0ccbec3000
        assert slots[-1].readonly and not slots[0].readonly

    @pytest.mark.parametrize("trace, mtree", [
        ("trace.log", "info_mtree_-f.txt"),
        ("bridge-vga/trace-stderr.log", "bridge-vga/info_mtree_-f.txt"),
    ])
    def test_memslots_match_kvm_ranges(self, trace, mtree):
        # two independent real outputs of one VM: every range that "info mtree -f"
        # marks KVM is exactly one live memslot
        slots = replay_memslots(parse_trace(read(trace)))
        mem = flatview_for(parse_mtree_flat(read(mtree)))
        assert {(s.start, s.size) for s in mem.sections if s.kvm} == \
            {(m.guest_phys_addr, m.memory_size) for m in slots}

    def test_timestamps_and_noise(self):
        evs = parse_trace(read("bridge-vga/trace-stderr.log"))
        assert len(evs) == 229          # 230 lines, one a time-stamped QEMU warning
        assert (evs[0].pid, evs[0].timestamp, evs[0].line_no) == (8095, "1795483808.762471", 2)
        cfg = next(e for e in evs if e.name == "pci_cfg_write")
        assert cfg.args == {"dev": "mch", "bus": 0, "slot": 0, "func": 0, "offs": 0x90,
                            "val": 0x33333330}
        vram = [s for s in replay_memslots(evs) if s.guest_phys_addr == 0xfc000000]
        assert vram[0].flags == 1 and vram[0].dirty_logging      # VGA vram dirty logging
        rom = [e for e in evs if e.name.startswith("pci_update_mappings") and e.args["bar"] == 6]
        assert [(e.name, e.args["addr"], e.args["size"]) for e in rom] == [
            ("pci_update_mappings_add", 0xfeb00000, 0x10000),
            ("pci_update_mappings_del", 0xfeb00000, 0x10000)]

    def test_event_filter(self):
        text = read("bridge-vga/trace-stderr.log")
        assert {e.name for e in parse_trace(text, events=["pci_update_*"])} == \
            {"pci_update_mappings_add", "pci_update_mappings_del"}
        assert {e.name for e in parse_trace(text, events="# comment\nkvm_set_user_memory\n")} == \
            {"kvm_set_user_memory"}

    def test_events_file_is_not_a_trace(self):
        # the event list itself: a known name with no arguments
        with pytest.raises(ParseError) as ei:
            parse_trace("kvm_set_user_memory\npci_update_mappings_add\n")
        assert ei.value.line_no == 1


class TestTraceHandBuilt:
    def test_kvm_set_user_memory_9_1_and_later(self):
        # accel/kvm/trace-events (9.1 ... 10.2): AddrSpace#%d Slot#%d flags=0x%x gpa=0x%PRIx64
        # size=0x%PRIx64 ua=0x%PRIx64 guest_memfd=%d guest_memfd_offset=0x%PRIx64 ret=%d;
        # guest_memfd is -1 for ordinary RAM (system/physmem.c sets ram_block guest_memfd = -1).
        # 10.1+ -msg timestamp=on prefix: util/log.c qemu_log, ISO 8601 + " ".
        text = ("2025-07-21T18:43:28.089797Z kvm_set_user_memory AddrSpace#0 Slot#7 flags=0x0 "
                "gpa=0xfe000000 size=0x2000 ua=0x7f2a40000000 guest_memfd=-1 "
                "guest_memfd_offset=0x0 ret=0\n"
                "kvm_set_user_memory AddrSpace#1 Slot#2 flags=0x0 gpa=0x0 size=0xa0000 "
                "ua=0x7f2a00000000 guest_memfd=-1 guest_memfd_offset=0x0 ret=0\n")
        a, b = parse_trace(text)
        assert a.timestamp == "2025-07-21T18:43:28.089797Z" and a.pid is None
        assert a.args == {"as_id": 0, "slot": 7, "flags": 0, "guest_phys_addr": 0xfe000000,
                          "memory_size": 0x2000, "userspace_addr": 0x7f2a40000000,
                          "fd": -1, "fd_offset": 0, "ret": 0}
        assert (b.args["as_id"], b.args["slot"]) == (1, 2)
        slots = replay_memslots([a, b])
        assert [(s.as_id, s.slot, s.guest_phys_addr) for s in slots] == [(1, 2, 0), (0, 7, 0xfe000000)]

    def test_old_slot_field_carries_as_id(self):
        # accel/kvm/trace-events (2.12 ... 9.0) prints mem.slot = slot | as_id << 16
        (ev,) = parse_trace("kvm_set_user_memory Slot#65537 flags=0x0 gpa=0x0 size=0x10000 "
                            "ua=0x7f0000000000 ret=0\n")
        assert (ev.args["as_id"], ev.args["slot"]) == (1, 1)

    def test_vfio_events(self):
        # hw/vfio/trace-events (7.2 ... 10.2); names as hw/vfio (region.c / pci.c) builds them
        text = "\n".join([
            "vfio_region_setup Device 0000:01:00.0, region 0 \"0000:01:00.0 BAR 0\", "
            "flags: 0x7, offset: 0x0, size: 0x1000000",
            "vfio_msix_fixup  (0000:01:00.0) MSI-X region 0 mmap fixup [0x0 - 0x2000]",
            "vfio_region_mmap Region 0000:01:00.0 BAR 0 mmaps[0] [0x0 - 0x1fff]",
            "vfio_region_mmap Region 0000:01:00.0 BAR 0 mmaps[1] [0x3000 - 0xffffff]",
            "vfio_listener_region_add_ram region_add [ram] 0xfe000000 - 0xfe001fff [0x7f2a40000000]",
            "vfio_listener_region_skip SKIPPING region_add 0xfe002000 - 0xfe002fff",
            "vfio_listener_region_del region_del 0xfe000000 - 0xfe001fff",
            "vfio_pci_write_config  (0000:01:00.0, @0x10, 0xfd000000, len=0x4)",
            "vfio_region_read  (0000:01:00.0:region0+0x100, 4) = 0xdeadbeef",
            "vfio_listener_region_add_iommu region_add [iommu] 0x0 - 0xffffffffffff",
            "vfio_listener_region_add_iommu region_add [iommu] intel_iommu 0x0 - 0xffffffffffff",
            "vfio_msix_early_setup 0000:01:00.0 PCI MSI-X CAP @0xa0, BAR 0, offset 0x2000, "
            "entries 3, noresize 0",
            "vfio_listener_region_add_ram region_add [ram] 0x0 - 0xfff [(nil)]",
        ]) + "\n"
        evs = parse_trace(text)
        assert [e.line_no for e in evs] == list(range(1, 14))
        assert evs[0].args == {"dev": "0000:01:00.0", "index": 0, "name": "0000:01:00.0 BAR 0",
                               "flags": 7, "offset": 0, "size": 0x1000000}
        assert evs[1].args == {"name": "0000:01:00.0", "bar": 0, "start": 0, "end": 0x2000}
        assert evs[2].args == {"name": "0000:01:00.0 BAR 0 mmaps[0]", "offset": 0, "end": 0x1fff}
        assert evs[4].args == {"iova_start": 0xfe000000, "iova_end": 0xfe001fff,
                               "vaddr": 0x7f2a40000000}
        assert evs[5].args == {"name": "region_add", "start": 0xfe002000, "end": 0xfe002fff}
        assert evs[7].args == {"name": "0000:01:00.0", "addr": 0x10, "val": 0xfd000000, "len": 4}
        assert evs[8].args == {"name": "0000:01:00.0", "index": 0, "addr": 0x100, "size": 4,
                               "data": 0xdeadbeef}
        assert "name" not in evs[9].args and evs[10].args["name"] == "intel_iommu"
        assert evs[11].args["noresize"] is False and evs[11].args["entries"] == 3
        assert evs[12].args["vaddr"] == 0

    def test_load_rom_two_line_and_one_line(self):
        # hw/vfio/trace-events: up to 9.0 "Device %s ROM:\n  size: 0x%lx, offset: 0x%lx,
        # flags: 0x%lx"; from 9.1 "Device '%s' ROM: size: ..., offset: ..., flags: ..."
        old = ("1234@1700000000.000001:vfio_pci_load_rom Device 0000:01:00.0 ROM:\n"
               "  size: 0x10000, offset: 0x70000000000, flags: 0x1\n"
               "1234@1700000000.000002:vfio_pci_size_rom 0000:01:00.0 ROM size 0x10000\n")
        new = "vfio_pci_load_rom Device '0000:01:00.0' ROM: size: 0x10000, offset: 0x70000000000, flags: 0x1\n"
        a, b = parse_trace(old)
        assert a.args == {"name": "0000:01:00.0", "size": 0x10000, "offset": 0x70000000000, "flags": 1}
        assert (b.line_no, b.args["size"]) == (3, 0x10000)
        (c,) = parse_trace(new)
        assert c.args == a.args
        with pytest.raises(ParseError) as ei:       # second half missing
            parse_trace(old.split("\n")[0])
        assert ei.value.line_no == 1
        with pytest.raises(ParseError) as ei:       # second half is not the size line
            parse_trace(old.split("\n")[0] + "\n" + old.split("\n")[2])
        assert ei.value.line_no == 2

    def test_unknown_events_and_noise(self):
        # an event from system/trace-events not in our table is kept raw
        text = ("qemu-system-x86_64: warning: host doesn't support requested feature\n"
                "memory_region_ram_device_read cpu 0 mr 0x55d0 addr 0x0 value 0x0 size 4\n"
                "\n"
                "SeaBIOS (version 1.16.2)\n")
        (ev,) = parse_trace(text)
        assert (ev.name, ev.args, ev.line_no) == ("memory_region_ram_device_read", {}, 2)
        assert ev.raw.startswith("memory_region_ram_device_read cpu 0")

    def test_memory_region_ops(self):
        # QEMU 7.2 softmmu/trace-events: "cpu %d mr %p addr 0x%"PRIx64" value
        # 0x%"PRIx64" size %u name '%s'"; subpage: "... offset 0x%"PRIx64" ..."
        text = ("memory_region_ops_write cpu 0 mr 0x55d0c0ffee00 addr 0x402 value 0x40 "
                "size 1 name 'isa-debugcon'\n"
                "memory_region_subpage_read cpu -1 mr (nil) offset 0x8 value 0x1 size 4\n")
        ops, sub = parse_trace(text)
        assert ops.args == {"cpu": 0, "mr": 0x55D0C0FFEE00, "addr": 0x402, "value": 0x40,
                            "size": 1, "region": "isa-debugcon"}
        assert sub.args == {"cpu": -1, "mr": 0, "offset": 0x8, "value": 1, "size": 4}

    @pytest.mark.parametrize("bad, line_no", [
        ("kvm_set_user_memory Slot#0 flags=0x0 gpa=0x0 size=0x1000 ret=0\n", 1),
        ("x\npci_update_mappings_add ivshmem-plain 00:01.0 2,0xf8000000\n", 2),
        ("pci_cfg_write mch 00:00.0 @0x90 -> 0x3\n", 1),
        ("kvm_set_user_memorySlot#0 flags=0x0\n", 1),
        ("12@17x.000001:kvm_run_exit cpu_index 0, reason 2\n", 1),
        ("kvm_set_user_memory AddrSpace#0 Slot#70000 flags=0x0 gpa=0x0 size=0x1000 "
         "ua=0x0 guest_memfd=-1 guest_memfd_offset=0x0 ret=0\n", 1),
    ])
    def test_malformed(self, bad, line_no):
        with pytest.raises(ParseError) as ei:
            parse_trace(bad, "t.log")
        assert ei.value.line_no == line_no and ei.value.source == "t.log"


class TestReplay:
    LINES = ["kvm_set_user_memory Slot#0 flags=0x0 gpa=0x0 size=0x1000 ua=0x7f0000000000 ret=0",
             "kvm_set_user_memory Slot#1 flags=0x0 gpa=0x1000 size=0x1000 ua=0x7f0000001000 ret=0",
             "kvm_set_user_memory Slot#0 flags=0x0 gpa=0x0 size=0x0 ua=0x7f0000000000 ret=0",
             "kvm_set_user_memory Slot#0 flags=0x2 gpa=0x4000 size=0x1000 ua=0x7f0000004000 ret=0",
             "kvm_set_user_memory Slot#5 flags=0x0 gpa=0x4000 size=0x1000 ua=0x7f0000004000 ret=-17"]

    def test_delete_reuse_and_failed_call(self):
        slots = replay_memslots(parse_trace("\n".join(self.LINES)))
        assert [(s.slot, s.guest_phys_addr, s.flags) for s in slots] == [(1, 0x1000, 0), (0, 0x4000, 2)]

    def test_delete_of_unknown_slot(self):
        evs = parse_trace(self.LINES[2])
        with pytest.raises(ParseError, match="not live") as ei:
            replay_memslots(evs)
        assert ei.value.line_no == 1

    def test_overlap(self):
        evs = parse_trace("\n".join(self.LINES[:2] + [self.LINES[1].replace("Slot#1", "Slot#2")]))
        with pytest.raises(ParseError, match="overlaps") as ei:
            replay_memslots(evs)
        assert ei.value.line_no == 3

    def test_other_events_ignored(self):
        assert replay_memslots(parse_trace(read("trace.log"), events=["pci_*"])) == []


# --------------------------------------------------------------------------- all reference captures

REFS = sorted((Path(__file__).parent.parent / "data" / "references").glob("*/trace.log"))


@pytest.mark.skipif(not REFS, reason="data/references not present")
@pytest.mark.parametrize("trace_path", REFS, ids=lambda p: p.parent.name)
def test_reference_captures_parse_and_agree(trace_path):
    # every real capture in data/references: all texts parse, and the memslots
    # replayed from the trace are exactly the ranges "info mtree -f" marks KVM
    d = trace_path.parent

    def text(name):
        with open(d / name, newline="", encoding="utf-8") as f:
            return f.read()
    slots = replay_memslots(parse_trace(text("trace.log"), str(trace_path)))
    mem = flatview_for(parse_mtree_flat(text("info_mtree_f.txt")))
    assert {(s.start, s.size) for s in mem.sections if s.kvm} == \
        {(m.guest_phys_addr, m.memory_size) for m in slots}
    parse_mtree(text("info_mtree.txt"))
    assert parse_info_pci(text("info_pci.txt"))
