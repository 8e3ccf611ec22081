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

from ..errors import CommandLineError, ConfigError
from ..stack import Stack, make_stack
from .config import DeviceSpec, QemuConfig
from .machine import build_machine, machine_reset, map_kvmvapic_rom
from .memory import MemoryRegion
from .vm import VM

__all__ = ["build_vm", "vm_stack", "guest_cpu", "firmware_platform", "boot"]

#: QEMU target/i386/cpu.c: TCG_PHYS_ADDR_BITS, the phys-bits of qemu64 and
#: the other named models unless host-phys-bits or phys-bits is set.
DEFAULT_PHYS_BITS = 40
#: QEMU hw/i386/pc.c: AMD_HT_START / AMD_HT_SIZE, the e820 hole reserved for
#: AMD vCPUs with phys-bits >= 40 on machine types >= 7.1.
AMD_HT_START = 0xfd00000000
AMD_HT_SIZE = 0x300000000


#: How much of 0xc0000.. a VGA BIOS occupies once SeaVGABIOS has initialised:
#: its image grows past the file size (the header's size byte is rewritten
#: at init).  Measured in real runs (data/references/q35-1G-multi: stdvga,
#: kvmvapic-rom at 0xcc000; pc-1G-multi: bochs-display, kvmvapic-rom at
#: 0xc9000), for Debian's seabios 1.16.2 VGA BIOS files.
VGA_BIOS_DEPLOYED_SIZE = {"vgabios-stdvga.bin": 0xc000, "vgabios-bochs-display.bin": 0x9000}


def guest_cpu(cfg: QemuConfig, stack: Stack) -> tuple[str, int]:
    """The vendor and phys-bits the guest sees, for this stack's host CPU.

    Under KVM QEMU copies the host's vendor into every CPU model
    (target/i386/host-cpu.c ``host_cpu_instance_init``); under TCG the model's
    own vendor stands (qemu64: AuthenticAMD, target/i386/cpu.c
    ``builtin_x86_defs``).  ``-cpu host``/``max`` imply host-phys-bits;
    ``phys-bits=`` overrides; otherwise 40 (``TCG_PHYS_ADDR_BITS``).
    ``vendor=`` sets the vendor explicitly."""
    if stack.accel == "tcg":
        vendor = cfg.cpu_props.get("vendor", "AuthenticAMD" if cfg.cpu_model in ("qemu64", "max")
                                   else stack.cpu_vendor)
    else:
        vendor = cfg.cpu_props.get("vendor", stack.cpu_vendor)
    bits = DEFAULT_PHYS_BITS
    if cfg.cpu_model in ("host", "max") or cfg.cpu_props.get("host-phys-bits") == "on":
        bits = stack.host_phys_bits
    if "phys-bits" in cfg.cpu_props:
        try:
            bits = int(cfg.cpu_props["phys-bits"])
        except ValueError:
            raise CommandLineError(f"-cpu phys-bits={cfg.cpu_props['phys-bits']!r} is not a number") from None
    return vendor, bits


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
}
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
    vm = build_machine(cfg.machine, cfg.ram_size, accel=stack.accel,
                       max_ram_below_4g=None, pflash=pflash_sizes(cfg),
                       isa_bios_alias=stack.machine_at_least(9, 1),
                       bios_size=bios_image_size(cfg, stack))
    vm.stack = stack
    vm.config = cfg
    for oid, (qom, size, props) in cfg.memdevs.items():
        # host_memory_backend_memory_complete: one RAM region named by the id
        mr = MemoryRegion.init_ram(oid, size)
        vm.alloc_ram(mr)
        vm.memdevs[oid] = mr
    for dtype, props in cfg.isa_devices:
        # hw/char/debugcon.c: one port at "iobase" (default 0xe9)
        try:
            iobase = int(props.get("iobase", "0xe9"), 0)
        except ValueError:
            raise ConfigError(f"-device {dtype}: iobase={props.get('iobase')!r} is not a number") from None
        vm.system_io.add_subregion(iobase, MemoryRegion.init_io("isa-debugcon", 1))
    specs = list(cfg.devices)
    if not cfg.nodefaults and not any(s.type in ("VGA", "bochs-display", "virtio-vga")
                                      for s in specs):
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
        else:
            dev = create_device(spec.type, spec.id, props)
        dev.multifunction = mf
        vm.add_pci_device(dev, bus=bus, devfn=devfn)
    # system reset reaches every device once all are plugged (qdev reset:
    # e.g. a root port's slot control reflects whether its slot is occupied)
    for dev in vm.pci_devices():
        reset = getattr(dev, "reset", None)
        if reset is not None:
            reset()
    return vm


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
    if name is None:
        return vm.root_bus
    if name in ("pcie.0", "pci.0"):
        if name != vm.root_bus.name:
            raise ConfigError(f"-device {spec.type}: bus {name!r} not found "
                              f"(the {vm.machine} root bus is {vm.root_bus.name!r})")
        return vm.root_bus
    for dev in vm.devices:
        sec = getattr(dev, "sec_bus", None)
        if sec is not None and (dev.qdev_id == name or sec.name == name):
            return sec
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
    vendor, bits = guest_cpu(cfg, stack)
    reserved = []
    # hw/i386/pc.c pc_memory_init: AMD vCPUs with phys-bits >= 40 get the
    # HyperTransport hole reserved in e820
    if vendor == "AuthenticAMD" and bits >= 40:
        reserved.append((AMD_HT_START, AMD_HT_SIZE))
    split = vm.ram_split
    if stack.firmware == "ovmf":
        from .firmware.ovmf import OvmfPlatform
        return OvmfPlatform(machine=vm.machine, low_memory=split.below_4g,
                            ram_end=(1 << 32) + split.above_4g, e820_reserved=reserved,
                            reserved_memory_end=None,
                            pci_mmio64_mb=_fw_cfg_uint32(cfg, "opt/ovmf/X-PciMmio64Mb"),
                            cpu_vendor=vendor, phys_bits=bits,
                            guest_phys_bits=_guest_phys_bits(cfg),
                            page1g=_page1g(cfg), version=stack.firmware_version,
                            amd_ht_hole=(AMD_HT_START, AMD_HT_SIZE))
    from .firmware.seabios import FirmwarePlatform
    return FirmwarePlatform(machine=vm.machine, ram_size=split.below_4g,
                            ram_size_over_4g=split.above_4g, e820_reserved=reserved,
                            reserved_memory_end=None, cpu_vendor=vendor, phys_bits=bits,
                            version=stack.firmware_version)


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
                                   before_readonly=lambda: _run_option_roms(vm))
    vm.firmware = result
    vm.firmware_log = log
    return result


