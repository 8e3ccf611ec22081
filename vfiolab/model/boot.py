"""From a QEMU command line to a VM whose firmware has finished PCI set-up.

The steps follow what really happens:

1. QEMU builds the machine (``machine.build_machine``) and realizes each
   ``-device`` in command-line order, each taking the first free slot on its
   bus unless ``addr=`` says otherwise (QEMU ``pci_qdev_realize``); without
   ``-nodefaults`` QEMU also adds its default VGA (``vl.c``
   ``default_vga``).
2. SeaBIOS runs (``seabios.pci_setup``): it sizes every BAR through config
   space, places them, programs them and enables decode; every one of those
   accesses reaches the PCI model exactly as a guest's would.
3. SeaBIOS copies option ROMs into 0xc0000.. and runs them: the VGA BIOS
   first (``src/optionroms.c`` ``vgarom_setup``), then QEMU's
   ``kvmvapic.bin`` from fw_cfg (``optionrom_setup``), whose code asks QEMU
   to map the ``kvmvapic-rom`` alias over it (``hw/i386/kvmvapic.c``).
4. SeaBIOS leaves the PAM registers as ``src/fw/shadow.c`` says.
"""

from __future__ import annotations

from dataclasses import replace

from ..addr import MiB, parse_size
from ..errors import CommandLineError, ConfigError, SizeError, UnsupportedOption
from ..stack import Stack, make_stack
from .config import DeviceSpec, QemuConfig
from .devices import ROM_FILE_SIZES
from .machine import (smp_topology, AMD_HT_SIZE, AMD_HT_START, ICH9_GLOBALS, KVMVAPIC_ROM_SIZE, PCI_HOST_TYPE,
                      build_machine, ich9_acpi_pci_hotplug, ich9_keep_pci_slot_hpc,
                      machine_reset, map_kvmvapic_rom, memory_layout)
from .memory import MemoryRegion
from .pci import (PCI_BASE_ADDRESS_0, PCI_BASE_ADDRESS_MEM_TYPE_64, PCI_BASE_ADDRESS_SPACE_IO,
                  PCI_BRIDGE_CONTROL, PCI_BRIDGE_CTL_VGA, PCI_COMMAND, PCI_COMMAND_IO,
                  PCI_COMMAND_MASTER, PCI_COMMAND_MEMORY, PCI_ROM_ADDRESS)
from .vm import VM

__all__ = ["build_vm", "vm_stack", "guest_cpu", "guest_long_mode", "firmware_platform", "boot"]

#: QEMU target/i386/cpu.c: TCG_PHYS_ADDR_BITS, the phys-bits of qemu64 and
#: the other named models unless host-phys-bits or phys-bits is set.
DEFAULT_PHYS_BITS = 40
#: target/i386/cpu.c builtin_x86_defs (v7.2.0): the named models without
#: long mode (no CPUID_EXT2_LM in FEAT_8000_0001_EDX), with their phys-bits
#: (x86_cpu_realizefn: 36 with CPUID_PSE36 in FEAT_1_EDX, else 32).
CPU_MODELS_32BIT = {"qemu32": 32, "kvm32": 36, "coreduo": 32, "486": 32, "pentium": 32,
                    "pentium2": 36, "pentium3": 36, "athlon": 36, "n270": 32}


#: How much of 0xc0000.. each option ROM keeps once it has run: SeaBIOS
#: src/optionroms.c ``init_optionrom`` ends with ``rom_confirm(newrom->size *
#: 512)``, the size byte the ROM left in its own header, so a ROM that grows
#: (SeaVGABIOS) or shrinks (iPXE keeps a stub after moving itself to PMM
#: memory) counts as that size.  Measured (where ``kvmvapic.bin``, the next
#: ROM, lands) in real runs with Debian 12's seabios 1.16.2 and ipxe-qemu
#: 1.0.0+git-20190125.36a4c85-5.1: data/references/pc-512M-vga (stdvga,
#: kvmvapic at 0xca000), q35-512M-bochs (kvmvapic at 0xc7000),
#: pc-512M-e1000e and pc-512M-virtio-net (ROM at 0xc0000, kvmvapic at
#: 0xc1000), pc-512M-2nic (0xc0000, 0xc1000, kvmvapic at 0xc2000),
#: q35-1G-libvirt-virtio (qxl-vga's vgabios-qxl.bin at 0xc0000, iPXE at
#: 0xca000, kvmvapic at 0xcb000), pc-1G-virtio-storage-usb (virtio-vga's
#: vgabios-virtio.bin at 0xc0000, e1000 and rtl8139 iPXE at 0xca000 and
#: 0xcb000, kvmvapic at 0xcc000), q35-1G-bridges-misc (four iPXE ROMs of
#: 0x1000 each from 0xca000: e1000, rtl8139, virtio, vmxnet3).
OPTION_ROM_DEPLOYED_SIZE = {"vgabios-stdvga.bin": 0xa000, "vgabios-bochs-display.bin": 0x7000,
                            "vgabios-qxl.bin": 0xa000, "vgabios-virtio.bin": 0xa000,
                            "efi-e1000e.rom": 0x1000, "efi-virtio.rom": 0x1000,
                            "efi-e1000.rom": 0x1000, "efi-rtl8139.rom": 0x1000,
                            "efi-vmxnet3.rom": 0x1000}
#: The SeaBIOS builds each size is confirmed for by a capture (the VGA ROMs
#: come with the seabios package, the iPXE ROMs with QEMU's): all of them on
#: Debian 12's 1.16.2 (above); stdvga, e1000e and virtio-net also with 1.16.3
#: and 1.17.0 (data/references/pc-4G-dev-sb1163, pc-512M-dev-sb1170,
#: q35-1G-multi-qemu10-sb1163: "Space available for UMB: cf800-..." and
#: "ce800-..." as with 1.16.2).
OPTION_ROM_SIZES_CONFIRMED = {
    "1.16.2": frozenset(OPTION_ROM_DEPLOYED_SIZE),
    "1.16.3": frozenset({"vgabios-stdvga.bin", "efi-e1000e.rom", "efi-virtio.rom"}),
    "1.17.0": frozenset({"vgabios-stdvga.bin", "efi-e1000e.rom", "efi-virtio.rom"}),
}
#: The images of each ROM file: (vendor id, device id, code type) of each PCI
#: data structure in order (code type 0: x86, 3: EFI), read from the files of
#: Debian 12's ipxe-qemu 1.0.0+git-20190125.36a4c85-5.1 (/usr/lib/ipxe/qemu)
#: and seabios 1.16.2-1 (/usr/share/seabios).  SeaBIOS runs a ROM only when
#: an x86 image's ids equal the device's (map_pcirom, below); QEMU patches
#: the first image's ids of a default ROM (devices.py, pci_patch_ids).
OPTION_ROM_IMAGE_IDS = {
    "efi-e1000.rom": ((0x8086, 0x100e, 0), (0x8086, 0x100e, 3)),
    "efi-e1000e.rom": ((0x8086, 0x10d3, 0), (0x8086, 0x10d3, 3)),
    "efi-rtl8139.rom": ((0x10ec, 0x8139, 0), (0x10ec, 0x8139, 3)),
    "efi-virtio.rom": ((0x1af4, 0x1041, 0), (0x1af4, 0x1041, 3)),
    "efi-vmxnet3.rom": ((0x15ad, 0x07b0, 0), (0x15ad, 0x07b0, 3)),
    "vgabios-stdvga.bin": ((0x1234, 0x1111, 0),),
    "vgabios-bochs-display.bin": ((0x1234, 0x1111, 0),),
    "vgabios-qxl.bin": ((0x1b36, 0x0100, 0),),
    "vgabios-virtio.bin": ((0x1af4, 0x1050, 0),),
}
#: SeaBIOS src/config.h OPTION_ROM_ALIGN: ``rom_confirm`` rounds RomEnd up to it
OPTION_ROM_ALIGN = 2048
#: ISA devices' I/O regions: (name, size): hw/char/debugcon.c, serial-isa.c,
#: parallel-isa.c, hw/misc/pvpanic-isa.c (names checked with QEMU 7.2 info mtree -f)
ISA_PORT_REGIONS = {"isa-debugcon": ("isa-debugcon", 1), "isa-serial": ("serial", 8),
                    "isa-parallel": ("parallel", 8), "pvpanic": ("pvpanic", 1)}


