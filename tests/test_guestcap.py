"""Tests of vfiolab.real.guestcap and of the real KVM captures in data/kvm/.

The facts asserted here (which access exits, which region serves it, which
BAR mappings and memslots change in what order) are real observations:
QEMU 7.2.22 under this project's nested KVM, recorded in
``data/kvm/<name>/trace.log`` and normalized into ``result.json``.  The
literal tables below were read off those captures (see data/kvm/README.md);
the tests check the files still say so and that re-reading the raw log gives
the same normalization.  Formats come from guest/README.md and QEMU 7.2's
trace-events / softmmu/memory.c.
"""

from __future__ import annotations

import json
import os
import shutil
import struct
import sys
import textwrap
import time
from pathlib import Path

import pytest

from vfiolab.real import guestcap as gc
from vfiolab.errors import ActionError, CaptureError, CommandLineError, ParseError
from vfiolab.inputs.pci import parse_info_pci

DATA = Path(__file__).resolve().parent.parent / "data" / "kvm"
CAPTURES = sorted(p.name for p in DATA.iterdir() if (p / "result.json").exists())


def load(name: str) -> dict:
    return json.loads((DATA / name / "result.json").read_text())


def read(name: str, fname: str) -> str:
    return (DATA / name / fname).read_text()


# ---------------------------------------------------------------------------
# The committed captures
# ---------------------------------------------------------------------------

def test_every_scenario_is_captured():
    assert CAPTURES == sorted(gc.SCENARIOS)


@pytest.mark.parametrize("name", CAPTURES)
def test_capture_matches_its_scenario(name):
    res = load(name)
    sc = gc.SCENARIOS[name]
    assert res["args"] == sc["args"]
    assert res["accel"] == "kvm"
    assert res["versions"]["qemu"] == "7.2.22"
    assert res["versions"]["seabios"].startswith("1.16.2")
    given = json.loads(read(name, "actions.json"))
    assert gc.validate_actions(given) == gc.validate_actions(sc["actions"])
    assert sorted(res["files"]) == sorted(p.name for p in (DATA / name).iterdir())


@pytest.mark.parametrize("name", CAPTURES)
def test_renormalize_committed_log(name):
    """Reading trace.log + debugcon.log again gives result.json's actions."""
    res = load(name)
    actions = json.loads(read(name, "actions.json"))
    again = gc.normalize(read(name, "trace.log"), read(name, "debugcon.log"), actions,
                         res["guest_ops"])
    assert again == res["actions"]


@pytest.mark.parametrize("name", CAPTURES)
def test_guest_ops_from_actions(name):
    """The guest operations recorded are what expand_actions makes of the
    actions (with the BAR types the run took from the prediction)."""
    res = load(name)
    acts = gc.validate_actions(json.loads(read(name, "actions.json")))
    types = {}
    for key, info in res["bar_types_from_prediction"].items():
        bdf, bar = key.split(" BAR")
        types[(bdf, int(bar))] = info
    assert gc._ops_json(gc.expand_actions(acts, types)) == res["guest_ops"]


@pytest.mark.parametrize("name", CAPTURES)
def test_firmware_bars_from_boot_trace(name):
    assert gc.firmware_bars(read(name, "trace_boot.log")) == load(name)["firmware_bars"]


@pytest.mark.parametrize("name", CAPTURES)
def test_guest_finished(name):
    rep = gc.guest_results(read(name, "debugcon.log"))
    assert rep["done"] and rep["error"] is None
    assert rep["ops"] == len(load(name)["guest_ops"])


def _bar(name, bdf, bar):
    for b in load(name)["firmware_bars"]:
        if (b["bdf"], b["bar"]) == (bdf, bar):
            return int(b["address"], 16), int(b["size"], 16)
    raise AssertionError(f"{name}: no BAR {bdf} {bar}")


#: touches that aim at a BAR: (capture, action index, bdf, bar, offset);
#: the BAR is where the firmware put it (trace_boot.log)
AIMED = [
    ("q35-touch", 2, "00:01.0", 2, 0), ("q35-touch", 4, "00:01.0", 0, 0),
    ("q35-touch", 5, "00:02.0", 0, 0), ("q35-touch", 6, "00:02.0", 0, 4),
    ("q35-touch", 8, "00:03.0", 0, 8), ("q35-touch", 9, "00:03.0", 3, 0),
    ("q35-touch", 10, "00:03.0", 3, 0xc), ("q35-touch", 11, "00:03.0", 3, 0x2000),
    ("q35-ivshmem-move", 0, "00:01.0", 2, 0), ("q35-decode-off", 1, "00:01.0", 0, 0),
    ("q35-decode-off", 0, "00:01.0", 2, 0), ("q35-decode-off", 5, "00:02.0", 0, 0),
    ("q35-rootport-window", 0, "01:00.0", 2, 0), ("q35-rootport-window", 1, "01:00.0", 0, 0),
]


