"""Reading a QEMU command line the way QEMU reads it.

Syntax (QEMU ``util/qemu-option.c`` ``opts_do_parse``, ``util/keyval.c``):
``-opt value`` where value is ``[implied=]x,key=value,...``; a doubled comma
``,,`` is a literal comma; a bare ``key`` means ``key=on``; options may be
spelled with one or two dashes.  ``-device``, ``-object``, ``-blockdev`` and
``-netdev`` also take a JSON object (QEMU 6.0+), whose values keep their JSON
types: a boolean property needs a JSON boolean (QEMU: "Invalid parameter type
for 'multifunction', expected: boolean") and ``"addr": 5`` is devfn 5.
Booleans in key=value form are QEMU's ``qapi_bool_parse`` words
(on/yes/true/y, off/no/false/n).

Sizes are read by :func:`qemu_strtosz`, which follows ``util/cutils.c``
``do_strtosz`` of the QEMU release the command line is for: QEMU 7.2 takes a
hex number with a suffix (``0x10M``) with a deprecation warning, QEMU 10.0
refuses it.  ``-m`` without a suffix is MiB (``parse_memory_options`` appends
``M`` when the value ends in a digit, so a bare ``-m 0x1000`` is 4 GiB with
that warning on 7.2 and "Parameter 'memory.size' expects size" on 10.0), and
the RAM size is rounded up to 8 KiB (hw/core/machine.c ``machine_set_mem``).

Every option falls in one of three kinds:

* modelled: ``-machine``/``-M`` (type, ``accel``, ``max-ram-below-4g``,
  ``memory-backend``, ``hpet``, ``vmport``, ``acpi``, ``usb``,
  ``kernel-irqchip``, ``pflash0/1`` kept for the firmware), ``-m``,
  ``-object memory-backend-*``, ``-device``, ``-global``, ``-vga``,
  ``-nic``/``-net``/``-netdev`` (which NICs the machine creates),
  ``-serial``/``-parallel``/``-debugcon`` (their ISA ports), ``-drive``,
  ``-cpu``, ``-accel``/``-enable-kvm``, ``-nodefaults``, ``-fw_cfg``, the
  firmware (``-drive if=pflash``, ``-pflash``, ``-blockdev`` nodes named by
  ``-machine pflash0=/pflash1=``, ``-bios``: ``QemuConfig.pflash``/``bios``,
  read by the firmware model), ``-readconfig`` (in place, QEMU's format);
* ignored: options that cannot change PCI, the memory map, memslots or DMA
  (:data:`IGNORED_WITH_ARG`, :data:`IGNORED_FLAGS`, the ``-object`` types in
  :data:`IGNORED_OBJECTS`, the bus-less child devices in
  :data:`NON_PCI_DEVICES`...): listed once each in ``QemuConfig.ignored``;
* refused: anything else, with :class:`~vfiolab.errors.UnsupportedOption` or
  :class:`~vfiolab.errors.CommandLineError` naming the option and why.

The default devices (``softmmu/vl.c`` ``qemu_disable_default_devices``,
``qemu_create_default_devices``): without ``-nodefaults`` QEMU adds a VGA
(unless ``-vga`` or a ``-device``/``-global`` of a display driver in
``default_list`` says otherwise), a NIC (unless ``-nic``/``-net``/``-netdev``
is given; ``e1000`` on pc, ``e1000e`` on q35: ``pc_piix.c``/``pc_q35.c``
``default_nic_model``), a serial port and, on pc, a parallel port and a
floppy controller, and an IDE CD-ROM (no new PCI function).  The machine
creates the VGA, then the NICs, before any ``-device`` (``pc_init1`` /
``pc_q35_init``: ``pc_vga_init`` then ``pc_nic_init``; ``-device`` comes later
in ``qemu_create_cli_devices``).  Checked with real QEMU 7.2 ``info pci``
(tests/test_cmdline.py).
"""

from __future__ import annotations

import json
import math
import re

from ..errors import CommandLineError, UnsupportedOption
from ..model.config import DeviceSpec, QemuConfig
from ..model.machine import ICH9_GLOBALS

__all__ = ["QemuConfig", "DeviceSpec", "parse_qemu_args", "split_opts", "qemu_strtosz",
           "qapi_bool", "readconfig_args", "DEFAULT_QEMU"]

#: the QEMU release a command line is read for when the caller names none
#: (the debian12 preset, vfiolab.stack.DEFAULT_STACK)
DEFAULT_QEMU = (7, 2)

#: Options that take an argument and cannot change PCI, the memory map,
#: memslots or DMA.  Checked with real QEMU 7.2: ``info pci`` and ``info
#: mtree -f`` are the same with and without -name, -uuid, -msg, -rtc, -boot,
#: -overcommit, -sandbox, -k, -display, -object secret/rng-random/iothread
#: (tests/test_cmdline.py records the command); the others are front-end or
#: host-side settings (monitors, chardevs, logging, migration, audio
#: back ends, block and net back ends, tracing).
IGNORED_WITH_ARG = {
    "name", "uuid", "msg", "rtc", "boot", "overcommit", "sandbox", "k", "display", "vnc",
    "spice", "monitor", "qmp", "qmp-pretty", "mon", "chardev", "trace", "D", "d", "pidfile",
    "runas", "chroot", "audiodev", "icount", "smbios", "incoming", "add-fd", "action",
    "compat", "tpmdev", "fsdev", "iscsi", "seed", "plugin", "L", "watchdog-action",
    "cdrom", "hda", "hdb", "hdc", "hdd", "fda", "fdb", "mtdblock", "sd", "mem-path",
    "object-add", "set", "loadvm", "semihosting-config", "dfilter", "async-teardown",
    "run-with", "xen-domid",
    # Proxmox's pve-qemu adds "-id VMID" (qm showcmd emits it first)
    "id",
}
#: Flag options that cannot change PCI, the memory map, memslots or DMA.
IGNORED_FLAGS = {
    "nographic", "S", "no-reboot", "no-shutdown", "daemonize", "snapshot", "no-user-config",
    "nodefconfig", "full-screen", "mem-prealloc", "no-fd-bootchk", "only-migratable",
    "preconfig", "no-quit", "enable-sync-profile", "semihosting", "win2k-hack",
    "ctrl-grab", "alt-grab", "no-frame", "no-kvm-pit-reinjection", "no-kvm-irqchip",
}
#: Options that are refused, with the reason.
REFUSED = {
    "numa": "NUMA nodes split the RAM into per-node regions; not modelled",
    "kernel": "QEMU adds linuxboot_dma.bin as an option ROM below 1 MiB; not modelled",
    "initrd": "only allowed with -kernel, which is not modelled",
    "append": "only allowed with -kernel, which is not modelled",
    "dtb": "only allowed with -kernel, which is not modelled",
    "usb": "adds a USB controller PCI function (piix3-usb-uhci / ich9-usb-*), not modelled",
    "usbdevice": "adds a USB controller PCI function, not modelled",
    "soundhw": "adds a sound PCI function, not modelled",
    "audio": "adds a sound device, not modelled",
    "virtfs": "the shorthand for an fsdev and a virtio-9p-pci device is not modelled; "
              "give -fsdev and -device virtio-9p-pci",
    "balloon": "the shorthand is not modelled; give -device virtio-balloon-pci",
    "watchdog": "adds a watchdog device, not in the device catalogue",
    "device-memory": "memory hotplug is not modelled",
    "xen-attach": "Xen is not modelled",
}
#: -object types that cannot change the map (secrets, RNG back ends, I/O
#: threads, TLS credentials, throttling, filters, authorisation, input).
IGNORED_OBJECTS = {
    "secret", "secret_keyring", "rng-random", "rng-builtin", "rng-egd", "iothread",
    "tls-creds-x509", "tls-creds-psk", "tls-creds-anon", "tls-cipher-suites",
    "throttle-group", "filter-buffer", "filter-mirror", "filter-redirector", "filter-dump",
    "filter-rewriter", "filter-replay", "colo-compare", "authz-simple", "authz-list",
    "authz-listfile", "authz-pam", "input-linux", "input-barrier", "cryptodev-backend-builtin",
    "can-bus", "dbus-vmstate", "main-loop", "thread-context", "pr-manager-helper",
}
#: the properties of the ignored -object types the suite meets, from their
#: QAPI types (qapi/qom.json IothreadProperties + EventLoopBaseProperties,
#: RngRandomProperties/RngEgdProperties + RngProperties; qapi/crypto.json
#: SecretProperties + SecretCommonProperties; the same at v7.2.0 and
#: v10.0.0): QEMU's keyval visitor refuses any other key ("Invalid parameter
#: 'size'", real QEMU 7.2.22, tests/fixtures/bad_inputs/qemu-7.2.json); with
#: "kind" the property's QAPI type
IGNORED_OBJECT_PROPS = {
    "iothread": {"poll-max-ns": "int", "poll-grow": "int", "poll-shrink": "int",
                 "aio-max-batch": "int", "thread-pool-min": "int", "thread-pool-max": "int"},
    "main-loop": {"aio-max-batch": "int", "thread-pool-min": "int", "thread-pool-max": "int"},
    "rng-random": {"opened": "bool", "filename": "str"},
    "rng-builtin": {"opened": "bool"},
    "rng-egd": {"opened": "bool", "chardev": "str"},
    "secret": {"loaded": "bool", "format": "enum", "keyid": "str", "iv": "str", "data": "str",
               "file": "str"},
}
MEMORY_BACKENDS = ("memory-backend-ram", "memory-backend-file", "memory-backend-memfd")
#: their properties (backends/hostmem.c, hostmem-file.c, hostmem-memfd.c)
MEMORY_BACKEND_PROPS = {
    "common": {"share", "prealloc", "prealloc-threads", "prealloc-context", "merge", "dump",
               "reserve", "policy", "host-nodes", "x-use-canonical-path-for-ramblock-id"},
    "memory-backend-file": {"mem-path", "align", "offset", "pmem", "readonly", "rom",
                            "discard-data"},
    "memory-backend-memfd": {"hugetlb", "hugetlbsize", "seal"},
}
#: Devices that are no PCI function and add nothing to the memory map:
#: children on a USB, SCSI, IDE, virtio-serial, HDA or NVMe bus, host-side
#: helpers.  (ISA devices that add ports are modelled, see ISA_PORT_DEVICES.)
NON_PCI_DEVICES = {
    "usb-tablet", "usb-kbd", "usb-mouse", "usb-host", "usb-redir", "usb-storage",
    "usb-ccid", "usb-audio", "usb-serial", "usb-hub", "usb-wacom-tablet", "usb-bot",
    "usb-uas", "usb-net", "ccid-card-passthru", "ccid-card-emulated",
    "scsi-hd", "scsi-cd", "scsi-generic", "scsi-block", "ide-hd", "ide-cd", "ide-drive",
    "floppy", "virtserialport", "virtconsole", "virtio-serial-port", "hda-duplex",
    "hda-micro", "hda-output", "nvme-ns", "nvme-subsys", "spapr-vscsi",
    # hw/acpi/vmgenid.c: a GUID page in guest RAM, placed by the firmware
    # (see vfiolab.model.devices CHILD_DEVICE_TYPES)
    "vmgenid",
}
#: ISA devices that add I/O ports to the "I/O" address space, with their
#: default base (hw/char/debugcon.c "iobase" 0xe9; hw/misc/pvpanic-isa.c
#: "ioport" 0x505; hw/char/serial-isa.c and hw/char/parallel-isa.c by
#: "index").
ISA_SERIAL_PORTS = (0x3f8, 0x2f8, 0x3e8, 0x2e8)     # serial-isa.c isa_serial_io
ISA_PARALLEL_PORTS = (0x378, 0x278, 0x3bc)           # parallel-isa.c isa_parallel_io
ISA_PORT_DEVICES = {"isa-debugcon", "isa-serial", "isa-parallel", "pvpanic"}
#: Devices whose presence on the command line (-device or -global) turns the
#: default VGA off (softmmu/vl.c ``default_list``, QEMU 7.2 and 10.0).
DEFAULT_VGA_DRIVERS = {"VGA", "isa-vga", "cirrus-vga", "isa-cirrus-vga", "vmware-svga",
                       "qxl-vga", "virtio-vga", "ati-vga", "vhost-user-vga", "virtio-vga-gl"}
#: -vga TYPE -> the device the machine creates (softmmu/vl.c ``vga_interfaces``)
VGA_INTERFACES = {"std": "VGA", "cirrus": "cirrus-vga", "vmware": "vmware-svga",
                  "qxl": "qxl-vga", "virtio": "virtio-vga", "xenfb": None, "tcx": None,
                  "cg3": None, "none": None}
#: network back-end types (qapi/net.json NetClientDriver, as -nic/-net take them)
NET_TYPES = {"none", "user", "tap", "l2tpv3", "socket", "stream", "dgram", "vde", "bridge",
             "netmap", "af-xdp", "vhost-user", "vhost-vdpa", "vmnet-host", "vmnet-shared",
             "vmnet-bridged"}
