"""The emulated devices (vfiolab/model/devices.py) against real QEMU 7.2.

Fixtures: tests/fixtures/devices/<name>/, made by capture_devices.py in that
folder with the QEMU command line in command.txt.  For each fixture the test
builds the same VM in the model (chipset functions at QEMU's addresses, then
every -device of the command line, in order), and checks against the real
text:

* config space right after reset (config_reset.txt, bus 0): identity, BAR
  type bits, every capability byte;
* config space after SeaBIOS (config_post.txt): the model is given the
  firmware's writes (BARs, command, bridge windows, bus numbers) and must
  then hold the same bytes, and the same PCIe extended capability headers;
* ``info pci``: each device's BARs (index, io/mem32/mem64, prefetch, size);
* ``info mtree``: the MemoryRegion subtree of each mapped BAR (names,
  addresses, sizes, types, priorities, nesting), the ROM regions once mapped
  (info_mtree_rom.txt), the VGA legacy regions;
* ``info mtree -f``: the flat-view lines inside each mapped BAR.
"""

from __future__ import annotations

import os
import re
import shlex
import struct
from pathlib import Path

import pytest

from vfiolab.addr import parse_size
from vfiolab.errors import DeviceError, UnsupportedOption
from vfiolab.model import devices as D
from vfiolab.model.memory import MemoryRegion, format_mtree
from vfiolab.model.pci import PCIBridge, PCIBus
from vfiolab.model.vm import VM

FIX = Path(__file__).parent / "fixtures" / "devices"
FIXTURES = ["pc-addon", "q35-addon", "pc-variants", "q35-variants"]

# Chipset functions QEMU's machines create before any -device (hw/i386/pc_piix.c
# pc_init1, hw/i386/pc_q35.c pc_q35_init), with their devfns.
CHIPSET = {
    "pc": [("i440FX", 0x00), ("PIIX3", 0x08), ("piix3-ide", 0x09), ("PIIX4_PM", 0x0B)],
    "q35": [("mch", 0x00), ("ICH9-LPC", 0xF8), ("ich9-ahci", 0xFA), ("ICH9-SMB", 0xFB)],
}
ALL_TYPES = {**D.DEVICE_TYPES, **D.CHIPSET_DEVICE_TYPES}
CHIPSET_NAMES = {name for names in CHIPSET.values() for name, _ in names}


# ---------------------------------------------------------------------------
# reading the fixtures
# ---------------------------------------------------------------------------

def read_command(name):
    """(machine, ram, [(memdev id, size)], [(type, props)]) from command.txt."""
    args = shlex.split((FIX / name / "command.txt").read_text())
    machine, ram, memdevs, devices = None, None, [], []
    i = 1
    while i < len(args):
        opt = args[i]
        val = args[i + 1] if i + 1 < len(args) else ""
        if opt == "-machine":
            machine = val.split(",")[0]
        elif opt == "-m":
            ram = parse_size(val, "M")
        elif opt == "-object" and val.startswith("memory-backend-ram"):
            kv = dict(p.split("=", 1) for p in val.split(",")[1:])
            memdevs.append((kv["id"], parse_size(kv["size"])))
        elif opt == "-device" and not val.startswith("isa-debugcon"):
            parts = val.split(",")
            devices.append((parts[0], dict(p.split("=", 1) for p in parts[1:])))
        i += 2 if opt.startswith("-") and opt not in ("-S", "-nodefaults") else 1
    return machine, ram, memdevs, devices


def read_config(name, fname):
    """{(bus, devfn): bytes} from a config dump."""
    out, cur = {}, None
    for line in (FIX / name / fname).read_text().splitlines():
        m = re.match(r"^([0-9a-f]{2}):([0-9a-f]{2})\.([0-7]) \((\d+) bytes\)", line)
        if m:
            b, d, f, n = int(m[1], 16), int(m[2], 16), int(m[3]), int(m[4])
            cur = bytearray(n)
            out[(b, d << 3 | f)] = cur
            continue
        m = re.match(r"^\s+([0-9a-f]{3}): (.*)$", line)
        if m:
            off = int(m[1], 16)
            cur[off:off + 16] = bytes(int(x, 16) for x in m[2].split())
    return out