@pytest.mark.parametrize("name,index,bdf,bar,offset", AIMED)
def test_touch_aims_at_the_firmwares_bar(name, index, bdf, bar, offset):
    base, size = _bar(name, bdf, bar)
    act = load(name)["actions"][index]
    assert int(act["gpa"], 16) == base + offset < base + size


# (gpa, access, exit, region, rejected): region None = no MemoryRegion's
# ops ran (nothing decodes the address)
TOUCH_FACTS = {
    "q35-touch": {
        0: ("0x800000", "read", False, None, False),            # guest RAM
        1: ("0x800000", "write", False, None, False),
        2: ("0xf8000000", "read", False, None, False),          # ivshmem BAR2 (RAM)
        3: ("0xf8000000", "write", False, None, False),
        4: ("0xfeb84000", "read", True, "ivshmem-mmio", False),
        5: ("0xfea00000", "read", True, "edu-mmio", False),
        6: ("0xfea00004", "write", True, "edu-mmio", False),
        7: ("0xfea00004", "read", True, "edu-mmio", False),
        8: ("0xfeb40008", "read", True, "e1000e-mmio", False),
        9: ("0xfeb80000", "read", True, "msix-table", False),
        10: ("0xfeb8000c", "write", True, "msix-table", False),
        11: ("0xfeb82000", "read", True, "msix-pba", False),
        12: ("0xfe000000", "read", True, None, True),           # unassigned
        13: ("0x200000000", "read", True, None, True),
        14: ("0xfffffff0", "read", False, None, False),        # ROM memslot
        15: ("0xfffffff0", "write", True, "pc.bios", True),    # write to ROM
        16: ("0xfee00030", "read", False, None, False),         # in-kernel LAPIC
        17: ("0xfec00000", "read", False, None, False),         # in-kernel IOAPIC
        18: ("0xfed00000", "read", True, "hpet", False),
        19: ("0xb0000000", "read", True, "pcie-mmcfg-mmio", False),
    },
    "q35-ivshmem-move": {
        0: ("0xf8000000", "write", False, None, False),
        1: ("0xf8000000", "read", False, None, False),
        2: ("0x800000000", "read", True, None, True),
        4: ("0xf8000000", "read", True, None, True),            # old, after clean move
        5: ("0x800000000", "read", False, None, False),         # new
        7: ("0x800000000", "read", True, None, True),           # old, after careless
        8: ("0x8f8000000", "read", True, None, True),           # intermediate
        9: ("0xf8000000", "read", False, None, False),
    },
    "q35-decode-off": {
        0: ("0xf8000000", "read", False, None, False),
        1: ("0xfeb00000", "read", True, "ivshmem-mmio", False),
        3: ("0xf8000000", "read", True, None, True),            # decode off
        4: ("0xfeb00000", "read", True, None, True),
        5: ("0xfea00000", "read", True, "edu-mmio", False),
        7: ("0xf8000000", "read", False, None, False),          # decode on again
        8: ("0xfeb00000", "read", True, "ivshmem-mmio", False),
    },
    "q35-rootport-window": {
        0: ("0xf8000000", "read", False, None, False),
        1: ("0xfe800000", "read", True, "ivshmem-mmio", False),
        3: ("0xf0000000", "read", True, None, True),            # outside rp0's windows
        4: ("0xf8000000", "read", True, None, True),
        6: ("0xfe000000", "read", True, None, True),
        7: ("0xfe800000", "read", True, None, True),
        9: ("0xf8000000", "read", False, None, False),          # back inside
    },
}


TOUCH_CASES = [pytest.param(name, index, fact, id=f"{name}-{index}")
               for name, facts in TOUCH_FACTS.items() for index, fact in facts.items()]