#: the parameters -nic and -net take (qapi/net.json at v7.2.0: NetLegacyNicOptions
#: for "-net nic"; NetdevUserOptions and NetdevTapOptions for the back ends the
#: suite meets; net/net.c ``net_param_nic`` takes model= and mac= itself).
#: Any other key: QEMU's visitor says "Invalid parameter 'KEY'".  Back-end
#: types not listed here are not checked.
NET_PARAMS = {
    "nic": {"netdev", "macaddr", "model", "addr", "vectors"},
    "user": {"hostname", "restrict", "ipv4", "ipv6", "ip", "net", "host", "tftp", "bootfile",
             "dhcpstart", "dns", "dnssearch", "domainname", "ipv6-prefix", "ipv6-prefixlen",
             "ipv6-host", "ipv6-dns", "smb", "smbserver", "hostfwd", "guestfwd",
             "tftp-server-name"},
    "tap": {"ifname", "fd", "fds", "script", "downscript", "br", "helper", "sndbuf", "vnet_hdr",
            "vhost", "vhostfd", "vhostfds", "vhostforce", "queues", "poll-us"},
    "none": set(),
}
#: SCSI controllers that take the -drive if=scsi disks (their realize calls
#: scsi_bus_legacy_handle_cmdline: hw/scsi/lsi53c895a.c, megasas.c,
#: esp-pci.c, mptsas.c)
SCSI_LEGACY_HBAS = {"lsi53c895a", "lsi53c810", "megasas", "megasas-gen2", "am53c974", "dc390",
                    "mptsas1068"}
#: options the model ignores whose keys QEMU 7.2 lists (softmmu/vl.c
#: qemu_rtc_opts, qemu_boot_opts, qemu_overcommit_opts, qemu_msg_opts,
#: qemu_sandbox_opts in softmmu/qemu-seccomp.c): (implied key, keys)
IGNORED_OPTION_KEYS = {
    "rtc": (None, {"base", "clock", "driftfix"}),
    "boot": ("order", {"order", "once", "menu", "splash", "splash-time", "reboot-timeout",
                       "strict"}),
    "overcommit": (None, {"mem-lock", "cpu-pm"}),
    "msg": (None, {"timestamp", "guest-name"}),
    "sandbox": ("enable", {"enable", "obsolete", "elevateprivileges", "spawn",
                           "resourcecontrol"}),
}
#: ``-display help`` of QEMU 7.2.22 (Debian 12), plus the enum's "default"
DISPLAY_TYPES = {"default", "none", "gtk", "sdl", "egl-headless", "curses", "spice-app", "dbus",
                 "cocoa"}
#: -drive parameters (block/qapi.c / blockdev.c qemu_common_drive_opts and
#: qemu_legacy_drive_opts, plus the common driver options); a key with a dot
#: goes to a block driver and is not checked
DRIVE_PARAMS = {"file", "if", "index", "unit", "bus", "media", "format", "driver", "cache",
                "aio", "readonly", "read-only", "snapshot", "id", "node-name", "discard",
                "detect-zeroes", "werror", "rerror", "copy-on-read", "serial", "addr", "boot",
                "cyls", "heads", "secs", "trans", "auto-read-only", "force-share", "stats-intervals",
                "throttling.iops-total", "bps", "iops", "bps_rd", "bps_wr", "iops_rd", "iops_wr",
                "group", "password-secret", "locking", "cache.direct", "cache.no-flush",
                # the raw format's own options (QEMU block/raw-format.c
                # raw_runtime_opts): a window of the file, e.g. qemu-server's
                # efidisk "-drive if=pflash,...,format=raw,...,size=540672"
                "offset", "size"}
#: -nic/-net model names and the device they create (hw/pci/pci.c
#: ``pci_nic_models``/``pci_nic_names``: "virtio" is virtio-net-pci)
NIC_MODEL_ALIASES = {"virtio": "virtio-net-pci"}
#: ``-device`` aliases on x86 (softmmu/qdev-monitor.c ``qdev_alias_table``,
#: v7.2.0; system/qdev-monitor.c at v10.0.0 adds virtio-gpu-rutabaga and
#: virtio-sound): consulted only when the name is no device type
#: (``qdev_get_device_class`` -> ``find_typename_by_alias``); the virtio ones
#: are the QEMU_ARCH_VIRTIO_PCI entries
QDEV_ALIASES = {
    "ac97": "AC97", "e1000-82540em": "e1000", "es1370": "ES1370", "ahci": "ich9-ahci",
    "lsi": "lsi53c895a", "virtio-9p": "virtio-9p-pci", "virtio-balloon": "virtio-balloon-pci",
    "virtio-blk": "virtio-blk-pci", "virtio-gpu": "virtio-gpu-pci",
    "virtio-gpu-gl": "virtio-gpu-gl-pci", "virtio-input-host": "virtio-input-host-pci",
    "virtio-iommu": "virtio-iommu-pci", "virtio-keyboard": "virtio-keyboard-pci",
    "virtio-mouse": "virtio-mouse-pci", "virtio-net": "virtio-net-pci",
    "virtio-rng": "virtio-rng-pci", "virtio-scsi": "virtio-scsi-pci",
    "virtio-serial": "virtio-serial-pci", "virtio-tablet": "virtio-tablet-pci",
}
#: the default NIC model (hw/i386/pc_piix.c ``pc_i440fx_machine_options`` and
#: hw/i386/pc_q35.c ``pc_q35_machine_options``: ``default_nic_model``)
DEFAULT_NIC = {"pc": "e1000", "q35": "e1000e"}
#: -machine properties that cannot change PCI, the map, memslots or DMA
#: (real QEMU 7.2 shows the same info pci and info mtree -f with
#: graphics=, dump-guest-core=, mem-merge=, usb=off, kernel-irqchip=on;
#: smm= is kept: on QEMU >= 9.1 it decides q35's SMRAM regions)
IGNORED_MACHINE_PROPS = {"graphics", "dump-guest-core", "mem-merge", "suppress-vmdesc",
                         "x-oem-id", "x-oem-table-id", "kvm-shadow-mem", "enforce-config-section",
                         "pcspk-audiodev", "usb", "acpi", "kernel-irqchip", "kernel_irqchip",
                         "nvdimm-persistence", "dt-compatible"}
#: -machine properties that are QOM booleans on QEMU 7.2 and 10.0, checked
#: with qapi_bool_parse whether or not the model reads them
#: (hw/core/machine.c machine_class_init: dump-guest-core, mem-merge, usb,
#: graphics, suppress-vmdesc; machine_initfn: nvdimm, hmat where supported;
#: hw/i386/pc.c pc_machine_class_init: smbus, sata, hpet, i8042,
#: default-bus-bypass-iommu).  Real QEMU 7.2.22: "-M q35,graphics=maybe:
#: Parameter 'graphics' expects 'on' or 'off'"
#: (tests/fixtures/bad_inputs/qemu-7.2.json)
MACHINE_BOOL_PROPS = {"dump-guest-core", "mem-merge", "usb", "graphics", "suppress-vmdesc",
                      "nvdimm", "hmat", "smbus", "sata", "hpet", "i8042",
                      "default-bus-bypass-iommu"}
#: -global DRIVER.PROP that cannot change the map (real QEMU 7.2: same info
#: pci / info mtree -f with kvm-pit.lost_tick_policy, ICH9-LPC.disable_s3,
#: PIIX4_PM.disable_s3; ICH9-LPC.noreboot only says what a write to the
#: reset-control port does, hw/isa/lpc_ich9.c)
IGNORED_GLOBALS = {("kvm-pit", "lost_tick_policy"), ("ICH9-LPC", "disable_s3"),
                   ("ICH9-LPC", "disable_s4"), ("ICH9-LPC", "noreboot"), ("PIIX4_PM", "disable_s3"),
                   ("PIIX4_PM", "disable_s4"), ("isa-fdc", "driveA"), ("isa-fdc", "driveB"),
                   ("isa-fdc", "bootindexA"), ("isa-fdc", "bootindexB"),
                   ("qemu-fw-cfg", "dma_enabled")}
#: -global drivers kept for the firmware model (OVMF's flash)
FIRMWARE_GLOBALS = {"cfi.pflash01"}
#: -global DRIVER.PROP the machine model reads from ``QemuConfig.globals``
#: (vfiolab.model.boot: the host bridge's pci-hole64-size)
MODELLED_GLOBALS = {("q35-pcihost", "pci-hole64-size"), ("i440FX-pcihost", "pci-hole64-size")}
#: -global DRIVER.PROP booleans the machine model reads (vfiolab.model.machine
#: ich9_acpi_pci_hotplug / ich9_keep_pci_slot_hpc: ICH9-LPC's ACPI PCI
#: hot-plug switch, which decides the acpi-pci-hotplug ports, and whether
#: the PCIe slots keep native hot-plug beside it)
MODELLED_BOOL_GLOBALS = ICH9_GLOBALS
#: -cpu properties that are booleans (target/i386/cpu.c x86_cpu_properties)
CPU_BOOL_PROPS = {"host-phys-bits", "pmu", "l3-cache", "kvm", "check", "enforce", "migratable",
                  "host-cache-info", "lmce", "full-cpuid-auto-level", "kvm-no-smi-migration",
                  "tcg-cpuid", "x-force-features", "hv-passthrough"}
CPU_INT_PROPS = {"phys-bits", "host-phys-bits-limit", "guest-phys-bits", "level", "xlevel",
                 "min-level", "min-xlevel", "family", "model", "stepping", "apic-id",
                 "hv-spinlocks"}

#: the CPU models of ``qemu-system-x86_64 -cpu help`` on QEMU 7.2.22 (Debian 12)
CPU_MODELS_72 = frozenset("""
    486 486-v1 Broadwell Broadwell-IBRS Broadwell-noTSX Broadwell-noTSX-IBRS Broadwell-v1
    Broadwell-v2 Broadwell-v3 Broadwell-v4 Cascadelake-Server Cascadelake-Server-noTSX
    Cascadelake-Server-v1 Cascadelake-Server-v2 Cascadelake-Server-v3 Cascadelake-Server-v4
    Cascadelake-Server-v5 Conroe Conroe-v1 Cooperlake Cooperlake-v1 Cooperlake-v2 Denverton
    Denverton-v1 Denverton-v2 Denverton-v3 Dhyana Dhyana-v1 Dhyana-v2 EPYC EPYC-IBPB EPYC-
    Milan EPYC-Milan-v1 EPYC-Rome EPYC-Rome-v1 EPYC-Rome-v2 EPYC-v1 EPYC-v2 EPYC-v3 Haswell
    Haswell-IBRS Haswell-noTSX Haswell-noTSX-IBRS Haswell-v1 Haswell-v2 Haswell-v3
    Haswell-v4 Icelake-Server Icelake-Server-noTSX Icelake-Server-v1 Icelake-Server-v2
    Icelake-Server-v3 Icelake-Server-v4 Icelake-Server-v5 Icelake-Server-v6 IvyBridge
    IvyBridge-IBRS IvyBridge-v1 IvyBridge-v2 KnightsMill KnightsMill-v1 Nehalem Nehalem-IBRS
    Nehalem-v1 Nehalem-v2 Opteron_G1 Opteron_G1-v1 Opteron_G2 Opteron_G2-v1 Opteron_G3
    Opteron_G3-v1 Opteron_G4 Opteron_G4-v1 Opteron_G5 Opteron_G5-v1 Penryn Penryn-v1
    SandyBridge SandyBridge-IBRS SandyBridge-v1 SandyBridge-v2 Skylake-Client Skylake-
    Client-IBRS Skylake-Client-noTSX-IBRS Skylake-Client-v1 Skylake-Client-v2 Skylake-
    Client-v3 Skylake-Client-v4 Skylake-Server Skylake-Server-IBRS Skylake-Server-noTSX-IBRS
    Skylake-Server-v1 Skylake-Server-v2 Skylake-Server-v3 Skylake-Server-v4 Skylake-
    Server-v5 Snowridge Snowridge-v1 Snowridge-v2 Snowridge-v3 Snowridge-v4 Westmere
    Westmere-IBRS Westmere-v1 Westmere-v2 athlon athlon-v1 base core2duo core2duo-v1 coreduo
    coreduo-v1 host kvm32 kvm32-v1 kvm64 kvm64-v1 max n270 n270-v1 pentium pentium-v1
    pentium2 pentium2-v1 pentium3 pentium3-v1 phenom phenom-v1 qemu32 qemu32-v1 qemu64
    qemu64-v1
""".split())
#: and the ones QEMU 10.0.2 (Debian 13) adds; for the releases between them
#: (8.2, 9.2) the model accepts the union
CPU_MODELS_100_NEW = frozenset("""
    ClearwaterForest ClearwaterForest-v1 EPYC-Genoa EPYC-Genoa-v1 EPYC-Milan-v2 EPYC-Rome-v3
    EPYC-Rome-v4 EPYC-v4 GraniteRapids GraniteRapids-v1 GraniteRapids-v2 Icelake-Server-v7
    SapphireRapids SapphireRapids-v1 SapphireRapids-v2 SapphireRapids-v3 SierraForest
    SierraForest-v1 SierraForest-v2 YongFeng YongFeng-v1 YongFeng-v2
""".split())