def read_info_pci(name, fname="info_pci.txt"):
    """[{bus, devfn, id, bars: {index: (type, prefetch, addr, size)}}]."""
    devs = []
    for block in re.split(r"(?=^  Bus )", (FIX / name / fname).read_text(), flags=re.M):
        m = re.match(r"\s*Bus\s+(\d+), device\s+(\d+), function (\d+):", block)
        if not m:
            continue
        d = {"bus": int(m[1]), "devfn": int(m[2]) << 3 | int(m[3]),
             "id": re.search(r'id "([^"]*)"', block)[1], "bars": {}}
        for bm in re.finditer(r"BAR(\d): (I/O|32 bit|64 bit)( prefetchable)?(?: memory)? at "
                              r"(0x[0-9a-f]+) \[(0x[0-9a-f]+)\]", block):
            addr, last = int(bm[4], 16), int(bm[5], 16)
            kind = {"I/O": "io", "32 bit": "mem32", "64 bit": "mem64"}[bm[2]]
            d["bars"][int(bm[1])] = (kind, bool(bm[3]), addr, (last - addr + 1) % (1 << 64))
        devs.append(d)
    return devs


class Node:
    def __init__(self, depth, start, last, prio, kind, text):
        self.depth, self.start, self.last, self.prio, self.kind, self.text = \
            depth, start, last, prio, kind, text
        self.children = []


_MTREE = re.compile(r"^(\s*)([0-9a-f]{16})-([0-9a-f]{16}) \(prio (-?\d+), ([a-z/-]+)\): (.*)$")


