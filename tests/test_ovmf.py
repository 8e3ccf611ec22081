"""OVMF's PCI placement against real runs (data/ovmf/) and edk2's source.

Expected values: the real QEMU + Debian OVMF captures in data/ovmf/ (each
folder's meta.json says which QEMU binary and OVMF build made it; see
data/ovmf/README.md), and for the platform rules the formulas of
tianocore/edk2 at edk2-stable202211 / edk2-stable202502, worked by hand in
each test (file and function named there).
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from vfiolab.errors import ConfigError
from vfiolab.inputs.cmdline import parse_qemu_args
from vfiolab.inputs.mtree import flatview_for, parse_mtree_flat
from vfiolab.inputs.pci import parse_info_pci
from vfiolab.model.firmware.ovmf import OvmfPlatform, platform_apertures
from vfiolab.predict import predict

DATA = Path(__file__).resolve().parent.parent / "data" / "ovmf"
REFS = sorted(p for p in DATA.iterdir() if (p / "meta.json").exists())
GiB = 1 << 30


def _meta(ref: Path) -> dict:
    return json.loads((ref / "meta.json").read_text())


def _predict(ref: Path):
    meta = _meta(ref)
    fw = "ovmf-" + meta["firmware_dir"].rstrip("/").rsplit("ovmf-", 1)[1]
    qemu = meta["qemu_version"]["qemu"]
    return predict(meta["args"], firmware=fw, qemu=f"{qemu['major']}.{qemu['minor']}",
                   accel="tcg", cpu_vendor="AuthenticAMD", phys_bits=48)


@pytest.fixture(scope="module", params=REFS, ids=lambda p: p.name)
def pair(request):
    ref = request.param
    return ref, parse_info_pci((ref / "info_pci.txt").read_text()), _predict(ref)


def test_there_are_enough_references():
    assert len(REFS) >= 8


def test_every_bar(pair):
    """Every BAR of every function, chipset included: the address real OVMF
    gave it (None: not mapped), and its size where ``info pci`` prints one."""
    ref, real, pred = pair
    want = {(d.bdf, b.bar): (b.address, b.size) for d in real for b in d.bars}
    got = {(d.bdf, b.bar): (b.address, b.size) for d in pred.devices() for b in d.bars}
    assert set(got) == set(want)
    for k, (addr, size) in want.items():
        assert got[k][0] == addr, (k, addr, got[k][0])
        if size:                  # QEMU >= 9.2 prints no size for an unmapped BAR
            assert got[k][1] == size, k


def test_bridge_windows(pair):
    ref, real, pred = pair
    names = {"io_range": "io", "memory_range": "memory", "prefetchable_range": "prefetchable memory"}
    want = {d.bdf: {names[k]: v for k, v in d.windows.items()} for d in real if d.windows}
    got = {d.bdf: d.windows for d in pred.devices() if d.windows}
    assert got == want
    bus = {d.bdf: (d.secondary_bus, d.subordinate_bus) for d in real if d.windows}
    assert {d.bdf: (d.secondary_bus, d.subordinate_bus) for d in pred.devices() if d.windows} == bus


def _rows(sections):
    return [(s.start, s.end, s.kind, s.prio, s.name, s.offset or None) for s in sections]


def test_flatview_memory(pair):
    """The whole flat view of "memory" (``info mtree -f``): RAM, the flash
    units and isa-bios, MMCONFIG, the RCRB, every BAR as mapped, the
    interrupt controllers, and below 1 MiB the VGA window as QemuVideoDxe's
    Bochs mode leaves it (vga.vram's chain-4 window at 0xa0000-0xaffff,
    vga-lowmem above; bochs-display has none).  No memslots under TCG."""
    ref, real, pred = pair
    want = _rows(flatview_for(parse_mtree_flat((ref / "info_mtree_f.txt").read_text()),
                              "memory").sections)
    got = _rows(pred.sections())
    assert got == want
    assert pred.memslots() == [] or pred.stack.accel != "tcg"


def _tree_block(text: str, head: str) -> list[str]:
    """One block of ``info mtree`` (``address-space: memory``, ``memory-region:
    pci``) up to its blank line; the region lines only."""
    out, inside = [], False
    for line in text.splitlines():
        if line == head:
            inside = True
            continue
        if inside:
            if line == "":
                break
            out.append(line)
    return out


@pytest.mark.parametrize("head", ["address-space: memory", "memory-region: pci"])
def test_info_mtree_tree(pair, head):
    """``info mtree`` as the real run printed it at the boot manager: the
    system-memory tree (RAM aliases, the flash units in system memory,
    isa-bios, PAM aliases, the VGA window) and the PCI space with every BAR
    region and bridge window, line for line."""
    ref, real, pred = pair
    want = _tree_block((ref / "info_mtree.txt").read_text(), head)
    assert want, f"{ref.name}: no {head!r} block"
    assert _tree_block(pred.mtree(), head) == want


def test_boot_manager_and_unassigned(pair):
    """Where real OVMF never reached the boot manager, the prediction says
    it stopped and every BAR is unassigned in the JSON."""
    ref, real, pred = pair
    reached = _meta(ref)["boot_manager_reached"]
    assert bool(getattr(pred.vm.firmware, "stopped", False)) == (not reached)
    if not reached:
        j = pred.to_json()
        bars = [b for d in j["devices"] for b in d["bars"]]
        assert bars and all(b["address"] is None and b.get("unassigned") for b in bars)
        assert j["firmware_notes"]


# --- platform rules, from the source -------------------------------------------

def test_q35_32bit_aperture_by_version():
    """Platform.c PlatformMemMapInitialization: 2022.11 q35 [0xB0000000 +
    256 MiB, 0xFC000000); 2025.02 q35 [4G - pow2floor(4G - 1G) = 2G,
    0xE0000000) with MMCONFIG at 0xE0000000."""
    a = platform_apertures(OvmfPlatform("q35", 1 * GiB, version="2022.11"))
    assert (a.mmconfig_base, a.mem32_base, a.mem32_limit) == (0xB0000000, 0xC0000000, 0xFBFFFFFF)
    b = platform_apertures(OvmfPlatform("q35", 1 * GiB, version="2025.02"))
    assert (b.mmconfig_base, b.mem32_base, b.mem32_limit) == (0xE0000000, 0x80000000, 0xDFFFFFFF)
    # pc with 3 GiB below 4 GiB: 4G - pow2floor(1G) = 0xC0000000 (MemDetect.c
    # PlatformQemuUc32BaseInitialization)
    c = platform_apertures(OvmfPlatform("pc", 3 * GiB, version="2022.11"))
    assert (c.mem32_base, c.io_base) == (0xC0000000, 0xC000)


def test_64bit_window_rules():
    """MemDetect.c: AMD 39 bits is not trusted -> classic 32 GiB window at
    ALIGN(4G, 1G) aligned to 32G = 0x800000000; AMD 40 trusted -> dynamic
    2^37 at 2^40 - 2^37 = 0xE000000000; 2025.02 moves it below the e820 HT
    hole: (0xFD00000000 - 2^37) & ~(2^37 - 1) = 0xC000000000; 46 bits
    without 1 GiB pages is capped at 40."""
    a = platform_apertures(OvmfPlatform("q35", GiB, phys_bits=39, version="2022.11"))
    assert (a.window, a.mem64_base, a.mem64_size) == ("classic", 0x800000000, 32 * GiB)
    b = platform_apertures(OvmfPlatform("q35", GiB, phys_bits=40, version="2022.11",
                                        e820_reserved=[(0xFD00000000, 0x300000000)]))
    assert (b.window, b.mem64_base, b.mem64_size) == ("dynamic", 0xE000000000, 1 << 37)
    c = platform_apertures(OvmfPlatform("q35", GiB, phys_bits=40, version="2025.02",
                                        e820_reserved=[(0xFD00000000, 0x300000000)]))
    assert (c.mem64_base, c.moved_from) == (0xC000000000, 0xE000000000)
    d = platform_apertures(OvmfPlatform("q35", GiB, phys_bits=46, version="2025.02"))
    assert d.phys_bits == 40
    e = platform_apertures(OvmfPlatform("q35", GiB, phys_bits=46, page1g=True, version="2025.02"))
    assert (e.phys_bits, e.mem64_base, e.mem64_size) == (46, (1 << 46) - (1 << 43), 1 << 43)
    f = platform_apertures(OvmfPlatform("q35", GiB, phys_bits=39, pci_mmio64_mb=65536,
                                        version="2022.11"))
    assert (f.mem64_base, f.mem64_size) == (64 * GiB, 64 * GiB)


# --- the command line -------------------------------------------------------------

PFLASH = ["-drive", "if=pflash,format=raw,unit=0,readonly=on,file=/x/OVMF_CODE_4M.fd",
          "-drive", "if=pflash,format=raw,unit=1,file=/x/OVMF_VARS_4M.fd"]


def test_pflash_recorded():
    cfg = parse_qemu_args(["-machine", "q35", *PFLASH])
    assert [(f["unit"], f["readonly"]) for f in cfg.pflash] == [(0, True), (1, False)]
    assert cfg.firmware_kind == "ovmf"


def test_blockdev_pflash_recorded():
    args = ["-blockdev", "driver=file,filename=/usr/share/OVMF/OVMF_CODE_4M.fd,node-name=c0,read-only=on",
            "-blockdev", "driver=raw,file=c0,node-name=c1,read-only=on",
            "-blockdev", "driver=file,filename=/tmp/v.fd,node-name=v0",
            "-blockdev", "driver=raw,file=v0,node-name=v1",
            "-machine", "q35,pflash0=c1,pflash1=v1"]
    cfg = parse_qemu_args(args)
    assert [(f["unit"], f["file"]) for f in cfg.pflash] == [
        (0, "/usr/share/OVMF/OVMF_CODE_4M.fd"), (1, "/tmp/v.fd")]


def test_pflash_with_seabios_stack_is_refused():
    with pytest.raises(ConfigError, match="--firmware ovmf-2022.11"):
        predict(["-machine", "q35", "-accel", "tcg", *PFLASH], firmware="seabios-1.16.2")


def test_ovmf_stack_without_pflash_is_refused():
    with pytest.raises(ConfigError, match="no OVMF flash"):
        predict(["-machine", "q35", "-accel", "tcg"], firmware="ovmf-2022.11")


def test_unknown_bios_is_refused():
    with pytest.raises(ConfigError, match="does not know"):
        predict(["-machine", "q35", "-bios", "/x/coreboot.rom"], firmware="seabios-1.16.2")


def test_smallest_knobs_make_the_real_firmware_assign_everything():
    """For the 256 GiB BAR that does not fit (q35-1G-pb40-ivshmem-256G), the
    model's smallest knobs are X-PciMmio64Mb=262144 and phys-bits=41 with
    pdpe1gb; both, applied to real QEMU + OVMF 2025.02, reach the boot
    manager with every BAR assigned (the references ...-X256G-... and
    ...-pb41-1g-..., checked BAR by BAR by test_every_bar)."""
    pred = _predict(DATA / "q35-1G-pb40-ivshmem-256G-2025.02-qemu10.0")
    knobs = pred.vm.firmware.knobs
    assert knobs[0].startswith("-fw_cfg name=opt/ovmf/X-PciMmio64Mb,string=262144 ")
    assert knobs[1].startswith("-cpu ...,phys-bits=41,pdpe1gb=on ")
    for name in ("q35-1G-pb40-ivshmem-256G-X256G-2025.02-qemu10.0",
                 "q35-1G-pb41-1g-ivshmem-256G-2025.02-qemu10.0"):
        meta = _meta(DATA / name)
        assert meta["boot_manager_reached"]
        real = parse_info_pci((DATA / name / "info_pci.txt").read_text())
        assert all(b.address is not None for d in real for b in d.bars if b.bar != 6)


def test_interrupt_lines(pair):
    """``IRQ n, pin X`` of every function as real OVMF left it
    (BdsPlatform.c SetPciIntLine; nothing when PCI set-up gave up)."""
    ref, real, pred = pair
    want = {d.bdf: (d.irq, d.pin) for d in real}
    got = {d.bdf: (d.irq, d.pin) for d in parse_info_pci(pred.info_pci())}
    assert got == want


def test_bios_ovmf_image_recorded():
    cfg = parse_qemu_args(["-machine", "q35", "-bios", "/usr/share/ovmf/OVMF.fd"])
    assert cfg.firmware_kind == "ovmf" and cfg.pflash == []
    with pytest.raises(ConfigError, match="--firmware ovmf-2022.11"):
        predict(["-machine", "q35", "-bios", "/nonexistent/OVMF.fd"], firmware="seabios-1.16.2")


def test_1g_pages_spellings():
    """pdpe1gb=on and +pdpe1gb both give 1 GiB pages, so phys-bits 46 is not
    capped at 40 (MemDetect.c PlatformAddressWidthFromCpuid)."""
    for cpu in ("qemu64,phys-bits=46,pdpe1gb=on", "qemu64,+pdpe1gb,phys-bits=46"):
        p = predict(["-machine", "q35", "-accel", "tcg", "-cpu", cpu, *PFLASH],
                    firmware="ovmf-2025.02", qemu="10.0")
        assert p.vm.firmware.apertures.phys_bits == 46


def test_fourteen_root_ports_lose_padding_not_the_boot():
    """data/ovmf/q35-2G-14rp-*: with virt-manager's fourteen empty root ports,
    OVMF 2022.11's I/O padding (4 KiB windows in a 0x6000-0xffff aperture)
    does not fit: PciBusDxe (PciEnumerator.c PciHostBridgeAdjustAllocation,
    GetMaxResourceConsumerDevice: of equal consumers the later-listed) drops
    the padding of four ports and goes on; real OVMF boots."""
    ref = DATA / "q35-2G-14rp-2022.11-qemu7.2"
    meta = json.loads((ref / "meta.json").read_text())
    assert meta["boot_manager_reached"] is True
    real = (ref / "info_pci.txt").read_text()
    assert real.count("IO range [0xf000, 0x0fff]") == 4      # closed: 4 ports without windows
    # and the model says so (the loop above compares every BAR and window)
    from vfiolab.predict import predict
    args = (ref / "command.txt").read_text().split()
    fw = "/tmp/vfiolab-stack/L/ovmf-2022.11"
    p = predict([a.replace("@FW@", fw).replace("@TMP@", fw) for a in args],
                firmware="ovmf-2022.11", cpu_vendor="AuthenticAMD", phys_bits=48)
    assert not p.vm.firmware.stopped and p.info_pci() == real


# --- QemuVideoDxe and QEMU's legacy VGA window -------------------------------

def _ovmf_vm(ref_name: str, *extra: str, qemu: str = "10.0", fw: str = "ovmf-2025.02",
             drop_from: str | None = None):
    """A prediction from a capture's command line, optionally cut at the
    first argument ``drop_from`` and extended with ``extra``."""
    args = list(_meta(DATA / ref_name)["args"])
    if drop_from is not None:
        args = args[:args.index(drop_from)]
    return predict(args + list(extra), firmware=fw, qemu=qemu, accel="tcg",
                   cpu_vendor="AuthenticAMD", phys_bits=48)


def _low(pred):
    return [(s.start, s.end, s.kind, s.prio, s.name, s.offset or None)
            for s in pred.sections() if 0xa0000 <= s.start < 0xc0000]


def test_vbe_registers_and_chain4_window():
    """QEMU hw/display/vga.c (v7.2.0 = v10.0.0): ``vbe_ioport_write_data``
    and ``vga_update_memory_access``.  On a VGA that no firmware touched
    (SeaBIOS's VGA BIOS sets text mode 3, no chain-4): ENABLE with 4 bpp
    leaves sr_vbe without chain-4, so no window; a BPP write runs
    ``vbe_update_vgaregs`` (chain-4, all planes, memory map 1) but not
    ``vga_update_memory_access``, so the window comes only with the next
    BANK write: 64 KiB of vga.vram at 0xa0000 from bank_offset = bank <<
    16, priority 2; ENABLE off drops it (``sr`` is read again)."""
    pred = predict(["-machine", "pc", "-m", "512M", "-nodefaults", "-device", "VGA,id=v"],
                   accel="tcg")
    vm = pred.vm
    vga = next(d for d in vm.pci_devices() if d.type_name == "VGA")
    b, f = vga.bus.number, vga.devfn
    assert vga.vga.chain4_alias is None
    vm.vbe_write(b, f, 3, 4)                 # BPP 4
    vm.vbe_write(b, f, 4, 0x41)              # ENABLE | LFB
    assert vga.vga.chain4_alias is None
    vm.vbe_write(b, f, 3, 32)                # BPP 32: registers only
    assert vga.vga.chain4_alias is None
    vm.vbe_write(b, f, 5, 1)                 # BANK 1
    a = vga.vga.chain4_alias
    assert (a.name, a.addr, a.size, a.alias_offset, a.priority) == \
        ("vga.chain4", 0xa0000, 0x10000, 0x10000, 2)
    assert _low(pred) == [(0xa0000, 0xaffff, "ram", 1, "vga.vram", 0x10000),
                          (0xb0000, 0xbffff, "i/o", 1, "vga-lowmem", 0x10000)]
    vm.vbe_write(b, f, 4, 0)                 # VBE off
    assert vga.vga.chain4_alias is None
    assert _low(pred) == [(0xa0000, 0xbffff, "i/o", 1, "vga-lowmem", None)]


OWNER_REFS = [p for p in REFS if (p / "info_mtree_o.txt").exists()]


@pytest.mark.parametrize("ref", OWNER_REFS, ids=lambda p: p.name)
def test_chain4_window_owner(ref):
    """Which device's vga.vram the chain-4 window shows: the owner ``info
    mtree -o`` prints on the ``vga.chain4`` alias.  In
    q35-1G-2vga-2025.02-qemu7.2 (qxl-vga 00:02.0, VGA 00:03.0,
    bochs-display 00:04.0) QemuVideoDxe starts on qxl-vga (first VGA
    function: PciIo.c ``LocateVgaDeviceOnHostBridge`` refuses the second)
    and drives it through ports 0x1ce/0x1cf, which the VGA added later
    answers; q35-1G-2stdvga-2025.02-qemu10.0 shows the order (the first VGA
    owns the window)."""
    import re
    text = (ref / "info_mtree_o.txt").read_text()
    want = sorted(set(re.findall(r"alias vga\.chain4 .* owner:\{dev id=([^}]+)\}", text)))
    pred = _predict(ref)
    got = sorted(d.qdev_id for d in pred.vm.pci_devices()
                 if getattr(getattr(d, "vga", None), "chain4_alias", None) is not None)
    assert got == want


def test_qemu_video_started_cards():
    """The functions QemuVideoDxe starts (Driver.c gQemuVideoCardList, the
    VGA attributes to the first VGA function only; bochs-display through
    the "secondary" entry) in the two-VGA capture."""
    pred = _predict(DATA / "q35-1G-2vga-2025.02-qemu7.2")
    assert pred.vm.firmware.video == [("00:02.0", "QEMU QXL VGA"),
                                      ("00:04.0", "QEMU Standard VGA (secondary)")]


def test_qemu_video_sets_vga_enable_on_bridges():
    """PciIo.c ``PciIoAttributes``: enabling VGA_MEMORY | VGA_IO_16 on a
    function behind a bridge enables them on every bridge above it, which
    sets VGA Enable (0x08) and VGA 16-bit decode (0x10) in its bridge
    control register (0x3e); OVMF's root bridge supports both
    (OvmfPkg PciHostBridgeLib.c) and mReserveVgaAliases is FALSE."""
    pred = _ovmf_vm("q35-1G-virtio-vga-2025.02-qemu10.0",
                    "-device", "pcie-root-port,id=rp1,chassis=1,slot=1",
                    "-device", "VGA,id=v,bus=rp1", drop_from="-device")
    rp = next(d for d in pred.vm.pci_devices() if d.type_name == "pcie-root-port")
    assert rp.config_read(0x3e, 2) & 0x18 == 0x18
    assert pred.vm.firmware.video == [("01:00.0", "QEMU Standard VGA")]


def test_no_window_without_qemu_video():
    """virtio-gpu-pci (class 0x0380, 1af4:1050) is not in gQemuVideoCardList
    (Virtio10Dxe/VirtioGpuDxe drive it) and has no VGA core; a stopped
    firmware starts no driver: 0xa0000-0xbffff of a VGA stays vga-lowmem."""
    pred = _ovmf_vm("q35-1G-virtio-vga-2025.02-qemu10.0", "-device", "virtio-gpu-pci,id=g",
                    drop_from="-device")
    assert pred.vm.firmware.video == []
    assert _low(pred) == []
    stopped = _ovmf_vm("q35-1G-pb39-ivshmem-64G-2022.11-qemu7.2", "-device", "VGA,id=v",
                       qemu="7.2", fw="ovmf-2022.11")
    assert stopped.vm.firmware.stopped and stopped.vm.firmware.video == []
    assert _low(stopped) == [(0xa0000, 0xbffff, "i/o", 1, "vga-lowmem", None)]


def test_passed_through_vga_first_is_reported():
    """A passed-through GPU of class 0x0300 (RTX 6000 Ada, data/devices) is
    not in gQemuVideoCardList; its own UEFI driver comes from its option ROM
    and is not modelled.  Connected before the emulated VGA (PciBusDxe order,
    BdsPlatform.c ``DetectAndPreparePlatformPciDevicePath``) it could take
    the VGA attributes first, so the prediction says what it assumed; after
    the VGA it cannot, and there is no note."""
    host = {"0000:01:00.0": "data/devices/gpu-nvidia-rtx6000-ada"}
    args = list(_meta(DATA / "q35-1G-virtio-vga-2025.02-qemu10.0")["args"])
    args = args[:args.index("-device")]
    for gpu, vga, noted in (("2", "3", True), ("3", "2", False)):
        pred = predict(args + ["-device", f"vfio-pci,host=0000:01:00.0,id=pt0,addr={gpu}",
                               "-device", f"VGA,id=v,addr={vga}"],
                       firmware="ovmf-2025.02", qemu="10.0", accel="tcg",
                       cpu_vendor="AuthenticAMD", phys_bits=48, host_devices=host)
        fw = pred.vm.firmware
        assert fw.video == [(f"00:0{vga}.0", "QEMU Standard VGA")]
        notes = [n for n in fw.notes if "legacy VGA resources" in n]
        assert bool(notes) == noted
        if noted:
            assert "00:02.0 come first" in notes[0]


def test_reservation_knob_keeps_every_ports_padding():
    """For q35-2G-14rp-2022.11 (I/O padding of four ports dropped) the
    model's smallest reservation knob is io-reserve=0 on every
    pcie-root-port (OvmfPkg PciHotPlugInit.c GetResourcePadding: Io 0 =
    no I/O padding; QEMU gen_rp_realize: the I/O window read-only).
    Applied to real QEMU + OVMF 2022.11 (q35-2G-14rp-ioreserve0-*) every
    port keeps its memory and prefetchable windows (compared BAR by BAR and
    window by window by test_every_bar/test_bridge_windows) and no padding
    is dropped, as the model predicts for that command line."""
    pred = _predict(DATA / "q35-2G-14rp-2022.11-qemu7.2")
    assert pred.vm.firmware.knobs[0].startswith("-global pcie-root-port.io-reserve=0 ")
    ref = DATA / "q35-2G-14rp-ioreserve0-2022.11-qemu7.2"
    assert _meta(ref)["boot_manager_reached"]
    assert "-global pcie-root-port.io-reserve=0" in (ref / "command.txt").read_text()
    real = parse_info_pci((ref / "info_pci.txt").read_text())
    ports = [d for d in real if d.windows]
    assert len(ports) == 14
    assert all(d.windows["memory_range"][0] <= d.windows["memory_range"][1] and
               d.windows["prefetchable_range"][0] <= d.windows["prefetchable_range"][1]
               for d in ports)
    after = _predict(ref).vm.firmware
    assert after.knobs == [] and not any("padding dropped" in n for n in after.notes)


def test_root_bus_functions_are_never_rejected():
    """PciEnumerator.c IsRejectiveDevice (edk2-stable202211 = 202502): a
    function on bus 0 or a VGA controller is never the consumer
    PciHostBridgeAdjustAllocation rejects.  q35-1G-8rp-displays-2025.02
    (32-bit display BARs of 1.5 GiB in the 1.5 GiB 32-bit window, eight
    root ports with 2 MiB padding): real OVMF drops the padding of the
    later-listed equal consumer, rp1 at 00:01.0 (no windows), and assigns
    every display, not the 512 MiB VGA BAR (the largest consumer)."""
    ref = DATA / "q35-1G-8rp-displays-2025.02-qemu7.2"
    real = {d.bdf: d for d in parse_info_pci((ref / "info_pci.txt").read_text())}
    assert real["00:01.0"].windows["memory_range"] == (0xfff00000, 0x000fffff)
    assert real["00:09.0"].bars[0].address == 0x80000000
    fw = _predict(ref).vm.firmware
    assert [(b, t) for b, t, _ in fw.padding_dropped] == [("00:01.0", "mem32")]
    assert fw.unassigned == [] and not fw.stopped


def test_mem_reserve_knob_makes_every_padding_fit():
    """For that machine the model's reservation knob is mem-reserve=0 on
    every pcie-root-port (PciHotPlugInit.c GetResourcePadding:
    NonPrefetchable32BitMmio 0 = no 32-bit padding); applied to real QEMU +
    OVMF 2025.02 (q35-1G-8rp-displays-memreserve0-*) nothing is rejected:
    every port keeps its prefetchable window, every display its BARs."""
    pred = _predict(DATA / "q35-1G-8rp-displays-2025.02-qemu7.2")
    assert pred.vm.firmware.knobs == [
        "-global pcie-root-port.mem-reserve=0 (no 32-bit memory padding on the 8 hot-plug "
        "root ports, so everything fits)"]
    ref = DATA / "q35-1G-8rp-displays-memreserve0-2025.02-qemu7.2"
    assert "-global pcie-root-port.mem-reserve=0" in (ref / "command.txt").read_text()
    real = parse_info_pci((ref / "info_pci.txt").read_text())
    ports = [d for d in real if d.windows]
    assert len(ports) == 8 and all(
        d.windows["prefetchable_range"][0] <= d.windows["prefetchable_range"][1] for d in ports)
    assert all(b.address is not None for d in real for b in d.bars if b.bar != 6)
    after = _predict(ref).vm.firmware
    assert after.knobs == [] and after.padding_dropped == []


def test_64bit_rejection_behind_a_bridge_still_stops():
    """Read from the source (PciEnumerator.c IsRejectiveDevice), a 64 GiB
    BAR behind a root port may be rejected and the allocation go on; the
    real run q35-1G-pb39-rp-ivshmem-64G-2022.11 gives up as when the BAR is
    on the root bus (no boot manager, no BAR), and the model follows it
    (test_boot_manager_and_unassigned).  Its smallest knob,
    X-PciMmio64Mb=65536, applied to the real firmware (...-X64G-...),
    reaches the boot manager with the BAR in the port's window."""
    ref = DATA / "q35-1G-pb39-rp-ivshmem-64G-2022.11-qemu7.2"
    assert _meta(ref)["boot_manager_reached"] is False
    fw = _predict(ref).vm.firmware
    assert fw.stopped
    assert fw.knobs[0].startswith("-fw_cfg name=opt/ovmf/X-PciMmio64Mb,string=65536 ")
    fixed = DATA / "q35-1G-pb39-rp-ivshmem-64G-X64G-2022.11-qemu7.2"
    assert _meta(fixed)["boot_manager_reached"] is True
    real = {d.bdf: d for d in parse_info_pci((fixed / "info_pci.txt").read_text())}
    assert real["01:00.0"].bars[1].address == 0x1000000000