_BOOL_TRUE = ("on", "yes", "true", "y")
_BOOL_FALSE = ("off", "no", "false", "n")
_SUFFIXES = "BKMGTPE"


def qapi_bool(value, what: str) -> bool:
    """A boolean as QEMU's ``qapi_bool_parse`` reads it (on/yes/true/y,
    off/no/false/n) or a JSON boolean; else QEMU's own complaint."""
    if isinstance(value, bool):
        return value
    v = str(value)
    if v in _BOOL_TRUE:
        return True
    if v in _BOOL_FALSE:
        return False
    raise CommandLineError(f"{what}: Parameter '{what.rsplit(' ', 1)[-1]}' expects 'on' or 'off' "
                           f"(got {value!r})")


def qemu_strtosz(text, what: str, *, default_suffix: str = "B", qemu=DEFAULT_QEMU,
                 warnings: list | None = None) -> int:
    """A size as QEMU's ``qemu_strtosz`` (util/cutils.c ``do_strtosz``) reads it.

    Decimal with an optional fraction, or ``0x`` hex; an optional suffix
    B K M G T P E (case-insensitive, powers of 1024); a fraction needs a scale
    above bytes and rounds half up; no sign, no exponent, below 2^64.  Hex
    with a suffix: QEMU 7.2 warns "Using a multiplier suffix on hex numbers
    is deprecated" (the warning is appended to ``warnings``); QEMU 8.0+
    refuses it (commit 8b902e3d23 "util: remove support for hex numbers with
    a scaling suffix", first in v8.0.0).  ``0x1b`` is 27 in both: the hex
    digits take the ``b``."""
    bad = CommandLineError(f"{what}: Parameter 'size' expects a non-negative number below 2^64; "
                           f"optional suffix k, M, G, T, P or E (got {text!r})")
    if isinstance(text, bool) or not isinstance(text, (int, str)):
        raise bad
    if isinstance(text, int):
        if text < 0 or text >= 1 << 64:
            raise bad
        return text
    # the integral part is read with strtoull (qemu_strtou64), which skips
    # leading white space and takes a '+' sign: QEMU 7.2 accepts "-m +1G"
    # (tests/fixtures/bad_inputs/qemu-7.2.json); a '-' is refused
    m = re.fullmatch(r"[ \t\n\v\f\r]*\+?"
                     r"(0[xX][0-9a-fA-F]+|[0-9]+(?:\.[0-9]*)?|\.[0-9]+)([bBkKmMgGtTpPeE]?)", text)
    if not m:
        raise bad
    num, suffix = m.groups()
    if num[:2].lower() == "0x":
        # the hex digits took any b/B/e/E, so a suffix here is K M G T P
        if suffix:
            if qemu >= (8, 0):
                raise bad
            if warnings is not None:
                warnings.append(f"Using a multiplier suffix on hex numbers is deprecated: {text}")
        val, frac = int(num, 16), 0.0
    elif "." in num:
        whole, _, f = num.partition(".")
        val, frac = int(whole or "0"), float("0." + (f or "0"))
    else:
        val, frac = int(num), 0.0
    mul = 1024 ** _SUFFIXES.index((suffix or default_suffix).upper())
    if mul == 1:
        if frac:
            raise bad                         # a fraction needs a scale
        total = val
    else:
        # 64.64 fixed point, 0.5 rounded up (do_strtosz)
        valf = int(math.ldexp(frac, 64))
        total = val * mul + ((valf * mul) >> 64) + (((valf * mul) >> 63) & 1)
    if total >= 1 << 64:
        raise CommandLineError(f"{what}: Value '{text}' is out of range for parameter 'size'")
    return total


def split_opts(text: str, implied: str | None = None, where: str = "",
               no_prefix: bool = False) -> dict:
    """``key=value,key=value`` with ``,,`` as a literal comma; the first bare
    word is the ``implied`` key; any other bare ``key`` is ``key=on``
    (QEMU ``opts_do_parse``); with ``no_prefix`` a bare ``noKEY`` is
    ``KEY=off``, as QemuOpts reads it (util/qemu-option.c
    ``get_opt_name_value``, QEMU 7.2: "-net nic,none" is "ne=off")."""
    if not isinstance(text, str):
        raise CommandLineError(f"{where}: expected text, got {text!r}")
    if text == "":
        return {}
    parts, cur, i = [], "", 0
    while i < len(text):
        ch = text[i]
        if ch == ",":
            if i + 1 < len(text) and text[i + 1] == ",":
                cur += ","
                i += 2
                continue
            parts.append(cur)
            cur = ""
        else:
            cur += ch
        i += 1
    parts.append(cur)
    out: dict = {}
    for n, p in enumerate(parts):
        if p == "":
            if n == len(parts) - 1 and n > 0:
                continue                      # a trailing comma
            if n == 0 and implied:
                # util/qemu-option.c opts_do_parse: the first word is the
                # implied key's value even when empty ("-m ," is size="")
                out[implied] = ""
                continue
            raise CommandLineError(f"{where} {text!r}: empty option (a stray comma)")
        if "=" in p:
            k, v = p.split("=", 1)
        elif n == 0 and implied:
            k, v = implied, p
        elif no_prefix and p.startswith("no"):
            k, v = p[2:], "off"
        else:
            k, v = p, "on"
        if not k:
            # QEMU 7.2 reports the missing implied key first ("-device =x:
            # Parameter 'driver' is missing", tests/fixtures/bad_inputs)
            missing = f"; Parameter '{implied}' is missing" if implied and implied not in out else ""
            raise CommandLineError(f"{where} {text!r}: empty option name{missing}")
        out[k] = v
    return out


def _json_value(key: str, v, where: str):
    """A JSON property value as the string the model's property parsers read;
    JSON booleans become on/off.  Nested objects and lists are refused."""
    if isinstance(v, bool):
        return "on" if v else "off"
    if isinstance(v, (int, float)):
        return str(v)
    if isinstance(v, str):
        return v
    if v is None:
        raise CommandLineError(f"{where}: Invalid parameter type for '{key}', got null")
    raise CommandLineError(f"{where}: property {key!r}: nested JSON values are not modelled")


def _json_or_opts(text: str, implied: str, where: str) -> tuple[dict, dict]:
    """``-object``/``-device``/``-blockdev``/``-netdev`` accept JSON (QEMU 6.0+).
    Returns (props as strings, the JSON object itself or {})."""
    if text.lstrip().startswith("{"):
        try:
            d = json.loads(text)
        except (json.JSONDecodeError, RecursionError) as e:
            raise CommandLineError(f"{where} {_short(text)}: bad JSON: {e}") from None
        if not isinstance(d, dict):
            raise CommandLineError(f"{where} {_short(text)}: JSON must be an object")
        if implied in ("node-name",):
            return {k: v for k, v in d.items()}, d
        return {k: _json_value(k, v, f"{where} {_short(text)}") for k, v in d.items()}, d
    return split_opts(text, implied, where), {}


def _check_id(oid: str, who: str) -> None:
    """QEMU ``id_wellformed`` (util/id.c): letters, digits, '-', '.', '_',
    starting with a letter; the message is qemu-option.c's."""
    if not re.fullmatch(r"[A-Za-z][A-Za-z0-9_.-]*", oid):
        raise CommandLineError(f"{who}: Parameter 'id' expects an identifier (got {oid!r}); "
                               f"identifiers consist of letters, digits, '-', '.', '_', "
                               f"starting with a letter")


#: Child devices and the bus they need when no ``bus=`` is given
#: (softmmu/qdev-monitor.c qdev_device_add -> qbus_find_recursive by the
#: device class's bus type; QEMU 7.2's message "No 'BUS' bus found for device
#: 'TYPE'", checked with real 7.2.22): the bus type name, and what on the
#: command line provides one (hw/audio/intel-hda.c, hw/scsi/*, hw/nvme/ctrl.c,
#: hw/char/virtio-serial-bus.c).  IDE children always find q35's AHCI or pc's
#: PIIX IDE; floppies are handled with -fda (q35 has no controller).
CHILD_BUSES = {
    ("hda-duplex", "hda-micro", "hda-output"):
        ("HDA", lambda t: t in ("intel-hda", "ich9-intel-hda")),
    ("scsi-hd", "scsi-cd", "scsi-block", "scsi-generic"):
        ("SCSI", lambda t: t.startswith(("virtio-scsi-pci", "lsi53c895a", "megasas"))),
    ("nvme-ns",): ("nvme-bus", lambda t: t == "nvme"),
    ("virtserialport", "virtconsole"):
        ("virtio-serial-bus", lambda t: t.startswith("virtio-serial-pci")),
}


def mem_lock_value(value: str, qemu, where: str) -> bool:
    """``-overcommit mem-lock=``: whether QEMU locks guest memory.  Up to
    QEMU 9.2 a QEMU_OPT_BOOL (softmmu/vl.c qemu_overcommit_opts, v7.2.0:
    on/yes/true/y, off/no/false/n; a bare ``mem-lock`` is on); from 10.0 a
    string of on, off, on-fault (system/vl.c overcommit_parse, commit
    13057e064a: "parameter 'mem-lock' expects one of 'on', 'off',
    'on-fault'"), on-fault locking too (mlockall MCL_ONFAULT)."""
    v = value.strip()
    if tuple(qemu) >= (10, 0):
        if v not in ("on", "off", "on-fault"):
            raise CommandLineError(f"{where}: parameter 'mem-lock' expects one of 'on', "
                                   f"'off', 'on-fault'")
        return v != "off"
    if v in ("", "on", "yes", "true", "y"):
        return True
    if v in ("off", "no", "false", "n"):
        return False
    raise CommandLineError(f"{where}: Parameter 'mem-lock' expects 'on' or 'off'")


def _is_usb_host(dtype: str) -> bool:
    """A USB host controller (its bus is a usb-bus): the xHCI, EHCI, UHCI
    and OHCI PCI functions of QEMU's hw/usb/hcd-*.c."""
    return (dtype.endswith("xhci") or "usb-uhci" in dtype or "usb-ehci" in dtype
            or dtype in ("usb-ehci", "pci-ohci"))


def _short(text: str) -> str:
    return repr(text if len(text) <= 80 else text[:77] + "...")


def _normalize_machine(name: str, raw: str = "-machine") -> str:
    """``pc``, ``pc-i440fx-7.2``, ``q35``, ``pc-q35-7.2`` ... -> ``pc``/``q35``."""
    if name in ("pc", "q35"):
        return name
    if re.fullmatch(r"pc-q35-\d+\.\d+", name):
        return "q35"
    if re.fullmatch(r"pc-i440fx-\d+\.\d+", name):
        return "pc"
    raise UnsupportedOption(f"{raw} {name}", ["pc", "q35", "pc-i440fx-X.Y", "pc-q35-X.Y"])