def guest_cpu(cfg: QemuConfig, stack: Stack) -> tuple[str, int]:
    """The vendor and phys-bits the guest sees, for this stack's host CPU.

    Under KVM QEMU copies the host's vendor into every CPU model
    (target/i386/host-cpu.c ``host_cpu_instance_init``); under TCG the model's
    own vendor stands (qemu64: AuthenticAMD, target/i386/cpu.c
    ``builtin_x86_defs``).  ``phys-bits=`` gives the width, otherwise 40
    (``TCG_PHYS_ADDR_BITS``), except with host-phys-bits under KVM (implied
    by ``-cpu host``/``max``): then the host's, capped by
    ``host-phys-bits-limit=``, and ``phys-bits=`` is ignored.
    ``vendor=`` sets the vendor explicitly."""
    if stack.accel == "tcg":
        vendor = cfg.cpu_props.get("vendor", "AuthenticAMD" if cfg.cpu_model in ("qemu64", "max")
                                   else stack.cpu_vendor)
    else:
        vendor = cfg.cpu_props.get("vendor", stack.cpu_vendor)
    if not guest_long_mode(cfg):
        # x86_cpu_realizefn: a 32-bit CPU's phys-bits follow PSE36 and
        # cannot be set
        if "phys-bits" in cfg.cpu_props:
            raise CommandLineError("-cpu phys-bits=: phys-bits is not user-configurable in 32 bit")
        return vendor, CPU_MODELS_32BIT.get(cfg.cpu_model, 36)
    bits = DEFAULT_PHYS_BITS
    host_phys = cfg.cpu_props.get("host-phys-bits")
    if cfg.cpu_model in ("host", "max") or host_phys in ("on", "true"):
        bits = stack.host_phys_bits
    if "phys-bits" in cfg.cpu_props:
        try:
            bits = int(cfg.cpu_props["phys-bits"])
        except ValueError:
            raise CommandLineError(f"-cpu phys-bits={cfg.cpu_props['phys-bits']!r} is not a number") from None
    if stack.accel != "tcg" and (host_phys in ("on", "true") or (
            cfg.cpu_model in ("host", "max") and host_phys not in ("off", "false"))):
        # target/i386/host-cpu.c (v7.2.0 and v10.0.0): under KVM ``host``
        # and ``max`` set host-phys-bits=on (host_cpu_max_instance_init);
        # with it host_cpu_adjust_phys_bits takes the host's width whatever
        # phys-bits= says (it only warns that they differ), capped by a
        # non-zero host-phys-bits-limit=
        bits = stack.host_phys_bits
        limit = cfg.cpu_props.get("host-phys-bits-limit")
        if limit is not None:
            try:
                limit = int(limit, 0)
            except ValueError:
                raise CommandLineError(f"-cpu host-phys-bits-limit={limit!r} is not a number") from None
            if limit and bits > limit:
                bits = limit
    return vendor, bits


def guest_long_mode(cfg: QemuConfig) -> bool:
    """Whether the vCPU has long mode (CPUID 0x80000001 EDX LM): not for
    the 32-bit named models (:data:`CPU_MODELS_32BIT`) nor with ``lm=off``
    (or ``-lm``); ``lm=on`` adds it."""
    lm = cfg.cpu_props.get("lm")
    if lm is not None:
        return lm in ("on", "true", "yes")
    if cfg.cpu_props.get("-lm") is not None:
        return False
    return cfg.cpu_model not in CPU_MODELS_32BIT


#: Sizes of the flash images Debian's ``ovmf`` packages ship (2022.11-6+deb12u2
#: and 2025.02-8+deb13u1 alike, measured on the files), by file name: used
#: when the command line's image cannot be read.
KNOWN_FLASH_IMAGES = {
    "OVMF_CODE_4M.fd": 0x37c000, "OVMF_CODE_4M.secboot.fd": 0x37c000,
    "OVMF_CODE_4M.ms.fd": 0x37c000, "OVMF_VARS_4M.fd": 0x84000,
    "OVMF_VARS_4M.ms.fd": 0x84000, "OVMF_VARS_4M.snakeoil.fd": 0x84000,
    # the 2 MiB flash build, shipped by 2022.11 only
    "OVMF_CODE.fd": 0x1e0000, "OVMF_CODE.ms.fd": 0x1e0000, "OVMF_CODE.secboot.fd": 0x1e0000,
    "OVMF_VARS.fd": 0x20000, "OVMF_VARS.ms.fd": 0x20000,
    # SeaBIOS images can be flash too (Debian's /usr/share/seabios, QEMU's pc-bios/)
    "bios-256k.bin": 0x40000, "bios.bin": 0x20000,
}
#: the VARS template size that goes with a code image size (Debian's builds)
VARS_FOR_CODE = {0x37c000: 0x84000, 0x1e0000: 0x20000}
#: Debian's combined image /usr/share/ovmf/OVMF.fd (for ``-bios``), by release:
#: 2 MiB in 2022.11, 4 MiB in 2025.02 (measured on the files)
KNOWN_BIOS_IMAGES = {("OVMF.fd", "2022.11"): 0x200000, ("OVMF.fd", "2025.02"): 0x400000}


def bios_image_size(cfg: QemuConfig, stack: Stack) -> int | None:
    """The ``-bios`` image's size (hw/i386/x86.c ``x86_bios_rom_init`` maps
    the whole file below 4 GiB): read by the front end, else Debian's OVMF.fd
    of the stack's release; None for QEMU's default bios-256k.bin."""
    if cfg.bios is None or cfg.firmware_kind == "seabios":
        return cfg.bios_size if cfg.bios is not None else None
    if cfg.bios_size is not None:
        return cfg.bios_size
    name = cfg.bios.rsplit("/", 1)[-1]
    size = KNOWN_BIOS_IMAGES.get((name, stack.firmware_version))
    if size is None:
        raise ConfigError(f"-bios {cfg.bios}: its size is unknown (the file is not readable "
                          "here and not Debian's OVMF.fd)")
    return size


