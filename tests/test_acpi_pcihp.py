"""ICH9-LPC's ACPI PCI hot-plug switch (issue 14).

QEMU hw/acpi/ich9.c ``ich9_pm_init`` (v7.2.0 and v10.0.0) registers the
``acpi-pci-hotplug`` I/O block (hw/acpi/pcihp.c ``acpi_pcihp_init``:
ACPI_PCIHP_ADDR_ICH9 0xcc0, ACPI_PCIHP_SIZE 0x18) only while
``acpi-pci-hotplug-with-bridge-support`` is on; hw/i386/pc.c
``pc_compat_6_0`` turns it off for machine types up to 6.0, and hw/i386/
pc_q35.c ``pc_q35_init`` turns the PCIe slots' native hot-plug off when it
is on and ``x-keep-pci-slot-hpc`` is off (``pc_compat_6_1``).  The real
captures are data/references/q35-1G-rootport-pcihp-off*, q35-6.1-1G-rootport*
and q35-6.0-1G-rootport (tests/test_predict_references.py compares them
whole); the tests here pin the rules, with the expected values from those
files and the QEMU source.
"""

from __future__ import annotations

import struct

import pytest

from vfiolab.errors import CommandLineError
from vfiolab.predict import predict
from vfiolab.real.reference import REFERENCES

BASE = ["-accel", "kvm", "-m", "1G", "-nodefaults",
        "-device", "pcie-root-port,id=rp1,chassis=1,slot=1",
        "-object", "memory-backend-ram,id=m0,size=64M",
        "-device", "ivshmem-plain,memdev=m0,id=ivs0,bus=rp1",
        "-device", "pcie-root-port,id=rp2,chassis=2,slot=2"]
OFF = ["-global", "ICH9-LPC.acpi-pci-hotplug-with-bridge-support=off"]
PCIHP_LINE = "0000000000000cc0-0000000000000cd7 (prio 0, i/o): acpi-pci-hotplug"
#: hw/pci/pcie_regs.h: the Slot Capabilities bits native hot-plug sets
#: (pcie_cap_slot_init: HPS | HPC)
SLTCAP_HPS_HPC = 0x20 | 0x40


def _io_has_pcihp(p) -> bool:
    return PCIHP_LINE in p.mtree_flat()


def _captured_io_has_pcihp(name: str) -> bool:
    return PCIHP_LINE in (REFERENCES / name / "info_mtree_f.txt").read_text()


def _sltcap(p, qdev_id: str) -> int:
    dev = next(d for d in p.vm.pci_devices() if d.qdev_id == qdev_id)
    pos = dev.config[0x34]
    while dev.config[pos] != 0x10:                 # PCI_CAP_ID_EXP
        pos = dev.config[pos + 1]
    return struct.unpack_from("<I", dev.config, pos + 0x14)[0]


@pytest.mark.parametrize("machine, extra, stack, capture", [
    ("q35", [], "debian12", "q35-1G-rootport"),
    ("q35", OFF, "debian12", "q35-1G-rootport-pcihp-off"),
    ("q35", OFF, "debian13", "q35-1G-rootport-pcihp-off-qemu10-sb1162"),
    ("pc-q35-6.1", [], "debian12", "q35-6.1-1G-rootport"),
    ("pc-q35-6.0", [], "debian12", "q35-6.0-1G-rootport"),
])
def test_pcihp_block_follows_the_switch(machine, extra, stack, capture):
    """The acpi-pci-hotplug ports are there exactly when the capture has them
    (on by default from machine 6.1, off on 6.0 and with the -global)."""
    p = predict(["-machine", machine] + BASE + extra, stack=stack)
    assert _io_has_pcihp(p) == _captured_io_has_pcihp(capture)


def test_capture_expectations():
    """What the captures say, written out: only the -global and pc-q35-6.0
    lose the block (data/references/*/info_mtree_f.txt)."""
    assert _captured_io_has_pcihp("q35-1G-rootport")
    assert not _captured_io_has_pcihp("q35-1G-rootport-pcihp-off")
    assert not _captured_io_has_pcihp("q35-1G-rootport-pcihp-off-qemu10-sb1162")
    assert not _captured_io_has_pcihp("q35-6.0-1G-rootport")
    assert _captured_io_has_pcihp("q35-6.1-1G-rootport")


