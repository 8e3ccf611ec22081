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
    "i82801b11-bridge", "megasas", "ioh3420", "pcie-pci-bridge", "vmxnet3", "x3130-upstream",
    "xio3130-downstream"}


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


# ---------------------------------------------------------------------------
# rules from the source that the 7.2 captures cannot show
# ---------------------------------------------------------------------------

def _bars(pred, qdev_id):
    dev = next(d for d in pred.to_json()["devices"] if d["qdev_id"] == qdev_id)
    return {b["bar"]: b for b in dev["bars"]}


BALLOON = ["-accel", "kvm", "-m", "512M", "-nodefaults",
           "-device", "pcie-root-port,id=rp1,chassis=1", "-device", "virtio-balloon-pci,id=b0,bus=rp1"]


@pytest.mark.parametrize("stack,machine,msix", [
    ("debian12", "q35", False),              # QEMU 7.2: no vectors property at all
    ("debian13", "q35", True),               # QEMU 10.0, machine 10.0: vectors=2
    ("debian13", "pc-q35-9.2", False),       # hw_compat_9_2: vectors=0
])
def test_balloon_msix_follows_qemu_and_machine(stack, machine, msix):
    """QEMU commit fe638ae67b (in 10.0): virtio-balloon-pci gets MSI-X
    (vectors=2), except on machine types up to 9.2 (hw/core/machine.c
    hw_compat_9_2 sets vectors=0).  The 7.2 capture q35-virtio shows no
    MSI-X BAR (vbal1: BAR4 only)."""
    from vfiolab.predict import predict
    pred = predict(["-machine", machine] + BALLOON, stack=stack, accel="kvm")
    bars = _bars(pred, "b0")
    assert (1 in bars) == msix
    assert 4 in bars and 0 not in bars                # modern only behind a root port


def test_balloon_vectors_property_is_10_0_only():
    from vfiolab.predict import predict
    args = ["-machine", "q35"] + BALLOON[:-1] + ["virtio-balloon-pci,id=b0,bus=rp1,vectors=4"]
    with pytest.raises(DeviceError) as e:
        predict(args, stack="debian12", accel="kvm")
    assert e.value.field == "vectors"
    assert 1 in _bars(predict(args, stack="debian13", accel="kvm"), "b0")


def test_root_port_native_hotplug_property_renamed_in_8_0():
    """QEMU commit 1d77e15718 (8.0): x-native-hotplug became
    x-do-not-expose-native-hotplug-cap (opposite meaning); each name exists
    only on its side of the boundary."""
    from vfiolab.predict import predict
    old = ["-machine", "q35", "-accel", "kvm", "-m", "512M", "-nodefaults",
           "-device", "pcie-root-port,id=rp1,chassis=1,x-native-hotplug=off"]
    new = old[:-1] + ["pcie-root-port,id=rp1,chassis=1,x-do-not-expose-native-hotplug-cap=on"]
    predict(old, stack="debian12", accel="kvm")
    predict(new, stack="debian13", accel="kvm")
    with pytest.raises(DeviceError) as e:
        predict(old, stack="debian13", accel="kvm")
    assert e.value.field == "x-native-hotplug"
    with pytest.raises(DeviceError) as e:
        predict(new, stack="debian12", accel="kvm")
    assert e.value.field == "x-do-not-expose-native-hotplug-cap"


def test_unknown_device_is_named():
    with pytest.raises(UnsupportedOption) as e:
        D.create_device("cirrus-vga", "v0", {})
    assert "cirrus-vga" in str(e.value)


def test_vsock_is_modern_only():
    """hw/virtio/virtio.c virtio_legacy_allowed: vsock is not in the list, so
    on a conventional bus (disable-legacy=auto -> off) realize fails with
    "device is modern-only, use disable-legacy=on"."""
    vm = TD.new_vm("pc")
    with pytest.raises(DeviceError) as e:
        TD.add(vm, D.create_device("vhost-vsock-pci", "vs0", {}))
    assert "modern-only" in e.value.why
    dev = TD.add(TD.new_vm("pc"), D.create_device("vhost-vsock-pci", "vs1",
                                                  {"disable-legacy": "on"}))
    assert dev.config[2:4] == (0x1040 + 19).to_bytes(2, "little")
    assert sorted(r.index for r in dev.bars()) == [1, 4]       # MSI-X (3 vectors), modern