def pflash_sizes(cfg: QemuConfig) -> list[int] | None:
    """The size of each flash unit (QEMU sizes the device from its image:
    hw/block/pflash_cfi01.c, ``blk_getlength``): ``size`` when the front end
    read it from the file, else the known Debian image of that name."""
    if not cfg.pflash:
        return None
    units = {f["unit"]: f for f in cfg.pflash}
    if 0 not in units:
        raise ConfigError("pflash unit 1 without unit 0: QEMU maps no flash "
                          "(hw/i386/pc_sysfw.c pc_system_flash_map stops at the first gap)")
    sizes = []
    for unit in sorted(units):
        f = units[unit]
        size = f.get("size")
        if size is None:
            size = KNOWN_FLASH_IMAGES.get(str(f.get("file") or "").rsplit("/", 1)[-1])
        if size is None and unit == 1 and sizes:
            # a per-VM variable store (libvirt's nvram/NAME_VARS.fd, Proxmox's
            # efidisk) is a copy of the VARS template that matches the code
            # image: Debian's 4 MiB build pairs 0x37c000 with 0x84000, the
            # 2 MiB build 0x1e0000 with 0x20000 (the files' sizes)
            size = VARS_FOR_CODE.get(sizes[0])
            if size is not None:
                cfg.assumed.append(f"pflash unit 1 ({f.get('file')}): not readable here; taken "
                                   f"as a copy of the VARS template that goes with unit 0 "
                                   f"({size:#x} bytes)")
        if size is None:
            raise ConfigError(f"pflash unit {unit} ({f.get('file')}): its size is unknown "
                              "(the file is not readable here and not a Debian OVMF image name)")
        sizes.append(size)
    return sizes


def vm_stack(cfg: QemuConfig, stack: Stack | None = None, accel: str | None = None) -> Stack:
    """The stack this VM is predicted for: ``stack`` (default: the
    :data:`~vfiolab.stack.DEFAULT_STACK` preset with an assumed host CPU)
    with the command line's machine type resolved and the accelerator
    fixed: ``accel`` if given, else the command line's, else KVM, which the
    stack notes, since QEMU itself falls back to TCG when none is named."""
    stack = stack or make_stack(cpu="assumed")
    accel = accel or cfg.accel
    notes = ()
    if accel is None:
        accel = "kvm"
        notes = ("no -accel on the command line: KVM assumed (QEMU itself would use TCG)",)
    if accel not in ("kvm", "tcg"):
        raise ConfigError(f"-accel {accel}: the model knows kvm and tcg")
    s = stack.for_machine(cfg.machine_type).with_accel(accel)
    return replace(s, notes=s.notes + notes) if notes else s


def build_vm(cfg: QemuConfig, *, stack: Stack | None = None, accel: str | None = None,
             host_devices: dict | None = None) -> VM:
    """Steps 1 of the module docstring: machine, memory backends, devices.

    ``host_devices`` maps a host BDF to its :class:`HostDevice` for
    ``-device vfio-pci,host=...``."""
    from .devices import create_device
    stack = vm_stack(cfg, stack, accel)
    check_firmware(cfg, stack)
    vendor, bits = guest_cpu(cfg, stack)
    layout = memory_layout(cfg.machine, cfg.ram_size, stack=stack, cpu_vendor=vendor,
                           phys_bits=bits, long_mode=guest_long_mode(cfg),
                           pci_hole64_size=_pci_hole64_size(cfg),
                           max_ram_below_4g=cfg.max_ram_below_4g,
                           maxram_size=cfg.maxram_size, ram_slots=cfg.ram_slots)
    vm = build_machine(cfg.machine, cfg.ram_size, accel=stack.accel, layout=layout,
                       pflash=pflash_sizes(cfg), isa_bios_alias=stack.machine_at_least(9, 1),
                       bios_size=bios_image_size(cfg, stack), hpet=cfg.hpet,
                       vmport=cfg.vmport, stack=stack,
                       smm=cfg.machine_opts.get("smm", "auto"),
                       acpi_pci_hotplug=ich9_acpi_pci_hotplug(stack, cfg.globals),
                       keep_pci_slot_hpc=ich9_keep_pci_slot_hpc(stack, cfg.globals))
    vm.stack = stack
    # -smp: hw/core/machine-smp.c machine_parse_smp_config; smp.cpus is how
    # many CPUs x86_cpus_init creates (one "cpu-memory-N" address space
    # each) and what hw/virtio/virtio-pci.c virtio_pci_optimal_num_queues
    # sizes the virtio-blk/-scsi queues and MSI-X vectors by (model/devices.py)
    vm.smp = smp_topology(cfg.smp, stack)
    vm.smp_cpus = vm.smp.cpus                 # == cfg.smp_cpus (model/machine.py smp_cpus)
    for text in cfg.assumed:
        _note(vm, text)
    if (stack.accel == "kvm" and not stack.host_kvm_smm and cfg.machine == "q35"
            and stack.qemu_at_least(9, 1) and cfg.machine_opts.get("smm", "auto") == "auto"):
        # the host fact the SMRAM rule hangs on (model/machine.py has_smm_ranges)
        _note(vm, "host without KVM_CAP_X86_SMM assumed (the reference host's; "
                  "--host-kvm-smm says otherwise): q35 builds no SMRAM regions")
    if vm.smm_enabled and stack.accel == "kvm":
        # target/i386/kvm/kvm.c register_smram_listener: with SMM under KVM
        # QEMU adds the "KVM-SMRAM" address space (memslots of as_id 1)
        _note(vm, "SMM under KVM (host_kvm_smm): the KVM-SMRAM address space and its "
                  "as_id 1 memslots are not modelled")
    if vm.kvm is not None:
        # the KVM listener's memslot timing reads the QEMU release (kvm.py);
        # the machine built so far has only KVM as a listener, whose order
        # is the same either way
        vm.kvm.stack = stack
    from .devices import DEVICE_TYPES
    for (driver, prop), value in cfg.globals.items():
        # the command-line reader applied the device ones (DEVICE.PROP of the
        # catalogue); the others it accepted are not modelled
        if (driver, prop) in ICH9_GLOBALS:
            if cfg.machine != "q35":
                # a global for a type the machine does not create applies to nothing
                _note(vm, f"-global {driver}.{prop}={value}: no ICH9-LPC on machine "
                          f"{cfg.machine}, no effect")
        elif ((driver, prop) != (PCI_HOST_TYPE[cfg.machine], "pci-hole64-size")
                and driver not in DEVICE_TYPES):
            _note(vm, f"-global {driver}.{prop}={value}: not modelled, ignored")
    vm.config = cfg
    for oid, (qom, size, props) in cfg.memdevs.items():
        # host_memory_backend_memory_complete: one RAM region named by the id
        mr = MemoryRegion.init_ram(oid, size)
        vm.alloc_ram(mr)
        vm.memdevs[oid] = mr
    for dtype, props in cfg.isa_devices:
        # the ISA devices' port regions: hw/char/debugcon.c (1 port at
        # "iobase", default 0xe9), hw/char/serial-isa.c ("serial", 8 ports),
        # hw/char/parallel-isa.c ("parallel", 8 ports), hw/misc/pvpanic-isa.c
        # ("pvpanic", 1 port at 0x505); names checked with QEMU 7.2 info mtree -f
        name, size = ISA_PORT_REGIONS.get(dtype, (dtype, 1))
        try:
            iobase = int(props.get("iobase", "0xe9"), 0)
        except ValueError:
            raise ConfigError(f"-device {dtype}: iobase={props.get('iobase')!r} is not a number") from None
        vm.system_io.add_subregion(iobase, MemoryRegion.init_io(name, size))
    specs = list(cfg.devices)
    if cfg.default_devices is not None:
        # the command-line reader decided QEMU's default devices; the machine
        # creates them (VGA, then NICs) before any -device (pc_init1/pc_q35_init)
        specs = list(cfg.default_devices) + specs
    elif not cfg.nodefaults and not any(s.type in ("VGA", "virtio-vga") for s in specs):
        specs.append(DeviceSpec("VGA", "", {}, len(specs)))
    for spec in specs:
        props = dict(spec.props)
        bus_name = props.pop("bus", None)
        addr = props.pop("addr", None)
        bus = _find_bus(vm, bus_name, spec)
        devfn = _parse_devfn(addr, spec) if addr is not None else None
        if props.get("multifunction") == "on":
            props.pop("multifunction")
            mf = True
        else:
            props.pop("multifunction", None)
            mf = False
        if spec.type == "vfio-pci":
            dev = _vfio_device(spec, props, host_devices or {})
        elif spec.origin:
            try:
                dev = create_device(spec.type, spec.id, props)
            except UnsupportedOption as e:
                raise UnsupportedOption(e.option, e.supported, spec.origin) from None
        else:
            dev = create_device(spec.type, spec.id, props)
        dev.multifunction = mf
        try:
            vm.add_pci_device(dev, bus=bus, devfn=devfn)
        except ConfigError as e:
            # QEMU prefixes a -device error with the option as written
            # (error_report with the option's location)
            raise ConfigError(f"-device {spec.type}{',id=' + spec.id if spec.id else ''}: {e}") from None
    # system reset reaches every device once all are plugged (qdev reset:
    # e.g. a root port's slot control reflects whether its slot is occupied)
    for dev in vm.pci_devices():
        reset = getattr(dev, "reset", None)
        if reset is not None:
            reset()
    return vm


