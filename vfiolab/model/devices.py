"""The emulated PCI devices QEMU 7.2 builds: config header, capabilities, BARs.

Every class here restates what one QEMU 7.2 device does when it is realized
(its ``realize`` function and the helpers it calls) as far as the guest can
see it in PCI config space and in the memory map: identity registers, the
capability list, and each BAR's MemoryRegion tree with the names and sizes
``info mtree`` prints.  The sources are QEMU v7.2.0 (commit b67b00e6b4); each
class and helper names its file and function.

The state modelled is the one the guest finds at power-on, i.e. after
realize *and* the machine reset that follows it (QEMU ``qemu_system_reset``
-> ``pci_do_device_reset`` in hw/pci/pci.c, which clears the command
register, the cache line size and the writable BAR bits, and the device's
own reset handler).  Where a realize function writes a register that reset
clears again (ivshmem's command register, e1000e's and ich9-ahci's cache line
size) the reset value is kept, and the comment says so.

Devices are built as ``Cls(qdev_id, **props)`` with the ``-device``
properties as strings (``memdev="m0"``, ``addr="0x5"``, ``bus="rp1"``);
:func:`create_device` looks the QOM type name up in :data:`DEVICE_TYPES`.
The properties ``addr`` and ``bus`` are parsed (``requested_devfn``,
``requested_bus``) but placing the device is the machine builder's job
(``VM.add_pci_device(dev, bus, devfn)``).  A device that needs a reset after
all devices are plugged (``pcie-root-port``: its slot control register
depends on whether slot 0 of its bus is populated) implements
:meth:`QemuPCIDevice.reset`; call it for every device once the machine is
built, as QEMU resets all devices before the first instruction.

Reusable helpers restating QEMU's capability code: :func:`pci_add_capability`
(hw/pci/pci.c), :func:`msi_init` (hw/pci/msi.c), :func:`msix_init` and
:func:`msix_init_exclusive_bar` (hw/pci/msix.c), :func:`pcie_cap_init` and
friends (hw/pci/pcie.c), :func:`portio_list_add` (softmmu/ioport.c).

Not modelled: register *behaviour* (what a read or write of a BAR register
does inside the device), the contents of AER/ACS/DSN extended capabilities
beyond their headers, the chipset functions' special registers (PAM, SMRAM,
PMBASE, RCBA, PIRQ routing: the machine builder subclasses those classes),
and the legacy I/O ports the chipset functions create outside their BARs
(``ide`` at 0x1f0/0x170, ``piix3-reset-control``, ``lpc-reset-control``).
"""

from __future__ import annotations

import os

from ..addr import GiB, KiB, MiB, align_up, is_pow2, parse_size, pow2ceil
from ..errors import DeviceError, SizeError, UnsupportedOption
from .memory import MemoryRegion
from .pci import (
    PCI_BASE_ADDRESS_MEM_PREFETCH, PCI_BASE_ADDRESS_MEM_TYPE_64, PCI_BASE_ADDRESS_SPACE_IO,
    PCI_BRIDGE_CONTROL, PCI_COMMAND, PCI_COMMAND_IO, PCI_INTERRUPT_PIN, PCI_IO_BASE, PCI_IO_LIMIT, PCI_MEMORY_BASE, PCI_MEMORY_LIMIT,
    PCI_PREF_MEMORY_BASE, PCI_PREF_MEMORY_LIMIT, PCI_ROM_SLOT, PCI_STATUS, PCIBridge, PCIBus,
    PCIDevice,
)

__all__ = [
    # helpers
    "pci_add_capability", "pcie_add_capability", "msi_init", "msix_init",
    "msix_init_exclusive_bar", "pcie_cap_init", "pcie_endpoint_cap_init",
    "pci_bus_is_express", "portio_list_add", "parse_pci_devfn", "ROM_FILE_SIZES",
    # devices
    "QemuPCIDevice", "Edu", "IvshmemPlain", "E1000E", "NVMe", "VirtIONetPCI",
    "VirtIONetPCITransitional", "VirtIONetPCINonTransitional", "VGA", "BochsDisplay",
    "PCIBridgeDev", "PCIERootPort", "VirtIOPCIProxy", "VirtIOBlkPCI", "VirtIOSCSIPCI",
    "VirtIOSerialPCI", "VirtIOBalloonPCI", "VirtIORngPCI", "VirtIO9pPCI", "VirtIOGPUPCI",
    "VirtIOVGA", "VirtIOKeyboardPCI", "VirtIOMousePCI", "VirtIOTabletPCI", "VirtIOInputHostPCI",
    "VHostVsockPCI", "QemuXHCI", "NecXHCI", "UsbEHCI", "ICH9UsbEHCI1", "ICH9UsbEHCI2",
    "IntelHDA", "ICH9IntelHDA", "AC97", "E1000", "RTL8139", "VMXNET3", "MegaSAS", "LSI53C895A",
    "PVPanicPCI", "I6300ESB", "QXL", "QXLVGA", "AHCI", "PCIEPCIBridge", "I82801B11Bridge",
    "IOH3420", "X3130Upstream", "XIO3130Downstream", "ROM_FILE_SIZES_DEBIAN13",
    "I440FX", "PIIX3", "PIIX3IDE", "PIIX4PM", "MCH", "ICH9LPC", "ICH9AHCI", "ICH9SMB",
    # registry
    "DEVICE_TYPES", "CHIPSET_DEVICE_TYPES", "CHILD_DEVICE_TYPES", "NOT_MODELLED_DEVICE_TYPES",
    "create_device",
]

# --- capability ids and layouts (Linux include/uapi/linux/pci_regs.h, QEMU
# include/standard-headers/linux/pci_regs.h) ---------------------------------
PCI_CAP_ID_PM = 0x01
PCI_CAP_ID_SLOTID = 0x04
PCI_CAP_ID_MSI = 0x05
PCI_CAP_ID_VNDR = 0x09
PCI_CAP_ID_SHPC = 0x0C
PCI_CAP_ID_SSVID = 0x0D
PCI_CAP_ID_EXP = 0x10
PCI_CAP_ID_MSIX = 0x11
PCI_CAP_ID_SATA = 0x12
PCI_EXT_CAP_ID_ERR = 0x01
PCI_EXT_CAP_ID_DSN = 0x03
PCI_EXT_CAP_ID_ACS = 0x0D
PCI_EXT_CAP_ID_ATS = 0x0F

PCI_CONFIG_HEADER_SIZE = 0x40
PCI_CONFIG_SPACE_SIZE = 0x100
PCIE_CONFIG_SPACE_SIZE = 0x1000
PCI_CACHE_LINE_SIZE = 0x0C
PCI_SUBSYSTEM_VENDOR_ID = 0x2C
PCI_SUBSYSTEM_ID = 0x2E
PCI_REVISION_ID = 0x08
PCI_CLASS_PROG = 0x09
PCI_VENDOR_ID = 0x00
PCI_DEVICE_ID = 0x02
PCI_SEC_STATUS = 0x1E
PCI_STATUS_CAP_LIST = 0x10
PCI_STATUS_66MHZ = 0x20
PCI_STATUS_FAST_BACK = 0x80

# PM capability (PCI_PM_SIZEOF = 8)
PCI_PM_SIZEOF = 8
PCI_PM_PMC = 2
PCI_PM_CTRL = 4
PCI_PM_CAP_VER_1_1 = 0x0002
PCI_PM_CAP_VER_1_2 = 0x0003
PCI_PM_CAP_DSI = 0x0020
PCI_PM_CTRL_STATE_MASK = 0x0003
PCI_PM_CTRL_NO_SOFT_RESET = 0x0008
PCI_PM_CTRL_PME_ENABLE = 0x0100
PCI_PM_CTRL_DATA_SEL_MASK = 0x1E00
PCI_PM_CTRL_PME_STATUS = 0x8000

# MSI capability
PCI_MSI_FLAGS = 2
PCI_MSI_FLAGS_ENABLE = 0x0001
PCI_MSI_FLAGS_QSIZE = 0x0070
PCI_MSI_FLAGS_64BIT = 0x0080
PCI_MSI_FLAGS_MASKBIT = 0x0100
PCI_MSI_ADDRESS_LO = 4
PCI_MSI_ADDRESS_LO_MASK = 0xFFFFFFFC
PCI_MSI_VECTORS_MAX = 32

# MSI-X capability (QEMU include/hw/pci/msix.h MSIX_CAP_LENGTH)
MSIX_CAP_LENGTH = 12
PCI_MSIX_FLAGS = 2
PCI_MSIX_FLAGS_QSIZE = 0x07FF
PCI_MSIX_FLAGS_ENABLE = 0x8000
PCI_MSIX_FLAGS_MASKALL = 0x4000
PCI_MSIX_TABLE = 4
PCI_MSIX_PBA = 8
PCI_MSIX_FLAGS_BIRMASK = 0x7
PCI_MSIX_ENTRY_SIZE = 16

# PCI Express capability
PCI_EXP_VER1_SIZEOF = 0x14
PCI_EXP_VER2_SIZEOF = 0x3C
PCI_EXP_FLAGS = 0x02
PCI_EXP_FLAGS_VER1 = 1
PCI_EXP_FLAGS_VER2 = 2
PCI_EXP_FLAGS_SLOT = 0x0100
PCI_EXP_TYPE_ENDPOINT = 0x0
PCI_EXP_TYPE_ROOT_PORT = 0x4
PCI_EXP_TYPE_UPSTREAM = 0x5
PCI_EXP_TYPE_DOWNSTREAM = 0x6
PCI_EXP_TYPE_PCI_BRIDGE = 0x7
PCI_EXP_TYPE_RC_END = 0x9
PCI_EXP_DEVCAP = 0x04
PCI_EXP_DEVCAP_RBER = 0x00008000
PCI_EXP_DEVCAP_FLR = 0x10000000
PCI_EXP_DEVCTL = 0x08
PCI_EXP_DEVCTL_CERE = 0x0001
PCI_EXP_DEVCTL_NFERE = 0x0002
PCI_EXP_DEVCTL_FERE = 0x0004
PCI_EXP_DEVCTL_URRE = 0x0008
PCI_EXP_DEVCTL_BCR_FLR = 0x8000
PCI_EXP_DEVSTA = 0x0A
PCI_EXP_LNKCAP = 0x0C
PCI_EXP_LNKCAP_SLS = 0x0000000F
PCI_EXP_LNKCAP_MLW = 0x000003F0
PCI_EXP_LNKCAP_ASPMS_0S = 0x00000400
PCI_EXP_LNKCAP_DLLLARC = 0x00100000
PCI_EXP_LNKCAP_LBNC = 0x00200000
PCI_EXP_LNKCTL = 0x10
PCI_EXP_LNKCTL_CCC = 0x0040
PCI_EXP_LNKCTL_ES = 0x0080
PCI_EXP_LNKSTA = 0x12
PCI_EXP_SLTCAP = 0x14
PCI_EXP_SLTCAP_ABP = 0x00000001
PCI_EXP_SLTCAP_PCP = 0x00000002
PCI_EXP_SLTCAP_AIP = 0x00000008
PCI_EXP_SLTCAP_PIP = 0x00000010
PCI_EXP_SLTCAP_HPS = 0x00000020
PCI_EXP_SLTCAP_HPC = 0x00000040
PCI_EXP_SLTCAP_EIP = 0x00020000
PCI_EXP_SLTCAP_PSN_SHIFT = 19
PCI_EXP_SLTCTL = 0x18
PCI_EXP_SLTCTL_ABPE = 0x0001
PCI_EXP_SLTCTL_PDCE = 0x0008
PCI_EXP_SLTCTL_CCIE = 0x0010
PCI_EXP_SLTCTL_HPIE = 0x0020
PCI_EXP_SLTCTL_AIC = 0x00C0
PCI_EXP_SLTCTL_AIC_OFF = 0x00C0
PCI_EXP_SLTCTL_PIC = 0x0300
PCI_EXP_SLTCTL_PIC_ON = 0x0100
PCI_EXP_SLTCTL_PIC_OFF = 0x0300
PCI_EXP_SLTCTL_PCC = 0x0400
PCI_EXP_SLTCTL_EIC = 0x0800
PCI_EXP_SLTSTA = 0x1A
PCI_EXP_HP_EV_SUPPORTED = 0x0019      # ABP | PDC | CCI (QEMU pcie_regs.h)
PCI_EXP_RTCTL = 0x1C
PCI_EXP_RTCTL_SECEE = 0x0001
PCI_EXP_RTCTL_SENFEE = 0x0002
PCI_EXP_RTCTL_SEFEE = 0x0004
PCI_EXP_DEVCAP2 = 0x24
PCI_EXP_DEVCAP2_ARI = 0x00000020
PCI_EXP_DEVCAP2_EFF = 0x00100000
PCI_EXP_DEVCAP2_EETLPP = 0x00200000
PCI_EXP_DEVCTL2 = 0x28
PCI_EXP_DEVCTL2_ARI = 0x0020
PCI_EXP_DEVCTL2_EETLPPB = 0x8000
PCI_EXP_LNKCAP2 = 0x2C
PCI_EXP_LNKCAP2_SLS = (0x02, 0x04, 0x08, 0x10)     # 2.5, 5, 8, 16 GT/s
PCI_EXP_LNKCTL2 = 0x30
PCI_EXP_LNKCTL2_TLS = 0x000F
# QEMU include/hw/pci/pcie_regs.h: link speed / width codes
QEMU_PCI_EXP_LNK_2_5GT, QEMU_PCI_EXP_LNK_5GT, QEMU_PCI_EXP_LNK_8GT, QEMU_PCI_EXP_LNK_16GT = 1, 2, 3, 4
_LINK_SPEEDS = {"2_5": 1, "5": 2, "8": 3, "16": 4}
_LINK_WIDTHS = {"1": 1, "2": 2, "4": 4, "8": 8, "12": 12, "16": 16, "32": 32}

# Extended capabilities (QEMU include/hw/pci/pcie_regs.h)
PCI_ERR_VER = 2
PCI_ERR_SIZEOF = 0x48
PCI_ACS_VER = 1
PCI_ACS_SIZEOF = 8
PCI_ACS_CAP = 4
PCI_ACS_CTRL = 6
PCI_ACS_SV, PCI_ACS_TB, PCI_ACS_RR, PCI_ACS_CR, PCI_ACS_UF, PCI_ACS_DT = 0x1, 0x2, 0x4, 0x8, 0x10, 0x40
PCI_EXT_CAP_DSN_SIZEOF = 12
PCI_EXT_CAP_ATS_SIZEOF = 8
PCI_ATS_CAP = 4
PCI_ATS_CTRL = 6
PCI_ATS_CAP_PAGE_ALIGNED = 0x0020

# Vendor ids (QEMU include/hw/pci/pci.h, pci_ids.h)
PCI_VENDOR_ID_INTEL = 0x8086
PCI_VENDOR_ID_QEMU = 0x1234
PCI_VENDOR_ID_REDHAT_QUMRANET = 0x1AF4
PCI_VENDOR_ID_REDHAT = 0x1B36

#: Sizes in bytes of the option ROM files QEMU 7.2 finds on the reference
#: machine (Debian 12; ``qemu-system-x86_64 -L help`` lists its firmware
#: directories /usr/share/qemu, /usr/share/seabios and /usr/lib/ipxe/qemu).
#: The ``vgabios-*.bin`` files come from Debian package seabios 1.16.2-1
#: (/usr/share/seabios), the ``efi-*.rom``/``pxe-*.rom`` files from package
#: ipxe-qemu 1.0.0+git-20190125.36a4c85-5.1 (/usr/lib/ipxe/qemu).  QEMU sizes
#: the ROM BAR from the file (hw/pci/pci.c ``pci_add_option_rom``:
#: ``pow2ceil(get_image_size(path))``), so these numbers decide BAR 6.
ROM_FILE_SIZES: dict[str, int] = {
    "efi-e1000.rom": 249856,
    "efi-e1000e.rom": 249856,
    "efi-eepro100.rom": 247808,
    "efi-ne2k_pci.rom": 245760,
    "efi-pcnet.rom": 246272,
    "efi-rtl8139.rom": 249856,
    "efi-virtio.rom": 249344,
    "efi-vmxnet3.rom": 243712,
    "pxe-e1000.rom": 75264,
    "pxe-e1000e.rom": 75264,
    "pxe-eepro100.rom": 75264,
    "pxe-ne2k_pci.rom": 74752,
    "pxe-pcnet.rom": 74752,
    "pxe-rtl8139.rom": 75776,
    "pxe-virtio.rom": 75776,
    "pxe-vmxnet3.rom": 74240,
    "vgabios-ati.bin": 39936,
    "vgabios-bochs-display.bin": 28672,
    "vgabios-cirrus.bin": 39424,
    "vgabios-isavga.bin": 39424,
    "vgabios.bin": 39424,            # symlink to vgabios-isavga.bin
    "vgabios-qxl.bin": 39936,
    "vgabios-ramfb.bin": 29184,
    "vgabios-stdvga.bin": 39936,
    "vgabios-virtio.bin": 39936,
    "vgabios-vmware.bin": 39936,
}
#: The same files for the debian13 stack (QEMU 10.0): Debian packages
#: ipxe-qemu 1.21.1+git20250501.dad20602+dfsg-1 and seabios 1.16.3-2 (the
#: -L folder /tmp/vfiolab-stack/L/seabios-1.16.3, its MANIFEST names the
#: packages).  Every pow2ceil is the same as with the 7.2 files (256 KiB
#: for efi-*.rom, 128 KiB for pxe-*.rom, 64 KiB for vgabios-*.bin).
ROM_FILE_SIZES_DEBIAN13: dict[str, int] = {
    **{f"efi-{n}.rom": 262144 for n in ("e1000", "e1000e", "eepro100", "ne2k_pci", "pcnet",
                                        "rtl8139", "virtio", "vmxnet3")},
    "pxe-e1000.rom": 109056, "pxe-e1000e.rom": 109056, "pxe-eepro100.rom": 109056,
    "pxe-ne2k_pci.rom": 109056, "pxe-pcnet.rom": 108544, "pxe-rtl8139.rom": 110080,
    "pxe-virtio.rom": 110080, "pxe-vmxnet3.rom": 108032,
    "vgabios-ati.bin": 39936, "vgabios-bochs-display.bin": 28672, "vgabios-cirrus.bin": 39424,
    "vgabios-isavga.bin": 39424, "vgabios.bin": 39424, "vgabios-qxl.bin": 39936,
    "vgabios-ramfb.bin": 29184, "vgabios-stdvga.bin": 39936, "vgabios-virtio.bin": 39936,
    "vgabios-vmware.bin": 39936,
}
_FIRMWARE_DIRS = ("/usr/share/qemu", "/usr/share/seabios", "/usr/lib/ipxe/qemu")


# ---------------------------------------------------------------------------
# little-endian register helpers (QEMU pci_set_word/long, *_test_and_set_mask)
# ---------------------------------------------------------------------------

def _get(buf, off: int, n: int) -> int:
    return int.from_bytes(buf[off:off + n], "little")


def _set(buf, off: int, n: int, val: int) -> None:
    buf[off:off + n] = (val & ((1 << (8 * n)) - 1)).to_bytes(n, "little")


def _or(buf, off: int, n: int, mask: int) -> None:
    _set(buf, off, n, _get(buf, off, n) | mask)


def _clear(buf, off: int, n: int, mask: int) -> None:
    _set(buf, off, n, _get(buf, off, n) & ~mask)


# ---------------------------------------------------------------------------
# capability helpers
# ---------------------------------------------------------------------------

def _used(dev: PCIDevice) -> bytearray:
    used = getattr(dev, "cap_used", None)
    if used is None:
        used = bytearray(PCI_CONFIG_SPACE_SIZE)
        dev.cap_used = used
    return used


def pci_find_space(dev: PCIDevice, size: int) -> int:
    """QEMU hw/pci/pci.c ``pci_find_space``: the first run of ``size`` bytes
    after the 64-byte header that no capability uses; 0 if none."""
    used = _used(dev)
    start = PCI_CONFIG_HEADER_SIZE
    for i in range(PCI_CONFIG_HEADER_SIZE, PCI_CONFIG_SPACE_SIZE):
        if used[i]:
            start = i + 1
        elif i - start + 1 == size:
            return start
    return 0


def pci_add_capability(dev: PCIDevice, cap_id: int, offset: int, size: int) -> int:
    """QEMU hw/pci/pci.c ``pci_add_capability``.

    ``offset`` 0 means "first free space" (``pci_find_space``).  The new
    capability goes to the head of the list (its next pointer is the old
    0x34), and ``QEMU_ALIGN_UP(size, 4)`` bytes are marked used, so the
    next automatic capability starts on a dword boundary.  An explicit offset
    that overlaps an existing capability is an error.
    """
    used = _used(dev)
    if not offset:
        offset = pci_find_space(dev, size)
        if not offset:
            raise DeviceError(_who(dev), "capabilities",
                              f"no room for a {size}-byte capability {cap_id:#x} in config space")
    else:
        for i in range(offset, offset + size):
            if used[i]:
                raise DeviceError(_who(dev), "capabilities",
                                  f"capability {cap_id:#x} at {offset:#x} overlaps an existing one")
    dev.add_capability(cap_id, size, offset)
    # rule: mark the capability's bytes, rounded up to 4, as used
    for i in range(offset, min(offset + align_up(size, 4), PCI_CONFIG_SPACE_SIZE)):
        used[i] = 0xFF
    return offset


def pcie_add_capability(dev: PCIDevice, cap_id: int, cap_ver: int, offset: int,
                        size: int) -> int:
    """QEMU hw/pci/pcie.c ``pcie_add_capability``: an extended capability
    header (id, version, next) at ``offset`` >= 0x100; unless it is the first
    one at 0x100, the last capability of the chain is linked to it.  The
    bytes become read-only, not write-1-to-clear, and checked."""
    if offset < PCI_CONFIG_SPACE_SIZE or offset + size > len(dev.config) or size < 8:
        raise DeviceError(_who(dev), "extended capabilities",
                          f"capability {cap_id:#x} at {offset:#x} (+{size:#x}) outside "
                          f"the PCIe extended config space")
    c = dev.config
    if offset != PCI_CONFIG_SPACE_SIZE:
        # rule: walk the chain from 0x100 to its last entry and point it here
        pos = PCI_CONFIG_SPACE_SIZE
        while True:
            nxt = (_get(c, pos, 4) >> 20) & 0xFFC
            if not nxt:
                break
            pos = nxt
        _set(c, pos, 4, (_get(c, pos, 4) & ~(0xFFC << 20)) | (offset << 20))
    _set(c, offset, 4, cap_id | (cap_ver << 16))
    for i in range(offset, offset + size):
        dev.wmask[i] = 0
        dev.w1cmask[i] = 0
        dev.cmask[i] = 0xFF
    return offset


def pm_capability(dev: PCIDevice, offset: int, pmc: int, ctrl: int = 0,
                  ctrl_wmask: int = 0, ctrl_w1cmask: int = 0) -> int:
    """A power-management capability (``PCI_CAP_ID_PM``, 8 bytes) as the
    device realize functions build it with ``pci_add_capability``."""
    pos = pci_add_capability(dev, PCI_CAP_ID_PM, offset, PCI_PM_SIZEOF)
    _set(dev.config, pos + PCI_PM_PMC, 2, pmc)
    _set(dev.config, pos + PCI_PM_CTRL, 2, ctrl)
    _set(dev.wmask, pos + PCI_PM_CTRL, 2, ctrl_wmask)
    _set(dev.w1cmask, pos + PCI_PM_CTRL, 2, ctrl_w1cmask)
    dev.pm_cap = pos
    return pos


def msi_init(dev: PCIDevice, offset: int, nr_vectors: int, msi64bit: bool,
             msi_per_vector_mask: bool) -> int:
    """QEMU hw/pci/msi.c ``msi_init``.

    The capability is 10, 14, 20 or 24 bytes (``msi_cap_sizeof``: 32/64-bit
    address, with or without per-vector masking); the flags word holds
    log2(``nr_vectors``) in Multiple Message Capable, and the 64-bit and
    mask bits; Multiple Message Enable, MSI Enable, the address, the data
    and the first ``nr_vectors`` mask bits are writable.
    """
    if nr_vectors < 1 or nr_vectors > PCI_MSI_VECTORS_MAX or not is_pow2(nr_vectors):
        raise DeviceError(_who(dev), "MSI", f"{nr_vectors} vectors: must be a power of two 1..32")
    flags = (nr_vectors.bit_length() - 1) << 1          # ctz32(PCI_MSI_FLAGS_QMASK) = 1
    if msi64bit:
        flags |= PCI_MSI_FLAGS_64BIT
    if msi_per_vector_mask:
        flags |= PCI_MSI_FLAGS_MASKBIT
    size = {(False, False): 0x0A, (True, False): 0x0E,
            (False, True): 0x14, (True, True): 0x18}[(msi64bit, msi_per_vector_mask)]
    pos = pci_add_capability(dev, PCI_CAP_ID_MSI, offset, size)
    _set(dev.config, pos + PCI_MSI_FLAGS, 2, flags)
    _set(dev.wmask, pos + PCI_MSI_FLAGS, 2, PCI_MSI_FLAGS_QSIZE | PCI_MSI_FLAGS_ENABLE)
    _set(dev.wmask, pos + PCI_MSI_ADDRESS_LO, 4, PCI_MSI_ADDRESS_LO_MASK)
    if msi64bit:
        _set(dev.wmask, pos + 8, 4, 0xFFFFFFFF)
    data = pos + (0x0C if msi64bit else 0x08)
    _set(dev.wmask, data, 2, 0xFFFF)
    if msi_per_vector_mask:
        _set(dev.wmask, pos + (0x10 if msi64bit else 0x0C), 4,
             0xFFFFFFFF >> (PCI_MSI_VECTORS_MAX - nr_vectors))
    dev.msi_cap = pos
    return pos