@pytest.mark.parametrize("name,index,fact", TOUCH_CASES)
def test_touch_fact(name, index, fact):
    gpa, access, exit_, region, rejected = fact
    a = load(name)["actions"][index]
    assert (a["op"], a["gpa"], a["access"]) == ("touch", gpa, access)
    assert a["exit"] is exit_
    assert a["region"] == region
    assert a["rejected"] is rejected
    assert a["sequence"] == []            # a touch changes no mapping
    if exit_:
        # exactly one return to QEMU, as KVM_EXIT_MMIO
        assert [e["reason"] for e in a["exits"]] == [gc.KVM_EXIT_MMIO]
        handled = a["exits"][0]["handled"]
        assert len(handled) == 1
        if not rejected:
            # memory_region_ops_* prints the absolute address: the GPA
            assert handled[0]["addr"] == gpa and handled[0]["access"] == access
    else:
        assert a["exits"] == []


def test_every_touch_has_a_fact():
    for name in CAPTURES:
        touches = {a["index"] for a in load(name)["actions"] if a["op"] == "touch"}
        assert touches == set(TOUCH_FACTS[name])


def test_read_values():
    """What the guest read (its own R lines): device registers and moved RAM."""
    t = {a["index"]: a.get("read_value") for a in load("q35-touch")["actions"]}
    assert t[5] == "0x10000ed"            # edu identification: version 1.0, 0xed
    assert t[7] == "0xffff0000"           # edu liveness: ~0x0000ffff
    assert t[19] == "0x29c08086"          # MMCONFIG 00:00.0: Q35 MCH 8086:29c0
    assert t[12] == t[13] == "0x0"        # unassigned reads return 0 here
    m = {a["index"]: a.get("read_value") for a in load("q35-ivshmem-move")["actions"]}
    assert m[1] == m[5] == m[9] == "0xcafef00d"   # the data moved with the BAR


def _seq(name, index, with_cfg=False):
    out = []
    for e in load(name)["actions"][index]["sequence"]:
        if e["ev"].startswith("pci_update_mappings"):
            out.append((e["ev"][len("pci_update_mappings_"):], e["bdf"], e["bar"], e["addr"]))
        elif e["ev"] == "kvm_set_user_memory":
            out.append(("slot", e["slot"], e["gpa"], e["size"]))
        elif with_cfg:
            out.append((e["ev"], e["bdf"], e["reg"], e["value"]))
    return out


SEQUENCE_FACTS = {
    ("q35-decode-off", 2): [
        ("del", "00:01.0", 0, "0xfeb00000"), ("del", "00:01.0", 2, "0xf8000000"),
        ("slot", 2, "0xf8000000", "0x0")],
    ("q35-decode-off", 6): [
        ("add", "00:01.0", 0, "0xfeb00000"), ("add", "00:01.0", 2, "0xf8000000"),
        ("slot", 2, "0xf8000000", "0x4000000")],
    ("q35-ivshmem-move", 3): [
        ("del", "00:01.0", 0, "0xfeb00000"), ("del", "00:01.0", 2, "0xf8000000"),
        ("slot", 2, "0xf8000000", "0x0"),
        ("add", "00:01.0", 0, "0xfeb00000"), ("add", "00:01.0", 2, "0x800000000"),
        ("slot", 2, "0x800000000", "0x4000000")],
    ("q35-ivshmem-move", 6): [
        ("del", "00:01.0", 2, "0x800000000"), ("slot", 2, "0x800000000", "0x0"),
        ("add", "00:01.0", 2, "0x8f8000000"), ("slot", 2, "0x8f8000000", "0x4000000"),
        ("del", "00:01.0", 2, "0x8f8000000"), ("slot", 2, "0x8f8000000", "0x0"),
        ("add", "00:01.0", 2, "0xf8000000"), ("slot", 2, "0xf8000000", "0x4000000")],
    ("q35-rootport-window", 2): [
        ("del", "01:00.0", 0, "0xfe800000"), ("del", "01:00.0", 2, "0xf8000000"),
        ("slot", 2, "0xf8000000", "0x0"),
        ("add", "01:00.0", 0, "0xfe800000"), ("add", "01:00.0", 2, "0xf0000000")],
    ("q35-rootport-window", 5): [
        ("del", "01:00.0", 0, "0xfe800000"), ("del", "01:00.0", 2, "0xf0000000"),
        ("add", "01:00.0", 0, "0xfe000000"), ("add", "01:00.0", 2, "0xf0000000")],
    ("q35-rootport-window", 8): [
        ("del", "01:00.0", 0, "0xfe000000"), ("del", "01:00.0", 2, "0xf0000000"),
        ("add", "01:00.0", 0, "0xfe000000"), ("add", "01:00.0", 2, "0xf8000000"),
        ("slot", 2, "0xf8000000", "0x4000000")],
}