def _pci_hole64_size(cfg: QemuConfig) -> int | None:
    """``-global q35-pcihost.pci-hole64-size=`` / ``i440FX-pcihost...``
    (include/hw/i386/pc.h PCI_HOST_PROP_PCI_HOLE64_SIZE, a size property:
    bytes unless suffixed), None for the default."""
    key = (PCI_HOST_TYPE[cfg.machine], "pci-hole64-size")
    if key not in cfg.globals:
        return None
    try:
        return parse_size(cfg.globals[key])
    except SizeError as e:
        raise CommandLineError(f"-global {key[0]}.{key[1]}: {e}") from None


def _vfio_device(spec, props: dict, host_devices: dict):
    """``-device vfio-pci,host=BDF``: the device behind BDF must be described."""
    from .hostdev import normalize_bdf
    from .vfio import VfioPCIDevice, check_host_device
    dev = VfioPCIDevice(spec.id, **props)
    try:
        bdf = normalize_bdf(dev.host)
    except (ValueError, AttributeError):
        raise ConfigError(f"-device vfio-pci{',id=' + spec.id if spec.id else ''}: "
                          f"host={dev.host!r} is not DOMAIN:BUS:DEV.FN") from None
    hd = host_devices.get(bdf)
    if hd is None:
        # the model reads no files: the front end describes every host device
        # (vfiolab.inputs.hostdevs.resolve_host_devices) before the VM is built
        raise ConfigError(f"-device vfio-pci,host={bdf}: no description of host device {bdf} "
                          f"(give --host-device {bdf}=PATH with its lspci -vvv or sysfs folder)")
    check_host_device(hd)
    dev.host = bdf
    dev.vname = bdf
    dev.hostdev = hd
    return dev


def _find_bus(vm: VM, name: str | None, spec):
    """``bus=NAME`` as QEMU's ``qbus_find`` reads it: a bus of that name,
    the root bus (``pci.0`` on pc, ``pcie.0`` on q35) or a bridge's
    secondary bus, which is named after the bridge's id.  So on q35
    ``bus=pci.0`` is the bridge ``pci.0`` if there is one (Proxmox's
    pve-q35-4.0.cfg has one behind pcidmi), else an error (real QEMU 7.2:
    "Bus 'pci.0' not found")."""
    if name is None or name == vm.root_bus.name:
        return vm.root_bus
    for dev in vm.devices:
        sec = getattr(dev, "sec_bus", None)
        if sec is not None and (dev.qdev_id == name or sec.name == name):
            return sec
    if name in ("pcie.0", "pci.0"):
        raise ConfigError(f"-device {spec.type}: bus {name!r} not found "
                          f"(the {vm.machine} root bus is {vm.root_bus.name!r})")
    raise ConfigError(f"-device {spec.type}{',id=' + spec.id if spec.id else ''}: "
                      f"bus {name!r} not found")


def _parse_devfn(addr: str, spec) -> int:
    """``addr=SLOT[.FN]`` in hex, as QEMU's PCI address property reads it."""
    try:
        if "." in addr:
            s, f = addr.split(".", 1)
            slot, fn = int(s, 16), int(f, 16)
        else:
            slot, fn = int(addr, 16), 0
    except ValueError:
        raise ConfigError(f"-device {spec.type}: addr={addr!r} is not SLOT[.FUNCTION] in hex") from None
    if not (0 <= slot < 32 and 0 <= fn < 8):
        raise ConfigError(f"-device {spec.type}: addr={addr!r} out of range (slot 0-0x1f, function 0-7)")
    return slot << 3 | fn


def _warn_phys_bits_property(cfg: QemuConfig, stack: Stack) -> None:
    """target/i386/host-cpu.c ``host_cpu_adjust_phys_bits`` (v7.2.0 and
    v10.0.0), run by ``host_cpu_realizefn`` for a long-mode vCPU under KVM:
    a ``phys-bits=`` that differs from the host's width is warned about once,
    whether or not host-phys-bits then overrides it (``-cpu host,phys-bits=39``
    gets the host's width and this warning)."""
    if stack.accel == "tcg" or "phys-bits" not in cfg.cpu_props or not guest_long_mode(cfg):
        return
    try:
        pb = int(cfg.cpu_props["phys-bits"])
    except ValueError:
        return                       # guest_cpu refuses it
    text = (f"Host physical bits ({stack.host_phys_bits}) does not match phys-bits "
            f"property ({pb})")
    if pb != stack.host_phys_bits and text not in cfg.warnings:
        cfg.warnings.append(text)


