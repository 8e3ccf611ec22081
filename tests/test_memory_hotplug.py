"""``-m SIZE,slots=N,maxmem=MAX``: the memory-hotplug area and what the
firmware makes of it.

Expected values: worked by hand from QEMU's source (hw/core/machine.c
``machine_set_mem``; hw/i386/pc.c ``pc_get_device_memory_range``,
``pc_memory_init``, ``pc_pci_hole64_start``, ``pc_max_used_gpa``, the same
in v7.2.0 and v10.0.0 except where a test says), and the real captures
data/references/pc-512M-maxmem-ivshmem-4G{,-qemu10-sb1162} (SeaBIOS) and
data/ovmf/q35-1G-maxmem-pb39-ivshmem-16G-* (OVMF), which
tests/test_predict_references.py and tests/test_ovmf.py compare whole.
"""

from __future__ import annotations

import json
import shlex
from pathlib import Path

import pytest

from vfiolab.errors import CommandLineError, ConfigError
from vfiolab.inputs.cmdline import parse_qemu_args
from vfiolab.model.boot import build_vm, firmware_platform
from vfiolab.model.machine import memory_layout
from vfiolab.stack import make_stack

GiB = 1 << 30
MiB = 1 << 20
DATA = Path(__file__).resolve().parent.parent / "data"


def _vm(cmd: str, qemu: str | None = None, vendor: str = "AuthenticAMD", bits: int = 40):
    stack = make_stack(cpu_vendor=vendor, phys_bits=bits, qemu=qemu)
    return build_vm(parse_qemu_args(shlex.split(cmd)), stack=stack, accel="kvm")


def test_area_size_and_reserved_end():
    """q35, -m 1G,slots=4,maxmem=32G: no RAM above 4 GiB, so the area starts
    at ROUND_UP(4G + 0, 1G) = 4 GiB and holds (32G - 1G) + 4 x 1G = 35 GiB
    (enforce_aligned_dimm); etc/reserved-memory-end = ROUND_UP(4G + 35G, 1G)
    = 0x9c0000000, and pc_pci_hole64_start the same."""
    vm = _vm("-machine q35 -m 1G,slots=4,maxmem=32G -nodefaults")
    dm = vm.memory_layout.device_memory
    assert (dm.base, dm.size, dm.reserved_end) == (4 * GiB, 35 * GiB, 0x9c0000000)
    assert vm.memory_layout.pci_hole64_start == 0x9c0000000
    # the real 7.2 info mtree line of the OVMF capture with this -m
    mtree = (DATA / "ovmf/q35-1G-maxmem-pb39-ivshmem-16G-2022.11-qemu7.2/info_mtree.txt")
    assert "0000000100000000-00000009bfffffff (prio 0, i/o): device-memory" in mtree.read_text()


def test_area_after_ram_above_4g():
    """pc, -m 5G,maxmem=9G (no slots): RAM 3G low + 2G above 4 GiB
    (gigabyte_align); the area starts at ROUND_UP(6G, 1G) = 6 GiB and holds
    9G - 5G = 4 GiB; the 64-bit hole starts at 10 GiB; no slots, so no
    acpi-mem-hotplug block (acpi_memory_hotplug_init returns early)."""
    vm = _vm("-machine pc -m 5G,maxmem=9G -nodefaults")
    dm = vm.memory_layout.device_memory
    assert (dm.base, dm.size, dm.reserved_end) == (6 * GiB, 4 * GiB, 10 * GiB)
    assert vm.memory_layout.pci_hole64_start == 10 * GiB
    from vfiolab.predict import predict
    p = predict(["-machine", "pc", "-m", "5G,maxmem=9G", "-nodefaults"], qemu="7.2",
                cpu_vendor="AuthenticAMD", phys_bits=40)
    assert "acpi-mem-hotplug" not in p.mtree_flat()


def test_no_area_without_maxmem_above_ram():
    """maxmem equal to the RAM size: pc_memory_init builds nothing and
    QEMU adds no etc/reserved-memory-end (v7.2.0: device_memory->base stays
    0; v10.0.0: device_memory stays NULL)."""
    vm = _vm("-machine q35 -m 1G,maxmem=1G -nodefaults")
    assert vm.memory_layout.device_memory is None
    assert firmware_platform(vm, vm.config).reserved_memory_end is None


def test_firmware_reads_reserved_end():
    """Both firmwares are told etc/reserved-memory-end; SeaBIOS's 64-bit
    window starts at it (src/fw/pciinit.c pci_bios_map_devices: 1.16.2 logs
    "PCI: 64: 0000000380000000 - ..." in the real capture: -m 512M,slots=2,
    maxmem=8G -> 4G + 7.5G + 2G = 13.5 GiB, rounded up to 14 GiB)."""
    vm = _vm("-machine pc -m 512M,slots=2,maxmem=8G -nodefaults")
    assert firmware_platform(vm, vm.config).reserved_memory_end == 14 * GiB
    log = (DATA / "references/pc-512M-maxmem-ivshmem-4G/seabios.log").read_text()
    assert "PCI: 64: 0000000380000000" in log


def test_broken_reserved_end_on_old_machine_types():
    """Machine types <= 2.4 (hw/i386/pc_piix.c pc_i440fx_2_4_machine_options,
    broken_reserved_end): etc/reserved-memory-end and the 64-bit hole start
    at the area's start, not its end."""
    stack = make_stack(cpu_vendor="AuthenticAMD", phys_bits=40).for_machine("pc-i440fx-2.4")
    lay = memory_layout("pc", GiB, stack=stack, cpu_vendor="AuthenticAMD", phys_bits=40,
                        maxram_size=8 * GiB, ram_slots=2)
    assert lay.device_memory.reserved_end == 4 * GiB
    assert lay.pci_hole64_start == 4 * GiB