@pytest.mark.parametrize("key", sorted(SEQUENCE_FACTS), ids=lambda k: f"{k[0]}-{k[1]}")
def test_mapping_and_memslot_sequence(key):
    assert _seq(*key) == SEQUENCE_FACTS[key]


def test_every_move_has_a_sequence_fact():
    for name in CAPTURES:
        for a in load(name)["actions"]:
            if a["op"] != "touch":
                assert (name, a["index"]) in SEQUENCE_FACTS


def test_clean_move_changes_happen_at_the_command_writes():
    """Clean: the unmap (and memslot delete) follows the decode-off write,
    the BAR writes change nothing, the map follows the decode-on write."""
    seq = _seq("q35-ivshmem-move", 3, with_cfg=True)
    assert [s[0] for s in seq] == [
        "cfg_read", "cfg_write", "del", "del", "slot",
        "cfg_write", "cfg_write", "cfg_read", "cfg_write", "add", "add", "slot"]
    assert seq[1] == ("cfg_write", "00:01.0", "0x4", "0x101")      # memory space off
    assert seq[5] == ("cfg_write", "00:01.0", "0x18", "0xc")       # BAR2 low: 0 | 64-bit pref
    assert seq[6] == ("cfg_write", "00:01.0", "0x1c", "0x8")       # BAR2 high
    assert seq[8] == ("cfg_write", "00:01.0", "0x4", "0x103")      # memory space on


def test_careless_move_changes_happen_at_each_dword():
    seq = _seq("q35-ivshmem-move", 6, with_cfg=True)
    assert [s[0] for s in seq] == ["cfg_write", "del", "slot", "add", "slot",
                                   "cfg_write", "del", "slot", "add", "slot"]
    assert seq[0] == ("cfg_write", "00:01.0", "0x18", "0xf800000c")
    assert seq[5] == ("cfg_write", "00:01.0", "0x1c", "0x0")


def test_rootport_windows_in_info_pci():
    """The root port's windows, as info pci printed them after the run: the
    moved BAR addresses 0xf0000000 and 0xfe000000 are outside both."""
    devs = {d.qdev_id: d for d in parse_info_pci(read("q35-rootport-window", "info_pci.txt"))}
    rp = devs["rp0"]
    assert rp.windows["memory_range"] == (0xfe800000, 0xfe9fffff)
    assert rp.windows["prefetchable_range"] == (0xf8000000, 0xfbffffff)
    ivs = {b.bar: b.address for b in devs["ivs0"].bars}
    assert ivs == {0: 0xfe000000, 2: 0xf8000000}


# ---------------------------------------------------------------------------
# vfiolab's model against the captures
# ---------------------------------------------------------------------------

def _replay_model(name):
    """Run the capture's actions on vfiolab's model of the same command line:
    yields (action, model events) per action."""
    from vfiolab.real.guestcap import replay_on_model
    from vfiolab.model.ept import Mmu
    from vfiolab.predict import predict
    res = load(name)
    vm = predict(res["args"]).vm
    yield from replay_on_model(vm, Mmu(vm), res["actions"])


@pytest.mark.parametrize("name", CAPTURES)
def test_model_predicts_firmware_bars(name):
    from vfiolab.predict import predict
    pred = {}
    for d in predict(load(name)["args"]).devices():
        for b in d.bars:
            if b.address is not None:
                pred[(d.bdf, b.bar)] = (b.address, b.size)
    for b in load(name)["firmware_bars"]:
        assert pred[(b["bdf"], b["bar"])] == (int(b["address"], 16), int(b["size"], 16))


@pytest.mark.parametrize("name", CAPTURES)
def test_model_exits_match_kvm(name):
    """vfiolab.model.ept.Mmu: exit or not, and the region QEMU dispatches
    to ("unassigned" where the real log shows no region's ops)."""
    pytest.importorskip("vfiolab.model.ept")
    for a, evs in _replay_model(name):
        if a["op"] != "touch":
            continue
        exited = any(e.get("exit") for e in evs)
        assert exited is a["exit"], (name, a["index"], evs)
        if exited:
            regions = [e["region"] for e in evs if e.get("op") == "exit_mmio"]
            assert regions == [a["region"] or "unassigned"], (name, a["index"], evs)