def test_transitional_types():
    """virtio_pci_types_register: -transitional is legacy + modern everywhere,
    -non-transitional modern only, and neither takes disable-legacy/modern."""
    vm = TD.new_vm("q35")
    rp = TD.add(vm, D.create_device("pcie-root-port", "rp", {"chassis": "1"}))
    t = TD.add(vm, D.create_device("virtio-blk-pci-transitional", "t", {}), bus=rp.sec_bus)
    n = TD.add(TD.new_vm("pc"), D.create_device("virtio-blk-pci-non-transitional", "n", {}))
    assert t.config[2:4] == b"\x01\x10" and 0 in {r.index for r in t.bars()}
    assert n.config[2:4] == b"\x42\x10" and 0 not in {r.index for r in n.bars()}
    with pytest.raises(DeviceError):
        D.create_device("virtio-scsi-pci-transitional", "x", {"disable-legacy": "on"})


@pytest.mark.parametrize("props,size", [({}, 128), ({"discard": "off"}, 128),
                                        ({"discard": "off", "write-zeroes": "off"}, 64),
                                        ({"vectors": "0", "discard": "off",
                                          "write-zeroes": "off"}, 64)])
def test_virtio_blk_legacy_bar_follows_features(props, size):
    """hw/block/virtio-blk-common.c virtio_blk_cfg_size_params: 36 bytes,
    48 with discard, 57 with write-zeroes; the legacy BAR is pow2ceil(20 or
    24 + that) (virtio_pci_device_plugged)."""
    dev = TD.add(TD.new_vm("pc"), D.create_device("virtio-blk-pci", "b", props))
    assert dev.io_regions[0].size == size


def test_device_checks():
    vm = TD.new_vm("pc")
    with pytest.raises(DeviceError) as e:
        TD.add(vm, D.create_device("virtio-9p-pci", "p", {}))
    assert e.value.field == "mount_tag"
    TD.add(vm, D.create_device("virtio-balloon-pci", "b1", {}))
    with pytest.raises(DeviceError) as e:
        TD.add(vm, D.create_device("virtio-balloon-pci", "b2", {}))
    assert "Only one balloon" in e.value.why
    with pytest.raises(DeviceError):
        TD.add(vm, D.create_device("qxl", "q", {"revision": "9"}))
    with pytest.raises(DeviceError) as e:
        D.create_device("qemu-xhci", "x", {"intrs": "4"})     # a nec-usb-xhci property only
    assert e.value.field == "intrs"


def test_qxl_sizes():
    """hw/display/qxl.c qxl_init_ramsize: BAR0 at least twice vgamem, all
    sizes rounded up to powers of two, BAR4 only when vram64 > vram32."""
    dev = TD.add(TD.new_vm("pc"), D.create_device("qxl", "q", {
        "ram_size_mb": "20", "vram_size_mb": "3", "vram64_size_mb": "100"}))
    sizes = {r.index: r.size for r in dev.bars()}
    assert sizes == {0: 32 << 20, 1: 4 << 20, 2: 8192, 3: 32, 4: 128 << 20}


ROM_DIR_DEBIAN13 = "/tmp/vfiolab-stack/L/seabios-1.16.3"


@pytest.mark.parametrize("name", sorted(D.ROM_FILE_SIZES_DEBIAN13))
def test_debian13_rom_sizes(name):
    """The debian13 ROM table is the files' sizes (MANIFEST: ipxe-qemu
    1.21.1+git20250501.dad20602+dfsg-1, seabios 1.16.3-2) and rounds to the
    same ROM BAR as debian12's."""
    import os
    from vfiolab.addr import pow2ceil
    path = os.path.join(ROM_DIR_DEBIAN13, name)
    if not os.path.exists(path):
        pytest.skip(f"{path} not on this machine")
    assert os.path.getsize(path) == D.ROM_FILE_SIZES_DEBIAN13[name]
    assert pow2ceil(D.ROM_FILE_SIZES_DEBIAN13[name]) == pow2ceil(D.ROM_FILE_SIZES[name])


