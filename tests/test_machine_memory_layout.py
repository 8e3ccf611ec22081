"""Where RAM above 4 GiB goes, the 64-bit PCI hole and QEMU's phys-bits
check (hw/i386/pc.c ``pc_memory_init``, ``pc_pci_hole64_start``,
``pc_max_used_gpa``; defaults of ``pci-hole64-size`` in hw/pci-host/q35.c
Q35_PCI_HOST_HOLE64_SIZE_DEFAULT = 1 << 35 and include/hw/pci-host/i440fx.h
I440FX_PCI_HOST_HOLE64_SIZE_DEFAULT = 1 << 31).

Expected values: worked out from those functions (QEMU v7.2.0 and, for the
32-bit rule, v8.2.0 / commit cf0386509e), and real QEMU 7.2.22 runs on an
AuthenticAMD host with 48 physical address bits (the error texts below, and
the captures data/references/*-hole64-1010G-*)."""

from __future__ import annotations

import re
import shlex
from pathlib import Path

import pytest

from vfiolab.errors import CommandLineError, ConfigError
from vfiolab.inputs.cmdline import parse_qemu_args
from vfiolab.model.boot import build_vm, firmware_platform
from vfiolab.model.machine import AMD_HT_START, PCI_HOLE64_SIZE_DEFAULT
from vfiolab.stack import make_stack

GiB = 1 << 30
REFS = Path(__file__).resolve().parent.parent / "data" / "references"


def _vm(cmd: str, vendor: str = "GenuineIntel", qemu: str | None = None):
    stack = make_stack(cpu_vendor=vendor, phys_bits=48, qemu=qemu)
    return build_vm(parse_qemu_args(shlex.split(cmd)), stack=stack, accel="kvm")


def test_hole64_size_defaults():
    assert PCI_HOLE64_SIZE_DEFAULT == {"q35": 32 * GiB, "pc": 2 * GiB}


# (command line, vCPU vendor) -> (above_4g_mem_start, pc_pci_hole64_start,
# pc_max_used_gpa); by hand from hw/i386/pc.c (v7.2.0)
@pytest.mark.parametrize("cmd, vendor, start, hole64, max_used", [
    # q35 8G: 2G low, 6G high; hole64 at 10G, 32G long
    ("-machine q35 -m 8G", "GenuineIntel", 0x100000000, 0x280000000, 0xa7fffffff),
    # pc 8G: 3G low, 5G high; hole64 at 4G + 5G = 9G, 2G long
    ("-machine pc -m 8G -nodefaults", "GenuineIntel", 0x100000000, 0x240000000, 0x2bfffffff),
    # q35 1000G AMD: 4G + 998G + 32G reaches 0xfd00000000 -> RAM above 4G at 1T
    ("-machine q35 -m 1000G -cpu qemu64,phys-bits=42", "AuthenticAMD",
     0x10000000000, 0x1f980000000, 0x2017fffffff),
    # the same on machine type 7.0: enforce_amd_1tb_hole is false
    ("-machine pc-q35-7.0 -m 1000G -cpu qemu64,phys-bits=42", "AuthenticAMD",
     0x100000000, 0xfa80000000, 0x1027fffffff),
    # no RAM above 4G: the hole starts at 4G (above_4g_mem_start + 0)
    ("-machine pc -m 512M -nodefaults", "GenuineIntel", 0x100000000, 0x100000000, 0x17fffffff),
])
def test_layout_from_source(cmd, vendor, start, hole64, max_used):
    layout = _vm(cmd, vendor).memory_layout
    assert (layout.split.above_4g_start, layout.pci_hole64_start, layout.max_used_gpa) == \
        (start, hole64, max_used)


@pytest.mark.parametrize("cmd, vendor, text", [
    # real QEMU 7.2.22 (Debian 1:7.2+dfsg-7+deb12u18+b3), -accel kvm -nodefaults
    ("-machine q35 -m 8G -cpu qemu64,phys-bits=35", "AuthenticAMD",
     "Address space limit 0x7ffffffff < 0xa7fffffff phys-bits too low (35)"),
    ("-machine pc -m 8G -cpu qemu64,phys-bits=33", "AuthenticAMD",
     "Address space limit 0x1ffffffff < 0x2bfffffff phys-bits too low (33)"),
    ("-machine q35 -m 4G -cpu qemu64,phys-bits=40 -global q35-pcihost.pci-hole64-size=1010G",
     "AuthenticAMD", "Address space limit 0xffffffffff < 0x1fcffffffff phys-bits too low (40)"),
    ("-machine q35 -m 4G -cpu qemu64,phys-bits=39,vendor=GenuineIntel "
     "-global q35-pcihost.pci-hole64-size=1010G", "AuthenticAMD",
     "Address space limit 0x7fffffffff < 0xfdffffffff phys-bits too low (39)"),
    # from source (hw/i386/pc.c): 1000G does not fit in 40 bits, relocated or not
    ("-machine q35 -m 1000G -cpu qemu64,phys-bits=40", "AuthenticAMD",
     "Address space limit 0xffffffffff < 0x2017fffffff phys-bits too low (40)"),
    ("-machine q35 -m 1000G -cpu qemu64,phys-bits=40", "GenuineIntel",
     "Address space limit 0xffffffffff < 0x1027fffffff phys-bits too low (40)"),
])
def test_phys_bits_too_low(cmd, vendor, text):
    with pytest.raises(ConfigError) as e:
        _vm(cmd, vendor)
    assert str(e.value) == text