def check_firmware(cfg: QemuConfig, stack: Stack) -> None:
    """The command line's firmware must be the stack's: a pflash pair or an
    OVMF ``-bios`` image is OVMF; no firmware option (QEMU loads
    bios-256k.bin, hw/i386/x86.c ``x86_bios_rom_init``) or ``-bios bios*.bin``
    is SeaBIOS.  A mismatch is refused, never answered with the other
    firmware's placement."""
    kind = cfg.firmware_kind
    if kind == "unknown":
        raise ConfigError(f"-bios {cfg.bios}: a firmware image the model does not know "
                          "(it knows SeaBIOS bios*.bin and OVMF*.fd)")
    if kind == "ovmf" and stack.firmware != "ovmf":
        what = "pflash drives" if cfg.pflash else f"-bios {cfg.bios}"
        raise ConfigError(f"the command line boots OVMF ({what}) but the stack's firmware is "
                          f"{stack.firmware_text}: pass --firmware ovmf-2022.11 or "
                          f"--firmware ovmf-2025.02 (firmware='ovmf-VERSION')")
    if kind in (None, "seabios") and stack.firmware == "ovmf":
        raise ConfigError(f"the stack's firmware is {stack.firmware_text} but the command line "
                          "has no OVMF flash (-drive if=pflash,... or -bios OVMF.fd): QEMU would "
                          "run SeaBIOS; add the pflash drives or pass --firmware seabios")


def firmware_platform(vm: VM, cfg: QemuConfig):
    """What the firmware of ``vm.stack`` learns from fw_cfg and CPUID for this VM."""
    stack = vm.stack
    check_firmware(cfg, stack)
    if cfg.ram_size < MiB:
        # Real QEMU 7.2.22 + Debian SeaBIOS 1.16.2 under KVM (2026-12-06):
        # with -m 640K and 768K POST stops after its banner, 896K-928K print
        # "No space for init relocation", 960K-976K stop after PCI set-up,
        # 992K-1020K boot, and -m 0x1b (1 byte: 'b' is the bytes suffix,
        # rounded up to 8K) ends in "KVM internal error".  The firmware models
        # assume RAM past 1 MiB; below it they would answer for a POST that
        # does not happen.
        raise UnsupportedOption(f"-m {cfg.ram_size // 1024}K", ["-m 1M or more"],
                                "guest RAM below 1 MiB: real SeaBIOS fails or boots depending "
                                "on the exact size (src/malloc.c init relocation); not modelled")
    vendor, bits = guest_cpu(cfg, stack)
    _warn_phys_bits_property(cfg, stack)
    reserved = []
    # hw/i386/pc.c pc_memory_init: AMD vCPUs with phys-bits >= 40 get the
    # HyperTransport hole reserved in e820, on machine types >= 7.1
    # (machine.memory_layout)
    layout = getattr(vm, "memory_layout", None)
    if layout is not None and layout.amd_ht_reserved:
        reserved.append((AMD_HT_START, AMD_HT_SIZE))
    split = vm.ram_split
    # hw/i386/pc.c pc_memory_init: fw_cfg etc/reserved-memory-end, present
    # only with a memory-hotplug area (-m ...,maxmem=; machine.device_memory);
    # OVMF (PlatformInitLib MemDetect.c PlatformGetFirstNonAddress) and
    # SeaBIOS (src/fw/pciinit.c pci_bios_map_devices) start the 64-bit
    # window above it
    reserved_end = layout.reserved_memory_end if layout is not None else None
    if stack.firmware == "ovmf":
        from .firmware.ovmf import OvmfPlatform
        return OvmfPlatform(machine=vm.machine, low_memory=split.below_4g,
                            ram_end=(split.above_4g_start + split.above_4g if split.above_4g
                                     else 1 << 32), e820_reserved=reserved,
                            reserved_memory_end=reserved_end,
                            pci_mmio64_mb=_fw_cfg_uint32(cfg, "opt/ovmf/X-PciMmio64Mb"),
                            cpu_vendor=vendor, phys_bits=bits,
                            guest_phys_bits=_guest_phys_bits(cfg),
                            page1g=_page1g(cfg), version=stack.firmware_version,
                            amd_ht_hole=(AMD_HT_START, AMD_HT_SIZE))
    # SeaBIOS src/fw/paravirt.c qemu_early_e820: RamSizeOver4G is the end
    # of the highest RAM entry above 4 GiB minus 4 GiB (RAM moved to 1 TiB
    # counts from 4 GiB too)
    over_4g = split.above_4g_start + split.above_4g - (1 << 32) if split.above_4g else 0
    from .firmware.seabios import FirmwarePlatform
    return FirmwarePlatform(machine=vm.machine, ram_size=split.below_4g,
                            ram_size_over_4g=over_4g, e820_reserved=reserved,
                            reserved_memory_end=reserved_end, cpu_vendor=vendor, phys_bits=bits,
                            long_mode=guest_long_mode(cfg), version=stack.firmware_version,
                            kvmclock=vm.accel == "kvm",
                            unmodelled_drives=_seabios_drives(vm, cfg),
                            # hw/i386/acpi-build.c acpi_setup returns before it adds
                            # fw_cfg etc/table-loader when ACPI is off, so SeaBIOS
                            # (src/fw/paravirt.c qemu_cfg_init) keeps its PM base
                            # 0xb000 instead of 0x600: ICH9's SMBus I/O BAR at 0xb100
                            # (real QEMU 7.2.22 -M q35,acpi=off, tests/fixtures/
                            # bad_inputs/qemu-7.2.json)
                            acpi_pm_base=0xb000 if cfg.machine_opts.get("acpi") == "off"
                            else 0x600)


#: What on a command line gives SeaBIOS a drive whose driver takes low memory
#: (src/hw/virtio-blk.c init_virtio_blk and virtio-scsi.c virtio_scsi_init_lun:
#: malloc_low of the drive; src/cdrom.c cdrom_prepboot: the bounce buffer; the
#: USB controllers' pipes; src/hw/megasas.c: a frame per LUN).
_DRIVE_OPTIONS = ("-cdrom", "-hda", "-hdb", "-hdc", "-hdd", "-drive if=ide", "-drive if=scsi",
                  "-device scsi-hd", "-device scsi-cd", "-device scsi-block",
                  "-device ide-hd", "-device ide-cd", "-device ide-drive",
                  "-device usb-storage", "-device usb-bot", "-device usb-uas")


def _seabios_drives(vm: VM, cfg: QemuConfig) -> tuple:
    drives = [o for o in cfg.ignored if o.startswith(_DRIVE_OPTIONS)]
    drives += [_who(d) for d in vm.pci_devices()
               if (d.vendor_id, d.device_id) in ((0x1af4, 0x1001), (0x1af4, 0x1042))]
    return tuple(drives)


