"""Below 1 MiB after POST: option ROMs and the config accesses SeaBIOS
makes for them (src/optionroms.c ``vgarom_setup``, ``map_pcirom``,
``optionrom_setup``; src/block.c ``block_setup``), against every real
capture in data/references/ (QEMU 7.2.22 + SeaBIOS 1.16.2 under KVM).

Expected values: each capture's ``pci_cfg_write.log`` (every config write
the guest made, in order) and its ``seabios.log`` ("Running option rom at
SSSS:0003" for each ROM run, the last one being QEMU's kvmvapic.bin)."""

from __future__ import annotations

import re

import pytest

from vfiolab.inputs.cmdline import parse_qemu_args
from vfiolab.model.boot import boot, build_vm, firmware_platform
from vfiolab.real.reference import reference_dirs
from vfiolab.stack import make_stack

REFS = reference_dirs()
_W = re.compile(r"pci_cfg_write \S+ (\S+) @(0x[0-9a-f]+) <- (0x[0-9a-f]+)$")
_RUN = re.compile(r"Running option rom at ([0-9a-f]{4}):0003")


def _boot(ref_dir):
    import shlex
    cfg = parse_qemu_args(shlex.split((ref_dir / "command.txt").read_text()))
    vm = build_vm(cfg, stack=make_stack(cpu="assumed"), accel="kvm")
    vm.trace_config = True
    boot(vm, firmware_platform(vm, cfg))
    return vm


@pytest.mark.parametrize("ref", REFS, ids=lambda p: p.name)
def test_every_config_write(ref):
    real = [(m[1], int(m[2], 16), int(m[3], 16))
            for m in map(_W.match, (ref / "pci_cfg_write.log").read_text().splitlines())]
    vm = _boot(ref)
    ours = [(e["bdf"], e["offset"], e["value"]) for e in vm.events if e["op"] == "pci_cfg_write"]
    assert ours == real


@pytest.mark.parametrize("ref", REFS, ids=lambda p: p.name)
def test_kvmvapic_follows_the_other_roms(ref):
    runs = _RUN.findall((ref / "seabios.log").read_text())
    vapic = int(runs[-1], 16) << 4          # kvmvapic.bin runs last (genroms/)
    vm = _boot(ref)
    alias = vm.system_memory.find("kvmvapic-rom")
    assert alias is not None and alias.addr == vapic


def test_references_cover_nic_roms_with_and_without_vga():
    names = {p.name for p in REFS}
    assert {"pc-512M-e1000e", "q35-512M-e1000e", "pc-512M-virtio-net", "q35-512M-virtio-net",
            "pc-512M-vga-e1000e", "q35-512M-vga-e1000e", "pc-512M-2nic", "q35-512M-2nic",
            "pc-512M-vga", "q35-512M-bochs", "pc-512M-e1000e-rombar0",
            "q35-512M-vga-rombar0-e1000e"} <= names