@pytest.mark.parametrize("name", CAPTURES)
def test_model_mapping_and_memslot_sequence_match_kvm(name):
    """vfiolab.model.guest move_bar / set_decode: the same pci_update_mappings
    and KVM_SET_USER_MEMORY_REGION calls, in the same order."""
    from vfiolab.addr import fmt_hex
    pytest.importorskip("vfiolab.model.ept")
    for a, evs in _replay_model(name):
        if a["op"] == "touch":
            continue
        model = []
        for e in evs:
            if e["op"].startswith("pci_update_mappings"):
                model.append((e["op"][len("pci_update_mappings_"):], e["bdf"], e["bar"],
                              fmt_hex(e["addr"])))
            elif e["op"] == "set_user_memory":
                model.append(("slot", e["slot"], fmt_hex(e["gpa"]), fmt_hex(e["size"])))
        assert model == _seq(name, a["index"]), (name, a["index"])


# ---------------------------------------------------------------------------
# Units: actions, the binary format, the log reader
# ---------------------------------------------------------------------------

def test_encode_ops_layout():
    """guest/README.md: 16-byte header, 24-byte records, little-endian."""
    ops = [{"op": "mark", "action": 0, "value": 7},
           {"op": "read32", "action": 0, "addr": 0x8_f800_0004},
           {"op": "cfg_update", "action": 1, "addr": 0x80000804, "size": 2, "value": 2,
            "clear": 0}]
    blob = gc.encode_ops(ops)
    assert len(blob) == 16 + 3 * 24
    assert struct.unpack_from("<4I", blob, 0) == (0x41474656, 1, 3, 24)
    assert blob[:4] == b"VFGA"
    assert struct.unpack_from("<6I", blob, 16) == (1, 0, 0, 0, 7, 0)
    assert struct.unpack_from("<6I", blob, 40) == (2, 0, 0xf8000004, 0x8, 0, 0)
    assert struct.unpack_from("<6I", blob, 64) == (6, 2, 0x80000804, 0, 2, 0)


def test_cf8_address():
    # PCI Local Bus Spec 3.0 3.2.2.3.2: bus 23:16, device 15:11, function 10:8
    assert gc.cf8_address(1, 0, 0, 0x18) == 0x80010018
    assert gc.cf8_address(0, 31, 3, 0x4) == 0x8000fb04


MEM64 = {("00:01.0", 2): {"type": "mem64", "prefetch": True, "size": 0x4000000}}


def _ops(actions, types=MEM64):
    return [(o["op"], o.get("addr"), o.get("size"), o.get("value"), o.get("clear"))
            for o in gc.expand_actions(gc.validate_actions(actions), types)]


def test_expand_clean_move_64bit():
    cmd, bar = 0x80000804, 0x80000818
    assert _ops([{"op": "move_bar", "bdf": "00:01.0", "bar": 2, "address": "0x800000000"}]) == [
        ("mark", None, None, 0, None),
        ("cfg_update", cmd, 2, 0, 0x2),            # memory space off
        ("cfg_write", bar, 4, 0x0000000c, None),   # low dword + read-only type bits
        ("cfg_write", bar + 4, 4, 0x8, None),      # high dword
        ("cfg_update", cmd, 2, 0x2, 0)]            # memory space on


def test_expand_careless_move_64bit():
    assert _ops([{"op": "move_bar", "bdf": "00:01.0", "bar": 2, "address": "0xf8000000",
                  "how": "careless"}]) == [
        ("mark", None, None, 0, None),
        ("cfg_write", 0x80000818, 4, 0xf800000c, None),
        ("cfg_write", 0x8000081c, 4, 0x0, None)]


def test_expand_32bit_and_io_bars_and_decode():
    types = {("00:02.0", 0): {"type": "mem32", "prefetch": False},
             ("00:03.0", 2): {"type": "io", "prefetch": False}}
    ops = _ops([{"op": "move_bar", "bdf": "00:02.0", "bar": 0, "address": "0xe0000000"},
                {"op": "move_bar", "bdf": "00:03.0", "bar": 2, "address": "0xd000"},
                {"op": "set_decode", "bdf": "00:02.0", "on": False},
                {"op": "touch", "gpa": "0x1000", "access": "write", "value": 5}], types)
    assert ops[1:4] == [("cfg_update", 0x80001004, 2, 0, 0x2),
                        ("cfg_write", 0x80001010, 4, 0xe0000000, None),
                        ("cfg_update", 0x80001004, 2, 0x2, 0)]
    assert ops[5:8] == [("cfg_update", 0x80001804, 2, 0, 0x1),     # I/O space bit
                        ("cfg_write", 0x80001818, 4, 0xd001, None),
                        ("cfg_update", 0x80001804, 2, 0x1, 0)]
    assert ops[9] == ("cfg_update", 0x80001004, 2, 0, 0x2)
    assert ops[11] == ("write32", 0x1000, None, 5, None)