def _fw_cfg_uint32(cfg: QemuConfig, name: str) -> int | None:
    """OvmfPkg/Library/QemuFwCfgSimpleParserLib ``QemuFwCfgParseUint32``:
    decimal, or hex with 0x; anything else makes OVMF ignore the knob."""
    text = cfg.fw_cfg.get(name)
    if text is None:
        return None
    try:
        return int(text, 16) if text.lower().startswith("0x") else int(text, 10)
    except ValueError:
        raise ConfigError(f"-fw_cfg name={name},string={text!r}: not a number "
                          "(OVMF would ignore it)") from None


def _page1g(cfg: QemuConfig) -> bool:
    """CPUID 0x80000001 EDX bit 26 (1 GiB pages): ``pdpe1gb`` on the -cpu
    line; qemu64 and the other TCG defaults have it off, ``host``/``max``
    pass the host's (assumed on)."""
    v = cfg.cpu_props.get("pdpe1gb")
    if v is not None:
        return v in ("on", "true", "yes")
    # the legacy "+feature"/"-feature" spelling (target/i386/cpu.c
    # x86_cpu_parse_featurestr)
    if "+pdpe1gb" in cfg.cpu_props:
        return True
    if "-pdpe1gb" in cfg.cpu_props:
        return False
    return cfg.cpu_model in ("host", "max")


def _guest_phys_bits(cfg: QemuConfig) -> int:
    """CPUID 0x80000008 EAX[23:16]: ``guest-phys-bits=`` (QEMU >= 9.0); 0
    when not given (TCG and the references here)."""
    v = cfg.cpu_props.get("guest-phys-bits")
    try:
        return int(v) if v is not None else 0
    except ValueError:
        raise ConfigError(f"-cpu guest-phys-bits={v!r} is not a number") from None


def boot(vm: VM, platform) -> object:
    """Steps 2-4: the firmware's PCI set-up (SeaBIOS: then option ROMs and
    the final PAM state; OVMF: :mod:`vfiolab.model.firmware.ovmf`)."""
    log: list = []
    machine_reset(vm)
    if vm.stack.firmware == "ovmf":
        from .firmware import ovmf
        result = ovmf.pci_setup(vm, platform, log)
    else:
        from .firmware import seabios
        result = seabios.pci_setup(vm, platform, log,
                                   before_readonly=lambda low: _run_option_roms(vm, low, platform))
    vm.firmware = result
    vm.firmware_log = log
    return result


def _megasas_steps(vm, dev, cfg):
    """src/hw/megasas.c ``init_megasas``: the I/O BAR is BAR2 when it is an
    I/O BAR, else BAR0."""
    bar = 2 if cfg(dev, 0x18, 4) & 0x1 else 0
    return [("io", bar), ("master", 0)]


def _ids(vendor: int, *devices: int):
    return lambda d: d.vendor_id == vendor and d.device_id in devices


#: What SeaBIOS rel-1.16.2 ``device_hardware_setup`` (src/post.c) does to
#: PCI functions before the option ROMs, in its order: ``usb_setup``
#: (src/hw/usb.c: xHCI, EHCI, UHCI; OHCI is not modelled), then
#: ``block_setup`` (src/block.c: ahci, virtio-blk, virtio-scsi, lsi-scsi,
#: megasas, nvme; the drivers for devices QEMU here does not offer are left
#: out).  Each is (name, match, steps): ``mem``/``io`` enable that BAR
#: (``pci_enable_membar``/``pci_enable_iobar``, which also mark the function
#: driven, so optionrom_setup skips it) and stop the driver when refused;
#: ``master`` is ``pci_enable_busmaster``.  Sources: src/hw/usb-xhci.c
#: ``xhci_controller_setup_pci`` (class 0x0c0330, BAR0), src/hw/usb-ehci.c
#: ``ehci_controller_setup`` (0x0c0320, BAR0), src/hw/usb-uhci.c
#: ``uhci_controller_setup`` (0x0c0300, BAR4, then ``reset_uhci`` writes
#: USBLEGSUP), src/hw/ahci.c, src/hw/virtio-blk.c and virtio-scsi.c
#: (1af4:1001/1042, 1af4:1004/1048, ``vp_init_simple``), src/hw/lsi-scsi.c
#: (1000:0012, BAR0), src/hw/megasas.c (1000:0060 and the other MegaRAID
#: ids), src/hw/nvme.c.
HW_DRIVERS = [
    ("xhci", lambda d: (d.class_id, d.prog_if) == (0x0c03, 0x30), [("mem", 0), ("master", 0)]),
    ("ehci", lambda d: (d.class_id, d.prog_if) == (0x0c03, 0x20), [("mem", 0), ("master", 0)]),
    ("uhci", lambda d: (d.class_id, d.prog_if) == (0x0c03, 0x00),
     [("io", 4), ("master", 0), ("usblegsup", 0)]),
    ("ahci", lambda d: (d.class_id, d.prog_if) == (0x0106, 0x01), [("mem", 5), ("master", 0)]),
    ("virtio-blk", _ids(0x1af4, 0x1001, 0x1042), "virtio"),
    ("virtio-scsi", _ids(0x1af4, 0x1004, 0x1048), "virtio"),
    ("lsi-scsi", _ids(0x1000, 0x0012), [("io", 0), ("master", 0)]),
    ("megasas", lambda d: (_ids(0x1000, 0x0411, 0x0060, 0x007c, 0x0079, 0x0078, 0x0071, 0x0073,
                                0x0413, 0x005b, 0x005d)(d) or _ids(0x1028, 0x0015)(d)),
     _megasas_steps),
    ("nvme", lambda d: d.class_id == 0x0108, [("mem", 0), ("master", 0)]),
]
#: include/hw/pci/pci_ids.h
PCI_CLASS_DISPLAY_VGA = 0x0300
PCI_CLASS_DISPLAY_OTHER = 0x0380