class _Reader:
    """One pass over the arguments, in order, as vl.c ``qemu_init`` makes it."""

    def __init__(self, qemu):
        self.qemu = tuple(qemu)
        self.cfg = QemuConfig(qemu=self.qemu)
        self.position = 0
        self.ids: set = set()
        self.object_ids: set = set()
        self.default_net = True
        self.default_vga = True
        self.default_serial = True
        self.default_parallel = True
        self.vga_model: str | None = None
        self.nics: list = []          # (model or None, where, vectors or None)
        self.serials: list = []
        self.parallels: list = []
        self.debugcons: list = []
        self.chardevs: set = set()           # -chardev ids
        self.chardev_users: list = []        # (where, device, chardev id) of -device ... chardev=
        self.usb_children: list = []         # (where, device) of usb-* devices
        self.bus_children: list = []         # (where, device, bus, provider test): CHILD_BUSES
        self.scsi_drives: list = []          # -drive if=scsi
        self.ram_given = False
        self.m_text: str | None = None
        #: -fda/-fdb/-drive if=floppy as written (checked in finish)
        self.floppies: list = []

    def ignore(self, what: str) -> None:
        if what not in self.cfg.ignored:
            self.cfg.ignored.append(what)

    # --- the options ---------------------------------------------------------
    def machine(self, raw: str, val: str) -> None:
        d = split_opts(val, "type", raw)
        cfg = self.cfg
        if "type" in d:
            t = d.pop("type")
            if t in ("help", "?"):
                raise UnsupportedOption(f"{raw} help", ["-machine pc|q35|pc-i440fx-X.Y|pc-q35-X.Y"])
            # Proxmox qemu-server names its machine types "q35+pve0",
            # "pc-q35-8.1+pve0" (PVE/QemuServer/Machine.pm): the QEMU type
            # with a Proxmox revision used for its own migration compat
            t = re.sub(r"\+pve\d+$", "", t)
            cfg.machine_type = t
            cfg.machine = _normalize_machine(t, raw)
        for k, v in d.items():
            where = f"{raw} {k}={v}"
            if k in MACHINE_BOOL_PROPS:
                qapi_bool(v, f"{raw} {k}")     # QEMU refuses a non-boolean first
            if k == "accel":
                acc = v.split(":")[0]
                self.accel(f"{raw} accel=", acc)
            elif k == "max-ram-below-4g":
                size = qemu_strtosz(v, where, qemu=self.qemu, warnings=cfg.warnings)
                # hw/i386/pc.c pc_machine_set_max_ram_below_4g
                if size > 4 << 30:
                    raise CommandLineError(f"{where}: Machine option 'max-ram-below-4g={size}' "
                                           f"expects size less than or equal to 4G")
                if size and size < 1 << 20:
                    raise CommandLineError(f"{where}: only {size} bytes of RAM below 4 GiB "
                                           f"(QEMU warns the BIOS may not work with less than "
                                           f"1MiB); not modelled")
                cfg.max_ram_below_4g = size or None
                cfg.machine_opts[k] = v
            elif k == "memory-backend":
                cfg.ram_backend = v
                cfg.machine_opts[k] = v
            elif k == "hpet":
                cfg.hpet = qapi_bool(v, f"{raw} hpet")
            elif k == "vmport":
                if v not in ("on", "off", "auto"):
                    raise CommandLineError(f"{where}: Parameter 'vmport' does not accept value "
                                           f"'{v}' (on, off, auto)")
                cfg.vmport = v != "off"
            elif k == "acpi" or k == "smm":
                if v not in ("on", "off", "auto"):
                    raise CommandLineError(f"{where}: Parameter '{k}' does not accept value "
                                           f"'{v}' (on, off, auto)")
                if k == "acpi" and v == "off":
                    cfg.machine_opts["acpi"] = "off"   # checked once the machine is known
                elif k == "smm":
                    # smm=on|off|auto decides whether q35 on QEMU >= 9.1 builds
                    # its SMRAM regions (model/machine.py has_smm_ranges)
                    cfg.machine_opts["smm"] = v
                else:
                    self.ignore(f"-machine {k}=")
            elif k == "usb":
                if qapi_bool(v, f"{raw} usb"):
                    raise UnsupportedOption(f"-machine usb={v}", ["usb=off"], REFUSED["usb"])
                self.ignore("-machine usb=")
            elif k in ("kernel-irqchip", "kernel_irqchip"):
                if v not in ("on", "off", "split", "yes", "true", "no", "false"):
                    # QEMU 7.2 hands it to the accelerator as a global:
                    # "can't apply global kvm-accel.kernel-irqchip=..."
                    raise CommandLineError(f"{where}: Parameter 'kernel-irqchip' does not accept "
                                           f"value '{v}'")
                if v in ("split", "off", "no", "false"):
                    # real QEMU 7.2: the I/O view names "pic"/"pit" instead of
                    # "kvm-pic"/"kvm-pit" with the irqchip split or off
                    raise UnsupportedOption(f"-machine {k}={v}", [f"{k}=on"],
                                            "the userspace PIC/PIT change the I/O view; not modelled")
                self.ignore(f"-machine {k}=")
            elif k in ("pflash0", "pflash1"):
                cfg.machine_opts[k] = v        # the firmware model reads them
            elif k == "firmware":
                # the machine property -bios sets (softmmu/vl.c: "-bios X" is
                # machine_opts "firmware"; the later one wins): real QEMU 7.2
                # with -machine q35,firmware=/usr/share/seabios/bios.bin maps
                # a 128 KiB pc.bios at 0xfffe0000
                cfg.bios = v
            elif k in IGNORED_MACHINE_PROPS:
                self.ignore(f"-machine {k}=")
            else:
                raise UnsupportedOption(f"{raw} {k}={v}", [
                    "type", "accel", "max-ram-below-4g", "memory-backend", "hpet", "vmport",
                    "acpi", "usb=off", "kernel-irqchip=on", "pflash0", "pflash1", "firmware",
                    *sorted(IGNORED_MACHINE_PROPS)], "it may change the machine; not modelled")

    def memory(self, raw: str, val: str) -> None:
        d = split_opts(val, "size", raw)
        for k in d:
            # QemuOpts checks each key as it reads it, in order
            # (util/qemu-option.c opts_do_parse -> opt_set): "-m ,x" is
            # refused for its empty size before its unknown x
            if k not in ("size", "slots", "maxmem"):
                raise CommandLineError(f"{raw} {val!r}: Invalid parameter '{k}'")
            if k == "size":
                qemu_strtosz(d[k], f"{raw} {d[k]}", qemu=self.qemu)
        self.memory_size(raw, d)
        self.memory_hotplug(raw, d)

    def memory_hotplug(self, raw: str, d: dict) -> None:
        """``-m ...,slots=N,maxmem=SIZE`` as hw/core/machine.c
        ``machine_set_mem`` checks them (the same text in v7.2.0 and
        v10.0.0): maxmem is a size in bytes unless suffixed (softmmu/vl.c
        ``parse_memory_options`` appends "M" to ``size`` only), at least the
        RAM size; slots need maxmem, and nonzero slots a maxmem above the
        RAM size.  The machine builds the device-memory region from them
        (model/machine.py :func:`~vfiolab.model.machine.device_memory`)."""
        cfg = self.cfg
        where = f"{raw} {','.join(f'{k}={v}' for k, v in d.items())}"
        slots = None
        if "slots" in d:
            text = d["slots"]
            # QEMU_OPT_NUMBER (util/qemu-option.c parse_option_number:
            # qemu_strtou64 base 0, "Parameter 'slots' expects a number")
            if not re.fullmatch(r"0[xX][0-9a-fA-F]+|[0-9]+", text or ""):
                raise CommandLineError(f"{where}: Parameter 'slots' expects a number")
            slots = int(text, 16) if text[:2].lower() == "0x" else int(text, 10)
            if slots >= 1 << 64:
                raise CommandLineError(f"{where}: Parameter 'slots' expects a number")
        if "maxmem" in d:
            maxmem = qemu_strtosz(d["maxmem"], where, qemu=self.qemu, warnings=cfg.warnings)
            if maxmem < cfg.ram_size:
                raise CommandLineError(
                    f"{where}: invalid value of maxmem: maximum memory size ({maxmem:#x}) must "
                    f"be at least the initial memory size ({cfg.ram_size:#x})")
            if slots and maxmem == cfg.ram_size:
                raise CommandLineError(
                    f"{where}: invalid value of maxmem: memory slots were specified but maximum "
                    f"memory size ({maxmem:#x}) is equal to the initial memory size "
                    f"({cfg.ram_size:#x})")
            cfg.maxram_size = maxmem
        elif slots is not None:
            raise CommandLineError(f"{where}: slots specified but no max-size")
        cfg.ram_slots = slots or 0

    def memory_size(self, raw: str, d: dict) -> None:
        cfg = self.cfg
        if "size" not in d:
            return
        text = d["size"]
        where = f"{raw} {text}"
        # the -m option is QEMU_OPT_SIZE: checked as bytes when parsed
        first = qemu_strtosz(text, where, qemu=self.qemu)
        if first == 0:
            # -m 0: the machine default.  Every -m merges into one QemuOpts
            # (softmmu/vl.c qemu_mem_opts .merge_lists = true; v7.2.0 and
            # v10.0.0) and parse_memory_options reads its last size, so a
            # later "-m 0" also undoes an earlier "-m 512M" (real QEMU 7.2.22:
            # "-m 512M -m 0" has 128 MiB, tests/test_bad_inputs.py)
            cfg.ram_size = QemuConfig.ram_size
            self.ram_given = False
            return
        # parse_memory_options: a value ending in a digit gets "M" appended
        if text[-1:].isdigit():
            mib = text + "M"
            if text[:2].lower() == "0x" and self.qemu >= (8, 0):
                raise CommandLineError(f"{where}: Parameter 'memory.size' expects size")
            size = qemu_strtosz(mib, where, qemu=self.qemu, warnings=cfg.warnings)
        else:
            size = qemu_strtosz(text, where, qemu=self.qemu, warnings=cfg.warnings)
        # hw/core/machine.c machine_set_mem: rounded up to 8 KiB
        size = (size + 8191) // 8192 * 8192
        if size >= 1 << 64:
            raise CommandLineError(f"{where}: ram size {size} exceeds permitted maximum")
        cfg.ram_size = size
        self.ram_given = True

    def object(self, raw: str, val: str) -> None:
        d, _js = _json_or_opts(val, "qom-type", raw)
        qom = d.pop("qom-type", None)
        if not qom:
            raise CommandLineError(f"{raw} {_short(val)}: Parameter 'qom-type' is missing")
        oid = d.pop("id", None)
        if not oid:
            raise CommandLineError(f"{raw} {qom}: Parameter 'id' is missing")
        _check_id(oid, f"{raw} {qom}")
        if oid in self.object_ids:
            raise CommandLineError(f"{raw} {qom},id={oid}: duplicate id {oid!r} (QEMU: attempt to "
                                   f"add duplicate property '{oid}' to object (type 'container'))")
        self.object_ids.add(oid)
        if qom in IGNORED_OBJECTS:
            self.ignored_object(raw, qom, oid, d, _js)
            self.ignore(f"-object {qom}")
            return
        if qom not in MEMORY_BACKENDS:
            raise UnsupportedOption(f"-object {qom}", list(MEMORY_BACKENDS) + sorted(IGNORED_OBJECTS),
                                    "it may change the memory map; not modelled")
        # the order of QEMU's checks: the QAPI visitor reads the members of
        # MemoryBackendProperties (size, then the booleans), then those of the
        # subtype (mem-path, mandatory for memory-backend-file), then refuses
        # unknown keys; the backend's complete() then refuses size 0
        if "size" not in d:
            raise CommandLineError(f"{raw} {qom},id={oid}: Parameter 'size' is missing "
                                   f"(QEMU: can't create backend with size 0)")
        if _js and (isinstance(_js.get("size"), bool) or not isinstance(_js.get("size"), int)):
            # JSON keeps its types: MemoryBackendProperties size is a 'size'
            # (uint64) and a string is refused (real QEMU 7.2.22: "Parameter
            # 'size' expects uint64")
            raise CommandLineError(f"{raw} {qom},id={oid}: Parameter 'size' expects uint64")
        size = qemu_strtosz(d.pop("size"), f"{raw} {qom},id={oid} size", qemu=self.qemu,
                            warnings=self.cfg.warnings)
        for k in ("share", "prealloc", "merge", "dump", "reserve", "readonly", "pmem",
                  "discard-data", "seal", "hugetlb", "x-use-canonical-path-for-ramblock-id"):
            if k in d:
                d[k] = "on" if qapi_bool(d[k], f"{raw} {qom},id={oid} {k}") else "off"
        if qom == "memory-backend-file" and not d.get("mem-path"):
            raise CommandLineError(f"{raw} {qom},id={oid}: Parameter 'mem-path' is missing")
        allowed = MEMORY_BACKEND_PROPS["common"] | MEMORY_BACKEND_PROPS.get(qom, set())
        for k in d:
            if k not in allowed:
                raise CommandLineError(f"{raw} {qom},id={oid}: Property '{qom}.{k}' not found")
        if size == 0:
            raise CommandLineError(f"{raw} {qom},id={oid}: can't create backend with size 0")
        if qom == "memory-backend-memfd" and size % 4096:
            # backends/hostmem-memfd.c makes a memfd of exactly size bytes and
            # softmmu/physmem.c qemu_ram_alloc_from_fd compares it with the
            # size rounded up to the host page (4 KiB on x86-64)
            page = (size + 4095) // 4096 * 4096
            raise CommandLineError(f"{raw} {qom},id={oid}: backing store size {size:#x} does not "
                                   f"match 'size' option {page:#x}")
        self.cfg.memdevs[oid] = (qom, size, d)

    def ignored_option(self, raw: str, opt: str, val: str) -> None:
        """The syntax of options the model ignores, checked as QEMU 7.2's
        softmmu/vl.c reads them, so a command line QEMU refuses is refused
        (IGNORED_OPTION_KEYS; real QEMU 7.2.22's messages in
        tests/fixtures/bad_inputs/qemu-7.2.json)."""
        where = f"{raw} {_short(val)}"
        if opt in IGNORED_OPTION_KEYS:
            implied, keys = IGNORED_OPTION_KEYS[opt]
            d = split_opts(val, implied, raw, no_prefix=True)
            for k in d:
                if k not in keys and k != implied:
                    raise CommandLineError(f"{where}: Invalid parameter '{k}'")
            if opt == "sandbox":
                qapi_bool(d.get("enable", ""), f"{raw} enable")
            if opt == "overcommit" and "mem-lock" in d:
                mem_lock_value(d["mem-lock"], self.qemu, where)
            if opt == "boot":
                # softmmu/bootdevice.c validate_bootdevices: drives a..p, each once
                for key in ("order", "once"):
                    seen = set()
                    for ch in d.get(key, ""):
                        if not "a" <= ch <= "p":
                            raise CommandLineError(f"{where}: Invalid boot device '{ch}'")
                        if ch in seen:
                            raise CommandLineError(f"{where}: Boot device '{ch}' was given twice")
                        seen.add(ch)
        elif opt == "uuid":
            # util/uuid.c qemu_uuid_parse: 8-4-4-4-12 hex digits
            if not re.fullmatch(r"[0-9a-fA-F]{8}(-[0-9a-fA-F]{4}){3}-[0-9a-fA-F]{12}", val):
                raise CommandLineError(f"{where}: failed to parse UUID string: wrong format")
        elif opt == "display":
            # qapi/ui.json DisplayType as Debian's QEMU 7.2 has it (-display help);
            # "vnc..." is parsed apart (softmmu/vl.c parse_display)
            t = split_opts(val, "type", raw).get("type", "")
            if not t.startswith("vnc") and t not in DISPLAY_TYPES:
                raise CommandLineError(f"{where}: Parameter 'type' does not accept value '{t}'")
        elif opt in ("chardev", "netdev"):
            d, js = _json_or_opts(val, "backend" if opt == "chardev" else "type", raw)
            oid = (js or d).get("id")
            if not oid:
                # chardev/char.c qemu_chr_new_from_opts; qapi Netdev's id
                raise CommandLineError(f"{where}: chardev: no id specified" if opt == "chardev"
                                       else f"{where}: Parameter 'id' is missing")
            if opt == "chardev":
                self.chardevs.add(oid)

    def ignored_object(self, raw: str, qom: str, oid: str, d: dict, js: dict) -> None:
        """Check an ignored object's properties as QEMU's visitor does
        (:data:`IGNORED_OBJECT_PROPS`); crypto/secret.c
        ``qcrypto_secret_load_data`` needs data= or file=."""
        props = IGNORED_OBJECT_PROPS.get(qom)
        if props is None:
            return
        where = f"{raw} {qom},id={oid}"
        for k, v in d.items():
            kind = props.get(k)
            if kind is None:
                raise CommandLineError(f"{where}: Invalid parameter '{k}'")
            if kind == "bool":
                qapi_bool(js.get(k, v), f"{where} {k}")
            elif kind == "int":
                # QAPI int from text: qemu_strtoi64, base 0 (qapi/opts-visitor.c,
                # keyval "Parameter 'X' expects integer")
                raw_v = js.get(k, v)
                ok = isinstance(raw_v, int) and not isinstance(raw_v, bool) if js else \
                    re.fullmatch(r"[+-]?(0[xX][0-9a-fA-F]+|[0-9]+)", v or "") is not None
                if not ok:
                    raise CommandLineError(f"{where}: Parameter '{k}' expects integer")
            elif kind == "enum" and v not in ("raw", "base64"):
                # qapi/crypto.json QCryptoSecretFormat
                raise CommandLineError(f"{where}: Parameter '{k}' does not accept value '{v}'")
        if qom == "secret" and "data" not in d and "file" not in d:
            raise CommandLineError(f"{where}: Either 'file' or 'data' must be provided")

    def device(self, raw: str, val: str) -> None:
        d, js = _json_or_opts(val, "driver", raw)
        dtype = d.pop("driver", None)
        if not dtype:
            raise CommandLineError(f"{raw} {_short(val)}: Parameter 'driver' is missing")
        if dtype in ("help", "?") or d.get("help") == "on" or "?" in d:
            raise UnsupportedOption(f"{raw} {dtype},help", ["-device TYPE,PROP=VALUE"])
        if dtype in QDEV_ALIASES:
            from ..model.devices import DEVICE_TYPES
            if dtype not in DEVICE_TYPES:
                dtype = QDEV_ALIASES[dtype]
        has_id = "id" in d
        did = d.pop("id", "")
        if js and not isinstance(js.get("id"), str):
            did, has_id = "", False           # qdict_get_try_str: a non-string id is no id
        who = f"{raw} {dtype}" + (f",id={did}" if did else "")
        if has_id and not js:
            _check_id(did, f"{raw} {dtype}")
        if did:
            if did in self.ids:
                raise CommandLineError(f"{who}: Duplicate ID '{did}' for device")
            self.ids.add(did)
        if js:
            # JSON keeps its types (qobject input visitor, not keyval)
            if "multifunction" in js and not isinstance(js["multifunction"], bool):
                raise CommandLineError(f"{who}: Invalid parameter type for 'multifunction', "
                                       f"expected: boolean")
            if "addr" in js and isinstance(js["addr"], int) and not isinstance(js["addr"], bool):
                n = js["addr"]
                # hw/core/qdev-properties-system.c set_pci_devfn: an integer
                # devfn from -1 (the first free slot) to 255
                if not -1 <= n <= 255:
                    raise CommandLineError(f"{who}: Property '{dtype}.addr' doesn't take value '{n}'")
                if n == -1:
                    d.pop("addr", None)
                else:
                    d["addr"] = f"{n >> 3:x}.{n & 7:x}"     # an integer addr is a devfn
            self.json_types(who, dtype, js)
        elif "multifunction" in d:
            d["multifunction"] = "on" if qapi_bool(d["multifunction"], f"{who} multifunction") else "off"
        if dtype in DEFAULT_VGA_DRIVERS:
            self.default_vga = False
        if dtype == "virtio-blk-pci" and not d.get("drive"):
            # hw/block/virtio-blk.c virtio_blk_device_realize (v7.2.0, v10.0.0)
            raise CommandLineError(f"{who}: drive property not set")
        if d.get("chardev"):
            self.chardev_users.append((who, dtype, d["chardev"]))
        if dtype in NON_PCI_DEVICES:
            if dtype.startswith("usb-"):
                self.usb_children.append((who, dtype))
            for kids, (bus, _provides) in CHILD_BUSES.items():
                if dtype in kids and not d.get("bus"):
                    self.bus_children.append((who, dtype, bus, _provides))
            if dtype == "floppy" and not d.get("bus"):
                self.bus_children.append((who, dtype, "floppy-bus", None))
            self.ignore(f"-device {dtype}")
            return
        if dtype in ISA_PORT_DEVICES:
            self.isa_device(who, dtype, d)     # its properties are set before realize
            if dtype in ("isa-debugcon", "isa-parallel") and not d.get("chardev"):
                # hw/char/debugcon.c debugcon_isa_realizefn, hw/char/parallel.c
                # parallel_isa_realizefn: both need a character device
                kind = "debugcon" if dtype == "isa-debugcon" else "parallel"
                raise CommandLineError(f"{who}: Can't create {kind} device, empty char device")
            return
        self.cfg.devices.append(DeviceSpec(dtype, did, d, self.position))
        self.position += 1

    @staticmethod
    def json_types(who: str, dtype: str, js: dict) -> None:
        """JSON -device values must have the property's type (QEMU's strict
        qobject input visitor: "Parameter 'vgamem_mb' expects uint64",
        "Invalid parameter type for 'X', expected: boolean"), for the
        devices of the catalogue, whose property kinds are known."""
        from ..model.devices import DEVICE_TYPES
        cls = DEVICE_TYPES.get(dtype)
        if cls is None:
            return
        schema = dict(getattr(cls, "COMMON_PROPS", {}))
        for klass in reversed(cls.__mro__):
            schema.update(klass.__dict__.get("PROPS", {}))
        for k, v in js.items():
            kind = schema.get(k, ("",))[0]
            if kind == "bool" and not isinstance(v, bool):
                raise CommandLineError(f"{who}: Invalid parameter type for '{k}', expected: boolean")
            if (kind.startswith(("uint", "int")) or kind == "size") and (
                    isinstance(v, bool) or not isinstance(v, int)):
                # qobject-input-visitor.c: every unsigned width is read as uint64
                want = "size" if kind == "size" else "uint64" if kind.startswith("uint") else "integer"
                raise CommandLineError(f"{who}: Parameter '{k}' expects {want}")
            if kind == "str" and not isinstance(v, str):
                raise CommandLineError(f"{who}: Invalid parameter type for '{k}', expected: string")

    def isa_device(self, who: str, dtype: str, d: dict) -> None:
        if dtype in ("isa-serial", "isa-parallel"):
            ports = ISA_SERIAL_PORTS if dtype == "isa-serial" else ISA_PARALLEL_PORTS
            used = [p.get("index") for t, p in self.cfg.isa_devices if t == dtype]
            if "iobase" not in d:
                try:
                    idx = int(d["index"], 0) if "index" in d else next(
                        i for i in range(len(ports)) if str(i) not in used)
                except (ValueError, StopIteration):
                    raise CommandLineError(f"{who}: index={d.get('index')!r}: Max. supported number "
                                           f"of ISA ports is {len(ports)}") from None
                if not 0 <= idx < len(ports):
                    raise CommandLineError(f"{who}: Max. supported number of ISA ports is {len(ports)}")
                d["index"] = str(idx)
                d["iobase"] = hex(ports[idx])
        elif dtype == "pvpanic":
            d["iobase"] = d.pop("ioport", "0x505")
        else:
            d.setdefault("iobase", "0xe9")
        try:
            base = int(d["iobase"], 0)
        except ValueError:
            # a uint32 qdev property (QEMU's string input visitor)
            raise CommandLineError(f"{who}: iobase={d['iobase']!r}: Parameter 'iobase' expects "
                                   f"integer") from None
        if not 0 <= base <= 0xffff:
            # QEMU 7.2 accepts it (the iobase property is a uint32) and the
            # ports then lie outside the 64 KiB "io" region, unreachable
            raise UnsupportedOption(f"-device {dtype},iobase={d['iobase']}", ["iobase=0..0xffff"],
                                    "its ports lie beyond the 64 KiB I/O space, where no "
                                    "guest access reaches them; not modelled")
        self.cfg.isa_devices.append((dtype, d))

    def global_(self, raw: str, val: str) -> None:
        if "=" in val.split(",")[0] and val.startswith("driver="):
            d = split_opts(val, None, raw)
            drv, prop, value = d.get("driver"), d.get("property"), d.get("value")
        else:
            m = re.fullmatch(r"([^.=]+)\.([^=]+)=(.*)", val, re.S)
            if not m:
                raise CommandLineError(f"{raw} {val!r}: expected DRIVER.PROP=VALUE or "
                                       f"driver=D,property=P,value=V")
            drv, prop, value = m.groups()
        if not drv or not prop or value is None:
            raise CommandLineError(f"{raw} {val!r}: expected DRIVER.PROP=VALUE")
        self.cfg.globals[(drv, prop)] = value    # the last one wins, as in QEMU
        if drv in DEFAULT_VGA_DRIVERS:
            self.default_vga = False          # vl.c default_driver_check runs on -global too
        from ..model.devices import DEVICE_TYPES
        if (drv, prop) in IGNORED_GLOBALS:
            self.ignore(f"-global {drv}.{prop}")
        elif drv in FIRMWARE_GLOBALS or (drv, prop) in MODELLED_GLOBALS:
            pass                              # the machine/firmware model reads cfg.globals
        elif (drv, prop) in MODELLED_BOOL_GLOBALS:
            # a bool property: QEMU's string visitor (qapi_bool_parse) takes
            # on/yes/true/y and off/no/false/n; the message is QEMU 7.2's
            try:
                qapi_bool(value, prop)
            except CommandLineError:
                raise CommandLineError(f"{raw} {drv}.{prop}={value}: can't apply global "
                                       f"{drv}.{prop}={value}: Parameter '{prop}' expects "
                                       f"'on' or 'off'") from None
        elif drv in DEVICE_TYPES:
            cls = DEVICE_TYPES[drv]
            schema = dict(getattr(cls, "COMMON_PROPS", {}))
            for klass in reversed(cls.__mro__):
                schema.update(klass.__dict__.get("PROPS", {}))
            if prop not in schema or prop in ("addr", "bus"):
                raise CommandLineError(f"{raw} {drv}.{prop}={value}: Property '{drv}.{prop}' "
                                       f"not found (or not modelled)")
            # checked when a device takes it (below, in finish): QEMU applies a
            # global only to the devices of its driver (hw/core/qdev.c
            # qdev_prop_set_globals), so one no device takes is never read
            self.globals_for.setdefault(drv, {})[prop] = value
        else:
            raise UnsupportedOption(f"-global {drv}.{prop}", [f"{a}.{b}" for a, b in sorted(IGNORED_GLOBALS)]
                                    + ["DEVICE.PROP of a device in the catalogue"],
                                    "it may change the machine; not modelled")

    def vga(self, raw: str, val: str) -> None:
        if val not in VGA_INTERFACES:
            raise UnsupportedOption(f"-vga {val}", sorted(VGA_INTERFACES))
        self.vga_model = val
        self.default_vga = False

    def nic(self, raw: str, val: str, legacy_net: bool) -> None:
        """``-nic TYPE[,model=M]``: a back end and a NIC; ``-net nic[,model=M]``:
        a NIC; ``-net TYPE``: a back end only; ``none``: nothing
        (net/net.c ``net_init_nic``, ``net_param_nic``)."""
        self.default_net = False
        d = split_opts(val, "type", raw, no_prefix=True)
        t = d.get("type", "")
        if legacy_net and "type" not in d:
            raise CommandLineError(f"{raw} {val!r}: Parameter 'type' is missing")
        if "type" in d and t not in NET_TYPES | ({"nic"} if legacy_net else set()):
            raise CommandLineError(f"{raw} {_short(val)}: Parameter 'type' does not accept value '{t}'")
        # the keys the type takes (NET_PARAMS); -nic's model= and mac= are its own
        known = NET_PARAMS.get(t or "user")
        if known is not None:
            common = {"type", "id"} | ({"name"} if legacy_net else {"model", "mac"})
            for k in d:
                if k not in known | common:
                    raise CommandLineError(f"{raw} {_short(val)}: Invalid parameter '{k}'")
        if t == "none":
            self.ignore(f"{raw} none")
            return
        if legacy_net and t != "nic":
            self.ignore(f"-net {t}")
            return
        model = d.get("model")
        if model in ("help", "?"):
            raise UnsupportedOption(f"{raw} model=help", ["model=e1000|e1000e|virtio|..."])
        if not legacy_net and (str(d.get("queues", "1")) not in ("", "1")
                               or ":" in str(d.get("fds", "")) or t == "vhost-vdpa"):
            # the NIC's MSI-X vectors follow the back end's queue pairs
            # (see netdev); -nic's own netdev is not tracked
            raise UnsupportedOption(f"{raw} {_short(val)}", ["-netdev ...,id=ID -device MODEL,netdev=ID"],
                                    "a multiqueue -nic back end is not modelled")
        # the NIC's MSI-X vectors (hw/core/qdev-properties-system.c
        # qdev_set_nic_properties sets "vectors" unless it is unspecified):
        # net/net.c net_param_nic zeroes its NICInfo, so a -nic NIC gets
        # vectors=0 (no MSI-X, no MSI-X BAR; real QEMU 7.2.22's info pci for
        # -nic user,model=virtio); "-net nic" sets them only from vectors=
        # (net_init_nic, DEV_NVECTORS_UNSPECIFIED otherwise).  The same code
        # at v10.0.0.
        vectors = d.get("vectors") if legacy_net else "0"
        self.nics.append((model, f"{raw} {val}", vectors))

    def netdev(self, raw: str, d: dict) -> None:
        """How many queue pairs a ``-netdev`` back end gives the NIC that
        takes it (``cfg.netdevs``): virtio-net-pci's default MSI-X vectors
        are 2 * MAX(queues, 1) + 2 (hw/virtio/virtio-net-pci.c
        ``virtio_net_pci_realize``, ``nic_conf.peers.queues``: one net client
        per queue, hw/core/qdev-properties-system.c ``set_netdev``).  tap:
        ``queues=`` or the number of ``fds=`` (net/tap.c
        ``net_init_tap``: ``queues = tap->has_queues ? tap->queues : 1``, fds
        split on ':'), vhost-user: ``queues=`` (net/vhost-user.c, default 1),
        vhost-vdpa: the vDPA device's queue pairs, which the command line does
        not say (None); the others: one."""
        t, nid = str(d.get("type", "")), d.get("id")
        if t == "bridge":
            # qapi/net.json NetdevBridgeOptions (v7.2.0, v10.0.0): br, helper only
            bad = [k for k in d if k not in ("type", "id", "br", "helper")]
            if bad:
                raise CommandLineError(f"{raw} {t}: Invalid parameter '{bad[0]}'")
        if t == "tap" and d.get("fds") and any(k in d for k in (
                "ifname", "script", "downscript", "vnet_hdr", "helper", "queues", "vhostfd")):
            # net/tap.c net_init_tap (v7.2.0)
            raise CommandLineError(f"{raw} {t}: ifname=, script=, downscript=, vnet_hdr=, "
                                   f"helper=, queues=, and vhostfd= are invalid with fds=")
        if not nid:
            return
        n: int | None = 1
        try:
            if t in ("tap", "vhost-user") and d.get("queues") not in (None, ""):
                n = int(str(d["queues"]), 0)
            elif t == "tap" and d.get("fds"):
                n = len(str(d["fds"]).split(":"))
        except ValueError:
            raise CommandLineError(f"{raw} id={nid}: Parameter 'queues' expects integer") from None
        if t == "vhost-vdpa":
            n = None
        self.cfg.netdevs[str(nid)] = n

    def drive(self, raw: str, val: str) -> None:
        d = split_opts(val, None, raw)
        bad = [k for k in d if k not in DRIVE_PARAMS
               and not re.fullmatch(r"[a-z][a-z0-9_-]*\.[a-z0-9_.-]+", k)]
        if bad:
            raise CommandLineError(f"{raw} {_short(val)}: invalid parameter '{bad[0]}'")
        self.cfg.drives.append(dict(d))
        iface = d.get("if", "ide")
        if iface in ("ide", "virtio", "scsi") and not d.get("file") and d.get("media") != "cdrom":
            # a disk with no medium: hw/ide/core.c ide_init_drive, hw/block/virtio-blk.c
            # virtio_blk_device_realize, hw/scsi/scsi-disk.c scsi_realize
            raise CommandLineError(f"{raw} {_short(val)}: Device needs media, but drive is empty")
        if iface == "pflash":
            self.pflash_drive(raw, d)
            return
        if iface == "virtio":
            from ..model.devices import DEVICE_TYPES
            if "virtio-blk-pci" not in DEVICE_TYPES:
                raise UnsupportedOption("-drive if=virtio", ["if=ide", "if=none", "if=pflash"],
                                        "it creates a virtio-blk-pci device, which is not in "
                                        "the device catalogue")
            self.cfg.devices.append(DeviceSpec("virtio-blk-pci", "", {}, self.position))
            self.position += 1
        elif iface == "scsi":
            # blockdev.c drive_check_orphaned: QEMU 7.2's pc and q35 create no
            # SCSI controller for it, so with none on the command line the
            # drive is left unclaimed and refused (real QEMU 7.2.22)
            self.scsi_drives.append(f"if=scsi,bus={d.get('bus', 0)},unit={d.get('unit', 0)}")
            return
        elif iface in ("ide", "none", "floppy", "sd", "mtd"):
            # on the chipset's IDE/AHCI or floppy controller, or a back end
            if iface == "floppy":
                self.floppies.append(f"{raw} if=floppy")
            self.ignore(f"-drive if={iface}")
        else:
            raise CommandLineError(f"{raw} {val!r}: unsupported bus type '{iface}'")

    def pflash_drive(self, raw: str, d: dict) -> None:
        """``-drive if=pflash``: a firmware flash unit, numbered in order
        unless ``unit=`` says (QEMU ``drive_new``); pc machines have units 0
        and 1 (hw/i386/pc_sysfw.c)."""
        cfg = self.cfg
        unit = d.get("unit")
        try:
            unit = int(unit) if unit is not None else \
                sum(1 for f in cfg.pflash if f.get("from") == "drive")
        except ValueError:
            raise CommandLineError(f"{raw} if=pflash: unit={unit!r} is not a number") from None
        if unit not in (0, 1) or any(f["unit"] == unit for f in cfg.pflash):
            raise CommandLineError(f"{raw} if=pflash,unit={unit}: QEMU's pc machines "
                                   "have two flash units, 0 and 1, each used once")
        raw_size = None
        if "size" in d or "offset" in d:
            if d.get("format") != "raw":
                raise CommandLineError(f"{raw} if=pflash: offset=/size= are options of the raw "
                                       f"format (block/raw-format.c); with format="
                                       f"{d.get('format')!r} QEMU refuses them")
            if "size" in d:
                raw_size = qemu_strtosz(d["size"], f"{raw} if=pflash size", qemu=self.qemu,
                                        default_suffix="B")
        cfg.pflash.append({"unit": unit, "file": d.get("file"),
                           "readonly": d.get("readonly") in _BOOL_TRUE,
                           "format": d.get("format"), "from": "drive",
                           "raw_size": raw_size})

    def firmware(self) -> None:
        """``-machine pflash0=/pflash1=`` name ``-blockdev`` nodes (libvirt:
        a format node over a file node); ``-bios`` and flash exclude each
        other (hw/i386/pc_sysfw.c); the images' sizes when readable here."""
        import os
        cfg = self.cfg
        self.pflash_nodes = {}
        for unit in (0, 1):
            node = cfg.machine_opts.pop(f"pflash{unit}", None)
            if node is None:
                continue
            self.pflash_nodes[unit] = node
            if any(f["unit"] == unit for f in cfg.pflash):
                raise CommandLineError(f"-machine pflash{unit}= and -drive if=pflash,unit={unit} "
                                       f"both give flash unit {unit}")
            bd = cfg.blockdevs.get(node)
            if bd is None:
                raise CommandLineError(f"-machine pflash{unit}={node}: no -blockdev with "
                                       f"node-name={node}")
            # follow a format node down to its file node
            filename, ro, seen = bd.get("filename"), bd.get("read-only"), 0
            child = bd.get("file")
            while filename is None and isinstance(child, str) and child in cfg.blockdevs and seen < 8:
                filename = cfg.blockdevs[child].get("filename")
                ro = ro or cfg.blockdevs[child].get("read-only")
                child = cfg.blockdevs[child].get("file")
                seen += 1
            cfg.pflash.append({"unit": unit, "file": filename,
                               "readonly": ro is True or ro in _BOOL_TRUE,
                               "format": bd.get("driver"), "from": "blockdev"})
        cfg.pflash.sort(key=lambda f: f["unit"])
        if cfg.bios is not None:
            try:
                cfg.bios_size = os.path.getsize(cfg.bios)
            except (OSError, ValueError):
                cfg.bios_size = None
        for f in cfg.pflash:
            # QEMU sizes each flash device from its image (pflash_cfi01
            # realize, blk_getlength), which the raw format's size= limits
            if f.get("raw_size") is not None:
                f["size"] = f["raw_size"]
                continue
            try:
                f["size"] = os.path.getsize(f["file"]) if isinstance(f.get("file"), str) else None
            except (OSError, ValueError):
                f["size"] = None
        if cfg.pflash and cfg.bios is not None:
            raise CommandLineError("-bios and a pflash drive together: QEMU refuses "
                                   "(hw/i386/pc_sysfw.c: 'pflash and -bios are mutually exclusive')")
        # block nodes that are no firmware flash are disks: ignored
        flash_nodes = set()
        for unit in (0, 1):
            node = self.pflash_nodes.get(unit)
            while isinstance(node, str) and node in cfg.blockdevs and node not in flash_nodes:
                flash_nodes.add(node)
                node = cfg.blockdevs[node].get("file")
        if set(cfg.blockdevs) - flash_nodes:
            self.ignore("-blockdev")

    def cpu(self, raw: str, val: str) -> None:
        d = split_opts(val, "model", raw)
        cfg = self.cfg
        model = d.pop("model", "")
        if model in ("help", "?"):
            raise UnsupportedOption("-cpu help", ["-cpu MODEL,PROP=VALUE"])
        if not model:
            raise CommandLineError(f"{raw} {val!r}: -cpu option cannot be empty")
        known = CPU_MODELS_72 if self.qemu < (8, 0) else CPU_MODELS_72 | CPU_MODELS_100_NEW
        if model not in known:
            raise CommandLineError(f"{raw} {_short(val)}: unable to find CPU model '{model}'")
        props = {}
        for k, v in d.items():
            where = f"{raw} {model},{k}={v}"
            if k[:1] in "+-":
                props[k[1:]] = "on" if k[0] == "+" else "off"   # legacy +flag/-flag
                continue
            if k in CPU_BOOL_PROPS:
                v = "on" if qapi_bool(v, f"{raw} {k}") else "off"
            elif k not in CPU_INT_PROPS and v in _BOOL_TRUE + _BOOL_FALSE:
                v = "on" if v in _BOOL_TRUE else "off"       # a feature flag
            elif k in CPU_INT_PROPS and k != "hv-spinlocks":
                try:
                    n = int(v, 0)
                except ValueError:
                    raise CommandLineError(f"{where}: Parameter '{k}' expects an integer") from None
                if k == "guest-phys-bits" and self.qemu < (9, 0):
                    # the property came with QEMU 9.0 (target/i386/cpu.c)
                    raise CommandLineError(f"{where}: Property '{model}-x86_64-cpu.guest-phys-bits' "
                                           f"not found (QEMU {self.qemu[0]}.{self.qemu[1]})")
                if k == "phys-bits" and n and not 32 <= n <= 52:
                    # target/i386/cpu.c x86_cpu_realizefn (TARGET_PHYS_ADDR_SPACE_BITS)
                    raise CommandLineError(f"{where}: phys-bits should be between 32 and 52 "
                                           f"(but is {n})")
                if k in ("host-phys-bits-limit", "guest-phys-bits") and not 0 <= n <= 255:
                    raise CommandLineError(f"{where}: Parameter '{k}' expects uint8")
                v = str(n)
            props[k] = v
        cfg.cpu_model = model
        cfg.cpu_props = props

    def smp(self, raw: str, val: str) -> None:
        """``-smp [cpus=]N[,maxcpus=,sockets=,...]``: softmmu/vl.c (system/vl.c
        in 10.0) ``machine_parse_property_opt``: keyval text, implied key
        ``cpus``, merged into the machine's ``smp`` property (a later -smp
        overrides a key, keeps the others), read as QAPI ``SMPConfiguration``
        ints (qapi/qobject-input-visitor.c ``qobject_input_type_int64_keyval``:
        base 0, so 0x10 and 010 (octal) are numbers).  The keys by release:
        model/machine.py SMP_KEYS.  A zero is the key omitted after a
        deprecation warning on QEMU < 9.0 and refused from 9.0 (commit
        72d346f3b8, hw/core/machine-smp.c).  The topology itself is worked out
        by the model (model/machine.py smp_topology), where the machine type
        is known; its ``cpus`` sizes the virtio-blk/-scsi queues."""
        from ..model.machine import SMP_KEYS, smp_cpus
        d = split_opts(val, "cpus", raw)
        keys = [k for since, ks in SMP_KEYS if self.qemu >= since for k in ks]
        for k, v in d.items():
            if k not in keys:
                raise CommandLineError(f"{raw} {val!r}: Parameter 'smp.{k}' is unexpected")
            m = re.fullmatch(r"\s*([+-]?)(0[xX][0-9a-fA-F]+|0[0-7]*|[1-9][0-9]*)", v)
            if not m:
                raise CommandLineError(f"{raw} {val!r}: Parameter 'smp.{k}' expects integer")
            n = int(m.group(2), 0) if not re.fullmatch(r"0[0-7]+", m.group(2)) \
                else int(m.group(2), 8)
            n = -n if m.group(1) == "-" else n
            if not -(1 << 63) <= n < 1 << 63:
                # an int64 (real QEMU 7.2.22: "-smp 99999999999999999999999":
                # "Parameter 'smp.cpus' expects integer")
                raise CommandLineError(f"{raw} {val!r}: Parameter 'smp.{k}' expects integer")
            # hw/core/machine-smp.c keeps each value in an unsigned (32-bit)
            # variable: -1 is 4294967295, which the topology or the machine's
            # limit then refuses (real QEMU 7.2.22: "-smp -1: Invalid SMP CPUs
            # -1. The max CPUs supported by machine 'pc-q35-7.2' is 288")
            n &= 0xffffffff
            if n == 0:
                if self.qemu >= (9, 0):
                    raise CommandLineError(f"{raw} {val!r}: Invalid CPU topology: CPU topology "
                                           f"parameters must be greater than zero")
                msg = ("Deprecated CPU topology (considered invalid): CPU topology parameters "
                       "must be greater than zero")
                if msg not in self.cfg.warnings:
                    self.cfg.warnings.append(msg)
                self.cfg.smp.pop(k, None)
                continue
            self.cfg.smp[k] = n
        self.cfg.smp_cpus = smp_cpus(self.cfg.smp)
        topo = sorted(k for k in self.cfg.smp if k != "cpus")
        if topo:
            # only smp.cpus reaches the map; sockets/cores/threads/... and
            # maxcpus (CPUs hot-plugged later) change no PCI function, no
            # region, no memslot (real 7.2: -smp 2,maxcpus=8,... lists
            # cpu-memory-0 and -1 only)
            self.ignore("-smp " + ",".join(f"{k}=" for k in topo))

    def accel(self, raw: str, val: str) -> None:
        d = split_opts(val, "accel", raw) if not raw.endswith("=") else {"accel": val}
        acc = d.get("accel", "")
        if acc not in ("kvm", "tcg"):
            raise UnsupportedOption(f"{raw} {acc}", ["kvm", "tcg"],
                                    "the model knows KVM and TCG")
        ki = d.get("kernel-irqchip", d.get("kernel_irqchip"))
        if acc == "kvm" and ki is not None:
            if ki not in ("on", "off", "split", "yes", "true", "no", "false"):
                raise CommandLineError(f"{raw} {val!r}: Parameter 'kernel-irqchip' does not "
                                       f"accept value '{ki}'")
            if ki in ("split", "off", "no", "false"):
                # the same as -machine kernel-irqchip= (accel/kvm/kvm-all.c
                # owns the property; real QEMU 7.2 with -accel
                # kvm,kernel-irqchip=split names the I/O view's "pic",
                # "pit", "elcr" and the "ioapic" without the kvm- prefix)
                raise UnsupportedOption(f"{raw} kvm,kernel-irqchip={ki}", ["kernel-irqchip=on"],
                                        "the userspace PIC/PIT/IOAPIC change the I/O and memory "
                                        "views; not modelled")
        # several accelerators: QEMU uses the first that initialises; the
        # model takes the first one named
        if self.cfg.accel is None:
            self.cfg.accel = acc

    def fw_cfg(self, raw: str, val: str) -> None:
        d = split_opts(val, "name", raw)
        name = d.get("name")
        if not name:
            raise CommandLineError(f"{raw} {val!r}: invalid argument(s) (name= is missing)")
        has_file, has_str = "file" in d, "string" in d
        if has_file == has_str:
            raise CommandLineError(f"{raw} {val!r}: invalid argument(s): exactly one of "
                                   f"file= and string= is needed")
        if name in self.cfg.fw_cfg:
            raise CommandLineError(f"{raw} {val!r}: duplicate fw_cfg file name: {name}")
        if len(name) > 55:
            raise CommandLineError(f"{raw} {val!r}: name too long (max. 55 characters)")
        self.cfg.fw_cfg[name] = d["string"] if has_str else d["file"]
        if not name.startswith("opt/ovmf/"):
            self.ignore(f"-fw_cfg {name}")

    def check_devices(self) -> None:
        """What QEMU refuses when it realizes the -device list, and the parser
        can see: the same host device twice (hw/vfio/pci.c ``vfio_realize`` ->
        ``vfio_get_device``: "device is already attached", prefixed "vfio
        BDF: "), a PCI device on an IDE bus (softmmu/qdev-monitor.c
        ``qdev_device_add``: "Device 'edu' can't go on IDE bus", checked with
        real QEMU 7.2)."""
        from ..model.hostdev import normalize_bdf
        seen: dict = {}
        ide_buses = {f"ide.{i}" for i in range(6 if self.cfg.machine == "q35" else 2)}
        for spec in self.cfg.devices:
            if spec.type == "vfio-pci" and "host" in spec.props:
                try:
                    bdf = normalize_bdf(spec.props["host"])
                except ValueError:
                    continue                     # the model refuses it, naming host=
                if bdf in seen:
                    raise CommandLineError(f"-device vfio-pci,host={spec.props['host']}: vfio {bdf}: "
                                           f"device is already attached (also given as "
                                           f"host={seen[bdf]})")
                seen[bdf] = spec.props["host"]
            if spec.props.get("bus") in ide_buses:
                raise CommandLineError(f"-device {spec.type},bus={spec.props['bus']}: Device "
                                       f"'{spec.type}' can't go on IDE bus")

    # --- after the last option ---------------------------------------------------
    def check_backends(self) -> None:
        """Character devices and buses a device needs, checked once every
        option is read (QEMU creates the -chardev back ends before any
        device, softmmu/vl.c ``qemu_create_early_backends``)."""
        for opt, values in (("-serial", self.serials), ("-parallel", self.parallels)):
            for v in values:
                # softmmu/vl.c serial_parse / parallel_parse -> qemu_chr_new
                if v.startswith("chardev:") and v[len("chardev:"):] not in self.chardevs:
                    kind = opt.lstrip("-")
                    raise CommandLineError(f"{opt} {v}: could not connect {kind} device to "
                                           f"character backend '{v}'")
        for who, dtype, cid in self.chardev_users:
            if cid not in self.chardevs:
                # hw/core/qdev-properties-system.c set_chr
                raise CommandLineError(f"{who}: Property '{dtype}.chardev' can't find value "
                                       f"'{cid}'")
        if self.scsi_drives:
            if not any(spec.type in SCSI_LEGACY_HBAS for spec in self.cfg.devices):
                raise CommandLineError(f"-drive {self.scsi_drives[0]}: machine type does not "
                                       f"support {self.scsi_drives[0]}")
            raise UnsupportedOption("-drive if=scsi", ["if=ide", "if=none", "if=pflash"],
                                    "a SCSI disk on the controller; not modelled")
        if self.usb_children and not any(_is_usb_host(spec.type) for spec in self.cfg.devices):
            # softmmu/qdev-monitor.c qdev_device_add: no bus of the device's
            # bus type (the model has no -machine usb=on, see REFUSED["usb"])
            who, dtype = self.usb_children[0]
            raise CommandLineError(f"{who}: No 'usb-bus' bus found for device '{dtype}'")
        for who, dtype, bus, provides in self.bus_children:
            # q35 has no floppy controller (hw/i386/pc_q35.c); pc's isa-fdc is there
            found = (self.cfg.machine != "q35" if provides is None
                     else any(provides(spec.type) for spec in self.cfg.devices))
            if not found:
                raise CommandLineError(f"{who}: No '{bus}' bus found for device '{dtype}'")

    def finish(self, nodefaults: bool) -> QemuConfig:
        cfg = self.cfg
        if self.floppies and cfg.machine == "q35":
            # hw/i386/pc_q35.c: q35 has no floppy controller (no_floppy) unless
            # a floppy drive is given; pc_basic_device_init then creates an
            # isa-fdc, whose "fdc" ports 0x3f1-0x3f5 and 0x3f7 enter the I/O
            # view (real QEMU 7.2 and 10.0, info mtree -f); pc always has it
            raise UnsupportedOption(self.floppies[0], ["no floppy drive on q35"],
                                    "on q35 a floppy drive adds the isa-fdc controller's I/O "
                                    "ports 0x3f1-0x3f5 and 0x3f7; not modelled")
        self.check_backends()
        if cfg.machine_opts.get("acpi") == "off":
            if cfg.machine == "pc":
                # hw/i386/pc_piix.c pc_init1: PIIX4_PM exists only with ACPI
                raise UnsupportedOption("-machine acpi=off", ["acpi=on"],
                                        "on pc it removes the PIIX4_PM function 00:01.3; not modelled")
            # q35: the same PCI functions; the firmware model reads acpi=off
            # (SeaBIOS keeps its PM base 0xb000, vfiolab.model.boot)
        if cfg.ram_backend is not None:
            rb = cfg.ram_backend
            if rb not in cfg.memdevs:
                raise CommandLineError(f"-machine memory-backend={rb}: Memory backend '{rb}' not found")
            qom, size, _props = cfg.memdevs.pop(rb)
            # vl.c qemu_resolve_machine_memdev / machine.c machine_run_board_init
            if not self.ram_given:
                cfg.ram_size = size
            elif size != cfg.ram_size:
                raise CommandLineError(f"-machine memory-backend={rb}: Machine memory size does not "
                                       f"match the size of the memory backend")
            if rb != "pc.ram":
                raise UnsupportedOption(f"-machine memory-backend={rb}", ["memory-backend=pc.ram"],
                                        "main RAM would be the region named by the backend id; "
                                        "the model names it pc.ram, as libvirt does")
        self.check_devices()
        self.firmware()
        # the device props of -global, under the explicit ones (qdev globals)
        for spec in cfg.devices:
            for k, v in self.globals_for.get(spec.type, {}).items():
                if k == "multifunction" and k not in spec.props:
                    try:
                        v = "on" if qapi_bool(v, k) else "off"
                    except CommandLineError:
                        raise CommandLineError(
                            f"-device {spec.type}: can't apply global {spec.type}.{k}={v}: "
                            f"Parameter '{k}' expects 'on' or 'off'") from None
                spec.props.setdefault(k, v)
        has_defaults = not nodefaults
        defaults: list = []
        # pc_vga_init: -vga, or the default std VGA
        vga = self.vga_model or ("std" if has_defaults and self.default_vga else None)
        if vga and VGA_INTERFACES.get(vga):
            from ..model.devices import DEVICE_TYPES
            dev = VGA_INTERFACES[vga]
            if dev not in DEVICE_TYPES:
                raise UnsupportedOption(f"-vga {vga}", ["std", "none"],
                                        f"it creates a {dev} device, which is not in the device "
                                        f"catalogue")
            defaults.append(DeviceSpec(dev, "", dict(self.globals_for.get(dev, {})), -1))
        elif vga and vga != "none":
            raise UnsupportedOption(f"-vga {vga}", ["std", "none"], "not a PC display")
        # pc_nic_init: the -nic/-net nic NICs, or the default one
        nics = list(self.nics)
        if has_defaults and self.default_net:
            nics.append((None, "the default NIC (no -nodefaults, no -nic/-net/-netdev)", None))
        from ..model.devices import DEVICE_TYPES
        for model, where, vectors in nics:
            dev = NIC_MODEL_ALIASES.get(model or "", model or DEFAULT_NIC[cfg.machine])
            props = dict(self.globals_for.get(dev, {}))
            cls = DEVICE_TYPES.get(dev)
            if vectors is not None and cls is not None and any(
                    "vectors" in k.__dict__.get("PROPS", {}) for k in cls.__mro__):
                props["vectors"] = vectors
            # a model outside the catalogue is refused when the VM is built
            # (vfiolab.model.boot), naming where the NIC comes from
            defaults.append(DeviceSpec(dev, "", props, -1,
                                       origin=f"{where} creates a {dev} NIC; add -nic none "
                                              f"(or -nodefaults) to leave it out"))
        cfg.default_devices = defaults
        # pc_superio_init / serial_hds_isa_init: the serial and parallel ports
        serials = list(self.serials)
        if has_defaults and self.default_serial:
            serials.append("default")
        for i, _s in enumerate(serials[:len(ISA_SERIAL_PORTS)]):
            cfg.isa_devices.insert(i, ("isa-serial", {"index": str(i),
                                                      "iobase": hex(ISA_SERIAL_PORTS[i])}))
        parallels = list(self.parallels)
        if has_defaults and self.default_parallel and cfg.machine == "pc":
            parallels.append("default")
        for i, _p in enumerate(parallels[:len(ISA_PARALLEL_PORTS)]):
            cfg.isa_devices.append(("isa-parallel", {"index": str(i),
                                                     "iobase": hex(ISA_PARALLEL_PORTS[i])}))
        for _d in self.debugcons:
            cfg.isa_devices.append(("isa-debugcon", {"iobase": "0xe9"}))
        cfg.nodefaults = nodefaults
        return cfg