@pytest.mark.parametrize("actions,field", [
    ("nope", "actions"),
    ([{"op": "jump"}], "op"),
    ([{"op": "touch"}], "gpa"),
    ([{"op": "touch", "gpa": "0x1002"}], "gpa"),
    ([{"op": "touch", "gpa": "zzz"}], "gpa"),
    ([{"op": "touch", "gpa": "0x1000", "access": "exec"}], "access"),
    ([{"op": "touch", "gpa": "0x1000", "access": "write", "value": 1 << 32}], "value"),
    ([{"op": "move_bar", "bdf": "00:01.0", "bar": 9, "address": 0}], "bar"),
    ([{"op": "move_bar", "bdf": "zz", "bar": 2, "address": 0}], "bdf"),
    ([{"op": "move_bar", "bdf": "00:01.0", "bar": 2, "address": 0, "how": "sloppy"}], "how"),
    ([{"op": "set_decode", "bdf": "00:01.0", "on": "yes"}], "on"),
    ([{"op": "cfg_write", "bdf": "00:01.0", "reg": 5, "size": 2, "value": 1}], "reg"),
    ([{"op": "cfg_write", "bdf": "00:01.0", "reg": 4, "size": 3, "value": 1}], "size"),
    ([{"op": "cfg_write", "bdf": "00:01.0", "reg": 4, "size": 2, "value": 0x10000}], "value"),
])
def test_bad_actions(actions, field):
    with pytest.raises(ActionError) as e:
        gc.validate_actions(actions)
    assert e.value.field == field


def test_bad_move_for_the_bar_type():
    t32 = {("00:02.0", 0): {"type": "mem32", "prefetch": False}}
    with pytest.raises(ActionError, match="above 4 GiB"):
        gc.expand_actions(gc.validate_actions(
            [{"op": "move_bar", "bdf": "00:02.0", "bar": 0, "address": "0x100000000"}]), t32)
    with pytest.raises(ActionError, match="give \"type\""):
        gc.expand_actions(gc.validate_actions(
            [{"op": "move_bar", "bdf": "00:05.0", "bar": 0, "address": "0x0"}]), t32)


def test_bar_types_from_prediction():
    types = gc._bar_types(gc.SCENARIOS["q35-ivshmem-move"]["args"], gc.validate_actions(
        [{"op": "move_bar", "bdf": "00:01.0", "bar": 2, "address": "0x800000000"}]))
    assert types == {("00:01.0", 2): {"type": "mem64", "prefetch": True, "size": 0x4000000}}


LOG = textwrap.dedent("""\
    kvm_run_exit cpu_index 0, reason 2
    memory_region_ops_write cpu 0 mr 0x55aac15bab50 addr 0x402 value 0x40 size 1 name 'isa-debugcon'
    kvm_run_exit cpu_index 0, reason 2
    memory_region_ops_write cpu 0 mr 0x55aac15bab50 addr 0x402 value 0x30 size 1 name 'isa-debugcon'
    kvm_run_exit cpu_index 0, reason 2
    memory_region_ops_write cpu 0 mr 0x55aac15bab50 addr 0x402 value 0xa size 1 name 'isa-debugcon'
    kvm_run_exit cpu_index 0, reason 6
    Invalid read at addr 0xFE000000, size 4, region '(null)', reason: rejected
    kvm_run_exit cpu_index 0, reason 2
    memory_region_ops_write cpu 0 mr 0x55aac15bab50 addr 0x402 value 0x40 size 1 name 'isa-debugcon'
    kvm_run_exit cpu_index 0, reason 2
    memory_region_ops_write cpu 0 mr 0x55aac15bab50 addr 0x402 value 0x31 size 1 name 'isa-debugcon'
    kvm_run_exit cpu_index 0, reason 2
    memory_region_ops_write cpu 0 mr 0x55aac15bab50 addr 0x402 value 0xa size 1 name 'isa-debugcon'
    kvm_run_exit cpu_index 0, reason 6
    memory_region_ops_read cpu 0 mr 0x55aac1000000 addr 0xfea00000 value 0x10000ed size 4 name 'edu-mmio'
    kvm_run_exit cpu_index 0, reason 2
    memory_region_ops_write cpu 0 mr 0x55aac15bab50 addr 0x402 value 0x64 size 1 name 'isa-debugcon'
    """)