def msix_init(dev: PCIDevice, nentries: int, table_bar_mr: MemoryRegion, table_bar_index: int,
              table_offset: int, pba_bar_mr: MemoryRegion, pba_bar_index: int,
              pba_offset: int, cap_pos: int = 0) -> int:
    """QEMU hw/pci/msix.c ``msix_init``.

    The table is ``nentries`` * 16 bytes, the PBA ``ALIGN_UP(nentries, 64)/8``
    bytes; both must fit in their BAR regions, not overlap when they share a
    BAR, and sit at 8-byte aligned offsets (the low 3 bits of the Table/PBA
    registers hold the BAR index).  The capability (12 bytes at ``cap_pos``,
    0 = first free) holds Table Size = nentries - 1 and the two
    offset|BIR registers; the Enable and Function Mask bits are writable.
    Two I/O MemoryRegions, ``msix-table`` and ``msix-pba``, are added
    (priority 0) to the given BAR regions at the two offsets.

    Returns the capability offset; sets ``dev.msix_cap``,
    ``dev.msix_entries_nr``, ``dev.msix_table_mmio``, ``dev.msix_pba_mmio``.
    """
    who = _who(dev)
    if nentries < 1 or nentries > PCI_MSIX_FLAGS_QSIZE + 1:
        raise DeviceError(who, "MSI-X", f"{nentries} vectors: the number of MSI-X vectors is invalid")
    table_size = nentries * PCI_MSIX_ENTRY_SIZE
    pba_size = align_up(nentries, 64) // 8
    # rule: no overlap in a shared BAR, both fit their BARs, both 8-byte aligned
    if ((table_bar_index == pba_bar_index
         and table_offset < pba_offset + pba_size and pba_offset < table_offset + table_size)
            or table_offset + table_size > table_bar_mr.size
            or pba_offset + pba_size > pba_bar_mr.size
            or (table_offset | pba_offset) & PCI_MSIX_FLAGS_BIRMASK):
        raise DeviceError(who, "MSI-X", "table & pba overlap, or they don't fit in BARs, "
                          "or don't align")
    pos = pci_add_capability(dev, PCI_CAP_ID_MSIX, cap_pos, MSIX_CAP_LENGTH)
    c = dev.config
    _set(c, pos + PCI_MSIX_FLAGS, 2, nentries - 1)
    _set(c, pos + PCI_MSIX_TABLE, 4, table_offset | table_bar_index)
    _set(c, pos + PCI_MSIX_PBA, 4, pba_offset | pba_bar_index)
    # rule: make the MSI-X Enable and Function Mask bits writable
    dev.wmask[pos + 3] |= (PCI_MSIX_FLAGS_ENABLE | PCI_MSIX_FLAGS_MASKALL) >> 8
    table = MemoryRegion.init_io("msix-table", table_size)
    pba = MemoryRegion.init_io("msix-pba", pba_size)
    for mr in (table, pba):
        mr.owner = dev.qdev_id or dev.type_name
    table_bar_mr.add_subregion(table_offset, table)
    pba_bar_mr.add_subregion(pba_offset, pba)
    dev.msix_cap = pos
    dev.msix_entries_nr = nentries
    dev.msix_table_mmio = table
    dev.msix_pba_mmio = pba
    return pos


def msix_init_exclusive_bar(dev: PCIDevice, nentries: int, bar_nr: int) -> MemoryRegion:
    """QEMU hw/pci/msix.c ``msix_init_exclusive_bar``.

    A BAR of its own, a container named ``<device type>-msix``: 4 KiB with
    the table at 0 and the PBA at 2 KiB while the table fits in the lower
    half (up to 128 vectors); otherwise the PBA follows the table and the
    BAR grows to the next power of two.  Registered as a 32-bit memory BAR.
    """
    bar_size = 4096
    pba_offset = bar_size // 2
    pba_size = align_up(nentries, 64) // 8
    if nentries * PCI_MSIX_ENTRY_SIZE > pba_offset:
        pba_offset = nentries * PCI_MSIX_ENTRY_SIZE
    if pba_offset + pba_size > 4096:
        bar_size = pba_offset + pba_size
    bar_size = pow2ceil(bar_size)
    # rule: QEMU names it after PCIDevice.name, which is the QOM type name
    bar = MemoryRegion.init_container(f"{dev.type_name}-msix", bar_size)
    bar.owner = dev.qdev_id or dev.type_name
    msix_init(dev, nentries, bar, bar_nr, 0, bar, bar_nr, pba_offset, 0)
    dev.register_bar(bar_nr, 0, bar)
    dev.msix_exclusive_bar = bar
    return bar


def pci_bus_is_express(bus: PCIBus | None) -> bool:
    """QEMU ``pci_bus_is_express``: is this a PCI Express bus?

    A bus may say so itself (attribute ``is_express``, which the bridges
    here set on their secondary bus: ``pcie-root-port`` makes a PCIe bus,
    ``pci-bridge`` a PCI bus).  Otherwise a root bus is PCIe on the q35
    machine (``pcie.0``, QEMU hw/pci-host/q35.c creates it as
    TYPE_PCIE_BUS) and conventional on pc (``pci.0``).
    """
    if bus is None:
        return False
    flag = getattr(bus, "is_express", None)
    if flag is not None:
        return bool(flag)
    if bus.parent_dev is not None:
        return bool(getattr(bus.parent_dev, "secondary_bus_is_express", False))
    return bus.name.startswith("pcie")


def _pcie_cap_v1_fill(dev: PCIDevice, pos: int, port: int, ptype: int, version: int) -> None:
    """QEMU hw/pci/pcie.c ``pcie_cap_v1_fill``: flags (type, version),
    Role-Based Error Reporting in Device Capabilities, a x1 2.5 GT/s link
    with L0s support and port number ``port``, link status x1 2.5 GT/s."""
    c = dev.config
    _set(c, pos + PCI_EXP_FLAGS, 2, ((ptype << 4) & 0xF0) | version)
    _set(c, pos + PCI_EXP_DEVCAP, 4, PCI_EXP_DEVCAP_RBER)
    _set(c, pos + PCI_EXP_LNKCAP, 4, (port << 24) | PCI_EXP_LNKCAP_ASPMS_0S
         | (1 << 4) | QEMU_PCI_EXP_LNK_2_5GT)
    _set(c, pos + PCI_EXP_LNKSTA, 2, (1 << 4) | QEMU_PCI_EXP_LNK_2_5GT)
    _set(dev.cmask, pos + PCI_EXP_LNKSTA, 2, 0)


def _pcie_cap_fill_slot_lnk(dev: PCIDevice, pos: int) -> None:
    """QEMU hw/pci/pcie.c ``pcie_cap_fill_slot_lnk``: for a PCIe slot (a root
    port) the link capabilities come from its speed and width; a link wider
    than x1 or faster than 2.5 GT/s reports bandwidth notification, faster
    than 2.5 GT/s also Data Link Layer active reporting and a Target Link
    Speed; above 5 GT/s Link Capabilities 2 lists every speed supported."""
    speed = getattr(dev, "link_speed", None)
    width = getattr(dev, "link_width", None)
    if speed is None or width is None:
        return
    c = dev.config
    lnkcap = _get(c, pos + PCI_EXP_LNKCAP, 4) & ~(PCI_EXP_LNKCAP_MLW | PCI_EXP_LNKCAP_SLS)
    lnkcap |= (width << 4) | speed
    if width > 1 or speed > QEMU_PCI_EXP_LNK_2_5GT:
        lnkcap |= PCI_EXP_LNKCAP_LBNC
    if speed > QEMU_PCI_EXP_LNK_2_5GT:
        lnkcap |= PCI_EXP_LNKCAP_DLLLARC
        _set(c, pos + PCI_EXP_LNKCTL2, 2,
             (_get(c, pos + PCI_EXP_LNKCTL2, 2) & ~PCI_EXP_LNKCTL2_TLS) | (speed & PCI_EXP_LNKCTL2_TLS))
    _set(c, pos + PCI_EXP_LNKCAP, 4, lnkcap)
    if speed > QEMU_PCI_EXP_LNK_5GT:
        sls = PCI_EXP_LNKCAP2_SLS[0] | PCI_EXP_LNKCAP2_SLS[1] | PCI_EXP_LNKCAP2_SLS[2]
        if speed > QEMU_PCI_EXP_LNK_8GT:
            sls |= PCI_EXP_LNKCAP2_SLS[3]
        _set(c, pos + PCI_EXP_LNKCAP2, 4, sls)


def pcie_cap_init(dev: PCIDevice, offset: int, ptype: int, port: int = 0,
                  version: int = 2) -> int:
    """QEMU hw/pci/pcie.c ``pcie_cap_init`` (version 2, 0x3c bytes) and
    ``pcie_cap_v1_init`` (version 1, 0x14 bytes).

    Version 2 adds the slot-derived link fields (``pcie_cap_fill_slot_lnk``),
    Extended Fmt Field and End-End TLP Prefix support in Device
    Capabilities 2, and makes the End-End TLP Prefix Blocking bit writable.
    """
    if not dev.is_express:
        raise DeviceError(_who(dev), "PCIe capability", "device is not PCI Express")
    size = PCI_EXP_VER2_SIZEOF if version == 2 else PCI_EXP_VER1_SIZEOF
    pos = pci_add_capability(dev, PCI_CAP_ID_EXP, offset, size)
    dev.exp_cap = pos
    _pcie_cap_v1_fill(dev, pos, port, ptype, PCI_EXP_FLAGS_VER2 if version == 2 else PCI_EXP_FLAGS_VER1)
    if version == 2:
        _pcie_cap_fill_slot_lnk(dev, pos)
        _set(dev.config, pos + PCI_EXP_DEVCAP2, 4, PCI_EXP_DEVCAP2_EFF | PCI_EXP_DEVCAP2_EETLPP)
        _set(dev.wmask, pos + PCI_EXP_DEVCTL2, 2, PCI_EXP_DEVCTL2_EETLPPB)
    return pos


def pcie_endpoint_cap_init(dev: PCIDevice, offset: int, version: int = 2) -> int:
    """QEMU hw/pci/pcie.c ``pcie_endpoint_cap_common_init``: an endpoint's
    PCIe capability; on the root bus of a PCIe machine (q35's pcie.0) the
    device is a Root Complex Integrated Endpoint instead (type 9), as
    Windows refuses plain endpoints there."""
    ptype = PCI_EXP_TYPE_ENDPOINT
    if pci_bus_is_express(dev.bus) and dev.bus.is_root():
        ptype = PCI_EXP_TYPE_RC_END
    return pcie_cap_init(dev, offset, ptype, 0, version)


def pcie_cap_flr_init(dev: PCIDevice) -> None:
    """QEMU ``pcie_cap_flr_init``: Function Level Reset capable; the
    initiate bit is writable (and always reads 0)."""
    _or(dev.config, dev.exp_cap + PCI_EXP_DEVCAP, 4, PCI_EXP_DEVCAP_FLR)
    _or(dev.wmask, dev.exp_cap + PCI_EXP_DEVCTL, 2, PCI_EXP_DEVCTL_BCR_FLR)


def pcie_cap_deverr_init(dev: PCIDevice) -> None:
    """QEMU ``pcie_cap_deverr_init``: error reporting enables writable,
    error status bits write-1-to-clear."""
    pos = dev.exp_cap
    _or(dev.config, pos + PCI_EXP_DEVCAP, 4, PCI_EXP_DEVCAP_RBER)
    _or(dev.wmask, pos + PCI_EXP_DEVCTL, 2, PCI_EXP_DEVCTL_CERE | PCI_EXP_DEVCTL_NFERE
        | PCI_EXP_DEVCTL_FERE | PCI_EXP_DEVCTL_URRE)
    _or(dev.w1cmask, pos + PCI_EXP_DEVSTA, 2, 0x000F)


def pcie_cap_lnkctl_init(dev: PCIDevice) -> None:
    """QEMU ``pcie_cap_lnkctl_init``: Common Clock and Extended Synch writable."""
    _or(dev.wmask, dev.exp_cap + PCI_EXP_LNKCTL, 2, PCI_EXP_LNKCTL_CCC | PCI_EXP_LNKCTL_ES)


def pcie_cap_arifwd_init(dev: PCIDevice) -> None:
    """QEMU ``pcie_cap_arifwd_init``: ARI forwarding supported and enable writable."""
    _or(dev.config, dev.exp_cap + PCI_EXP_DEVCAP2, 4, PCI_EXP_DEVCAP2_ARI)
    _or(dev.wmask, dev.exp_cap + PCI_EXP_DEVCTL2, 2, PCI_EXP_DEVCTL2_ARI)


def pcie_cap_root_init(dev: PCIDevice) -> None:
    """QEMU ``pcie_cap_root_init``: the three system-error enables of Root
    Control writable."""
    _set(dev.wmask, dev.exp_cap + PCI_EXP_RTCTL, 2,
         PCI_EXP_RTCTL_SECEE | PCI_EXP_RTCTL_SENFEE | PCI_EXP_RTCTL_SEFEE)


def pcie_cap_slot_init(dev: PCIDevice, slot: int, hotplug: bool, native_hotplug: bool,
                       power_controller: bool) -> None:
    """QEMU hw/pci/pcie.c ``pcie_cap_slot_init``.

    Sets Slot Implemented in the flags; Slot Capabilities get the physical
    slot number, an electromechanical interlock, power and attention
    indicators and an attention button; Hot-Plug Surprise and Hot-Plug
    Capable only when the slot is hot-pluggable *and* native hot-plug is on
    (or the port itself was hot-plugged); a power controller when
    ``power_controller`` (QEMU_PCIE_SLTCAP_PCP).  Slot Control starts with
    both indicators off.
    """
    pos = dev.exp_cap
    c, w = dev.config, dev.wmask
    _or(c, pos + PCI_EXP_FLAGS, 2, PCI_EXP_FLAGS_SLOT)
    # rule: keep only the physical slot number field, then set it and the
    # indicator/button/interlock bits
    sltcap = _get(c, pos + PCI_EXP_SLTCAP, 4) & 0xFFF80000
    sltcap |= ((slot << PCI_EXP_SLTCAP_PSN_SHIFT) & 0xFFFFFFFF) | PCI_EXP_SLTCAP_EIP \
        | PCI_EXP_SLTCAP_PIP | PCI_EXP_SLTCAP_AIP | PCI_EXP_SLTCAP_ABP
    if hotplug and native_hotplug:
        sltcap |= PCI_EXP_SLTCAP_HPS | PCI_EXP_SLTCAP_HPC
    if power_controller:
        sltcap |= PCI_EXP_SLTCAP_PCP
        _clear(c, pos + PCI_EXP_SLTCTL, 2, PCI_EXP_SLTCTL_PCC)
        _or(w, pos + PCI_EXP_SLTCTL, 2, PCI_EXP_SLTCTL_PCC)
    _set(c, pos + PCI_EXP_SLTCAP, 4, sltcap)
    _clear(c, pos + PCI_EXP_SLTCTL, 2, PCI_EXP_SLTCTL_PIC | PCI_EXP_SLTCTL_AIC)
    _or(c, pos + PCI_EXP_SLTCTL, 2, PCI_EXP_SLTCTL_PIC_OFF | PCI_EXP_SLTCTL_AIC_OFF)
    _or(w, pos + PCI_EXP_SLTCTL, 2, PCI_EXP_SLTCTL_PIC | PCI_EXP_SLTCTL_AIC | PCI_EXP_SLTCTL_HPIE
        | PCI_EXP_SLTCTL_CCIE | PCI_EXP_SLTCTL_PDCE | PCI_EXP_SLTCTL_ABPE | PCI_EXP_SLTCTL_EIC)
    _or(dev.w1cmask, pos + PCI_EXP_SLTSTA, 2, PCI_EXP_HP_EV_SUPPORTED)


def pcie_aer_init(dev: PCIDevice, offset: int, size: int = PCI_ERR_SIZEOF) -> int:
    """QEMU hw/pci/pcie_aer.c ``pcie_aer_init``: the Advanced Error
    Reporting extended capability (version 2).  Only the header is
    modelled, not the error registers' default values."""
    dev.aer_cap = pcie_add_capability(dev, PCI_EXT_CAP_ID_ERR, PCI_ERR_VER, offset, size)
    return dev.aer_cap


def pcie_acs_init(dev: PCIDevice, offset: int, downstream: bool) -> int:
    """QEMU hw/pci/pcie.c ``pcie_acs_init``: Access Control Services; a
    downstream port (root port) implements SV, TB, RR, CR, UF and DT, with
    the matching control bits writable."""
    pos = pcie_add_capability(dev, PCI_EXT_CAP_ID_ACS, PCI_ACS_VER, offset, PCI_ACS_SIZEOF)
    bits = (PCI_ACS_SV | PCI_ACS_TB | PCI_ACS_RR | PCI_ACS_CR | PCI_ACS_UF | PCI_ACS_DT
            if downstream else 0)
    _set(dev.config, pos + PCI_ACS_CAP, 2, bits)
    _set(dev.wmask, pos + PCI_ACS_CTRL, 2, bits)
    dev.acs_cap = pos
    return pos


def pcie_dev_ser_num_init(dev: PCIDevice, offset: int, serial: int) -> int:
    """QEMU hw/pci/pcie.c ``pcie_dev_ser_num_init``: Device Serial Number
    (version 1, 12 bytes), the 64-bit number after the header."""
    pos = pcie_add_capability(dev, PCI_EXT_CAP_ID_DSN, 1, offset, PCI_EXT_CAP_DSN_SIZEOF)
    _set(dev.config, pos + 4, 8, serial)
    return pos


def pcie_ats_init(dev: PCIDevice, offset: int, aligned: bool) -> int:
    """QEMU hw/pci/pcie.c ``pcie_ats_init``: Address Translation Services."""
    pos = pcie_add_capability(dev, PCI_EXT_CAP_ID_ATS, 1, offset, PCI_EXT_CAP_ATS_SIZEOF)
    if aligned:
        _set(dev.config, pos + PCI_ATS_CAP, 2, PCI_ATS_CAP_PAGE_ALIGNED)
    _set(dev.wmask, pos + PCI_ATS_CTRL, 2, 0x800F)
    return pos


def pci_bridge_qemu_reserve_cap_init(dev: PCIDevice, cap_offset: int, bus: int, io: int,
                                     mem: int, pref32: int, pref64: int) -> int:
    """QEMU hw/pci/pci_bridge.c ``pci_bridge_qemu_reserve_cap_init``.

    The Red Hat vendor-specific capability (``PCI_CAP_ID_VNDR``, type 1
    ``REDHAT_PCI_CAP_RESOURCE_RESERVE``, 32 bytes) telling the firmware how
    much to reserve behind a bridge: bus numbers (u32 at +4), I/O (u64 at
    +8), non-prefetchable memory (u32 at +16), prefetchable 32-bit (u32 at
    +20) or 64-bit (u64 at +24) memory; -1 means "no hint".  It is added
    only when at least one field is not -1; pref32 and pref64 exclude each
    other and the 32-bit windows must stay below 4 GiB.  Returns the
    capability offset, or 0 when none was added.
    """
    m32, m64 = 0xFFFFFFFF, (1 << 64) - 1
    who = _who(dev)
    if pref32 != m64 and pref64 != m64:
        raise DeviceError(who, "pref32-reserve", "PCI resource reserve cap: PREF32 and PREF64 conflict")
    if mem != m64 and mem >= 4 * GiB:
        raise DeviceError(who, "mem-reserve", "PCI resource reserve cap: mem-reserve must be less than 4G")
    if pref32 != m64 and pref32 >= 4 * GiB:
        raise DeviceError(who, "pref32-reserve",
                          "PCI resource reserve cap: pref32-reserve  must be less than 4G")
    if bus == m32 and io == m64 and mem == m64 and pref32 == m64 and pref64 == m64:
        return 0
    pos = pci_add_capability(dev, PCI_CAP_ID_VNDR, cap_offset, 32)
    c = dev.config
    c[pos + 2] = 32                      # len
    c[pos + 3] = 1                       # type: REDHAT_PCI_CAP_RESOURCE_RESERVE
    _set(c, pos + 4, 4, bus)
    _set(c, pos + 8, 8, io)
    _set(c, pos + 16, 4, mem)
    _set(c, pos + 20, 4, pref32)
    _set(c, pos + 24, 8, pref64)
    dev.reserve_cap = pos
    return pos


def portio_list_add(owner: str, name: str, entries, space: MemoryRegion, start: int,
                    priority: int = 0) -> list[MemoryRegion]:
    """QEMU softmmu/ioport.c ``portio_list_add``: turn a list of port
    ranges ``(offset, len, size)`` (sorted by offset) into I/O regions named
    ``name`` in ``space`` at ``start`` + offset.

    Entries are merged while each starts at or before the running end of the
    current chunk; that end is ``offset + len + size - 1`` of the entry that
    opened the chunk (QEMU's formula, kept as is, with the *first* entry's
    access size), extended by later entries.  A hole ends the chunk.
    """
    regions: list[MemoryRegion] = []

    def emit(lo: int, hi: int) -> None:
        mr = MemoryRegion.init_io(name, hi - lo)
        mr.owner = owner
        space.add_subregion_overlap(start + lo, mr, priority)
        regions.append(mr)

    first = entries[0]
    off_low = off_last = first[0]
    off_high = off_low + first[1] + first[2] - 1
    chunk_size = first[2]
    for off, length, _size in entries[1:]:
        off_last = off
        if off_last > off_high:
            emit(off_low, off_high)
            off_low = off_last
            chunk_size = _size
            off_high = off_low + length + chunk_size - 1
        elif off_last + length > off_high:
            off_high = off_last + length + chunk_size - 1
    emit(off_low, off_high)
    return regions


def parse_pci_devfn(text) -> int:
    """The ``addr`` property (QEMU hw/core/qdev-properties-system.c
    ``set_pci_devfn``): ``slot`` or ``slot.function`` in hex (``0x`` allowed),
    slot 0..31, function 0..7; an integer is a devfn."""
    if isinstance(text, int) and not isinstance(text, bool):
        if not 0 <= text <= 255:
            raise ValueError("devfn out of range")
        return text
    s = str(text).strip()
    slot_s, dot, fn_s = s.partition(".")

    def hexnum(t: str) -> int:
        t = t.strip()
        body = t[2:] if t.lower().startswith("0x") else t
        if not body or any(ch not in "0123456789abcdefABCDEF" for ch in body):
            raise ValueError(t)
        return int(body, 16)

    slot = hexnum(slot_s)
    fn = hexnum(fn_s) if dot else 0
    if slot > 31 or fn > 7:
        raise ValueError("slot or function out of range")
    return slot << 3 | fn


def _who(dev: PCIDevice) -> str:
    return f"{dev.type_name} '{dev.qdev_id}'" if dev.qdev_id else dev.type_name


# ---------------------------------------------------------------------------
# properties
# ---------------------------------------------------------------------------

_BOOL_TRUE = ("on", "yes", "true", "y")
_BOOL_FALSE = ("off", "no", "false", "n")
_UNSET64 = (1 << 64) - 1          # a size/uint64 property left at -1
_UNSET32 = 0xFFFFFFFF


def _parse_prop(who: str, name: str, kind: str, value):
    """Convert one ``-device`` property value (QEMU's string input visitor
    rules: booleans on/off/yes/no/true/false, integers decimal or 0x hex,
    sizes with K/M/G/T suffixes)."""
    def bad(why: str):
        return DeviceError(who, name, f"{value!r} is not {why}")

    if kind == "ignore":
        return value
    if kind == "str":
        return "" if value is None else str(value)
    if kind == "bool":
        if isinstance(value, bool):
            return value
        v = str(value).strip().lower()
        if v in _BOOL_TRUE:
            return True
        if v in _BOOL_FALSE:
            return False
        raise bad("a boolean (on/off)")
    if kind == "onoffauto":
        v = str(value).strip().lower()
        if v in ("on", "off", "auto"):
            return v
        raise bad("one of on, off, auto")
    if kind == "devfn":
        try:
            return parse_pci_devfn(value)
        except (ValueError, TypeError):
            raise bad("a PCI address (slot[.function], e.g. 0x5 or 1f.2)") from None
    if kind == "size":
        try:
            return parse_size(value)
        except SizeError:
            raise bad("a size (e.g. 4096, 0x1000, 2M)") from None
    if kind.startswith("uint") or kind.startswith("int"):
        bits = int(kind.lstrip("uint"))
        signed = kind.startswith("int")
        if isinstance(value, bool):
            raise bad(f"an integer ({kind})")
        if isinstance(value, int):
            n = value
        else:
            t = str(value).strip()
            try:
                neg = t.startswith("-")
                body = t[1:] if neg else t
                if body.lower().startswith("0x"):
                    n = int(body, 16)
                elif len(body) > 1 and body.startswith("0") and body.isdigit():
                    n = int(body, 8)
                else:
                    n = int(body, 10)
                n = -n if neg else n
            except ValueError:
                raise bad(f"an integer ({kind})") from None
        lo, hi = ((-(1 << (bits - 1)), (1 << (bits - 1)) - 1) if signed else (0, (1 << bits) - 1))
        if not lo <= n <= hi:
            raise DeviceError(who, name, f"{value!r} is out of range for {kind} ({lo}..{hi})")
        return n
    raise AssertionError(kind)


