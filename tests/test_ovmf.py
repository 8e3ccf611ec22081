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
    interrupt controllers.  No memslots under TCG."""
    ref, real, pred = pair
    want = _rows(flatview_for(parse_mtree_flat((ref / "info_mtree_f.txt").read_text()),
                              "memory").sections)
    got = _rows(pred.sections())
    if any(d.class_id >> 8 == 0x03 for d in pred.vm.pci_devices()):
        # not modelled: QemuVideoDxe sets the card's Bochs VBE mode, which
        # maps the vga.vram chain-4 window over 0xa0000 (QEMU hw/display/vga.c
        # vga_update_memory_access); compare everything else
        want = [r for r in want if not 0xa0000 <= r[0] < 0xc0000]
        got = [r for r in got if not 0xa0000 <= r[0] < 0xc0000]
    assert got == want
    assert pred.memslots() == [] or pred.stack.accel != "tcg"


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