def test_parse_log_kinds():
    evs = gc.parse_log(LOG)
    assert evs[0].name == "kvm_run_exit" and evs[0].args["reason"] == 2
    mr = evs[1].args.pop("mr")          # %p of QEMU's MemoryRegion: varies by run
    assert isinstance(mr, int) and mr > 0
    assert evs[1].args == {"cpu": 0, "addr": 0x402, "value": 0x40, "size": 1,
                           "region": "isa-debugcon"}
    assert evs[7].name == "guest_error_invalid"
    assert evs[7].args == {"access": "read", "addr": 0xfe000000, "size": 4, "region": None,
                           "reason": "rejected"}
    assert [e.line_no for e in evs[:3]] == [1, 2, 3]


def test_parse_log_rejects_garbled_known_event():
    with pytest.raises(ParseError):
        gc.parse_log("kvm_run_exit cpu_index 0 reason six\n")
    with pytest.raises(ParseError):
        gc.parse_log("memory_region_ops_read cpu 0 garbled\n")


def test_normalize_snippet():
    debugcon = "vfiolab-guest start ops=4\n@0\n@1\nR 1 0x00000000\nR 3 0x010000ed\ndone\n"
    ops = [{"op": "mark", "action": 0}, {"op": "read32", "action": 0},
           {"op": "mark", "action": 1}, {"op": "read32", "action": 1}]
    out = gc.normalize(LOG, debugcon, [{"op": "touch", "gpa": "0xfe000000"},
                                       {"op": "touch", "gpa": "0xfea00000"}], ops)
    assert [(a["exit"], a["exit_reason"], a["region"], a["rejected"]) for a in out] == [
        (True, "KVM_EXIT_MMIO", None, True), (True, "KVM_EXIT_MMIO", "edu-mmio", False)]
    assert out[1]["read_value"] == "0x10000ed" and out[1]["trace_addr"] == "0xfea00000"
    # the next line's KVM_EXIT_IO is not the action's
    assert [e["reason"] for e in out[1]["exits"]] == [6]


def test_normalize_missing_mark():
    with pytest.raises(CaptureError, match="mark @1"):
        gc.normalize("\n".join(LOG.splitlines()[:8]) + "\n", "done\n",
                     [{"op": "touch", "gpa": "0x0"}, {"op": "touch", "gpa": "0x0"}],
                     [{"op": "mark", "action": 0}, {"op": "read32", "action": 0},
                      {"op": "mark", "action": 1}, {"op": "read32", "action": 1}])


def test_split_log_keeps_boot_memory_lines():
    boot = ("kvm_set_user_memory Slot#0 flags=0x0 gpa=0x0 size=0x40000000 ua=0x7f00 ret=0\n"
            "memory_region_ops_write cpu 0 mr 0x1 addr 0x402 value 0x53 size 1 name 'isa-debugcon'\n"
            "memory_region_ops_write cpu 0 mr 0x1 addr 0x402 value 0xa size 1 name 'isa-debugcon'\n"
            "pci_update_mappings_add edu 00:02.0 0,0xfea00000+0x100000\n")
    guest = "".join(
        f"kvm_run_exit cpu_index 0, reason 2\nmemory_region_ops_write cpu 0 mr 0x1 addr 0x402 "
        f"value {ord(c):#x} size 1 name 'isa-debugcon'\n" for c in "vfiolab-guest start ops=0\n")
    trace, kept = gc.split_log(boot + guest)
    assert trace == guest
    assert kept == boot.splitlines()[0] + "\n" + boot.splitlines()[3] + "\n"
    with pytest.raises(CaptureError, match="start line"):
        gc.split_log(boot)


def test_guest_results():
    rep = gc.guest_results("SeaBIOS\nR 9 0x00000001\nvfiolab-guest start ops=3\n"
                           "@0\nR 1 0xdeadbeef\nerror: bad\n")
    assert rep == {"ops": 3, "results": {1: 0xdeadbeef}, "done": False, "error": "bad"}


# ---------------------------------------------------------------------------
# The runner's failure paths (a fake QEMU; no KVM needed)
# ---------------------------------------------------------------------------