# ---------------------------------------------------------------------------
# machine-type compatibility properties
# ---------------------------------------------------------------------------

#: The per-machine-version property defaults of the devices here that change
#: what the guest sees of them, as (machine version X.Y, QOM type, property,
#: value, QEMU releases it applies in): QEMU hw/core/machine.c
#: ``hw_compat_X_Y`` and hw/i386/pc.c ``pc_compat_X_Y`` (v7.2.0 b67b00e6b4,
#: v10.0.0 7c949c53e9).  A machine type pc-*-A.B gets every entry with
#: A.B <= X.Y, older tables last (QEMU appends them in that order, so the
#: oldest wins), unless the user set the property.  An ``hw_compat_X_Y``
#: table first exists in the release after X.Y, so it applies only when
#: the QEMU release is newer than X.Y.
MACHINE_COMPAT: tuple[tuple[tuple[int, int], str, str, str, tuple[int, int] | None], ...] = (
    ((9, 2), "virtio-balloon-pci", "vectors", "0", None),
    ((7, 1), "virtio-rng-pci", "vectors", "0", None),
    # (pc_compat_6_1's ICH9-LPC x-keep-pci-slot-hpc=false reaches the PCIe
    # slots through pc_q35.c's sugar property, together with ICH9's ACPI
    # PCI hot-plug switch: machine.pcie_slot_native_hotplug_default)
    ((5, 2), "virtio-net-pci-base", "vectors", "3", None),
    ((5, 1), "virtio-blk-device", "num-queues", "1", None),
    ((5, 1), "virtio-scsi-device", "num_queues", "1", None),
    ((5, 1), "virtio-pci", "x-ats-page-aligned", "off", None),
    ((5, 0), "virtio-balloon-device", "page-poison", "off", None),
    ((4, 2), "qxl", "revision", "4", None),
    ((4, 1), "virtio-pci", "x-pcie-flr-init", "off", None),
    ((4, 0), "VGA", "edid", "off", None),
    ((4, 0), "virtio-balloon-device", "qemu-4-0-config-size", "on", None),
    ((3, 1), "pcie-root-port", "x-speed", "2_5", None),
    ((3, 1), "pcie-root-port", "x-width", "1", None),
    ((3, 1), "virtio-blk-device", "discard", "off", None),
    ((3, 1), "virtio-blk-device", "write-zeroes", "off", None),
    ((3, 1), "virtio-balloon-device", "qemu-4-0-config-size", "off", None),
    ((3, 1), "pcie-root-port-base", "disable-acs", "on", None),
    ((2, 11), "virtio-blk-pci", "vectors", "2", None),
    ((2, 8), "virtio-pci", "x-pcie-deverr-init", "off", None),
    ((2, 8), "virtio-pci", "x-pcie-lnkctl-init", "off", None),
    ((2, 8), "virtio-pci", "x-pcie-pm-init", "off", None),
    ((2, 7), "virtio-pci", "page-per-vq", "on", None),
    ((2, 7), "virtio-serial-device", "emergency-write", "off", None),
    ((2, 6), "virtio-pci", "disable-modern", "on", None),
    ((2, 6), "virtio-pci", "disable-legacy", "off", None),
    ((2, 5), "vmxnet3", "x-disable-pcie", "on", None),
    ((2, 4), "virtio-pci", "x-disable-pcie", "on", None),
    ((2, 1), "intel-hda", "old_msi_addr", "on", None),
    ((2, 0), "nec-usb-xhci", "force-pcie-endcap", "on", None),
)


# ---------------------------------------------------------------------------
# the base class
# ---------------------------------------------------------------------------

class QemuPCIDevice(PCIDevice):
    """A PCI device as QEMU's ``pci_qdev_realize`` (hw/pci/pci.c) builds it:
    the device's own realize, then its option ROM (``pci_add_option_rom``).

    Subclasses set the identity class attributes, ``PROPS`` (property name ->
    (kind, default)), ``default_romfile`` (``PCIDeviceClass.romfile``),
    ``vmsd_name`` (the migration section name that names the ROM region),
    and implement :meth:`realize_device`.
    """

    #: the properties every PCI device has (QEMU hw/pci/pci.c ``pci_props``
    #: and the qdev ``bus``/``id``/``bootindex``)
    COMMON_PROPS: dict[str, tuple[str, object]] = {
        "addr": ("devfn", None),
        "bus": ("str", None),
        "romfile": ("str", None),
        "romsize": ("uint32", _UNSET32),
        "rombar": ("uint32", 1),
        "multifunction": ("bool", None),
        "bootindex": ("ignore", None),
        "acpi-index": ("ignore", None),
        "failover_pair_id": ("ignore", None),
        "x-pcie-lnksta-dllla": ("ignore", None),
        "x-pcie-extcap-init": ("ignore", None),
        "command_serr_enable": ("ignore", None),
    }
    PROPS: dict[str, tuple[str, object]] = {}
    #: inherited properties a subtype does not have
    EXCLUDED_PROPS: tuple[str, ...] = ()
    default_romfile: str | None = None
    vmsd_name: str | None = None
    default_multifunction = False
    #: False for devices the user cannot create with -device
    user_creatable = True

    def __init__(self, qdev_id: str = "", **props):
        super().__init__(qdev_id, **props)
        who = _who(self)
        schema = dict(self.COMMON_PROPS)
        for klass in reversed(type(self).__mro__):
            schema.update(klass.__dict__.get("PROPS", {}))
        for name in self.EXCLUDED_PROPS:
            schema.pop(name, None)
        opts = {name: default for name, (_kind, default) in schema.items()}
        for name, value in props.items():
            if name == "id":
                continue
            if name not in schema:
                raise DeviceError(who, name, f"no such property of {self.type_name}; known: "
                                  + ", ".join(sorted(n for n in schema if schema[n][0] != "ignore")))
            opts[name] = _parse_prop(who, name, schema[name][0], value)
        self.opts = opts
        self._schema = schema
        self.user_props = {n for n in props if n != "id"}
        self.requested_devfn: int | None = opts["addr"]
        self.requested_bus: str | None = opts["bus"]
        self.multifunction = (self.default_multifunction if opts["multifunction"] is None
                              else opts["multifunction"])
        # QEMU pci_qdev_realize: a ROM size must be a power of two
        if opts["romsize"] != _UNSET32 and not is_pow2(opts["romsize"]):
            raise DeviceError(who, "romsize", f"ROM size {opts['romsize']} is not a power of two")
        self.rom: MemoryRegion | None = None
        #: where a ROM went instead of a BAR (``rombar=0``): the fw_cfg file
        self.fw_cfg_rom: str | None = None
        self.cap_used = bytearray(PCI_CONFIG_SPACE_SIZE)

    # --- hooks -----------------------------------------------------------------
    def express_on(self, bus: PCIBus | None) -> bool:
        """Whether the function is PCI Express on ``bus`` (QEMU's
        QEMU_PCI_CAP_EXPRESS): by default the class attribute."""
        return type(self).is_express

    def init_config(self) -> None:
        """Config size follows the express flag (QEMU ``pci_config_size``:
        4096 bytes for PCIe, else 256), decided when the bus is known.  The
        machine type's compatibility defaults come first (QEMU sets global
        properties when the object is created, before anything reads them)."""
        if not getattr(self, "_compat_done", False):
            self._compat_done = True
            self.apply_machine_compat(getattr(self, "vm", None))
        express = self.express_on(self.bus)
        self.is_express = express
        size = PCIE_CONFIG_SPACE_SIZE if express else PCI_CONFIG_SPACE_SIZE
        if len(self.config) != size:
            self.config = bytearray(size)
            self.wmask = bytearray(size)
            self.w1cmask = bytearray(size)
            self.cmask = bytearray(size)
        super().init_config()

    #: QOM type names this class answers to besides the ``type_name`` of
    #: each class in its MRO (abstract parents, the virtio device inside)
    QOM_TYPES: tuple[str, ...] = ()

    @classmethod
    def qom_types(cls) -> set[str]:
        out = {"pci-device"}
        for klass in cls.__mro__:
            out.update(klass.__dict__.get("QOM_TYPES", ()))
            name = klass.__dict__.get("type_name")
            if name:
                out.add(name)
        return out - set(cls.__dict__.get("QOM_NOT", ()))

    def apply_machine_compat(self, vm) -> None:
        """Set the :data:`MACHINE_COMPAT` defaults for this VM's machine
        type and QEMU release (properties the user gave win)."""
        stack = getattr(vm, "stack", None) if vm is not None else None
        if stack is None:
            return
        mv, qemu = stack.machine_version, stack.qemu
        types = self.qom_types()
        for ver, qom, prop, value, before in sorted(MACHINE_COMPAT, key=lambda e: e[0],
                                                    reverse=True):
            if not (mv <= ver < qemu) or qom not in types:
                continue
            if before is not None and qemu >= before:
                continue
            if prop not in self._schema or prop in self.user_props:
                continue
            if self._schema[prop][0] == "ignore":
                continue
            self.opts[prop] = _parse_prop(_who(self), prop, self._schema[prop][0], value)
        self.compat_applied()

    def compat_applied(self) -> None:
        """Recompute what ``__init__`` derived from the properties (override)."""

    def realize(self, vm) -> None:
        """QEMU ``pci_qdev_realize``: the device's realize, then its ROM."""
        if not getattr(self, "_compat_done", False):
            self._compat_done = True
            self.apply_machine_compat(vm)
        self.realize_device(vm)
        self.add_option_rom(vm)

    def realize_device(self, vm) -> None:
        """The device's own ``realize``.  Override."""

    def reset(self) -> None:
        """The device's reset handler, run once the machine is complete
        (QEMU ``qemu_system_reset``).  Override where the reset state
        depends on other devices."""

    # --- helpers for subclasses -------------------------------------------------
    def _owned(self, mr: MemoryRegion) -> MemoryRegion:
        mr.owner = self.qdev_id or self.type_name
        return mr

    def _ram(self, vm, name: str, size: int) -> MemoryRegion:
        """``memory_region_init_ram``: a RAM block with a host address."""
        mr = self._owned(MemoryRegion.init_ram(name, size))
        if vm is not None:
            vm.alloc_ram(mr)
        return mr

    # --- the option ROM ------------------------------------------------------------
    def add_option_rom(self, vm) -> None:
        """QEMU hw/pci/pci.c ``pci_qdev_realize`` + ``pci_add_option_rom``.

        The ROM file is the ``romfile`` property, else the class default
        (``PCIDeviceClass.romfile``); none or an empty name: no ROM.  With
        ``rombar=0`` the file goes to the firmware through fw_cfg instead of
        a BAR (``rom_add_vga`` as ``vgaroms/<file>`` for a VGA-class device,
        0x0300, else ``rom_add_option`` as ``genroms/<file>``).  Otherwise a
        ROM region named ``<vmsd name>.rom`` (the device's migration section
        name, or its QOM type when it has none) of ``romsize`` bytes, or
        pow2ceil(file size), becomes BAR 6, a 32-bit memory BAR.
        """
        who = _who(self)
        romfile = self.opts["romfile"]
        if romfile is None:
            romfile = self.default_romfile
        if not romfile:
            return
        if not self.opts["rombar"]:
            cls = _get(self.config, 0x0A, 2)
            self.fw_cfg_rom = ("vgaroms/" if cls == 0x0300 else "genroms/") + os.path.basename(romfile)
            return
        size = _rom_file_size(romfile, getattr(vm, "stack", None) if vm is not None else None)
        romsize = self.opts["romsize"]
        if size is None:
            if romsize == _UNSET32:
                raise DeviceError(who, "romfile",
                                  f"failed to find romfile \"{romfile}\" (the model knows the sizes "
                                  f"of: {', '.join(sorted(ROM_FILE_SIZES))}; or give romsize=)")
        elif romsize != _UNSET32:
            if size > romsize:
                raise DeviceError(who, "romfile", f"romfile \"{romfile}\" ({size} bytes) is too "
                                  f"large for ROM size {romsize}")
        else:
            romsize = pow2ceil(size)
        # rule: QEMU formats the name into a 32-byte buffer (char name[32]),
        # so it is cut to 31 characters
        name = f"{self.vmsd_name or self.type_name}.rom"[:31]
        mr = self._owned(MemoryRegion.init_rom(name, romsize))
        if vm is not None:
            vm.alloc_ram(mr)
        self.rom = mr
        self.rom_file = romfile
        # hw/pci/pci.c pci_add_option_rom (v7.2.0, v10.0.0): only the class's
        # default image (no romfile= given) gets pci_patch_ids, which writes
        # the device's vendor and device ids into its first PCI data structure
        self.rom_ids_patched = self.opts["romfile"] is None
        self.register_bar(PCI_ROM_SLOT, 0, mr)


def _rom_file_size(romfile: str, stack=None) -> int | None:
    """The size of a ROM file, looked up by name (QEMU ``qemu_find_file``
    searches the firmware directories for a bare name; a path into one of
    them is the same file): the debian12 files for QEMU 7.2 to 9.x, the
    debian13 ones from QEMU 10.0."""
    base = os.path.basename(romfile)
    if os.path.dirname(romfile) and os.path.dirname(os.path.normpath(romfile)) not in _FIRMWARE_DIRS:
        return None
    if stack is not None and stack.qemu_at_least(10, 0):
        return ROM_FILE_SIZES_DEBIAN13.get(base)
    return ROM_FILE_SIZES.get(base)


# ---------------------------------------------------------------------------
# add-on devices
# ---------------------------------------------------------------------------

class Edu(QemuPCIDevice):
    """QEMU hw/misc/edu.c ``pci_edu_realize``: the educational device.

    1234:11e8 revision 0x10, class 0x00ff; INTA; a 64-bit MSI capability
    with one vector (``msi_init(pdev, 0, 1, true, false)``); BAR0 is the
    1 MiB I/O region ``edu-mmio``.
    """

    type_name = "edu"
    vendor_id = PCI_VENDOR_ID_QEMU
    device_id = 0x11E8
    revision = 0x10
    class_id = 0x00FF            # PCI_CLASS_OTHERS
    interrupt_pin = 1
    PROPS = {"dma_mask": ("uint64", (1 << 28) - 1)}

    def realize_device(self, vm) -> None:
        msi_init(self, 0, 1, True, False)
        self.mmio = self._owned(MemoryRegion.init_io("edu-mmio", 1 * MiB))
        self.register_bar(0, 0, self.mmio)


class IvshmemPlain(QemuPCIDevice):
    """QEMU hw/misc/ivshmem.c ``ivshmem_plain_realize`` /
    ``ivshmem_common_realize``: inter-VM shared memory without interrupts.

    1af4:1110 revision 1, class 0x0500 (RAM controller), no interrupt pin.
    BAR0 is ``ivshmem-mmio``, 256 bytes of registers (I/O region, 32-bit);
    BAR2 is the memory backend's own RAM region (named after the backend
    id), 64-bit prefetchable.  The backend must exist and not be used by
    another device.  (Realize sets the command register's I/O and memory
    bits, but the machine reset clears them again before the guest runs.)
    """

    type_name = "ivshmem-plain"
    vendor_id = PCI_VENDOR_ID_REDHAT_QUMRANET
    device_id = 0x1110
    revision = 1
    class_id = 0x0500
    vmsd_name = "ivshmem-plain"
    PROPS = {"memdev": ("str", None), "master": ("onoffauto", "off")}

    def realize_device(self, vm) -> None:
        who = _who(self)
        memdev = self.opts["memdev"]
        if not memdev:
            raise DeviceError(who, "memdev", "You must specify a 'memdev'")
        backend = vm.memdevs.get(memdev) if vm is not None else None
        if backend is None:
            raise DeviceError(who, "memdev", f"no memory backend with id {memdev!r} "
                              f"(have: {', '.join(sorted(vm.memdevs)) if vm else 'none'})")
        if backend.info.get("mapped_by"):
            raise DeviceError(who, "memdev", f"can't use already busy memdev: {memdev}")
        self.mmio = self._owned(MemoryRegion.init_io("ivshmem-mmio", 0x100))
        self.register_bar(0, 0, self.mmio)
        backend.info["mapped_by"] = self.qdev_id or self.type_name
        self.shmem = backend
        self.register_bar(2, PCI_BASE_ADDRESS_MEM_PREFETCH | PCI_BASE_ADDRESS_MEM_TYPE_64, backend)


class E1000E(QemuPCIDevice):
    """QEMU hw/net/e1000e.c ``e1000e_pci_realize``: Intel 82574L.

    8086:10d3, class 0x0200, PCI Express, INTA, subsystem from the
    ``subsys_ven``/``subsys`` properties (8086:0000).  BARs: 0 ``e1000e-mmio``
    (128 KiB I/O), 1 ``e1000e-flash`` (128 KiB empty container), 2
    ``e1000e-io`` (32-byte I/O port BAR), 3 ``e1000e-msix`` (16 KiB container
    with the 5-vector MSI-X table at 0 and PBA at 0x2000).  Capabilities:
    MSI-X at 0xa0, PCIe v1 at 0xe0, 64-bit MSI at 0xd0, PM at 0xc8; AER at
    0x100 and a Device Serial Number at 0x140 (its value, derived from the
    MAC address, is not modelled).  Default ROM efi-e1000e.rom.
    """

    type_name = "e1000e"
    vendor_id = PCI_VENDOR_ID_INTEL
    device_id = 0x10D3
    class_id = 0x0200
    is_express = True
    interrupt_pin = 1
    default_romfile = "efi-e1000e.rom"
    vmsd_name = "e1000e"
    PROPS = {"subsys_ven": ("uint16", PCI_VENDOR_ID_INTEL), "subsys": ("uint16", 0),
             "mac": ("ignore", None), "netdev": ("ignore", None),
             "disable_vnet_hdr": ("ignore", None), "init-vet": ("ignore", None)}

    def realize_device(self, vm) -> None:
        c = self.config
        # (realize sets the cache line size to 0x10; reset clears it)
        _set(c, PCI_SUBSYSTEM_VENDOR_ID, 2, self.opts["subsys_ven"])
        _set(c, PCI_SUBSYSTEM_ID, 2, self.opts["subsys"])
        self.mmio = self._owned(MemoryRegion.init_io("e1000e-mmio", 128 * KiB))
        self.register_bar(0, 0, self.mmio)
        self.flash = self._owned(MemoryRegion.init_container("e1000e-flash", 128 * KiB))
        self.register_bar(1, 0, self.flash)
        self.io = self._owned(MemoryRegion.init_io("e1000e-io", 32))
        self.register_bar(2, PCI_BASE_ADDRESS_SPACE_IO, self.io)
        self.msix = self._owned(MemoryRegion.init_container("e1000e-msix", 16 * KiB))
        self.register_bar(3, 0, self.msix)
        msix_init(self, 5, self.msix, 3, 0x0000, self.msix, 3, 0x2000, 0xA0)
        pcie_endpoint_cap_init(self, 0xE0, version=1)
        msi_init(self, 0xD0, 1, True, False)
        pm_capability(self, 0xC8, PCI_PM_CAP_VER_1_1 | PCI_PM_CAP_DSI, 0,
                      PCI_PM_CTRL_STATE_MASK | PCI_PM_CTRL_PME_ENABLE | PCI_PM_CTRL_DATA_SEL_MASK,
                      PCI_PM_CTRL_PME_STATUS)
        pcie_aer_init(self, 0x100)
        pcie_dev_ser_num_init(self, 0x140, 0)


class NVMe(QemuPCIDevice):
    """QEMU hw/nvme/ctrl.c ``nvme_init_pci`` (with ``nvme_check_constraints``).

    1b36:0010 (8086:5845 with ``use-intel-id=on``), revision 2, class
    0x0108 prog-if 2, PCI Express, INTA.  PM capability at 0x60 (version
    1.2, No_Soft_Reset), PCIe v2 at 0x80 with FLR, MSI-X of ``msix_qsize``
    (65) vectors at the first free offset.  BAR0 is the 64-bit container
    ``nvme-bar0`` (``nvme_bar_size``: the 4 KiB register file plus two 4-byte
    doorbells per queue, ``max_ioqpairs`` + 1 queues, rounded to 4 KiB, then
    the MSI-X table rounded to 4 KiB, then the PBA, all rounded to a power of
    two) holding the I/O region ``nvme`` (up to the table), ``msix-table``
    and ``msix-pba``.  ``cmb_size_mb`` adds BAR2, a 64-bit prefetchable I/O
    region ``nvme-cmb``; ``pmrdev`` makes the backend's RAM region BAR4
    (64-bit prefetchable, disabled until the guest enables the PMR).
    """

    type_name = "nvme"
    vendor_id = PCI_VENDOR_ID_REDHAT
    device_id = 0x0010
    revision = 2
    class_id = 0x0108
    prog_if = 0x02
    is_express = True
    interrupt_pin = 1
    vmsd_name = "nvme"
    PROPS = {
        "serial": ("str", None), "max_ioqpairs": ("uint32", 64), "num_queues": ("uint32", 0),
        "msix_qsize": ("uint16", 65), "cmb_size_mb": ("uint32", 0),
        "use-intel-id": ("bool", False), "pmrdev": ("str", None),
        "sriov_max_vfs": ("uint8", 0),
        "drive": ("ignore", None), "subsys": ("ignore", None), "aerl": ("ignore", None),
        "aer_max_queued": ("ignore", None), "mdts": ("ignore", None), "vsl": ("ignore", None),
        "legacy-cmb": ("ignore", None), "ioeventfd": ("ignore", None),
        "zoned.zasl": ("ignore", None), "zoned.auto_transition": ("ignore", None),
        "logical_block_size": ("ignore", None), "physical_block_size": ("ignore", None),
    }

    def realize_device(self, vm) -> None:
        who = _who(self)
        o = self.opts
        max_ioqpairs = o["max_ioqpairs"]
        if o["num_queues"]:
            max_ioqpairs = o["num_queues"] - 1          # deprecated spelling
        if not 1 <= max_ioqpairs <= 0xFFFF:
            raise DeviceError(who, "max_ioqpairs", "max_ioqpairs must be between 1 and 65535")
        if not 1 <= o["msix_qsize"] <= PCI_MSIX_FLAGS_QSIZE + 1:
            raise DeviceError(who, "msix_qsize", "msix_qsize must be between 1 and 2048")
        if not o["serial"]:
            raise DeviceError(who, "serial", "serial property not set")
        if o["sriov_max_vfs"]:
            raise DeviceError(who, "sriov_max_vfs", "SR-IOV is not modelled")
        c = self.config
        if o["use-intel-id"]:
            _set(c, PCI_VENDOR_ID, 2, PCI_VENDOR_ID_INTEL)
            _set(c, PCI_DEVICE_ID, 2, 0x5845)        # PCI_DEVICE_ID_INTEL_NVME
        pm_capability(self, 0x60, PCI_PM_CAP_VER_1_2, PCI_PM_CTRL_NO_SOFT_RESET,
                      PCI_PM_CTRL_STATE_MASK)
        pcie_endpoint_cap_init(self, 0x80)
        pcie_cap_flr_init(self)
        bar_size, table_off, pba_off = self.bar_size(max_ioqpairs + 1, o["msix_qsize"])
        self.bar0 = self._owned(MemoryRegion.init_container("nvme-bar0", bar_size))
        self.iomem = self._owned(MemoryRegion.init_io("nvme", table_off))
        self.bar0.add_subregion(0, self.iomem)
        self.register_bar(0, PCI_BASE_ADDRESS_MEM_TYPE_64, self.bar0)
        msix_init(self, o["msix_qsize"], self.bar0, 0, table_off, self.bar0, 0, pba_off, 0)
        if o["cmb_size_mb"]:
            self.cmb = self._owned(MemoryRegion.init_io("nvme-cmb", o["cmb_size_mb"] * MiB))
            self.register_bar(2, PCI_BASE_ADDRESS_MEM_TYPE_64 | PCI_BASE_ADDRESS_MEM_PREFETCH,
                              self.cmb)
        if o["pmrdev"]:
            backend = vm.memdevs.get(o["pmrdev"]) if vm is not None else None
            if backend is None:
                raise DeviceError(who, "pmrdev", f"no memory backend with id {o['pmrdev']!r}")
            if backend.info.get("mapped_by"):
                raise DeviceError(who, "pmrdev", f"can't use already busy memdev: {o['pmrdev']}")
            backend.info["mapped_by"] = self.qdev_id or self.type_name
            self.register_bar(4, PCI_BASE_ADDRESS_MEM_TYPE_64 | PCI_BASE_ADDRESS_MEM_PREFETCH,
                              backend)
            backend.set_enabled(False)

    @staticmethod
    def bar_size(total_queues: int, total_irqs: int) -> tuple[int, int, int]:
        """QEMU ``nvme_bar_size``: (BAR size, MSI-X table offset, PBA offset)."""
        size = align_up(4096 + 2 * total_queues * 4, 4 * KiB)   # sizeof(NvmeBar) + doorbells
        table_off = size
        size = align_up(size + PCI_MSIX_ENTRY_SIZE * total_irqs, 4 * KiB)
        pba_off = size
        size += align_up(total_irqs, 64) // 8
        return pow2ceil(size), table_off, pba_off