def test_32bit_cpu_rule_changed_in_8_2():
    """pc_max_used_gpa: before v8.2.0 a CPU with phys-bits <= 32 gives
    2^bits - 1; from v8.2.0 (cf0386509e) a CPU without long mode gives the
    end of RAM above 4 GiB, unless the machine type is <= 8.1
    (broken_32bit_mem_addr_check).  qemu32 has 32 phys-bits (no PSE36)."""
    assert _vm("-machine q35 -m 8G -cpu qemu32").memory_layout.max_used_gpa == 0xffffffff
    assert _vm("-machine pc-q35-8.1 -m 8G -cpu qemu32",
               qemu="8.2").memory_layout.max_used_gpa == 0xffffffff
    with pytest.raises(ConfigError, match=re.escape(
            "Address space limit 0xffffffff < 0x27fffffff phys-bits too low (32)")):
        _vm("-machine q35 -m 8G -cpu qemu32", qemu="8.2")


def test_32bit_cpu_phys_bits_not_settable():
    # target/i386/cpu.c x86_cpu_realizefn
    with pytest.raises(CommandLineError, match="not user-configurable in 32 bit"):
        _vm("-machine pc -m 1G -cpu qemu32,phys-bits=36")


def test_hole64_size_global():
    vm = _vm("-machine pc -m 1G -nodefaults -global i440FX-pcihost.pci-hole64-size=8G")
    assert vm.memory_layout.pci_hole64_size == 8 * GiB
    with pytest.raises(CommandLineError, match="pci-hole64-size"):
        _vm("-machine q35 -m 1G -global q35-pcihost.pci-hole64-size=lots")


def test_other_globals_are_reported_as_ignored():
    vm = _vm("-machine q35 -m 1G -global ICH9-LPC.noreboot=on")
    assert any("ICH9-LPC.noreboot=on" in n and "ignored" in n for n in vm.stack.notes)


def test_amd_ht_e820_entry_only_for_machine_7_1_and_later():
    for cmd, expect in (("-machine q35 -m 1G", True), ("-machine pc-q35-7.0 -m 1G", False)):
        cfg = parse_qemu_args(shlex.split(cmd))
        vm = build_vm(cfg, stack=make_stack(cpu_vendor="AuthenticAMD", phys_bits=48), accel="kvm")
        plat = firmware_platform(vm, cfg)
        assert ((AMD_HT_START, 0x300000000) in plat.e820_reserved) == expect


_ABOVE = re.compile(r"^\s*([0-9a-f]+)-[0-9a-f]+ \(prio 0, ram\): alias ram-above-4g ", re.M)
_E820_HT = "000000fd00000000 - 0000010000000000 = 2 RESERVED"


@pytest.mark.parametrize("name, start, ht", [
    ("q35-4G-hole64-1010G-amd", 0x10000000000, True),
    ("pc-4G-hole64-1010G-amd", 0x10000000000, True),
    ("q35-4G-hole64-1010G-intel", 0x100000000, False),
    ("q35-7.0-4G-hole64-1010G-amd", 0x100000000, False),
])
def test_real_captures(name, start, ht):
    """The real runs: ram-above-4g in ``info mtree`` and the HyperTransport
    entry in SeaBIOS's e820 dump."""
    ref = REFS / name
    real_start = int(_ABOVE.search((ref / "info_mtree.txt").read_text()).group(1), 16)
    assert real_start == start
    assert (_E820_HT in (ref / "seabios.log").read_text()) == ht
    vm = _vm((ref / "command.txt").read_text(), "AuthenticAMD")
    assert vm.memory_layout.split.above_4g_start == start
    assert vm.memory_layout.amd_ht_reserved == ht
    assert vm.system_memory.find("ram-above-4g").addr == start


@pytest.mark.parametrize("cmd, start, end", [
    # real QEMU 7.2.22 under KVM after SeaBIOS's POST: QMP qom-get on
    # /machine/q35 or /machine/i440fx, properties pci-hole64-start/-end
    ("-machine q35 -accel kvm -m 1G -nodefaults -object memory-backend-ram,id=m0,size=1G "
     "-device ivshmem-plain,memdev=m0,id=ivs0", 0x100000000, 0x900000000),
    ("-machine pc -accel kvm -m 512M -nodefaults -device edu,id=edu0", 0x100000000, 0x180000000),
    ("-machine pc -accel kvm -m 6G -nodefaults -object memory-backend-ram,id=m0,size=4G "
     "-device ivshmem-plain,memdev=m0,id=ivs0", 0x200000000, 0x300000000),
])
def test_pci_hole64_qom_properties(cmd, start, end):
    from vfiolab.model.machine import pci_hole64
    from vfiolab.predict import predict
    p = predict(shlex.split(cmd), seabios="1.16.2", accel="kvm", cpu_vendor="AuthenticAMD")
    r = pci_hole64(p.vm)
    assert (r.start, r.end) == (start, end)