#: The -readconfig files Proxmox qemu-server ships in /usr/share/qemu-server/
#: (proxmox/qemu-server pve-q35-4.0.cfg, pve-q35.cfg, pve-usb.cfg), restated as
#: (id, driver, bus, addr, other properties); every device has
#: multifunction=on except ich9-intel-hda, i82801b11-bridge and the
#: pci-bridges.  Used when the file is not on this machine.
_PVE_USB = [("ehci", "ich9-usb-ehci1", "1d.7", {}),
            ("uhci-1", "ich9-usb-uhci1", "1d.0", {"masterbus": "ehci.0", "firstport": "0"}),
            ("uhci-2", "ich9-usb-uhci2", "1d.1", {"masterbus": "ehci.0", "firstport": "2"}),
            ("uhci-3", "ich9-usb-uhci3", "1d.2", {"masterbus": "ehci.0", "firstport": "4"})]
_PVE_USB2 = [("ehci-2", "ich9-usb-ehci2", "1a.7", {}),
             ("uhci-4", "ich9-usb-uhci4", "1a.0", {"masterbus": "ehci-2.0", "firstport": "0"}),
             ("uhci-5", "ich9-usb-uhci5", "1a.1", {"masterbus": "ehci-2.0", "firstport": "2"}),
             ("uhci-6", "ich9-usb-uhci6", "1a.2", {"masterbus": "ehci-2.0", "firstport": "4"})]