#: The virtio-pci common properties (QEMU hw/virtio/virtio-pci.c
#: ``virtio_pci_properties`` and ``virtio_pci_generic_properties``).
_VIRTIO_PCI_PROPS: dict[str, tuple[str, object]] = {
    "disable-legacy": ("onoffauto", "auto"), "disable-modern": ("bool", False),
    "modern-pio-notify": ("bool", False), "x-disable-pcie": ("bool", False),
    "page-per-vq": ("bool", False), "ats": ("bool", False), "x-ats-page-aligned": ("bool", True),
    "x-pcie-deverr-init": ("bool", True), "x-pcie-lnkctl-init": ("bool", True),
    "x-pcie-pm-init": ("bool", True), "x-pcie-flr-init": ("bool", True),
    "x-pcie-pm-no-soft-reset": ("bool", False),
    "aer": ("bool", False), "x-ignore-backend-features": ("ignore", None),
    "virtio-pci-bus-master-bug-migration": ("ignore", None), "migrate-extra": ("ignore", None),
    "ioeventfd": ("ignore", None),
    # virtio device properties (hw/virtio/virtio.c virtio_properties and the
    # common feature bits) that change nothing in PCI
    **{n: ("ignore", None) for n in (
        "indirect_desc", "event_idx", "notify_on_empty", "any_layout", "iommu_platform",
        "packed", "use-started", "use-disabled-flag", "x-disable-legacy-check",
        "queue_reset", "in_order", "notification-data")},
}


class VirtIOPCIProxy(QemuPCIDevice):
    """The generic virtio-over-PCI transport: QEMU hw/virtio/virtio-pci.c
    ``virtio_pci_dc_realize``, ``virtio_pci_realize`` and
    ``virtio_pci_device_plugged`` (v7.2.0 b67b00e6b4; the same layout in
    v10.0.0 7c949c53e9), with the per-device ``*-pci.c`` realize that picks
    the vector count, the class and sometimes forces virtio 1.0.

    Subclasses give ``virtio_id`` (VIRTIO_ID_*), ``vdev_name`` (the virtio
    device's name, which names the modern regions), ``device_id`` (the
    legacy/transitional id), ``class_id``, ``legacy_allowed``
    (hw/virtio/virtio.c ``virtio_legacy_allowed``: only net, block,
    console, rng, balloon, scsi, 9p, rpmsg, rproc-serial and caif may be
    legacy), ``force_virtio_1`` (``virtio_pci_force_virtio_1``: modern
    only, as virtio-gpu and virtio-input do), :meth:`default_vectors` and
    :meth:`config_len` (the virtio config size behind the legacy header).

    Layout: ``disable-legacy=auto`` resolves to *on* on a PCIe bus that is
    not a root bus (behind a root port: modern only, 1af4:1040+id revision
    1) and *off* elsewhere (transitional: the legacy id, revision 0,
    subsystem id = virtio id).  The function is PCI Express only when
    modern, ``x-disable-pcie`` is off and the bus is a PCIe non-root bus;
    then PCIe v2 endpoint, PM (version 1.2), optional AER/ATS, FLR come
    first.  Modern: the 64-bit prefetchable container ``virtio-pci``
    (16 KiB: common 0, isr 0x1000, device 0x2000, notify 0x3000 of 4 bytes
    per queue for 1024 queues, or a page each with ``page-per-vq``) in
    BAR ``modern_mem_bar_idx`` (4), each region announced by a vendor
    capability, then the PCI-config-access capability; ``modern-pio-notify``
    adds the 4-byte I/O BAR ``modern_io_bar_idx`` (2).  MSI-X (``vectors``;
    0 = none) in its own BAR ``msix_bar_idx`` (1, ``msix_init_exclusive_bar``).
    Legacy: the I/O region ``virtio-pci`` of pow2ceil(20, or 24 with MSI-X,
    + config_len) bytes in BAR ``legacy_io_bar_idx`` (0).
    """

    vendor_id = PCI_VENDOR_ID_REDHAT_QUMRANET
    revision = 0                  # VIRTIO_PCI_ABI_VERSION
    is_express = True             # INTERFACE_PCIE_DEVICE; trimmed in express_on()
    QOM_TYPES = ("virtio-pci", "virtio-device")
    virtio_id = 0
    vdev_name = "virtio"
    legacy_allowed = True
    force_virtio_1 = False
    #: ``proxy->class_code`` set by the device realize (0: keep class_id)
    class_code = 0
    legacy_io_bar_idx, msix_bar_idx, modern_io_bar_idx, modern_mem_bar_idx = 0, 1, 2, 4
    #: forced disable-legacy of the -transitional/-non-transitional types
    fixed_disable_legacy: str | None = None
    VIRTIO_QUEUE_MAX = 1024
    PROPS = dict(_VIRTIO_PCI_PROPS)

    def _stack(self, vm):
        return getattr(vm, "stack", None) if vm is not None else None

    #: include/hw/pci/pci_regs.h PCI_MSIX_FLAGS_QSIZE: the most MSI-X
    #: vectors a function can have, less one
    PCI_MSIX_FLAGS_QSIZE = 0x7FF

    def optimal_num_queues(self, vm, fixed_queues: int) -> int:
        """hw/virtio/virtio-pci.c ``virtio_pci_optimal_num_queues`` (v7.2.0
        and v10.0.0 alike; since QEMU 5.2, commit 1436f32a84): one queue per
        vCPU, ``current_machine->smp.cpus`` (``-smp``, model/machine.py
        smp_topology; 1 without it), capped so the queues plus the
        ``fixed_queues`` plus the config interrupt fit in
        ``PCI_MSIX_FLAGS_QSIZE`` + 1 vectors, and to ``VIRTIO_QUEUE_MAX``
        (1024) less the fixed queues."""
        n = int(getattr(vm, "smp_cpus", 1) or 1) if vm is not None else 1
        n = min(n, self.PCI_MSIX_FLAGS_QSIZE - fixed_queues)
        return min(n, self.VIRTIO_QUEUE_MAX - fixed_queues)

    def default_vectors(self, vm) -> int:
        """``nvectors`` when ``vectors`` is not given: 0 (no MSI-X) unless
        the device's realize picks a number."""
        return 0

    def config_len(self) -> int:
        """The virtio device's config size (``virtio_bus_get_vdev_config_len``)."""
        return 0

    def _mode(self, bus: PCIBus | None) -> tuple[bool, bool]:
        """(legacy, modern) for this bus (``virtio_pci_realize``, then
        ``virtio_pci_force_virtio_1`` in the device realize)."""
        if self.force_virtio_1:
            return False, True
        pcie_port = pci_bus_is_express(bus) and bus is not None and not bus.is_root()
        dl = self.fixed_disable_legacy or self.opts.get("disable-legacy", "auto")
        if dl == "auto":
            dl = "on" if pcie_port else "off"
        modern = not self.opts.get("disable-modern", False)
        return dl == "off", modern

    def express_on(self, bus: PCIBus | None) -> bool:
        """``virtio_pci_dc_realize`` sets the express flag for a modern
        device unless ``x-disable-pcie``; ``virtio_pci_realize`` clears it
        again unless the bus is a PCIe bus that is not a root bus."""
        modern = not self.opts.get("disable-modern", False) or self.force_virtio_1
        pcie_port = pci_bus_is_express(bus) and bus is not None and not bus.is_root()
        return modern and not self.opts["x-disable-pcie"] and pcie_port

    def check_props(self, vm) -> None:
        """Device-specific property checks (override)."""

    def device_realize(self, vm) -> None:
        """What the device's own realize adds after the PCIe capabilities
        and before the virtio device is plugged (override)."""

    def realize_device(self, vm) -> None:
        who = _who(self)
        o = self.opts
        stack = self._stack(vm)
        if o["x-pcie-pm-no-soft-reset"] and (stack is None or not stack.qemu_at_least(9, 1)):
            # the property exists from QEMU 9.1 (commit 5d98e18823
            # "virtio-pci: implement No_Soft_Reset bit")
            raise DeviceError(who, "x-pcie-pm-no-soft-reset", "no such property before QEMU 9.1")
        legacy, modern = self._mode(self.bus)
        if not legacy and not modern:
            raise DeviceError(who, "disable-legacy", "device cannot work as neither modern nor "
                              "legacy mode is enabled")
        self.check_props(vm)
        c = self.config
        # --- virtio_pci_realize: PCIe capabilities on a PCIe port ---
        if self.is_express:
            last = PCI_CONFIG_SPACE_SIZE
            pcie_endpoint_cap_init(self, 0)
            pm = pm_capability(self, 0, 0x3)
            if o["aer"]:
                pcie_aer_init(self, last)
                last += PCI_ERR_SIZEOF
            if o["x-pcie-deverr-init"]:
                pcie_cap_deverr_init(self)
            if o["x-pcie-lnkctl-init"]:
                pcie_cap_lnkctl_init(self)
            if o["x-pcie-pm-no-soft-reset"]:
                _set(c, pm + PCI_PM_CTRL, 2, PCI_PM_CTRL_NO_SOFT_RESET)
            if o["x-pcie-pm-init"]:
                _set(self.wmask, pm + PCI_PM_CTRL, 2, PCI_PM_CTRL_STATE_MASK)
            if o["ats"]:
                pcie_ats_init(self, last, o["x-ats-page-aligned"])
                last += PCI_EXT_CAP_ATS_SIZEOF
            if o["x-pcie-flr-init"]:
                pcie_cap_flr_init(self)
        # --- the device's realize (VirtioPCIClass.realize) ---
        self.device_realize(vm)
        # --- the device's realize: the vector count ---
        nvectors = o.get("vectors")
        if nvectors is None:
            nvectors = self.default_vectors(vm)
        self.nvectors = nvectors
        # --- virtio_pci_device_plugged ---
        if legacy and not self.legacy_allowed:
            raise DeviceError(who, "disable-legacy", "device is modern-only, use "
                              "disable-legacy=on")
        if self.class_code:
            _set(c, 0x0A, 2, self.class_code)
        if legacy:
            _set(c, PCI_SUBSYSTEM_ID, 2, self.virtio_id)
        else:
            _set(c, PCI_VENDOR_ID, 2, PCI_VENDOR_ID_REDHAT_QUMRANET)
            _set(c, PCI_DEVICE_ID, 2, 0x1040 + self.virtio_id)
            c[PCI_REVISION_ID] = 1
            # the identity the rest of the model (info pci, lspci) reads
            self.device_id, self.revision = 0x1040 + self.virtio_id, 1
        if self.class_code:
            self.class_id = self.class_code
        c[PCI_INTERRUPT_PIN] = 1
        if modern:
            self._modern_regions(o)
        if nvectors:
            msix_init_exclusive_bar(self, nvectors, self.msix_bar_idx)
        if legacy:
            # VIRTIO_PCI_REGION_SIZE: 24 bytes of common header with MSI-X, else 20
            size = pow2ceil((24 if nvectors else 20) + self.config_len())
            self.bar = self._owned(MemoryRegion.init_io("virtio-pci", size))
            self.register_bar(self.legacy_io_bar_idx, PCI_BASE_ADDRESS_SPACE_IO, self.bar)

    def _region_layout(self, notify_size: int) -> list[tuple[str, int, int, int]]:
        """(kind, offset, size, cfg_type) of the four modern regions
        (``virtio_pci_device_plugged``)."""
        return [("common", 0x0000, 0x1000, 1), ("isr", 0x1000, 0x1000, 3),
                ("device", 0x2000, 0x1000, 4), ("notify", 0x3000, notify_size, 2)]

    def _modern_regions(self, o) -> None:
        mult = 0x1000 if o["page-per-vq"] else 4     # virtio_pci_queue_mem_mult
        notify_size = mult * self.VIRTIO_QUEUE_MAX
        self.modern_bar = self._owned(MemoryRegion.init_container(
            "virtio-pci", pow2ceil(0x3000 + notify_size)))
        self.modern_regions = {}
        for kind, off, size, cfg_type in self._region_layout(notify_size):
            mr = self._owned(MemoryRegion.init_io(f"virtio-pci-{kind}-{self.vdev_name}", size))
            self.modern_bar.add_subregion(off, mr)
            self.modern_regions[kind] = mr
            self._virtio_cap(cfg_type, self.modern_mem_bar_idx, off, size,
                             mult if kind == "notify" else None)
        if o["modern-pio-notify"]:
            self.io_bar = self._owned(MemoryRegion.init_container("virtio-pci-io", 4))
            self.register_bar(self.modern_io_bar_idx, PCI_BASE_ADDRESS_SPACE_IO, self.io_bar)
            mr = self._owned(MemoryRegion.init_io(f"virtio-pci-notify-pio-{self.vdev_name}", 4))
            self.io_bar.add_subregion(0, mr)
            self.modern_regions["notify-pio"] = mr
            self._virtio_cap(2, self.modern_io_bar_idx, 0, 4, 0)
        self.register_bar(self.modern_mem_bar_idx,
                          PCI_BASE_ADDRESS_MEM_PREFETCH | PCI_BASE_ADDRESS_MEM_TYPE_64,
                          self.modern_bar)
        # the PCI configuration access capability (VIRTIO_PCI_CAP_PCI_CFG):
        # bar, offset, length and data writable
        pos = self._virtio_cap(5, 0, 0, 0, None, cfg=True)
        self.wmask[pos + 4] = 0xFF
        _set(self.wmask, pos + 8, 4, 0xFFFFFFFF)
        _set(self.wmask, pos + 12, 4, 0xFFFFFFFF)
        _set(self.wmask, pos + 16, 4, 0xFFFFFFFF)

    def _virtio_cap(self, cfg_type: int, bar: int, offset: int, length: int,
                    notify_mult: int | None, cfg: bool = False) -> int:
        """``virtio_pci_add_mem_cap``: a vendor capability (struct
        virtio_pci_cap, 16 bytes; 20 with the notify multiplier or the
        config-access data) at the first free offset."""
        cap_len = 20 if (notify_mult is not None or cfg) else 16
        pos = pci_add_capability(self, PCI_CAP_ID_VNDR, 0, cap_len)
        c = self.config
        c[pos + 2] = cap_len
        c[pos + 3] = cfg_type
        c[pos + 4] = bar
        _set(c, pos + 8, 4, offset)
        _set(c, pos + 12, 4, length)
        if notify_mult is not None:
            _set(c, pos + 16, 4, notify_mult)
        return pos


def _virtio_variants(base: type, generic: str) -> tuple[type, type]:
    """The ``-transitional`` and ``-non-transitional`` types QEMU's
    ``virtio_pci_types_register`` makes of a generic virtio-pci type
    (``virtio_pci_transitional_instance_init``: legacy + modern;
    ``virtio_pci_non_transitional_instance_init``: modern only); the two
    mode properties belong to the generic type only."""
    excluded = tuple(base.EXCLUDED_PROPS) + ("disable-legacy", "disable-modern")
    trans = type(base.__name__ + "Transitional", (base,), {
        "__doc__": f"QEMU ``{generic}-transitional``: always legacy + modern.",
        "type_name": f"{generic}-transitional", "fixed_disable_legacy": "off",
        "EXCLUDED_PROPS": excluded, "__module__": __name__})
    non = type(base.__name__ + "NonTransitional", (base,), {
        "__doc__": f"QEMU ``{generic}-non-transitional``: modern only.",
        "type_name": f"{generic}-non-transitional", "fixed_disable_legacy": "on",
        "EXCLUDED_PROPS": excluded, "__module__": __name__})
    return trans, non


class VirtIONetPCI(VirtIOPCIProxy):
    """QEMU hw/virtio/virtio-net-pci.c with hw/net/virtio-net.c: virtio-net.

    1af4:1000 (1041 modern), class 0x0200.  Vectors default to
    2 * queues + 2 = 4.  Legacy BAR: pow2ceil(24 + the virtio-net config
    size).  Default ROM efi-virtio.rom (region ``virtio-net-pci.rom``).
    """

    QOM_TYPES = ("virtio-net-pci-base", "virtio-net-device")

    type_name = "virtio-net-pci"
    device_id = 0x1000            # PCI_DEVICE_ID_VIRTIO_NET
    class_id = 0x0200
    default_romfile = "efi-virtio.rom"
    virtio_id = 1
    VIRTIO_ID_NET = 1
    vdev_name = "virtio-net"
    PROPS = {
        # hw/virtio/virtio-net-pci.c
        "vectors": ("uint32", None),
        # hw/net/virtio-net.c features that change the config space size
        "status": ("bool", True), "mq": ("bool", False), "host_mtu": ("uint16", 0),
        "speed": ("int32", -1), "duplex": ("str", None), "rss": ("bool", False),
        "hash": ("bool", False),
        # hw/net/virtio-net.c properties that do not change the PCI layout
        **{n: ("ignore", None) for n in (
            "mac", "netdev", "csum", "guest_csum", "gso", "guest_tso4", "guest_tso6", "guest_ecn",
            "guest_ufo", "guest_announce", "host_tso4", "host_tso6", "host_ecn", "host_ufo",
            "mrg_rxbuf", "ctrl_vq", "ctrl_rx", "ctrl_vlan", "ctrl_rx_extra", "ctrl_mac_addr",
            "ctrl_guest_offloads", "guest_rsc_ext", "rsc_interval", "x-txtimer", "x-txburst",
            "tx", "rx_queue_size", "tx_queue_size", "x-mtu-bypass-backend", "failover",
            "ebpf-rss-fds", "guest_uso4", "guest_uso6", "host_uso")},
    }

    def netdev_queues(self, vm) -> int:
        """``nic_conf.peers.queues``: the queue pairs of the ``netdev=``
        back end (QemuConfig.netdevs, read by inputs/cmdline.py; 1 without a
        back end or one the config does not list)."""
        nid = self.opts.get("netdev")
        cfg = getattr(vm, "config", None) if vm is not None else None
        netdevs = getattr(cfg, "netdevs", None) or {}
        if nid is None or str(nid) not in netdevs:
            return 1
        n = netdevs[str(nid)]
        if n is None:
            raise DeviceError(_who(self), "vectors", f"netdev {nid}'s queue pairs come from the "
                              f"vhost-vdpa device; give vectors= (2 * queue pairs + 2)")
        return n

    def default_vectors(self, vm) -> int:
        # hw/virtio/virtio-net-pci.c virtio_net_pci_realize (v7.2.0, v10.0.0):
        # 2 * MAX(nic_conf.peers.queues, 1) + 2; the -smp count plays no part
        return 2 * max(self.netdev_queues(vm), 1) + 2

    def check_props(self, vm) -> None:
        o = self.opts
        if o["duplex"] is not None and o["duplex"] not in ("half", "full"):
            raise DeviceError(_who(self), "duplex", "'duplex' must be 'half' or 'full'")

    def config_len(self) -> int:
        """``virtio_net_set_config_size``: struct virtio_net_config up to the
        last field of an offered feature (MAC always; STATUS, MQ, MTU,
        SPEED_DUPLEX, RSS/HASH_REPORT)."""
        o = self.opts
        size = 6                                      # mac
        if o["status"]:
            size = max(size, 8)
        if o["mq"]:
            size = max(size, 10)
        if o["host_mtu"]:
            size = max(size, 12)
        if o["duplex"] is not None or o["speed"] >= 0:
            size = max(size, 17)
        if o["rss"] or o["hash"]:
            size = max(size, 24)
        return size


VirtIONetPCITransitional, VirtIONetPCINonTransitional = _virtio_variants(VirtIONetPCI,
                                                                         "virtio-net-pci")

_BLOCK_IGNORED = ("drive", "logical_block_size", "physical_block_size", "min_io_size",
                  "opt_io_size", "discard_granularity", "write-cache", "share-rw",
                  "account-invalid", "account-failed", "rerror", "werror", "serial",
                  "cyls", "heads", "secs", "lcyls", "lheads", "lsecs", "bootindex",
                  "backend_defaults")


class VirtIOBlkPCI(VirtIOPCIProxy):
    """QEMU hw/virtio/virtio-blk-pci.c and hw/block/virtio-blk.c,
    hw/block/virtio-blk-common.c: virtio-blk.

    1af4:1001 (1042 modern), class 0x0100 (PCI_CLASS_STORAGE_SCSI; the
    ``class`` property overrides it).  ``num-queues`` defaults to the vCPU
    count (``virtio_pci_optimal_num_queues``, QEMU 5.2+), vectors to
    num-queues + 1.  Config size (``virtio_blk_cfg_size_params``): up to
    ``max_discard_sectors`` (36 bytes), to the end of
    ``discard_sector_alignment`` (48) with ``discard``, to the end of
    ``write_zeroes_may_unmap`` (57) with ``write-zeroes``; both are on by
    default.
    """

    QOM_TYPES = ("virtio-blk-pci-base", "virtio-blk-device")

    type_name = "virtio-blk-pci"
    device_id = 0x1001
    class_id = 0x0100
    virtio_id = 2
    vdev_name = "virtio-blk"
    PROPS = {"vectors": ("uint32", None), "class": ("uint32", 0),
             "num-queues": ("uint16", None), "discard": ("bool", True),
             "write-zeroes": ("bool", True), "queue-size": ("uint16", 256),
             **{n: ("ignore", None) for n in _BLOCK_IGNORED + (
                 "iothread", "iothread-vq-mapping", "config-wce", "seg-max-adjust",
                 "report-discard-granularity", "max-discard-sectors",
                 "max-write-zeroes-sectors", "x-enable-wce-if-config-wce", "request-merging",
                 "scsi")}}

    @property
    def class_code(self) -> int:          # noqa: D401 - the ``class`` property
        return self.opts.get("class", 0) if hasattr(self, "opts") else 0

    #: include/hw/virtio/virtio-blk.h: the num-queues default, "one per vCPU"
    VIRTIO_BLK_AUTO_NUM_QUEUES = 0xFFFF

    def num_queues(self, vm) -> int:
        n = self.opts["num-queues"]
        # virtio_blk_pci_realize: VIRTIO_BLK_AUTO_NUM_QUEUES (the default,
        # unless -device num-queues= or hw_compat_5_1's 1) -> one per vCPU
        if n is None or n == self.VIRTIO_BLK_AUTO_NUM_QUEUES:
            return self.optimal_num_queues(vm, 0)
        return n

    def check_props(self, vm) -> None:
        # hw/block/virtio-blk.c virtio_blk_device_realize (v7.2.0, v10.0.0)
        n = self.opts["num-queues"]
        if n == 0:
            raise DeviceError(_who(self), "num-queues", "num-queues property must be larger than 0")
        if n is not None and n != self.VIRTIO_BLK_AUTO_NUM_QUEUES and n > self.VIRTIO_QUEUE_MAX:
            # hw/virtio/virtio.c virtio_add_queue aborts at VIRTIO_QUEUE_MAX
            raise DeviceError(_who(self), "num-queues", f"{n} queues: more than VIRTIO_QUEUE_MAX "
                              f"({self.VIRTIO_QUEUE_MAX}); QEMU aborts (virtio_add_queue)")

    def default_vectors(self, vm) -> int:
        return self.num_queues(vm) + 1

    def config_len(self) -> int:
        size = 36
        if self.opts["discard"]:
            size = max(size, 48)
        if self.opts["write-zeroes"]:
            size = max(size, 57)
        return size


class VirtIOSCSIPCI(VirtIOPCIProxy):
    """QEMU hw/virtio/virtio-scsi-pci.c and hw/scsi/virtio-scsi.c.

    1af4:1004 (1048 modern), class 0x0100, revision 0.  ``num_queues``
    defaults to the vCPU count; vectors = num_queues + 2 fixed queues + 1.
    Config: struct virtio_scsi_config, 36 bytes.
    """

    QOM_TYPES = ("virtio-scsi-pci-base", "virtio-scsi-device")

    type_name = "virtio-scsi-pci"
    device_id = 0x1004
    class_id = 0x0100
    virtio_id = 8
    vdev_name = "virtio-scsi"
    PROPS = {"vectors": ("uint32", None), "num_queues": ("uint32", None),
             **{n: ("ignore", None) for n in (
                 "iothread", "virtqueue_size", "seg_max_adjust", "max_sectors", "cmd_per_lun",
                 "hotplug", "param_change", "iothread-vq-mapping")}}

    #: include/hw/virtio/virtio-scsi.h: the num_queues default, "one per vCPU"
    VIRTIO_SCSI_AUTO_NUM_QUEUES = 0xFFFFFFFF

    def check_props(self, vm) -> None:
        # hw/scsi/virtio-scsi.c virtio_scsi_common_realize (v7.2.0, v10.0.0)
        n = self.opts["num_queues"]
        if n == self.VIRTIO_SCSI_AUTO_NUM_QUEUES:
            n = None
        if n is not None and (n == 0 or n > self.VIRTIO_QUEUE_MAX - 2):
            raise DeviceError(_who(self), "num_queues", f"Invalid number of queues (= {n}), must be "
                              f"a positive integer less than {self.VIRTIO_QUEUE_MAX - 2}.")

    def default_vectors(self, vm) -> int:
        n = self.opts["num_queues"]
        if n == self.VIRTIO_SCSI_AUTO_NUM_QUEUES:
            n = None
        # virtio_scsi_pci_realize: VIRTIO_SCSI_AUTO_NUM_QUEUES (the default,
        # unless num_queues= or hw_compat_5_1's 1) -> one per vCPU, beside
        # the VIRTIO_SCSI_VQ_NUM_FIXED (2) control and event queues
        n = n if n is not None else self.optimal_num_queues(vm, 2)
        return n + 2 + 1            # VIRTIO_SCSI_VQ_NUM_FIXED + 1

    def config_len(self) -> int:
        return 36