def test_switch_on_brings_the_block_back_on_6_0():
    """ich9_pm_init reads the property, whatever set it: -global ...=on on
    pc-q35-6.0 overrides pc_compat_6_0."""
    on = ["-global", "ICH9-LPC.acpi-pci-hotplug-with-bridge-support=on"]
    assert _io_has_pcihp(predict(["-machine", "pc-q35-6.0"] + BASE + on))


@pytest.mark.parametrize("machine, extra, native", [
    ("q35", [], True),
    ("q35", OFF, True),
    ("pc-q35-6.1", [], False),                  # ACPI on, keep-hpc off: sugar prop
    ("pc-q35-6.1", OFF, True),                  # ACPI off: no sugar prop
    ("pc-q35-6.1", ["-global", "ICH9-LPC.x-keep-pci-slot-hpc=on"], True),
    ("pc-q35-6.0", [], True),                   # pc_compat_6_0: keep-hpc on again
    ("q35", ["-global", "ICH9-LPC.x-keep-pci-slot-hpc=off"], False),
])
def test_pcie_slot_native_hotplug(machine, extra, native):
    """hw/i386/pc_q35.c pc_q35_init: ``if (!keep_pci_slot_hpc && acpi_pcihp)``
    registers x-native-hotplug=false on TYPE_PCIE_SLOT.  Without native
    hot-plug the slot has no HPS/HPC and gen_rp_realize gives the port a
    4 KiB I/O reserve, which is why SeaBIOS opens rp2's I/O window on
    pc-q35-6.1 and not with the switch off (info_pci.txt of
    q35-6.1-1G-rootport: "IO range [0xc000, 0xcfff]"; of
    q35-6.1-1G-rootport-pcihp-off: "IO range [0xc000, 0xbfff]")."""
    p = predict(["-machine", machine] + BASE + extra, stack="debian12")
    for rp in ("rp1", "rp2"):
        assert bool(_sltcap(p, rp) & SLTCAP_HPS_HPC) == native


def test_xio3130_downstream_is_a_pcie_slot_too():
    """The sugar property names TYPE_PCIE_SLOT, the parent of
    xio3130-downstream as well as of the root ports."""
    args = ["-machine", "pc-q35-6.1", "-accel", "kvm", "-m", "512M", "-nodefaults",
            "-device", "ioh3420,id=ioh0,chassis=10,slot=10",
            "-device", "x3130-upstream,id=up0,bus=ioh0",
            "-device", "xio3130-downstream,id=dn0,bus=up0,chassis=11,slot=11"]
    p = predict(args, stack="debian12")
    assert not _sltcap(p, "ioh0") & SLTCAP_HPS_HPC
    assert not _sltcap(p, "dn0") & SLTCAP_HPS_HPC
    q = predict(args + OFF, stack="debian12")
    assert _sltcap(q, "dn0") & SLTCAP_HPS_HPC == SLTCAP_HPS_HPC


def test_user_property_beats_the_sugar_property():
    """Sugar properties come before the user's: -device ...,x-native-hotplug=on
    keeps native hot-plug on pc-q35-6.1."""
    args = ["-machine", "pc-q35-6.1", "-accel", "kvm", "-m", "512M", "-nodefaults",
            "-device", "pcie-root-port,id=rp1,chassis=1,x-native-hotplug=on"]
    assert _sltcap(predict(args, stack="debian12"), "rp1") & SLTCAP_HPS_HPC


def test_bad_value_is_qemus_error():
    """Real QEMU 7.2: "can't apply global ICH9-LPC.acpi-pci-hotplug-with-
    bridge-support=foo: Parameter 'acpi-pci-hotplug-with-bridge-support'
    expects 'on' or 'off'"."""
    with pytest.raises(CommandLineError) as e:
        predict(["-machine", "q35"] + BASE +
                ["-global", "ICH9-LPC.acpi-pci-hotplug-with-bridge-support=foo"])
    assert ("can't apply global ICH9-LPC.acpi-pci-hotplug-with-bridge-support=foo: "
            "Parameter 'acpi-pci-hotplug-with-bridge-support' expects 'on' or 'off'") in str(e.value)


def test_on_pc_it_applies_to_nothing():
    """pc has no ICH9-LPC: the global changes nothing (PIIX4's block stays)
    and the answer says so."""
    args = ["-machine", "pc", "-accel", "kvm", "-m", "512M", "-nodefaults"]
    p = predict(args + OFF)
    assert "acpi-pci-hotplug" in p.mtree_flat()
    assert p.mtree_flat() == predict(args).mtree_flat()
    assert any("no ICH9-LPC" in n for n in p.stack.notes)