def _pve_q35(port_driver: str, port_extra: dict, bridges: int) -> list:
    devs = [(i, d, "pcie.0", a, dict(x, multifunction="on")) for i, d, a, x in _PVE_USB + _PVE_USB2]
    devs.append(("audio0", "ich9-intel-hda", "pcie.0", "1b.0", {}))
    for n in range(1, 5):
        devs.append((f"ich9-pcie-port-{n}", port_driver, "pcie.0", f"1c.{n - 1}",
                     dict(port_extra, multifunction="on", port=str(n), chassis=str(n))))
    devs.append(("pcidmi", "i82801b11-bridge", "pcie.0", "1e.0", {}))
    for n in range(bridges):
        devs.append((f"pci.{n}", "pci-bridge", "pcidmi", f"{n + 1}.0", {"chassis_nr": str(n + 1)}))
    return devs


PVE_READCONFIG = {
    "pve-q35-4.0.cfg": _pve_q35("pcie-root-port", {"x-speed": "16", "x-width": "32"}, 4),
    "pve-q35.cfg": _pve_q35("ioh3420", {}, 3),
    "pve-usb.cfg": [(i, d, None, a, dict(x, multifunction="on")) for i, d, a, x in _PVE_USB],
}
#: -readconfig groups and the option each stands for (util/qemu-config.c
#: qemu_config_parse; the group is the option list's name)
_READCONFIG_GROUPS = {"device": "-device", "machine": "-machine", "memory": "-m", "drive": "-drive",
                      "netdev": "-netdev", "object": "-object", "global": "-global",
                      "fw_cfg": "-fw_cfg", "chardev": "-chardev", "mon": "-mon", "name": "-name",
                      "rtc": "-rtc", "boot-opts": "-boot", "smp-opts": "-smp", "accel": "-accel",
                      "spice": "-spice", "vnc": "-vnc", "audiodev": "-audiodev", "sandbox": "-sandbox",
                      "msg": "-msg", "overcommit": "-overcommit", "iscsi": "-iscsi"}


