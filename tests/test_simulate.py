"""``vfiolab simulate``: actions in, ordered events out; bad actions named.

Expected event orders follow QEMU's and KVM's rules (named per test): a
memslot-backed page is filled on first touch and then served without an
exit; an I/O region exits every time; a clean BAR move deletes the slot and
creates it at the new address; DMA goes through the type1 IOMMU at IOVA =
GPA.
"""

from __future__ import annotations

import json

import pytest

from vfiolab.cli import main
from vfiolab.errors import ActionError
from vfiolab.simulate import simulate, validate_actions

IVS = ("-M q35 -m 1G -nodefaults -object memory-backend-ram,id=m0,size=64M "
       "-device ivshmem-plain,memdev=m0,id=ivs0 -device edu,id=edu0").split()
# data/references/q35-1G-ivshmem-64M-edu is not committed; the addresses
# below are SeaBIOS's for this command line as the real /tmp capture
# (tests/fixtures/seabios/q35-1G-ivshmem64M-edu) showed them:
IVS_BAR2 = 0xf8000000      # ivshmem BAR2 (64 MiB, RAM-backed)
EDU_BAR0 = 0xfea00000      # edu BAR0 (1 MiB, MMIO)


@pytest.mark.parametrize("actions,field", [
    ([{"op": "poke", "gpa": "0x0"}], "op"),
    ([{"op": "touch", "gpa": "lots"}], "gpa"),
    ([{"op": "touch"}], "gpa"),
    ([{"op": "move_bar", "bdf": "00:01.0", "bar": "two", "address": "0x0"}], "bar"),
    ([{"op": "touch", "gpa": "0x1000", "access": "peek"}], "access"),
    ("not a list", "actions"),
])
def test_bad_actions_name_action_and_field(actions, field):
    with pytest.raises(ActionError) as e:
        validate_actions(actions)
    assert e.value.field == field


def test_bar_that_does_not_exist_and_unaligned_base():
    with pytest.raises(ActionError, match=r"action 0 \(move_bar\): bar: .*no BAR 4"):
        simulate(IVS, [{"op": "move_bar", "bdf": "00:01.0", "bar": 4, "address": "0x0"}],
                 cpu_vendor="AuthenticAMD")
    with pytest.raises(ActionError, match=r"action 0 \(move_bar\): address: .*not aligned"):
        simulate(IVS, [{"op": "move_bar", "bdf": "00:01.0", "bar": 2, "address": "0x800001000"}],
                 cpu_vendor="AuthenticAMD")


def test_touch_ram_bar_then_mmio_bar():
    """ivshmem BAR2 is RAM: first touch maps (no exit), second touch nothing;
    edu BAR0 is I/O: an MMIO SPTE, then KVM_EXIT_MMIO to "edu-mmio" every time."""
    ev = simulate(IVS, [{"op": "touch", "gpa": hex(IVS_BAR2), "access": "write"},
                        {"op": "touch", "gpa": hex(IVS_BAR2 + 8), "access": "read"},
                        {"op": "touch", "gpa": hex(EDU_BAR0), "access": "read"},
                        {"op": "touch", "gpa": hex(EDU_BAR0 + 4), "access": "read"}],
                  cpu_vendor="AuthenticAMD")
    touches = [e for e in ev if e["op"] == "touch"]
    assert [t["exit"] for t in touches] == [False, False, True, True]
    assert any(e["op"] == "map" for e in ev)
    exits = [e for e in ev if e["op"] == "exit_mmio"]
    assert [e["region"] for e in exits] == ["edu-mmio", "edu-mmio"]


def test_clean_move_events_in_order():
    """A clean move of ivshmem BAR2: pci_update_mappings_del, the slot
    deleted (size 0), then _add and the slot created at the new GPA; a touch
    at the old address exits afterwards, the new one maps."""
    ev = simulate(IVS, [{"op": "move_bar", "bdf": "00:01.0", "bar": 2,
                         "address": "0x800000000", "how": "clean"},
                        {"op": "touch", "gpa": hex(IVS_BAR2), "access": "read"},
                        {"op": "touch", "gpa": "0x800000000", "access": "read"}],
                  cpu_vendor="AuthenticAMD")
    bar2 = [e for e in ev if e["op"].startswith("pci_update_mappings") and e["bar"] == 2]
    assert [(e["op"], e["addr"]) for e in bar2] == [
        ("pci_update_mappings_del", hex(IVS_BAR2)), ("pci_update_mappings_add", "0x800000000")]
    slots = [(e["gpa"], e["size"]) for e in ev if e["op"] == "set_user_memory"
             and e["gpa"] in (hex(IVS_BAR2), "0x800000000")]
    assert slots == [(hex(IVS_BAR2), "0x0"), ("0x800000000", "0x4000000")]
    touches = [e for e in ev if e["op"] == "touch"]
    assert [t["exit"] for t in touches] == [True, False]


def test_dma_through_the_iommu():
    """Right after the firmware the device issues no DMA: SeaBIOS leaves Bus
    Master Enable clear on a device it does not drive (the real captures
    show it writing 0x103 = I/O|memory|SERR to such a command register,
    e.g. "pci_cfg_write ivshmem-plain 00:01.0 @0x4 <- 0x103" in
    data/references/q35-1G-ivshmem-1G/pci_cfg_write.log).  Once the driver
    sets it, DMA at an IOVA inside guest RAM reaches RAM (IOVA = GPA); an
    IOVA with no mapping faults."""
    args = "-M q35 -m 1G -nodefaults -device vfio-pci,host=0000:01:00.0,id=nic0".split()
    ev = simulate(args, [{"op": "dma", "bdf": "00:01.0", "iova": "0x1000000", "access": "write"},
                         {"op": "set_master", "bdf": "00:01.0"},
                         {"op": "dma", "bdf": "00:01.0", "iova": "0x1000000", "access": "write"},
                         {"op": "dma", "bdf": "00:01.0", "iova": "0x7000000000", "access": "read"}],
                  host_devices={"0000:01:00.0": "data/devices/nic-intel-x520"},
                  cpu_vendor="AuthenticAMD")
    dma = [e for e in ev if e["op"] in ("dma", "dma_fault", "dma_not_issued")]
    assert dma[0]["op"] == "dma_not_issued" and "Bus Master Enable" in dma[0]["reason"]
    assert dma[1]["op"] == "dma" and dma[1]["target"] == "ram"
    assert dma[2]["op"] == "dma_fault" and dma[2]["iova"] == "0x7000000000"
    assert {"op": "set_master", "bdf": "00:01.0", "on": True} in ev


def test_cli(tmp_path, capsys):
    f = tmp_path / "a.json"
    f.write_text(json.dumps([{"op": "touch", "gpa": hex(EDU_BAR0)}]))
    assert main(["simulate", "--cpu-vendor", "AuthenticAMD", "--"] + IVS + ["--actions", str(f)]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["stack"]["name"] == "debian12" and out["stack"]["cpu_vendor"] == "AuthenticAMD"
    out = out["events"]
    assert out[-1] == {"op": "touch", "gpa": hex(EDU_BAR0), "access": "read", "exit": True}
    f.write_text("[{\"op\": \"touch\", \"gpa\": \"nope\"}]")
    assert main(["simulate", "--actions", str(f), "--"] + IVS) == 2
    assert "action 0" in capsys.readouterr().err
