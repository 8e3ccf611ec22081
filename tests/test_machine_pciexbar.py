"""q35 PCIEXBAR decode (QEMU hw/pci-host/q35.c ``mch_update_pciexbar`` with
the masks of include/hw/pci-host/q35.h, the same from v7.2.0 to v10.0.0):
base = PCIEXBAR & (ADMSK | extra), ADMSK = bits 35:28; 128 MiB adds bits 26
and 25 (128ADMSK | 64ADMSK), 64 MiB adds bit 25 (64ADMSK); LENGTH bits 2:1 =
3 is reserved: "Q35: Reserved PCIEXBAR LENGTH" and the mapping is left as it
was.  Expected values are worked out by hand from those masks."""

import pytest

from vfiolab.addr import MiB
from vfiolab.model.machine import build_machine


def _write_pciexbar(vm, value):
    # SeaBIOS writes the high dword first, then the low one (src/fw/pciinit.c
    # mch_mmconfig_setup); any order reaches mch_update_pciexbar each time
    vm.cfg_write(0, 0, 0x64, value >> 32, 4)
    vm.cfg_write(0, 0, 0x60, value & 0xffffffff, 4)


def _mmcfg_ranges(vm):
    return [(fr.start, fr.size) for fr in vm.flatview()
            if fr.mr.name == "pcie-mmcfg-mmio"]


@pytest.mark.parametrize("value, base, length", [
    (0xb8000003, 0xb0000000, 128 * MiB),   # bit 27 is not decoded
    (0xb2000003, 0xb2000000, 128 * MiB),   # bit 25 is decoded for 128 MiB
    (0xbc000005, 0xb0000000, 64 * MiB),    # bits 27 and 26 are not decoded
    (0xb6000005, 0xb2000000, 64 * MiB),
    (0xb4000005, 0xb0000000, 64 * MiB),
    (0xb0000001, 0xb0000000, 256 * MiB),
    (0xb1000001, 0xb0000000, 256 * MiB),
    (0x1f0000001, 0x1f0000000, 256 * MiB),
])
def test_pciexbar_decode(value, base, length):
    vm = build_machine("q35", 512 * MiB)
    _write_pciexbar(vm, value)
    assert (vm.ecam_base, vm.ecam_size) == (base, length)
    assert _mmcfg_ranges(vm) == [(base, length)]


def test_pciexbar_disabled_unmaps():
    vm = build_machine("q35", 512 * MiB)
    _write_pciexbar(vm, 0xb0000001)
    _write_pciexbar(vm, 0xb0000000)
    assert _mmcfg_ranges(vm) == []
    assert vm.ecam_base is None


def test_pciexbar_reserved_length_keeps_mapping():
    vm = build_machine("q35", 512 * MiB)
    _write_pciexbar(vm, 0xb2000003)
    _write_pciexbar(vm, 0xc0000007)
    assert _mmcfg_ranges(vm) == [(0xb2000000, 128 * MiB)]
    assert (vm.ecam_base, vm.ecam_size) == (0xb2000000, 128 * MiB)
    assert any(e.get("message") == "Q35: Reserved PCIEXBAR LENGTH" for e in vm.events)