#: SeaBIOS drivers that enable bus mastering on the controllers they drive
#: (``pci_enable_busmaster`` in src/hw/ahci.c ``ahci_controller_setup`` and
#: src/hw/nvme.c ``nvme_controller_setup``), by PCI class.
BUSMASTER_DRIVER_CLASSES = {0x0106: "ahci", 0x0108: "nvme"}


def _run_option_roms(vm: VM) -> None:
    """What POST does between pci_setup and make_bios_readonly (SeaBIOS
    src/post.c ``maininit``): block-device drivers start their controllers
    (``device_hardware_setup``: bus mastering on), then option ROMs run
    (``optionrom_setup``)."""
    for dev in vm.pci_devices():
        if dev.class_id in BUSMASTER_DRIVER_CLASSES:
            cmd = vm.cfg_read(dev.bus.number, dev.devfn, 0x04, 2)
            vm.cfg_write(dev.bus.number, dev.devfn, 0x04, cmd | 0x4, 2)
    # option ROMs: the VGA BIOS of the first display device at 0xc0000
    # (src/optionroms.c vgarom_setup: class VGA first, else any display),
    # then kvmvapic.bin right after it (optionrom_setup, genroms/)
    rom_end = 0xc0000
    displays = [d for d in vm.pci_devices() if d.class_id in (0x0300, 0x0380)
                and getattr(d, "rom_file", None)]
    displays.sort(key=lambda d: d.class_id != 0x0300)
    if displays:
        rom = displays[0].rom_file.rsplit("/", 1)[-1]
        rom_end += VGA_BIOS_DEPLOYED_SIZE.get(rom, 0)
    map_kvmvapic_rom(vm, rom_end)