def test_32bit_cpu_check_counts_the_area_from_qemu_8_2():
    """pc_max_used_gpa without long mode, machine types >= 8.2 (commit
    cf0386509e, v8.2.0): the end of the area minus 1.  -m 1G,maxmem=4G:
    [4G, 4G + 3G) -> 0x1bfffffff, above phys-bits 32, so QEMU 10.0 refuses
    to start; 7.2 returns 2^32 - 1 for phys-bits <= 32 and starts."""
    s10 = make_stack(qemu="10.0", cpu_vendor="GenuineIntel", phys_bits=32).for_machine("pc")
    with pytest.raises(ConfigError, match="Address space limit 0xffffffff < 0x1bfffffff"):
        memory_layout("pc", GiB, stack=s10, cpu_vendor="GenuineIntel", phys_bits=32,
                      long_mode=False, maxram_size=4 * GiB)
    s72 = make_stack(qemu="7.2", cpu_vendor="GenuineIntel", phys_bits=32).for_machine("pc")
    lay = memory_layout("pc", GiB, stack=s72, cpu_vendor="GenuineIntel", phys_bits=32,
                        long_mode=False, maxram_size=4 * GiB)
    assert lay.max_used_gpa == 0xffffffff


def test_amd_relocation_moves_the_area_to_1tib():
    """AMD vCPU, machine type >= 7.1 (enforce_amd_1tb_hole): with the area,
    pc_max_used_gpa (start + size + the 32 GiB q35 hole) reaches
    0xfd00000000, so above_4g_mem_start becomes 1 TiB and the area, which
    starts at pc_above_4g_end, follows it: -m 1G,maxmem=1000G:
    [1T, 1T + 999G), hole64 from ROUND_UP(1T + 999G, 1G)."""
    vm = _vm("-machine q35 -m 1G,maxmem=1000G -nodefaults -cpu qemu64,phys-bits=42", bits=42)
    dm = vm.memory_layout.device_memory
    assert vm.memory_layout.split.above_4g_start == 1 << 40
    assert (dm.base, dm.size) == (1 << 40, 999 * GiB)
    assert vm.memory_layout.pci_hole64_start == (1 << 40) + 999 * GiB


@pytest.mark.parametrize("m, text", [
    # hw/core/machine.c machine_set_mem (v7.2.0 = v10.0.0)
    ("1G,maxmem=512M", "invalid value of maxmem: maximum memory size (0x20000000) must be at "
                       "least the initial memory size (0x40000000)"),
    ("1G,slots=2", "slots specified but no max-size"),
    ("1G,slots=2,maxmem=1G", "memory slots were specified but maximum memory size (0x40000000) "
                             "is equal to the initial memory size (0x40000000)"),
    ("1G,slots=x,maxmem=2G", "Parameter 'slots' expects a number"),
    ("1G,maxmem=lots", "-m"),
])
def test_command_line_refusals(m, text):
    with pytest.raises(CommandLineError) as e:
        parse_qemu_args(["-machine", "q35", "-m", m])
    assert text in str(e.value) and "-m" in str(e.value)


@pytest.mark.parametrize("m, text", [
    # hw/i386/pc.c pc_memory_init
    ("1G,slots=257,maxmem=2G", "unsupported amount of memory slots: 257"),
    ("1G,maxmem=1073745921", "maximum memory size must by aligned to multiple of 4096 bytes"),
])
def test_machine_refusals(m, text):
    with pytest.raises(ConfigError) as e:
        _vm(f"-machine q35 -m {m} -nodefaults")
    assert text in str(e.value)


def test_slots_add_the_acpi_block():
    """hw/acpi/memory_hotplug.c acpi_memory_hotplug_init: with slots the PM
    function adds "acpi-mem-hotplug" (0xa00, 24 ports) to the I/O space, on
    pc (PIIX4) and q35 (ICH9), as the real captures show."""
    from vfiolab.predict import predict
    for machine in ("pc", "q35"):
        p = predict(["-machine", machine, "-m", "1G,slots=1,maxmem=2G", "-nodefaults"],
                    qemu="7.2", cpu_vendor="AuthenticAMD", phys_bits=40)
        assert "0000000000000a00-0000000000000a17 (prio 0, i/o): acpi-mem-hotplug" \
            in p.mtree_flat()
    real = (DATA / "references/pc-512M-maxmem-ivshmem-4G/info_mtree_f.txt").read_text()
    assert "0000000000000a00-0000000000000a17 (prio 0, i/o): acpi-mem-hotplug" in real
    meta = json.loads((DATA / "references/pc-512M-maxmem-ivshmem-4G/meta.json").read_text())
    assert "slots=2" in meta["command"]


def test_libvirt_max_memory_is_refused_not_ignored():
    """<maxMemory> would make libvirt write -m ...,slots=,maxmem= (with
    guest NUMA, which the reader does not model): refused by name rather
    than dropped, which would give a window below the real one."""
    from vfiolab.inputs.libvirt import libvirt_argv
    xml = sorted((DATA / "configs/libvirt").glob("*.xml"))[0].read_text()
    xml = xml.replace("<memory", "<maxMemory slots='16' unit='KiB'>16777216</maxMemory><memory", 1)
    with pytest.raises(CommandLineError, match="maxMemory"):
        libvirt_argv(xml)