def _esc(v: str) -> str:
    return v.replace(",", ",,")


def readconfig_args(path: str) -> list[str]:
    """The options a ``-readconfig FILE`` stands for, in the file's order.

    The format is QEMU's (util/qemu-config.c ``qemu_config_parse``): ``[group]``
    or ``[group "id"]`` headers, ``key = "value"`` lines, ``#`` comments.  The
    files Proxmox qemu-server ships (:data:`PVE_READCONFIG`) are known by
    name when they are not on this machine."""
    import os
    try:
        with open(path, encoding="utf-8") as f:
            text = f.read()
    except OSError:
        known = PVE_READCONFIG.get(os.path.basename(path))
        if known is None:
            raise CommandLineError(f"-readconfig {path}: cannot read it here, and it is none of "
                                   f"the files Proxmox qemu-server ships "
                                   f"({', '.join(sorted(PVE_READCONFIG))})") from None
        out = []
        for did, drv, bus, addr, extra in known:
            props = {"driver": drv, "id": did, **({"bus": bus} if bus else {}), "addr": addr, **extra}
            out += ["-device", ",".join(f"{k}={_esc(v)}" for k, v in props.items())]
        return out
    except UnicodeDecodeError:
        raise CommandLineError(f"-readconfig {path}: not UTF-8 text") from None
    out: list[str] = []
    group, gid, props = None, None, {}

    def flush():
        if group is None:
            return
        opt = _READCONFIG_GROUPS.get(group)
        if opt is None:
            raise CommandLineError(f"-readconfig {path}: there is no option group '{group}'")
        d = dict(props)
        if gid is not None:
            d = {"id": gid, **d}
        if opt == "-global":
            out.extend([opt, f"driver={_esc(d.get('driver', ''))},property="
                             f"{_esc(d.get('property', ''))},value={_esc(d.get('value', ''))}"])
        else:
            out.extend([opt, ",".join(f"{k}={_esc(v)}" for k, v in d.items())])

    for n, line in enumerate(text.splitlines(), 1):
        t = line.strip()
        if not t or t.startswith("#"):
            continue
        m = re.fullmatch(r'\[([\w-]+)(?:\s+"([^"]*)")?\]', t)
        if m:
            flush()
            group, gid, props = m.group(1), m.group(2), {}
            continue
        m = re.fullmatch(r'([\w.-]+)\s*=\s*"([^"]*)"', t)
        if m and group is not None:
            props[m.group(1)] = m.group(2)
            continue
        raise CommandLineError(f"-readconfig {path}: line {n}: parse error: {t[:80]!r}")
    flush()
    return out