def _run_option_roms(vm: VM, low, platform) -> None:
    """What POST does between pci_setup and make_bios_readonly (SeaBIOS
    rel-1.16.2 src/post.c ``maininit``), with the config accesses a real run
    makes (data/references/*/pci_cfg_write.log), filling ``low`` (the
    :class:`~vfiolab.model.firmware.seabios.LowMemory` of this POST): ROMs
    from 0xc0000 up, SeaBIOS's low-memory allocations from the top down:

    1. ``vgarom_setup`` (src/optionroms.c): the first VGA-class function that
       decodes I/O and memory (``is_pci_vga``) has its ROM BAR mapped and
       copied to 0xc0000 (``init_pcirom`` -> ``map_pcirom``); with none, the
       first other-display function whose ROM maps (``try_setup_display_other``,
       which also turns on its I/O and memory decode); then fw_cfg
       ``vgaroms/`` files (a VGA device with ``rombar=0``).
    2. ``device_hardware_setup``: the USB and block drivers map their BARs
       and turn on bus mastering (:data:`HW_DRIVERS`).
    3. ``optionrom_setup``: every other function, in SeaBIOS's device-list
       order, except display functions and driven ones (``have_driver``),
       goes through ``map_pcirom``: size the ROM BAR with 0xfffffffe, and if
       there is a ROM, enable it at its address, copy it, restore the BAR;
       without one, just restore.  Then the fw_cfg ``genroms/`` files in
       name order (QEMU sorts fw_cfg files by name), among them QEMU's
       ``kvmvapic.bin``, which asks QEMU to map ``kvmvapic-rom`` over itself
       (hw/i386/kvmvapic.c).

    Each ROM is placed at the end of the previous one (``rom_reserve``) and
    keeps :data:`OPTION_ROM_DEPLOYED_SIZE` once run.  A SeaVGABIOS ROM takes
    512 bytes of low memory for its stack while it runs; with kvmclock and
    the AHCI bounce buffer (both allocated by the firmware model itself) it
    decides ``rom_get_max()`` and so the PAM state ``make_bios_readonly``
    leaves.
    """
    if platform.unmodelled_drives:
        _note(vm, f"SeaBIOS allocates low memory for the drives of "
                  f"{', '.join(platform.unmodelled_drives)} (src/hw/virtio-blk.c, "
                  f"src/cdrom.c cdrom_prepboot, the USB and SCSI drivers) in sizes the model "
                  f"does not know: the top of the option-ROM area (rom_get_max) may be lower "
                  f"than the {low.rom_get_max():#x} it assumes, leaving more of 0xc0000-0xeffff "
                  f"writable")
    # SeaBIOS's device list: pci_probe_devices walks bus 0, 1, ... in devfn order
    devices = sorted(vm.pci_devices(), key=lambda d: (d.bus.number, d.devfn))

    def deploy(name: str, who) -> None:
        size = OPTION_ROM_DEPLOYED_SIZE.get(name)
        confirmed = OPTION_ROM_SIZES_CONFIRMED.get(vm.stack.firmware_version, frozenset())
        if size is None or name not in confirmed:
            _note(vm, f"option ROM {name!r} of {who}: its size after it runs is not known for "
                      f"{vm.stack.firmware_text} (measured for "
                      f"{', '.join(sorted(confirmed)) or 'no ROM'} with it); ROMs after it "
                      f"may sit elsewhere in 0xc0000..")
            size = size or 0
        low.rom_end += -(-size // OPTION_ROM_ALIGN) * OPTION_ROM_ALIGN
        if name.startswith("vgabios-"):
            # SeaVGABIOS (every vgabios-*.bin QEMU ships) vgasrc/vgainit.c
            # allocate_extra_stack: CONFIG_VGA_EXTRA_STACK_SIZE (512) bytes by
            # a PMM call with flags 8|1 (permanent, low): ZoneLow (src/pmm.c)
            low.malloc_low(f"SeaVGABIOS stack of {who} (vgasrc/vgainit.c "
                           f"allocate_extra_stack)", 512)

    def deploy_file(name: str, dev) -> None:
        """src/optionroms.c ``run_file_roms`` -> ``deploy_romfile``: the
        whole file must fit below ``rom_get_max()`` ("WARNING - Unable to
        allocate resource at deploy_romfile"; e.g. a 244 KiB efi-*.rom from
        ``rombar=0`` never runs: data/references/pc-512M-e1000e-rombar0)."""
        size = ROM_FILE_SIZES.get(name)
        if size is None:
            _note(vm, f"option ROM file {name!r} of {_who(dev)}: its size is not known; "
                      f"taken as not deployed")
            return
        if -(-(low.rom_end + size) // OPTION_ROM_ALIGN) * OPTION_ROM_ALIGN > low.rom_get_max():
            return
        deploy(name, _who(dev))

    def cfg(dev, off, size, val=None):
        if val is None:
            return vm.cfg_read(dev.bus.number, dev.devfn, off, size)
        vm.cfg_write(dev.bus.number, dev.devfn, off, val, size)
        return None

    def map_pcirom(dev) -> bool:
        """src/optionroms.c ``map_pcirom``; True when a ROM was copied."""
        if dev.header_type != 0:
            return False                 # "Skipping non-normal pci device"
        orig = cfg(dev, PCI_ROM_ADDRESS, 4)
        cfg(dev, PCI_ROM_ADDRESS, 4, 0xfffffffe)          # ~PCI_ROM_ADDRESS_ENABLE
        sz = cfg(dev, PCI_ROM_ADDRESS, 4)
        orig &= ~1
        rom_file = getattr(dev, "rom_file", None)
        ok = (sz not in (0, 0xffffffff) and orig != sz
              and (orig + 4 * MiB) & 0xffffffff >= 20 * MiB and rom_file is not None)
        if ok:
            cfg(dev, PCI_ROM_ADDRESS, 4, orig | 1)         # enable, then copy_rom
            # map_pcirom walks the images: it copies the first x86 image
            # (code type 0) whose PCI data names the device's vendor and
            # device id ("Didn't match dev/ven"), else gives up at the last
            # image (indicator bit 7)
            images = OPTION_ROM_IMAGE_IDS.get(rom_file.rsplit("/", 1)[-1])
            if images is not None:
                # the ids SeaBIOS read into its device list at pci_probe_devices
                # (config 0x00, 0x02; no new config access here)
                vendor, device = dev.config_read(0, 2), dev.config_read(2, 2)
                if getattr(dev, "rom_ids_patched", False):
                    images = ((vendor, device, images[0][2]),) + images[1:]
                ok = any(v == vendor and d == device and t == 0 for v, d, t in images)
        cfg(dev, PCI_ROM_ADDRESS, 4, orig)
        if not ok and sz not in (0, 0xffffffff) and rom_file is None:
            _note(vm, f"{_who(dev)} has a ROM BAR whose image the model does not know; "
                      f"it is taken as holding no x86 option ROM")
        return ok

    # 1. vgarom_setup
    vga = next((d for d in devices if d.class_id == PCI_CLASS_DISPLAY_VGA and _is_pci_vga(vm, d)),
               None)
    if vga is not None:
        if map_pcirom(vga):
            deploy(vga.rom_file.rsplit("/", 1)[-1], _who(vga))
    else:
        for d in devices:
            if d.class_id == PCI_CLASS_DISPLAY_OTHER and map_pcirom(d):
                cfg(d, PCI_COMMAND, 2, cfg(d, PCI_COMMAND, 2) | PCI_COMMAND_IO | PCI_COMMAND_MEMORY)
                deploy(d.rom_file.rsplit("/", 1)[-1], _who(d))
                break
    for name, dev in _fw_cfg_roms(vm, "vgaroms/"):
        deploy_file(name, dev)
    # 2. device_hardware_setup -> block_setup: drivers claim their controllers
    driven = set()
    def enable_membar(dev, bar: int) -> bool:
        """src/hw/pcidevice.c ``pci_enable_membar``: refuses an I/O BAR, a
        64-bit BAR above 4 GiB and an address in the first 16 MiB or the
        last 4 MiB; else memory decode on and ``have_driver``."""
        lo = cfg(dev, PCI_BASE_ADDRESS_0 + 4 * bar, 4)
        if lo & PCI_BASE_ADDRESS_SPACE_IO:
            return False
        if lo & PCI_BASE_ADDRESS_MEM_TYPE_64 and cfg(dev, PCI_BASE_ADDRESS_0 + 4 * bar + 4, 4):
            return False                                  # "Can not map memory bar over 4Gig"
        if ((lo & ~0xf) + 4 * MiB) & 0xffffffff < 20 * MiB:
            return False                                  # not a valid address
        cfg(dev, PCI_COMMAND, 2, cfg(dev, PCI_COMMAND, 2) | PCI_COMMAND_MEMORY)
        driven.add(id(dev))
        return True

    def enable_iobar(dev, bar: int) -> bool:
        """src/hw/pcidevice.c ``pci_enable_iobar``: an I/O BAR at a nonzero
        port below 0x10000; I/O decode on and ``have_driver``."""
        lo = cfg(dev, PCI_BASE_ADDRESS_0 + 4 * bar, 4)
        if not lo & PCI_BASE_ADDRESS_SPACE_IO or not 0 < (lo & ~0x3) <= 0xffff:
            return False
        cfg(dev, PCI_COMMAND, 2, cfg(dev, PCI_COMMAND, 2) | PCI_COMMAND_IO)
        driven.add(id(dev))
        return True

    def busmaster(dev) -> None:
        cfg(dev, PCI_COMMAND, 2, cfg(dev, PCI_COMMAND, 2) | PCI_COMMAND_MASTER)

    def virtio_init(dev) -> None:
        """src/hw/virtio-pci.c ``vp_init_simple``: every virtio vendor
        capability of type common/notify/isr/device (first of each, in
        capability-list order) has its BAR enabled (I/O or memory; a 64-bit
        BAR above 4 GiB is reached through the PCI-config capability
        instead); modern mode when all four were found, else the legacy
        I/O BAR0; then bus mastering."""
        seen, pos = set(), cfg(dev, 0x34, 1) if cfg(dev, 0x06, 2) & 0x10 else 0
        while pos:
            if cfg(dev, pos, 1) == 0x09:
                kind = cfg(dev, pos + 3, 1)
                if kind in (1, 2, 3, 4) and kind not in seen:
                    seen.add(kind)
                    bar = cfg(dev, pos + 4, 1)
                    lo = cfg(dev, PCI_BASE_ADDRESS_0 + 4 * bar, 4)
                    if lo & PCI_BASE_ADDRESS_SPACE_IO:
                        if not enable_iobar(dev, bar):
                            return
                    elif (lo & PCI_BASE_ADDRESS_MEM_TYPE_64
                          and cfg(dev, PCI_BASE_ADDRESS_0 + 4 * bar + 4, 4)):
                        _note(vm, f"{_who(dev)}: SeaBIOS reaches its virtio BAR above 4 GiB "
                                  f"through the PCI-config capability; those config writes "
                                  f"are not modelled")
                    elif not enable_membar(dev, bar):
                        return
            pos = cfg(dev, pos + 1, 1)
        if seen != {1, 2, 3, 4} and not enable_iobar(dev, 0):
            return
        busmaster(dev)

    def usb_or_block(dev, steps) -> None:
        for step, bar in steps:
            if step == "mem" and not enable_membar(dev, bar):
                return
            if step == "io" and not enable_iobar(dev, bar):
                return
            if step == "master":
                busmaster(dev)
            if step == "usblegsup":
                cfg(dev, 0xc0, 2, 0x8f00)      # src/hw/usb-uhci.c reset_uhci: USBLEGSUP_RWC
        return

    for name, match, steps in HW_DRIVERS:
        for dev in devices:
            if not match(dev):
                continue
            if name == "ahci":
                # src/hw/ahci.c ahci_controller_setup starts with create_bounce_buf
                # (src/block.c): 2 KiB of ZoneLow, before optionrom_setup reads
                # rom_get_max() for the genroms/ files
                low.create_bounce_buf(f"AHCI bounce buffer ({_who(dev)}, src/block.c "
                                      f"create_bounce_buf)")
            if steps == "virtio":
                virtio_init(dev)
            elif callable(steps):
                usb_or_block(dev, steps(vm, dev, cfg))
            else:
                usb_or_block(dev, steps)
    # 3. optionrom_setup: PCI ROMs, then genroms/ (kvmvapic.bin among them)
    for dev in devices:
        if dev.class_id in (PCI_CLASS_DISPLAY_VGA, PCI_CLASS_DISPLAY_OTHER) or id(dev) in driven:
            continue
        if map_pcirom(dev):
            deploy(dev.rom_file.rsplit("/", 1)[-1], _who(dev))
    genroms = _fw_cfg_roms(vm, "genroms/") + [("kvmvapic.bin", None)]
    for name, dev in sorted(genroms, key=lambda item: item[0]):
        if dev is None:
            map_kvmvapic_rom(vm, low.rom_end)
            low.rom_end += -(-KVMVAPIC_ROM_SIZE // OPTION_ROM_ALIGN) * OPTION_ROM_ALIGN
        else:
            deploy_file(name, dev)


def _fw_cfg_roms(vm: VM, prefix: str) -> list:
    """The ROMs devices with ``rombar=0`` hand to the firmware through fw_cfg
    (hw/pci/pci.c ``pci_add_option_rom``: ``vgaroms/`` or ``genroms/``)."""
    return [(d.fw_cfg_rom[len(prefix):], d) for d in vm.pci_devices()
            if (getattr(d, "fw_cfg_rom", None) or "").startswith(prefix)]


def _is_pci_vga(vm: VM, dev) -> bool:
    """src/optionroms.c ``is_pci_vga``: VGA class, I/O and memory decode on,
    and VGA forwarding enabled in every bridge above it."""
    cmd = vm.cfg_read(dev.bus.number, dev.devfn, PCI_COMMAND, 2)
    if not (cmd & PCI_COMMAND_IO and cmd & PCI_COMMAND_MEMORY):
        return False
    bridge = getattr(dev.bus, "parent_dev", None)
    while bridge is not None:
        ctl = vm.cfg_read(bridge.bus.number, bridge.devfn, PCI_BRIDGE_CONTROL, 1)
        if not ctl & PCI_BRIDGE_CTL_VGA:
            return False
        bridge = getattr(bridge.bus, "parent_dev", None)
    return True


def _who(dev) -> str:
    return f"-device {dev.type_name}" + (f",id={dev.qdev_id}" if dev.qdev_id else "")


def _note(vm: VM, text: str) -> None:
    """Say what the prediction could not know (shown with the stack's notes)."""
    if text not in vm.stack.notes:
        vm.stack = replace(vm.stack, notes=vm.stack.notes + (text,))
