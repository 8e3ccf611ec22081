"""What the model is given about a VM: the parts of a QEMU command line it reads.

The readers in :mod:`vfiolab.inputs` (a command line, later libvirt XML or a
Proxmox config) produce a :class:`QemuConfig`; the model never parses text.
Defaults are QEMU's own where QEMU has one (named per field).
"""

from __future__ import annotations

from dataclasses import dataclass, field

__all__ = ["QemuConfig", "DeviceSpec"]


@dataclass
class DeviceSpec:
    """One ``-device``: its type, ``id`` and the remaining properties."""

    type: str
    id: str
    props: dict
    position: int = 0
    #: where a device the user did not write with -device comes from (e.g.
    #: "the default NIC"), for error messages
    origin: str = ""


@dataclass
class QemuConfig:
    """What the model needs from a QEMU command line."""

    machine: str = "pc"                          # the family: "pc" (i440fx) or "q35"
    #: ``-machine`` as given: ``pc``, ``q35``, ``pc-q35-7.2``, ...; the stack
    #: resolves it to a versioned type (:func:`vfiolab.stack.resolve_machine`)
    machine_type: str = "pc"
    machine_opts: dict = field(default_factory=dict)
    ram_size: int = 128 * 1024 * 1024          # QEMU default -m 128M (hw/core/machine.c)
    #: ``-m ...,maxmem=`` in bytes (MachineState ``maxram_size``; None: not
    #: given, which QEMU takes as the RAM size) and ``slots=``
    #: (``ram_slots``); model/machine.py device_memory reads them
    maxram_size: int | None = None
    ram_slots: int = 0
    memdevs: dict = field(default_factory=dict)  # id -> (backend type, size, props)
    devices: list = field(default_factory=list)
    nodefaults: bool = False
    cpu_model: str = "qemu64"
    cpu_props: dict = field(default_factory=dict)
    accel: str | None = None
    args: list = field(default_factory=list)
    #: ISA devices that add I/O ports: (type, props); props of isa-serial,
    #: isa-parallel carry the resolved ``iobase``
    isa_devices: list = field(default_factory=list)
    #: the QEMU release the command line was read for ((7, 2), (10, 0), ...)
    qemu: tuple | None = None
    #: ``-machine max-ram-below-4g=`` in bytes (None: the machine's default)
    max_ram_below_4g: int | None = None
    #: ``-machine hpet=`` / ``-no-hpet`` (hw/i386/pc.c: on by default)
    hpet: bool = True
    #: ``-machine vmport=`` resolved: auto means on for pc and q35 without Xen
    #: (hw/i386/pc.c ``pc_basic_device_init``)
    vmport: bool = True
    #: ``-machine memory-backend=ID``: the backend that is the main RAM
    ram_backend: str | None = None
    #: the devices the machine creates before any ``-device`` (the VGA of
    #: ``-vga``/the default, then the NICs of ``-nic``/``-net nic``/the
    #: default NIC, as ``pc_init1``/``pc_q35_init`` do); None when the config
    #: was not made by a command-line reader (the boot code then adds QEMU's
    #: default VGA itself)
    default_devices: list | None = None
    #: ``-global DRIVER.PROPERTY=VALUE`` (or ``driver=,property=,value=``):
    #: (driver, property) -> value, the last one given winning as in QEMU
    globals: dict = field(default_factory=dict)
    #: the firmware flash: ``{"unit": 0|1, "file": ..., "readonly": bool,
    #: "format": ...}`` for each ``-drive if=pflash`` (units numbered in
    #: order as QEMU ``drive_new`` does) or ``-blockdev`` node named by
    #: ``-machine pflash0=/pflash1=`` (hw/i386/pc_sysfw.c ``pc_system_flash_create``)
    pflash: list = field(default_factory=list)
    #: ``-blockdev`` nodes by node-name (their options, JSON values as given)
    blockdevs: dict = field(default_factory=dict)
    #: ``-bios FILE`` (None: the machine's default, bios-256k.bin)
    bios: str | None = None
    #: the ``-bios`` file's size when the front end could read it
    bios_size: int | None = None
    #: ``-fw_cfg name=NAME,string=VALUE`` (or ``file=``): name -> value
    fw_cfg: dict = field(default_factory=dict)
    #: what the model assumed about the command line (shown with the stack's notes)
    assumed: list = field(default_factory=list)
    #: every ``-drive`` as its option dict, ``if=pflash`` included
    drives: list = field(default_factory=list)
    #: ``-netdev ...,id=ID`` -> the queue pairs it gives its NIC (None: not
    #: known from the command line, vhost-vdpa); inputs/cmdline.py netdev
    netdevs: dict = field(default_factory=dict)
    #: ``-smp``: the keys given nonzero (cpus, maxcpus, sockets, dies,
    #: clusters, modules, cores, threads, books, drawers) -> int; the model
    #: works out the topology (model/machine.py smp_topology): ``cpus``
    #: sizes the virtio-blk/-scsi queues and MSI-X vectors
    smp: dict = field(default_factory=dict)
    #: the vCPU count ``-smp`` gives (model/machine.py smp_cpus; 1 without
    #: -smp); build_vm checks the whole topology (smp_topology)
    smp_cpus: int = 1
    #: options accepted and ignored because they cannot change PCI, the memory
    #: map, memslots or DMA, once each, as the user wrote them
    ignored: list = field(default_factory=list)
    #: what QEMU itself would warn about (deprecations), in its words
    warnings: list = field(default_factory=list)

    @property
    def firmware_kind(self) -> str | None:
        """What the command line's firmware is: ``"ovmf"`` when a pflash
        pair or a ``-bios`` image named OVMF*/edk2* is given, ``"seabios"``
        for a bios*.bin image (``-bios``, or as flash unit 0: QEMU runs
        whatever image the flash holds, hw/i386/pc_sysfw.c), ``None`` when
        the command line does not say (QEMU then loads bios-256k.bin:
        SeaBIOS), ``"unknown"`` otherwise.  Flash with another name is taken
        as OVMF (libvirt and Proxmox name their copies freely)."""
        if self.pflash:
            unit0 = next((f for f in self.pflash if f.get("unit") == 0), None)
            name = str((unit0 or {}).get("file") or "").rsplit("/", 1)[-1].lower()
            if name.startswith("bios") or "seabios" in name:
                return "seabios"
            return "ovmf"
        if self.bios is not None:
            name = self.bios.rsplit("/", 1)[-1].lower()
            if name.startswith(("ovmf", "edk2")) or "ovmf" in name:
                return "ovmf"
            if name.startswith("bios") or "seabios" in name:
                return "seabios"
            return "unknown"
        return None