def parse_qemu_args(args, qemu=None) -> QemuConfig:
    """Read a QEMU argument list (the program name is allowed first) into a
    :class:`QemuConfig`, for QEMU release ``qemu`` (a ``(major, minor)``
    tuple; default :data:`DEFAULT_QEMU`)."""
    if isinstance(args, str):
        raise CommandLineError("parse_qemu_args takes a list of arguments; read text with "
                               "vfiolab.inputs.paste.argv_from_text")
    args = list(args)
    for a in args:
        if not isinstance(a, str):
            raise CommandLineError(f"argument {a!r}: expected a string")
    r = _Reader(qemu or DEFAULT_QEMU)
    r.globals_for = {}
    cfg = r.cfg
    cfg.args = list(args)
    if args and not args[0].startswith("-") and "qemu" in args[0].rsplit("/", 1)[-1]:
        args = args[1:]                           # the binary name
    # -readconfig FILE: its options take its place (vl.c reads it when it
    # meets it, so its devices come before the -device options after it)
    expanded: list[str] = []
    i = 0
    while i < len(args):
        if args[i] in ("-readconfig", "--readconfig"):
            if i + 1 >= len(args):
                raise CommandLineError(f"{args[i]}: requires an argument")
            expanded += readconfig_args(args[i + 1])
            i += 2
        else:
            expanded.append(args[i])
            i += 1
    args = expanded
    nodefaults = False
    i = 0
    while i < len(args):
        raw = args[i]
        if not raw.startswith("-") or raw in ("-", "--"):
            raise CommandLineError(f"argument {i + 1}: expected an option, got {_short(raw)} "
                                   f"(QEMU takes a bare argument only as the disk image; give -drive)")
        opt = raw[2:] if raw.startswith("--") else raw[1:]
        val = args[i + 1] if i + 1 < len(args) else None

        def need() -> str:
            if val is None:
                raise CommandLineError(f"{raw}: requires an argument")
            return val

        flag = True
        if opt in ("machine", "M"):
            r.machine(raw, need()); flag = False
        elif opt == "m":
            r.memory(raw, need()); flag = False
        elif opt == "object":
            r.object(raw, need()); flag = False
        elif opt == "device":
            r.device(raw, need()); flag = False
        elif opt == "global":
            r.global_(raw, need()); flag = False
        elif opt == "nodefaults":
            nodefaults = True
        elif opt == "cpu":
            r.cpu(raw, need()); flag = False
        elif opt == "smp":
            r.smp(raw, need()); flag = False
        elif opt == "enable-kvm":
            r.accel("-accel", "kvm")
        elif opt == "accel":
            r.accel(raw, need()); flag = False
        elif opt == "vga":
            r.vga(raw, need()); flag = False
        elif opt == "nic":
            r.nic(raw, need(), legacy_net=False); flag = False
        elif opt == "net":
            r.nic(raw, need(), legacy_net=True); flag = False
        elif opt == "netdev":
            r.ignored_option(raw, opt, need())
            _d, _js = _json_or_opts(need(), "type", raw)
            r.default_net = False             # vl.c: -netdev also turns the default NIC off
            r.netdev(raw, _d)
            r.ignore("-netdev"); flag = False
        elif opt == "drive":
            r.drive(raw, need()); flag = False
        elif opt == "pflash":
            d = {"if": "pflash", "format": "raw", "file": need()}
            cfg.drives.append(d)
            r.pflash_drive(raw, d); flag = False
        elif opt == "bios":
            cfg.bios = need(); flag = False
        elif opt == "blockdev":
            # JSON values are kept as they are: block options are QAPI types the
            # model does not read (libvirt writes "backing":null, a
            # BlockdevRefOrNull; qapi/block-core.json)
            text = need()
            d, js = _json_or_opts(text, "node-name" if text.lstrip().startswith("{") else "driver",
                                  raw)
            node = (js or d).get("node-name")
            if not isinstance(node, str) or not node:
                raise CommandLineError(f"{raw} {_short(val)}: Parameter 'node-name' is missing")
            if node in cfg.blockdevs:
                raise CommandLineError(f"{raw} {_short(val)}: Duplicate nodes with node-name='{node}'")
            cfg.blockdevs[node] = js or d
            flag = False
        elif opt == "fw_cfg":
            r.fw_cfg(raw, need()); flag = False
        elif opt in ("serial", "parallel"):
            v = need(); flag = False
            if opt == "serial":
                r.default_serial = False
            else:
                r.default_parallel = False
            if v != "none":
                (r.serials if opt == "serial" else r.parallels).append(v)
        elif opt == "debugcon":
            r.debugcons.append(need()); flag = False
        elif opt == "no-hpet":
            cfg.hpet = False
        elif opt == "no-acpi":
            cfg.machine_opts["acpi"] = "off"
        elif opt in REFUSED:
            raise UnsupportedOption(raw, ["-machine", "-m", "-device", "-object", "..."], REFUSED[opt])
        elif opt in IGNORED_FLAGS:
            r.ignore(raw)
        elif opt in IGNORED_WITH_ARG:
            r.ignored_option(raw, opt, need()); flag = False
            if opt in ("fda", "fdb"):
                r.floppies.append("-" + opt)
            r.ignore("-" + opt)
        else:
            raise UnsupportedOption(raw, ["-" + s for s in sorted(
                {"machine", "M", "m", "object", "device", "global", "nodefaults", "cpu", "smp",
                 "enable-kvm", "accel", "vga", "nic", "net", "netdev", "drive", "pflash", "bios",
                 "blockdev", "fw_cfg", "serial", "parallel", "debugcon", "no-hpet", "no-acpi"}
                | IGNORED_WITH_ARG | IGNORED_FLAGS)], "unknown to the model")
        i += 1 if flag else 2
    return r.finish(nodefaults)
