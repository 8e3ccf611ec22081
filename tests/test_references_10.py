"""The QEMU 10.0 reference captures (issue 12) next to their QEMU 7.2 twins.

Each ``*-qemu10-sb1162`` folder has the same command line as the 7.2
capture without the suffix and the same firmware files (``-L seabios-1.16.2``
= Debian 12's seabios, ipxe-qemu and qemu-system-data), so what differs is
QEMU.  These tests read both with ``vfiolab.inputs`` (which must understand
QEMU 10.0's text: ``info pci`` without the trailing dot and with "(not
mapped)", ``kvm_set_user_memory AddrSpace#N ... guest_memfd=...``) and pin
what is the same and what is not, as the real captures show it.  The model
predicts both (issue 12): tests/test_predict_references.py compares every
folder with the prediction, tests/test_qemu10.py pins each rule behind the
differences.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from vfiolab.real.reference import REFERENCES, load_reference

TWINS = ["pc-512M-edu", "q35-512M-ivshmem-1M", "pc-1G-ivshmem-1G", "q35-1G-ivshmem-1G",
         "pc-3G-ivshmem-256M", "q35-4G-ivshmem-2G", "pc-6G-ivshmem-4G", "q35-1G-multi",
         "pc-1G-multi", "q35-1G-rootport"]
#: 7.2 + SeaBIOS 1.16.3 captures and their 10.0 + 1.16.3 twins
TWINS_1163 = ["q35-6G-ivshmem-4G", "q35-4G-rootport", "pc-4G-dev"]
QEMU10 = sorted(p for p in REFERENCES.glob("*-qemu10-*") if (p / "meta.json").is_file())


def _pairs():
    out = [(n, f"{n}-qemu10-sb1162") for n in TWINS]
    out += [(f"{n}-sb1163", f"{n}-qemu10-sb1163") for n in TWINS_1163]
    return out


def _bars(ref, with_rom_size=True):
    return {(d["bdf"], d["qdev_id"], b["bar"]): (b["address"], b["size"] if with_rom_size
                                                 or b["bar"] != 6 else None)
            for d in ref.to_json()["devices"] for b in d["bars"]}


def test_there_are_ten_qemu10_references():
    assert len(QEMU10) >= 10


@pytest.mark.parametrize("ref", QEMU10, ids=lambda p: p.name)
def test_qemu10_reference_says_what_made_it(ref: Path):
    meta = json.loads((ref / "meta.json").read_text())
    assert meta["qemu_version"] == "10.0.2"
    assert meta["qemu_packages"]["qemu-system-x86"] == "1:10.0.2+ds-2+deb13u1~bpo12+1"
    sb = {"sb1162": "1.16.2", "sb1163": "1.16.3"}[ref.name.rsplit("-", 1)[1]]
    assert meta["firmware"] == f"seabios-{sb}"
    assert meta["firmware_packages"]["seabios"].startswith(sb)
    assert meta["kernel_release"] and meta["host_cpu_vendor"]
    # vfiolab.inputs reads all of it
    loaded = load_reference(ref)
    assert loaded.devices and loaded.sections and loaded.memslots
    trace = (ref / "trace.log").read_text().splitlines()
    assert trace[0].startswith("kvm_set_user_memory AddrSpace#0 Slot#0 ")
    assert " guest_memfd=-1 " in trace[0]


@pytest.mark.parametrize("old,new", _pairs(), ids=lambda x: x)
def test_bar_placement_is_the_same(old, new):
    """SeaBIOS places every BAR where it did under 7.2.  Only an unmapped ROM
    BAR's size is lost: QEMU >= 9.2 prints "BAR6: 32 bit memory (not
    mapped)" (hw/pci/pci-hmp-cmds.c, commit aa37616fb4)."""
    a, b = load_reference(REFERENCES / old), load_reference(REFERENCES / new)
    assert _bars(a, with_rom_size=False) == _bars(b, with_rom_size=False)


def _rows(ref):
    return [(s.start, s.end, s.kind, s.prio, s.name, s.offset, s.kvm) for s in ref.sections]


@pytest.mark.parametrize("old,new", _pairs(), ids=lambda x: x)
def test_flat_view_of_memory(old, new):
    """The same flat view, except on q35 with a VGA device: QEMU 10.0 creates
    no SMRAM ranges when KVM has no SMM (hw/pci-host/q35.c mch_realize():
    ``if (!mch->has_smm_ranges) return;``, commit b07bf7b73f, QEMU 9.1; this
    nested host has no KVM_CAP_X86_SMM), so the "smram-region" alias that
    puts the PCI VGA window over RAM at 0xa0000 is missing and pc.ram shows
    through 0xa0000-0xbffff."""
    a, b = load_reference(REFERENCES / old), load_reference(REFERENCES / new)
    if old == "q35-1G-multi":
        lo = [r for r in _rows(a) if r[0] < 0xc0000]
        assert lo == [(0, 0x9ffff, "ram", 0, "pc.ram", None, True),
                      (0xa0000, 0xbffff, "i/o", 1, "vga-lowmem", None, False)]
        assert [r for r in _rows(b) if r[0] < 0xc0000] == \
            [(0, 0xbffff, "ram", 0, "pc.ram", None, True)]
        assert [r for r in _rows(a) if r[0] >= 0xc0000] == \
            [r for r in _rows(b) if r[0] >= 0xc0000]
    else:
        assert _rows(a) == _rows(b)


@pytest.mark.parametrize("old,new", _pairs(), ids=lambda x: x)
def test_memslots(old, new):
    """The final memslots cover the same ranges (q35-1G-multi aside, see
    above); on pc the slot numbers differ: QEMU 10.0 maps isa-bios and the
    RAM above 1 MiB before pc.bios at machine init, 7.2 mapped pc.bios
    first, so pc.bios (0xfffc0000) gets a later slot in 10.0 than in 7.2.
    On q35 the numbers are the same, except in q35-1G-multi (the missing
    smram-region changes the order of the early commits: 0xc0000 is slot 2
    in 7.2 and 4 in 10.0, the VGA BARs' slots 3, 4 become 2, 3)."""
    a, b = load_reference(REFERENCES / old), load_reference(REFERENCES / new)
    ra = sorted((m.guest_phys_addr, m.memory_size, m.flags) for m in a.memslots)
    rb = sorted((m.guest_phys_addr, m.memory_size, m.flags) for m in b.memslots)
    if old == "q35-1G-multi":
        assert (0, 0xa0000, 0) in ra and (0, 0xc0000, 0) in rb
        ra, rb = [r for r in ra if r[0] != 0], [r for r in rb if r[0] != 0]
    assert ra == rb
    sa = {m.guest_phys_addr: m.slot for m in a.memslots}
    sb = {m.guest_phys_addr: m.slot for m in b.memslots}
    if old == "q35-1G-multi":
        assert (sa[0xc0000], sa[0xfc000000], sa[0xfd000000]) == (2, 3, 4)
        assert (sb[0xc0000], sb[0xfc000000], sb[0xfd000000]) == (4, 2, 3)
    elif old.startswith("q35"):
        assert sa == sb
    else:
        assert sa[0xfffc0000] < sb[0xfffc0000]
