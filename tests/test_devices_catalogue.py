"""The device catalogue (vfiolab/model/devices.py) against real QEMU 7.2 captures.

Fixtures: tests/fixtures/devices/{q35,pc}-virtio and {q35,pc}-misc, made with
``tests/fixtures/devices/capture_devices.py NAME --map-roms -- ARGS`` (the
QEMU command line is in each command.txt; QEMU 7.2.22 Debian
1:7.2+dfsg-7+deb12u18+b3 under KVM, SeaBIOS 1.16.2).  The checks are those of
tests/test_devices.py (same readers, same model building):

* every BAR of every function: index, io/mem32/mem64, prefetch, size (``info pci``);
* the MemoryRegion subtree of each mapped BAR (``info mtree``), the ROM
  regions once mapped (``info_mtree_rom.txt``), RAM block names and sizes;
* the flat-view lines inside each BAR (``info mtree -f``);
* config space right after reset: all 256 bytes for the devices whose
  capabilities are modelled (:data:`FULL_CONFIG`), identity registers
  (ids, revision, class, header type, BAR type bits, subsystem, interrupt
  pin) for all;
* config space after SeaBIOS for the fully modelled ones.

Rules from the source that no capture here shows (QEMU 10.0's balloon
vectors, the debian13 ROM sizes, errors) are checked against the source
facts named in each test.
"""

from __future__ import annotations

import pytest

import test_devices as TD
from vfiolab.errors import DeviceError, UnsupportedOption
from vfiolab.model import devices as D
from vfiolab.stack import make_stack

FIXTURES = ["q35-virtio", "pc-virtio", "q35-misc", "pc-misc"]
FIXTURES = [f for f in FIXTURES if (TD.FIX / f / "info_pci.txt").exists()]

#: device types whose whole config space is modelled (capabilities included)
FULL_CONFIG = {t.type_name for t in D._VIRTIO_TYPES} | {
    "e1000", "rtl8139", "AC97", "lsi53c895a", "pvpanic-pci", "i6300esb", "usb-ehci",
    "ich9-usb-ehci1", "ich9-usb-uhci1", "intel-hda", "ich9-intel-hda", "qemu-xhci",
    "nec-usb-xhci", "ahci", "qxl", "qxl-vga", "nvme", "pci-bridge", "pcie-root-port",
    "i82801b11-bridge", "megasas", "ioh3420", "pcie-pci-bridge"}


@pytest.fixture(params=FIXTURES)
def case(request):
    name = request.param
    return name, TD.build(name)


def _identity_offsets(cfg):
    offs = [(0, 4), (6, 0), (8, 4), (0x0E, 1), (0x3D, 1)]
    if cfg[0x0E] & 0x7F == 0:
        offs += [(0x10, 24), (0x2C, 4)]
    return [(o, n) for o, n in offs if n]


def test_config_after_reset(case):
    name, _ = case
    vm = TD.build(name)
    real = TD.read_config(name, "config_reset.txt")
    checked = 0
    for (_bus, devfn), data in real.items():
        dev = vm.root_bus.devices[devfn]
        if dev.type_name in TD.CHIPSET_NAMES:
            continue
        mine = TD.cfg_bytes(dev, 256)
        for off, n in _identity_offsets(data):
            assert mine[off:off + n] == data[off:off + n], (name, dev.label(), hex(off))
        if dev.type_name in FULL_CONFIG:
            diff = [hex(i) for i in range(256) if mine[i] != data[i]]
            assert not diff, (name, dev.label(), diff)
        checked += 1
    assert checked


def test_config_after_firmware(case):
    name, vm = case
    post = TD.read_config(name, "config_post.txt")
    TD.replay_firmware(vm, post)
    for (bus, devfn), data in post.items():
        dev = vm.root_bus.find_bus(bus).devices[devfn]
        if dev.type_name in TD.CHIPSET_NAMES or dev.type_name not in FULL_CONFIG:
            continue
        if dev.type_name.startswith(("ich9-usb-uhci", "piix")):
            # SeaBIOS src/hw/usb-uhci.c uhci_setup writes the legacy-support
            # register (0xc0 = 0x8f00), which replay_firmware does not repeat
            data = bytearray(data)
            data[0xC0:0xC2] = bytes(2)
        mine = TD.cfg_bytes(dev)
        diff = [hex(i) for i in range(256) if mine[i] != data[i]]
        assert not diff, (name, dev.label(), diff)
        if len(data) > 256 and dev.is_express:
            assert TD.ext_chain(mine) == TD.ext_chain(data), (name, dev.label())


def test_bars_match_info_pci(case):
    TD.test_bars_match_info_pci(case)


def _subtree_lines(mr):
    """format_mtree of one BAR region, dedented, without the alias-target
    blocks it prints after the tree (intel-hda and rtl8139 BARs hold aliases)."""
    lines = []
    for ln in TD.format_mtree([([], mr)]).splitlines():
        if ln.startswith("memory-region:") and lines:
            break
        if ln.strip() and not ln.startswith("memory-region:"):
            lines.append(ln[2:])
    return lines


def test_bar_region_trees(case):
    """Each mapped BAR's region with everything inside it prints as in ``info mtree``."""
    name, vm = case
    TD.replay_firmware(vm, TD.read_config(name, "config_post.txt"))
    nodes = TD.read_mtree(name)
    checked = 0
    for real in TD.read_info_pci(name):
        dev = TD.model_device(vm, real)
        for r in dev.bars():
            if r.index == 6 or not r.mapped:
                continue
            assert r.addr == real["bars"][r.index][2]
            text = r.memory.name
            if r.memory.alias is not None:
                text = (f"alias {r.memory.name} @{r.memory.alias.name} "
                        f"{r.memory.alias_offset:016x}-"
                        f"{r.memory.alias_offset + r.memory.size - 1:016x}")
            node = TD._find(nodes, r.addr, text)
            assert node is not None, (name, real["id"], r.index, text)
            assert _subtree_lines(r.memory) == TD.subtree_lines(node), (name, real["id"], r.index)
            checked += 1
    assert checked


def test_rom_regions(case):
    TD.test_rom_regions(case)


def test_ramblock_names_and_sizes(case):
    TD.test_ramblock_names_and_sizes(case)


def test_flat_views_inside_bars(case):
    TD.test_flat_views_inside_bars(case)


def test_bridge_windows_follow_firmware(case):
    TD.test_bridge_windows_follow_firmware(case)