def test_catalogue_lists_the_new_types():
    for name in ("virtio-blk-pci", "virtio-scsi-pci", "virtio-serial-pci", "virtio-balloon-pci",
                 "virtio-rng-pci", "virtio-gpu-pci", "virtio-vga", "vhost-vsock-pci",
                 "virtio-keyboard-pci", "virtio-mouse-pci", "virtio-tablet-pci",
                 "virtio-input-host-pci", "virtio-9p-pci", "qemu-xhci", "nec-usb-xhci",
                 "usb-ehci", "ich9-usb-ehci1", "ich9-usb-uhci1", "ich9-intel-hda", "intel-hda",
                 "AC97", "pcie-pci-bridge", "ioh3420", "x3130-upstream", "xio3130-downstream",
                 "qxl-vga", "qxl", "e1000", "rtl8139", "vmxnet3", "megasas", "lsi53c895a",
                 "ahci", "pvpanic-pci", "i6300esb", "i82801b11-bridge"):
        assert name in D.DEVICE_TYPES, name


def test_virtio_gpu_hostmem():
    """QEMU 8.2 (commit ba62dfa707): hostmem moves the modern registers to
    BAR2 and MSI-X to BAR1 and makes BAR4 a 64-bit prefetchable
    virtio-gpu-hostmem region (hw/display/virtio-gpu-pci.c)."""
    from vfiolab.predict import predict
    args = ["-machine", "q35", "-accel", "kvm", "-m", "512M", "-nodefaults",
            "-device", "virtio-gpu-pci,id=g0,hostmem=256M"]
    with pytest.raises(DeviceError) as e:
        predict(args, stack="debian12", accel="kvm")
    assert e.value.field == "hostmem"
    bars = _bars(predict(args, stack="debian13", accel="kvm"), "g0")
    assert sorted(bars) == [1, 2, 4]
    assert int(bars[4]["size"], 16) == 256 << 20 and int(bars[2]["size"], 16) == 0x4000


@pytest.mark.parametrize("name,word", [("tpm-crb", "0xfed40000"), ("intel-iommu", "VT-d"),
                                       ("ramfb", "fw_cfg"), ("usb-tablet", "not a PCI function"),
                                       ("cirrus-vga", "cirrus_vga.c"),
                                       ("no-such-device", "not in the device catalogue")])
def test_refusals_say_why(name, word):
    with pytest.raises(UnsupportedOption) as e:
        D.create_device(name, "", {})
    assert name in str(e.value) and word in str(e.value)


@pytest.mark.parametrize("name", ["q35-7.1-512M-virtio-rng-balloon", "pc-3.1-512M-virtio-compat"])
def test_machine_compat_decides_these_captures(name, monkeypatch):
    """The two machine-version captures (QEMU 7.2 with -machine pc-q35-7.1:
    hw_compat_7_1 virtio-rng-pci vectors=0, no MSI-X BAR; pc-i440fx-3.1:
    hw_compat_3_1 virtio-blk discard/write-zeroes off, a 64-byte legacy BAR,
    and the balloon's 8-byte config, a 32-byte one) match only with
    MACHINE_COMPAT applied (tests/test_predict_references.py checks the
    whole prediction)."""
    from pathlib import Path
    from vfiolab.predict import predict
    from vfiolab.real.reference import load_reference
    ref = load_reference(Path(__file__).parent.parent / "data" / "references" / name)
    want = {(d["qdev_id"], b["bar"]): b["size"] for d in ref.to_json()["devices"] for b in d["bars"]}

    def sizes():
        p = predict(ref.args, seabios="1.16.2", accel="kvm",
                    cpu_vendor=ref.meta.get("host_cpu_vendor") or None)
        return {(d["qdev_id"], b["bar"]): b["size"] for d in p.to_json()["devices"]
                for b in d["bars"]}
    assert sizes() == want
    monkeypatch.setattr(D, "MACHINE_COMPAT", ())
    assert sizes() != want


def test_old_machine_virtio_is_legacy_only_even_behind_a_root_port():
    """hw_compat_2_6: virtio-pci disable-modern=on, disable-legacy=off on
    machine types up to 2.6 -- legacy only, so conventional even on a PCIe
    port (virtio_pci_dc_realize sets the express flag only for a modern
    device): a legacy I/O BAR0, no modern BAR4."""
    from vfiolab.predict import predict
    args = ["-machine", "pc-q35-2.6", "-accel", "kvm", "-m", "512M", "-nodefaults",
            "-device", "pcie-root-port,id=rp1,chassis=1", "-device", "virtio-net-pci,id=n0,bus=rp1"]
    pred = predict(args, stack="debian12", accel="kvm")
    bars = _bars(pred, "n0")
    assert 0 in bars and 4 not in bars
    dev = next(d for d in pred.vm.pci_devices() if d.qdev_id == "n0")
    assert not dev.is_express and dev.device_id == 0x1000