FAKE_QEMU = """\
import os, sys, time
mode = os.environ["FAKE_QEMU_MODE"]
argv = sys.argv[1:]
if mode == "exit":
    sys.stderr.write("qemu-system-x86_64: -device nope: 'nope' is not a valid device model name\\n")
    sys.exit(1)
if mode == "guest-error":
    path = [a for a in argv if a.startswith("file,id=vfiolab-dbg,path=")][0].split("path=", 1)[1]
    with open(path, "w") as f:
        f.write("vfiolab-guest start ops=2\\nerror: bad action list magic\\n")
time.sleep(60)
"""


@pytest.fixture
def fake_qemu(tmp_path, monkeypatch):
    script = tmp_path / "fake-qemu"
    script.write_text(f"#!{sys.executable}\n" + FAKE_QEMU)
    script.chmod(0o755)
    elf = tmp_path / "guest.elf"
    elf.write_bytes(b"\x7fELF")

    def run(mode, timeout=20.0):
        monkeypatch.setenv("FAKE_QEMU_MODE", mode)
        return gc.run_guest(["-machine", "q35"], [{"op": "touch", "gpa": "0x1000"}],
                            tmp_path / "out", accel="tcg", qemu=str(script), guest_elf=elf,
                            timeout=timeout)
    return run


def test_run_guest_qemu_fails(fake_qemu, tmp_path):
    with pytest.raises(CaptureError, match="not a valid device model") as e:
        fake_qemu("exit")
    assert "exited with status 1" in str(e.value)
    assert not (tmp_path / "out").exists()


def test_run_guest_timeout(fake_qemu):
    t0 = time.monotonic()
    with pytest.raises(CaptureError, match="timeout after 1 s"):
        fake_qemu("hang", timeout=1.0)
    assert time.monotonic() - t0 < 15


def test_run_guest_guest_error(fake_qemu):
    with pytest.raises(CaptureError, match="bad action list magic"):
        fake_qemu("guest-error")


@pytest.mark.parametrize("opt", ["-kernel", "-initrd", "-trace", "-D", "-qmp"])
def test_run_guest_rejects_own_options(opt, tmp_path):
    with pytest.raises(CommandLineError, match=opt):
        gc.run_guest(["-machine", "q35", opt, "x"], [], tmp_path)


def test_run_guest_bad_accel(tmp_path):
    with pytest.raises(CommandLineError, match="accel"):
        gc.run_guest(["-machine", "q35"], [], tmp_path, accel="hvf")


# ---------------------------------------------------------------------------
# Building the guest (gcc + ld only) and a fresh run (KVM)
# ---------------------------------------------------------------------------

@pytest.mark.skipif(not gc.compiler_available(), reason="gcc/ld not found")
def test_build_guest(tmp_path):
    elf = gc.build_guest(tmp_path)
    data = elf.read_bytes()
    # ELF32 (EI_CLASS 1), little-endian, EM_386 (3): what QEMU's multiboot loader takes
    assert data[:4] == b"\x7fELF" and data[4] == 1 and data[5] == 1
    assert struct.unpack_from("<H", data, 18)[0] == 3
    # Multiboot header (spec 3.1) in the first 8 KiB, 4-byte aligned, checksum 0
    off = data.find(struct.pack("<I", 0x1BADB002))
    assert 0 <= off < 8192 - 12 and off % 4 == 0
    magic, flags, check = struct.unpack_from("<3I", data, off)
    assert (magic + flags + check) & 0xFFFFFFFF == 0
    assert flags == 0x3


def test_guest_sources_are_all_hashed():
    assert {p.name for p in gc.GUEST_DIR.iterdir() if p.is_file()} - {"README.md"} \
        == set(gc._GUEST_SOURCES)


def _facts(actions):
    return [(a["op"], a.get("exit"), a.get("region"), a.get("rejected"), a.get("read_value"),
             _strip(a["sequence"])) for a in actions]


def _strip(seq):
    return [{k: v for k, v in e.items() if k != "ua"} for e in seq]


@pytest.mark.live
def test_live_run_matches_committed(tmp_path):
    ok, why = gc.guest_usable()
    if not ok:
        pytest.skip(why)
    name = "q35-ivshmem-move"
    sc = gc.SCENARIOS[name]
    res = gc.run_guest(sc["args"], sc["actions"], tmp_path / name, timeout=60)
    committed = load(name)
    assert res["firmware_bars"] == committed["firmware_bars"]
    assert res["guest_ops"] == committed["guest_ops"]
    assert _facts(res["actions"]) == _facts(committed["actions"])
    assert (tmp_path / name / "trace.log").stat().st_size > 0