class VirtIOSerialPCI(VirtIOPCIProxy):
    """QEMU hw/virtio/virtio-serial-pci.c and hw/char/virtio-serial-bus.c.

    1af4:1003 (1043 modern); ``class`` is forced to 0x0780 (communication,
    other) unless it is 0x0380 or 0x00ff; vectors default to 2 (the
    ``vectors`` property default).  Config: cols, rows, max_nr_ports (8
    bytes) plus emerg_wr (12) with ``emergency-write`` (on).
    """

    QOM_TYPES = ("virtio-serial-pci-base", "virtio-serial-device")

    type_name = "virtio-serial-pci"
    device_id = 0x1003
    class_id = 0x0780
    virtio_id = 3
    vdev_name = "virtio-serial"
    PROPS = {"vectors": ("uint32", 2), "class": ("uint32", 0),
             "max_ports": ("uint32", 31), "emergency-write": ("bool", True)}

    @property
    def class_code(self) -> int:
        cc = self.opts.get("class", 0) if hasattr(self, "opts") else 0
        return cc if cc in (0x0780, 0x0380, 0x00FF) else 0x0780

    def config_len(self) -> int:
        return 12 if self.opts["emergency-write"] else 8


class VirtIOBalloonPCI(VirtIOPCIProxy):
    """QEMU hw/virtio/virtio-balloon-pci.c and hw/virtio/virtio-balloon.c.

    1af4:1002 (1045 modern), class 0x00ff.  MSI-X: none up to QEMU 9.2
    (the type has no ``vectors`` property); from QEMU 10.0 (commit
    fe638ae67b "virtio-balloon-pci: Allow setting nvectors, so we can use
    MSI-X") ``vectors`` defaults to 2, except on machine types up to 9.2
    (hw/core/machine.c ``hw_compat_9_2`` sets it to 0).  Config size
    (``virtio_balloon_config_size``): 16 bytes with ``page-poison`` (on) or
    ``qemu-4-0-config-size``, 12 with ``free-page-hint``, else 8.
    """

    QOM_TYPES = ("virtio-balloon-pci-base", "virtio-balloon-device")

    type_name = "virtio-balloon-pci"
    device_id = 0x1002
    class_id = 0x00FF
    class_code = 0x00FF
    virtio_id = 5
    vdev_name = "virtio-balloon"
    PROPS = {"vectors": ("uint32", None), "page-poison": ("bool", True),
             "free-page-hint": ("bool", False), "qemu-4-0-config-size": ("bool", False),
             **{n: ("ignore", None) for n in ("deflate-on-oom", "free-page-reporting",
                                              "guest-stats-polling-interval", "iothread")}}

    def check_props(self, vm) -> None:
        stack = self._stack(vm)
        if self.opts["vectors"] is not None and (stack is None or not stack.qemu_at_least(10, 0)):
            raise DeviceError(_who(self), "vectors", "no such property of virtio-balloon-pci "
                              "before QEMU 10.0")
        # hw/virtio/virtio-balloon.c virtio_balloon_device_realize: one balloon
        for other in (vm.devices if vm is not None else []):
            if isinstance(other, VirtIOBalloonPCI) and other is not self:
                raise DeviceError(_who(self), "-device", "Only one balloon device is supported")

    def default_vectors(self, vm) -> int:
        # 2 from QEMU 10.0 (the machine types up to 9.2 get vectors=0 from
        # MACHINE_COMPAT, hw_compat_9_2)
        stack = self._stack(vm)
        return 2 if stack is not None and stack.qemu_at_least(10, 0) else 0

    def config_len(self) -> int:
        o = self.opts
        if o["qemu-4-0-config-size"] or o["page-poison"]:
            return 16
        if o["free-page-hint"]:
            return 12
        return 8


class VirtIORngPCI(VirtIOPCIProxy):
    """QEMU hw/virtio/virtio-rng-pci.c: 1af4:1005 (1044 modern), class
    0x00ff; vectors default to 2; no config space."""

    QOM_TYPES = ("virtio-rng-pci-base", "virtio-rng-device")

    type_name = "virtio-rng-pci"
    device_id = 0x1005
    class_id = 0x00FF
    virtio_id = 4
    vdev_name = "virtio-rng"
    PROPS = {"vectors": ("uint32", None),
             **{n: ("ignore", None) for n in ("rng", "max-bytes", "period")}}

    def default_vectors(self, vm) -> int:
        return 2


class VirtIO9pPCI(VirtIOPCIProxy):
    """QEMU hw/virtio/virtio-9p-pci.c and hw/9pfs/virtio-9p-device.c:
    1af4:1009 (1049 modern), class 0x0002; vectors default to 2; config:
    the 2-byte tag length and the ``mount_tag``."""

    type_name = "virtio-9p-pci"
    device_id = 0x1009
    class_id = 0x0002
    virtio_id = 9
    vdev_name = "virtio-9p"
    PROPS = {"vectors": ("uint32", 2), "mount_tag": ("str", None),
             **{n: ("ignore", None) for n in ("fsdev",)}}

    def check_props(self, vm) -> None:
        if not self.opts["mount_tag"]:
            raise DeviceError(_who(self), "mount_tag", "fsdev with id (null) needs mount_tag "
                              "arguments")

    def config_len(self) -> int:
        return 2 + len(self.opts["mount_tag"].encode())


class VirtIOGPUPCI(VirtIOPCIProxy):
    """QEMU hw/display/virtio-gpu-pci.c: modern only
    (``virtio_pci_force_virtio_1``), 1af4:1050, class 0x0380; vectors
    default to 3 (``DEFINE_VIRTIO_GPU_PCI_PROPERTIES``)."""

    type_name = "virtio-gpu-pci"
    device_id = 0x1050
    class_id = 0x0380
    virtio_id = 16
    vdev_name = "virtio-gpu"
    legacy_allowed = False
    force_virtio_1 = True
    PROPS = {"vectors": ("uint32", 3), "hostmem": ("size", 0),
             **{n: ("ignore", None) for n in (
                 "max_outputs", "max_hostmem", "edid", "xres", "yres", "virgl", "stats",
                 "blob", "context_init")}}

    def device_realize(self, vm) -> None:
        """``hostmem`` (QEMU 8.2+, commit ba62dfa707 "virtio-gpu: hostmem";
        hw/display/virtio-gpu-pci.c ``virtio_gpu_pci_base_realize``): a
        64-bit prefetchable BAR4 ``virtio-gpu-hostmem`` of that size, the
        modern registers move to BAR2 and MSI-X to BAR1, and a 24-byte
        shared-memory capability (type 8, id 1 = host visible) comes first."""
        size = self.opts["hostmem"]
        if not size:
            return
        stack = self._stack(vm)
        who = _who(self)
        if stack is None or not stack.qemu_at_least(8, 2):
            raise DeviceError(who, "hostmem", "no such property before QEMU 8.2")
        if not is_pow2(size):
            # pci_register_bar asserts a power-of-two size: QEMU aborts
            raise DeviceError(who, "hostmem", f"{size:#x} is not a power of two (QEMU's "
                              f"pci_register_bar aborts on it)")
        self.msix_bar_idx, self.modern_mem_bar_idx = 1, 2
        self.hostmem = self._owned(MemoryRegion.init_container("virtio-gpu-hostmem", size))
        self.register_bar(4, PCI_BASE_ADDRESS_MEM_PREFETCH | PCI_BASE_ADDRESS_MEM_TYPE_64,
                          self.hostmem)
        pos = pci_add_capability(self, PCI_CAP_ID_VNDR, 0, 24)
        c = self.config
        c[pos + 2], c[pos + 3], c[pos + 4], c[pos + 5] = 24, 8, 4, 1
        _set(c, pos + 12, 4, size & 0xFFFFFFFF)
        _set(c, pos + 20, 4, size >> 32)