def read_mtree(name, fname="info_mtree.txt"):
    """All nodes of ``info mtree`` (every address space and memory-region block)."""
    roots, stack, nodes = [], [], []
    for line in (FIX / name / fname).read_text().splitlines():
        m = _MTREE.match(line)
        if not m:
            stack = []
            continue
        n = Node(len(m[1]) // 2, int(m[2], 16), int(m[3], 16), int(m[4]), m[5], m[6])
        while stack and stack[-1].depth >= n.depth:
            stack.pop()
        (stack[-1].children if stack else roots).append(n)
        stack.append(n)
        nodes.append(n)
    return nodes


def subtree_lines(node, depth=0):
    out = [f"{'  ' * depth}{node.start:016x}-{node.last:016x} (prio {node.prio}, {node.kind}): "
           f"{node.text}"]
    for c in node.children:
        out += subtree_lines(c, depth + 1)
    return out


def model_subtree_lines(mr):
    """format_mtree of one region, dedented to depth 0."""
    text = format_mtree([([], mr)])
    lines = [ln for ln in text.splitlines() if ln.strip()]
    lines = [ln for ln in lines if not ln.startswith("memory-region:")]
    # format_mtree also prints the alias targets; a BAR tree has no aliases
    return [ln[2:] for ln in lines]


def read_flatview(name, as_name):
    """[(start, last, prio, kind, name, offset)] of the FlatView of ``as_name``."""
    text = (FIX / name / "info_mtree_f.txt").read_text()
    for block in text.split("FlatView #")[1:]:
        if f' AS "{as_name}",' not in block:
            continue
        out = []
        for line in block.splitlines():
            m = re.match(r"^\s+([0-9a-f]{16})-([0-9a-f]{16}) \(prio (-?\d+), ([a-z/-]+)\): "
                         r"(.*?)(?: @([0-9a-f]{16}))?(?: KVM)?$", line)
            if m:
                out.append((int(m[1], 16), int(m[2], 16), int(m[3]), m[4], m[5],
                            int(m[6], 16) if m[6] else 0))
        return out
    raise AssertionError(f"no FlatView for {as_name}")


# ---------------------------------------------------------------------------
# building the model
# ---------------------------------------------------------------------------

def new_vm(machine, ram=512 << 20):
    vm = VM(machine, ram)
    vm.pci_memory = MemoryRegion.init_container("pci", 1 << 64)
    vm.system_memory.add_subregion_overlap(0, vm.pci_memory, -1)
    vm.root_bus = PCIBus("pcie.0" if machine == "q35" else "pci.0", vm.pci_memory, vm.system_io)
    return vm


def add(vm, dev, bus=None):
    """Place a device as QEMU does: its bus= (a bridge id), its addr= or the
    first free slot."""
    if bus is None and getattr(dev, "requested_bus", None):
        bridges = {d.qdev_id: d for d in vm.devices if isinstance(d, PCIBridge)}
        bus = bridges[dev.requested_bus].sec_bus
    vm.add_pci_device(dev, bus=bus, devfn=getattr(dev, "requested_devfn", None))
    return dev


def build(name):
    machine, ram, memdevs, devices = read_command(name)
    vm = new_vm(machine, ram)
    for type_name, devfn in CHIPSET[machine]:
        vm.add_pci_device(ALL_TYPES[type_name](""), devfn=devfn)
    for mid, size in memdevs:
        vm.memdevs[mid] = vm.alloc_ram(MemoryRegion.init_ram(mid, size))
    for type_name, props in devices:
        add(vm, D.create_device(type_name, props.get("id", ""), props))
    for dev in vm.devices:                      # qemu_system_reset
        dev.reset()
    return vm


def cfg_bytes(dev, size=None):
    """The function's config space as the guest reads it, a dword at a time
    (what the capture did through 0xcf8/0xcfc and MMCONFIG)."""
    size = size or len(dev.config)
    return b"".join(dev.config_read(off, 4).to_bytes(4, "little") for off in range(0, size, 4))


def replay_firmware(vm, post):
    """Give the model the config writes SeaBIOS made, taken from the real
    post-POST config: bus numbers and windows of bridges, BARs, ROM BAR,
    interrupt line, then the command register."""
    for (bus, devfn), data in post.items():
        if devfn & 7 and (bus, devfn & ~7) not in post:
            # SeaBIOS (src/hw/pci.c pci_next) looks at functions 1-7 only
            # when function 0 exists, so it never wrote to this one
            continue
        dev = vm.root_bus.find_bus(bus).devices[devfn]

        def w(off, n):
            dev.config_write(off, int.from_bytes(data[off:off + n], "little"), n)
        if isinstance(dev, PCIBridge):
            w(0x18, 4)
            w(0x1c, 2)
            for off in (0x20, 0x24, 0x28, 0x2c, 0x30):
                w(off, 4)
            w(0x10, 4)
            w(0x14, 4)
            w(0x38, 4)
            w(0x3e, 2)
        else:
            for off in range(0x10, 0x28, 4):
                w(off, 4)
            w(0x30, 4)
        w(0x0c, 1)
        w(0x3c, 1)
        w(0x04, 2)


@pytest.fixture(params=FIXTURES)
def case(request):
    name = request.param
    vm = build(name)
    return name, vm


def model_device(vm, real):
    if real["id"]:
        for dev in vm.pci_devices():
            if dev.qdev_id == real["id"]:
                return dev
        raise AssertionError(f"no model device {real['id']}")
    return vm.root_bus.find_bus(real["bus"]).devices[real["devfn"]]


# ---------------------------------------------------------------------------
# config space right after reset
# ---------------------------------------------------------------------------

def cap_chain(cfg):
    out, pos, seen = [], cfg[0x34] if cfg[0x06] & 0x10 else 0, set()
    while pos and pos not in seen:
        seen.add(pos)
        out.append((pos, cfg[pos]))
        pos = cfg[pos + 1]
    return out


def ext_chain(cfg):
    out, pos, seen = [], 0x100, set()
    if len(cfg) <= 0x100:
        return out
    while pos and pos not in seen:
        seen.add(pos)
        hdr = struct.unpack_from("<I", cfg, pos)[0]
        if hdr in (0, 0xFFFFFFFF):
            break
        out.append((pos, hdr & 0xFFFF, (hdr >> 16) & 0xF))
        pos = (hdr >> 20) & 0xFFC
    return out


def test_config_after_reset(case):
    """Bus-0 functions: the whole 256-byte header and capability area of
    every add-on device equals QEMU's; chipset functions match in identity,
    BAR type bits and capabilities (their special registers are the machine
    builder's)."""
    name, _ = case
    vm = build(name)                      # fresh: nothing written yet
    real = read_config(name, "config_reset.txt")
    for (bus, devfn), data in real.items():
        dev = vm.root_bus.devices[devfn]
        mine = cfg_bytes(dev, 256)
        if dev.type_name in CHIPSET_NAMES:
            for off, n in ((0, 4), (6, 2), (8, 4), (0x0e, 1), (0x10, 24), (0x2c, 4), (0x34, 1),
                           (0x3d, 1)):
                assert mine[off:off + n] == data[off:off + n], (name, dev.type_name, hex(off))
            assert cap_chain(mine) == cap_chain(data), (name, dev.type_name)
            for pos, _cid in cap_chain(data):
                nxt = sorted(p for p, _ in cap_chain(data) if p > pos) + [0x100]
                assert mine[pos:nxt[0]] == data[pos:nxt[0]], (name, dev.type_name, hex(pos))
        else:
            diff = [hex(i) for i in range(256) if mine[i] != data[i]]
            assert not diff, (name, dev.label(), diff)


# ---------------------------------------------------------------------------
# config space after the firmware
# ---------------------------------------------------------------------------

def test_config_after_firmware(case):
    """After SeaBIOS's writes are replayed, every function's first 256 bytes
    equal QEMU's (chipset functions: outside their special registers), and
    PCIe functions have the same extended capability headers."""
    name, vm = case
    post = read_config(name, "config_post.txt")
    replay_firmware(vm, post)
    for (bus, devfn), data in post.items():
        dev = vm.root_bus.find_bus(bus).devices[devfn]
        mine = cfg_bytes(dev)
        if dev.type_name in CHIPSET_NAMES:
            assert cap_chain(mine) == cap_chain(data)
            assert mine[0x10:0x28] == data[0x10:0x28], (name, dev.type_name)
            continue
        diff = [hex(i) for i in range(256) if mine[i] != data[i]]
        assert not diff, (name, dev.label(), diff)
        if len(data) > 256:
            assert ext_chain(mine) == ext_chain(data), (name, dev.label())
            assert len(mine) == (4096 if dev.is_express else 256)
            if not dev.is_express:
                # a conventional function behind MMCONFIG reads all ones past 256
                assert data[0x100:] in (bytes(len(data) - 0x100), b"\xff" * (len(data) - 0x100))


# ---------------------------------------------------------------------------
# BARs
# ---------------------------------------------------------------------------

def test_bars_match_info_pci(case):
    name, vm = case
    for real in read_info_pci(name):
        dev = model_device(vm, real)
        mine = {r.index: (r.kind, r.prefetch, r.size) for r in dev.bars()}
        want = {i: (k, p, s) for i, (k, p, _a, s) in real["bars"].items()}
        assert mine == want, (name, real["id"] or dev.type_name)


# ---------------------------------------------------------------------------
# MemoryRegion trees and flat views
# ---------------------------------------------------------------------------

def _find(nodes, start, text):
    for n in nodes:
        if n.start == start and n.text == text:
            return n
    return None


def test_bar_region_trees(case):
    """Each mapped BAR's region, with everything inside it, prints as in
    ``info mtree`` (at the address SeaBIOS gave it)."""
    name, vm = case
    replay_firmware(vm, read_config(name, "config_post.txt"))
    nodes = read_mtree(name)
    checked = 0
    for real in read_info_pci(name):
        dev = model_device(vm, real)
        for r in dev.bars():
            if r.index == 6 or not r.mapped:
                continue
            assert r.addr == real["bars"][r.index][2]
            node = _find(nodes, r.addr, r.memory.name)
            assert node is not None, (name, real["id"], r.index, r.memory.name)
            assert model_subtree_lines(r.memory) == subtree_lines(node), (name, real["id"], r.index)
            checked += 1
    assert checked


def test_rom_regions(case):
    """Option ROMs: with the ROM BAR enabled at the address the capture
    script used, the ``<name>.rom`` region appears as in ``info mtree``."""
    name, vm = case
    path = FIX / name / "info_mtree_rom.txt"
    if not path.exists():
        pytest.skip("no ROM capture")
    replay_firmware(vm, read_config(name, "config_post.txt"))
    nodes = read_mtree(name, "info_mtree_rom.txt")
    addr = 0xE0000000
    seen = 0
    for real in read_info_pci(name):
        if real["bus"] != 0 or 6 not in real["bars"]:
            continue
        dev = model_device(vm, real)
        dev.config_write(0x30, addr | 1, 4)
        node = _find(nodes, addr, dev.rom.name)
        assert node is not None, (name, dev.rom.name)
        assert model_subtree_lines(dev.rom) == subtree_lines(node)
        addr += 0x100000
        seen += 1
    assert seen


def test_ramblock_names_and_sizes(case):
    """RAM blocks the devices allocate (vram, ROMs) have QEMU's names and sizes
    (``info ramblock``: <device path>/<region name>, used size)."""
    name, vm = case
    text = (FIX / name / "info_ramblock.txt").read_text()
    real = {}
    for m in re.finditer(r"^\s*(\S+)\s+\d+ KiB\s+0x[0-9a-f]+\s+(0x[0-9a-f]+)\s+0x[0-9a-f]+$",
                         text, re.M):
        real.setdefault(m[1].rsplit("/", 1)[-1], set()).add(int(m[2], 16))
    checked = 0
    for dev in vm.pci_devices():
        for attr in ("vram", "rom"):
            mr = getattr(dev, attr, None)
            if mr is None:
                continue
            assert mr.size in real.get(mr.name, ()), (name, mr.name, real.get(mr.name))
            checked += 1
    assert checked


def test_flat_views_inside_bars(case):
    """The ``info mtree -f`` lines inside every mapped BAR (memory and I/O)."""
    name, vm = case
    replay_firmware(vm, read_config(name, "config_post.txt"))
    views = {"memory": read_flatview(name, "memory"), "I/O": read_flatview(name, "I/O")}
    mine = {"memory": vm.as_memory.flatview(), "I/O": vm.as_io.flatview()}
    lines = 0
    for real in read_info_pci(name):
        dev = model_device(vm, real)
        for r in dev.bars():
            if r.index == 6 or not r.mapped:
                continue
            space = "I/O" if r.kind == "io" else "memory"
            lo, hi = r.addr, r.addr + r.size - 1
            want = [s for s in views[space] if lo <= s[0] and s[1] <= hi]
            got = [(fr.start, fr.last, fr.mr.priority, fr.kind(), fr.mr.name, fr.offset_in_region)
                   for fr in mine[space] if lo <= fr.start and fr.last <= hi]
            assert got == want, (name, real["id"] or dev.type_name, r.index)
            lines += len(want)
    assert lines > 20


def test_vga_legacy_regions():
    """VGA: ``vga-lowmem`` in the bus's memory space and the ``vga``/``vbe``
    port ranges in its I/O space (pc-addon, info mtree)."""
    vm = build("pc-addon")
    nodes = read_mtree("pc-addon")
    vga = next(d for d in vm.devices if d.type_name == "VGA")
    node = _find(nodes, 0xA0000, "vga-lowmem")
    assert node is not None and node.prio == 1 and node.last == 0xBFFFF
    assert vga.vga.lowmem.container is vm.pci_memory and vga.vga.lowmem.priority == 1
    want = sorted((n.start, n.last, n.text) for n in nodes
                  if n.text in ("vga", "vbe") and n.depth == 2)
    ports = vga.vga.vga_ports + vga.vga.vbe_ports
    got = sorted((mr.addr, mr.addr + mr.size - 1, mr.name) for mr in ports)
    assert got == want and len(got) == 6
    assert all(mr.container is vm.system_io for mr in ports)
    # vga_common_init / bochs_display_realize: VGA dirty logging on the vram
    # (the real trace shows KVM_MEM_LOG_DIRTY_PAGES on these memslots)
    disp = next(d for d in vm.devices if d.type_name == "bochs-display")
    assert vga.vram.dirty_log_mask == 1 and disp.vram.dirty_log_mask == 1


def _alias_lines(lines):
    out = set()
    for ln in lines:
        m = _MTREE.match(ln)
        if m and m[6].startswith("alias pci_bridge_"):
            out.add(ln.strip())
    return out


def test_bridge_windows_follow_firmware(case):
    """The bridge window aliases the model builds from the replayed registers
    (hw/pci/pci_bridge.c pci_bridge_region_init) print as in ``info mtree``."""
    name, vm = case
    replay_firmware(vm, read_config(name, "config_post.txt"))
    real = _alias_lines((FIX / name / "info_mtree.txt").read_text().splitlines())
    spaces = [([], vm.pci_memory), ([], vm.system_io)]
    spaces += [([], d.sec_bus.address_space_mem) for d in vm.pci_devices() if isinstance(d, PCIBridge)]
    spaces += [([], d.sec_bus.address_space_io) for d in vm.pci_devices() if isinstance(d, PCIBridge)]
    mine = _alias_lines(format_mtree(spaces).splitlines())
    # windows of bridges SeaBIOS never reached (no function 0) are absent
    # from the real tree only if the bridge itself is unreachable
    assert mine == real, (name, sorted(mine ^ real))


# ---------------------------------------------------------------------------
# unit rules from the source
# ---------------------------------------------------------------------------

def test_registry_and_errors():
    with pytest.raises(UnsupportedOption) as e:
        D.create_device("cirrus-vga", "x", {})
    assert "-device cirrus-vga" in str(e.value) and "edu" in e.value.supported
    with pytest.raises(UnsupportedOption) as e:
        D.create_device("ICH9-LPC", "", {})
    assert "machine" in str(e.value)
    with pytest.raises(DeviceError) as e:
        D.create_device("edu", "e0", {"bogus": "1"})
    assert e.value.field == "bogus" and "e0" in e.value.device
    with pytest.raises(DeviceError) as e:
        D.create_device("pcie-root-port", "rp", {"chassis": "many"})
    assert e.value.field == "chassis"
    with pytest.raises(DeviceError) as e:
        D.create_device("pcie-root-port", "rp", {"chassis": "300"})
    assert "out of range" in e.value.why
    with pytest.raises(DeviceError) as e:
        D.create_device("edu", "e", {"addr": "0x20"})
    assert e.value.field == "addr"
    with pytest.raises(DeviceError):
        D.create_device("e1000e", "n", {"romsize": "3000"})
    with pytest.raises(DeviceError):
        D.create_device("virtio-net-pci-transitional", "v", {"disable-legacy": "on"})
    assert all(issubclass(c, D.QemuPCIDevice) for c in D.DEVICE_TYPES.values())


def test_addr_property():
    # QEMU set_pci_devfn: hex slot[.function]
    assert D.parse_pci_devfn("0x5") == 5 << 3
    assert D.parse_pci_devfn("1f.2") == 0xFA
    assert D.parse_pci_devfn("0x9.0x1") == 0x49
    dev = D.create_device("edu", "e", {"addr": "3", "bus": "rp1"})
    assert dev.requested_devfn == 0x18 and dev.requested_bus == "rp1"


def test_ivshmem_memdev_errors():
    vm = new_vm("q35")
    with pytest.raises(DeviceError) as e:
        add(vm, D.create_device("ivshmem-plain", "i0", {}))
    assert e.value.field == "memdev"
    vm = new_vm("q35")
    with pytest.raises(DeviceError) as e:
        add(vm, D.create_device("ivshmem-plain", "i0", {"memdev": "m9"}))
    assert "m9" in e.value.why
    vm = new_vm("q35")
    vm.memdevs["m0"] = vm.alloc_ram(MemoryRegion.init_ram("m0", 1 << 20))
    add(vm, D.create_device("ivshmem-plain", "i0", {"memdev": "m0"}))
    with pytest.raises(DeviceError) as e:
        add(vm, D.create_device("ivshmem-plain", "i1", {"memdev": "m0"}))
    assert "busy" in e.value.why
    # a BAR must be a power of two (hw/pci/pci.c pci_register_bar)
    vm = new_vm("q35")
    vm.memdevs["m3"] = vm.alloc_ram(MemoryRegion.init_ram("m3", 3 << 20))
    with pytest.raises(DeviceError):
        add(vm, D.create_device("ivshmem-plain", "i0", {"memdev": "m3"}))


def test_device_property_errors():
    vm = new_vm("pc")
    with pytest.raises(DeviceError) as e:
        add(vm, D.create_device("nvme", "n", {}))
    assert e.value.field == "serial"
    with pytest.raises(DeviceError) as e:
        add(new_vm("pc"), D.create_device("pci-bridge", "b", {}))
    assert e.value.field == "chassis_nr"
    with pytest.raises(DeviceError):
        add(new_vm("pc"), D.create_device("bochs-display", "d", {"vgamem": "1M"}))
    with pytest.raises(DeviceError):
        add(new_vm("pc"), D.create_device("virtio-net-pci", "v",
                                          {"disable-legacy": "on", "disable-modern": "on"}))
    with pytest.raises(DeviceError):
        add(new_vm("q35"), D.create_device("pcie-root-port", "r",
                                           {"pref32-reserve": "1M", "pref64-reserve": "1M"}))
    vm = new_vm("q35")
    add(vm, D.create_device("pcie-root-port", "r1", {"chassis": "1", "slot": "1"}))
    with pytest.raises(DeviceError) as e:
        add(vm, D.create_device("pcie-root-port", "r2", {"chassis": "1", "slot": "1"}))
    assert "chassis" in e.value.why
    with pytest.raises(DeviceError) as e:
        add(new_vm("pc"), D.create_device("e1000e", "n", {"romfile": "nosuch.rom"}))
    assert e.value.field == "romfile"


def test_rom_rules():
    """hw/pci/pci.c pci_add_option_rom: pow2ceil(file size), <vmsd>.rom,
    rombar=0 -> fw_cfg (vgaroms/ for class 0x0300), romsize= overrides."""
    vm = new_vm("pc")
    e = add(vm, D.create_device("e1000e", "a", {}))
    assert (e.rom.name, e.rom.size) == ("e1000e.rom", 0x40000)
    v = add(vm, D.create_device("VGA", "v", {"rombar": "0"}))
    assert v.rom is None and v.io_regions[6] is None and v.fw_cfg_rom == "vgaroms/vgabios-stdvga.bin"
    n = add(vm, D.create_device("e1000e", "b", {"rombar": "0"}))
    assert n.rom is None and n.fw_cfg_rom == "genroms/efi-e1000e.rom"
    x = add(vm, D.create_device("virtio-net-pci", "c", {"romfile": ""}))
    assert x.rom is None and x.fw_cfg_rom is None
    y = add(vm, D.create_device("e1000e", "d", {"romsize": "0x100000"}))
    assert y.rom.size == 0x100000
    with pytest.raises(DeviceError):
        add(vm, D.create_device("e1000e", "f", {"romfile": "efi-e1000e.rom", "romsize": "4096"}))
    z = add(vm, D.create_device("edu", "g", {"romfile": "/usr/share/seabios/vgabios-stdvga.bin"}))
    assert (z.rom.name, z.rom.size) == ("edu.rom", 0x10000)


@pytest.mark.parametrize("fname", sorted(D.ROM_FILE_SIZES))
def test_rom_file_sizes_match_this_machine(fname):
    for d in D._FIRMWARE_DIRS:
        p = os.path.join(d, fname)
        if os.path.exists(p):
            assert os.path.getsize(os.path.realpath(p)) == D.ROM_FILE_SIZES[fname]
            return
    pytest.skip(f"{fname} not installed here")


def test_msix_exclusive_bar_sizes():
    """hw/pci/msix.c msix_init_exclusive_bar: 4 KiB with the PBA at 2 KiB up
    to 128 vectors; beyond, the PBA follows the table and the BAR is rounded
    up to a power of two."""
    for n, bar, pba in ((1, 4096, 2048), (128, 4096, 2048), (129, 4096, 129 * 16),
                        (256, 8192, 4096), (2048, 65536, 32768)):
        vm = new_vm("q35")
        dev = add(vm, D.create_device("virtio-net-pci", "v", {"vectors": str(n)}))
        mr = dev.io_regions[1].memory
        assert (mr.name, mr.size) == ("virtio-net-pci-msix", bar)
        assert mr.find("msix-pba").addr == pba
        assert mr.find("msix-table").size == n * 16
        assert mr.find("msix-pba").size == (n + 63) // 64 * 8
        cap = dev.msix_cap
        assert struct.unpack_from("<HII", dev.config, cap + 2) == (n - 1, 1, pba | 1)


def test_msix_init_checks():
    vm = new_vm("q35")
    dev = add(vm, D.create_device("edu", "e", {}))
    bar = MemoryRegion.init_container("x", 4096)
    with pytest.raises(DeviceError):
        D.msix_init(dev, 0, bar, 0, 0, bar, 0, 2048)
    with pytest.raises(DeviceError):                    # overlap
        D.msix_init(dev, 8, bar, 0, 0, bar, 0, 64)
    with pytest.raises(DeviceError):                    # not 8-byte aligned
        D.msix_init(dev, 8, bar, 0, 4, bar, 0, 2048)
    with pytest.raises(DeviceError):                    # does not fit
        D.msix_init(dev, 300, bar, 0, 0, bar, 0, 2048)
    pos = D.msix_init(dev, 8, bar, 2, 0, bar, 2, 2048)
    assert dev.config[pos] == 0x11 and dev.wmask[pos + 3] == 0xC0


def test_root_port_io_reserve_zero_freezes_io_window():
    """gen_rp_realize with io-reserve=0: I/O base/limit and the command
    register's I/O bit are read-only (the real rp1 of q35-variants shows the
    disabled window 0xf000..0x0fff after SeaBIOS)."""
    vm = new_vm("q35")
    rp = add(vm, D.create_device("pcie-root-port", "rp", {"chassis": "1", "io-reserve": "0"}))
    rp.reset()
    rp.config_write(0x1c, 0x2010, 2)
    rp.config_write(0x04, 0x0007, 2)
    assert rp.config[0x1c] == 0xF0 and rp.config[0x1d] == 0x00
    assert rp.command & 1 == 0
    real = next(d for d in read_info_pci("q35-variants") if d["id"] == "rp1")
    assert real["bars"][0][0] == "mem32"


def test_virtio_modes():
    """virtio_pci_realize: disable-legacy=auto is 'on' only on a PCIe non-root
    bus; modern-only devices are 1af4:1041 rev 1 without BAR0."""
    vm = new_vm("q35")
    root = add(vm, D.create_device("virtio-net-pci", "a", {}))
    rp = add(vm, D.create_device("pcie-root-port", "rp", {"chassis": "1"}))
    behind = add(vm, D.create_device("virtio-net-pci", "b", {}), bus=rp.sec_bus)
    assert root.config[2:4] == b"\x00\x10" and root.io_regions[0] is not None
    assert not root.is_express and len(root.config) == 256
    assert behind.config[2:4] == b"\x41\x10" and behind.io_regions[0] is None
    assert behind.is_express and len(behind.config) == 4096
    pc = new_vm("pc")
    assert add(pc, D.create_device("virtio-net-pci", "c", {})).io_regions[0].size == 32