class VirtIOVGA(VirtIOGPUPCI):
    """QEMU hw/display/virtio-vga.c ``virtio_vga_base_realize``: virtio-gpu
    with the standard VGA compatibility registers.

    1af4:1050, class 0x0300, modern only.  BAR0 the RAM region ``vga.vram``
    (8 MiB, ``vram_size_mb = 8``; dirty logging), 32-bit prefetchable; the
    modern container in BAR2 with the regions moved to its end (notify
    0x3000, device 0x2000, isr 0x1800 and common 0x1000, isr and common
    halved to 2 KiB without ``page-per-vq``) and the stdvga registers at
    0x400 (``vga ioports remapped``), 0x500 (``bochs dispi interface``)
    and 0x600 (``qemu extended regs``), no EDID; MSI-X in BAR4; modern PIO
    notify in BAR5.  The legacy VGA window and ports as VGA.  Default ROM
    vgabios-virtio.bin (region ``virtio-vga.rom``).
    """

    type_name = "virtio-vga"
    class_id = 0x0300
    default_romfile = "vgabios-virtio.bin"
    vmsd_name = "virtio-vga"
    modern_mem_bar_idx, msix_bar_idx, modern_io_bar_idx = 2, 4, 5

    def realize_device(self, vm) -> None:
        # vga_common_init with vram_size_mb = 8, vga_init on the bus
        self.vram = self._ram(vm, "vga.vram", 8 * MiB)
        self.vram.set_log(True, 0)
        self.vga = VGACommonState(self, self.vram)
        self.register_bar(0, PCI_BASE_ADDRESS_MEM_PREFETCH, self.vram)
        super().realize_device(vm)

    def _region_layout(self, notify_size: int) -> list[tuple[str, int, int, int]]:
        half = 1 if self.opts["page-per-vq"] else 2
        bar = pow2ceil(0x3000 + notify_size)
        out, off = [], bar
        sizes = {"notify": notify_size, "device": 0x1000, "isr": 0x1000 // half,
                 "common": 0x1000 // half}
        for kind in ("notify", "device", "isr", "common"):
            off -= sizes[kind]
            out.append((kind, off, sizes[kind], {"common": 1, "isr": 3, "device": 4,
                                                 "notify": 2}[kind]))
        return out[::-1]

    def _modern_regions(self, o) -> None:
        super()._modern_regions(o)
        # pci_std_vga_mmio_region_init(..., qext=true, edid=false)
        std_vga_mmio_region_init(self, self.modern_bar, True, False, 0)


class VirtIOInputPCI(VirtIOPCIProxy):
    """QEMU hw/virtio/virtio-input-pci.c: modern only, 1af4:1052; vectors
    default to 2."""

    device_id = 0x1052
    class_id = 0x0980                 # PCI_CLASS_INPUT_OTHER
    virtio_id = 18
    vdev_name = "virtio-input"
    legacy_allowed = False
    force_virtio_1 = True
    PROPS = {"vectors": ("uint32", 2), "serial": ("ignore", None)}
    user_creatable = False


class VirtIOKeyboardPCI(VirtIOInputPCI):
    """``virtio-keyboard-pci``: class 0x0900 (PCI_CLASS_INPUT_KEYBOARD)."""
    type_name = "virtio-keyboard-pci"
    class_id = 0x0900
    user_creatable = True


class VirtIOMousePCI(VirtIOInputPCI):
    """``virtio-mouse-pci``: class 0x0902 (PCI_CLASS_INPUT_MOUSE)."""
    type_name = "virtio-mouse-pci"
    class_id = 0x0902
    user_creatable = True


class VirtIOTabletPCI(VirtIOInputPCI):
    """``virtio-tablet-pci``: class 0x0980 (PCI_CLASS_INPUT_OTHER)."""
    type_name = "virtio-tablet-pci"
    user_creatable = True


class VirtIOInputHostPCI(VirtIOInputPCI):
    """``virtio-input-host-pci`` (hw/virtio/virtio-input-host-pci.c):
    class 0x0980; the ``evdev`` host device is not read."""
    type_name = "virtio-input-host-pci"
    user_creatable = True
    PROPS = {"evdev": ("ignore", None)}


class VHostVsockPCI(VirtIOPCIProxy):
    """QEMU hw/virtio/vhost-vsock-pci.c: 1af4:1012 (1053 modern), class
    0x0780, revision 0; vectors default to 3.  virtio-vsock may not be
    legacy (``virtio_legacy_allowed``), so on a conventional bus it needs
    ``disable-legacy=on``; config: the 8-byte guest CID."""

    type_name = "vhost-vsock-pci"
    device_id = 0x1012
    class_id = 0x0780
    virtio_id = 19
    vdev_name = "vhost-vsock"
    legacy_allowed = False
    PROPS = {"vectors": ("uint32", 3),
             **{n: ("ignore", None) for n in ("guest-cid", "vhostfd", "seqpacket")}}

    def config_len(self) -> int:
        return 8


VirtIOBlkPCITransitional, VirtIOBlkPCINonTransitional = _virtio_variants(VirtIOBlkPCI, "virtio-blk-pci")
VirtIOSCSIPCITransitional, VirtIOSCSIPCINonTransitional = _virtio_variants(VirtIOSCSIPCI,
                                                                           "virtio-scsi-pci")
VirtIOSerialPCITransitional, VirtIOSerialPCINonTransitional = _virtio_variants(
    VirtIOSerialPCI, "virtio-serial-pci")
VirtIOBalloonPCITransitional, VirtIOBalloonPCINonTransitional = _virtio_variants(
    VirtIOBalloonPCI, "virtio-balloon-pci")
VirtIORngPCITransitional, VirtIORngPCINonTransitional = _virtio_variants(VirtIORngPCI,
                                                                         "virtio-rng-pci")
VirtIO9pPCITransitional, VirtIO9pPCINonTransitional = _virtio_variants(VirtIO9pPCI,
                                                                       "virtio-9p-pci")
VHostVsockPCITransitional, VHostVsockPCINonTransitional = _virtio_variants(VHostVsockPCI,
                                                                           "vhost-vsock-pci")

_VIRTIO_TYPES = (
    VirtIONetPCI, VirtIONetPCITransitional, VirtIONetPCINonTransitional,
    VirtIOBlkPCI, VirtIOBlkPCITransitional, VirtIOBlkPCINonTransitional,
    VirtIOSCSIPCI, VirtIOSCSIPCITransitional, VirtIOSCSIPCINonTransitional,
    VirtIOSerialPCI, VirtIOSerialPCITransitional, VirtIOSerialPCINonTransitional,
    VirtIOBalloonPCI, VirtIOBalloonPCITransitional, VirtIOBalloonPCINonTransitional,
    VirtIORngPCI, VirtIORngPCITransitional, VirtIORngPCINonTransitional,
    VirtIO9pPCI, VirtIO9pPCITransitional, VirtIO9pPCINonTransitional,
    VHostVsockPCI, VHostVsockPCITransitional, VHostVsockPCINonTransitional,
    VirtIOGPUPCI, VirtIOVGA, VirtIOKeyboardPCI, VirtIOMousePCI, VirtIOTabletPCI,
    VirtIOInputHostPCI,
)


#: the legacy VGA I/O ports (QEMU hw/display/vga.c vga_portio_list, at 0x3b0)
_VGA_PORTIO = ((0x04, 2, 1), (0x0A, 1, 1), (0x10, 16, 1), (0x24, 2, 1), (0x2A, 1, 1))
#: the Bochs VBE ports on x86 (vbe_portio_list, at 0x1ce)
_VBE_PORTIO = ((0, 1, 2), (1, 1, 2), (2, 1, 2))
PCI_VGA_MMIO_SIZE = 0x1000
PCI_VGA_IOPORT_OFFSET, PCI_VGA_IOPORT_SIZE = 0x400, 0x3E0 - 0x3C0
PCI_VGA_BOCHS_OFFSET, PCI_VGA_BOCHS_SIZE = 0x500, 0x0B * 2
PCI_VGA_QEXT_OFFSET, PCI_VGA_QEXT_SIZE = 0x600, 2 * 4

#: include/hw/display/bochs-vbe.h: the Bochs VBE (DISPI) register indexes and
#: ENABLE bits (identical at QEMU v7.2.0 and v10.0.0)
VBE_DISPI_INDEX_ID, VBE_DISPI_INDEX_XRES, VBE_DISPI_INDEX_YRES = 0x0, 0x1, 0x2
VBE_DISPI_INDEX_BPP, VBE_DISPI_INDEX_ENABLE, VBE_DISPI_INDEX_BANK = 0x3, 0x4, 0x5
VBE_DISPI_INDEX_VIRT_WIDTH, VBE_DISPI_INDEX_VIRT_HEIGHT = 0x6, 0x7
VBE_DISPI_INDEX_X_OFFSET, VBE_DISPI_INDEX_Y_OFFSET, VBE_DISPI_INDEX_NB = 0x8, 0x9, 0xA
VBE_DISPI_ENABLED, VBE_DISPI_LFB_ENABLED = 0x01, 0x40
VBE_DISPI_ID0, VBE_DISPI_ID5 = 0xB0C0, 0xB0C5
#: include/hw/display/vga.h / hw/display/vga_regs.h: the sequencer and
#: graphics-controller registers vga_update_memory_access reads
VGA_SEQ_PLANE_WRITE, VGA_SEQ_MEMORY_MODE, VGA_GFX_MISC = 0x02, 0x04, 0x06
VGA_SR02_ALL_PLANES, VGA_SR04_CHN_4M, VGA_GR06_GRAPHICS_MODE = 0x0F, 0x08, 0x01


class VGACommonState:
    """The legacy part of QEMU's ``VGACommonState`` (hw/display/vga_int.h,
    hw/display/vga.c) that decides what the guest sees at 0xa0000-0xbffff.

    ``vga_init`` puts ``vga-lowmem`` (128 KiB of I/O, the planar/text
    emulation) at 0xa0000 with priority 1 in the device bus's memory space
    and the ``vga``/``vbe`` port ranges in its I/O space.  On top of it
    ``vga_update_memory_access`` maps ``vga.chain4``, a priority-2 alias of
    ``vga.vram``, whenever the sequencer selects all four planes and chain-4
    (with VBE enabled the shadow set ``sr_vbe`` is read instead of ``sr``):
    where the graphics controller's memory-map field (GR06 bits 2-3) says,
    0xa0000 128 KiB / 0xa0000 64 KiB at ``bank_offset`` / 0xb0000 32 KiB /
    0xb8000 32 KiB.  ``vbe_update_vgaregs`` (VBE enabled, any depth but 4
    bpp) sets memory map 1, chain-4 and all planes in ``sr_vbe``; so a Bochs
    VBE mode of 8-32 bpp leaves the 64 KiB window of ``vga.vram`` at
    ``bank_offset`` over 0xa0000, and 0xb0000-0xbffff stays ``vga-lowmem``.
    These functions are the same at v7.2.0 (b67b00e6b4) and v10.0.0
    (7c949c53e9), so no version gate.  Only the registers that reach the
    memory map are modelled: no display, no retrace, no vbe_fixup_regs beyond
    its depth check; the reset state is all zeros (``vga_common_reset``), in
    which no chain-4 window is mapped.
    """

    def __init__(self, dev: "QemuPCIDevice", vram: MemoryRegion):
        owner = dev.qdev_id or dev.type_name
        self.owner, self.vram = owner, vram
        self.legacy_address_space = dev.bus.address_space_mem
        self.lowmem = dev._owned(MemoryRegion.init_io("vga-lowmem", 0x20000))
        self.legacy_address_space.add_subregion_overlap(0xA0000, self.lowmem, 1)
        self.vga_ports = portio_list_add(owner, "vga", _VGA_PORTIO, dev.bus.address_space_io, 0x3B0)
        self.vbe_ports = portio_list_add(owner, "vbe", _VBE_PORTIO, dev.bus.address_space_io, 0x1CE)
        self.sr = bytearray(8)
        self.sr_vbe = bytearray(8)
        self.gr = bytearray(16)
        self.vbe_regs = [0] * VBE_DISPI_INDEX_NB
        self.vbe_regs[VBE_DISPI_INDEX_ID] = VBE_DISPI_ID5       # vga_common_reset
        self.bank_offset = 0
        #: vga_common_init: one bank is 64 KiB
        self.vbe_bank_mask = (vram.size >> 16) - 1
        self.chain4_alias: MemoryRegion | None = None

    def vbe_enabled(self) -> bool:
        return bool(self.vbe_regs[VBE_DISPI_INDEX_ENABLE] & VBE_DISPI_ENABLED)

    def _sr(self, idx: int) -> int:
        # vga.c sr(): the VBE shadow set while VBE is enabled
        return self.sr_vbe[idx] if self.vbe_enabled() else self.sr[idx]

    def vbe_write(self, index: int, val: int) -> None:
        """hw/display/vga.c ``vbe_ioport_write_data`` (port 0x1cf, or the
        ``bochs dispi interface`` MMIO at BAR2 + 0x500 + index * 2)."""
        val &= 0xFFFF
        r = self.vbe_regs
        if index >= VBE_DISPI_INDEX_NB:
            return
        if index == VBE_DISPI_INDEX_ID:
            if VBE_DISPI_ID0 <= val <= VBE_DISPI_ID5:
                r[index] = val
        elif index in (VBE_DISPI_INDEX_XRES, VBE_DISPI_INDEX_YRES, VBE_DISPI_INDEX_BPP,
                       VBE_DISPI_INDEX_VIRT_WIDTH, VBE_DISPI_INDEX_X_OFFSET,
                       VBE_DISPI_INDEX_Y_OFFSET):
            r[index] = val
            self._fixup_regs()
            self._update_vgaregs()
        elif index == VBE_DISPI_INDEX_BANK:
            val &= self.vbe_bank_mask
            r[index] = val
            self.bank_offset = val << 16
            self.update_memory_access()
        elif index == VBE_DISPI_INDEX_ENABLE:
            if val & VBE_DISPI_ENABLED and not r[index] & VBE_DISPI_ENABLED:
                r[VBE_DISPI_INDEX_VIRT_WIDTH] = 0
                r[VBE_DISPI_INDEX_X_OFFSET] = r[VBE_DISPI_INDEX_Y_OFFSET] = 0
                r[index] |= VBE_DISPI_ENABLED
                self._fixup_regs()
                self._update_vgaregs()
            else:
                self.bank_offset = 0
            r[index] = val
            self.update_memory_access()
        # VIRT_HEIGHT (and anything else) is not stored by QEMU

    def vbe_read(self, index: int) -> int:
        """``vbe_ioport_read_data`` for the stored registers (the GETCAPS
        and VIDEO_MEMORY_64K reads are not modelled: 0)."""
        return self.vbe_regs[index] if index < VBE_DISPI_INDEX_NB else 0

    def _fixup_regs(self) -> None:
        # vbe_fixup_regs, its depth check: 4/8/15/16/24/32 bpp, else 8
        if self.vbe_enabled() and self.vbe_regs[VBE_DISPI_INDEX_BPP] not in (4, 8, 15, 16, 24, 32):
            self.vbe_regs[VBE_DISPI_INDEX_BPP] = 8

    def _update_vgaregs(self) -> None:
        # vbe_update_vgaregs, the memory-map part: graphics mode + memory
        # map 1; chain-4 and all planes unless 4 bpp
        if not self.vbe_enabled():
            return
        self.gr[VGA_GFX_MISC] = (self.gr[VGA_GFX_MISC] & ~0x0C) | 0x04 | VGA_GR06_GRAPHICS_MODE
        if self.vbe_regs[VBE_DISPI_INDEX_BPP] != 4:
            self.sr_vbe[VGA_SEQ_MEMORY_MODE] |= VGA_SR04_CHN_4M
            self.sr_vbe[VGA_SEQ_PLANE_WRITE] |= VGA_SR02_ALL_PLANES

    def update_memory_access(self) -> None:
        """hw/display/vga.c ``vga_update_memory_access``: drop the
        ``vga.chain4`` alias, then map it again if the sequencer selects
        all planes and chain-4."""
        space = self.legacy_address_space
        if self.chain4_alias is not None:
            space.del_subregion(self.chain4_alias)
            self.chain4_alias = None
        if (self._sr(VGA_SEQ_PLANE_WRITE) & VGA_SR02_ALL_PLANES == VGA_SR02_ALL_PLANES
                and self._sr(VGA_SEQ_MEMORY_MODE) & VGA_SR04_CHN_4M):
            offset = 0
            mode = (self.gr[VGA_GFX_MISC] >> 2) & 3
            if mode == 0:
                base, size = 0xA0000, 0x20000
            elif mode == 1:
                base, size, offset = 0xA0000, 0x10000, self.bank_offset
            elif mode == 2:
                base, size = 0xB0000, 0x8000
            else:
                base, size = 0xB8000, 0x8000
            alias = MemoryRegion.init_alias("vga.chain4", self.vram, offset, size)
            alias.owner = self.vram.owner             # memory_region_owner(&s->vram)
            space.add_subregion_overlap(base, alias, 2)
            self.chain4_alias = alias


class VGA(QemuPCIDevice):
    """QEMU hw/display/vga-pci.c ``pci_std_vga_realize`` (with hw/display/vga.c
    ``vga_common_init``, ``vga_init``): the standard VGA.

    1234:1111, class 0x0300, revision 2 when the QEMU extended registers are
    on.  BAR0: the RAM region ``vga.vram`` (``vgamem_mb`` clamped to 1..512
    and rounded up to a power of two, 16 MiB), 32-bit prefetchable, with VGA
    dirty logging on.  BAR2 (``mmio=on``): the 4 KiB I/O region ``vga.mmio``
    holding ``vga ioports remapped`` (0x400, 32 B), ``bochs dispi interface``
    (0x500, 22 B), ``qemu extended regs`` (0x600, 8 B) and ``edid`` (0, 384
    B).  Legacy (:class:`VGACommonState`): ``vga-lowmem`` (128 KiB I/O at
    0xa0000, priority 1) in the bus's memory space, the ``vga.chain4`` window
    over it once a VBE mode is set, and the ``vga``/``vbe`` port ranges in
    its I/O space.
    Default ROM vgabios-stdvga.bin (region ``vga.rom``); with ``rombar=0``
    it goes to fw_cfg as vgaroms/.
    """

    type_name = "VGA"
    vendor_id = PCI_VENDOR_ID_QEMU
    device_id = 0x1111
    class_id = 0x0300
    default_romfile = "vgabios-stdvga.bin"
    vmsd_name = "vga"
    PROPS = {"vgamem_mb": ("uint32", 16), "mmio": ("bool", True),
             "qemu-extended-regs": ("bool", True), "edid": ("bool", True),
             "global-vmstate": ("bool", False), "xres": ("ignore", None),
             "yres": ("ignore", None), "xmax": ("ignore", None), "ymax": ("ignore", None),
             "refresh_rate": ("ignore", None), "big-endian-framebuffer": ("ignore", None)}

    def realize_device(self, vm) -> None:
        o = self.opts
        # vga_common_init: clamp to 1..512 MiB, round up to a power of two
        mb = pow2ceil(min(max(o["vgamem_mb"], 1), 512))
        self.vram = self._ram(vm, "vga.vram", mb * MiB)
        self.vram.set_log(True, 0)                       # DIRTY_MEMORY_VGA
        # vga_init: legacy window and ports on the device's bus
        self.vga = VGACommonState(self, self.vram)
        self.register_bar(0, PCI_BASE_ADDRESS_MEM_PREFETCH, self.vram)
        if o["mmio"]:
            self.mmio = self._owned(MemoryRegion.init_io("vga.mmio", PCI_VGA_MMIO_SIZE))
            if o["qemu-extended-regs"]:
                self.config[PCI_REVISION_ID] = 2
            std_vga_mmio_region_init(self, self.mmio, o["qemu-extended-regs"], o["edid"], 384)
            self.register_bar(2, 0, self.mmio)


def std_vga_mmio_region_init(dev: QemuPCIDevice, parent: MemoryRegion, qext: bool, edid: bool,
                             edid_size: int) -> None:
    """QEMU hw/display/vga-pci.c ``pci_std_vga_mmio_region_init``: the VGA
    ports, the Bochs VBE registers, optionally the QEMU extended registers,
    and optionally the EDID blob, in that order."""
    parent.add_subregion(PCI_VGA_IOPORT_OFFSET,
                         dev._owned(MemoryRegion.init_io("vga ioports remapped", PCI_VGA_IOPORT_SIZE)))
    parent.add_subregion(PCI_VGA_BOCHS_OFFSET,
                         dev._owned(MemoryRegion.init_io("bochs dispi interface", PCI_VGA_BOCHS_SIZE)))
    if qext:
        parent.add_subregion(PCI_VGA_QEXT_OFFSET,
                             dev._owned(MemoryRegion.init_io("qemu extended regs", PCI_VGA_QEXT_SIZE)))
    if edid:
        parent.add_subregion(0, dev._owned(MemoryRegion.init_io("edid", edid_size)))


class BochsDisplay(QemuPCIDevice):
    """QEMU hw/display/bochs-display.c ``bochs_display_realize``.

    1234:1111 revision 2, class 0x0380 (display, not VGA: no legacy ports).
    BAR0 the RAM region ``bochs-display-vram`` (``vgamem``, 4..256 MiB,
    rounded up to a power of two; dirty logging on), 32-bit prefetchable;
    BAR2 the 4 KiB I/O region ``bochs-display-mmio`` with ``bochs dispi
    interface`` at 0x500, ``qemu extended regs`` at 0x600 and, with
    ``edid=on``, a 256-byte ``edid`` at 0.  On a PCIe bus it is PCI Express
    with a v2 endpoint capability at 0x80.  Default ROM
    vgabios-bochs-display.bin (region ``bochs-display.rom``).
    """

    type_name = "bochs-display"
    vendor_id = PCI_VENDOR_ID_QEMU
    device_id = 0x1111
    class_id = 0x0380
    is_express = True
    default_romfile = "vgabios-bochs-display.bin"
    vmsd_name = "bochs-display"
    PROPS = {"vgamem": ("size", 16 * MiB), "edid": ("bool", True), "xres": ("ignore", None),
             "yres": ("ignore", None), "xmax": ("ignore", None), "ymax": ("ignore", None),
             "refresh_rate": ("ignore", None)}

    def express_on(self, bus: PCIBus | None) -> bool:
        # hybrid device: express only on a PCIe bus (the realize clears
        # QEMU_PCI_CAP_EXPRESS otherwise)
        return pci_bus_is_express(bus)

    def vbe_read(self, index: int) -> int:
        """hw/display/bochs-display.c ``bochs_display_vbe_read``: the ID
        register reads VBE_DISPI_ID5 (its other registers are not modelled:
        they reach nothing outside its BARs)."""
        return VBE_DISPI_ID5 if index == VBE_DISPI_INDEX_ID else 0

    def realize_device(self, vm) -> None:
        who = _who(self)
        vgamem = self.opts["vgamem"]
        if vgamem < 4 * MiB:
            raise DeviceError(who, "vgamem", "bochs-display: video memory too small")
        if vgamem > 256 * MiB:
            raise DeviceError(who, "vgamem", "bochs-display: video memory too big")
        vgamem = pow2ceil(vgamem)
        self.vram = self._ram(vm, "bochs-display-vram", vgamem)
        self.vbe = self._owned(MemoryRegion.init_io("bochs dispi interface", PCI_VGA_BOCHS_SIZE))
        self.qext = self._owned(MemoryRegion.init_io("qemu extended regs", PCI_VGA_QEXT_SIZE))
        self.mmio = self._owned(MemoryRegion.init_io("bochs-display-mmio", PCI_VGA_MMIO_SIZE))
        self.mmio.add_subregion(PCI_VGA_BOCHS_OFFSET, self.vbe)
        self.mmio.add_subregion(PCI_VGA_QEXT_OFFSET, self.qext)
        self.config[PCI_REVISION_ID] = 2
        self.register_bar(0, PCI_BASE_ADDRESS_MEM_PREFETCH, self.vram)
        self.register_bar(2, 0, self.mmio)
        if self.opts["edid"]:
            self.mmio.add_subregion(0, self._owned(MemoryRegion.init_io("edid", 256)))
        if self.is_express:
            pcie_endpoint_cap_init(self, 0x80)
        self.vram.set_log(True, 0)                       # DIRTY_MEMORY_VGA


# ---------------------------------------------------------------------------
# bridges
# ---------------------------------------------------------------------------

def _reserve_props() -> dict[str, tuple[str, object]]:
    """The resource-reserve properties of pci-bridge and pcie-root-port."""
    return {"bus-reserve": ("uint32", _UNSET32), "io-reserve": ("size", _UNSET64),
            "mem-reserve": ("size", _UNSET64), "pref32-reserve": ("size", _UNSET64),
            "pref64-reserve": ("size", _UNSET64)}


class _QemuBridge(QemuPCIDevice, PCIBridge):
    """A PCI-PCI bridge built by QEMU hw/pci/pci_bridge.c ``pci_bridge_initfn``."""

    secondary_bus_is_express = False

    def _bridge_initfn(self) -> None:
        """``pci_bridge_initfn``: 66 MHz and fast back-to-back in the primary
        and secondary status; the secondary bus is PCIe or PCI by type."""
        _or(self.config, PCI_STATUS, 2, PCI_STATUS_66MHZ | PCI_STATUS_FAST_BACK)
        _set(self.config, PCI_SEC_STATUS, 2, PCI_STATUS_66MHZ | PCI_STATUS_FAST_BACK)
        if self.sec_bus is not None:
            self.sec_bus.is_express = self.secondary_bus_is_express

    def _port_init_reg(self) -> None:
        """hw/pci/pcie_port.c ``pcie_port_init_reg``: primary and secondary
        status 0, the conventional-only bridge-control bits read-only."""
        _set(self.config, PCI_STATUS, 2, 0)
        _set(self.config, PCI_SEC_STATUS, 2, 0)
        _clear(self.wmask, PCI_BRIDGE_CONTROL, 2, 0x20 | 0x80 | 0x100 | 0x200 | 0x400 | 0x800)

    def _ssvid(self, offset: int, svid: int, ssid: int) -> int:
        """hw/pci/pci_bridge.c ``pci_bridge_ssvid_init``: an 8-byte Subsystem
        Vendor ID capability."""
        pos = pci_add_capability(self, PCI_CAP_ID_SSVID, offset, 8)
        _set(self.config, pos + 4, 2, svid)
        _set(self.config, pos + 6, 2, ssid)
        return pos

    def _reserve(self) -> tuple[int, int, int, int, int]:
        o = self.opts
        return (o["bus-reserve"], o["io-reserve"], o["mem-reserve"], o["pref32-reserve"],
                o["pref64-reserve"])


class PCIBridgeDev(_QemuBridge):
    """QEMU hw/pci-bridge/pci_bridge_dev.c ``pci_bridge_dev_realize``: the
    standard PCI-PCI bridge with an SHPC hot-plug controller.

    1b36:0001, class 0x0604, conventional PCI.  With ``shpc=on`` (default):
    INTA, an SHPC capability (8 bytes, its DWORD select/data writable) and
    BAR0, the 64-bit (non-prefetchable) container ``shpc-bar`` of 256 bytes
    (``shpc_bar_size``: pow2roundup(0x24 + 31 * 4)) with the I/O region
    ``shpc-mmio`` (0xa0 bytes, registers for 31 slots) at 0.  Always a
    Slot Identification capability (First-In-Chassis, ``chassis_nr``, which
    must not be 0); a 64-bit MSI with per-vector mask when SHPC is on and
    ``msi`` is not off; the Red Hat resource-reserve capability when a
    ``*-reserve`` property is given.  Capabilities at the first free offsets.
    """

    type_name = "pci-bridge"
    vendor_id = PCI_VENDOR_ID_REDHAT
    device_id = 0x0001
    class_id = 0x0604
    vmsd_name = "pci_bridge"
    secondary_bus_is_express = False
    SHPC_MAX_SLOTS = 31
    PROPS = {"chassis_nr": ("uint8", 0), "msi": ("onoffauto", "auto"), "shpc": ("bool", True),
             **_reserve_props()}

    def realize_device(self, vm) -> None:
        who = _who(self)
        self._bridge_initfn()
        o = self.opts
        msi = o["msi"]
        if o["shpc"]:
            self.config[PCI_INTERRUPT_PIN] = 1
            shpc_regs = 0x24 + self.SHPC_MAX_SLOTS * 4          # SHPC_SLOT_REG(nslots)
            self.shpc_bar = self._owned(MemoryRegion.init_container("shpc-bar", pow2ceil(shpc_regs)))
            # shpc_cap_add_config: DWORD select (+2) and data (+4) writable
            pos = pci_add_capability(self, PCI_CAP_ID_SHPC, 0, 8)
            self.wmask[pos + 2] = 0xFF
            _set(self.wmask, pos + 4, 4, 0xFFFFFFFF)
            self.shpc_cap = pos
            self.shpc_mmio = self._owned(MemoryRegion.init_io("shpc-mmio", shpc_regs))
            self.shpc_bar.add_subregion(0, self.shpc_mmio)
        else:
            msi = "off"                  # MSI is not applicable without SHPC
        if not o["chassis_nr"]:
            raise DeviceError(who, "chassis_nr", "Bridge chassis not specified. Each bridge is "
                              "required to be assigned a unique chassis id > 0.")
        # slotid_cap_init: Expansion Slot register = First In Chassis, 0 slots
        pos = pci_add_capability(self, PCI_CAP_ID_SLOTID, 0, 4)
        self.config[pos + 2] = 0x20
        self.config[pos + 3] = o["chassis_nr"]
        self.wmask[pos + 3] = 0xFF
        if msi != "off":
            msi_init(self, 0, 1, True, True)
        pci_bridge_qemu_reserve_cap_init(self, 0, *self._reserve())
        if o["shpc"]:
            self.register_bar(0, PCI_BASE_ADDRESS_MEM_TYPE_64, self.shpc_bar)


class PCIERootPort(_QemuBridge):
    """QEMU hw/pci-bridge/gen_pcie_root_port.c ``gen_rp_realize`` with
    hw/pci-bridge/pcie_root_port.c ``rp_realize``: the generic PCIe root port.

    1b36:000c, class 0x0604, PCI Express, INTA.  In realize order:
    ``pci_bridge_initfn``; ``pcie_port_init_reg`` (primary and secondary
    status 0, the conventional-only bridge-control bits read-only); a
    Subsystem Vendor ID capability (SVID 1b36, SSID 0); one MSI-X vector in
    BAR0, the 4 KiB container ``pcie-root-port-msix``; a PCIe v2 capability
    of type Root Port, port ``port``, link from ``x-speed``/``x-width``
    (16 GT/s, x32), ARI forwarding, error reporting, a slot (``slot``;
    hot-plug capable when ``hotplug`` and native hot-plug are on) and root
    control; AER at 0x100; ACS at 0x148 unless ``disable-acs``.  Then the Red
    Hat resource-reserve capability when a ``*-reserve`` property is given,
    or when hot-plug is on but native hot-plug off (``io-reserve`` then
    defaults to 4 KiB); ``io-reserve=0`` makes the I/O window and the
    command register's I/O bit read-only.  A (chassis, slot) pair may be
    used once (``pcie_chassis_add_slot``).

    Native hot-plug (``x-native-hotplug``) is on by default on both
    machines: pc_q35.c turns it off only when ICH9's ACPI PCI hot-plug is
    on and its ``x-keep-pci-slot-hpc`` off, i.e. on pc-q35-6.1
    (:func:`vfiolab.model.machine.pcie_slot_native_hotplug_default`).

    Reset (``rp_reset``): the windows are disabled (base above limit,
    ``pci_bridge_disable_base_limit``) and the slot's power indicator and
    power controller follow whether slot 0 of the secondary bus is
    populated (``pcie_cap_slot_reset``); call :meth:`reset` after plugging.
    """

    type_name = "pcie-root-port"
    QOM_TYPES = ("pcie-root-port-base",)
    vendor_id = PCI_VENDOR_ID_REDHAT
    device_id = 0x000C
    class_id = 0x0604
    is_express = True
    interrupt_pin = 1
    vmsd_name = "pcie-root-port"
    secondary_bus_is_express = True
    GEN_PCIE_ROOT_PORT_AER_OFFSET = 0x100
    GEN_PCIE_ROOT_PORT_ACS_OFFSET = 0x100 + PCI_ERR_SIZEOF
    #: PCIERootPortClass offsets (hw/pci-bridge/gen_pcie_root_port.c
    #: gen_rp_dev_class_init: SSVID and PCIe capability at the first free
    #: offset, AER 0x100, ACS 0x148)
    ssvid_offset, exp_offset = 0, 0
    aer_offset, acs_offset = GEN_PCIE_ROOT_PORT_AER_OFFSET, GEN_PCIE_ROOT_PORT_ACS_OFFSET
    #: the generic root port adds the resource-reserve capability
    has_reserve_cap = True

    def interrupts_init(self) -> None:
        """``gen_rp_interrupts_init``: one MSI-X vector in BAR0."""
        msix_init_exclusive_bar(self, 1, 0)
    PROPS = {"chassis": ("uint8", 0), "slot": ("uint16", 0), "hotplug": ("bool", True),
             "x-native-hotplug": ("bool", None),
             "x-do-not-expose-native-hotplug-cap": ("bool", None), "port": ("uint8", 0),
             "disable-acs": ("bool", False), "power_controller_present": ("bool", True),
             "x-speed": ("str", "16"), "x-width": ("str", "32"),
             "x-migrate-msix": ("ignore", None), "aer_log_max": ("ignore", None),
             **_reserve_props()}

    def __init__(self, qdev_id: str = "", **props):
        super().__init__(qdev_id, **props)
        self.compat_applied()

    def compat_applied(self) -> None:
        """The link speed and width from ``x-speed``/``x-width``."""
        who = _who(self)
        if self.opts["x-speed"] not in _LINK_SPEEDS:
            raise DeviceError(who, "x-speed", f"{self.opts['x-speed']!r} is not one of "
                              + ", ".join(_LINK_SPEEDS))
        if self.opts["x-width"] not in _LINK_WIDTHS:
            raise DeviceError(who, "x-width", f"{self.opts['x-width']!r} is not one of "
                              + ", ".join(_LINK_WIDTHS))
        self.link_speed = _LINK_SPEEDS[self.opts["x-speed"]]
        self.link_width = _LINK_WIDTHS[self.opts["x-width"]]

    def native_hotplug(self, vm) -> bool:
        """Whether the slot exposes native hot-plug.  QEMU 7.2 has the
        property ``x-native-hotplug`` (default on); QEMU 8.0 renamed it
        ``x-do-not-expose-native-hotplug-cap`` with the opposite meaning
        (default off; commit 1d77e15718 "pci: acpi hotplug: rename
        x-native-hotplug to x-do-not-expose-native-hotplug-cap",
        hw/pci/pcie_port.c ``pcie_slot_props``).  The other spelling is
        refused, as QEMU refuses an unknown property.  Unset, the machine
        decides (:func:`vfiolab.model.machine.pcie_slot_native_hotplug_default`:
        off on pc-q35-6.1 while ICH9's ACPI PCI hot-plug is on)."""
        from .machine import pcie_slot_native_hotplug_default
        o = self.opts
        stack = getattr(vm, "stack", None) if vm is not None else None
        new = stack is not None and stack.qemu_at_least(8, 0)
        old_name, new_name = "x-native-hotplug", "x-do-not-expose-native-hotplug-cap"
        if new and o.get(old_name) is not None:
            raise DeviceError(_who(self), old_name, f"no such property from QEMU 8.0 (renamed "
                              f"{new_name}, with the opposite meaning)")
        if not new and o.get(new_name) is not None:
            raise DeviceError(_who(self), new_name, "no such property before QEMU 8.0 (it was "
                              f"{old_name}, with the opposite meaning)")
        if new and o.get(new_name) is not None:
            return not o[new_name]
        if not new and o.get(old_name) is not None:
            return bool(o[old_name])
        return pcie_slot_native_hotplug_default(vm)

    def realize_device(self, vm) -> None:
        who = _who(self)
        o = dict(self.opts)
        o["x-native-hotplug"] = self.native_hotplug(vm)
        w = self.wmask
        self._bridge_initfn()
        self._port_init_reg()
        self._ssvid(self.ssvid_offset, self.vendor_id, 0)
        self.interrupts_init()
        pcie_cap_init(self, self.exp_offset, PCI_EXP_TYPE_ROOT_PORT, o["port"])
        pcie_cap_arifwd_init(self)
        pcie_cap_deverr_init(self)
        pcie_cap_slot_init(self, o["slot"], o["hotplug"], o["x-native-hotplug"],
                           o["power_controller_present"])
        pcie_cap_root_init(self)
        # pcie_chassis_add_slot: a chassis/slot pair is unique
        for other in (vm.devices if vm is not None else []):
            if (isinstance(other, PCIERootPort) and other is not self
                    and other.opts["chassis"] == o["chassis"] and other.opts["slot"] == o["slot"]):
                raise DeviceError(who, "slot", f"Can't add chassis slot, error -16 (chassis "
                                  f"{o['chassis']} slot {o['slot']} already used by {_who(other)})")
        pcie_aer_init(self, self.aer_offset)
        if self.acs_offset and not o["disable-acs"]:
            pcie_acs_init(self, self.acs_offset, downstream=True)
        if not self.has_reserve_cap:
            return
        bus_res, io, mem, pref32, pref64 = self._reserve()
        if io == _UNSET64 and o["hotplug"] and not o["x-native-hotplug"]:
            io = 4096                       # GEN_PCIE_ROOT_DEFAULT_IO_RANGE
        pci_bridge_qemu_reserve_cap_init(self, 0, bus_res, io, mem, pref32, pref64)
        if not io:
            _clear(w, PCI_COMMAND, 2, PCI_COMMAND_IO)
            w[PCI_IO_BASE] = 0
            w[PCI_IO_LIMIT] = 0

    def _disable_base_limit(self) -> None:
        """``pci_bridge_disable_base_limit``: base above limit in all windows."""
        c = self.config
        _or(c, PCI_IO_BASE, 1, 0xF0)
        _clear(c, PCI_IO_LIMIT, 1, 0xF0)
        _or(c, PCI_MEMORY_BASE, 2, 0xFFF0)
        _clear(c, PCI_MEMORY_LIMIT, 2, 0xFFF0)
        _or(c, PCI_PREF_MEMORY_BASE, 2, 0xFFF0)
        _clear(c, PCI_PREF_MEMORY_LIMIT, 2, 0xFFF0)
        _set(c, 0x28, 4, 0)
        _set(c, 0x2C, 4, 0)

    def config_read(self, addr: int, length: int) -> int:
        """``pci_default_read_config``: reading a downstream port's Link
        Status first refreshes it from the device in slot 0
        (``pcie_sync_bridge_lnk``)."""
        pos = getattr(self, "exp_cap", 0)
        if pos and addr < pos + PCI_EXP_LNKSTA + 2 and addr + length > pos + PCI_EXP_LNKSTA:
            self.sync_bridge_lnk()
        return super().config_read(addr, length)

    def sync_bridge_lnk(self) -> None:
        """QEMU hw/pci/pcie.c ``pcie_sync_bridge_lnk``: Link Status width and
        speed become those of the device in slot 0 of the secondary bus,
        limited to this port's capabilities (a zero field counts as x1 /
        2.5 GT/s); with no device there, or one without a PCIe capability,
        they are copied from the port's own Link Capabilities."""
        pos = self.exp_cap
        c = self.config
        lnkcap = _get(c, pos + PCI_EXP_LNKCAP, 2)
        target = self.sec_bus.devices.get(0) if self.sec_bus is not None else None
        tpos = getattr(target, "exp_cap", 0) if target is not None else 0
        if not tpos:
            lnksta = lnkcap
        else:
            lnksta = target.config_read(tpos + PCI_EXP_LNKSTA, 2)
            if (lnksta & PCI_EXP_LNKCAP_MLW) > (lnkcap & PCI_EXP_LNKCAP_MLW):
                lnksta = (lnksta & ~PCI_EXP_LNKCAP_MLW) | (lnkcap & PCI_EXP_LNKCAP_MLW)
            elif not lnksta & PCI_EXP_LNKCAP_MLW:
                lnksta |= 1 << 4
            if (lnksta & PCI_EXP_LNKCAP_SLS) > (lnkcap & PCI_EXP_LNKCAP_SLS):
                lnksta = (lnksta & ~PCI_EXP_LNKCAP_SLS) | (lnkcap & PCI_EXP_LNKCAP_SLS)
            elif not lnksta & PCI_EXP_LNKCAP_SLS:
                lnksta |= QEMU_PCI_EXP_LNK_2_5GT
        mask = PCI_EXP_LNKCAP_SLS | PCI_EXP_LNKCAP_MLW
        _set(c, pos + PCI_EXP_LNKSTA, 2, (_get(c, pos + PCI_EXP_LNKSTA, 2) & ~mask) | (lnksta & mask))

    def reset(self) -> None:
        """``rp_reset``: ``pcie_cap_slot_reset`` (indicators and interrupt
        enables off, attention indicator off; with a power controller,
        power on and power indicator on when slot 0 of the secondary bus is
        populated, power off and indicator off when it is empty), then
        ``pci_bridge_disable_base_limit``.  As in QEMU the window aliases are
        *not* recomputed here: they keep the state of realize (all windows
        at 0, empty) until the next config write."""
        if not getattr(self, "exp_cap", None):
            return
        self._disable_base_limit()
        self._slot_reset()

    def _slot_reset(self) -> None:
        """hw/pci/pcie.c ``pcie_cap_slot_reset``."""
        pos = self.exp_cap
        c = self.config
        _clear(c, pos + PCI_EXP_SLTCTL, 2, PCI_EXP_SLTCTL_EIC | PCI_EXP_SLTCTL_PIC | PCI_EXP_SLTCTL_AIC
               | PCI_EXP_SLTCTL_HPIE | PCI_EXP_SLTCTL_CCIE | PCI_EXP_SLTCTL_PDCE
               | PCI_EXP_SLTCTL_ABPE)
        _or(c, pos + PCI_EXP_SLTCTL, 2, PCI_EXP_SLTCTL_AIC_OFF)
        if self.opts["power_controller_present"]:
            populated = self.sec_bus is not None and 0 in self.sec_bus.devices
            if populated:
                _clear(c, pos + PCI_EXP_SLTCTL, 2, PCI_EXP_SLTCTL_PCC)
            else:
                _or(c, pos + PCI_EXP_SLTCTL, 2, PCI_EXP_SLTCTL_PCC)
            _or(c, pos + PCI_EXP_SLTCTL, 2,
                PCI_EXP_SLTCTL_PIC_ON if populated else PCI_EXP_SLTCTL_PIC_OFF)


# ---------------------------------------------------------------------------
# chipset functions (identity, capabilities, BARs; the machine builder adds
# the special registers)
# ---------------------------------------------------------------------------

class I440FX(QemuPCIDevice):
    """QEMU hw/pci-host/i440fx.c ``i440fx_class_init``: the pc host bridge,
    8086:1237 revision 2, class 0x0600.  No BARs; PAM/SMRAM registers are the
    machine builder's."""

    type_name = "i440FX"
    vendor_id = PCI_VENDOR_ID_INTEL
    device_id = 0x1237
    revision = 0x02
    class_id = 0x0600
    user_creatable = False


class PIIX3(QemuPCIDevice):
    """QEMU hw/isa/piix3.c ``pci_piix3_class_init``: the PCI-to-ISA bridge,
    8086:7000, class 0x0601.  Multifunction: pc_piix.c creates it with
    ``pci_create_simple_multifunction(..., true, TYPE_PIIX3_DEVICE)``.  No
    BARs; the reset values of its IRQ routing registers and its ISA devices
    are the machine builder's."""

    type_name = "PIIX3"
    vendor_id = PCI_VENDOR_ID_INTEL
    device_id = 0x7000
    class_id = 0x0601
    default_multifunction = True
    user_creatable = False

    def realize_device(self, vm) -> None:
        # piix3_reset: status = DEVSEL medium (the rest of that reset handler,
        # IRQ routing and ISA registers, is the machine builder's)
        _set(self.config, PCI_STATUS, 2, 0x0200)


class PIIX3IDE(QemuPCIDevice):
    """QEMU hw/ide/piix.c ``pci_piix_ide_realize``/``bmdma_setup_bar``:
    8086:7010, class 0x0101 prog-if 0x80 (legacy ATA).  BAR4 is the 16-byte
    I/O container ``piix-bmdma-container`` holding, per channel i at 8*i,
    ``piix-bmdma`` (4 bytes) and ``bmdma`` (4 bytes at +4).  Its reset
    (``piix_ide_reset``) sets the status to DEVSEL medium | fast back-to-back
    (0x0280).  The legacy ``ide`` ports (0x1f0/0x3f6, 0x170/0x376) are not
    modelled here."""

    type_name = "piix3-ide"
    vendor_id = PCI_VENDOR_ID_INTEL
    device_id = 0x7010
    class_id = 0x0101
    prog_if = 0x80

    def realize_device(self, vm) -> None:
        self.bmdma_bar = self._owned(MemoryRegion.init_container("piix-bmdma-container", 16))
        for i in range(2):
            self.bmdma_bar.add_subregion(i * 8, self._owned(MemoryRegion.init_io("piix-bmdma", 4)))
            self.bmdma_bar.add_subregion(i * 8 + 4, self._owned(MemoryRegion.init_io("bmdma", 4)))
        self.register_bar(4, PCI_BASE_ADDRESS_SPACE_IO, self.bmdma_bar)
        _set(self.config, PCI_STATUS, 2, 0x0280)     # piix_ide_reset


class PIIX4PM(QemuPCIDevice):
    """QEMU hw/acpi/piix4.c ``piix4_pm_realize``: the PIIX4 power-management
    function, 8086:7113 revision 3, class 0x0680, status 0x0280, INTA.  No
    BARs: its I/O regions (``piix4-pm`` at PMBA, ``pm-smbus`` at SMBBA,
    ``acpi-gpe0``, hot-plug ports) and special registers are the machine
    builder's."""

    type_name = "PIIX4_PM"
    vendor_id = PCI_VENDOR_ID_INTEL
    device_id = 0x7113
    revision = 0x03
    class_id = 0x0680
    interrupt_pin = 1
    user_creatable = False

    def realize_device(self, vm) -> None:
        _set(self.config, PCI_STATUS, 2, 0x0280)


class MCH(QemuPCIDevice):
    """QEMU hw/pci-host/q35.c ``mch_class_init``: the q35 host bridge,
    8086:29c0 (82P35) revision 0, class 0x0600.  No BARs; PCIEXBAR, PAM,
    SMRAM are the machine builder's."""

    type_name = "mch"
    vendor_id = PCI_VENDOR_ID_INTEL
    device_id = 0x29C0
    class_id = 0x0600
    user_creatable = False


class ICH9LPC(QemuPCIDevice):
    """QEMU hw/isa/lpc_ich9.c ``ich9_lpc_class_init``: the LPC/ISA bridge,
    8086:2918 revision 2, class 0x0601, multifunction (pc_q35.c
    ``pci_create_simple_multifunction``).  No BARs; PMBASE, RCBA, PIRQ
    routing and the ISA devices are the machine builder's."""

    type_name = "ICH9-LPC"
    vendor_id = PCI_VENDOR_ID_INTEL
    device_id = 0x2918
    revision = 0x02
    class_id = 0x0601
    default_multifunction = True
    user_creatable = False


class ICH9AHCI(QemuPCIDevice):
    """QEMU hw/ide/ich.c ``pci_ich9_ahci_realize`` (hw/ide/ahci.c ``ahci_init``).

    8086:2922 revision 2, class 0x0106 prog-if 1 (AHCI 1.0), INTA;
    multifunction on q35 (pc_q35.c creates it with
    ``pci_create_simple_multifunction``).  BAR4: the 32-byte I/O region
    ``ahci-idp`` (index/data pair); BAR5: the 4 KiB region ``ahci`` (32-bit
    memory).  A SATA capability at 0xa8 (revision 1.0, BAR4 at offset 0x10),
    then a 64-bit single-vector MSI at 0x80 that heads the list; the
    Address Map register (0x90) says AHCI mode.  (Realize sets the cache
    line size to 8; reset clears it.)
    """

    type_name = "ich9-ahci"
    vendor_id = PCI_VENDOR_ID_INTEL
    device_id = 0x2922
    revision = 0x02
    class_id = 0x0106
    prog_if = 0x01
    interrupt_pin = 1
    default_multifunction = True
    vmsd_name = "ich9_ahci"          # vmstate_ich9_ahci

    def realize_device(self, vm) -> None:
        self.config[0x90] = 1 << 6
        self.idp = self._owned(MemoryRegion.init_io("ahci-idp", 32))
        self.mem = self._owned(MemoryRegion.init_io("ahci", 0x1000))
        self.register_bar(4, PCI_BASE_ADDRESS_SPACE_IO, self.idp)
        self.register_bar(5, 0, self.mem)
        pos = pci_add_capability(self, PCI_CAP_ID_SATA, 0xA8, 8)
        _set(self.config, pos + 2, 2, 0x10)                      # SATA_CAP_REV
        _set(self.config, pos + 4, 4, (4 + 4) | (4 << 4))        # BAR4, index at 1 << 4
        msi_init(self, 0x80, 1, True, False)


class ICH9SMB(QemuPCIDevice):
    """QEMU hw/i2c/smbus_ich9.c ``ich9_smbus_realize`` (hw/i2c/pm_smbus.c
    ``pm_smbus_init``): the SMBus controller, 8086:2930 revision 2, class
    0x0c05, INTA, multifunction on q35.  BAR4 is the 64-byte I/O region
    ``pm-smbus``."""

    type_name = "ICH9-SMB"
    vendor_id = PCI_VENDOR_ID_INTEL
    device_id = 0x2930
    revision = 0x02
    class_id = 0x0C05
    interrupt_pin = 1
    default_multifunction = True
    user_creatable = False

    def realize_device(self, vm) -> None:
        self.smb_io = self._owned(MemoryRegion.init_io("pm-smbus", 64))
        self.register_bar(4, PCI_BASE_ADDRESS_SPACE_IO, self.smb_io)


# ---------------------------------------------------------------------------
# more add-on devices: USB, audio, NICs, storage, watchdog/panic, QXL
# (QEMU v7.2.0 b67b00e6b4; each realize named in its class)
# ---------------------------------------------------------------------------

PCI_VENDOR_ID_NEC = 0x1033
PCI_VENDOR_ID_REALTEK = 0x10EC
PCI_VENDOR_ID_VMWARE = 0x15AD
PCI_VENDOR_ID_LSI_LOGIC = 0x1000
PCI_VENDOR_ID_TI = 0x104C


class _SimpleBars(QemuPCIDevice):
    """A device whose realize only registers fixed BARs: ``BARS`` lists
    (index, type bits, region name, size, kind) with kind ``io`` (an I/O
    MemoryRegion) or ``container``; ``interrupt_pin`` from the class."""

    BARS: tuple[tuple[int, int, str, int, str], ...] = ()

    def realize_device(self, vm) -> None:
        self.bar_regions = {}
        for index, bits, name, size, kind in self.BARS:
            mr = (MemoryRegion.init_container(name, size) if kind == "container"
                  else MemoryRegion.init_io(name, size))
            self._owned(mr)
            self.bar_regions[index] = mr
            self.register_bar(index, bits, mr)


class QemuXHCI(QemuPCIDevice):
    """QEMU hw/usb/hcd-xhci-pci.c ``usb_xhci_pci_realize`` with
    hw/usb/hcd-xhci.c ``usb_xhci_realize``: the generic xHCI controller.

    1b36:000d revision 1, class 0x0c03 prog-if 0x30, INTA.  A hybrid
    device (conventional and PCIe interfaces): PCI Express only on a PCIe
    bus.  BAR0: the 64-bit (non-prefetchable) 16 KiB container ``xhci``
    (LEN_REGS) with ``capabilities`` (0x40 at 0), ``operational`` (0x400 at
    0x40), one 16-byte ``usb3 port #N`` then ``usb2 port #N`` region per
    port from 0x440 (``p3``, ``p2``: 4 each), ``runtime`` at 0x1000
    ((intrs + 1) * 0x20), ``doorbell`` at 0x2000 ((slots + 1) * 0x20),
    and the MSI-X table (``intrs`` vectors) at 0x3000 and PBA at 0x3800.
    Capabilities: 64-bit MSI with ``intrs`` vectors at 0x70 (nec-usb-xhci;
    ``qemu_xhci_instance_init`` turns MSI off for qemu-xhci), PCIe v2
    endpoint at 0xa0 (on a PCIe bus), MSI-X at 0x90.
    """

    type_name = "qemu-xhci"
    vendor_id = PCI_VENDOR_ID_REDHAT
    device_id = 0x000D
    revision = 0x01
    class_id = 0x0C03
    prog_if = 0x30
    interrupt_pin = 1
    is_express = True
    #: hw/usb/hcd-xhci.c xhci_properties, aliased onto the PCI device
    PROPS = {"p2": ("uint32", 4), "p3": ("uint32", 4), "streams": ("ignore", None),
             "conditional-intr-mapping": ("ignore", None)}
    MAXPORTS_2, MAXPORTS_3, MAXINTRS, MAXSLOTS = 15, 15, 16, 64
    #: ``qemu_xhci_instance_init``: MSI off, MSI-X auto, 16 interrupters,
    #: 64 slots (the type has no properties for them)
    FIXED = {"msi": "off", "msix": "auto", "intrs": 16, "slots": 64, "force-pcie-endcap": False}

    def _opt(self, name):
        return self.opts.get(name, self.FIXED.get(name))

    def express_on(self, bus: PCIBus | None) -> bool:
        # xhci_instance_init sets the express flag (a hybrid device);
        # pci_qdev_realize drops it on a conventional bus
        return pci_bus_is_express(bus) or bool(self._opt("force-pcie-endcap"))

    def realize_device(self, vm) -> None:
        who = _who(self)
        o = {n: self._opt(n) for n in ("msi", "msix", "intrs", "slots", "p2", "p3")}
        # usb_xhci_realize / usb_xhci_init: clamp the counts
        intrs = min(max(o["intrs"], 1), self.MAXINTRS)
        slots = min(max(o["slots"], 1), self.MAXSLOTS)
        p2, p3 = min(o["p2"], self.MAXPORTS_2), min(o["p3"], self.MAXPORTS_3)
        if p2 + p3 > 15 + 15 or p2 + p3 == 0:
            raise DeviceError(who, "p2", "too many or no ports")
        c = self.config
        c[0x60] = 0x30                                   # release number
        if o["msi"] != "off":
            msi_init(self, 0x70, intrs if is_pow2(intrs) else pow2ceil(intrs), True, False)
        self.mem = self._owned(MemoryRegion.init_container("xhci", 0x4000))
        for off, name, size in ((0, "capabilities", 0x40), (0x40, "operational", 0x400),
                                (0x1000, "runtime", (intrs + 1) * 0x20),
                                (0x2000, "doorbell", (slots + 1) * 0x20)):
            self.mem.add_subregion(off, self._owned(MemoryRegion.init_io(name, size)))
        off = 0x440
        for kind, n in (("usb3", p3), ("usb2", p2)):
            for i in range(1, n + 1):
                self.mem.add_subregion(off, self._owned(MemoryRegion.init_io(
                    f"{kind} port #{i}", 0x10)))
                off += 0x10
        self.register_bar(0, PCI_BASE_ADDRESS_MEM_TYPE_64, self.mem)
        if self.is_express:
            pcie_endpoint_cap_init(self, 0xA0)
        if o["msix"] != "off":
            msix_init(self, intrs, self.mem, 0, 0x3000, self.mem, 0, 0x3800, 0x90)


class NecXHCI(QemuXHCI):
    """QEMU hw/usb/hcd-xhci-nec.c: the NEC uPD720200 xHCI, 1033:0194
    revision 3; the same layout as qemu-xhci."""

    type_name = "nec-usb-xhci"
    vendor_id = PCI_VENDOR_ID_NEC
    device_id = 0x0194
    revision = 0x03
    #: hw/usb/hcd-xhci-nec.c nec_xhci_properties
    PROPS = {"msi": ("onoffauto", "auto"), "msix": ("onoffauto", "auto"),
             "superspeed-ports-first": ("ignore", None), "force-pcie-endcap": ("bool", False),
             "intrs": ("uint32", 16), "slots": ("uint32", 64)}


class _EHCIPCI(QemuPCIDevice):
    """QEMU hw/usb/hcd-ehci-pci.c ``usb_ehci_pci_realize`` with
    hw/usb/hcd-ehci.c ``usb_ehci_init``: class 0x0c03 prog-if 0x20, INTD.
    BAR0: the 4 KiB 32-bit container ``ehci`` with ``capabilities`` (0x10
    at 0), ``operational`` (0x44 at 0x20, ``opregbase``) and ``ports``
    (4 bytes for each of the 6 ports, at 0x64).  No capabilities."""

    class_id = 0x0C03
    prog_if = 0x20
    interrupt_pin = 4
    vendor_id = PCI_VENDOR_ID_INTEL
    user_creatable = False
    PROPS = {"maxframes": ("ignore", None), "freq": ("ignore", None),
             "firstport": ("ignore", None), "masterbus": ("ignore", None),
             "x-companion": ("ignore", None)}

    def realize_device(self, vm) -> None:
        c = self.config
        c[0x60] = 0x20                     # USB_SBRN: release 2.0
        c[0x61] = 0x20                     # frame length adjustment
        c[0x68] = 0x01                     # USBLEGSUP
        c[0x6F] = 0xC0                     # USBLEGCTLSTS
        self.mem = self._owned(MemoryRegion.init_container("ehci", 0x1000))
        for off, name, size in ((0, "capabilities", 0x10), (0x20, "operational", 0x44),
                                (0x64, "ports", 4 * 6)):
            self.mem.add_subregion(off, self._owned(MemoryRegion.init_io(name, size)))
        self.register_bar(0, 0, self.mem)


class UsbEHCI(_EHCIPCI):
    """``usb-ehci``: Intel 82801D (ICH4) EHCI, 8086:24cd revision 0x10."""
    type_name = "usb-ehci"
    device_id = 0x24CD
    revision = 0x10
    user_creatable = True


class ICH9UsbEHCI1(_EHCIPCI):
    """``ich9-usb-ehci1``: 8086:293a revision 3."""
    type_name = "ich9-usb-ehci1"
    device_id = 0x293A
    revision = 0x03
    user_creatable = True


class ICH9UsbEHCI2(_EHCIPCI):
    """``ich9-usb-ehci2``: 8086:293c revision 3."""
    type_name = "ich9-usb-ehci2"
    device_id = 0x293C
    revision = 0x03
    user_creatable = True


class _UHCIPCI(QemuPCIDevice):
    """QEMU hw/usb/hcd-uhci.c ``usb_uhci_common_realize``: class 0x0c03
    prog-if 0, BAR4 the 32-byte I/O region ``uhci``; the interrupt pin is
    the type's (``irq_pin`` + 1)."""

    class_id = 0x0C03
    vendor_id = PCI_VENDOR_ID_INTEL
    user_creatable = False
    PROPS = {"masterbus": ("ignore", None), "firstport": ("ignore", None),
             "bandwidth": ("ignore", None), "maxframes": ("ignore", None)}

    def realize_device(self, vm) -> None:
        self.config[0x60] = 0x10           # USB_SBRN: release 1.0
        self.config[0x6A] = 0x01           # uhci_reset: USB clock
        self.io = self._owned(MemoryRegion.init_io("uhci", 0x20))
        self.register_bar(4, PCI_BASE_ADDRESS_SPACE_IO, self.io)


def _uhci(name: str, devid: int, rev: int, pin: int) -> type:
    return type(name, (_UHCIPCI,), {
        "__doc__": f"``{name}`` (hw/usb/hcd-uhci.c ``uhci_info``): 8086:{devid:04x} revision "
                   f"{rev}, interrupt pin {pin}.",
        "type_name": name, "device_id": devid, "revision": rev, "interrupt_pin": pin,
        "user_creatable": True, "__module__": __name__})


_UHCI_TYPES = (
    _uhci("piix3-usb-uhci", 0x7020, 0x01, 4), _uhci("piix4-usb-uhci", 0x7112, 0x01, 4),
    _uhci("ich9-usb-uhci1", 0x2934, 0x03, 1), _uhci("ich9-usb-uhci2", 0x2935, 0x03, 2),
    _uhci("ich9-usb-uhci3", 0x2936, 0x03, 3), _uhci("ich9-usb-uhci4", 0x2937, 0x03, 1),
    _uhci("ich9-usb-uhci5", 0x2938, 0x03, 2), _uhci("ich9-usb-uhci6", 0x2939, 0x03, 3),
)


class IntelHDA(QemuPCIDevice):
    """QEMU hw/audio/intel-hda.c ``intel_hda_realize``: ``intel-hda``
    (ICH6, 8086:2668 revision 1), class 0x0403, INTA, conventional PCI.
    HDCTL (0x40) = 1; a 64-bit single-vector MSI at 0x60 (0x50 with
    ``old_msi_addr``) unless ``msi=off``.  BAR0: the 16 KiB container
    ``intel-hda-container`` with the 8 KiB I/O region ``intel-hda`` at 0 and
    its alias ``intel-hda-alias`` at 0x2000."""

    type_name = "intel-hda"
    vendor_id = PCI_VENDOR_ID_INTEL
    device_id = 0x2668
    revision = 1
    class_id = 0x0403
    interrupt_pin = 1
    PROPS = {"msi": ("onoffauto", "auto"), "old_msi_addr": ("bool", False),
             "debug": ("ignore", None)}

    def realize_device(self, vm) -> None:
        self.config[0x40] = 0x01
        if self.opts["msi"] != "off":
            msi_init(self, 0x50 if self.opts["old_msi_addr"] else 0x60, 1, True, False)
        self.container = self._owned(MemoryRegion.init_container("intel-hda-container", 0x4000))
        self.mmio = self._owned(MemoryRegion.init_io("intel-hda", 0x2000))
        self.container.add_subregion(0, self.mmio)
        self.alias = self._owned(MemoryRegion.init_alias("intel-hda-alias", self.mmio, 0, 0x2000))
        self.container.add_subregion(0x2000, self.alias)
        self.register_bar(0, 0, self.container)


class ICH9IntelHDA(IntelHDA):
    """``ich9-intel-hda``: 8086:293e revision 3, the same layout (a sibling
    of intel-hda under intel-hda-generic in QEMU, so intel-hda's machine
    compat entries do not apply)."""
    type_name = "ich9-intel-hda"
    QOM_NOT = ("intel-hda",)
    device_id = 0x293E
    revision = 3


class AC97(_SimpleBars):
    """QEMU hw/audio/ac97.c ``ac97_realize``: 8086:2415 revision 1, class
    0x0401, INTA; BAR0 the 1 KiB I/O region ``ac97-nam``, BAR1 the 256-byte
    ``ac97-nabm``."""

    type_name = "AC97"
    vendor_id = PCI_VENDOR_ID_INTEL
    device_id = 0x2415
    revision = 0x01
    class_id = 0x0401
    interrupt_pin = 1
    BARS = ((0, PCI_BASE_ADDRESS_SPACE_IO, "ac97-nam", 1024, "io"),
            (1, PCI_BASE_ADDRESS_SPACE_IO, "ac97-nabm", 256, "io"))
    PROPS = {"audiodev": ("ignore", None)}

    def realize_device(self, vm) -> None:
        # ac97_realize: status = fast back-to-back | DEVSEL medium
        _set(self.config, PCI_STATUS, 2, 0x0280)
        super().realize_device(vm)


_NIC_IGNORED = {n: ("ignore", None) for n in ("mac", "netdev", "vlan")}


class E1000(_SimpleBars):
    """QEMU hw/net/e1000.c ``pci_e1000_realize``: Intel 82540EM, 8086:100e
    revision 3, class 0x0200, INTA; BAR0 the 128 KiB region ``e1000-mmio``,
    BAR1 the 64-byte I/O region ``e1000-io``; no capabilities.  Default ROM
    efi-e1000.rom (region ``e1000.rom``)."""

    type_name = "e1000"
    vendor_id = PCI_VENDOR_ID_INTEL
    device_id = 0x100E
    revision = 0x03
    class_id = 0x0200
    interrupt_pin = 1
    default_romfile = "efi-e1000.rom"
    vmsd_name = "e1000"
    BARS = ((0, 0, "e1000-mmio", 0x20000, "io"),
            (1, PCI_BASE_ADDRESS_SPACE_IO, "e1000-io", 0x40, "io"))
    PROPS = {**_NIC_IGNORED, **{n: ("ignore", None) for n in (
        "autonegotiation", "mitigation", "extra_mac_registers", "migrate_tso_props",
        "init-vet", "migrate-timadj")}}


class RTL8139(QemuPCIDevice):
    """QEMU hw/net/rtl8139.c ``pci_rtl8139_realize``: 10ec:8139 revision
    0x20, class 0x0200, INTA; BAR0 the 256-byte I/O region ``rtl8139``,
    BAR1 the alias ``rtl8139-mem`` of it (32-bit memory).  Default ROM
    efi-rtl8139.rom (region ``rtl8139.rom``)."""

    type_name = "rtl8139"
    vendor_id = PCI_VENDOR_ID_REALTEK
    device_id = 0x8139
    revision = 0x20
    class_id = 0x0200
    interrupt_pin = 1
    default_romfile = "efi-rtl8139.rom"
    vmsd_name = "rtl8139"
    PROPS = dict(_NIC_IGNORED)

    def realize_device(self, vm) -> None:
        # pci_rtl8139_realize: a capability pointer of 0xdc with no list
        # behind it (and no capability bit in the status register)
        self.config[0x34] = 0xDC
        self.io = self._owned(MemoryRegion.init_io("rtl8139", 0x100))
        self.mem = self._owned(MemoryRegion.init_alias("rtl8139-mem", self.io, 0, 0x100))
        self.register_bar(0, PCI_BASE_ADDRESS_SPACE_IO, self.io)
        self.register_bar(1, 0, self.mem)


class VMXNET3(QemuPCIDevice):
    """QEMU hw/net/vmxnet3.c ``vmxnet3_pci_realize``: 15ad:07b0 revision 1,
    class 0x0200, subsystem 15ad:07b0, INTA.  BAR0 ``vmxnet3-b0`` and BAR1
    ``vmxnet3-b1`` (4 KiB I/O regions each, 32-bit), BAR2 the 8 KiB container
    ``vmxnet3-msix-bar`` with the 25-vector MSI-X table at 0 and PBA at
    0x1000 (0x800 with ``x-old-msi-offsets``).  A 64-bit single-vector MSI at
    0x84 (0x50 old), MSI-X at 0x9c (first free, old); ``vmxnet3_realize``
    makes the function PCI Express unless ``x-disable-pcie`` (on any bus: a
    4 KiB config space with a Device Serial Number at 0x100, whose value
    from the MAC address is not modelled), with a PCIe v2 endpoint
    capability at 0x48 only on a PCIe bus.  Default ROM efi-vmxnet3.rom
    (region ``vmxnet3.rom``)."""

    type_name = "vmxnet3"
    vendor_id = PCI_VENDOR_ID_VMWARE
    device_id = 0x07B0
    revision = 0x01
    subsystem_vendor_id, subsystem_id = PCI_VENDOR_ID_VMWARE, 0x07B0
    class_id = 0x0200
    interrupt_pin = 1
    is_express = True
    default_romfile = "efi-vmxnet3.rom"
    vmsd_name = "vmxnet3"
    PROPS = {**_NIC_IGNORED, "x-old-msi-offsets": ("bool", False),
             "x-disable-pcie": ("bool", False)}

    def express_on(self, bus: PCIBus | None) -> bool:
        return not self.opts["x-disable-pcie"]

    def realize_device(self, vm) -> None:
        old = self.opts["x-old-msi-offsets"]
        for i, name in ((0, "vmxnet3-b0"), (1, "vmxnet3-b1")):
            self.register_bar(i, 0, self._owned(MemoryRegion.init_io(name, 0x1000)))
        self.msix_bar = self._owned(MemoryRegion.init_container("vmxnet3-msix-bar", 0x2000))
        self.register_bar(2, 0, self.msix_bar)
        msi_init(self, 0x50 if old else 0x84, 1, True, False)
        msix_init(self, 25, self.msix_bar, 2, 0, self.msix_bar, 2, 0x800 if old else 0x1000,
                  0 if old else 0x9C)
        if self.is_express:
            if pci_bus_is_express(self.bus):
                pcie_endpoint_cap_init(self, 0x48)
            pcie_dev_ser_num_init(self, 0x100, 0)


class MegaSAS(QemuPCIDevice):
    """QEMU hw/scsi/megasas.c ``megasas_scsi_realize``: LSI MegaRAID SAS
    1078, 1000:0060, class 0x0104, INTA.  BAR0 (64-bit) the 16 KiB container
    ``megasas-mmio`` with the 15-vector MSI-X table at 0x2000 and PBA at
    0x3800; BAR2 the 256-byte I/O region ``megasas-io``; BAR3 (64-bit) the
    256 KiB ``megasas-queue``.  A 64-bit MSI at 0x50 and MSI-X at 0x68
    (``msi``/``msix`` off are not modelled)."""

    type_name = "megasas"
    vendor_id = PCI_VENDOR_ID_LSI_LOGIC
    device_id = 0x0060
    subsystem_vendor_id, subsystem_id = 0x1000, 0x1013     # megasas_info: LSI, 0x1013
    class_id = 0x0104
    interrupt_pin = 1
    PROPS = {n: ("ignore", None) for n in (
        "max_sge", "max_cmds", "hba_serial", "sas_address", "use_jbod")}

    def realize_device(self, vm) -> None:
        # an I/O region with the MSI-X table and PBA inside it (megasas_scsi_realize)
        self.mmio = self._owned(MemoryRegion.init_io("megasas-mmio", 0x4000))
        # megasas_scsi_realize: a 64-bit single-vector MSI at 0x50, then
        # MSI-X (15 vectors, table 0x2000 and PBA 0x3800 of BAR0) at 0x68
        msi_init(self, 0x50, 1, True, False)
        msix_init(self, 15, self.mmio, 0, 0x2000, self.mmio, 0, 0x3800, 0x68)
        self.register_bar(0, PCI_BASE_ADDRESS_MEM_TYPE_64, self.mmio)
        self.register_bar(2, PCI_BASE_ADDRESS_SPACE_IO,
                          self._owned(MemoryRegion.init_io("megasas-io", 256)))
        self.register_bar(3, PCI_BASE_ADDRESS_MEM_TYPE_64,
                          self._owned(MemoryRegion.init_io("megasas-queue", 0x40000)))


class LSI53C895A(_SimpleBars):
    """QEMU hw/scsi/lsi53c895a.c ``lsi_scsi_realize``: 1000:0012, class
    0x0100, INTA; BAR0 the 256-byte I/O region ``lsi-io``, BAR1 the 1 KiB
    ``lsi-mmio``, BAR2 the 8 KiB ``lsi-ram`` (32-bit memory)."""

    type_name = "lsi53c895a"
    vendor_id = PCI_VENDOR_ID_LSI_LOGIC
    device_id = 0x0012
    class_id = 0x0100
    interrupt_pin = 1
    subsystem_vendor_id, subsystem_id = 0, 0x1000      # lsi_class_init: subsystem_id 0x1000
    BARS = ((0, PCI_BASE_ADDRESS_SPACE_IO, "lsi-io", 256, "io"),
            (1, 0, "lsi-mmio", 0x400, "io"), (2, 0, "lsi-ram", 0x2000, "io"))

    def realize_device(self, vm) -> None:
        self.config[0x0D] = 0xFF           # lsi_scsi_realize: latency timer
        # lsi_scsi_realize: address_space_init(&s->pci_io_as,
        # pci_address_space_io(dev), "lsi-pci-io") -- one more address space
        # on the bus's I/O space (info mtree -f lists it with "I/O")
        if vm is not None and getattr(vm, "memory", None) is not None:
            from .memory import AddressSpace
            self.pci_io_as = AddressSpace(vm.memory, self.bus.address_space_io, "lsi-pci-io")
        _SimpleBars.realize_device(self, vm)


class PVPanicPCI(_SimpleBars):
    """QEMU hw/misc/pvpanic-pci.c ``pvpanic_pci_realizefn``: 1b36:0011,
    class 0x0880; BAR0 the 2-byte region ``pvpanic``."""

    type_name = "pvpanic-pci"
    vendor_id = PCI_VENDOR_ID_REDHAT
    device_id = 0x0011
    revision = 1
    class_id = 0x0880
    BARS = ((0, 0, "pvpanic", 2, "io"),)
    PROPS = {"events": ("ignore", None)}


class I6300ESB(_SimpleBars):
    """QEMU hw/watchdog/wdt_i6300esb.c ``i6300esb_realize``: 8086:25ab,
    class 0x0880; BAR0 the 16-byte region ``i6300esb``."""

    type_name = "i6300esb"
    vendor_id = PCI_VENDOR_ID_INTEL
    device_id = 0x25AB
    class_id = 0x0880
    BARS = ((0, 0, "i6300esb", 16, "io"),)


class QXL(QemuPCIDevice):
    """QEMU hw/display/qxl.c ``qxl_realize_common`` (``qxl_init_ramsize``):
    the secondary QXL display ``qxl``, 1b36:0100, class 0x0380, INTA.

    BAR0: the RAM region (``qxl.vgavram``; ``vga.vram`` for qxl-vga) of
    ``ram_size`` (64 MiB, or ``ram_size_mb``, at least twice ``vgamem_mb``
    (16, clamped to 8..256)); BAR1: the alias ``qxl.vram32`` of the first
    ``vram_size`` (64 MiB, or ``vram_size_mb``; at least 4 KiB) bytes of
    ``qxl.vram``; BAR2: the 8 KiB ROM ``qxl.vrom``; BAR3: the 32-byte I/O
    region ``qxl-ioports``; BAR4 (64-bit prefetchable): ``qxl.vram`` itself
    when ``vram64_size_mb`` makes it larger than vram32.  All sizes rounded
    up to powers of two; BARs 0-2 are 32-bit non-prefetchable.
    """

    type_name = "qxl"
    vendor_id = PCI_VENDOR_ID_REDHAT
    device_id = 0x0100
    class_id = 0x0380
    interrupt_pin = 1
    vmsd_name = "qxl"
    vram_name = "qxl.vgavram"
    PROPS = {"ram_size": ("uint32", 64 * MiB), "vram_size": ("uint64", 64 * MiB),
             "ram_size_mb": ("uint32", _UNSET32), "vram_size_mb": ("uint32", _UNSET32),
             "vram64_size_mb": ("uint32", _UNSET32), "vgamem_mb": ("uint32", 16),
             "revision": ("uint32", 5),
             **{n: ("ignore", None) for n in ("debug", "guestdebug", "cmdlog", "surfaces",
                                              "max_outputs", "xres", "yres", "global-vmstate")}}

    def sizes(self) -> tuple[int, int, int]:
        """``qxl_init_ramsize``: (vga ram, vram32, vram) sizes."""
        o = self.opts
        vgamem = min(max(o["vgamem_mb"], 8), 256) * MiB
        ram = o["ram_size"] if o["ram_size_mb"] == _UNSET32 else o["ram_size_mb"] * MiB
        ram = max(ram, vgamem * 2)
        vram32 = o["vram_size"] if o["vram_size_mb"] == _UNSET32 else o["vram_size_mb"] * MiB
        vram32 = max(vram32, 4096)
        vram = vram32 if o["vram64_size_mb"] == _UNSET32 else o["vram64_size_mb"] * MiB
        vram = max(vram, vram32)
        if o["revision"] == 1:
            vram32 = vram = 4096
        return pow2ceil(ram), pow2ceil(vram32), pow2ceil(vram)

    def realize_device(self, vm) -> None:
        who = _who(self)
        if not 1 <= self.opts["revision"] <= 5:
            raise DeviceError(who, "revision", f"Invalid revision {self.opts['revision']} for "
                              "qxl device (max 5)")
        ram, vram32, vram = self.sizes()
        self.config[PCI_REVISION_ID] = self.opts["revision"]
        self.vga_vram = self._ram(vm, self.vram_name, ram)
        self.vga_setup(vm)
        self.vrom = self._owned(MemoryRegion.init_rom("qxl.vrom", 0x2000))
        if vm is not None:
            vm.alloc_ram(self.vrom)
        self.vram = self._ram(vm, "qxl.vram", vram)
        self.vram32 = self._owned(MemoryRegion.init_alias("qxl.vram32", self.vram, 0, vram32))
        self.io = self._owned(MemoryRegion.init_io("qxl-ioports", 32))
        self.register_bar(3, PCI_BASE_ADDRESS_SPACE_IO, self.io)
        self.register_bar(2, 0, self.vrom)
        self.register_bar(0, 0, self.vga_vram)
        self.register_bar(1, 0, self.vram32)
        if vram32 < vram:
            self.register_bar(4, PCI_BASE_ADDRESS_MEM_TYPE_64 | PCI_BASE_ADDRESS_MEM_PREFETCH,
                              self.vram)

    def vga_setup(self, vm) -> None:
        """The secondary device has no VGA part."""


class QXLVGA(QXL):
    """``qxl-vga`` (``qxl_primary_realize``): class 0x0300, the RAM region
    is ``vga.vram`` with VGA dirty logging, the legacy VGA window and ports
    as VGA; default ROM vgabios-qxl.bin (region ``qxl.rom``)."""

    type_name = "qxl-vga"
    class_id = 0x0300
    default_romfile = "vgabios-qxl.bin"
    vram_name = "vga.vram"

    def vga_setup(self, vm) -> None:
        self.vga_vram.set_log(True, 0)
        self.vga = VGACommonState(self, self.vga_vram)


class AHCI(ICH9AHCI):
    """``-device ahci``: QEMU's alias (softmmu/qdev-monitor.c
    ``qdev_alias_table``) for ich9-ahci; not multifunction unless asked."""
    type_name = "ahci"
    default_multifunction = False


# ---------------------------------------------------------------------------
# more bridges and switch ports
# ---------------------------------------------------------------------------

class PCIEPCIBridge(_QemuBridge):
    """QEMU hw/pci-bridge/pcie_pci_bridge.c ``pcie_pci_bridge_realize``:
    the PCIe-to-PCI bridge, 1b36:000e, class 0x0604, PCI Express (type PCI
    bridge), INTA; conventional secondary bus with an SHPC.  BAR0: the
    64-bit container ``shpc-bar`` (256 bytes) with ``shpc-mmio`` (0xa0).
    Capabilities: SHPC at 0x40, PCIe v2 (type 7) at 0x48, PM at 0x84, MSI
    at 0x8c; AER at 0x100."""

    type_name = "pcie-pci-bridge"
    vendor_id = PCI_VENDOR_ID_REDHAT
    device_id = 0x000E
    class_id = 0x0604
    is_express = True
    interrupt_pin = 1
    secondary_bus_is_express = False
    PROPS = {"msi": ("onoffauto", "auto")}

    def realize_device(self, vm) -> None:
        self._bridge_initfn()
        shpc_regs = 0x24 + PCIBridgeDev.SHPC_MAX_SLOTS * 4
        self.shpc_bar = self._owned(MemoryRegion.init_container("shpc-bar", pow2ceil(shpc_regs)))
        # shpc_init -> shpc_cap_add_config: the SHPC capability (8 bytes,
        # DWORD select and data writable) at the first free offset (0x40)
        pos = pci_add_capability(self, PCI_CAP_ID_SHPC, 0, 8)
        self.wmask[pos + 2] = 0xFF
        _set(self.wmask, pos + 4, 4, 0xFFFFFFFF)
        self.shpc_cap = pos
        self.shpc_bar.add_subregion(0, self._owned(MemoryRegion.init_io("shpc-mmio", shpc_regs)))
        # a PCIe v2 capability of type PCI Express-to-PCI bridge, PM (PMC
        # 0x3), ARI forwarding, error reporting, AER at 0x100, then a 64-bit
        # maskable single-vector MSI unless msi=off
        pcie_cap_init(self, 0, PCI_EXP_TYPE_PCI_BRIDGE, 0)
        pm = pm_capability(self, 0, 0x3)
        self.pm_cap = pm
        pcie_cap_arifwd_init(self)
        pcie_cap_deverr_init(self)
        pcie_aer_init(self, 0x100)
        if self.opts["msi"] != "off":
            msi_init(self, 0, 1, True, True)
        self.register_bar(0, PCI_BASE_ADDRESS_MEM_TYPE_64, self.shpc_bar)


class I82801B11Bridge(_QemuBridge):
    """QEMU hw/pci-bridge/i82801b11.c ``i82801b11_bridge_realize``: the
    Intel 82801 DMI-to-PCI bridge, 8086:244e revision 0x92, class 0x0604,
    conventional on both sides; a Subsystem Vendor ID capability at 0x50;
    no BARs."""

    type_name = "i82801b11-bridge"
    vendor_id = PCI_VENDOR_ID_INTEL
    device_id = 0x244E
    revision = 0x92
    class_id = 0x0604
    prog_if = 0x01                 # subtractive decode (PCI_CLASS_BRIDGE_PCI_INF_SUB)
    secondary_bus_is_express = False

    def realize_device(self, vm) -> None:
        self._bridge_initfn()
        pos = pci_add_capability(self, PCI_CAP_ID_SSVID, 0x50, 8)
        _set(self.config, pos + 4, 2, 0)
        _set(self.config, pos + 6, 2, 0)


class IOH3420(PCIERootPort):
    """QEMU hw/pci-bridge/ioh3420.c: the Intel X58 root port, 8086:3420
    revision 2, through the same ``rp_realize`` as pcie-root-port with its
    own offsets: SSVID (8086, 0) at 0x40, a 64-bit 2-vector MSI with
    per-vector masking at 0x60 (no MSI-X, so no BAR), the PCIe capability
    at 0x90, AER at 0x100, no ACS and no resource-reserve capability."""

    type_name = "ioh3420"
    vendor_id = PCI_VENDOR_ID_INTEL
    device_id = 0x3420
    revision = 0x02
    vmsd_name = "ioh-3240-express-root-port"
    ssvid_offset, exp_offset, aer_offset, acs_offset = 0x40, 0x90, 0x100, 0
    has_reserve_cap = False
    EXCLUDED_PROPS = ("bus-reserve", "io-reserve", "mem-reserve", "pref32-reserve",
                      "pref64-reserve", "x-migrate-msix", "x-speed", "x-width")

    def __init__(self, qdev_id: str = "", **props):
        QemuPCIDevice.__init__(self, qdev_id, **props)
        self.compat_applied()

    def compat_applied(self) -> None:
        self.link_speed = self.link_width = None        # a v2 capability with x1 2.5 GT/s

    def interrupts_init(self) -> None:
        # IOH_EP_MSI_SUPPORTED_FLAGS = PCI_MSI_FLAGS_MASKBIT: 32-bit, maskable
        msi_init(self, 0x60, 2, False, True)


class X3130Upstream(_QemuBridge):
    """QEMU hw/pci-bridge/xio3130_upstream.c ``xio3130_upstream_realize``:
    the TI XIO3130 switch upstream port, 104c:8232 revision 2, class 0x0604,
    PCI Express; its secondary bus is PCIe; no BARs (MSI, not MSI-X).
    (Capabilities: not modelled.)"""

    type_name = "x3130-upstream"
    vendor_id = PCI_VENDOR_ID_TI
    device_id = 0x8232
    revision = 0x02
    class_id = 0x0604
    is_express = True
    interrupt_pin = 0             # no INTx pin (realize never sets one)
    secondary_bus_is_express = True
    PROPS = {"port": ("uint8", 0), "aer_log_max": ("ignore", None)}

    def realize_device(self, vm) -> None:
        """``xio3130_upstream_realize``: a 64-bit single-vector MSI at 0x70,
        SSVID (0, 0) at 0x80, a PCIe v2 upstream-port capability at 0x90
        with FLR and error reporting, AER at 0x100."""
        self._bridge_initfn()
        self._port_init_reg()
        msi_init(self, 0x70, 1, True, False)
        self._ssvid(0x80, 0, 0)
        pcie_cap_init(self, 0x90, PCI_EXP_TYPE_UPSTREAM, self.opts["port"])
        pcie_cap_flr_init(self)
        pcie_cap_deverr_init(self)
        pcie_aer_init(self, 0x100)


class XIO3130Downstream(_QemuBridge):
    """QEMU hw/pci-bridge/xio3130_downstream.c ``xio3130_downstream_realize``:
    the TI XIO3130 switch downstream port, 104c:8233 revision 1, class
    0x0604, PCI Express with a slot; secondary bus PCIe; no BARs.
    (Capabilities: not modelled.)"""

    type_name = "xio3130-downstream"
    vendor_id = PCI_VENDOR_ID_TI
    device_id = 0x8233
    revision = 0x01
    class_id = 0x0604
    is_express = True
    interrupt_pin = 0             # no INTx pin (realize never sets one)
    secondary_bus_is_express = True
    PROPS = {"chassis": ("uint8", 0), "slot": ("uint16", 0), "port": ("uint8", 0),
             "hotplug": ("bool", True), "x-native-hotplug": ("bool", None),
             "x-do-not-expose-native-hotplug-cap": ("bool", None),
             "aer_log_max": ("ignore", None), "power_controller_present": ("bool", True)}

    native_hotplug = PCIERootPort.native_hotplug

    def realize_device(self, vm) -> None:
        """``xio3130_downstream_realize``: as the upstream port, with a
        downstream-port PCIe capability carrying a slot (``slot``,
        ``hotplug``, native hot-plug, a power controller) and ARI
        forwarding."""
        o = self.opts
        self._bridge_initfn()
        self._port_init_reg()
        msi_init(self, 0x70, 1, True, False)
        self._ssvid(0x80, 0, 0)
        pcie_cap_init(self, 0x90, PCI_EXP_TYPE_DOWNSTREAM, o["port"])
        pcie_cap_flr_init(self)
        pcie_cap_deverr_init(self)
        pcie_cap_slot_init(self, o["slot"], o["hotplug"], self.native_hotplug(vm),
                           o["power_controller_present"])
        pcie_cap_arifwd_init(self)
        pcie_aer_init(self, 0x100)

    _slot_reset = PCIERootPort._slot_reset
    #: a PCIESlot without x-speed/x-width: pcie_cap_fill_slot_lnk writes a
    #: zero speed and width into Link Capabilities (the capture q35-misc,
    #: dn0: LNKCAP 0x00000400)
    link_speed = link_width = 0

    def reset(self) -> None:
        """``xio3130_downstream_reset`` -> ``pcie_cap_slot_reset``, as the
        root port's (power and indicators by whether slot 0 is populated);
        ``pci_bridge_reset`` leaves the windows as realize made them."""
        if getattr(self, "exp_cap", None):
            self._slot_reset()


_MORE_TYPES = (QemuXHCI, NecXHCI, UsbEHCI, ICH9UsbEHCI1, ICH9UsbEHCI2, *_UHCI_TYPES,
               IntelHDA, ICH9IntelHDA, AC97, E1000, RTL8139, VMXNET3, MegaSAS, LSI53C895A,
               PVPanicPCI, I6300ESB, QXL, QXLVGA, AHCI, PCIEPCIBridge, I82801B11Bridge,
               IOH3420, X3130Upstream, XIO3130Downstream)


# ---------------------------------------------------------------------------
# registry
# ---------------------------------------------------------------------------

_ALL = (Edu, IvshmemPlain, E1000E, NVMe, *_VIRTIO_TYPES, *_MORE_TYPES,
        VGA, BochsDisplay, PCIBridgeDev, PCIERootPort,
        PIIX3IDE, ICH9AHCI, I440FX, PIIX3, PIIX4PM, MCH, ICH9LPC, ICH9SMB)

#: the ``-device`` types the model supports (QOM type name -> class)
DEVICE_TYPES: dict[str, type[PCIDevice]] = {c.type_name: c for c in _ALL if c.user_creatable}
#: chipset functions that only the machine creates (QEMU ``user_creatable = false``)
CHIPSET_DEVICE_TYPES: dict[str, type[PCIDevice]] = {c.type_name: c for c in _ALL
                                                     if not c.user_creatable}


#: ``-device`` types that are not PCI functions and add nothing to the PCI
#: buses, the memory map, memslots or DMA as modelled here: devices that
#: plug into a bus of another device (virtio-serial ports, HDA codecs, SCSI,
#: USB and IDE devices; QEMU realizes them on that device's child bus, e.g.
#: hw/char/virtio-console.c, hw/audio/hda-codec.c, hw/scsi/scsi-disk.c,
#: hw/usb/dev-hid.c, hw/usb/dev-storage-classic.c, hw/usb/host-libusb.c,
#: hw/usb/redirect.c, hw/ide/ide-dev.c) and ISA/board devices that only take
#: I/O ports the PCI model does not use (isa-serial, isa-parallel, pvpanic
#: at port 0x505, i8042).  The command-line reader accepts these and lists
#: them as ignored.
CHILD_DEVICE_TYPES = frozenset({
    "virtserialport", "virtconsole", "virtio-serial-port",
    "hda-duplex", "hda-micro", "hda-output",
    "scsi-hd", "scsi-cd", "scsi-block", "scsi-generic",
    "usb-tablet", "usb-kbd", "usb-mouse", "usb-storage", "usb-host", "usb-redir", "usb-hub",
    "usb-serial", "usb-audio", "usb-ccid", "usb-wacom-tablet", "usb-bot", "usb-uas",
    "ide-hd", "ide-cd", "ide-drive",
    "isa-serial", "isa-parallel", "pvpanic", "i8042", "isa-debugcon",
    # hw/acpi/vmgenid.c: no PCI function and no region; its GUID lives in a
    # page of guest RAM the firmware allocates through the ACPI linker/loader
    # (fw_cfg etc/vmgenid_guid, "high" zone).  Real QEMU 7.2 q35 run with and
    # without -device vmgenid,guid=...: the same info pci, info mtree -f and
    # kvm_set_user_memory trace (tests/test_cmdline.py)
    "vmgenid",
})
#: Devices that do change the memory map but are not modelled: a clear
#: refusal names them (tpm-crb/tpm-tis: MMIO at 0xfed40000; the IOMMUs:
#: DMAR/IVRS MMIO windows; ramfb: a VGA ROM through fw_cfg; igb: QEMU 8.0+
#: only, no capture here).
NOT_MODELLED_DEVICE_TYPES = {
    "tpm-crb": "TPM CRB registers at 0xfed40000 (hw/tpm/tpm_crb.c)",
    "tpm-tis": "TPM TIS registers at 0xfed40000 (hw/tpm/tpm_tis_isa.c)",
    "intel-iommu": "the VT-d register window (hw/i386/intel_iommu.c)",
    "amd-iommu": "the AMD IOMMU MMIO window and its PCI function (hw/i386/amd_iommu.c)",
    "ramfb": "its VGA BIOS through fw_cfg vgaroms/ (hw/display/ramfb-standalone.c)",
    "igb": "QEMU 8.0+ (hw/net/igb.c), no capture on this machine",
    # display and other PCI devices people name that the catalogue lacks:
    # each has its own BAR layout and ROM the model would have to restate
    "cirrus-vga": "its BARs, ROM and legacy VGA window (hw/display/cirrus_vga.c)",
    "vmware-svga": "its I/O, framebuffer and FIFO BARs (hw/display/vmware_vga.c)",
    "ati-vga": "its BARs and ROM (hw/display/ati.c)",
    "secondary-vga": "its BARs (hw/display/vga-pci.c secondary_class_init)",
    "virtio-vga-gl": "the virgl build of virtio-vga (hw/display/virtio-vga-gl.c; needs a GL display)",
    "virtio-gpu-gl-pci": "the virgl build of virtio-gpu-pci (hw/display/virtio-gpu-pci-gl.c)",
    "virtio-iommu-pci": "a vIOMMU (hw/virtio/virtio-iommu-pci.c) and the DMA translation it adds",
    "virtio-sound-pci": "QEMU 8.2+ (hw/audio/virtio-snd-pci.c), no capture on this machine",
    "ES1370": "its I/O BAR (hw/audio/es1370.c)",
    "ivshmem-doorbell": "its chardev server and interrupt BAR (hw/misc/ivshmem.c)",
}


def create_device(type_name: str, qdev_id: str = "", props: dict | None = None) -> PCIDevice:
    """Build a ``-device`` from its QOM type name and string properties.

    Unknown types raise :class:`~vfiolab.errors.UnsupportedOption` listing
    the supported ones (a chipset type says it is not user-creatable, as
    QEMU refuses it); bad property names or values raise
    :class:`~vfiolab.errors.DeviceError` naming the device and property.
    """
    cls = DEVICE_TYPES.get(type_name)
    if cls is None:
        if type_name in CHIPSET_DEVICE_TYPES:
            detail = "created by the machine, not with -device"
        elif type_name in NOT_MODELLED_DEVICE_TYPES:
            detail = f"not modelled: {NOT_MODELLED_DEVICE_TYPES[type_name]}"
        elif type_name in CHILD_DEVICE_TYPES:
            detail = "not a PCI function (the command line reader ignores it)"
        else:
            detail = "not in the device catalogue"
        # vfio-pci is built by the boot code from a host device description
        raise UnsupportedOption(f"-device {type_name}", list(DEVICE_TYPES) + ["vfio-pci"], detail)
    props = dict(props or {})
    if not qdev_id:
        qdev_id = str(props.get("id") or "")
    return cls(qdev_id, **props)
